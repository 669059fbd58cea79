// The stock OpenFeature server SDK with the stock OFREP provider from npm,
// pointed at a real Daylight server: no custom client code.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { OFREPApiUnauthorizedError } from '@openfeature/ofrep-core';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { ErrorCode, OpenFeature, StandardResolutionReasons } from '@openfeature/server-sdk';

import { Daylight } from '../../support/daylight.js';
import { ENV, FLAGS, HALF, seed } from '../lib/fixtures.js';
import { bucket, rolloutVariation } from '../lib/murmur3.js';

const { TARGETING_MATCH, DEFAULT, SPLIT, DISABLED, ERROR } = StandardResolutionReasons;

let server;
let keys;

/** A client whose provider sends `headers` (one OpenFeature domain each). */
async function clientWith(domain, headers) {
  const provider = new OFREPProvider({ baseUrl: server.url, headers });
  await OpenFeature.setProviderAndWait(domain, provider);
  return OpenFeature.getClient(domain);
}

const bearer = (secret) => [['Authorization', `Bearer ${secret}`]];

/** A hook that keeps the error the provider threw. */
function errorCatcher() {
  const seen = [];
  return { seen, hooks: [{ error: (_ctx, err) => seen.push(err) }] };
}

let serverClient;
let clientKeyClient;

before(async () => {
  server = await Daylight.start();
  keys = await seed(server);
  serverClient = await clientWith('server-key', bearer(keys.serverKey));
  clientKeyClient = await clientWith('client-key', bearer(keys.clientKey));
});

after(async () => {
  await OpenFeature.close();
  await server?.stop();
});

describe('typed values, reasons and variants', () => {
  test('boolean: a target match and the fallthrough', async () => {
    const hit = await serverClient.getBooleanDetails('welcome-banner', false, { targetingKey: 'qa-1' });
    assert.equal(hit.value, true);
    assert.equal(hit.reason, TARGETING_MATCH);
    assert.equal(hit.variant, '1');
    assert.equal(hit.errorCode, undefined);
    assert.equal(typeof hit.flagMetadata.version, 'number');

    const miss = await serverClient.getBooleanDetails('welcome-banner', true, { targetingKey: 'player-1' });
    assert.equal(miss.value, false);
    assert.equal(miss.reason, DEFAULT);
    assert.equal(miss.variant, '0');
  });

  test('string', async () => {
    const d = await serverClient.getStringDetails('lobby-theme', 'fallback', { targetingKey: 'player-1' });
    assert.deepEqual([d.value, d.reason, d.variant, d.errorCode], ['midnight', DEFAULT, '1', undefined]);
    assert.equal(await serverClient.getStringValue('lobby-theme', 'fallback', { targetingKey: 'player-1' }), 'midnight');
  });

  test('number: fallthrough and a rule serving a fractional value', async () => {
    const d = await serverClient.getNumberDetails('max-tables', 0, { targetingKey: 'player-1' });
    assert.deepEqual([d.value, d.reason, d.variant], [8, DEFAULT, '1']);
    const vip = await serverClient.getNumberDetails('max-tables', 0, { targetingKey: 'player-1', tier: 'vip' });
    assert.deepEqual([vip.value, vip.reason, vip.variant], [12.5, TARGETING_MATCH, '2']);
  });

  test('object', async () => {
    const d = await serverClient.getObjectDetails('lobby-layout', {}, { targetingKey: 'player-1' });
    assert.deepEqual(d.value, FLAGS['lobby-layout'].variations[1]);
    assert.equal(d.reason, DEFAULT);
    assert.equal(d.variant, '1');
  });

  test('an off flag serves its off variation with reason DISABLED', async () => {
    const d = await serverClient.getBooleanDetails('kill-switch', true, { targetingKey: 'player-1' });
    assert.deepEqual([d.value, d.reason, d.variant, d.errorCode], [false, DISABLED, '0', undefined]);
  });
});

describe('targeting', () => {
  test('rule `game in [omaha]` (case-insensitive) matches, other games fall through', async () => {
    for (const game of ['omaha', 'Omaha']) {
      const d = await serverClient.getBooleanDetails('new-lobby', false, { targetingKey: 'player-42', game });
      assert.deepEqual([d.value, d.reason, d.variant], [true, TARGETING_MATCH, '1'], game);
    }
    const holdem = await serverClient.getBooleanDetails('new-lobby', true, { targetingKey: 'player-42', game: 'holdem' });
    assert.deepEqual([holdem.value, holdem.reason, holdem.variant], [false, DEFAULT, '0']);
  });

  test('50% rollout: every key gets the variation murmur3 bucketing predicts, reason SPLIT', async () => {
    const seen = new Set();
    for (let i = 0; i < 40; i++) {
      const targetingKey = `player-${i}`;
      const expected = rolloutVariation(HALF, bucket('half-rollout', targetingKey));
      const d = await serverClient.getBooleanDetails('half-rollout', false, { targetingKey });
      assert.equal(d.value, FLAGS['half-rollout'].variations[expected], targetingKey);
      assert.equal(d.variant, String(expected), targetingKey);
      assert.equal(d.reason, SPLIT, targetingKey);
      seen.add(expected);
    }
    assert.deepEqual([...seen].sort(), [0, 1], 'forty keys land on both halves');
  });

  test('a request without targetingKey is still evaluated', async () => {
    const rule = await serverClient.getBooleanDetails('new-lobby', false, { game: 'omaha' });
    assert.deepEqual([rule.value, rule.reason, rule.errorCode], [true, TARGETING_MATCH, undefined]);
    const plain = await serverClient.getStringDetails('lobby-theme', 'fallback', {});
    assert.deepEqual([plain.value, plain.reason, plain.errorCode], ['midnight', DEFAULT, undefined]);
    // A rollout bucketed by a missing key serves its first variation, not as a split.
    const rollout = await serverClient.getBooleanDetails('half-rollout', true, {});
    assert.deepEqual([rollout.value, rollout.variant, rollout.reason, rollout.errorCode], [false, '0', DEFAULT, undefined]);
  });
});

