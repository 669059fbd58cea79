// A stale save: the conflict shows beside Save and takes focus, the header
// says a newer version exists, and one's edits can be re-applied onto the
// latest version (rules matched by id, the other change kept).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertFocused, consoleSuite } from './support.js';

const suite = consoleSuite();

test('a conflict shows beside Save, the header names the latest version, and my edits re-apply onto it', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  assert.match(await page.locator('#flag-version').textContent(), /^version 1$/);

  // My edit: a new rule.
  await page.getByRole('button', { name: 'Add rule' }).click();
  const mine = page.locator('li.rule').first();
  await mine.getByLabel('Id').fill('kiwis');
  await mine.getByLabel('Attribute').fill('country');
  await mine.getByLabel(/^Values/).fill('NZ');

  // Meanwhile someone else adds another rule and a target.
  const read = await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 });
  await server.call('PUT', '/api/v1/flags/new-lobby/environments/production', {
    body: {
      ...read.body,
      targets: [{ variation: 1, values: ['qa-1'] }],
      rules: [{ id: 'aussies', clauses: [{ attribute: 'country', op: 'in', values: ['AU'] }], serve: { variation: 1 } }],
    },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  await page.locator('#flag-version').getByText('version 2 is the latest').waitFor({ timeout: 5000 });

  const save = page.getByRole('button', { name: 'Save production' });
  await save.click();
  const conflict = page.locator('#conflict');
  await conflict.waitFor();
  await assertFocused(conflict, 'the conflict takes focus');
  const [box, saveBox] = [await conflict.boundingBox(), await save.boundingBox()];
  assert.ok(Math.abs(saveBox.y - (box.y + box.height)) < 200, `the conflict is right above Save (${box.y + box.height} vs ${saveBox.y})`);
  assert.match(await page.locator('#flag-version').textContent(), /version 1 — version 2 is the latest/);

  await conflict.getByRole('button', { name: 'Re-apply my edits to the latest version' }).click();
  await page.locator('#reapplied').getByText('re-applied to version 2').waitFor();
  assert.match(await page.locator('#flag-version').textContent(), /^version 2$/);
  const ids = await page.locator('li.rule').evaluateAll((rules) => rules.map((r) => r.querySelector('input[id$="-id"]').value));
  assert.deepEqual(ids, ['kiwis', 'aussies']);
  assert.equal(await page.getByLabel('Keys that get true (one per line)').inputValue(), 'qa-1', 'their target is kept');

  await save.click();
  await page.getByText('Saved.').waitFor();
  const stored = (await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body;
  assert.deepEqual(stored.rules.map((r) => [r.id, r.clauses[0].values]), [['kiwis', ['NZ']], ['aussies', ['AU']]]);
  assert.deepEqual(stored.targets, [{ variation: 1, values: ['qa-1'] }]);
  assert.match(await page.locator('#flag-version').textContent(), /^version 3$/);
});
