// The flag page's History tab: that flag's audit entries, readable.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, consoleSuite } from './support.js';

const suite = consoleSuite();

test('the History tab shows only this flag’s changes, with who, when (with its zone), the comment and the rule change in words', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'other-flag' }, expect: 201 });
  // A segment with the same key: its entries are not the flag's.
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'new-lobby' }, expect: 201 });
  const read = await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 });
  const vips = { id: 'vips', description: 'VIPs first', clauses: [{ attribute: 'tier', op: 'in', values: ['vip'] }], serve: { variation: 1 } };
  await server.call('PUT', '/api/v1/flags/new-lobby/environments/production', {
    body: { ...read.body, rules: [vips] },
    headers: { 'If-Match': read.headers.get('etag'), 'X-Audit-Comment': 'VIPs see the new lobby first' },
    expect: 200,
  });

  await page.goto(`${server.url}/#/flags/new-lobby`);
  const tab = page.getByRole('tab', { name: 'History' });
  await tab.click();
  assert.equal(await tab.getAttribute('aria-selected'), 'true');
  const history = page.getByRole('list', { name: 'History of this flag' });
  const config = history.locator('li.entry:has([data-action="flag.config"])');
  await config.waitFor();
  assert.match(await config.locator('.comment').textContent(), /VIPs see the new lobby first/);
  assert.match(await config.locator('time').textContent(), /(UTC|GMT|[A-Z]{2,5}[+-]?\d*)$/, 'the time says its zone');
  assert.ok((await config.locator('.actor').textContent()).trim().length > 0, 'who changed it');
  await config.getByRole('button', { name: 'Show changes' }).click();
  assert.match(await config.locator('ul.rule-changes').textContent(), /in production: added rule “VIPs first”: tier is one of vip → true/);
  assert.match(await config.locator('table.diff').textContent(), /environments\.production\.rules\["vips"\]/);
  const all = await history.locator('li.entry').allTextContents();
  assert.ok(all.some((t) => t.includes('created the flag')), all.join('\n'));
  assert.ok(all.every((t) => !t.includes('other-flag') && !t.includes('segment')), `only this flag:\n${all.join('\n')}`);
  await assertAccessible(page, 'the flag page’s History tab');

  // New changes appear live; the targeting editor is one click away.
  await server.call('POST', '/api/v1/flags/new-lobby/environments/production/toggle', { body: { on: true }, expect: 200 });
  await history.locator('li.entry', { hasText: 'turned it on' }).waitFor();
  await page.getByRole('tab', { name: 'Targeting' }).click();
  await page.getByRole('heading', { name: /Targeting in/ }).waitFor();
  assert.equal(await history.count(), 0, 'the history is hidden again');
});
