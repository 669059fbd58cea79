// The flag list shows when each flag was last evaluated per environment and
// which are potentially stale.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

test('the flag list shows last evaluated per environment from the usage reports, and filters potentially stale flags', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'used' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'forgotten' }, expect: 201 });
  const key = await server.sdkKey('staging', 'server');
  await server.call('POST', '/sdk/v1/usage', { token: key, body: { evaluations: [{ flag: 'used', variation: 0, count: 3 }] }, expect: 200 });
  for (let i = 0; ; i += 1) {
    const usage = (await server.call('GET', '/api/v1/environments/staging/flags/used/usage', { expect: 200 })).body;
    if (usage.last_evaluated !== null) break;
    assert.ok(i < 100, 'the usage report was written');
    await new Promise((r) => setTimeout(r, 100));
  }
  // A flag is stale only when older than N days, and the server's clock is
  // real: the stale report for production is the server's answer with one
  // flag added, as it would be 30 days on.
  await page.route('**/api/v1/environments/production/stale-flags*', async (route) => {
    const real = await (await route.fetch()).json();
    real.flags.push({ flag: 'forgotten', reasons: ['not_evaluated'], last_evaluated: null, serving: null, unchanged_since: 0 });
    await route.fulfill({ json: real });
  });

  // The signed-in page may already show the list, fetched before the route
  // existed: load it anew so every report comes through the route.
  await page.goto(`${server.url}/#/flags`);
  await page.reload();
  const used = page.locator('tr[data-flag="used"]');
  await used.getByText(/evaluated (just now|1 min ago)/).waitFor();
  const cells = await used.locator('td .usage').allTextContents();
  assert.ok(cells.some((c) => /evaluated (just now|1 min ago)/.test(c)) && cells.includes('never evaluated'), `per environment: ${cells.join(' | ')}`);
  // Evaluations over the last 24 hours and 7 days, per environment.
  assert.equal(await used.locator('td.current-env .evaluations').textContent(), '0 in 24 h · 0 in 7 d', 'none in production');
  assert.ok(cells.includes('3 in 24 h · 3 in 7 d'), `staging counts: ${cells.join(' | ')}`);
  const forgotten = page.locator('tr[data-flag="forgotten"]');
  await forgotten.getByText('potentially stale: not evaluated for 30 days').waitFor();
  assert.equal(await used.locator('.stale').count(), 0);

  await page.getByLabel(/Only potentially stale in production/).check();
  await used.waitFor({ state: 'detached' });
  assert.match(page.url(), /stale=true/);
  assert.equal(await forgotten.count(), 1);
});
