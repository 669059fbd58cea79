// Archiving a flag takes it away from every SDK at once, so the console asks
// first: a flag that is on somewhere, or that SDKs evaluated recently (the
// usage API), needs its key typed and a comment, and the dialog says where
// it is live; a dark, unused flag needs only the click. The archived flag's
// page says so, its switches serve nothing, and nothing claims unsaved edits.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertFocused, consoleSuite } from './support.js';

const suite = consoleSuite();

const config = (server, flag, env) => server.call('GET', `/api/v1/flags/${flag}/environments/${env}`, { expect: 200 });

test('archiving a live flag asks for its key and a comment, warns where it is live, and shows the flag as archived', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout-v2', name: 'Checkout v2' }, expect: 201 });
  await server.call('POST', '/api/v1/flags/checkout-v2/environments/production/toggle', { body: { on: true }, expect: 200 });
  // Off in staging, but an app there evaluated it a moment ago.
  const key = await server.sdkKey('staging', 'server');
  await server.call('POST', '/sdk/v1/usage', { token: key, body: { evaluations: [{ flag: 'checkout-v2', variation: 0, count: 40 }] }, expect: 200 });
  for (let i = 0; ; i += 1) {
    const usage = (await server.call('GET', '/api/v1/environments/staging/flags/checkout-v2/usage', { expect: 200 })).body;
    if (usage.last_evaluated !== null) break;
    assert.ok(i < 100, 'the usage report was written');
    await new Promise((r) => setTimeout(r, 100));
  }

  await page.goto(`${server.url}/#/flags/checkout-v2`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  const archive = page.getByRole('button', { name: 'Archive' });
  await archive.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const text = await dialog.textContent();
  assert.match(text, /This flag is live/);
  assert.match(text, /Production: on, never evaluated/i);
  assert.match(text, /staging: off, last evaluated \d+ (second|minute)s? ago/i);
  assert.match(text, /FLAG_NOT_FOUND/);

  // Cancel: nothing happens, and focus is back on the button.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  await assertFocused(archive, 'focus returns to Archive');
  assert.equal((await server.call('GET', '/api/v1/flags/checkout-v2', { expect: 200 })).body.archived, false);

  await archive.click();
  await dialog.waitFor();
  const confirm = dialog.getByRole('button', { name: 'Archive flag' });
  await dialog.getByLabel('Comment (required, goes to the audit log)').fill('replaced by checkout-v3');
  assert.equal(await confirm.isDisabled(), true, 'no archive without the typed key');
  await dialog.getByLabel(/Type checkout-v2 to confirm/).fill('checkout-v');
  assert.equal(await confirm.isDisabled(), true, 'a near miss is not the key');
  await dialog.getByLabel(/Type checkout-v2 to confirm/).fill('checkout-v2');
  await confirm.click();
  await dialog.waitFor({ state: 'detached' });

  // The page says archived, the switch serves nothing, no phantom edits.
  await page.locator('#archived-banner').getByText('FLAG_NOT_FOUND').waitFor();
  const production = page.getByRole('switch', { name: /checkout-v2 in production/ });
  assert.match(await page.locator('label[for="toggle-checkout-v2-production"]').textContent(), /archived: not served/);
  assert.equal(await production.isDisabled(), true);
  assert.equal(await page.getByText('Unsaved changes').count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Save production' }).isDisabled(), true);
  await page.getByRole('button', { name: 'Restore' }).waitFor();

  const audit = (await server.call('GET', '/api/v1/audit?resource_key=checkout-v2&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(audit.action, 'flag.archive');
  assert.equal(audit.comment, 'replaced by checkout-v3');

  // Restoring asks too, and says what will be served again.
  await page.getByRole('button', { name: 'Restore' }).click();
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /it is on in production/i);
  await dialog.getByRole('button', { name: 'Restore flag' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Archive' }).waitFor();
  assert.equal(await page.locator('#archived-banner').count(), 0);
  assert.equal(await page.getByText('Unsaved changes').count(), 0);
  assert.equal((await config(server, 'checkout-v2', 'production')).body.on, true);
});

test('a dark flag nobody evaluates archives without typing its key; the list shows it as archived', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'old-banner', name: 'Old banner' }, expect: 201 });
  await page.goto(`${server.url}/#/flags/old-banner`);
  await page.getByRole('button', { name: 'Archive' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('It is off everywhere').waitFor();
  assert.equal(await dialog.getByLabel(/to confirm/).count(), 0);
  assert.equal(await dialog.getByRole('button', { name: 'Archive flag' }).isDisabled(), false);
  await dialog.getByRole('button', { name: 'Archive flag' }).click();
  await page.locator('#archived-banner').waitFor();
  assert.equal((await server.call('GET', '/api/v1/flags/old-banner', { expect: 200 })).body.archived, true);

  await page.goto(`${server.url}/#/flags`);
  await page.getByLabel('Show archived').check();
  const row = page.locator('tr[data-flag="old-banner"]');
  await row.getByText('archived: not served').first().waitFor();
  assert.equal(await row.getByRole('switch', { name: /old-banner in production/ }).isDisabled(), true);
});

test('a save or toggle that changes nothing writes no version and no audit entry', async () => {
  const { server } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'same', name: 'Same' }, expect: 201 });
  const read = await config(server, 'same', 'production');
  const put = await server.call('PUT', '/api/v1/flags/same/environments/production', {
    body: read.body, headers: { 'If-Match': read.headers.get('etag') }, expect: 200,
  });
  assert.equal(put.headers.get('etag'), read.headers.get('etag'));
  await server.call('POST', '/api/v1/flags/same/environments/production/toggle', { body: { on: false }, expect: 200 });
  const entries = (await server.call('GET', '/api/v1/audit?resource_key=same', { expect: 200 })).body.entries;
  assert.deepEqual(entries.map((e) => e.action), ['flag.create']);
});
