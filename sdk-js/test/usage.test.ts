// Usage reports from both clients against a real `daylight serve`: batched
// evaluation counts and tracked events arrive and match, and what was
// counted since the last report goes out on close().
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createBrowserClient } from '../src/browser/index.js';
import { createServerClient, nodeWebSocket } from '../src/node/index.js';
import { UsageRecorder } from '../src/internal/usage.js';
import { DaylightServer, MemoryLogger, sleep } from './support/daylight.js';

const ENV = 'sdkjs-usage';
let server: DaylightServer;

before(async () => {
  server = await DaylightServer.start();
  await server.createEnvironment(ENV);
  await server.createFlag(ENV, 'checkout', { variations: [false, true], client_side: true }, {
    on: true,
    off_variation: 0,
    targets: [{ variation: 1, values: ['u0', 'u1', 'u2', 'u3'] }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'theme', { variations: ['light', 'dark'], client_side: true }, {
    on: true,
    off_variation: 0,
    fallthrough: { variation: 1 },
  });
});

after(async () => {
  await server?.stop();
});

async function usage(flag: string): Promise<{ totals: Record<string, number>; events: Record<string, number> }> {
  const res = await server.call('GET', `/api/v1/environments/${ENV}/flags/${flag}/usage`, { expect: 200 });
  const events: Record<string, number> = {};
  for (const e of res.body.events as { event: string; variation: number; count: number }[]) {
    const k = `${e.event}/${e.variation}`;
    events[k] = (events[k] ?? 0) + e.count;
  }
  return { totals: res.body.totals, events };
}

async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('the Node client reports evaluation counts and tracked events', async () => {
  const key = await server.createKey(ENV, 'server');
  const client = createServerClient({ url: server.url, serverKey: key, logger: new MemoryLogger(), usageIntervalMs: 200 });
  assert.equal(await client.waitForReady(5000), true);
  for (let i = 0; i < 10; i++) {
    client.boolVariation('checkout', { key: `u${i}` }, false);
    client.stringVariationDetail('theme', { key: `u${i}` }, 'light');
  }
  client.boolVariation('missing', { key: 'u1' }, false);
  client.track('checkout_error', { key: 'u1' });
  client.track('checkout_error', { key: 'u2' });
  client.track('checkout_error', { key: 'u7' }, ['checkout']);
  client.track('not a valid name', { key: 'u1' });
  await eventually('the first report', async () => JSON.stringify((await usage('checkout')).totals) === '{"0":6,"1":4}');
  assert.deepEqual((await usage('checkout')).events, { 'checkout_error/1': 2, 'checkout_error/0': 1 });
  assert.deepEqual(await usage('theme'), { totals: { 1: 10 }, events: { 'checkout_error/1': 2 } });

  // Counted after the last report: sent on close.
  for (let i = 0; i < 5; i++) client.boolVariation('checkout', { key: 'x' }, false);
  client.close();
  await eventually('the report sent on close', async () => (await usage('checkout')).totals['0'] === 11);
  await sleep(400);
  assert.deepEqual((await usage('checkout')).totals, { 0: 11, 1: 4 }, 'nothing is counted twice');
});

test('the browser client reports evaluations of its context and tracked events', async () => {
  const key = await server.createKey(ENV, 'client');
  const before = await usage('theme');
  const client = createBrowserClient({
    url: server.url,
    clientKey: key,
    context: { key: 'u0' },
    webSocket: nodeWebSocket,
    logger: new MemoryLogger(),
    usageIntervalMs: 200,
  });
  assert.equal(await client.waitForReady(5000), true);
  for (let i = 0; i < 3; i++) client.boolVariation('checkout', false);
  client.stringVariation('theme', 'light');
  client.track('render_error');
  client.close();
  await eventually('the browser report', async () => (await usage('checkout')).totals['1'] === 7);
  assert.equal((await usage('checkout')).events['render_error/1'], 1);
  assert.equal((await usage('theme')).totals['1'], before.totals['1']! + 1);
});

test('event entries are bounded and unsent reports come back', () => {
  const recorder = new UsageRecorder(new MemoryLogger());
  for (let i = 0; i < 10_005; i++) recorder.track('e', [['f', i]]);
  recorder.count('f', 1);
  recorder.count('f', null);
  let sent = 0;
  recorder.flush(() => {
    sent++;
    return false;
  });
  assert.equal(sent, 1);
  const reports = recorder.take();
  assert.ok(reports.length > 1, 'chunked');
  assert.ok(reports.every((r) => JSON.stringify(r).length < 64 * 1024));
  assert.equal(reports.reduce((n, r) => n + r.events.length, 0), 10_000);
  assert.deepEqual(reports[0]!.evaluations, [{ flag: 'f', variation: 1, count: 1 }]);
  assert.deepEqual(recorder.take(), []);
});
