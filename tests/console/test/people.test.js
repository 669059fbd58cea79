// People in the console: an invitation accepted and a person signed in with
// email and password whose change the audit log names; a wrong password
// refused; four eyes (proposed by one person, approved and applied by
// another); a scheduled request's time, set on its page or when proposing;
// a person who is a viewer in production only; a role changed by an admin
// showing without a reload; and a frozen environment's banner and refused
// save.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertAccessible, assertFocused, consoleSuite, openSignedOut, person, signInAs } from './support.js';

const suite = consoleSuite();

/** A signed-out page on `server` at `path`, closed (and checked for page errors) after the test. */
async function signedOut(server, path) {
  const opened = await openSignedOut(suite.browser, server, path);
  suite.cleanups.push(() => opened.context.close());
  suite.cleanups.push(() => assert.deepEqual(opened.errors.map(String), [], 'no errors in the page'));
  return opened;
}

async function setOffVariation(page, flag, variation) {
  await page.goto(`${page.url().split('#')[0]}#/flags/${flag}`);
  await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  await page.getByLabel('When off, serve').selectOption(String(variation));
  await page.getByRole('button', { name: 'Save production' }).click();
}

test('an invited person accepts, signs in with a password, changes a flag, and the audit log names them', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });

  await page.getByRole('link', { name: 'People' }).click();
  await page.getByLabel('Email').fill('ana@example.com');
  await page.getByLabel('Role', { exact: true }).selectOption('editor');
  await page.getByRole('button', { name: 'Invite' }).click();
  const link = await page.getByLabel('Invitation link').inputValue();
  assert.match(link, /\/#\/accept\/\S+$/);
  assert.equal(new URL(link).origin, server.url);

  const ana = await signedOut(server, new URL(link).pathname + new URL(link).hash);
  await ana.page.getByLabel('Your name').fill('Ana Lima');
  await ana.page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await ana.page.getByLabel('Password again').fill('correct horse battery');
  await ana.page.getByRole('button', { name: 'Create account and sign in' }).click();
  await ana.page.getByRole('navigation', { name: 'Main' }).waitFor();
  assert.match(await ana.page.locator('#signed-in-as').innerText(), /Signed in as Ana Lima \(editor\)/);
  // An editor does not manage people.
  assert.equal(await ana.page.getByRole('link', { name: 'People' }).count(), 0);

  // Sign out, then in again with the password.
  await ana.page.getByRole('button', { name: 'Sign out' }).click();
  await ana.page.getByLabel('Email').waitFor();
  // Focus is not lost to <body>: it lands on the sign-in page's heading.
  await ana.page.waitForFunction(() => document.activeElement?.tagName === 'H1');
  assert.equal((await server.call('GET', '/api/v1/session', { token: '' })).status, 401);
  await signInAs(ana.page, 'ana@example.com', 'correct horse battery');
  await ana.page.locator('#signed-in-as').waitFor();

  // A write with the session cookie (and its CSRF header).
  await setOffVariation(ana.page, 'checkout', 1);
  await ana.page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  await ana.page.getByRole('link', { name: 'Audit log' }).click();
  const entry = ana.page.locator('li.entry', { hasText: 'checkout' }).first();
  await entry.waitFor();
  assert.equal(await entry.locator('.actor').innerText(), 'person:ana@example.com');
  const audit = (await server.call('GET', '/api/v1/audit?resource_key=checkout&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(audit.actor, 'person:ana@example.com');

  // The admin sees the account with its role.
  await page.getByRole('link', { name: 'People' }).click();
  await page.locator('tr[data-account="ana@example.com"]').waitFor();
  assert.equal(await page.getByLabel('Role of ana@example.com').inputValue(), 'editor');
});

test('a wrong password is refused in words, and an admin disabling an account ends its session', async () => {
  const { server, page } = await suite.setup('admin');
  await person(server, 'bo@example.com', 'viewer');
  const bo = await signedOut(server, '/');
  await signInAs(bo.page, 'bo@example.com', 'not the password');
  const refusal = bo.page.locator('#signin-error');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /do not match an active account/);
  assert.equal(await bo.page.evaluate(() => document.activeElement?.id), 'password');
  assert.equal(await bo.page.getByLabel('Password', { exact: true }).inputValue(), '');

  await signInAs(bo.page, 'bo@example.com', 'correct horse battery');
  await bo.page.locator('#read-only-banner').waitFor();

  await page.getByRole('link', { name: 'People' }).click();
  await page.getByRole('button', { name: 'Disable bo@example.com and end their sessions' }).click();
  await page.locator('tr[data-account="bo@example.com"]', { hasText: 'Disabled' }).waitFor();
  // The next request of Bo's page meets the ended session and goes back to sign-in.
  await bo.page.getByRole('link', { name: 'Segments' }).click();
  await bo.page.getByText('Your session has ended: sign in again.').waitFor();
});

