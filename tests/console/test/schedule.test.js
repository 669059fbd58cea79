// The flag page's Scheduled tab: list, schedule and cancel a flag's changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, consoleSuite } from './support.js';

const suite = consoleSuite();
const list = (server) => server.call('GET', '/api/v1/flags/new-lobby/environments/production/scheduled-changes', { expect: 200 });

test('a flag’s scheduled changes can be listed, scheduled at a local time with a comment, and cancelled', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  // One made elsewhere (the CLI or the API) is listed too.
  await server.call('POST', '/api/v1/flags/new-lobby/environments/production/scheduled-changes', {
    body: { at: '2031-03-01T08:00:00Z', change: { on: true } }, headers: { 'X-Audit-Comment': 'spring launch' }, expect: 201,
  });

  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('tab', { name: 'Scheduled' }).click();
  const table = page.getByRole('table', { name: /Scheduled changes in production/ });
  const spring = table.locator('tr', { hasText: 'spring launch' });
  await spring.waitFor();
  assert.match(await spring.textContent(), /turn it on.*pending/);

  // Without a time the form says what is missing and sends nothing.
  await page.getByRole('button', { name: 'Schedule', exact: true }).click();
  await page.getByRole('alert').getByText('Choose when to apply it.').waitFor();
  assert.equal((await list(server)).body.changes.length, 1);

  const panel = page.locator('#panel-scheduled');
  await panel.getByLabel('Change', { exact: true }).selectOption('false');
  await panel.getByLabel(/^When \(/).fill('2030-01-01T09:30');
  await panel.getByLabel('Comment for the audit log (optional)').fill('end of the trial');
  await page.getByRole('button', { name: 'Schedule', exact: true }).click();
  await page.getByRole('status').getByText('Scheduled.').waitFor();
  const expected = await page.evaluate(() => new Date('2030-01-01T09:30').getTime());
  const made = (await list(server)).body.changes.find((c) => c.comment === 'end of the trial');
  assert.ok(made, 'the change was stored');
  assert.deepEqual([made.at, made.change, made.state], [expected, { on: false }, 'pending']);
  const row = table.locator(`tr[data-change="${made.id}"]`);
  assert.match(await row.textContent(), /turn it off.*pending/);
  await assertAccessible(page, 'the flag page’s Scheduled tab');

  await row.getByRole('button', { name: /^Cancel the change of/ }).click();
  await row.getByText('cancelled').waitFor();
  const after = (await list(server)).body.changes;
  assert.equal(after.find((c) => c.id === made.id).state, 'cancelled');
  assert.equal(after.find((c) => c.comment === 'spring launch').state, 'pending', 'the other change is untouched');
  assert.equal(await row.getByRole('button', { name: /^Cancel/ }).count(), 0, 'a cancelled change cannot be cancelled again');
});
