// The stock OpenFeature web SDK with the stock OFREP web provider from npm
// (bulk evaluation, ETag/If-None-Match, polling), run under Node. It needs
// no DOM: fetch and crypto.subtle are Node globals, `document` is only used
// when present, EventSource only when the server offers event streams, and
// the localStorage cache is switched off (cacheMode: 'disabled').

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { ErrorCode, OpenFeature, ProviderEvents, ProviderStatus, StandardResolutionReasons } from '@openfeature/web-sdk';

import { Daylight } from '../../support/daylight.js';
import { ENV, FLAGS, HALF, seed } from '../lib/fixtures.js';
import { bucket, rolloutVariation } from '../lib/murmur3.js';

const { TARGETING_MATCH, DEFAULT, SPLIT, DISABLED, ERROR } = StandardResolutionReasons;
const BULK_PATH = '/ofrep/v1/evaluate/flags';

let server;
let keys;

/** fetch that records what the provider sent and got back. */
function recordingFetch(log) {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const response = await fetch(input, init);
    log.push({
      path: new URL(request.url).pathname,
      method: request.method,
      ifNoneMatch: request.headers.get('if-none-match'),
      status: response.status,
      etag: response.headers.get('etag'),
    });
    return response;
  };
}

/** A web client on its own domain, with a provider recording its requests. */
async function webClient(domain, { secret, context, pollInterval = 0 }) {
  const log = [];
  const provider = new OFREPWebProvider({
    baseUrl: server.url,
    headers: secret === undefined ? [] : [['Authorization', `Bearer ${secret}`]],
    cacheMode: 'disabled',
    pollInterval,
    fetchImplementation: recordingFetch(log),
  });
  let initError = null;
  try {
    await OpenFeature.setProviderAndWait(domain, provider, context);
  } catch (e) {
    initError = e;
  }
  return { client: OpenFeature.getClient(domain), log, initError };
}

async function waitFor(what, predicate, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  server = await Daylight.start();
  keys = await seed(server);
});

after(async () => {
  await OpenFeature.close();
  await server?.stop();
});

describe('bulk evaluation with a client key', () => {
  let web;

  before(async () => {
    web = await webClient('web', { secret: keys.clientKey, context: { targetingKey: 'qa-1', game: 'omaha' } });
    assert.equal(web.initError, null, `initialisation failed: ${web.initError}`);
  });

  test('initialisation is one bulk request answered 200 with an ETag', () => {
    assert.equal(web.client.providerStatus, ProviderStatus.READY);
    assert.equal(web.log.length, 1);
    assert.deepEqual([web.log[0].method, web.log[0].path, web.log[0].status], ['POST', BULK_PATH, 200]);
    assert.match(web.log[0].etag ?? '', /^(W\/)?"[^"]+"$/);
  });

  test('typed values, reasons and variants come from the one bulk answer', () => {
    const c = web.client;
    const banner = c.getBooleanDetails('welcome-banner', false);
    assert.deepEqual([banner.value, banner.reason, banner.variant, banner.errorCode], [true, TARGETING_MATCH, '1', undefined]);
    assert.equal(typeof banner.flagMetadata.version, 'number');

    const lobby = c.getBooleanDetails('new-lobby', false);
    assert.deepEqual([lobby.value, lobby.reason, lobby.variant], [true, TARGETING_MATCH, '1']);

    const theme = c.getStringDetails('lobby-theme', 'fallback');
    assert.deepEqual([theme.value, theme.reason, theme.variant], ['midnight', DEFAULT, '1']);

    const tables = c.getNumberDetails('max-tables', 0);
    assert.deepEqual([tables.value, tables.reason, tables.variant], [8, DEFAULT, '1']);

    const layout = c.getObjectDetails('lobby-layout', {});
    assert.deepEqual(layout.value, FLAGS['lobby-layout'].variations[1]);
    assert.equal(layout.variant, '1');

    const expected = rolloutVariation(HALF, bucket('half-rollout', 'qa-1'));
    const half = c.getBooleanDetails('half-rollout', !FLAGS['half-rollout'].variations[expected]);
    assert.deepEqual([half.value, half.variant, half.reason], [FLAGS['half-rollout'].variations[expected], String(expected), SPLIT]);

    const off = c.getBooleanDetails('kill-switch', true);
    assert.deepEqual([off.value, off.reason, off.variant, off.errorCode], [false, DISABLED, '0', undefined]);


    assert.equal(web.log.length, 1, 'evaluations are local: no more requests');
  });

  test('server-only and unknown flags: FLAG_NOT_FOUND; wrong type: TYPE_MISMATCH', () => {
    const c = web.client;
    for (const key of ['server-only', 'no-such-flag']) {
      const d = c.getBooleanDetails(key, true);
      assert.deepEqual([d.value, d.reason, d.errorCode], [true, ERROR, ErrorCode.FLAG_NOT_FOUND], key);
    }
    const asNumber = c.getNumberDetails('welcome-banner', 3);
    assert.deepEqual([asNumber.value, asNumber.reason, asNumber.errorCode], [3, ERROR, ErrorCode.TYPE_MISMATCH]);
    const asString = c.getStringDetails('lobby-layout', 'x');
    assert.deepEqual([asString.value, asString.errorCode], ['x', ErrorCode.TYPE_MISMATCH]);
  });

  test('a context change re-evaluates: new key, then same key with other attributes', async () => {
    await OpenFeature.setContext('web', { targetingKey: 'player-7', game: 'holdem' });
    const second = web.log.at(-1);
    assert.equal(web.log.length, 2);
    assert.equal(second.ifNoneMatch, null, 'a new targeting key drops the ETag');
    assert.equal(second.status, 200);

    const lobby = web.client.getBooleanDetails('new-lobby', true);
    assert.deepEqual([lobby.value, lobby.reason], [false, DEFAULT]);
    const expected = rolloutVariation(HALF, bucket('half-rollout', 'player-7'));
    const half = web.client.getBooleanDetails('half-rollout', false);
    assert.deepEqual([half.value, half.variant, half.reason], [FLAGS['half-rollout'].variations[expected], String(expected), SPLIT]);

    // Same key, other game: the provider revalidates with the old ETag; the
    // answer differs, so the server must send 200 with a new ETag, not 304.
    await OpenFeature.setContext('web', { targetingKey: 'player-7', game: 'omaha' });
    const third = web.log.at(-1);
    assert.equal(web.log.length, 3);
    assert.equal(third.ifNoneMatch, second.etag);
    assert.equal(third.status, 200);
    assert.notEqual(third.etag, second.etag);
    assert.equal(web.client.getBooleanValue('new-lobby', false), true);
  });
});

