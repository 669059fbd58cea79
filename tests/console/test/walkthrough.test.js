// The product owner's path through the console, end to end: target one
// game, roll the feature out to 10% of its players, release it to 100% in
// stages with a plan that starts from that 10%, then roll back, and the
// same 10% of players (no other) have it again.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

async function stagingConfig(server) {
  return (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
}

/** The players of `keys` that get true in staging (server-side OFREP). */
async function playersWithIt(server, sdkKey, keys, game = 'omaha') {
  const got = [];
  for (const key of keys) {
    const res = await fetch(`${server.url}/ofrep/v1/evaluate/flags/new-lobby`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: key, game } }),
    });
    if ((await res.json()).value === true) got.push(key);
  }
  return got;
}

test('target one game, 10% of its players, a plan from 10% to 100%, roll back: the same players keep it', async () => {
  const { server, page } = await suite.setup('editor');
  await page.getByLabel('Environment').selectOption('staging');

  // A new flag, for the game "omaha" only.
  await page.getByRole('button', { name: 'New flag' }).click();
  await page.getByLabel('Key').fill('new-lobby');
  await page.getByLabel('Name').fill('New lobby');
  await page.getByRole('button', { name: 'Create flag' }).click();
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  await page.getByRole('button', { name: 'Add rule' }).click();
  const rule = page.locator('li.rule').first();
  await rule.getByLabel('Id').fill('other-games');
  await rule.getByLabel('Attribute').fill('game');
  await rule.getByLabel('Operator').selectOption('in');
  await rule.getByLabel(/^Values/).fill('omaha');
  await rule.getByLabel('Not').check();
  await rule.getByLabel('Variation', { exact: true }).selectOption('0');

  // Everyone else (the omaha players): 10% get it.
  const everyone = page.locator('fieldset', { has: page.getByText('Everyone else (no rule matched)') }).last();
  await everyone.getByLabel('A percentage rollout').check();
  await everyone.getByLabel('% for true').fill('10');
  await page.getByRole('button', { name: 'Save staging' }).click();
  await page.getByText('Saved.').waitFor();
  await page.getByRole('switch', { name: /new-lobby in staging/ }).click();
  await page.getByRole('switch', { name: /new-lobby in staging/ }).and(page.locator(':checked')).waitFor();

  const start = await stagingConfig(server);
  assert.equal(start.on, true);
  assert.deepEqual(start.rules[0].clauses[0], { attribute: 'game', op: 'in', values: ['omaha'], negate: true, case_insensitive: false });
  assert.deepEqual(start.fallthrough.rollout.variations, [{ variation: 0, weight: 90000 }, { variation: 1, weight: 10000 }]);

  const sdkKey = await server.sdkKey('staging', 'server');
  const players = Array.from({ length: 300 }, (_, i) => `player-${i}`);
  const cohort = await playersWithIt(server, sdkKey, players);
  assert.ok(cohort.length > 10 && cohort.length < 55, `${cohort.length} of 300 players, expected about 10%`);
  assert.deepEqual(await playersWithIt(server, sdkKey, players.slice(0, 50), 'holdem'), [], 'other games do not get it');

  // A plan from the 10% the flag already serves to 100%.
  await page.getByRole('link', { name: 'Releases' }).click();
  await page.getByRole('button', { name: 'New plan' }).click();
  await page.getByLabel('Flag').selectOption('new-lobby');
  await page.getByLabel('Release variation').selectOption('1');
  assert.match(await page.locator('#plan-start').textContent(), /10% get true\. The plan starts from there/);
  await page.getByLabel(/^Stages/).fill('10, 50, 100');
  await page.getByLabel(/^Minutes per stage/).fill('');
  await page.getByRole('button', { name: 'Create plan' }).click();
  const plan = page.locator('article.plan').first();
  await plan.getByText('Pending').waitFor();
  await plan.getByRole('button', { name: 'Start' }).click();
  await plan.getByText('Running — stage 1 of 3').waitFor();
  await plan.getByRole('button', { name: 'Next stage' }).click();
  await plan.getByText('Running — stage 2 of 3').waitFor();
  // At 50% everyone of the 10% still has it: raising a share keeps them.
  const half = await playersWithIt(server, sdkKey, players);
  assert.deepEqual(cohort.filter((p) => !half.includes(p)), [], 'nobody of the first 10% lost it at 50%');
  await plan.getByRole('button', { name: 'Next stage' }).click();
  await plan.getByText('Running — stage 3 of 3').waitFor();
  assert.equal((await playersWithIt(server, sdkKey, players)).length, players.length, 'at 100% every omaha player has it');

  // Roll back: the flag serves what it did before the plan, to the same players.
  await plan.getByRole('button', { name: 'Roll back' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
  await plan.getByText(/Rolled back/).waitFor();
  const after = await stagingConfig(server);
  assert.deepEqual(after.fallthrough, start.fallthrough, 'the 10% rollout as it was: same weights, bucketing and salt');
  assert.deepEqual(after.rules, start.rules, 'the game rule untouched');
  assert.deepEqual(await playersWithIt(server, sdkKey, players), cohort, 'the same players have it again');
});
