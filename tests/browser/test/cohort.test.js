// One cohort across router, bundle and flags (docs/cohorts.md), end to end:
// nginx runs the blue-green recipe in front of two pools (each a stand-in
// site serving the app with the browser SDK); Chromium visits as 40
// signed-in users. For each user the pool nginx chose, the bundle version
// the SDK was told to run and a feature flag's value must all equal
// membership of cohort `beta`; raising the cohort moves all three for the
// newly included users and nobody else.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Daylight, SDK_DIST, Site, checkPrerequisites, launchBrowser, pageState, until } from './support.js';
import { NGINX, Nginx, ROUTE_SECRET, checkNginx, hasNginx, signedUid } from './nginx.js';

const USERS = Array.from({ length: 40 }, (_, i) => `user-${i}`);
let browser;
let bucketOf;
const cleanups = [];

// Without nginx the test is skipped, except with DAYLIGHT_REQUIRE_SERVICES=1
// (CI), as the Rust routing suite does.
const skip = !hasNginx() && process.env.DAYLIGHT_REQUIRE_SERVICES !== '1' ? `no nginx at ${NGINX}` : false;

before(async () => {
  if (skip) return;
  checkPrerequisites();
  checkNginx();
  ({ bucketOf } = await import(pathToFileURL(join(SDK_DIST, 'index.js')).href));
  browser = await launchBrowser();
});

after(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
  await browser?.close();
});

const member = (user, weight) => bucketOf('cohort.beta', user) < weight;

/**
 * What `user` gets through nginx: the pool that served the page, the bundle
 * target, the flag. A page load whose question to Daylight failed (the
 * recipe's 200 ms budget, which a debug build on a busy machine can miss)
 * is in nginx's `daylight-failures.log` and went to the fallback pool by
 * design: that visit is repeated, so only Daylight's answers are judged.
 * After three misses nginx asks the stand-in for `fail_timeout` (5 s)
 * without trying Daylight, so the visit is repeated until Daylight answers,
 * for up to 60 s, not a number of times.
 */
async function visit(nginx, user) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const failedBefore = nginx.log('daylight-failures.log').length;
    const seen = await visitOnce(nginx, user);
    const failed = nginx.log('daylight-failures.log').slice(failedBefore);
    if (!failed.includes(`GET /?ctx=${user} `)) return seen;
    if (Date.now() > deadline) throw new Error(`nginx could not ask Daylight about ${user} for 60 s: ${failed}`);
  }
}

async function visitOnce(nginx, user) {
  const context = await browser.newContext();
  try {
    await context.addCookies([{ name: 'dl_uid', value: signedUid(user), url: nginx.url }]);
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.goto(`${nginx.url}/?${new URLSearchParams({ ctx: user })}`);
    const state = await until(
      `${user}'s flags and bundle answer`,
      async () => {
        const s = await pageState(page);
        return s?.ready && s.answers.length > 0 ? s : undefined;
      },
    );
    return { pool: state.pool, bundle: state.answers[0].target, feature: state.flags['new-lobby'] };
  } finally {
    await context.close();
  }
}

async function visitAll(nginx) {
  const seen = {};
  for (const user of USERS) seen[user] = await visit(nginx, user);
  return seen;
}

function assertAgree(seen, weight) {
  for (const user of USERS) {
    const inside = member(user, weight);
    assert.deepEqual(
      seen[user],
      inside ? { pool: 'green', bundle: '1.1.0', feature: true } : { pool: 'blue', bundle: '1.0.0', feature: false },
      `${user} (${inside ? 'inside' : 'outside'} the cohort at ${weight / 1000}%)`,
    );
  }
}

test('the users nginx routes to Green are exactly those with the canary bundle and the feature', { skip }, async () => {
  const daylight = await Daylight.start({ DAYLIGHT_ROUTE_SECRET: ROUTE_SECRET });
  cleanups.push(() => daylight.stop());
  const api = (method, path, body, expect = 200) => daylight.admin(method, path, { body, expect });
  await api('POST', '/api/v1/cohorts', { key: 'beta', weights: { production: 25_000 } }, 201);
  const byCohort = { rollout: { cohort: 'beta', in: 1, out: 0 } };
  // The routing flag of the recipe, and a feature the page reads.
  for (const [key, variations, clientSide] of [
    ['web-pool', ['blue', 'green'], false],
    ['new-lobby', [false, true], true],
  ]) {
    await api('POST', '/api/v1/flags', { key, variations, client_side: clientSide }, 201);
    const path = `/api/v1/flags/${key}/environments/production`;
    const current = await daylight.admin('GET', path, { expect: 200 });
    await daylight.admin('PUT', path, {
      body: { ...current.body, on: true, fallthrough: byCohort },
      headers: { 'If-Match': current.headers.get('etag') },
      expect: 200,
    });
  }
  await daylight.publish('1.0.0');
  await daylight.publish('1.1.0', { canary_cohort: 'beta' });
  const serverKey = (
    await api('POST', '/api/v1/environments/production/keys', { kind: 'server', name: 'nginx' }, 201)
  ).body.secret;
  const clientKey = await daylight.clientKey();
  const blue = await Site.start(daylight.url, clientKey, { pool: 'blue' });
  cleanups.push(() => blue.stop());
  const green = await Site.start(daylight.url, clientKey, { pool: 'green' });
  cleanups.push(() => green.stop());
  // Each pool runs the bundle it was deployed with.
  green.version = '1.1.0';
  const nginx = await Nginx.start({ daylightPort: daylight.port, key: serverKey, bluePort: blue.port, greenPort: green.port });
  cleanups.push(() => nginx.stop());

  const first = await visitAll(nginx);
  assertAgree(first, 25_000);
  const inside = USERS.filter((u) => member(u, 25_000));
  assert.ok(inside.length > 0 && inside.length < USERS.length, `${inside.length} of ${USERS.length} inside at 25%`);

  // One raise: the routing flag, the feature and the canary move together.
  const raised = await api('PUT', '/api/v1/cohorts/beta/environments/production', { weight: 50_000 });
  assert.deepEqual(
    raised.body.moved.map((r) => `${r.kind} ${r.key}`).sort(),
    ['bundle web', 'flag new-lobby', 'flag web-pool'],
  );
  const second = await visitAll(nginx);
  assertAgree(second, 50_000);
  const newlyIn = USERS.filter((u) => member(u, 50_000) && !member(u, 25_000));
  assert.ok(newlyIn.length > 0, 'the raise takes someone in');
  for (const user of USERS) {
    const moved = JSON.stringify(first[user]) !== JSON.stringify(second[user]);
    assert.equal(moved, newlyIn.includes(user), `${user} moved: ${moved}`);
  }
  assert.match(nginx.log('site.log'), /pool=green/);
});
