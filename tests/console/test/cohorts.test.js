// The Cohorts page (docs/cohorts.md): each cohort's share per environment
// and what references it; setting the share in production (a dialog with
// a comment) moves the flag rollout and the bundle canary that reference it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, consoleSuite } from './support.js';

const suite = consoleSuite();

test('the Cohorts page lists shares and references, and a raise moves every reference', async () => {
  const { server, page } = await suite.setup('editor');
  const call = (method, path, body, expect = 200) => server.call(method, `/api/v1${path}`, { body, expect });
  await call('POST', '/cohorts', { key: 'beta', name: 'Beta testers', weights: { production: 10_000 } }, 201);
  await call('POST', '/flags', { key: 'new-lobby', name: 'New lobby' }, 201);
  const read = await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 });
  await server.call('PUT', '/api/v1/flags/new-lobby/environments/production', {
    body: { ...read.body, fallthrough: { rollout: { cohort: 'beta', in: 1, out: 0 } } },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  await call('POST', '/environments/production/apps/web/publish', { version: '1.0.0' });
  await call('POST', '/environments/production/apps/web/publish', { version: '1.1.0', canary_cohort: 'beta' });

  await page.getByRole('link', { name: 'Cohorts' }).click();
  const row = page.locator('tr[data-cohort="beta"]');
  await row.waitFor();
  assert.equal(await row.locator('td[data-env="production"]').textContent(), '10%');
  assert.equal(await row.locator('td[data-env="staging"]').textContent(), '0%');
  await row.locator('li[data-reference="flag:new-lobby"]').getByRole('link', { name: 'new-lobby' }).waitFor();
  await row.locator('li[data-reference="bundle:web"]').waitFor();
  await assertAccessible(page, 'the Cohorts page');

  await row.getByLabel('Share in production (%)').fill('30');
  await row.getByRole('button', { name: 'Set share' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('flag new-lobby, bundle web').waitFor();
  await page.keyboard.type('Beta to 30%');
  await dialog.getByRole('button', { name: 'Set share in production' }).click();
  await dialog.waitFor({ state: 'detached' });
  await row.getByText('Moved 2 references with it.').waitFor();
  await row.locator('td[data-env="production"]', { hasText: '30%' }).waitFor();

  const flag = (await call('GET', '/flags/new-lobby/environments/production')).body;
  assert.deepEqual(flag.fallthrough.rollout.variations, [
    { variation: 1, weight: 30_000 },
    { variation: 0, weight: 70_000 },
  ]);
  const bundle = (await call('GET', '/environments/production/apps/web/bundle')).body;
  assert.equal(bundle.canary.weight, 30_000);
  const audit = (await call('GET', '/audit?resource_kind=cohort&limit=1')).body.entries[0];
  assert.equal(audit.action, 'cohort.weight');
  assert.equal(audit.comment, 'Beta to 30%');

  // The flag's editor shows the rollout as the cohort's.
  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.locator('.cohort-owned', { hasText: 'Cohort beta' }).first().waitFor();
});
