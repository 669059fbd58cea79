// The browser (client-key) client, run in Node with the `ws` package, against
// a real `daylight serve`: only client_side flags, `changed` updates,
// `identify`, the storage cache, an outage, and refusing a server key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createBrowserClient, type BrowserClient, type ChangeEvent } from '../src/browser/index.js';
import type { Context } from '../src/index.js';
import { nodeWebSocket } from '../src/node/index.js';
import { DaylightServer, MemoryLogger, MemoryStorage, until } from './support/daylight.js';

const ENV = 'sdkjs-browser';
let server: DaylightServer;
let clientKey: string;
let serverKey: string;
const storage = new MemoryStorage();
const opened: BrowserClient[] = [];

before(async () => {
  server = await DaylightServer.start();
  await server.createEnvironment(ENV);
  await server.createFlag(ENV, 'banner', { variations: [false, true], client_side: true }, {
    on: true,
    off_variation: 0,
    targets: [{ variation: 1, values: ['qa-1'] }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'theme', { variations: ['classic', 'midnight'], client_side: true }, {
    on: true,
    off_variation: 0,
    rules: [{ id: 'beta', clauses: [{ attribute: 'groups', op: 'in', values: ['beta'] }], serve: { variation: 1 } }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'server-only', { variations: [1, 2], client_side: false }, {
    on: true,
    off_variation: 0,
    fallthrough: { variation: 1 },
  });
  clientKey = await server.createKey(ENV, 'client');
  serverKey = await server.createKey(ENV, 'server');
});

after(async () => {
  for (const c of opened) c.close();
  await server?.stop();
});

function open(context: Context, extra: Partial<Parameters<typeof createBrowserClient>[0]> = {}): BrowserClient {
  const client = createBrowserClient({
    url: server.url,
    clientKey,
    context,
    storage,
    webSocket: nodeWebSocket,
    logger: new MemoryLogger(),
    backoff: { initialMs: 100, maxMs: 200 },
    ...extra,
  });
  opened.push(client);
  return client;
}

test('values of client_side flags only, as the server evaluates them', async () => {
  const client = open({ key: 'u-1', groups: ['beta'] });
  assert.equal(client.isReady(), false);
  assert.deepEqual(client.boolVariationDetail('banner', true).reason, { kind: 'ERROR', error_kind: 'PROVIDER_NOT_READY' });
  assert.equal(await client.waitForReady(5000), true);
  assert.equal(client.source, 'server');
  assert.equal(client.state, 'synced');
  assert.deepEqual(client.boolVariationDetail('banner', true), {
    value: false,
    variation: 0,
    reason: { kind: 'FALLTHROUGH', in_rollout: false },
  });
  assert.deepEqual(client.stringVariationDetail('theme', 'x'), {
    value: 'midnight',
    variation: 1,
    reason: { kind: 'RULE_MATCH', rule_index: 0, rule_id: 'beta', in_rollout: false },
  });
  assert.deepEqual(client.numberVariationDetail('server-only', 0).reason, { kind: 'ERROR', error_kind: 'FLAG_NOT_FOUND' });
  assert.deepEqual(client.numberVariationDetail('theme', 0).reason, { kind: 'ERROR', error_kind: 'TYPE_MISMATCH' });
  assert.deepEqual(client.allFlags(), { banner: false, theme: 'midnight' });
});

test('changes arrive as `changed`, including flags that become visible or hidden', async () => {
  const client = open({ key: 'u-2' });
  const changes: ChangeEvent[] = [];
  client.on('change', (e) => changes.push(e));
  assert.equal(await client.waitForReady(5000), true);

  // Only a different value or variation is sent: turning `banner` off
  // (serving its off variation 0, as before) sends nothing to u-2.
  await server.putConfig(ENV, 'banner', { on: true, off_variation: 0, targets: [{ variation: 1, values: ['qa-1'] }], fallthrough: { variation: 1 } });
  await until('banner on for everyone', () => client.boolVariation('banner', false) === true);
  assert.deepEqual(changes.at(-1)?.flags, ['banner']);

  const flag = await server.call('GET', '/api/v1/flags/server-only', { expect: 200 });
  const patched = await server.call('PATCH', '/api/v1/flags/server-only', {
    body: { client_side: true },
    headers: { 'If-Match': flag.headers.get('etag')! },
    expect: 200,
  });
  await until('server-only to appear', () => client.numberVariation('server-only', 0) === 2);
  assert.deepEqual(changes.at(-1)?.flags, ['server-only']);

  await server.call('PATCH', '/api/v1/flags/server-only', {
    body: { client_side: false },
    headers: { 'If-Match': patched.headers.get('etag')! },
    expect: 200,
  });
  await until('server-only to go', () => client.numberVariationDetail('server-only', 0).reason.kind === 'ERROR');
  assert.deepEqual(changes.at(-1)?.flags, ['server-only']);

  await server.putConfig(ENV, 'banner', { on: true, off_variation: 0, targets: [{ variation: 1, values: ['qa-1'] }], fallthrough: { variation: 0 } });
  await until('banner back to its fallthrough', () => client.boolVariation('banner', true) === false);
});

test('identify switches context; a later client starts from the cache', async () => {
  const client = open({ key: 'u-3' });
  assert.equal(await client.waitForReady(5000), true);
  assert.equal(client.boolVariation('banner', true), false);

  const changes: ChangeEvent[] = [];
  client.on('change', (e) => changes.push(e));
  assert.equal(await client.identify({ key: 'qa-1' }), true);
  assert.deepEqual(client.boolVariationDetail('banner', false), { value: true, variation: 1, reason: { kind: 'TARGET_MATCH' } });
  assert.deepEqual(changes.at(-1)?.flags, ['banner']);
  assert.deepEqual(client.context, { key: 'qa-1' });

  // Another page load for qa-1: values at once from storage, then the server's.
  const later = open({ key: 'qa-1' });
  assert.equal(later.isReady(), true);
  assert.equal(later.source, 'cache');
  assert.equal(later.boolVariation('banner', false), true);
  await until('the server values', () => later.source === 'server');

  // A context the cache has not seen starts empty.
  const stranger = open({ key: 'u-404' });
  assert.equal(stranger.isReady(), false);
  await stranger.waitForReady(5000);
});

test('an outage: last known values, then fresh values after the restart', async () => {
  const client = open({ key: 'qa-1' });
  assert.equal(await client.waitForReady(5000), true);
  await server.kill();
  await until('the client to notice', () => client.state !== 'synced', 5000);
  assert.equal(client.boolVariation('banner', false), true);
  await server.launch();
  await server.toggle(ENV, 'banner', false);
  await until('fresh values', () => client.state === 'synced' && client.boolVariationDetail('banner', true).reason.kind === 'OFF', 10_000);
  await server.toggle(ENV, 'banner', true);
});

test('a server key is refused by the browser client (it would leak the rules)', async () => {
  const client = open({ key: 'u-1' }, { clientKey: serverKey, storage: null });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  assert.equal(await client.waitForReady(3000), false);
  assert.equal(client.state, 'stopped');
  assert.deepEqual(errors, ['wrong_key_kind']);
});
