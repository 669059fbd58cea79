// Percentage rollouts in the editor and release plans that start from one:
// switching what a rule serves keeps the chosen variation, a rollout starts
// from it at 100%, shares stay within 0–100%, and a plan continues an
// existing rollout from its share with the same cohort.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

const config = async (server, flag, env) => (await server.call('GET', `/api/v1/flags/${flag}/environments/${env}`, { expect: 200 })).body;

/** Sets the fallthrough of `flag` in `env` to `serve` through the API. */
async function setFallthrough(server, flag, env, serve) {
  const read = await server.call('GET', `/api/v1/flags/${flag}/environments/${env}`, { expect: 200 });
  await server.call('PUT', `/api/v1/flags/${flag}/environments/${env}`, {
    body: { ...read.body, fallthrough: serve },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
}

test('switching a rule between a variation and a rollout keeps the variation; a rollout starts from it at 100%; shares stay within 0–100%', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'colour', name: 'Colour', variations: ['red', 'green', 'blue'] }, expect: 201 });
  await page.goto(`${server.url}/#/flags/colour`);
  await page.getByRole('button', { name: 'Add rule' }).click();
  const rule = page.locator('li.rule').first();
  await rule.getByLabel('Variation', { exact: true }).selectOption('2');

  await rule.getByLabel('A percentage rollout').check();
  assert.equal(await rule.getByLabel('% for "blue"').inputValue(), '100');
  assert.equal(await rule.getByLabel('% for "red"').inputValue(), '0');
  await rule.getByLabel('A variation').check();
  assert.equal(await rule.getByLabel('Variation', { exact: true }).inputValue(), '2', 'blue is still chosen');

  // A boolean flag: the slider's label and the two shares stay within 0–100%.
  await server.call('POST', '/api/v1/flags', { body: { key: 'lobby', name: 'Lobby' }, expect: 201 });
  await page.goto(`${server.url}/#/flags/lobby`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.getByRole('button', { name: 'Add rule' }).click();
  const second = page.locator('li.rule').first();
  await second.getByLabel(/^Values/).fill('qa-1');
  assert.equal(await second.getByLabel('Variation', { exact: true }).inputValue(), '1');
  await second.getByLabel('A percentage rollout').check();
  assert.equal(await second.getByLabel('% for true').inputValue(), '100', 'the rollout starts where the rule was: all true');
  await second.getByLabel('% for true').fill('150');
  assert.equal(await second.getByLabel('% for true').inputValue(), '100');
  assert.equal(await second.getByLabel('% for false').inputValue(), '0');
  assert.match(await second.locator('label', { hasText: 'Share getting' }).textContent(), /100%/);
  await second.getByLabel('% for false').fill('-50');
  assert.equal(await second.getByLabel('% for true').inputValue(), '100');
  await second.getByLabel('% for true').fill('30');
  assert.equal(await second.getByLabel('% for false').inputValue(), '70');
  await second.getByLabel('A variation').check();
  assert.equal(await second.getByLabel('Variation', { exact: true }).inputValue(), '1', 'true, as chosen before');
  await page.getByRole('button', { name: 'Save production' }).click();
  await page.getByText('Saved.').waitFor();
  assert.deepEqual((await config(server, 'lobby', 'production')).rules[0].serve, { variation: 1 });
  assert.equal(await page.locator('.config .error').count(), 0);
});

test('a release plan starts from the rollout the fallthrough already has: same share, order and bucketing', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await setFallthrough(server, 'new-lobby', 'staging', {
    rollout: { variations: [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }], bucket_by: 'table_id' },
  });
  await page.getByLabel('Environment').selectOption('staging');
  await page.getByRole('link', { name: 'Releases' }).click();
  await page.getByRole('button', { name: 'New plan' }).click();
  await page.getByLabel('Flag').selectOption('new-lobby');
  await page.getByLabel('Release variation').selectOption('1');
  assert.match(await page.locator('#plan-start').textContent(), /25% get true\. The plan starts from there/);

  // Out of range: said in percent, before anything is sent.
  await page.getByLabel(/^Stages/).fill('25, 150');
  await page.getByRole('button', { name: 'Create plan' }).click();
  await page.getByText(/Stage 2 \(“150”\) is not a percentage from 0 to 100/).waitFor();
  assert.equal(await page.getByText('100000').count(), 0, 'no internal units');

  // Below the current share: refused by the server, in percent, naming the stage.
  await page.getByLabel(/^Stages/).fill('10, 50');
  await page.getByRole('button', { name: 'Create plan' }).click();
  await page.getByText(/already gets the released variation at 25%/).waitFor();
  assert.match(await page.locator('form .error[role="alert"]').textContent(), /stages\[0\]\.weight/);

  await page.getByLabel(/^Stages/).fill('25, 50, 100');
  await page.getByLabel(/^Minutes per stage/).fill('');
  await page.getByRole('button', { name: 'Create plan' }).click();
  const plan = page.locator('article.plan').first();
  await plan.getByText('Pending').waitFor();
  assert.match(await plan.textContent(), /false → true\s*, by table_id/);

  await plan.getByRole('button', { name: 'Start' }).click();
  await plan.getByText('Running — stage 1 of 3').waitFor();
  let stored = await config(server, 'new-lobby', 'staging');
  assert.deepEqual(stored.fallthrough.rollout.variations, [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }]);
  assert.equal(stored.fallthrough.rollout.bucket_by, 'table_id');
  await plan.getByRole('button', { name: 'Next stage' }).click();
  await plan.getByText('Running — stage 2 of 3').waitFor();
  stored = await config(server, 'new-lobby', 'staging');
  assert.deepEqual(stored.fallthrough.rollout.variations, [{ variation: 0, weight: 50000 }, { variation: 1, weight: 50000 }]);
});