test('a change request proposed by one person is approved and applied by another', async () => {
  const { server } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  await person(server, 'ana@example.com', 'editor');
  await person(server, 'bo@example.com', 'editor');

  const ana = await signedOut(server, '/');
  await signInAs(ana.page, 'ana@example.com', 'correct horse battery');
  await ana.page.locator('#signed-in-as').waitFor();
  await setOffVariation(ana.page, 'checkout', 1);
  const dialog = ana.page.getByRole('dialog', { name: 'Propose a change request' });
  await dialog.waitFor();
  await dialog.getByLabel(/Comment/).fill('serve true when off');
  await dialog.getByRole('button', { name: 'Propose' }).click();
  await ana.page.locator('#proposed').waitFor();
  // The navigation counts the open request.
  await ana.page.getByRole('link', { name: /Change requests.*1 open/ }).waitFor();
  // Nothing applied yet.
  assert.equal((await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 })).body.off_variation ?? 0, 0);

  // The author cannot approve, and is told why.
  await ana.page.locator('#proposed a').click();
  await ana.page.getByRole('heading', { name: /Change request #\d+/ }).waitFor();
  assert.equal(await ana.page.getByRole('button', { name: 'Approve' }).isDisabled(), true);
  assert.match(await ana.page.locator('#own-request').innerText(), /someone else must approve/);

  const bo = await signedOut(server, '/');
  await signInAs(bo.page, 'bo@example.com', 'correct horse battery');
  await bo.page.getByRole('link', { name: /Change requests/ }).click();
  await bo.page.getByRole('link', { name: /serve true when off/ }).click();
  await bo.page.locator('table.diff', { hasText: 'off_variation' }).waitFor();
  assert.equal(await bo.page.getByRole('button', { name: 'Apply' }).isDisabled(), true);
  await bo.page.getByRole('button', { name: 'Approve' }).click();
  await bo.page.locator('#approval-count', { hasText: '1 of 1 approval (person:bo@example.com)' }).waitFor();
  await bo.page.getByRole('button', { name: 'Apply' }).click();
  await bo.page.locator('#request-state-text', { hasText: 'applied' }).waitFor();

  assert.equal((await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 })).body.off_variation, 1);
  const write = (await server.call('GET', '/api/v1/audit?resource_kind=flag&resource_key=checkout&limit=1', { expect: 200 })).body.entries[0];
  assert.equal(write.actor, 'person:bo@example.com');
  assert.match(write.comment, /approved by person:bo@example.com/);
});

test('a request whose flag changed since says it cannot apply', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  const read = await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 });
  const request = (await server.call('POST', '/api/v1/change-requests', {
    body: { flag: 'checkout', environment: 'production', config: { ...read.body, off_variation: 1 }, comment: 'stale one' },
    expect: 201,
  })).body;
  // Someone changes the flag directly meanwhile.
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 0 }, expect: 200 });
  await server.call('PUT', '/api/v1/flags/checkout/environments/production', {
    body: { ...read.body, targets: [{ variation: 1, values: ['qa'] }] },
    headers: { 'If-Match': read.headers.get('etag') },
    expect: 200,
  });
  await page.goto(`${server.url}/#/requests/${request.id}`);
  const stale = page.locator('#stale-base');
  await stale.waitFor();
  assert.match(await stale.innerText(), /changed since this request was proposed.*can no longer apply/s);
  assert.equal(await page.getByRole('button', { name: 'Apply' }).isDisabled(), true);
});

