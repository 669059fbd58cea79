// The OpenFeature server provider end to end: @openfeature/server-sdk →
// DaylightServerProvider → the Node client → a real `daylight serve`, with
// the same reasons, variants and error codes as the server's own OFREP
// endpoint, change events, and stale/ready around an outage.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { OpenFeature, ProviderEvents, ProviderStatus, type Client, type EvaluationContext } from '@openfeature/server-sdk';

import { DaylightServerProvider } from '../src/openfeature/server.js';
import { DaylightServer, MemoryLogger, until } from './support/daylight.js';

const ENV = 'sdkjs-of-server';
let server: DaylightServer;
let serverKey: string;
let provider: DaylightServerProvider;
let flags: Client;

before(async () => {
  server = await DaylightServer.start();
  await server.createEnvironment(ENV);
  const on = (config: object) => ({ on: true, off_variation: 0, ...config });
  await server.createFlag(ENV, 'new-lobby', { variations: [false, true] }, on({
    rules: [{ id: 'omaha', clauses: [{ attribute: 'game', op: 'in', values: ['omaha'], case_insensitive: true }], serve: { variation: 1 } }],
    fallthrough: { variation: 0 },
  }));
  await server.createFlag(ENV, 'theme', { variations: ['classic', 'midnight'] }, on({ targets: [{ variation: 1, values: ['qa-1'] }], fallthrough: { variation: 0 } }));
  await server.createFlag(ENV, 'tables', { variations: [4, 12.5] }, on({
    rules: [{ id: 'launch', clauses: [{ attribute: 'signup', op: 'before', values: ['2026-01-01T00:00:00Z'] }], serve: { variation: 1 } }],
    fallthrough: { variation: 0 },
  }));
  await server.createFlag(ENV, 'layout', { variations: [{ columns: 2 }, { columns: 3 }] }, on({ fallthrough: { variation: 1 } }));
  await server.createFlag(ENV, 'split', { variations: [false, true] }, on({
    fallthrough: { rollout: { variations: [{ variation: 0, weight: 50000 }, { variation: 1, weight: 50000 }] } },
  }));
  await server.createFlag(ENV, 'kill-switch', { variations: [false, true] }, { on: false, off_variation: 0, fallthrough: { variation: 1 } });
  await server.createFlag(ENV, 'needs-kill-switch', { variations: ['a', 'b'] }, on({
    prerequisites: [{ flag: 'kill-switch', variation: 1 }],
    fallthrough: { variation: 1 },
  }));
  serverKey = await server.createKey(ENV, 'server');

  provider = new DaylightServerProvider({ url: server.url, serverKey, logger: new MemoryLogger(), backoff: { initialMs: 100, maxMs: 200 } });
  await OpenFeature.setProviderAndWait(provider);
  flags = OpenFeature.getClient();
});

after(async () => {
  await OpenFeature.close();
  await server?.stop();
});

