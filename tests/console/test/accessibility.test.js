// axe-core on every main page state of the console, dialogs included:
// sign-in, flags (with the new-flag form), a flag (with its rules, an
// explanation with its trace, the archive and production dialogs),
// segments, releases (with the new-plan form and a running plan), bundles,
// the audit log, the playground, a flag's history and scheduled changes, in the light and the dark colour scheme; and the people
// states: sign-in refused, the token option, accepting an invitation, the
// people page with an invitation link, a change request, the propose
// dialog and a frozen flag page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, assertFocused, consoleSuite, openSignedOut, person, signInAs } from './support.js';

const suite = consoleSuite();

// Both colour schemes: the console follows the system's (light or dark), and each must keep its contrast.
for (const scheme of ['light', 'dark']) test(`axe-core finds no violations on the main pages, forms and dialogs (${scheme})`, async () => {
  const { server, page, context } = await suite.setup();
  await page.emulateMedia({ colorScheme: scheme });
  assert.equal(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), scheme === 'dark');
  const api = (method, path, body) => server.call(method, `/api/v1${path}`, { body, expect: method === 'POST' && !path.includes('/toggle') && !path.includes('/publish') ? 201 : 200 });
  await api('POST', '/flags', { key: 'new-lobby', name: 'New lobby', tags: ['lobby'] });
  await api('POST', '/flags', { key: 'checkout-v2', name: 'Checkout v2' });
  await api('POST', '/environments/production/segments', { key: 'vip', name: 'VIP players', included: ['a', 'b'] });
  const read = await server.call('GET', '/api/v1/flags/new-lobby/environments/production', { expect: 200 });
  await server.call('PUT', '/api/v1/flags/new-lobby/environments/production', {
    body: {
      ...read.body,
      targets: [{ variation: 1, values: ['qa-1'] }],
      rules: [
        { id: 'vips', clauses: [{ attribute: '', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } },
        { id: 'omaha', clauses: [{ attribute: 'game', op: 'in', values: ['omaha'] }], serve: { rollout: { variations: [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }] } } },
      ],
    },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  await api('POST', '/flags/new-lobby/environments/production/toggle', { on: true });
  await api('POST', '/environments/production/apps/web/publish', { version: '1.0.0' });
  const plan = (await server.call('POST', '/api/v1/flags/checkout-v2/environments/production/releases', {
    body: { variation: 1, stages: [{ weight: 1000 }, { weight: 100000 }] }, expect: 201,
  })).body;
  await server.call('POST', `/api/v1/releases/${plan.id}/start`, { expect: 200 });

  // Flags, and the new-flag form.
  await page.locator('tr[data-flag="new-lobby"]').waitFor();
  const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(background, scheme === 'dark' ? 'rgb(18, 24, 31)' : 'rgb(245, 247, 250)', 'the page follows the colour scheme');
  await assertAccessible(page, 'the flag list');
  await page.getByRole('button', { name: 'New flag' }).click();
  await page.getByLabel('Key').waitFor();
  await assertAccessible(page, 'the new-flag form');

  // The production switch's dialog.
  await page.locator('tr[data-flag="new-lobby"]').getByRole('switch', { name: /in production/ }).click();
  await page.getByRole('dialog').waitFor();
  await assertAccessible(page, 'the production switch dialog');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  // A flag with rules, a rollout and a segment; the archive dialog.
  await page.goto(`${server.url}/#/flags/new-lobby`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('#explain-trace li').first().waitFor();
  await assertAccessible(page, 'a flag page with an explanation and its trace');
  await page.getByRole('button', { name: 'Archive' }).click();
  await page.getByRole('dialog').getByLabel(/to confirm/).waitFor();
  await assertAccessible(page, 'the archive dialog');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('tab', { name: 'Scheduled' }).click();
  await page.getByRole('heading', { name: 'Schedule a change' }).waitFor();
  await assertAccessible(page, 'the flag page’s scheduled changes');
  await page.getByRole('tab', { name: 'History' }).click();
  await page.getByRole('list', { name: 'History of this flag' }).locator('li.entry').first().waitFor();
  await assertAccessible(page, 'the flag page’s history');
  await page.getByRole('tab', { name: 'Targeting' }).click();

  await page.goto(`${server.url}/#/segments`);
  await page.locator('tr[data-segment="vip"]').waitFor();
  await assertAccessible(page, 'the segment list');
  await page.goto(`${server.url}/#/segments/vip`);
  await page.getByRole('heading', { name: 'VIP players' }).waitFor();
  await assertAccessible(page, 'a segment');

  await page.goto(`${server.url}/#/releases`);
  await page.locator(`article[data-plan="${plan.id}"]`).getByText(/Running/).waitFor();
  await assertAccessible(page, 'the releases page');
  await page.getByRole('button', { name: 'New plan' }).click();
  await page.getByRole('textbox', { name: /^Stages/ }).waitFor();
  await assertAccessible(page, 'the new-plan form');
  await page.locator(`article[data-plan="${plan.id}"]`).getByRole('button', { name: 'Roll back' }).click();
  await page.getByRole('dialog').waitFor();
  await assertAccessible(page, 'the roll-back dialog');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  await page.goto(`${server.url}/#/bundles`);
  await page.locator('article[data-app="web"]').waitFor();
  await assertAccessible(page, 'the bundles page');
  await page.getByRole('button', { name: 'Edit settings' }).click();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('dialog').waitFor();
  await assertAccessible(page, 'the production bundle settings dialog');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  await page.goto(`${server.url}/#/audit`);
  await page.locator('li.entry').first().waitFor();
  await page.locator('li.entry:has([data-action="flag.config"])').first().getByRole('button', { name: 'Show changes' }).click();
  await page.locator('table.diff').first().waitFor();
  await assertAccessible(page, 'the audit log with a diff');

  // The playground with every flag for one context.
  await page.goto(`${server.url}/#/playground`);
  await page.getByRole('button', { name: 'Evaluate every flag' }).click();
  await page.locator('#playground-result tr[data-flag="new-lobby"]').waitFor();
  await assertAccessible(page, 'the playground with answers');

  // Sign-in, signed out.
  const signin = await context.newPage();
  await signin.emulateMedia({ colorScheme: scheme });
  await signin.goto(server.url);
  await signin.evaluate(() => sessionStorage.clear());
  await signin.reload();
  await signin.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await assertAccessible(signin, 'the sign-in page');
});

test('axe-core finds no violations on sign-in, invitations, people, change requests and freezes', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  await person(server, 'ana@example.com', 'editor');

  // Sign-in refused, and the token option open.
  const out = await openSignedOut(suite.browser, server, '/');
  suite.cleanups.push(() => out.context.close());
  await signInAs(out.page, 'ana@example.com', 'wrong password here');
  await out.page.locator('#signin-error').waitFor();
  await assertAccessible(out.page, 'the sign-in page with a refusal');
  await out.page.getByText('Sign in with a token (automation)').click();
  await out.page.getByLabel('Token', { exact: true }).waitFor();
  await assertAccessible(out.page, 'the sign-in page with the token option');

  // The people page with a fresh invitation link.
  await page.getByRole('link', { name: 'People' }).click();
  await page.getByLabel('Email').fill('bo@example.com');
  await page.getByRole('button', { name: 'Invite' }).click();
  const link = await page.getByLabel('Invitation link').inputValue();
  await page.locator('tr[data-account="ana@example.com"]').waitFor();
  await assertAccessible(page, 'the people page with an invitation link');

  // Accepting the invitation; focus starts on the page's heading.
  await out.page.goto(link);
  await out.page.getByLabel('Your name').waitFor();
  await assertFocused(out.page.locator('main h1'), 'the accept-invitation page');
  await assertAccessible(out.page, 'the accept-invitation page');

  // The propose dialog (a save that needs approval), then the request.
  await page.goto(`${server.url}/#/flags/checkout`);
  await page.getByLabel('When off, serve').selectOption('1');
  await page.getByRole('button', { name: 'Save production' }).click();
  await page.getByRole('dialog', { name: 'Propose a change request' }).waitFor();
  await assertAccessible(page, 'the propose dialog');
  await page.getByRole('dialog').getByLabel(/Comment/).fill('off serves true');
  await page.getByRole('dialog').getByRole('button', { name: 'Propose' }).click();
  await page.locator('#proposed a').click();
  await page.locator('table.diff').waitFor();
  await assertAccessible(page, 'a change request');
  await page.locator('.crumbs a', { hasText: 'Change requests' }).click();
  await page.locator('tr[data-request]').waitFor();
  await assertAccessible(page, 'the change request inbox with the approvals setting');

  // A frozen flag page.
  const now = Date.now();
  await server.call('POST', '/api/v1/environments/production/freezes', {
    body: { name: 'final', schedule: { kind: 'once', starts_at: new Date(now - 60_000).toISOString(), ends_at: new Date(now + 3_600_000).toISOString() } },
    expect: 201,
  });
  await page.goto(`${server.url}/#/flags/checkout`);
  await page.locator('#freeze-banner').waitFor();
  await assertAccessible(page, 'a frozen flag page');
});
