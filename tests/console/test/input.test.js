// Bad and awkward input: long keys, duplicate and partial segment key lists.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

test('flag keys are at most 100 characters (a 400 naming key past that), and a long key wraps in the list', async () => {
  const { server, page } = await suite.setup();
  const refused = await server.call('POST', '/api/v1/flags', { body: { key: 'k'.repeat(101) } });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.field, 'key');

  await page.getByRole('button', { name: 'New flag' }).click();
  assert.equal(await page.getByLabel('Key').getAttribute('maxlength'), '100');
  const key = 'a'.repeat(100);
  await page.getByLabel('Key').fill(key);
  await page.getByRole('button', { name: 'Create flag' }).click();
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.goto(`${server.url}/#/flags`);
  await page.locator(`tr[data-flag="${key}"]`).waitFor();
  const fits = await page.evaluate(() => {
    const main = document.getElementById('main');
    return document.querySelector('table.flags').getBoundingClientRect().right <= main.getBoundingClientRect().right + 1;
  });
  assert.equal(fits, true, 'the flag table stays within the page');
});

test('segment keys: duplicates are kept once after trimming, and pasted keys can be added or removed', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'vip', name: 'VIP players' }, expect: 201 });
  await page.goto(`${server.url}/#/segments/vip`);
  await page.getByRole('heading', { name: 'VIP players' }).waitFor();
  const included = page.locator('.card', { hasText: 'Included keys' });
  const paste = included.getByLabel(/or paste keys/);

  await paste.fill('ana\n  ana \nben\n\nben');
  await included.getByRole('button', { name: 'Replace included keys with the pasted list' }).click();
  await included.getByText('Replaced: 2 included keys.').waitFor();
  const read = async () => (await server.call('GET', '/api/v1/environments/production/segments/vip', { expect: 200 })).body.included;
  assert.deepEqual(await read(), ['ana', 'ben']);

  await paste.fill('chloe\nana');
  await included.getByRole('button', { name: 'Add the pasted included keys' }).click();
  await included.getByText('Added 1: 3 included keys.').waitFor();
  assert.deepEqual(await read(), ['ana', 'ben', 'chloe']);

  await paste.fill(' ben ');
  await included.getByRole('button', { name: 'Remove the pasted included keys' }).click();
  await included.getByText('Removed 1: 2 included keys.').waitFor();
  assert.deepEqual(await read(), ['ana', 'chloe']);
});
