// The Node server-key client against a real `daylight serve`: snapshot,
// live patches and change events, agreement with the server's own evaluator,
// an outage with zero failed evaluations, and a resume without a snapshot.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createServerClient, type ChangeEvent, type ConnectionState, type ServerClient } from '../src/node/index.js';
import { DaylightServer, MemoryLogger, sleep, until } from './support/daylight.js';

const ENV = 'sdkjs-node';
let server: DaylightServer;
let serverKey: string;
let client: ServerClient;
const changes: ChangeEvent[] = [];
const states: ConnectionState[] = [];
const logger = new MemoryLogger();

const omaha = { key: 'u-1', game: 'Omaha', table_id: 1017 };
const holdem = { key: 'u-2', game: 'holdem', table_id: 1018 };

before(async () => {
  server = await DaylightServer.start();
  await server.createEnvironment(ENV);
  await server.createSegment(ENV, 'vip', { included: ['u-2'] });
  await server.createFlag(ENV, 'new-lobby', { variations: [false, true], client_side: true }, {
    on: true,
    off_variation: 0,
    rules: [{ id: 'omaha', clauses: [{ attribute: 'game', op: 'in', values: ['omaha'], case_insensitive: true }], serve: { variation: 1 } }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'lobby-theme', { variations: ['classic', 'midnight', 'neon'] }, {
    on: true,
    off_variation: 0,
    rules: [{ id: 'vip', clauses: [{ op: 'in_segment', values: ['vip'] }], serve: { variation: 2 } }],
    fallthrough: { rollout: { variations: [{ variation: 0, weight: 50000 }, { variation: 1, weight: 50000 }], bucket_by: 'table_id' } },
  });
  await server.createFlag(ENV, 'max-tables', { variations: [4, 8, 12.5] }, {
    on: true,
    off_variation: 0,
    prerequisites: [{ flag: 'new-lobby', variation: 1 }],
    fallthrough: { variation: 2 },
  });
  await server.createFlag(ENV, 'dark', { variations: [{ a: 1 }, { a: 2 }] }, { on: false, off_variation: 1, fallthrough: { variation: 0 } });
  serverKey = await server.createKey(ENV, 'server');

  client = createServerClient({
    url: server.url,
    serverKey,
    logger,
    // The first reconnect comes 1–2 s after a drop: long enough for the
    // restart below to write a change before the client asks to resume.
    backoff: { initialMs: 2000, maxMs: 2000 },
  });
  client.on('change', (event) => changes.push(event));
  client.on('state', ({ state }) => states.push(state));
});

after(async () => {
  client?.close();
  await server?.stop();
});

/** The server's own (Rust) evaluation of one flag, through the explain endpoint. */
async function explain(flag: string, context: object) {
  const res = await server.call('POST', `/api/v1/flags/${flag}/environments/${ENV}/evaluate`, { body: { context }, expect: 200 });
  return res.body as { value: unknown; variation: number | null; reason: unknown };
}

test('gets a snapshot, syncs, and evaluates like the server', async () => {
  assert.equal(client.boolVariationDetail('new-lobby', omaha, false).reason.kind, 'ERROR', 'not ready before data');
  assert.equal(await client.waitForReady(5000), true);
  assert.equal(client.state, 'synced');
  assert.deepEqual({ ...client.diagnostics(), patches: 0 }, { connections: 1, snapshots: 1, patches: 0, syncs: 1, resumes: 0 });

  for (const context of [omaha, holdem, { key: 'u-3' }, { game: 'OMAHA' }, { key: 'u-4', table_id: 7.5 }]) {
    for (const flag of ['new-lobby', 'lobby-theme', 'max-tables', 'dark', 'missing']) {
      const ours = client.jsonVariationDetail(flag, context, null);
      if (flag === 'missing') {
        assert.deepEqual(ours.reason, { kind: 'ERROR', error_kind: 'FLAG_NOT_FOUND' });
        continue;
      }
      const theirs = await explain(flag, context);
      assert.deepEqual(
        { value: ours.variation === null ? null : ours.value, variation: ours.variation, reason: ours.reason },
        { value: theirs.value ?? null, variation: theirs.variation ?? null, reason: theirs.reason },
        `${flag} for ${JSON.stringify(context)}`,
      );
    }
  }
  assert.equal(client.boolVariation('new-lobby', omaha, false), true);
  assert.equal(client.numberVariation('max-tables', omaha, 0), 12.5);
  assert.equal(client.stringVariation('lobby-theme', holdem, 'x'), 'neon');
  assert.deepEqual(client.numberVariationDetail('new-lobby', omaha, 3).reason, { kind: 'ERROR', error_kind: 'TYPE_MISMATCH' });
});

test('a toggle arrives live, with a change event for the flag and its dependents', async () => {
  const seen = changes.length;
  await server.toggle(ENV, 'new-lobby', false);
  await until('the toggle to arrive', () => client.boolVariation('new-lobby', omaha, true) === false);
  await until('the change event', () => changes.length > seen);
  assert.deepEqual(changes.at(-1)!.flags, ['max-tables', 'new-lobby']);
  assert.equal(client.boolVariationDetail('new-lobby', omaha, true).reason.kind, 'OFF');
  assert.deepEqual(client.numberVariationDetail('max-tables', omaha, 0).reason, {
    kind: 'PREREQUISITE_FAILED',
    prerequisite_key: 'new-lobby',
  });

  await server.toggle(ENV, 'new-lobby', true);
  await until('the second toggle', () => client.boolVariation('new-lobby', omaha, false) === true);
  assert.equal(client.diagnostics().snapshots, 1, 'patches, not snapshots');
  assert.ok(client.diagnostics().patches >= 2);
});

test('a segment change reaches the flags using it', async () => {
  const seen = changes.length;
  await server.call('PUT', `/api/v1/environments/${ENV}/segments/vip/included`, { body: ['u-1'], expect: 200 });
  await until('the segment patch', () => client.stringVariation('lobby-theme', omaha, 'x') === 'neon');
  await until('the change event', () => changes.length > seen);
  assert.deepEqual(changes.at(-1)!.flags, ['lobby-theme']);
  assert.notEqual(client.stringVariation('lobby-theme', holdem, 'x'), 'neon');
});

test('an outage: last known values with zero failures, then a resume without a snapshot', async () => {
  const before = client.diagnostics();
  const expected = {
    lobby: client.boolVariationDetail('new-lobby', omaha, false),
    theme: client.stringVariationDetail('lobby-theme', holdem, 'x'),
  };
  const version = client.version!;

  await server.kill();
  await until('the client to notice', () => client.state === 'disconnected', 5000);

  // Evaluate hard while the server is gone: every answer is the last known one.
  let evaluations = 0;
  const outageEnds = Date.now() + 300;
  while (Date.now() < outageEnds) {
    assert.deepEqual(client.boolVariationDetail('new-lobby', omaha, false), expected.lobby);
    assert.deepEqual(client.stringVariationDetail('lobby-theme', holdem, 'x'), expected.theme);
    evaluations += 2;
    if (evaluations % 1000 === 0) await sleep(0);
  }
  assert.ok(evaluations > 1000);

  // Same port, same database; a change is written before the client comes back.
  await server.launch();
  const seen = changes.length;
  await server.toggle(ENV, 'new-lobby', false);
  assert.equal(client.boolVariation('new-lobby', omaha, true), true, 'still the last known value');

  await until('the client to resume', () => client.state === 'synced' && client.boolVariation('new-lobby', omaha, true) === false, 10_000);
  const now = client.diagnostics();
  assert.equal(now.snapshots, before.snapshots, 'resumed: no new snapshot');
  assert.equal(now.resumes, before.resumes + 1);
  assert.equal(now.connections, before.connections + 1);
  assert.equal(now.patches, before.patches + 1, 'the missed change came as one patch');
  assert.equal(client.version, version + 1);
  assert.ok(changes.slice(seen).some((c) => c.flags.includes('new-lobby')));
  assert.ok(states.includes('disconnected'));
});

test('a client with a wrong key is refused and serves defaults', async () => {
  const wrong = createServerClient({ url: server.url, serverKey: 'dl_server_nope', logger: new MemoryLogger(), unauthorizedRetryMs: 60_000 });
  const errors: string[] = [];
  wrong.on('error', (e) => errors.push(e.code));
  assert.equal(await wrong.waitForReady(3000), false);
  assert.equal(wrong.state, 'unauthorized');
  assert.deepEqual(errors, ['unauthorized']);
  assert.deepEqual(wrong.boolVariationDetail('new-lobby', omaha, true), {
    value: true,
    variation: null,
    reason: { kind: 'ERROR', error_kind: 'PROVIDER_NOT_READY' },
  });
  wrong.close();
});

test('a client key is not a server key: refused, defaults served', async () => {
  // The server sends `welcome` (of kind "client") before anything else, so a
  // server-key SDK learns it holds the wrong kind of key and stops.
  const clientKey = await server.createKey(ENV, 'client');
  const wrongKind = createServerClient({ url: server.url, serverKey: clientKey, logger: new MemoryLogger() });
  const errors: { code: string; message: string }[] = [];
  wrongKind.on('error', (e) => errors.push(e));
  assert.equal(await wrongKind.waitForReady(1000), false);
  assert.equal(errors[0]?.code, 'wrong_key_kind');
  assert.equal(wrongKind.boolVariationDetail('new-lobby', omaha, true).reason.kind, 'ERROR');
  wrongKind.close();
  assert.equal(wrongKind.state, 'closed');
});

test('bootstrap: ready at once, then replaced by the server', async () => {
  const bootstrapped = createServerClient({
    url: server.url,
    serverKey,
    logger: new MemoryLogger(),
    bootstrap: { version: 1, flags: { 'new-lobby': { variations: [false, true], on: true, fallthrough: { variation: 1 } } } },
  });
  assert.equal(bootstrapped.isReady(), true);
  assert.equal(bootstrapped.boolVariation('new-lobby', holdem, false), true);
  assert.equal(bootstrapped.boolVariationDetail('lobby-theme', holdem, false).reason.kind, 'ERROR');
  await until('the snapshot', () => bootstrapped.diagnostics().snapshots === 1);
  // The server has new-lobby off now (the outage test toggled it).
  assert.equal(bootstrapped.boolVariation('new-lobby', omaha, true), false);
  assert.equal(bootstrapped.stringVariation('lobby-theme', omaha, 'x'), 'neon');
  bootstrapped.close();
  assert.equal(bootstrapped.state, 'closed');
});