/** The server's OFREP answer for one flag. */
async function ofrep(flag: string, context: object) {
  const res = await fetch(`${server.url}/ofrep/v1/evaluate/flags/${flag}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${serverKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ context }),
  });
  return (await res.json()) as { value?: unknown; variant?: string; reason?: string; errorCode?: string };
}

test('values, variants and reasons agree with the server (OFREP)', async () => {
  assert.equal(provider.client.isReady(), true);
  const cases: [string, 'boolean' | 'string' | 'number' | 'object', EvaluationContext][] = [
    ['new-lobby', 'boolean', { targetingKey: 'u-1', game: 'Omaha' }],
    ['new-lobby', 'boolean', { targetingKey: 'u-1', game: 'holdem' }],
    ['theme', 'string', { targetingKey: 'qa-1' }],
    ['theme', 'string', { targetingKey: 'u-2' }],
    ['tables', 'number', { targetingKey: 'u-3', signup: '2025-06-01T00:00:00Z' }],
    ['layout', 'object', { targetingKey: 'u-4' }],
    ['split', 'boolean', { targetingKey: 'player-0' }],
    ['split', 'boolean', { targetingKey: 'player-1' }],
    ['kill-switch', 'boolean', { targetingKey: 'u-5' }],
    ['needs-kill-switch', 'string', { targetingKey: 'u-5' }],
  ];
  const defaults = { boolean: false, string: 'dflt', number: -1, object: {} };
  for (const [flag, type, context] of cases) {
    const get = {
      boolean: () => flags.getBooleanDetails(flag, defaults.boolean, context),
      string: () => flags.getStringDetails(flag, defaults.string, context),
      number: () => flags.getNumberDetails(flag, defaults.number, context),
      object: () => flags.getObjectDetails(flag, defaults.object, context),
    }[type];
    const ours = await get();
    const theirs = await ofrep(flag, context);
    const label = `${flag} for ${JSON.stringify(context)}`;
    assert.deepEqual(ours.value, theirs.value, label);
    assert.equal(ours.variant, theirs.variant, label);
    assert.equal(ours.reason, theirs.reason, label);
    assert.equal(ours.errorCode, undefined, label);
  }
});

test('reasons, metadata and error codes', async () => {
  const rule = await flags.getBooleanDetails('new-lobby', false, { targetingKey: 'u-1', game: 'omaha' });
  assert.equal(rule.value, true);
  assert.equal(rule.variant, '1');
  assert.equal(rule.reason, 'TARGETING_MATCH');
  assert.deepEqual(rule.flagMetadata, { rule_index: 0, rule_id: 'omaha' });

  const off = await flags.getBooleanDetails('kill-switch', true, { targetingKey: 'u-1' });
  assert.deepEqual([off.value, off.variant, off.reason], [false, '0', 'DISABLED']);

  const prereq = await flags.getStringDetails('needs-kill-switch', 'x', { targetingKey: 'u-1' });
  assert.deepEqual([prereq.value, prereq.reason, prereq.flagMetadata], ['a', 'DEFAULT', { prerequisite_key: 'kill-switch' }]);

  const split = await flags.getBooleanDetails('split', false, { targetingKey: 'player-1' });
  assert.equal(split.reason, 'SPLIT');

  // A Date in the context is Unix milliseconds, as `before` compares.
  assert.equal(await flags.getNumberValue('tables', 0, { targetingKey: 'u', signup: new Date('2025-12-31T23:59:59Z') }), 12.5);
  assert.equal(await flags.getNumberValue('tables', 0, { targetingKey: 'u', signup: new Date('2026-01-01T00:00:00Z') }), 4);

  const missing = await flags.getBooleanDetails('no-such-flag', true, { targetingKey: 'u-1' });
  assert.deepEqual([missing.value, missing.reason, missing.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);

  const mismatch = await flags.getNumberDetails('new-lobby', 7, { targetingKey: 'u-1' });
  assert.deepEqual([mismatch.value, mismatch.reason, mismatch.errorCode], [7, 'ERROR', 'TYPE_MISMATCH']);

  const notObject = await flags.getObjectDetails('theme', { d: 1 }, { targetingKey: 'u-1' });
  assert.deepEqual([notObject.value, notObject.errorCode], [{ d: 1 }, 'TYPE_MISMATCH']);
});

test('changes are ConfigurationChanged events; an outage is Stale, then Ready', async () => {
  const changed: string[][] = [];
  const statuses: string[] = [];
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (e) => changed.push((e?.flagsChanged as string[] | undefined) ?? []));
  OpenFeature.addHandler(ProviderEvents.Stale, () => statuses.push('stale'));
  OpenFeature.addHandler(ProviderEvents.Ready, () => statuses.push('ready'));

  await server.toggle(ENV, 'kill-switch', true);
  await until('the change event', () => changed.some((f) => f.includes('kill-switch')));
  assert.ok(changed.some((f) => f.includes('needs-kill-switch')), 'dependents are reported too');
  assert.equal(await flags.getBooleanValue('kill-switch', false, { targetingKey: 'u-1' }), true);

  await server.kill();
  await until('stale', () => statuses.includes('stale'), 5000);
  assert.equal(flags.providerStatus, ProviderStatus.STALE);
  assert.equal(await flags.getBooleanValue('kill-switch', false, { targetingKey: 'u-1' }), true, 'last known value');
  await server.launch();
  await until('ready again', () => statuses.at(-1) === 'ready', 10_000);
  assert.equal(flags.providerStatus, ProviderStatus.READY);
});
