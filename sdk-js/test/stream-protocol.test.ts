// The protocol edge cases a real server rarely produces on demand, played
// with a scripted socket: gaps, stale patches, heartbeats that show a missed
// change, silence, `synced` mismatches, unknown kinds, bad entries, protocol
// errors, and the back-off.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BrowserClient } from '../src/browser/client.js';
import { Backoff } from '../src/internal/backoff.js';
import { streamUrl } from '../src/internal/url.js';
import { ServerClient } from '../src/server/client.js';
import { MemoryLogger, MemoryStorage, until } from './support/daylight.js';
import { fakeSockets, flag, welcome } from './support/fake-socket.js';

function serverClient(extra: object = {}) {
  const fake = fakeSockets();
  const client = new ServerClient({
    url: 'ws://flags.test',
    serverKey: 'dl_server_x',
    webSocket: fake.factory,
    logger: new MemoryLogger(),
    backoff: { initialMs: 5, maxMs: 10 },
    ...extra,
  });
  return { client, fake };
}

/** Opens the socket, answers hello with welcome, a snapshot at `version` and synced. */
async function sync(fake: ReturnType<typeof fakeSockets>, version: number, flags: object) {
  const socket = fake.last();
  await until('hello', () => socket.hello !== undefined);
  socket.receive(welcome());
  socket.receive({ type: 'snapshot', version, ruleset: { environment: 'test', version, flags, segments: {} } });
  socket.receive({ type: 'synced', version });
  return socket;
}

test('hello: protocols, key, sdk; no version before server data', async () => {
  const { client, fake } = serverClient();
  await until('hello', () => fake.last().hello !== undefined);
  assert.equal(fake.last().url, 'ws://flags.test/sdk/v1/stream');
  assert.deepEqual(fake.last().hello, { type: 'hello', protocols: [1], key: 'dl_server_x', sdk: 'daylight-js/0.1.0', receipts: true });
  client.close();
});

test('receipts: the version synced, then each patch applied, and never a stale one', async () => {
  const { client, fake } = serverClient();
  const socket = await sync(fake, 10, { a: flag(true) });
  socket.receive({ type: 'patch', version: 11, kind: 'flag', key: 'a', doc: flag(false) });
  socket.receive({ type: 'patch', version: 11, kind: 'flag', key: 'a', doc: flag(true) }); // stale
  const receipts = socket.sent.filter((m) => m.type === 'applied').map((m) => m.version);
  assert.deepEqual(receipts, [10, 11]);
  client.close();
});

test('a patch gap reconnects with hello.version and resumes', async () => {
  const { client, fake } = serverClient();
  const first = await sync(fake, 10, { a: flag(true) });
  assert.equal(client.state, 'synced');
  first.receive({ type: 'patch', version: 11, kind: 'flag', key: 'a', doc: flag(false) });
  assert.equal(client.version, 11);
  first.receive({ type: 'patch', version: 11, kind: 'flag', key: 'a', doc: flag(true) }); // stale: ignored
  assert.equal(client.boolVariation('a', { key: 'k' }, true), false);
  first.receive({ type: 'patch', version: 13, kind: 'flag', key: 'a', doc: flag(true) }); // gap
  assert.ok(first.closedByClient);
  await until('a second connection', () => fake.sockets.length === 2);
  const second = fake.last();
  await until('hello', () => second.hello !== undefined);
  assert.equal(second.hello!.version, 11);
  second.receive(welcome());
  second.receive({ type: 'patch', version: 12, kind: 'segment', key: 's', doc: { included: ['k'] } });
  second.receive({ type: 'patch', version: 13, kind: 'flag', key: 'a', doc: flag(true) });
  second.receive({ type: 'synced', version: 13 });
  assert.equal(client.state, 'synced');
  assert.equal(client.boolVariation('a', { key: 'k' }, false), true);
  assert.deepEqual(client.diagnostics(), { connections: 2, snapshots: 1, patches: 3, syncs: 2, resumes: 1 });
  client.close();
});

test('a heartbeat ahead of our version reconnects; unknown kinds and types advance or are ignored', async () => {
  const { client, fake } = serverClient();
  const socket = await sync(fake, 5, { a: flag(true) });
  socket.receive({ type: 'some_future_message', x: 1 });
  socket.receive({ type: 'patch', version: 6, kind: 'widget', key: 'w', doc: { anything: true } });
  assert.equal(client.version, 6);
  socket.receive({ type: 'heartbeat', version: 6 });
  assert.equal(socket.closedByClient, false);
  socket.receive({ type: 'heartbeat', version: 7 });
  assert.equal(socket.closedByClient, true);
  await until('a resume', () => fake.sockets.length === 2 && fake.last().hello !== undefined);
  assert.equal(fake.last().hello!.version, 6);
  client.close();
});