test('the flag page shows a running plan with its stage and controls, and locks the fallthrough it owns', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const plan = (await server.call('POST', '/api/v1/flags/new-lobby/environments/staging/releases', {
    body: { variation: 1, stages: [{ weight: 1000 }, { weight: 5000 }, { weight: 100000 }] }, expect: 201,
  })).body;
  await page.getByLabel('Environment').selectOption('staging');
  await page.goto(`${server.url}/#/flags/new-lobby`);
  const banner = page.locator(`section.plan-banner[data-plan="${plan.id}"]`);
  await banner.getByText('Pending').waitFor();
  // Pending: nothing is owned yet.
  assert.equal(await page.locator('#fallthrough-fixed').isDisabled(), false);

  await banner.getByRole('button', { name: 'Start' }).click();
  await banner.getByRole('heading', { name: `Release plan ${plan.id} in staging: Running — stage 1 of 3 (1%)` }).waitFor();
  assert.equal(await banner.getByRole('link', { name: 'All release plans in staging' }).getAttribute('href'), '#/releases');
  await page.locator('#fallthrough-owner').getByText(`Set by release plan ${plan.id}`).waitFor();
  assert.equal(await page.locator('#fallthrough-fixed').isDisabled(), true);
  assert.equal(await page.getByLabel('% for true').first().isDisabled(), true);

  // A move made elsewhere shows here too.
  await server.call('POST', `/api/v1/releases/${plan.id}/pause`, { expect: 200 });
  await banner.getByText(/Paused — stage 1 of 3/).waitFor({ timeout: 5000 });
  await banner.getByRole('button', { name: 'Next stage' }).click();
  await banner.getByText(/stage 2 of 3 \(5%\)/).waitFor();

  await banner.getByRole('button', { name: 'Roll back' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Roll back' }).click();
  await banner.waitFor({ state: 'detached' });
  await page.locator('#fallthrough-owner').waitFor({ state: 'detached' });
  assert.equal(await page.locator('#fallthrough-fixed').isDisabled(), false);
  assert.deepEqual((await config(server, 'new-lobby', 'staging')).fallthrough, { variation: 0 });
});

test('where approvals are required, starting a plan is proposed as a change request', async () => {
  const { server, page } = await suite.setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const plan = (await server.call('POST', '/api/v1/flags/new-lobby/environments/staging/releases', {
    body: { variation: 1, stages: [{ weight: 1000 }, { weight: 100000 }] }, expect: 201,
  })).body;
  await server.call('PUT', '/api/v1/environments/staging/approvals', { body: { required: 1 }, expect: 200 });
  await page.getByLabel('Environment').selectOption('staging');
  await page.goto(`${server.url}/#/flags/new-lobby`);
  const banner = page.locator(`section.plan-banner[data-plan="${plan.id}"]`);
  await banner.getByRole('button', { name: 'Start' }).click();
  const dialog = page.getByRole('dialog', { name: 'Propose a change request' });
  await dialog.getByLabel(/Comment/).fill('launch after review');
  await dialog.getByRole('button', { name: 'Propose' }).click();
  const link = banner.getByRole('link', { name: /change request #\d+/ });
  await link.waitFor();
  const id = (await link.getAttribute('href')).split('/').pop();
  const request = (await server.call('GET', `/api/v1/change-requests/${id}`, { expect: 200 })).body;
  assert.equal(request.subject, 'release');
  assert.equal(request.key, String(plan.id));
  assert.deepEqual(request.config, { command: 'start' });
  assert.equal(request.comment, 'launch after review');
  assert.equal((await server.call('GET', `/api/v1/releases/${plan.id}`, { expect: 200 })).body.state, 'pending');
});

test('the rollouts page shows the newest 500 plans and the older ones on request', async () => {
  const { server, page } = await suite.setup('editor');
  const spec = { variation: 1, stages: [{ weight: 1000, hold_seconds: 3600 }, { weight: 100000, hold_seconds: 3600 }] };
  for (let i = 0; i < 501; i++) {
    await server.call('POST', '/api/v1/flags', { body: { key: `f${i}` }, expect: 201 });
    await server.call('POST', `/api/v1/flags/f${i}/environments/production/releases`, { body: spec, expect: 201 });
  }
  await page.goto(`${server.url}/#/releases`);
  const plans = page.locator('article.plan');
  await page.locator('article.plan h2', { hasText: /^f500$/ }).waitFor();
  assert.equal(await plans.count(), 500);
  await page.getByRole('button', { name: 'Show older plans' }).click();
  await page.locator('article.plan h2', { hasText: /^f0$/ }).waitFor();
  assert.equal(await plans.count(), 501);
  assert.equal(await page.getByRole('button', { name: 'Show older plans' }).count(), 0);
});
