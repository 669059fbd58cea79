// The audit log: rules compared by id and told in words.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

/** Replaces the rules of `flag` in `env` through the API. */
async function setRules(server, flag, env, rules) {
  const read = await server.call('GET', `/api/v1/flags/${flag}/environments/${env}`, { expect: 200 });
  await server.call('PUT', `/api/v1/flags/${flag}/environments/${env}`, {
    body: { ...read.body, rules }, headers: { 'If-Match': read.headers.get('etag') }, expect: 200,
  });
}

test('the audit diff matches rules by id and says what changed in words', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'vip' }, expect: 201 });
  const omaha = {
    id: 'omaha', clauses: [{ attribute: 'game', op: 'in', values: ['omaha'], case_insensitive: true }],
    serve: { rollout: { variations: [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }], bucket_by: 'table_id' } },
  };
  const old = { id: 'old', clauses: [{ attribute: 'country', op: 'in', values: ['NZ'] }], serve: { variation: 1 } };
  await setRules(server, 'new-lobby', 'production', [omaha, old]);
  // A rule goes first, one goes, one changes what it serves: by position every rule would differ.
  const vips = { id: 'vips', description: 'VIPs first', clauses: [{ attribute: '', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } };
  await setRules(server, 'new-lobby', 'production', [vips, { ...omaha, serve: { variation: 0 } }]);

  await page.getByRole('link', { name: 'Audit log' }).click();
  const entry = page.locator('li.entry:has([data-action="flag.config"])').first();
  await entry.getByRole('button', { name: 'Show changes' }).click();
  const words = await entry.locator('ul.rule-changes').textContent();
  assert.match(words, /in production: added rule “VIPs first”: in segment vip → true/);
  assert.match(words, /in production: removed rule “old”: country is one of NZ → true/);
  assert.match(words, /in production: changed rule “omaha”: game is one of omaha \(ignoring case\) → 75% false, 25% true by table_id, now game is one of omaha \(ignoring case\) → false/);
  const fields = await entry.locator('table.diff tbody th').allTextContents();
  assert.ok(fields.includes('environments.production.rules["vips"].description'), fields.join('\n'));
  assert.ok(fields.every((f) => !/rules\[\d\]/.test(f)), `no rule compared by position:\n${fields.join('\n')}`);
  assert.ok(!fields.some((f) => f.startsWith('environments.production.rules["omaha"].clauses')), 'the unchanged clauses of omaha show no change');
});

test('the audit log says actions in words, shows times with their zone, and filters by release', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const plan = (await server.call('POST', '/api/v1/flags/new-lobby/environments/staging/releases', {
    body: { variation: 1, stages: [{ weight: 1000 }, { weight: 100000 }] }, expect: 201,
  })).body;
  await server.call('POST', `/api/v1/releases/${plan.id}/start`, { expect: 200 });
  await server.call('POST', `/api/v1/releases/${plan.id}/skip`, { expect: 200 });

  await page.getByRole('link', { name: 'Audit log' }).click();
  // A plan's move is one entry (not the flag's and the plan's), and it shows what the flag got.
  const skip = page.locator('li.entry', { hasText: 'moved the release plan to its next stage' });
  await skip.first().waitFor();
  assert.equal(await skip.count(), 1);
  // In words, at once: what the flag serves now; no raw action names.
  const said = await skip.textContent();
  assert.match(said, /in staging: everyone else gets 100% true \(was 1% true, 99% false\)/);
  assert.doesNotMatch(said, /release\.skip|flag\.release/);
  const log = (await server.call('GET', '/api/v1/audit?resource_key=new-lobby&limit=100', { expect: 200 })).body.entries;
  assert.deepEqual(log.map((e) => e.action).reverse(), ['flag.create', 'release.create', 'release.start', 'release.skip'], 'one audit entry per move');
  await skip.getByRole('button', { name: 'Show changes' }).click();
  assert.match(await skip.locator('table.diff').textContent(), /environments\.staging\.fallthrough\.rollout\.variations\[0\]\.weight.*1000.*100000/);
  await page.getByLabel('Kind').selectOption('release');
  // The newest entry is a release entry before and after filtering, so the
  // signal that the filter applied is the flag's own entry leaving the list.
  await page.locator('li.entry', { hasText: 'created the flag' }).first().waitFor({ state: 'detached' });
  const top = page.locator('li.entry').first();
  await top.getByText('moved the release plan to its next stage').waitFor();
  assert.equal(await page.locator('li.entry', { hasText: 'created the flag' }).count(), 0, 'only release entries');
  const time = await top.locator('time').textContent();
  assert.match(time, /(UTC|GMT|[A-Z]{2,5}[+-]?\d*)$/, `the time says its zone: ${time}`);
});

test('the audit "who" filter finds part of a name, any case, and a date range narrows the log', async () => {
  const { server, page } = await suite.setup();
  const editor = await server.token('editor');
  await server.call('POST', '/api/v1/flags', { token: editor, body: { key: 'by-editor' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'by-admin' }, expect: 201 });
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.locator('li.entry', { hasText: 'by-admin' }).waitFor();
  await page.getByLabel('Who (part of the name)').fill('EDITOR');
  await page.getByLabel('Who (part of the name)').press('Enter');
  await page.getByLabel('Who (part of the name)').blur();
  await page.locator('li.entry', { hasText: 'by-admin' }).waitFor({ state: 'detached' });
  assert.deepEqual(await page.locator('li.entry .actor').allTextContents(), ['token:editor person']);

  // A day range: yesterday finds nothing, today finds the entry.
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toLocaleDateString('en-CA');
  await page.getByLabel('From (day)').fill(day(-1));
  await page.getByLabel('To (day, included)').fill(day(-1));
  await page.getByText('No entries.').waitFor();
  await page.getByLabel('To (day, included)').fill(day(0));
  await page.locator('li.entry', { hasText: 'by-editor' }).waitFor();
  const api = (await server.call('GET', `/api/v1/audit?actor=editor&from=${Date.now() + 60_000}`, { expect: 200 })).body.entries;
  assert.deepEqual(api, []);
});