test('a bad patched flag is removed; a bad snapshot entry is left out', async () => {
  const { client, fake } = serverClient();
  const changes: string[][] = [];
  client.on('change', (e) => changes.push([...e.flags]));
  const socket = await sync(fake, 1, { good: flag(true), bad: { variations: [1], on: true, fallthrough: { variation: 0 } } });
  assert.deepEqual(client.ruleset()!.flagKeys(), ['good']);
  socket.receive({ type: 'patch', version: 2, kind: 'flag', key: 'good', doc: { variations: [1, 2], on: true, fallthrough: { variation: 9 } } });
  assert.equal(client.version, 2);
  assert.deepEqual(client.boolVariationDetail('good', {}, true).reason, { kind: 'ERROR', error_kind: 'FLAG_NOT_FOUND' });
  assert.deepEqual(changes, [['good'], ['good']]);
  client.close();
});

test('synced below our data asks for a snapshot; silence reconnects', async () => {
  const { client, fake } = serverClient();
  const first = await sync(fake, 9, { a: flag(true) });
  first.receive({ type: 'welcome', protocol: 1, kind: 'server', heartbeat_ms: 20 }); // a shorter heartbeat
  // Nothing for 3 × 20 ms: the connection is dead.
  await until('the silence to be noticed', () => fake.sockets.length === 2, 2000);
  const second = fake.last();
  await until('hello', () => second.hello !== undefined);
  assert.equal(second.hello!.version, 9);
  second.receive(welcome());
  second.receive({ type: 'synced', version: 3 }); // the server is behind us (a restored database)
  await until('a third connection', () => fake.sockets.length === 3 && fake.last().hello !== undefined);
  assert.equal(fake.last().hello!.version, undefined, 'no version: a snapshot, please');
  assert.equal(client.boolVariation('a', {}, false), true, 'last known values meanwhile');
  client.close();
});

