// What every browser suite (tests/browser, tests/console) runs on: a private
// `daylight serve` (temp SQLite, a random admin token, a free loopback
// port) and Debian's Chromium. Node built-ins only, so each suite imports it
// by path; playwright-core comes from the suite's own node_modules.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
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

export function daylightBinary() {
  if (process.env.DAYLIGHT_BIN) return resolve(process.env.DAYLIGHT_BIN);
  return join(REPO_ROOT, 'target', 'debug', 'daylight');
}

/** Fails early, with what to do, when the binary or Chromium is missing. */
export function checkBinaries() {
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

/** A private server; suites extend it with their own helpers. */
export class Daylight {
  adminToken = `dl_admin_${randomBytes(24).toString('hex')}`;
  dir = mkdtempSync(join(tmpdir(), 'daylight-test-'));
  log = '';

  /** Starts a server of this class with extra environment `env`; resolves once /healthz answers. */
  static async start(env = {}) {
    const server = new this();
    server.port = await freePort();
    const child = spawn(daylightBinary(), ['serve'], {
      env: {
        ...process.env,
        DAYLIGHT_DATABASE_URL: `sqlite://${join(server.dir, 't.db')}`,
        DAYLIGHT_ADMIN_TOKEN: server.adminToken,
        DAYLIGHT_LISTEN: `127.0.0.1:${server.port}`,
        RUST_LOG: 'warn',
        ...env,
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

  /** One API call with the admin token (or `token`); throws with the body unless the status is `expect`. */
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
}
