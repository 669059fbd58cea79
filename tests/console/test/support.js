// What the console tests run on: a private `daylight serve` (temp SQLite, a
// random admin token, a free loopback port), the CLI of the same binary, and
// Debian's Chromium driven by playwright-core.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function daylightBinary() {
  if (process.env.DAYLIGHT_BIN) return resolve(process.env.DAYLIGHT_BIN);
  return join(REPO_ROOT, 'target', 'debug', 'daylight');
}

/** Fails early, with what to do, when something the suite needs is missing. */
export function checkPrerequisites() {
  const bin = daylightBinary();
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`the Daylight binary ${bin} is missing: run \`cargo build -p daylight-server\` (or set DAYLIGHT_BIN)`);
  }
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: \`apt-get install -y chromium\` (or set CHROMIUM_BIN)`);
  }
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createNetServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

export class Daylight {
  adminToken = `dl_admin_${randomBytes(24).toString('hex')}`;
  dir = mkdtempSync(join(tmpdir(), 'daylight-console-'));
  log = '';

  static async start() {
    const server = new Daylight();
    server.port = await freePort();
    const child = spawn(daylightBinary(), ['serve'], {
      env: {
        ...process.env,
        DAYLIGHT_DATABASE_URL: `sqlite://${join(server.dir, 't.db')}`,
        DAYLIGHT_ADMIN_TOKEN: server.adminToken,
        DAYLIGHT_LISTEN: `127.0.0.1:${server.port}`,
        RUST_LOG: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.child = child;
    child.stdout.on('data', (d) => (server.log += d));
    child.stderr.on('data', (d) => (server.log += d));
    let dead = false;
    server.exited = new Promise((r) => child.on('exit', () => ((dead = true), r())));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (dead) throw new Error(`daylight exited before answering /healthz:\n${server.log}`);
      try {
        if ((await fetch(`${server.url}/healthz`)).ok) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`daylight did not answer /healthz within 20 s:\n${server.log}`);
      await sleep(25);
    }
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop() {
    if (this.child) {
      const child = this.child;
      this.child = undefined;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One API call with the admin token (or `token`); throws unless the status is `expect`. */
  async call(method, path, { body, headers = {}, expect, token = this.adminToken } = {}) {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (expect !== undefined && res.status !== expect) {
      throw new Error(`${method} ${path}: expected ${expect}, got ${res.status}: ${text}`);
    }
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }

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
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
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