test('a scheduled request shows when it applies and its author moves the time', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  const read = await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 });
  const request = (await server.call('POST', '/api/v1/change-requests', {
    body: {
      flag: 'checkout', environment: 'production', config: { ...read.body, off_variation: 1 }, comment: 'at launch',
      apply_at: new Date(Date.now() + 2 * 3600_000).toISOString(),
    },
    expect: 201,
  })).body;
  await page.goto(`${server.url}/#/requests/${request.id}`);
  const schedule = page.locator('#request-schedule');
  await schedule.waitFor();
  assert.match(await schedule.innerText(), /applies at .* if approved by then/);
  // The server applies it at its time, not a click.
  assert.equal(await page.getByRole('button', { name: 'Apply', exact: true }).isDisabled(), true);

  await page.getByLabel(/Apply at/).fill('2030-06-01T10:00');
  await page.getByRole('button', { name: 'Schedule' }).click();
  await page.getByRole('status').filter({ hasText: 'Scheduled; approvals are asked again.' }).waitFor();
  const expected = await page.evaluate(() => new Date('2030-06-01T10:00').getTime());
  const moved = (await server.call('GET', `/api/v1/change-requests/${request.id}`, { expect: 200 })).body;
  assert.equal(moved.apply_at, expected);
  assert.equal(moved.revision, 2);
  assert.equal(moved.comment, 'at launch');

  // Without a time, it is applied by hand once approved.
  await page.getByRole('button', { name: 'Apply by hand instead' }).click();
  await page.getByRole('status').filter({ hasText: 'applies by hand' }).waitFor();
  const cleared = (await server.call('GET', `/api/v1/change-requests/${request.id}`, { expect: 200 })).body;
  assert.equal(cleared.apply_at ?? null, null);
  await page.locator('#request-schedule').waitFor({ state: 'detached' });
});

test('a frozen environment shows the banner on the flag and segment pages and a refused save explains it', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  for (const env of ['production', 'staging']) {
    await server.call('POST', `/api/v1/environments/${env}/segments`, { body: { key: 'beta' }, expect: 201 });
  }
  const now = Date.now();
  await server.call('POST', '/api/v1/environments/production/freezes', {
    body: { name: 'final', schedule: { kind: 'once', starts_at: new Date(now - 60_000).toISOString(), ends_at: new Date(now + 3_600_000).toISOString() } },
    expect: 201,
  });
  await page.goto(`${server.url}/#/flags/checkout`);
  const banner = page.locator('#freeze-banner');
  await banner.waitFor();
  assert.match(await banner.innerText(), /production is frozen now.*“final”.*kill switch still works/s);
  await page.getByLabel('When off, serve').selectOption('1');
  await page.getByRole('button', { name: 'Save production' }).click();
  const refusal = page.locator('form.config [role="alert"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /freeze window.*kill switch.*still works/s);
  assert.equal((await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 })).body.off_variation ?? 0, 0);

  // A segment's page says the same before anyone edits it; staging's does not.
  await page.locator('#env-select').selectOption('production');
  await page.goto(`${server.url}/#/segments/beta`);
  await page.getByRole('heading', { name: 'beta' }).waitFor();
  await page.locator('#freeze-banner').waitFor();
  assert.match(await page.locator('#freeze-banner').innerText(), /production is frozen now.*“final”/s);
  await page.locator('#env-select').selectOption('staging');
  await page.getByText('staging, version 1').waitFor();
  assert.equal(await page.locator('#freeze-banner').count(), 0);
});

test('a freeze that starts within two hours is announced before editing', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  const now = Date.now();
  await server.call('POST', '/api/v1/environments/production/freezes', {
    body: { name: 'evening', schedule: { kind: 'once', starts_at: new Date(now + 30 * 60_000).toISOString(), ends_at: new Date(now + 90 * 60_000).toISOString() } },
    expect: 201,
  });
  await page.goto(`${server.url}/#/flags/checkout`);
  const banner = page.locator('#freeze-banner');
  await banner.waitFor();
  assert.match(await banner.innerText(), /A freeze starts soon in production.*“evening”.*kill switch still works/s);
});

test('a weekly freeze is announced by its own time zone', async () => {
  const { page } = await suite.setup('admin');
  const soon = await page.evaluate(async () => {
    const { startsSoon } = await import('/console/freeze.js');
    const evenings = (days) => ({ kind: 'weekly', days, start: '18:00', minutes: 240, time_zone: 'Europe/Paris' });
    const winter = Date.parse('2026-12-04T16:30:00Z'); // a Friday, 17:30 in Paris (UTC+1)
    const summer = Date.parse('2026-07-03T15:30:00Z'); // a Friday, 17:30 in Paris (UTC+2)
    const at = (t) => (t === null ? null : new Date(t).toISOString());
    return {
      winter: at(startsSoon(evenings(['fri']), winter)),
      summer: at(startsSoon(evenings(['fri']), summer)),
      otherDay: at(startsSoon(evenings(['sat']), winter)),
      tooFar: at(startsSoon(evenings(['fri']), winter - 3 * 3_600_000)),
    };
  });
  assert.deepEqual(soon, { winter: '2026-12-04T17:00:00.000Z', summer: '2026-07-03T16:00:00.000Z', otherDay: null, tooFar: null });
});