test('a context without targetingKey is still evaluated', async () => {
  const { client, initError } = await webClient('web-anon', { secret: keys.clientKey, context: { game: 'omaha' } });
  assert.equal(initError, null);
  const lobby = client.getBooleanDetails('new-lobby', false);
  assert.deepEqual([lobby.value, lobby.reason, lobby.errorCode], [true, TARGETING_MATCH, undefined]);
  const half = client.getBooleanDetails('half-rollout', true);
  assert.deepEqual([half.value, half.variant, half.reason], [false, '0', DEFAULT]);
});

test('polling revalidates with If-None-Match (304) and picks up a change (200, new ETag)', async () => {
  const { client, log, initError } = await webClient('web-poll', {
    secret: keys.clientKey,
    context: { targetingKey: 'player-9' },
    pollInterval: 150,
  });
  assert.equal(initError, null);
  const first = log[0];
  assert.equal(first.status, 200);
  assert.equal(client.getBooleanValue('poll-flag', true), false);

  await waitFor('a 304 to If-None-Match', () => log.some((r) => r.ifNoneMatch === first.etag && r.status === 304));

  const changed = new Promise((resolve) =>
    client.addHandler(ProviderEvents.ConfigurationChanged, (details) => resolve(details)),
  );
  await server.call('POST', `/api/v1/flags/poll-flag/environments/${ENV}/toggle`, { body: { on: true }, expect: 200 });
  let timer;
  const details = await Promise.race([
    changed,
    new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error('no ConfigurationChanged within 5 s')), 5000);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.ok(details.flagsChanged.includes('poll-flag'), JSON.stringify(details));
  const fresh = log.find((r) => r.status === 200 && r !== first);
  assert.ok(fresh, JSON.stringify(log));
  assert.equal(fresh.ifNoneMatch, first.etag);
  assert.notEqual(fresh.etag, first.etag);
  const d = client.getBooleanDetails('poll-flag', false);
  assert.deepEqual([d.value, d.reason, d.variant], [true, DEFAULT, '1']);
});

for (const [name, secret] of [
  ['no key', undefined],
  ['an invalid key', 'dl_client_00000000000000000000000000000000000000000000'],
]) {
  test(`${name}: 401, the provider fails initialisation as fatal, evaluations return defaults`, async () => {
    const domain = `web-auth-${name}`;
    const { client, log, initError } = await webClient(domain, { secret, context: { targetingKey: 'qa-1' } });
    assert.deepEqual(log.map((r) => r.status), [401]);
    assert.ok(initError, 'setProviderAndWait rejects');
    assert.equal(initError.code, ErrorCode.PROVIDER_FATAL);
    assert.equal(initError.cause?.name, 'OFREPApiUnauthorizedError');
    assert.equal(client.providerStatus, ProviderStatus.FATAL);
    const d = client.getBooleanDetails('welcome-banner', false);
    assert.deepEqual([d.value, d.reason, d.errorCode], [false, ERROR, ErrorCode.PROVIDER_FATAL]);
  });
}
