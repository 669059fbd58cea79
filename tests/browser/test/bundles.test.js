// The bundle handshake (docs/bundles.md) and live flag changes in a real
// Chromium: a stale page reloads within the jitter window and announces the
// new version; a stale CDN does not cause a reload loop; a flag toggle shows
// in under a second; a 50% canary goes to the contexts the formula predicts.
// Each test gets its own `daylight serve` and static site.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Daylight, SDK_DIST, Site, checkPrerequisites, launchBrowser, pageState, sleep, until } from './support.js';

const JITTER_MS = 1000;
let browser;
let bucketOf;
const cleanups = [];

before(async () => {
  checkPrerequisites();
  ({ bucketOf } = await import(pathToFileURL(join(SDK_DIST, 'index.js')).href));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

/** A server with web 1.0.0 live and a 1 s jitter window, its site, and a fresh browser context. */
async function setup() {
  const daylight = await Daylight.start();
  cleanups.push(() => daylight.stop());
  await daylight.publish('1.0.0');
  await daylight.setReload({ jitter_ms: JITTER_MS });
  const site = await Site.start(daylight.url, await daylight.clientKey());
  cleanups.push(() => site.stop());
  const context = await browser.newContext();
  cleanups.push(() => context.close());
  return { daylight, site, context };
}

async function open(context, site, query) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${site.url}/?${new URLSearchParams(query)}`);
  await until('the first bundle answer', async () => (await pageState(page))?.answers.length > 0);
  return page;
}

const jitterOf = (key) => Math.floor((bucketOf('web.bundle', key) / 100_000) * JITTER_MS);

test('A: an unsupported page reloads within the jitter window and announces the new version', async () => {
  const { daylight, site, context } = await setup();
  const page = await open(context, site, { ctx: 'alice' });
  const first = (await pageState(page)).answers[0];
  assert.equal(first.status, 'current');
  assert.equal(first.target, '1.0.0');
  assert.deepEqual((await daylight.status()).clients, [{ version: '1.0.0', connected: 1 }]);

  site.version = '1.0.1';
  const published = Date.now();
  await daylight.publish('1.0.1', { min_supported: '1.0.1' });
  const state = await until('the page to run 1.0.1', async () => {
    const s = await pageState(page);
    return s?.version === '1.0.1' && s.answers.length > 0 ? s : undefined;
  });
  const reloads = site.loads(published, 'alice');
  assert.equal(reloads.length, 1, 'one reload');
  const delay = reloads[0].at - published;
  // The moment the SDK picks: murmur3("web.bundle.alice") % 100000 / 100000 * jitter_ms after the notice.
  assert.ok(delay >= jitterOf('alice') - 5, `reloaded after ${delay} ms, its moment is ${jitterOf('alice')} ms`);
  assert.ok(delay < JITTER_MS + 1000, `reloaded after ${delay} ms`);
  assert.equal(state.answers[0].status, 'current');
  assert.equal(state.answers[0].running, '1.0.1');
  assert.deepEqual(state.failed, []);
  await until('the status to show one page on 1.0.1', async () => {
    const clients = (await daylight.status()).clients;
    return JSON.stringify(clients) === JSON.stringify([{ version: '1.0.1', connected: 1 }]);
  }, 5000);
  // The loop-protection record is gone once the new version runs.
  assert.equal(await page.evaluate(() => localStorage.getItem('daylight:bundle:web')), null);
});

test('B: a stale CDN does not cause a reload loop: reload_failed, then back-off', async () => {
  const { daylight, site, context } = await setup();
  // Two tabs: one with the default back-off (30 s), one with a 1 s first delay to watch it double.
  const slow = await open(context, site, { ctx: 'bob' });
  const fastContext = await browser.newContext();
  cleanups.push(() => fastContext.close());
  const fast = await open(fastContext, site, { ctx: 'carol', backoff: 1000 });

  const published = Date.now();
  await daylight.publish('1.0.1', { min_supported: '1.0.1' }); // the site keeps serving 1.0.0
  await sleep(6000);
  const slowLoads = site.loads(published, 'bob');
  const fastLoads = site.loads(published, 'carol');

  // Default back-off: one reload, then reload_failed and no more for 30 s.
  assert.equal(slowLoads.length, 1, `bob reloaded ${slowLoads.length} times`);
  const slowState = await pageState(slow);
  assert.equal(slowState.version, '1.0.0');
  assert.equal(slowState.failed.length, 1);
  const failed = slowState.failed[0];
  assert.equal(failed.attempts, 1);
  assert.equal(failed.target, '1.0.1');
  assert.equal(failed.running, '1.0.0');
  assert.ok(failed.nextRetryAt - slowLoads[0].at > 29_000 && failed.nextRetryAt - slowLoads[0].at <= 30_000, JSON.stringify(failed));
  const record = JSON.parse(await slow.evaluate(() => localStorage.getItem('daylight:bundle:web')));
  assert.deepEqual({ ...record, at: 0 }, { app: 'web', from: '1.0.0', target: '1.0.1', at: 0, attempts: 1 });

  // 1 s first delay: reloads at the jitter moment (within 1 s), +1 s, +2 s; the next, +4 s, is past the 6 s
  // window. Bounded: without the back-off, or without its doubling, there would be 4 to 6 reloads in 6 s.
  // At least 2: the first retry is due about 2 s in, which leaves 4 s for a busy machine.
  // No bound on the gaps themselves: on two busy cores a reload's request can arrive late, and the
  // doubling is checked exactly below, from the SDK's own record.
  assert.ok(fastLoads.length >= 2 && fastLoads.length <= 3, `carol reloaded ${fastLoads.length} times`);
  const [fastState, fastRecord] = await fast.evaluate(() => [window.state, localStorage.getItem('daylight:bundle:web')]);
  const lastFailed = fastState.failed.at(-1);
  assert.equal(lastFailed.attempts, fastLoads.length);
  // The next try is one back-off after the last reload, the back-off doubling with each failed attempt
  // (1 s, 2 s, 4 s): `at` is when the SDK reloaded, between the two last page requests.
  const last = JSON.parse(fastRecord);
  assert.equal(last.attempts, lastFailed.attempts);
  assert.ok(last.at >= fastLoads.at(-2).at && last.at <= fastLoads.at(-1).at, JSON.stringify({ last, fastLoads }));
  assert.equal(lastFailed.nextRetryAt, last.at + 1000 * 2 ** (lastFailed.attempts - 1), JSON.stringify(lastFailed));

  // Once the CDN serves the new bundle the next retry works and clears the record.
  site.version = '1.0.1';
  await until('carol to run 1.0.1', async () => (await pageState(fast))?.version === '1.0.1', 10_000);
  await until('the record to be cleared', async () => (await fast.evaluate(() => localStorage.getItem('daylight:bundle:web'))) === null);
});

test('C: a client_side flag toggled through the API shows in the page in under a second', async () => {
  const { daylight, site, context } = await setup();
  const created = await daylight.admin('POST', '/api/v1/flags', {
    body: { key: 'banner', name: 'banner', variations: [false, true], client_side: true },
    expect: 201,
  });
  await daylight.admin('PUT', '/api/v1/flags/banner/environments/production', {
    body: { on: false, off_variation: 0, fallthrough: { variation: 1 } },
    headers: { 'If-Match': created.headers.get('etag') },
    expect: 200,
  });
  const page = await open(context, site, { ctx: 'dave' });
  await until('the flag values', async () => (await pageState(page))?.flags.banner === false);

  for (const on of [true, false, true]) {
    const before = (await pageState(page)).changes.length;
    const toggled = Date.now();
    await daylight.admin('POST', '/api/v1/flags/banner/environments/production/toggle', { body: { on }, expect: 200 });
    const change = await until('the change in the page', async () => (await pageState(page))?.changes[before], 3000);
    const latency = change.at - toggled;
    assert.equal(change.values.banner, on);
    assert.ok(latency < 1000, `the toggle took ${latency} ms to show`);
  }
});

test('D: a 50% canary goes to exactly the contexts the formula predicts', async () => {
  const { daylight, site, context } = await setup();
  await daylight.publish('1.1.0', { canary_percent: 50 });
  const page = await open(context, site, { ctx: 'eve' });
  const keys = Array.from({ length: 200 }, (_, i) => `player-${i}`);
  // Many lightweight clients in one page, 50 connections at a time.
  const targets = await page.evaluate(async (keys) => {
    const { createBrowserClient } = await import('/sdk/browser/index.js');
    const config = window.config;
    const out = {};
    for (let i = 0; i < keys.length; i += 50) {
      const batch = keys.slice(i, i + 50).map(
        (key) =>
          new Promise((resolve) => {
            const c = createBrowserClient({
              url: config.url,
              clientKey: config.clientKey,
              context: { key },
              storage: null,
              bundle: { app: 'web', version: '1.0.0', reload: () => (out[key] = 'RELOADED'), storage: null },
            });
            c.on('bundle', (answer) => {
              out[key] ??= { status: answer.status, target: answer.target };
              c.close();
              resolve();
            });
          }),
      );
      await Promise.all(batch);
    }
    return out;
  }, keys);
  let onCanary = 0;
  for (const key of keys) {
    const predicted = bucketOf('web.bundle', key) < 50_000;
    onCanary += predicted ? 1 : 0;
    assert.deepEqual(
      targets[key],
      predicted ? { status: 'update_available', target: '1.1.0' } : { status: 'current', target: '1.0.0' },
      key,
    );
  }
  assert.ok(onCanary > 60 && onCanary < 140, `${onCanary} of 200 on the canary`);
});
