// Explain for a person: a product owner types a context with the attribute
// names apps send, sees which rule matched and the bucket against the
// threshold, edits a rule without saving and explains the draft, then
// evaluates every flag in the playground and follows a link to an explain.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

test('a product owner explains a flag, tries an unsaved draft and uses the playground', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const read = await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 });
  await server.call('PUT', '/api/v1/flags/new-lobby/environments/production', {
    body: {
      ...read.body,
      on: true,
      rules: [
        { id: 'kiwis', description: 'Kiwis', clauses: [{ attribute: 'country', op: 'in', values: ['NZ'] }], serve: { variation: 1 } },
        {
          id: 'gold',
          description: 'Gold players',
          clauses: [{ attribute: 'tier', op: 'in', values: ['gold'] }],
          serve: { rollout: { bucket_by: 'player_id', variations: [{ variation: 1, weight: 10000 }, { variation: 0, weight: 90000 }] } },
        },
      ],
    },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  // An app evaluates with its own attributes: the form learns their names.
  const key = await server.sdkKey('production', 'server');
  const probe = { targetingKey: 'p-1', country: 'AU', tier: 'gold', player_id: 'p-1' };
  const ofrep = (await server.call('POST', '/ofrep/v1/evaluate/flags/new-lobby', { token: key, body: { context: probe }, expect: 200 })).body;
  const bucket = (ofrep.metadata.bucket / 1000).toFixed(3);
  const expected = ofrep.metadata.bucket < 10000 ? `bucket ${bucket} < 10.000 → true` : `bucket ${bucket} ≥ 10.000 → false`;

  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  const form = page.locator('form.explain');
  // The context typed as fields: start from a key alone, then quick-add what apps send.
  await page.getByLabel('Context (JSON) in production').fill('{"key": ""}');
  await page.getByLabel('Context key').fill('p-1');
  await form.getByRole('button', { name: 'Add attribute player_id' }).click();
  await page.getByLabel('player_id', { exact: true }).fill('p-1');
  await form.getByRole('button', { name: 'Add attribute country' }).click();
  await page.getByLabel('country', { exact: true }).fill('AU');
  await form.getByRole('button', { name: 'Add attribute tier' }).click();
  await page.getByLabel('tier', { exact: true }).fill('gold');
  assert.deepEqual(JSON.parse(await page.getByLabel('Context (JSON) in production').inputValue()), { key: 'p-1', player_id: 'p-1', country: 'AU', tier: 'gold' });
  await form.getByRole('button', { name: 'Explain', exact: true }).click();

  const result = page.locator('#explain-result');
  await result.getByText('RULE_MATCH').waitFor();
  assert.match(await result.textContent(), /rule “gold”, the 2nd rule/);
  const trace = page.locator('#explain-trace');
  const steps = (await trace.locator(':scope > li').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  assert.match(steps[0], /p-1 is not one of them/);
  assert.match(steps[1], /^Rule 1 Kiwis: no match country is AU, in \[NZ\] → no match$/);
  assert.match(steps[2], /^Rule 2 Gold players: matches tier is gold, in \[gold\] → match$/);
  assert.ok(steps[3].includes(expected), `${steps[3]} has “${expected}”`);
  assert.match(steps[3], /by player_id \(salt new-lobby\)/);

  // Without player_id the bucket_by attribute is missing.
  await page.getByRole('button', { name: 'Remove player_id' }).click();
  await form.getByRole('button', { name: 'Explain', exact: true }).click();
  await trace.getByText('player_id is missing, so bucket 0 is used').waitFor();
  await form.getByRole('button', { name: 'Add attribute player_id' }).click();
  await page.getByLabel('player_id', { exact: true }).fill('p-1');

  // Edit rule 1 without saving: Australians too. The draft box comes alive.
  const draftBox = page.getByLabel('Try my unsaved draft');
  assert.equal(await draftBox.isDisabled(), true);
  await page.locator('#rule0-c0-values').fill('NZ\nAU');
  await page.getByText('Unsaved changes').waitFor();
  await draftBox.check();
  await form.getByRole('button', { name: 'Explain', exact: true }).click();
  await result.getByText('unsaved draft').waitFor();
  assert.match(await result.textContent(), /true.*rule “kiwis”, the 1st rule/s);
  await trace.getByText('country is AU, in [NZ, AU] → match').waitFor();
  // Nothing was saved.
  const stored = (await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body;
  assert.deepEqual(stored.rules[0].clauses[0].values, ['NZ']);
  // Back to the live rules: the same context gets the rollout again.
  await draftBox.uncheck();
  await form.getByRole('button', { name: 'Explain', exact: true }).click();
  await result.getByText(/rule “gold”/).waitFor();
  await page.getByRole('button', { name: 'Discard' }).click();

  // The playground: every flag for one context, in every environment.
  await server.call('POST', '/api/v1/flags', { body: { key: 'chat' }, expect: 201 });
  await page.getByRole('link', { name: 'Playground' }).click();
  await page.getByRole('heading', { name: 'Playground' }).waitFor();
  await page.getByLabel('Context (JSON)', { exact: true }).fill(JSON.stringify({ key: 'p-1', country: 'NZ' }));
  await page.getByRole('button', { name: 'Evaluate every flag' }).click();
  const row = page.locator('#playground-result tr[data-flag="new-lobby"]');
  await row.waitFor();
  const headers = await page.locator('#playground-result thead th').allTextContents();
  assert.deepEqual(headers, ['Flag', 'Production', 'Staging']);
  assert.match(await row.locator('td[data-env="production"]').textContent(), /true.*RULE_MATCH — rule “kiwis”/s);
  assert.match(await row.locator('td[data-env="staging"]').textContent(), /false.*OFF/s);
  assert.match(await page.locator('#playground-result tr[data-flag="chat"] td[data-env="production"]').textContent(), /false.*OFF/s);
  // Each answer links to that flag's explain with the same context.
  await row.getByRole('link', { name: 'Explain new-lobby in Production' }).click();
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.locator('#explain-trace').getByText('country is NZ, in [NZ] → match').waitFor();
});
