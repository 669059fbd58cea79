// Proposing a segment or bundle change from the console where production
// requires an approval: the refused write opens the propose dialog (axe
// clean), the request's page shows the diff, and once another editor
// approves and applies it (through the API, with their own token) the
// segment or bundle has the change. A request opened on a newer version
// than the page showed says so, and a segment's name (which no request
// carries) is said to stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, consoleSuite } from './support.js';

const suite = consoleSuite();

/** Another editor (a token of another name than the page's) approves request `id` and applies it. */
async function approveAndApply(server, id) {
  const created = await server.call('POST', '/api/v1/tokens', { body: { name: 'second editor', role: 'editor' }, expect: 201 });
  const other = created.body.secret;
  await server.call('POST', `/api/v1/change-requests/${id}/reviews`, { body: { verdict: 'approve' }, expect: 200, token: other });
  await server.call('POST', `/api/v1/change-requests/${id}/apply`, { expect: 200, token: other });
}

/** Proposes what the open dialog holds, with `comment`; the id of the request it names. */
async function propose(page, where, comment, what) {
  const dialog = page.getByRole('dialog', { name: 'Propose a change request' });
  await dialog.waitFor();
  await assertAccessible(page, `the propose dialog for ${what}`);
  if (comment !== null) await dialog.getByLabel(/^Comment/).fill(comment);
  await dialog.getByRole('button', { name: 'Propose' }).click();
  const notice = where.locator('.proposed');
  await notice.waitFor();
  const [, id] = /change request #(\d+)/.exec(await notice.innerText());
  return Number(id);
}

test('an editor proposes included keys for a segment; another approves and applies them', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'beta', name: 'Beta' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });

  await page.goto(`${server.url}/#/segments/beta`);
  await page.getByText('production, version 1').waitFor();
  await page.locator('#upload-included-text').fill('ana\nbo');
  await page.getByRole('button', { name: 'Add the pasted included keys' }).click();
  const id = await propose(page, page, 'beta testers', 'a segment');
  assert.deepEqual((await server.call('GET', '/api/v1/environments/production/segments/beta', { expect: 200 })).body.included, [], 'nothing applied yet');
  // The pasted keys now live in the request.
  assert.equal(await page.locator('#upload-included-text').inputValue(), '');

  await page.locator('.proposed a').click();
  await page.getByRole('heading', { name: `Change request #${id}` }).waitFor();
  await page.locator('table.diff tr', { hasText: 'included[1]' }).waitFor();
  const rows = await page.locator('table.diff tbody tr').allInnerTexts();
  assert.deepEqual(rows.map((r) => r.split(/\s+/).join(' ')), ['included[0] — "ana"', 'included[1] — "bo"']);
  assert.match(await page.locator('.change-request').innerText(), /segment beta in production/);

  await approveAndApply(server, id);
  await page.locator('#request-state-text', { hasText: 'applied' }).waitFor();
  assert.deepEqual((await server.call('GET', '/api/v1/environments/production/segments/beta', { expect: 200 })).body.included, ['ana', 'bo']);
});

test('an editor proposes a segment rule: the name the request cannot carry is said, and a segment changed meanwhile is not proposed over', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'beta', name: 'Beta' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });

  await page.goto(`${server.url}/#/segments/beta`);
  await page.getByText('production, version 1').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('Beta testers');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.locator('#sr0-c0-values').fill('staff-1');
  await page.getByRole('button', { name: 'Save segment' }).click();
  const dialog = page.getByRole('dialog', { name: 'Propose a change request' });
  await dialog.getByText('the name and description stay as they are').waitFor();
  // Meanwhile someone changes the segment (approvals off for a moment): a
  // request against the page's version 1 would undo that; it is refused.
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 0 }, expect: 200 });
  await server.call('PUT', '/api/v1/environments/production/segments/beta/included', { body: ['cy'], expect: 200 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  await dialog.getByLabel(/^Comment/).fill('a rule');
  await dialog.getByRole('button', { name: 'Propose' }).click();
  await dialog.getByRole('alert').getByText(/changed since you read it \(you sent version 1, it is now at 2\)/).waitFor();
  assert.deepEqual((await server.call('GET', '/api/v1/change-requests?state=open', { expect: 200 })).body.change_requests, []);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
});