test('server errors: unauthorized waits long, unsupported_protocol stops, others retry', async () => {
  {
    const { client, fake } = serverClient({ unauthorizedRetryMs: 60_000 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    await until('hello', () => fake.last().hello !== undefined);
    fake.last().receive({ type: 'error', code: 'unauthorized', message: 'unknown or revoked key' });
    assert.equal(client.state, 'unauthorized');
    assert.equal(await client.waitForReady(1000), false);
    assert.deepEqual(errors, ['unauthorized']);
    client.close();
    assert.equal(fake.sockets.length, 1);
  }
  {
    const { client, fake } = serverClient();
    await until('hello', () => fake.last().hello !== undefined);
    fake.last().receive({ type: 'error', code: 'unsupported_protocol', message: 'this server speaks protocols [2]', supported: [2] });
    assert.equal(client.state, 'stopped');
    client.close();
  }
  {
    const { client, fake } = serverClient();
    await until('hello', () => fake.last().hello !== undefined);
    fake.last().receive({ type: 'error', code: 'slow_consumer', message: 'too far behind' });
    assert.equal(client.state, 'disconnected');
    await until('a retry', () => fake.sockets.length === 2);
    fake.last().drop();
    await until('another retry', () => fake.sockets.length === 3);
    client.close();
    assert.equal(client.state, 'closed');
  }
});

test('offline with bootstrap; configuration errors', async () => {
  const offline = new ServerClient({ bootstrap: { flags: { a: flag(true) } } });
  assert.equal(offline.state, 'offline');
  assert.equal(offline.boolVariation('a', {}, false), true);
  assert.equal(await offline.waitForReady(), true);
  assert.throws(() => new ServerClient({}), /url/);
  assert.throws(() => new ServerClient({ url: 'ftp://x', serverKey: 'k', webSocket: fakeSockets().factory }), /invalid stream URL/);
  assert.throws(() => new ServerClient({ bootstrap: { flags: { a: { variations: [1] } } } as never }), /flags\.a/);
});

test('stream URLs are normalised like the Rust SDK', () => {
  assert.equal(streamUrl('ws://127.0.0.1:8080'), 'ws://127.0.0.1:8080/sdk/v1/stream');
  assert.equal(streamUrl('https://flags.example/'), 'wss://flags.example/sdk/v1/stream');
  assert.equal(streamUrl('http://h'), 'ws://h/sdk/v1/stream');
  assert.equal(streamUrl('ws://h/custom/path'), 'ws://h/custom/path');
  assert.equal(streamUrl('ws://h?x=1'), 'ws://h/sdk/v1/stream?x=1');
  assert.throws(() => streamUrl('ftp://h'));
  assert.throws(() => streamUrl('h:80'));
});

test('back-off: 0.5 s doubling to 30 s, each delay between half and all of it; reset starts over', () => {
  let r = 0;
  const backoff = new Backoff(500, 30_000, () => (r = (r + 0.37) % 1));
  for (const ceiling of [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]) {
    assert.equal(backoff.ceilingMs(), ceiling);
    const delay = backoff.nextDelayMs();
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `${delay} outside ${ceiling}`);
  }
  backoff.reset();
  assert.ok(backoff.nextDelayMs() <= 500);
});

test('browser: values for a replaced context are not applied; changed merges; heartbeats are sent', async () => {
  const fake = fakeSockets();
  const storage = new MemoryStorage();
  const client = new BrowserClient({
    url: 'wss://flags.test',
    clientKey: 'dl_client_x',
    context: { key: 'a' },
    webSocket: fake.factory,
    storage,
    logger: new MemoryLogger(),
    backoff: { initialMs: 5, maxMs: 10 },
  });
  const socket = fake.last();
  await until('hello', () => socket.hello !== undefined);
  assert.deepEqual(socket.hello!.context, { key: 'a' });
  socket.receive(welcome('client', 20));
  const entry = (value: boolean) => ({ value, variation: value ? 1 : 0, reason: { kind: 'FALLTHROUGH', in_rollout: false } });
  socket.receive({ type: 'values', version: 3, flags: { f: entry(false) } });
  assert.equal(client.boolVariation('f', true), false);

  const identified = client.identify({ key: 'b' });
  assert.deepEqual(socket.sent.at(-1), { type: 'identify', context: { key: 'b' } });
  socket.receive({ type: 'changed', version: 4, flags: { f: entry(true) }, removed: [] }); // still for "a"
  assert.equal(client.boolVariation('f', false), false, 'a change for the old context is not applied');
  socket.receive({ type: 'values', version: 4, flags: { f: entry(true), g: { value: null, variation: null, reason: { kind: 'OFF' } } } });
  assert.equal(await identified, true);
  assert.equal(client.boolVariation('f', false), true);
  assert.deepEqual(client.boolVariationDetail('g', true), { value: true, variation: null, reason: { kind: 'OFF' } });

  socket.receive({ type: 'changed', version: 5, flags: {}, removed: ['f'] });
  assert.deepEqual(client.boolVariationDetail('f', true).reason, { kind: 'ERROR', error_kind: 'FLAG_NOT_FOUND' });
  // Receipts for what was applied, not for the old context's change.
  assert.equal(socket.hello!.receipts, true);
  assert.deepEqual(socket.sent.filter((m) => m.type === 'applied').map((m) => m.version), [3, 4, 5]);
  await until('a heartbeat from the client', () => socket.sent.some((m) => m.type === 'heartbeat'));

  // The cache holds the last values of "b".
  assert.equal(storage.items.size, 1);
  assert.match([...storage.items.values()][0]!, /"context":"\{\\"key\\":\\"b\\"\}"/);
  client.close();
});

test('browser: identify during the handshake waits for the new context values', async () => {
  const fake = fakeSockets();
  const client = new BrowserClient({
    url: 'wss://flags.test',
    clientKey: 'dl_client_x',
    context: { key: 'a' },
    webSocket: fake.factory,
    storage: null,
    logger: new MemoryLogger(),
  });
  const identified = client.identify({ key: 'b' }); // before the socket opens: the hello carries "b"
  const socket = fake.last();
  await until('hello', () => socket.hello !== undefined);
  assert.deepEqual(socket.hello!.context, { key: 'b' });
  const again = client.identify({ key: 'c' }); // after the hello, before welcome: sent at once
  assert.deepEqual(socket.sent.at(-1), { type: 'identify', context: { key: 'c' } });
  const entry = (value: string) => ({ value, variation: 0, reason: { kind: 'TARGET_MATCH' } });
  socket.receive(welcome('client'));
  socket.receive({ type: 'values', version: 1, flags: { who: entry('b') } });
  assert.equal(client.isReady(), false, 'values for "b" are not "c"\'s');
  socket.receive({ type: 'values', version: 1, flags: { who: entry('c') } });
  assert.equal(client.stringVariation('who', ''), 'c');
  assert.deepEqual(await Promise.all([identified, again]), [true, true]);
  client.close();
});

test('browser: the extension hook adds hello fields and routes its messages to its events', async () => {
  const fake = fakeSockets();
  const client = new BrowserClient({
    url: 'wss://flags.test',
    clientKey: 'dl_client_x',
    context: { key: 'a' },
    webSocket: fake.factory,
    storage: null,
    logger: new MemoryLogger(),
  });
  client.extend({
    types: ['bundle'],
    hello: () => ({ bundle: { app: 'web', version: '1.0.0' } }),
    handle: (message, emit) => emit('bundle', { status: message.status }),
  });
  const seen: unknown[] = [];
  client.on('bundle', (payload) => seen.push(payload));
  const socket = fake.last();
  await until('hello', () => socket.hello !== undefined);
  assert.deepEqual(socket.hello!.bundle, { app: 'web', version: '1.0.0' });
  socket.receive(welcome('client'));
  socket.receive({ type: 'values', version: 1, flags: {} });
  socket.receive({ type: 'bundle', app: 'web', running: '1.0.0', status: 'current', target: '1.0.0' });
  assert.deepEqual(seen, [{ status: 'current' }]);
  client.close();
});
