// The one harness every JavaScript suite starts Daylight with (tests/browser,
// tests/console, tests/ofrep-node, sdk-js): a private `daylight serve` (temp
// SQLite, a random admin token, a free loopback port) that can be killed and
// started again on the same port and database, its admin API, and Debian's
// Chromium for the browser suites. Node built-ins only, so each suite
// imports it by path; playwright-core comes from a suite's own node_modules.
// Types for the TypeScript suite: daylight.d.ts.
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

/** A port nobody listens on right now (bind 0, read it, let it go). */
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

/** DAYLIGHT_BIN, else $CARGO_TARGET_DIR/debug/daylight, else <repo>/target/debug/daylight. */
export function daylightBinary() {
  if (process.env.DAYLIGHT_BIN) return resolve(process.env.DAYLIGHT_BIN);
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, 'target');
  return join(target, 'debug', 'daylight');
}

/** Fails early, with what to do, when the Daylight binary is missing. */
export function checkDaylight() {
  const bin = daylightBinary();
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `the Daylight binary ${bin} is missing or not executable: build it first ` +
        '(`cargo build -p daylight-server`, which `cargo test --workspace` also does) or set DAYLIGHT_BIN',
    );
  }
}

/** Fails early, with what to do, when the binary or Chromium is missing. */
export function checkBinaries() {
  checkDaylight();
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: \`apt-get install -y chromium\` (or set CHROMIUM_BIN)`);
  }
}

/** A private server; suites extend it with their own helpers. */
export class Daylight {
  /** Extra environment of every server of this class (a suite's subclass sets its own). */
  static defaultEnv = {};

  adminToken = `dl_admin_${randomBytes(24).toString('hex')}`;
  dir = mkdtempSync(join(tmpdir(), 'daylight-test-'));
  /** What the process printed (every run). */
  log = '';
  /** Extra environment of every run. */
  env = {};
  port = 0;
  child = undefined;
  exited = Promise.resolve();

  /**
   * Starts a server of this class on a free port with a new database and
   * extra environment `env` (over the class's `defaultEnv`); resolves once
   * /healthz answers.
   */
  static async start(env = {}) {
    checkDaylight();
    const server = new this();
    server.env = { ...this.defaultEnv, ...env };
    server.port = await freePort();
    try {
      await server.launch();
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get running() {
    return this.child !== undefined;
  }

  output() {
    return this.log;
  }

  /** (Re)starts the process on the same port and database; resolves once /healthz answers. */
  async launch() {
    if (this.child !== undefined) throw new Error('already running');
    const child = spawn(daylightBinary(), ['serve'], {
      env: {
        ...process.env,
        DAYLIGHT_DATABASE_URL: `sqlite://${join(this.dir, 't.db')}`,
        DAYLIGHT_ADMIN_TOKEN: this.adminToken,
        DAYLIGHT_LISTEN: `127.0.0.1:${this.port}`,
        RUST_LOG: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (d) => (this.log += d));
    child.stderr.on('data', (d) => (this.log += d));
    let dead = false;
    this.exited = new Promise((r) =>
      child.on('exit', () => {
        dead = true;
        r();
      }),
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (dead) {
        this.child = undefined;
        throw new Error(`daylight exited before answering /healthz:\n${this.log}`);
      }
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`daylight did not answer /healthz within 20 s:\n${this.log}`);
      await sleep(25);
    }
  }

  /** Kills the process (SIGKILL: no goodbye to the SDKs) and waits for it. */
  async kill() {
    if (this.child === undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  /** Stops the process (SIGTERM, SIGKILL after 3 s) and removes the database. */
  async stop() {
    if (this.child !== undefined) {
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