test('Sign in with SSO appears only when the server names a provider, and starts there with the current path', async () => {
  const { server } = await suite.setup('admin');
  // Without a provider (today's server answers 404): no SSO button.
  const providers = await server.call('GET', '/api/v1/session/providers', { token: '' });
  assert.ok(providers.status === 404 || !providers.body?.oidc, 'this server offers no identity provider');
  const plain = await signedOut(server, '/');
  await plain.page.getByLabel('Email').waitFor();
  // The page has had its answer (a positive signal), and rendered after it.
  await plain.page.waitForFunction(() =>
    performance.getEntriesByType('resource').some((e) => e.name.includes('/api/v1/session/providers') && e.responseEnd > 0));
  await plain.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
  assert.equal(await plain.page.getByRole('button', { name: /Sign in with SSO/ }).count(), 0);

  // A server that names one (answered here, as the provider's side is not part of this suite).
  const sso = await signedOut(server, '/');
  await sso.page.route('**/api/v1/session/providers', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ oidc: { name: 'Acme login' } }) }));
  let started = null;
  await sso.page.route('**/api/v1/session/oidc/start**', (route) => {
    started = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>provider</title><main><h1>provider</h1></main>' });
  });
  // A hash change alone would not load the page again: reload it under the routes.
  await sso.page.goto(`${server.url}/#/flags/checkout`);
  await sso.page.reload();
  await sso.page.getByRole('button', { name: 'Sign in with SSO (Acme login)' }).click();
  await sso.page.waitForURL('**/oidc/start**');
  assert.equal(new URL(started).searchParams.get('return_to'), '/#/flags/checkout');
});

test('a reviewer comments on and rejects a request, which leaves the inbox', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  const read = await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 });
  const editor = await server.token('editor');
  const request = (await server.call('POST', '/api/v1/change-requests', {
    body: { flag: 'checkout', environment: 'production', config: { ...read.body, off_variation: 1 }, comment: 'try it' },
    expect: 201,
    token: editor,
  })).body;
  await page.goto(`${server.url}/#/requests`);
  await page.getByRole('link', { name: `#${request.id}: try it` }).click();
  await page.getByLabel('Comment', { exact: true }).fill('not before the final');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await page.locator('ul.reviews', { hasText: 'not before the final' }).waitFor();
  await page.getByRole('button', { name: 'Reject' }).click();
  await page.locator('#request-state-text', { hasText: 'rejected' }).waitFor();
  assert.equal((await server.call('GET', `/api/v1/change-requests/${request.id}`, { expect: 200 })).body.state, 'rejected');
  await page.locator('.crumbs a').click();
  await page.locator('#no-requests').waitFor();
});

test('a person who is a viewer in production sees it read-only and edits staging', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });

  // The admin invites an editor who is a viewer in production.
  await page.getByRole('link', { name: 'People' }).click();
  await page.getByLabel('Email').fill('cy@example.com');
  await page.getByLabel('Role', { exact: true }).selectOption('editor');
  await page.getByLabel('Invitation in production').selectOption('viewer');
  await page.getByRole('button', { name: 'Invite' }).click();
  const link = await page.getByLabel('Invitation link').inputValue();
  const invitation = (await server.call('GET', '/api/v1/invitations', { expect: 200 })).body.invitations[0];
  assert.deepEqual(invitation.env_roles, { production: 'viewer' });

  const cy = await signedOut(server, new URL(link).pathname + new URL(link).hash);
  await cy.page.getByLabel('Your name').fill('Cy');
  await cy.page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await cy.page.getByLabel('Password again').fill('correct horse battery');
  await cy.page.getByRole('button', { name: 'Create account and sign in' }).click();
  await cy.page.getByRole('navigation', { name: 'Main' }).waitFor();
  await cy.page.locator('#env-select').selectOption('production');
  assert.match(await cy.page.locator('#signed-in-as').innerText(), /\(editor; viewer in production\)/);
  assert.match(await cy.page.locator('#read-only-banner').innerText(), /Read-only in production/);

  // Production: the flag's targeting and its toggle cannot be changed.
  await cy.page.goto(`${cy.page.url().split('#')[0]}#/flags/checkout`);
  await cy.page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  assert.equal(await cy.page.getByLabel('When off, serve').isDisabled(), true);

  // Staging: editable, and the save goes through.
  await cy.page.locator('#env-select').selectOption('staging');
  await cy.page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  assert.equal(await cy.page.locator('#read-only-banner').count(), 0);
  await cy.page.getByLabel('When off, serve').selectOption('1');
  await cy.page.getByRole('button', { name: 'Save staging' }).click();
  await cy.page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const flag = (await server.call('GET', '/api/v1/flags/checkout', { expect: 200 })).body;
  assert.equal(flag.environments.staging.off_variation, 1);
  assert.equal(flag.environments.production.off_variation, 0);

  // The admin sees the per-environment role and lifts it; production opens up.
  await page.getByRole('link', { name: 'People' }).click();
  const picker = page.getByLabel('cy@example.com in production');
  await picker.waitFor();
  assert.equal(await picker.inputValue(), 'viewer');
  const patched = page.waitForResponse((r) => r.url().includes('/api/v1/accounts/') && r.request().method() === 'PATCH');
  await picker.selectOption('');
  assert.equal((await patched).status(), 200);
  await cy.page.reload();
  await cy.page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
  await cy.page.locator('#env-select').selectOption('production');
  await cy.page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  assert.equal(await cy.page.locator('#read-only-banner').count(), 0);
  assert.equal(await cy.page.getByLabel('When off, serve').isDisabled(), false);
});