test('an editor proposes a bundle canary; another approves and applies it', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/environments/production/apps/web/publish', { body: { version: '1.0.0' }, expect: 200 });
  await server.call('POST', '/api/v1/environments/staging/apps/web/publish', { body: { version: '1.1.0' }, expect: 200 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });

  await page.goto(`${server.url}/#/bundles`);
  const card = page.locator('article[data-app="web"]');
  await card.getByRole('button', { name: 'Edit settings' }).click();
  await card.getByLabel('Canary version').selectOption('1.1.0');
  await card.getByLabel(/^Canary share/).evaluate((range) => {
    range.value = '25';
    range.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await card.getByRole('button', { name: 'Save settings' }).click();
  // Production asks first; the comment given there is the request's.
  const confirm = page.getByRole('dialog', { name: /bundle settings in production/ });
  await confirm.getByLabel(/^Comment/).fill('canary to a quarter');
  await confirm.getByRole('button', { name: 'Save in production' }).click();
  const id = await propose(page, card, null, 'a bundle');
  // The production confirmation closed with the proposal: no dialog is left open.
  assert.equal(await page.locator('dialog[open]').count(), 0);
  assert.ok(!(await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body.canary, 'nothing applied yet');

  await card.locator('.proposed a').click();
  await page.getByRole('heading', { name: `Change request #${id}` }).waitFor();
  await page.locator('.comment', { hasText: 'canary to a quarter' }).waitFor();
  const diff = page.locator('table.diff');
  await diff.locator('tr', { hasText: 'canary.version' }).waitFor();
  // Only the edit: the published versions the server keeps are no difference.
  assert.equal(await diff.locator('tr', { hasText: 'versions' }).count(), 0);

  await approveAndApply(server, id);
  await page.locator('#request-state-text', { hasText: 'applied' }).waitFor();
  const config = (await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body;
  assert.deepEqual([config.live, config.canary.version, config.canary.weight], ['1.0.0', '1.1.0', 25000]);
});

test('an editor proposes a publish in production', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/environments/production/apps/web/publish', { body: { version: '1.0.0' }, expect: 200 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });

  await page.goto(`${server.url}/#/bundles`);
  const card = page.locator('article[data-app="web"]');
  await card.getByLabel('Version', { exact: true }).fill('2.0.0');
  await card.getByRole('button', { name: 'Publish' }).click();
  const confirm = page.getByRole('dialog', { name: /Publish web 2\.0\.0 in production/ });
  await confirm.getByLabel(/^Comment/).fill('the new lobby');
  await confirm.getByRole('button', { name: 'Publish in production' }).click();
  const id = await propose(page, card, null, 'a publish');
  assert.equal(await page.locator('dialog[open]').count(), 0);
  await approveAndApply(server, id);
  await card.locator('dl.facts code', { hasText: '2.0.0' }).first().waitFor();
  assert.equal((await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body.live, '2.0.0');
});

test('the change requests page shows the newest 500 and the older ones on request; the count says 500+', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'busy' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  for (let i = 0; i < 502; i++) {
    await server.call('POST', '/api/v1/change-requests', {
      body: { flag: 'busy', environment: 'production', config: { on: i % 2 === 0, off_variation: 0, fallthrough: { variation: 1 } }, comment: `step ${i}` },
      expect: 201,
    });
  }
  await page.goto(`${server.url}/#/requests`);
  const rows = page.locator('table[aria-label="Change requests"] tbody tr');
  await page.locator('tr', { hasText: 'step 501' }).waitFor();
  assert.equal(await rows.count(), 500);
  // The count follows the live feed as the requests arrive.
  await page.locator('nav .count', { hasText: '500+' }).waitFor();
  await page.getByRole('button', { name: 'Show older requests' }).click();
  await page.locator('tr', { hasText: 'step 0' }).waitFor();
  assert.equal(await rows.count(), 502);
  assert.equal(await page.getByRole('button', { name: 'Show older requests' }).count(), 0);
});
