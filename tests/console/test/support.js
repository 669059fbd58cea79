// What the console tests run on: a private `daylight serve` (temp SQLite, a
// random admin token, a free loopback port), the CLI of the same binary, and
// Debian's Chromium driven by playwright-core.
import { execFile } from 'node:child_process';
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
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return { context, page, errors };
}