test('a change request proposed with a time says when it applies; a past time is refused in words', async () => {
  const { server, page } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await server.call('PUT', '/api/v1/environments/production/approvals', { body: { required: 1 }, expect: 200 });
  await setOffVariation(page, 'checkout', 1);
  const dialog = page.getByRole('dialog', { name: 'Propose a change request' });
  await dialog.waitFor();
  await dialog.getByLabel(/Comment/).fill('at launch');
  const at = dialog.getByLabel(/^Apply at/);
  await at.fill('2001-01-01T10:00');
  await dialog.getByRole('button', { name: 'Propose' }).click();
  await dialog.getByRole('alert').getByText('Choose a time in the future').waitFor();
  await assertFocused(at, 'a past time refused');
  assert.equal((await server.call('GET', '/api/v1/change-requests?state=open', { expect: 200 })).body.change_requests.length, 0);
  await assertAccessible(page, 'the propose dialog with its time refused');

  await at.fill('2030-06-01T10:00');
  await dialog.getByRole('button', { name: 'Propose' }).click();
  await page.locator('#proposed a').click();
  const schedule = page.locator('#request-schedule');
  await schedule.waitFor();
  assert.match(await schedule.innerText(), /^Scheduled: applies at .* if approved by then/);
  const [request] = (await server.call('GET', '/api/v1/change-requests?state=open', { expect: 200 })).body.change_requests;
  assert.equal(request.apply_at, await page.evaluate(() => new Date('2030-06-01T10:00').getTime()));
  assert.equal(request.comment, 'at launch');
  await assertAccessible(page, 'a request proposed with a time');
});

test('a role an admin changes shows in the person\'s open console without a reload', async () => {
  const { server } = await suite.setup('admin');
  await server.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  await person(server, 'bo@example.com', 'viewer');
  const bo = await signedOut(server, '/');
  await signInAs(bo.page, 'bo@example.com', 'correct horse battery');
  await bo.page.locator('#read-only-banner').waitFor();
  await bo.page.goto(`${server.url}/#/flags/checkout`);
  await bo.page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  assert.equal(await bo.page.getByLabel('When off, serve').isDisabled(), true);
  const { id } = (await server.call('GET', '/api/v1/accounts', { expect: 200 })).body.accounts.find((a) => a.email === 'bo@example.com');
  const setRole = (role) => server.call('PATCH', `/api/v1/accounts/${id}`, { body: { role }, expect: 200 });

  // Made an editor: the console reads the session again when the tab is shown.
  await setRole('editor');
  await bo.page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await bo.page.locator('#signed-in-as', { hasText: '(editor)' }).waitFor();
  await bo.page.locator('#read-only-banner').waitFor({ state: 'detached' });
  assert.equal(await bo.page.getByLabel('When off, serve').isDisabled(), false);

  // Made a viewer again: the next write is refused (403), and the console reads the session again.
  await setRole('viewer');
  await bo.page.getByLabel('When off, serve').selectOption('1');
  await bo.page.getByRole('button', { name: 'Save production' }).click();
  await bo.page.locator('#read-only-banner').waitFor();
  await bo.page.locator('#signed-in-as', { hasText: '(viewer)' }).waitFor();
  assert.equal(await bo.page.getByLabel('When off, serve').isDisabled(), true);
  assert.equal((await server.call('GET', '/api/v1/flags/checkout/environments/production', { expect: 200 })).body.off_variation ?? 0, 0);
});
