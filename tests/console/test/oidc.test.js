// Single sign-on end to end: a real OpenID provider (the npm `oidc-provider`
// in tests/oidc, started here on loopback), two Daylight nodes on one
// database, and Chromium. A person signs in through the provider's own
// forms, gets the role their `groups` claim maps to, changes a flag, and
// the audit log names them; an admin on the other node disables them and
// their session is refused at once on the first node.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import { freePort } from '../../support/daylight.js';
import { Daylight, REPO_ROOT, consoleSuite, openSignedOut } from './support.js';

const suite = consoleSuite();
const CLIENT_ID = 'daylight-console';
const CLIENT_SECRET = 'a-console-client-secret-0123456789abcdef';
const PROVIDER_DIR = join(REPO_ROOT, 'tests/oidc');

/** Starts the provider; resolves with its issuer once it says it serves. */
async function startProvider(redirectUri) {
  if (!existsSync(join(PROVIDER_DIR, 'node_modules/oidc-provider'))) {
    throw new Error('tests/oidc has no node_modules: run `npm --prefix tests/oidc ci`');
  }
  const port = await freePort();
  const child = spawn(process.execPath, ['provider.js'], {
    cwd: PROVIDER_DIR,
    env: { ...process.env, PORT: String(port), CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS: redirectUri },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  suite.cleanups.push(() => child.kill());
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.startsWith('listening ')) return line.slice('listening '.length).trim();
  }
  throw new Error('the OpenID provider exited before serving');
}

/** A node whose settings are `env`, on `port` (free when not given), sharing `database` when given. */
async function node(env, { port, database } = {}) {
  const server = new Daylight();
  server.port = port ?? (await freePort());
  server.env = { ...env, ...(database ? { DAYLIGHT_DATABASE_URL: database } : {}) };
  suite.cleanups.push(() => server.stop());
  await server.launch();
  return server;
}

test('a person signs in through the OpenID provider, edits with the role of their claim, and a disable on another node ends their session', async () => {
  const portA = await freePort();
  const issuer = await startProvider(`http://127.0.0.1:${portA}/api/v1/session/oidc/callback`);
  const a = await node(
    {
      DAYLIGHT_OIDC_ISSUER: issuer,
      DAYLIGHT_OIDC_CLIENT_ID: CLIENT_ID,
      DAYLIGHT_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      DAYLIGHT_OIDC_NAME: 'Test IdP',
      DAYLIGHT_OIDC_SCOPES: 'email,profile,groups',
      DAYLIGHT_OIDC_ROLES: 'daylight-admins=admin,daylight-editors=editor',
      DAYLIGHT_PUBLIC_URL: `http://127.0.0.1:${portA}`,
    },
    { port: portA },
  );
  // The second node: same database and admin token, no provider of its own.
  const b = await node({ DAYLIGHT_ADMIN_TOKEN: a.adminToken }, { database: `sqlite://${join(a.dir, 't.db')}` });
  b.adminToken = a.adminToken;

  await a.call('POST', '/api/v1/flags', { body: { key: 'checkout', name: 'Checkout' }, expect: 201 });
  // The provider hands `ana` the editors' group.
  const set = await fetch(`${issuer}/test/groups/ana`, { method: 'POST', body: JSON.stringify(['daylight-editors']) });
  assert.equal(set.status, 204);

  const ana = await openSignedOut(suite.browser, a, '/#/flags/checkout');
  suite.cleanups.push(() => ana.context.close());
  await ana.page.getByRole('button', { name: 'Sign in with SSO (Test IdP)' }).click();
  // The provider's own pages: its login form, then its consent form.
  await ana.page.waitForURL((url) => url.origin === issuer);
  await ana.page.locator('input[name="login"]').fill('ana');
  await ana.page.locator('input[name="password"]').fill('any password');
  await ana.page.locator('button[type="submit"]').click();
  await ana.page.locator('form button[type="submit"]', { hasText: /continue/i }).click();

  // Back on the console, at the page the sign-in started from, as the person the provider named.
  await ana.page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
  assert.match(await ana.page.locator('#signed-in-as').innerText(), /Signed in as Person ana \(editor\)/);
  assert.equal(await ana.page.getByRole('link', { name: 'People' }).count(), 0, 'an editor does not manage people');

  // An edit with the session cookie and its CSRF header.
  await ana.page.getByLabel('When off, serve').selectOption('1');
  await ana.page.getByRole('button', { name: 'Save production' }).click();
  await ana.page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

  // The audit log names the person, in the console and in the API (read on the other node).
  await ana.page.getByRole('link', { name: 'Audit log' }).click();
  const { entries } = (await b.call('GET', '/api/v1/audit?resource_key=checkout', { expect: 200 })).body;
  assert.ok(
    entries.some((e) => e.actor === 'person:ana@example.com' && e.resource_key === 'checkout'),
    `an audit entry by ana: ${JSON.stringify(entries.map((e) => e.actor))}`,
  );
  await ana.page.locator('.actor', { hasText: 'person:ana@example.com' }).first().waitFor();
  // Her session (the provider's sign-in, made on this node) holds on the other node too.
  const cookie = (await ana.context.cookies(a.url)).map((c) => `${c.name}=${c.value}`).join('; ');
  const session = await fetch(`${b.url}/api/v1/session`, { headers: { cookie } });
  assert.equal(session.status, 200);
  assert.equal((await session.json()).role, 'editor');

  // An admin on the other node disables her account...
  const admin = await suite.open(b);
  await admin.page.getByRole('link', { name: 'People' }).click();
  await admin.page.getByRole('button', { name: 'Disable ana@example.com and end their sessions' }).click();
  await admin.page.locator('tr[data-account="ana@example.com"]', { hasText: 'Disabled' }).waitFor();

  // ...and her session on the first node is refused: the console is back at sign-in.
  await ana.page.reload();
  await ana.page.getByRole('button', { name: 'Sign in with SSO (Test IdP)' }).waitFor();
  assert.equal(await ana.page.locator('#signed-in-as').count(), 0);
  for (const n of [a, b]) assert.equal((await fetch(`${n.url}/api/v1/session`, { headers: { cookie } })).status, 401);
});