describe('errors the SDK handles', () => {
  test('unknown flag: the default, FLAG_NOT_FOUND', async () => {
    const d = await serverClient.getBooleanDetails('no-such-flag', true, { targetingKey: 'player-1' });
    assert.deepEqual([d.value, d.reason, d.errorCode], [true, ERROR, ErrorCode.FLAG_NOT_FOUND]);
  });

  test('wrong type: the default, TYPE_MISMATCH', async () => {
    const ctx = { targetingKey: 'player-1' };
    const asString = await serverClient.getStringDetails('welcome-banner', 'fallback', ctx);
    assert.deepEqual([asString.value, asString.reason, asString.errorCode], ['fallback', ERROR, ErrorCode.TYPE_MISMATCH]);
    const asNumber = await serverClient.getNumberDetails('lobby-theme', 7, ctx);
    assert.deepEqual([asNumber.value, asNumber.errorCode], [7, ErrorCode.TYPE_MISMATCH]);
    const asBoolean = await serverClient.getBooleanDetails('lobby-layout', true, ctx);
    assert.deepEqual([asBoolean.value, asBoolean.errorCode], [true, ErrorCode.TYPE_MISMATCH]);
  });

  test('a targetingKey that is not a string: the default, INVALID_CONTEXT', async () => {
    const d = await serverClient.getBooleanDetails('welcome-banner', true, { targetingKey: 42 });
    assert.deepEqual([d.value, d.reason, d.errorCode], [true, ERROR, ErrorCode.INVALID_CONTEXT]);
  });
});

describe('keys', () => {
  test('the X-API-Key header works like a bearer token', async () => {
    const client = await clientWith('x-api-key', [['X-API-Key', keys.serverKey]]);
    const d = await client.getBooleanDetails('welcome-banner', false, { targetingKey: 'qa-1' });
    assert.deepEqual([d.value, d.reason], [true, TARGETING_MATCH]);
  });

  for (const [name, headers] of [
    ['missing key', []],
    ['invalid key', bearer('dl_server_0000000000000000000000000000000000000000000000')],
  ]) {
    test(`${name}: 401, the provider throws OFREPApiUnauthorizedError, the SDK returns the default`, async () => {
      const client = await clientWith(`auth-${name}`, headers);
      const { seen, hooks } = errorCatcher();
      const d = await client.getBooleanDetails('welcome-banner', true, { targetingKey: 'qa-1' }, { hooks });
      assert.equal(d.value, true);
      assert.equal(d.reason, ERROR);
      // The provider's auth error is not an OpenFeatureError, so the SDK files it as GENERAL.
      assert.equal(d.errorCode, ErrorCode.GENERAL);
      assert.equal(seen.length, 1);
      assert.ok(seen[0] instanceof OFREPApiUnauthorizedError, `got ${seen[0]?.name}: ${seen[0]?.message}`);
      assert.equal(seen[0].response.status, 401);
    });
  }

  test('a revoked key gets 401 at once', async () => {
    const created = await server.call('POST', `/api/v1/environments/${ENV}/keys`, {
      body: { kind: 'server', name: 'short-lived' },
      expect: 201,
    });
    const client = await clientWith('revoked', bearer(created.body.secret));
    assert.equal(await client.getBooleanValue('welcome-banner', false, { targetingKey: 'qa-1' }), true);
    await server.call('DELETE', `/api/v1/environments/${ENV}/keys/${created.body.id}`, { expect: 204 });
    const { seen, hooks } = errorCatcher();
    const d = await client.getBooleanDetails('welcome-banner', false, { targetingKey: 'qa-1' }, { hooks });
    assert.deepEqual([d.value, d.errorCode], [false, ErrorCode.GENERAL]);
    assert.ok(seen[0] instanceof OFREPApiUnauthorizedError);
  });

  test('a client key cannot see a server-only flag (FLAG_NOT_FOUND); a server key can', async () => {
    const hidden = await clientKeyClient.getBooleanDetails('server-only', false, { targetingKey: 'player-1' });
    assert.deepEqual([hidden.value, hidden.reason, hidden.errorCode], [false, ERROR, ErrorCode.FLAG_NOT_FOUND]);
    const shown = await serverClient.getBooleanDetails('server-only', false, { targetingKey: 'player-1' });
    assert.deepEqual([shown.value, shown.reason, shown.errorCode], [true, DEFAULT, undefined]);
    // ...and the client key still evaluates client-side flags.
    const visible = await clientKeyClient.getBooleanDetails('welcome-banner', false, { targetingKey: 'qa-1' });
    assert.deepEqual([visible.value, visible.reason], [true, TARGETING_MATCH]);
  });
});
