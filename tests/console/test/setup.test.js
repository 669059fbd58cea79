// The first start: no admin token configured, so the server prints a
// one-time setup link; the first admin opens it, creates their account
// and is signed in as a person, then makes a named token for the CLI on
// the People page (shown once, revocable).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Daylight, checkPrerequisites, launchBrowser } from './support.js';

let browser;
before(async () => {
  checkPrerequisites();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('the setup link creates the first admin, who signs in as a person and makes a token for the CLI', async (t) => {
  // An empty DAYLIGHT_ADMIN_TOKEN counts as unset.
  const server = await Daylight.start({ DAYLIGHT_ADMIN_TOKEN: '' });
  t.after(() => server.stop());
  const link = server.output().match(/(http:\/\/\S+\/#\/setup\/\S+)/)?.[1];
  assert.ok(link, `a setup link is printed:\n${server.output()}`);
  assert.doesNotMatch(server.output(), /dl_admin_/, 'no admin token is printed');

  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(link);
  await page.getByRole('heading', { name: 'Create the first admin account' }).waitFor();
  await page.getByLabel('Your email').fill('ana@example.com');
  await page.getByLabel('Your name').fill('Ana');
  await page.getByLabel('Password', { exact: true }).fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account and sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  await page.getByText(/Signed in as Ana \(admin\)/).waitFor();

  // A token for the CLI, made on the People page.
  await page.getByRole('link', { name: 'People' }).click();
  await page.getByLabel('Token name').fill('deploy-bot');
  await page.getByLabel('Token role').selectOption('editor');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByLabel('Token secret').inputValue();
  assert.match(secret, /^dl_editor_/);
  const flags = await fetch(`${server.url}/api/v1/flags`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(flags.status, 200);
  await page.getByRole('button', { name: 'Revoke deploy-bot' }).click();
  await page.locator('tr[data-token="deploy-bot"]').waitFor({ state: 'detached' });
  const revoked = await fetch(`${server.url}/api/v1/flags`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(revoked.status, 401);

  // The link worked once.
  const again = await fetch(`${server.url}/api/v1/invitations/accept`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code: link.split('/').pop(), name: 'Eve', password: 'a long enough password', email: 'eve@example.com' }),
  });
  assert.equal(again.status, 400);
  assert.deepEqual(errors.map(String), []);
});
