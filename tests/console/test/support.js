// What the console tests run on: a private `daylight serve` (temp SQLite, a
// random admin token, a free loopback port), the CLI of the same binary, and
// Debian's Chromium driven by playwright-core.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { after, afterEach, before } from 'node:test';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, Daylight as Server, REPO_ROOT, checkBinaries, daylightBinary, sleep } from '../../support/daylight.js';

export { REPO_ROOT, sleep };
export const checkPrerequisites = checkBinaries;

export class Daylight extends Server {
  /** A new admin token with `role`. */
  async token(role) {
    return (await this.call('POST', '/api/v1/tokens', { body: { name: `${role} person`, role }, expect: 201 })).body.secret;
  }

  async sdkKey(env, kind) {
    return (await this.call('POST', `/api/v1/environments/${env}/keys`, { body: { kind, name: 'console tests' }, expect: 201 })).body.secret;
  }

  /** Runs the CLI of the same binary against this server. */
  async cli(...args) {
    const { stdout } = await promisify(execFile)(daylightBinary(), args, {
      env: { ...process.env, DAYLIGHT_URL: this.url, DAYLIGHT_TOKEN: this.adminToken, RUST_LOG: 'warn' },
    });
    return stdout;
  }
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** A page of a fresh browser context signed in with `token`; page errors fail the test through `errors`. */
export async function openConsole(browser, server, token, { viewport = { width: 1366, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(new Error(m.text()));
  });
  await page.goto(server.url);
  // Tokens are the secondary way in (automation): behind a disclosure.
  await page.getByText('Sign in with a token (automation)').click();
  await page.getByLabel('Token', { exact: true }).fill(token);
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return { context, page, errors };
}

/** A fresh browser context on the console, signed out; page errors go to `errors`. */
export async function openSignedOut(browser, server, path = '/') {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(new Error(m.text()));
  });
  await page.goto(`${server.url}${path}`);
  return { context, page, errors };
}

/** Invites `email` with `role` (admin token) and accepts through the API: the person can then sign in with `password`. */
export async function person(server, email, role, password = 'correct horse battery') {
  const { code } = (await server.call('POST', '/api/v1/invitations', { body: { email, role }, expect: 201 })).body;
  await server.call('POST', '/api/v1/invitations/accept', { body: { code, name: email.split('@')[0], password }, expect: 201, token: '' });
  return password;
}

/** Signs in on the console's form as a person. */
export async function signInAs(page, email, password) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/**
 * The hooks of a test file: one browser for the file, and `setup(role)`: a
 * fresh server and a page signed in with a token of `role`, both gone after
 * the test, which fails if the page logged an error.
 */
export function consoleSuite() {
  const state = { browser: undefined, cleanups: [] };
  before(async () => {
    checkPrerequisites();
    state.browser = await launchBrowser();
  });
  after(async () => {
    await state.browser?.close();
  });
  afterEach(async () => {
    while (state.cleanups.length > 0) await state.cleanups.pop()();
  });
  state.setup = async (role = 'admin', options = {}) => {
    const server = await Daylight.start();
    state.cleanups.push(() => server.stop());
    const token = role === 'admin' ? server.adminToken : await server.token(role);
    const opened = await openConsole(state.browser, server, token, options);
    state.cleanups.push(() => opened.context.close());
    state.cleanups.push(() => assert.deepEqual(opened.errors.map(String), [], 'no errors in the page'));
    return { server, ...opened };
  };
  /** Another signed-in page on `server` (admin token unless `token`), closed after the test. */
  state.open = async (server, options = {}, token = server.adminToken) => {
    const opened = await openConsole(state.browser, server, token, options);
    state.cleanups.push(() => opened.context.close());
    state.cleanups.push(() => assert.deepEqual(opened.errors.map(String), [], 'no errors in the page'));
    return opened;
  };
  return state;
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (WCAG 2.x A and AA rules) on the page as it is now and fails
 * with each violation's rule and elements. `what` names the page state.
 */
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(await axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return result.violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(violations, [], `axe-core violations on ${what}`);
}

/**
 * Waits (up to `timeout` ms) for `locator`'s element to hold focus, and fails
 * naming what holds it instead. The console moves focus in effects that run
 * after the DOM is painted, so checking at once would race with them.
 */
export async function assertFocused(locator, what, timeout = 5000) {
  const page = locator.page();
  const handle = await locator.elementHandle();
  try {
    await page.waitForFunction((el) => el === document.activeElement, handle, { timeout });
  } catch {
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      return el ? `<${el.tagName.toLowerCase()}${el.id ? ` id="${el.id}"` : ''}>` : 'nothing';
    });
    assert.fail(`${what}: focus is on ${at}`);
  } finally {
    await handle.dispose();
  }
}
