// Filters live in the URL: a link shares them, Back undoes a choice.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();
const rows = (page) => page.locator('table.flags tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.flag));

test('the flag list’s search, tag and environment are in the URL; a shared link opens filtered and Back undoes a filter', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'lobby-a', tags: ['lobby'] }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'lobby-b', tags: ['lobby', 'vip'] }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', tags: ['payments'] }, expect: 201 });

  await page.goto(`${server.url}/#/flags?tag=lobby&q=-b&env=staging`);
  await page.locator('tr[data-flag="lobby-a"]').waitFor({ state: 'detached' });
  await page.locator('tr[data-flag="lobby-b"]').waitFor();
  assert.deepEqual(await rows(page), ['lobby-b']);
  assert.equal(await page.getByLabel('Search', { exact: true }).inputValue(), '-b');
  assert.equal(await page.getByLabel('Tag', { exact: true }).inputValue(), 'lobby');
  assert.equal(await page.locator('#env-select').inputValue(), 'staging', 'the link’s environment is chosen');

  await page.getByLabel('Search', { exact: true }).fill('');
  await page.locator('tr[data-flag="lobby-a"]').waitFor();
  assert.ok(!page.url().includes('q='), page.url());
  await page.getByLabel('Tag', { exact: true }).selectOption('payments');
  await page.locator('tr[data-flag="checkout"]').waitFor();
  assert.match(page.url(), /tag=payments/);
  assert.deepEqual(await rows(page), ['checkout']);

  await page.goBack();
  await page.locator('tr[data-flag="lobby-a"]').waitFor();
  assert.equal(await page.getByLabel('Tag', { exact: true }).inputValue(), 'lobby');
  assert.deepEqual((await rows(page)).sort(), ['lobby-a', 'lobby-b']);

  await page.locator('#env-select').selectOption('production');
  await page.waitForFunction(() => location.hash.includes('env=production'));
});

test('the flag list’s sort order is in the URL and survives a reload', async () => {
  const { server, page } = await suite.setup();
  // Key, name and creation order all differ.
  await server.call('POST', '/api/v1/flags', { body: { key: 'b-flag', name: 'Zebra' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'c-flag', name: 'Apple' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'a-flag', name: 'Mango' }, expect: 201 });
  const order = async (expected) => {
    await page.waitForFunction((want) => [...document.querySelectorAll('table.flags tbody tr')].map((tr) => tr.dataset.flag).join() === want, expected.join());
    assert.deepEqual(await rows(page), expected);
  };
  await page.goto(`${server.url}/#/flags`);
  await order(['a-flag', 'b-flag', 'c-flag']);
  await page.getByLabel('Sort by').selectOption('name');
  await order(['c-flag', 'a-flag', 'b-flag']);
  assert.match(page.url(), /sort=name/);
  await page.reload();
  await order(['c-flag', 'a-flag', 'b-flag']);
  assert.equal(await page.getByLabel('Sort by').inputValue(), 'name');
  await page.getByLabel('Sort by').selectOption('created');
  await order(['a-flag', 'c-flag', 'b-flag']);
  await page.reload();
  await order(['a-flag', 'c-flag', 'b-flag']);
  await page.goBack();
  await order(['c-flag', 'a-flag', 'b-flag']);
  assert.equal(await page.getByLabel('Sort by').inputValue(), 'name');
});

test('the audit filters are in the URL; a shared link opens filtered and Back undoes a filter', async () => {
  const { server, page } = await suite.setup();
  const editor = await server.token('editor');
  await server.call('POST', '/api/v1/flags', { token: editor, body: { key: 'by-editor' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'by-admin' }, expect: 201 });

  await page.goto(`${server.url}/#/audit?actor=EDITOR`);
  await page.locator('li.entry', { hasText: 'by-editor' }).first().waitFor();
  assert.equal(await page.getByLabel('Who (part of the name)').inputValue(), 'EDITOR');
  assert.equal(await page.locator('li.entry', { hasText: 'by-admin' }).count(), 0, 'filtered by the link');

  await page.getByLabel('Who (part of the name)').fill('');
  await page.getByLabel('Who (part of the name)').press('Enter');
  await page.locator('li.entry', { hasText: 'by-admin' }).first().waitFor();
  assert.ok(!page.url().includes('actor='), page.url());

  await page.goBack();
  await page.locator('li.entry', { hasText: 'by-admin' }).first().waitFor({ state: 'detached' });
  assert.equal(await page.getByLabel('Who (part of the name)').inputValue(), 'EDITOR');
});
