// The web console in a real Chromium against a real server: an editor
// builds a flag (rule "game in omaha", a 25% rollout by table_id), turns it
// on in staging and OFREP agrees; the production kill switch asks for a
// comment that lands in the audit log; a viewer can change nothing; a change
// made with the CLI shows up live, and a stale save shows the conflict and
// offers the latest version; segments take 100,000 keys; bundles show what
// is live and who is connected.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';

import { Daylight, assertFocused, checkPrerequisites, launchBrowser, openConsole } from './support.js';

let browser;
const cleanups = [];

before(async () => {
  checkPrerequisites();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

async function setup(role = 'admin') {
  const server = await Daylight.start();
  cleanups.push(() => server.stop());
  const token = role === 'admin' ? server.adminToken : await server.token(role);
  const opened = await openConsole(browser, server, token);
  cleanups.push(() => opened.context.close());
  cleanups.push(() => assert.deepEqual(opened.errors.map(String), [], 'no errors in the page'));
  return { server, ...opened };
}

const ofrep = (server, key, flag, context) =>
  server.call('POST', `/ofrep/v1/evaluate/flags/${flag}`, { token: key, body: { context }, expect: 200 });

test('an editor creates a flag with a rule and a 25% rollout by table_id, turns it on in staging, and OFREP and the audit log agree', async () => {
  const { server, page } = await setup('editor');
  await page.getByLabel('Environment').selectOption('staging');

  await page.getByRole('button', { name: 'New flag' }).click();
  await page.getByLabel('Key').fill('new-lobby');
  await page.getByLabel('Name').fill('New lobby');
  await page.getByLabel('Tags (comma-separated)').fill('lobby, q3');
  await page.getByRole('button', { name: 'Create flag' }).click();
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();

  await page.getByRole('button', { name: 'Add rule' }).click();
  const rule = page.locator('li.rule').first();
  await rule.getByLabel('Id').fill('omaha');
  await rule.getByLabel('Attribute').fill('game');
  await rule.getByLabel('Operator').selectOption('in');
  await rule.getByLabel(/^Values/).fill('omaha');
  await rule.getByLabel('Ignore case').check();
  await rule.getByLabel('A percentage rollout').check();
  await rule.getByLabel('% for true').fill('25');
  assert.equal(await rule.getByLabel('% for false').inputValue(), '75');
  assert.equal(await rule.getByRole('slider').inputValue(), '25');
  await rule.getByLabel('Bucket by (attribute)').fill('table_id');
  await page.getByLabel('Comment for the audit log (optional)').fill('omaha tables first');
  await page.getByRole('button', { name: 'Save staging' }).click();
  await page.getByText('Saved.').waitFor();

  const stored = (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
  assert.deepEqual(stored.rules[0].clauses[0], { attribute: 'game', op: 'in', values: ['omaha'], negate: false, case_insensitive: true });
  assert.deepEqual(stored.rules[0].serve.rollout.variations, [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }]);
  assert.equal(stored.rules[0].serve.rollout.bucket_by, 'table_id');
  assert.equal(stored.on, false);

  const key = await server.sdkKey('staging', 'server');
  assert.equal((await ofrep(server, key, 'new-lobby', { targetingKey: 'p-1', game: 'omaha', table_id: 7 })).body.reason, 'DISABLED');

  await page.getByRole('switch', { name: /new-lobby in staging/ }).click();
  await page.getByRole('switch', { name: /new-lobby in staging/ }).and(page.locator(':checked')).waitFor();
  assert.equal((await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body.on, true);
  assert.equal((await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body.on, false);

  // OFREP: omaha tables split about 25/75 by table, every player at one table alike; other games get the default.
  let on = 0;
  const tables = 400;
  for (let t = 1; t <= tables; t += 1) {
    const a = (await ofrep(server, key, 'new-lobby', { targetingKey: `p-${t}-a`, game: 'Omaha', table_id: t })).body;
    const b = (await ofrep(server, key, 'new-lobby', { targetingKey: `p-${t}-b`, game: 'omaha', table_id: t })).body;
    assert.equal(a.value, b.value, `both players at table ${t} see the same`);
    assert.equal(a.reason, 'SPLIT');
    if (a.value === true) on += 1;
  }
  assert.ok(on > tables * 0.18 && on < tables * 0.32, `${on} of ${tables} tables on, expected about 25%`);
  const other = (await ofrep(server, key, 'new-lobby', { targetingKey: 'p-x', game: 'holdem', table_id: 1 })).body;
  assert.deepEqual([other.value, other.reason], [false, 'DEFAULT']);

  // The explain box says the same as OFREP for one context.
  const probe = { targetingKey: 'p-1-a', game: 'omaha', table_id: 1 };
  const expected = (await ofrep(server, key, 'new-lobby', probe)).body.value;
  await page.getByLabel('Context (JSON) in staging').fill(JSON.stringify({ key: 'p-1-a', game: 'omaha', table_id: 1 }));
  await page.getByRole('button', { name: 'Explain' }).click();
  const explained = page.locator('#explain-result');
  await explained.getByText('RULE_MATCH').waitFor();
  assert.match(await explained.textContent(), new RegExp(`${expected}.*rule “omaha”, the 1st rule.*in a rollout`));

  // The audit log: who, what, when, with the comment and a readable diff.
  await page.getByRole('link', { name: 'Audit log' }).click();
  const top = page.locator('li.entry').first();
  await top.locator('[data-action="flag.on"]').waitFor();
  assert.match(await top.textContent(), /editor person.*turned it on.*new-lobby.*staging/);
  const config = page.locator('li.entry:has([data-action="flag.config"])');
  assert.match(await config.textContent(), /omaha tables first/);
  await config.getByRole('button', { name: 'Show changes' }).click();
  const diff = await config.locator('table.diff').textContent();
  assert.match(diff, /environments\.staging\.rules\["omaha"\]\.serve\.rollout\.bucket_by.*table_id/);
  assert.match(diff, /environments\.staging\.rules\["omaha"\]\.clauses\[0\]\.attribute.*game/);
});

test('the production switch asks for confirmation and a comment, which goes to the audit log', async () => {
  const { server, page } = await setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout-v2', name: 'Checkout v2' }, expect: 201 });
  const row = page.locator('tr[data-flag="checkout-v2"]');
  await row.waitFor();

  // Staging switches at once.
  await row.getByRole('switch', { name: /checkout-v2 in staging/ }).click();
  await row.getByRole('switch', { name: /checkout-v2 in staging/ }).and(page.locator(':checked')).waitFor();

  // Production: a dialog; cancelling changes nothing.
  const production = row.getByRole('switch', { name: /checkout-v2 in production/ });
  await production.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const confirm = dialog.getByRole('button', { name: 'Turn on in production' });
  assert.equal(await confirm.isDisabled(), true, 'no confirmation without a comment');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await production.isChecked(), false);
  assert.equal((await server.call('GET', '/api/v1/flags/checkout-v2/environments/production', { expect: 200 })).body.on, false);

  // Keyboard only: focus the switch, Space, type the comment, Enter.
  await production.focus();
  await page.keyboard.press('Space');
  await dialog.waitFor();
  await page.keyboard.type('Kill-switch drill — été');
  await dialog.getByRole('button', { name: 'Turn on in production' }).click();
  await dialog.waitFor({ state: 'detached' });
  await row.getByRole('switch', { name: /checkout-v2 in production/ }).and(page.locator(':checked')).waitFor();

  const audit = (await server.call('GET', '/api/v1/audit?resource_key=checkout-v2&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(audit.action, 'flag.on');
  assert.equal(audit.environment, 'production');
  assert.equal(audit.comment, 'Kill-switch drill — été');
  assert.equal(audit.before.environments.production.on, false);
  assert.equal(audit.after.environments.production.on, true);
});

test('a viewer sees everything, can change nothing, and is told so', async () => {
  const { server, page } = await setup('viewer');
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'vip' }, expect: 201 });
  await page.reload();
  await page.locator('#read-only-banner').waitFor();
  assert.match(await page.locator('#read-only-banner').textContent(), /viewer/);

  const row = page.locator('tr[data-flag="new-lobby"]');
  await row.waitFor();
  assert.equal(await page.getByRole('button', { name: 'New flag' }).isDisabled(), true);
  for (const env of ['production', 'staging']) {
    assert.equal(await row.getByRole('switch', { name: new RegExp(`in ${env}`) }).isDisabled(), true);
  }

  await row.getByRole('link', { name: 'New lobby' }).click();
  await page.getByRole('heading', { name: /Targeting in/ }).waitFor();
  for (const name of ['Add rule', 'Edit details', 'Archive']) {
    assert.equal(await page.getByRole('button', { name }).isDisabled(), true, `${name} is disabled`);
  }
  assert.equal(await page.getByLabel('When off, serve').isDisabled(), true);
  assert.equal(await page.getByLabel('Keys that get true (one per line)').isDisabled(), true);
  // Explaining is reading: allowed.
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('#explain-result').getByText('OFF').waitFor();

  await page.getByRole('link', { name: 'Segments' }).click();
  await page.locator('tr[data-segment="vip"]').waitFor();
  assert.equal(await page.getByRole('button', { name: 'New segment' }).isDisabled(), true);

  // And the server refuses even a hand-made request with this token.
  const status = await page.evaluate(async () => {
    const res = await fetch('/api/v1/flags/new-lobby/environments/production/toggle', {
      method: 'POST',
      headers: { Authorization: `Bearer ${sessionStorage.getItem('daylight.token')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ on: true }),
    });
    return res.status;
  });
  assert.equal(status, 403);
  assert.equal((await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 })).body.on, false);
});

test('changes made with the CLI appear without a reload; a stale save shows the conflict and offers the latest version', async () => {
  const { server, page } = await setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  const cliToken = await server.token('editor');
  const cli = (...args) => server.cli('--token', cliToken, ...args);

  await page.getByLabel('Environment').selectOption('staging');
  await page.locator('tr[data-flag="new-lobby"]').getByRole('link', { name: 'New lobby' }).click();
  await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();

  // Live: a toggle from the CLI shows on the open page.
  await cli('flags', 'toggle', 'new-lobby', 'on', '--env', 'production', '--comment', 'from a deploy script');
  await page.getByRole('switch', { name: /new-lobby in production/ }).and(page.locator(':checked')).waitFor({ timeout: 5000 });

  // An unsaved edit here, then the CLI changes the same flag.
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.locator('li.rule').first().getByLabel('Attribute').fill('country');
  await page.locator('li.rule').first().getByLabel(/^Values/).fill('NZ');
  await cli('flags', 'set-rule', 'new-lobby', '--env', 'staging', '--id', 'australia', '--attribute', 'country', '--values', 'AU');
  await page.getByText('changed this flag (changed the targeting) while you were editing').waitFor({ timeout: 5000 });
  // The edit is still on screen.
  assert.equal(await page.locator('li.rule').first().getByLabel(/^Values/).inputValue(), 'NZ');

  await page.getByRole('button', { name: 'Save staging' }).click();
  const conflict = page.locator('#conflict');
  await conflict.waitFor();
  assert.match(await conflict.textContent(), /Not saved: this flag changed since you opened it/);
  assert.match(await conflict.textContent(), /editor person/);
  // Nothing of the stale edit was written.
  const stored = (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
  assert.deepEqual(stored.rules.map((r) => r.id), ['australia']);

  await conflict.getByRole('button', { name: 'Reload latest (discard my edits)' }).click();
  await conflict.waitFor({ state: 'detached' });
  const rules = page.locator('li.rule');
  assert.equal(await rules.count(), 1);
  assert.equal(await rules.first().getByLabel('Id').inputValue(), 'australia');
  assert.equal(await rules.first().getByLabel(/^Values/).inputValue(), 'AU');

  // Now a save on the latest version goes through.
  await rules.first().getByLabel(/^Values/).fill('AU\nNZ');
  await page.getByRole('button', { name: 'Save staging' }).click();
  await page.getByText('Saved.').waitFor();
  const saved = (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
  assert.deepEqual(saved.rules[0].clauses[0].values, ['AU', 'NZ']);

  // The flag list and the audit log follow too.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flags' }).click();
  await page.locator('tr[data-flag="new-lobby"]').waitFor();
  await cli('flags', 'create', 'made-by-cli', '--name', 'Made by the CLI');
  await page.locator('tr[data-flag="made-by-cli"]').waitFor({ timeout: 5000 });
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.locator('li.entry').first().locator('[data-action="flag.create"]').waitFor();
  await cli('flags', 'toggle', 'made-by-cli', 'on', '--env', 'staging', '--comment', 'seen live');
  const top = page.locator('li.entry').first();
  await top.getByText('seen live').waitFor({ timeout: 5000 });
  assert.match(await top.textContent(), /editor person.*turned it on.*made-by-cli/);
});

test('a server-side validation error names the field and points at the input', async () => {
  const { server, page } = await setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby' }, expect: 201 });
  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('button', { name: 'Add rule' }).click();
  const rule = page.locator('li.rule').first();
  await rule.getByLabel('Attribute').fill('appVersion');
  await rule.getByLabel('Operator').selectOption('semver_gt');
  await rule.getByLabel(/^Values/).fill('v1.2');
  await page.getByRole('button', { name: 'Save production' }).click();
  const alert = page.locator('.config .error[role="alert"]');
  await alert.waitFor();
  assert.match(await alert.textContent(), /rules\[0\]\.clauses\[0\]\.values\[0\]/);
  await assertFocused(rule.getByLabel(/^Values/), 'the refused value takes focus');
  assert.equal(await rule.getByLabel(/^Values/).evaluate((el) => el.closest('.invalid') !== null), true);
});

test('segments: create one, upload 100,000 keys from a file, and see which flags use it', async () => {
  const { server, page } = await setup();
  await page.getByRole('link', { name: 'Segments' }).click();
  await page.getByRole('button', { name: 'New segment' }).click();
  await page.getByLabel('Key').fill('vip');
  await page.getByLabel('Name').fill('VIP players');
  await page.getByRole('button', { name: 'Create segment' }).click();
  await page.getByRole('heading', { name: 'VIP players' }).waitFor();

  const keys = Array.from({ length: 100_000 }, (_, i) => `player-${i}`).join('\n');
  await page.getByLabel('Replace the included keys from a file (one key per line)').setInputFiles({
    name: 'vip.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from(keys),
  });
  await page.getByText('Replaced: 100,000 included keys.').waitFor({ timeout: 20_000 });
  await page.locator('.card', { hasText: 'Included keys' }).getByText('100,000').first().waitFor();
  const seg = (await server.call('GET', '/api/v1/environments/production/segments', { expect: 200 })).body.segments[0];
  assert.equal(seg.included_count, 100_000);

  // A flag starts using it (from elsewhere): the page shows it live.
  await server.call('POST', '/api/v1/flags', { body: { key: 'vip-lounge', name: 'VIP lounge' }, expect: 201 });
  const read = await server.call('GET', '/api/v1/flags/vip-lounge/environments/production', { expect: 200 });
  const config = { ...read.body, rules: [{ id: 'vips', clauses: [{ attribute: '', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } }] };
  await server.call('PUT', '/api/v1/flags/vip-lounge/environments/production', { body: config, headers: { 'If-Match': read.headers.get('etag') }, expect: 200 });
  await page.locator('.card', { hasText: 'Used by' }).getByRole('link', { name: 'VIP lounge' }).waitFor({ timeout: 5000 });

  // In use, it cannot be deleted.
  assert.equal(await page.getByRole('button', { name: 'Delete segment' }).isDisabled(), true);

  // The segment picker of a rule lists it.
  await page.goto(`${server.url}/#/flags/vip-lounge`);
  const picker = page.locator('li.rule').first().getByRole('group', { name: 'Segments' });
  assert.equal(await picker.getByLabel(/VIP players/).isChecked(), true);

  // A segment nobody uses can be deleted.
  await server.call('POST', '/api/v1/environments/production/segments', { body: { key: 'old-cohort' }, expect: 201 });
  await page.goto(`${server.url}/#/segments/old-cohort`);
  await page.getByRole('button', { name: 'Delete segment' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete segment' }).click();
  await page.locator('tr[data-segment="vip"]').waitFor();
  assert.equal(await page.locator('tr[data-segment="old-cohort"]').count(), 0);
  await server.call('GET', '/api/v1/environments/production/segments/old-cohort', { expect: 404 });
});

test('bundles: what is live, publishing a canary, and connected browsers per version', async () => {
  const { server, page } = await setup();
  await server.call('POST', '/api/v1/environments/production/apps/web/publish', { body: { version: '1.0.0' }, expect: 200 });
  const clientKey = await server.sdkKey('production', 'client');
  await page.getByRole('link', { name: 'Bundles' }).click();
  const card = page.locator('article[data-app="web"]');
  await card.waitFor();
  assert.match(await card.locator('dl.facts').textContent(), /Live1\.0\.0/);

  // Two browsers on 1.0.0 connect (plain WebSockets speaking the stream protocol).
  await page.evaluate(
    ({ key }) => {
      window.sockets = [1, 2].map((n) => {
        const ws = new WebSocket(`ws://${location.host}/sdk/v1/stream`);
        ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', protocols: [1], key, context: { key: `u-${n}` }, bundle: { app: 'web', version: '1.0.0' } }));
        return ws;
      });
    },
    { key: clientKey },
  );
  await card.locator('table.counts').getByRole('cell', { name: '2' }).waitFor({ timeout: 8000 });
  assert.equal(await card.locator('.chart polyline').count(), 1);

  await card.getByLabel('Version', { exact: true }).fill('1.1.0');
  await card.getByLabel('Canary % (empty: live for everyone)').fill('10');
  await card.getByRole('button', { name: 'Publish' }).click();
  // Production: a confirmation that says what happens to open pages, with a comment.
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /10% of users get 1\.1\.0 as a canary; everyone else stays on 1\.0\.0\.\s*Pages outside the canary that already run 1\.1\.0 will be told to go back to 1\.0\.0/);
  assert.ok(!(await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body.canary, 'nothing published yet');
  await dialog.getByLabel(/^Comment/).fill('canary for the new lobby');
  await dialog.getByRole('button', { name: 'Publish in production' }).click();
  await card.locator('dl.facts').getByText('to 10%').waitFor();
  assert.match(await card.locator('dl.facts').textContent(), /Pages outside the canary that run 1\.1\.0 are told to go back to 1\.0\.0/);
  const audit = (await server.call('GET', '/api/v1/audit?resource_kind=bundle&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(audit.comment, 'canary for the new lobby');
  const config = (await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body;
  assert.deepEqual([config.live, config.canary.version, config.canary.weight], ['1.0.0', '1.1.0', 10000]);

  // Editing the settings in production asks too, and says what open pages will be told.
  await card.getByRole('button', { name: 'Edit settings' }).click();
  await card.getByLabel(/^Canary share/).evaluate((range) => {
    range.value = '25';
    range.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await card.getByRole('button', { name: 'Save settings' }).click();
  const settings = page.getByRole('dialog');
  await settings.waitFor();
  assert.match(await settings.textContent(), /25% of users get 1\.1\.0 as a canary; everyone else stays on 1\.0\.0\.\s*Pages outside the canary that already run 1\.1\.0 will be told to go back to 1\.0\.0/);
  assert.equal((await server.call('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 })).body.canary.weight, 10000, 'nothing saved yet');
  await settings.getByLabel(/^Comment/).fill('canary to a quarter');
  await settings.getByRole('button', { name: 'Save in production' }).click();
  await card.locator('dl.facts').getByText('to 25%').waitFor();
  const saved = (await server.call('GET', '/api/v1/audit?resource_kind=bundle&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(saved.comment, 'canary to a quarter');
});

test('a prerequisite chosen in the editor holds the flag back until the other flag serves its variation', async () => {
  const { server, page } = await setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout-v2', name: 'Checkout v2' }, expect: 201 });
  await server.call('POST', '/api/v1/flags', { body: { key: 'one-click-pay', name: 'One-click pay' }, expect: 201 });
  await page.goto(`${server.url}/#/flags/one-click-pay`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.getByRole('button', { name: 'Add prerequisite' }).click();
  await page.getByLabel('Flag', { exact: true }).selectOption('checkout-v2');
  await page.getByLabel('must serve').selectOption('1');
  await page.getByLabel('Variation', { exact: true }).selectOption('1');
  await page.getByRole('button', { name: 'Save production' }).click();
  await page.getByText('Saved.').waitFor();
  const stored = (await server.call('GET', '/api/v1/flags/one-click-pay/environments/production', { expect: 200 })).body;
  assert.deepEqual(stored.prerequisites, [{ flag: 'checkout-v2', variation: 1 }]);

  await server.call('POST', '/api/v1/flags/one-click-pay/environments/production/toggle', { body: { on: true }, expect: 200 });
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('#explain-result').getByText('PREREQUISITE_FAILED').waitFor();
  // checkout-v2 on, serving true to everyone: the prerequisite holds.
  const read = await server.call('GET', '/api/v1/flags/checkout-v2/environments/production', { expect: 200 });
  await server.call('PUT', '/api/v1/flags/checkout-v2/environments/production', {
    body: { ...read.body, on: true, fallthrough: { variation: 1 } },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('#explain-result').getByText('FALLTHROUGH').waitFor();
  assert.match(await page.locator('#explain-result').textContent(), /true/);
});

test('an editor runs a staged rollout: creates a plan, starts it, moves a stage, rolls back with a comment; a viewer cannot', async () => {
  const { server, page } = await setup('editor');
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await page.getByLabel('Environment').selectOption('staging');
  await page.getByRole('link', { name: 'Releases' }).click();
  await page.getByRole('heading', { name: 'Staged rollouts in staging' }).waitFor();

  await page.getByRole('button', { name: 'New plan' }).click();
  await page.getByLabel('Flag').selectOption('new-lobby');
  await page.getByLabel('Release variation').selectOption('1');
  // A weight going down is refused by the server, and the field is marked.
  await page.getByLabel(/^Stages/).fill('5, 1');
  await page.getByRole('button', { name: 'Create plan' }).click();
  await page.getByText(/may not go down/).waitFor();
  await page.getByLabel(/^Stages/).fill('1, 5, 25, 100');
  await page.getByLabel(/^Minutes per stage/).fill('60');
  await page.getByLabel(/^Bucket by/).fill('table_id');
  await page.getByRole('button', { name: 'Create plan' }).click();
  const plan = page.locator('article.plan').first();
  await plan.getByText('Pending').waitFor();

  await plan.getByRole('button', { name: 'Start' }).click();
  await plan.getByText('Running — stage 1 of 4').waitFor();
  assert.match(await plan.locator('[aria-current="step"]').textContent(), /1%/);
  let config = (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
  assert.deepEqual(config.fallthrough.rollout.variations[0], { variation: 1, weight: 1000 });
  assert.equal(config.fallthrough.rollout.bucket_by, 'table_id');

  await plan.getByRole('button', { name: 'Next stage' }).click();
  await plan.getByText('Running — stage 2 of 4').waitFor();
  // A move made elsewhere (the CLI) shows without a reload.
  const id = (await server.call('GET', '/api/v1/releases?environment=staging', { expect: 200 })).body.plans[0].id;
  await server.cli('releases', 'pause', String(id));
  await plan.getByText('Paused — stage 2 of 4').waitFor();
  await plan.getByRole('button', { name: 'Resume' }).click();
  await plan.getByText('Running — stage 2 of 4').waitFor();

  await plan.getByRole('button', { name: 'Roll back' }).click();
  await page.getByLabel(/^Comment/).last().fill('errors in the new lobby');
  await page.getByRole('button', { name: 'Roll back' }).last().click();
  await plan.getByText('Rolled back').waitFor();
  config = (await server.call('GET', '/api/v1/flags/new-lobby/environments/staging', { expect: 200 })).body;
  assert.deepEqual(config.fallthrough, { variation: 0 });
  assert.equal(config.on, false);
  const audit = (await server.call('GET', '/api/v1/audit?resource_kind=release&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(audit.action, 'release.rollback');
  assert.equal(audit.comment, 'errors in the new lobby');

  // A viewer sees the plan and can press nothing.
  const viewer = await openConsole(browser, server, await server.token('viewer'));
  cleanups.push(() => viewer.context.close());
  await viewer.page.getByLabel('Environment').selectOption('staging');
  await viewer.page.getByRole('link', { name: 'Releases' }).click();
  await viewer.page.getByText('Rolled back').waitFor();
  assert.equal(await viewer.page.getByRole('button', { name: 'New plan' }).isDisabled(), true);
});
