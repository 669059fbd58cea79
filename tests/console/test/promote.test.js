// "Copy to <env>…" on a flag's page: the dialog shows what copying the
// flag's rules, rollout and targets (and the segment the rules use) would
// change in the other environment, is reachable and closable by keyboard
// with focus back on its button, and applies exactly that plan. And
// targeting that a flags-as-code file manages is read-only, naming the file.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { assertAccessible, assertFocused, consoleSuite } from './support.js';

const suite = consoleSuite();

test('copying a flag from staging to production shows the diff and applies it with the segment it uses', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/environments/staging/segments', { body: { key: 'vip', name: 'VIPs', included: ['u-1'] }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const path = '/api/v1/flags/new-lobby/environments/staging';
  const read = await server.call('GET', path, { expect: 200 });
  const staging = {
    ...read.body,
    on: true,
    rules: [{ id: 'vips', clauses: [{ attribute: 'key', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } }],
    fallthrough: { rollout: { variations: [{ variation: 0, weight: 90000 }, { variation: 1, weight: 10000 }] } },
  };
  await server.call('PUT', path, { body: staging, headers: { 'If-Match': read.headers.get('etag') }, expect: 200 });

  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByLabel('Environment', { exact: true }).selectOption('staging');
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  const copy = page.getByRole('button', { name: /^Copy to production…$/i });

  // By keyboard: open, read the plan, close with Escape; focus comes back.
  await copy.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await dialog.locator('#promote-plan').waitFor();
  const shown = await dialog.textContent();
  assert.match(shown, /flag new-lobby: changed/);
  assert.match(shown, /environments\.production\.rules/);
  assert.match(shown, /environments\.production\.fallthrough/);
  assert.match(shown, /segment vip: created/);
  assert.doesNotMatch(shown, /environments\.production\.on/, 'on/off is not copied by default');
  await assertAccessible(page, 'the copy dialog');
  // Long values (the rules' JSON) wrap within the dialog: no "After" cell
  // runs past its edge.
  const edge = await dialog.boundingBox();
  for (const cell of await dialog.locator('#promote-plan td.after').all()) {
    const box = await cell.boundingBox();
    assert.ok(box.x + box.width <= edge.x + edge.width, `an After cell ends at ${box.x + box.width}, past the dialog's edge at ${edge.x + edge.width}`);
  }
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await assertFocused(copy, 'focus returns to Copy to production…');
  assert.equal((await server.call('GET', '/api/v1/environments/production/segments/vip')).status, 404, 'nothing copied on cancel');

  await copy.click();
  await dialog.locator('#promote-plan').waitFor();
  await dialog.getByLabel(/^Comment/).fill('lobby ready for production');
  await dialog.getByRole('button', { name: /^Copy to production$/i }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('#promote-done').getByText(/Copied to production/i).waitFor();

  const production = (await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body;
  const stored = (await server.call('GET', path, { expect: 200 })).body;
  assert.equal(production.rules[0].id, 'vips');
  assert.deepEqual(production.rules, stored.rules);
  assert.deepEqual(production.fallthrough, stored.fallthrough);
  assert.equal(production.on, false, 'still dark in production');
  const vip = (await server.call('GET', '/api/v1/environments/production/segments/vip', { expect: 200 })).body;
  assert.deepEqual(vip.included, ['u-1']);
  const [entry] = (await server.call('GET', '/api/v1/audit?resource_key=new-lobby&limit=1', { expect: 200 })).body.entries;
  assert.equal(entry.environment, 'production');
  assert.equal(entry.comment, 'lobby ready for production');

  // Asking again: nothing left to copy.
  await copy.click();
  await dialog.locator('#promote-nothing').waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'detached' });
});

test('copying to an environment that requires approval creates the segment there and proposes the targeting', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  await server.call('POST', '/api/v1/environments/staging/segments', { body: { key: 'vip', name: 'VIPs', included: ['u-1'] }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const path = '/api/v1/flags/new-lobby/environments/staging';
  const read = await server.call('GET', path, { expect: 200 });
  const staging = { ...read.body, rules: [{ id: 'vips', clauses: [{ attribute: 'key', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } }] };
  await server.call('PUT', path, { body: staging, headers: { 'If-Match': read.headers.get('etag') }, expect: 200 });

  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByLabel('Environment', { exact: true }).selectOption('staging');
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  await page.getByRole('button', { name: /^Copy to production…$/i }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('#promote-plan').waitFor();
  await dialog.getByLabel(/^Comment/).fill('VIPs first in production');
  await dialog.getByRole('button', { name: /^Copy to production$/i }).click();
  await dialog.waitFor({ state: 'detached' });
  const done = page.locator('#promote-done');
  await done.getByText(/requires approval: proposed as change request #\d+/i).waitFor();
  assert.match(await done.textContent(), /Written in production now: segment vip \(created\)/i);

  // The segment is there; the flag's production targeting waits for approval.
  const vip = (await server.call('GET', '/api/v1/environments/production/segments/vip', { expect: 200 })).body;
  assert.deepEqual(vip.included, ['u-1']);
  const production = (await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body;
  assert.deepEqual(production.rules, []);
  const id = Number((await done.getByRole('link').first().textContent()).match(/#(\d+)/)[1]);
  const request = (await server.call('GET', `/api/v1/change-requests/${id}`, { expect: 200 })).body;
  assert.equal(request.state, 'open');
  assert.equal(request.key, 'new-lobby');
});

test('targeting a flags-as-code file manages is read-only in the console, naming the file', async () => {
  const { server, page } = await suite.setup();
  const dir = await mkdtemp(join(tmpdir(), 'daylight-flags-'));
  const file = join(dir, 'lobby.yaml');
  await writeFile(file, [
    'version: 1',
    'flags:',
    '  - key: new-lobby',
    '    variations: [false, true]',
    '    manage:',
    '      production: [targeting]',
    '    environments:',
    '      production: { on: false, off_variation: 0, fallthrough: { variation: 1 } }',
    '',
  ].join('\n'));
  await server.cli('apply', file, '--env', 'production', '--reason', 'from the repository');

  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  const notice = page.locator('#managed-by');
  assert.match(await notice.textContent(), /Read-only: managed by .*lobby\.yaml/);
  assert.equal(await page.getByRole('button', { name: 'Add rule' }).isDisabled(), true);
  assert.equal(await page.getByLabel('When off, serve').isDisabled(), true);

  // Staging is the console's: editable.
  await page.getByLabel('Environment', { exact: true }).selectOption('staging');
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  assert.equal(await page.locator('#managed-by').count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Add rule' }).isDisabled(), false);
  await rm(dir, { recursive: true, force: true });
});
