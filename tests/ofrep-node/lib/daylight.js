// Starts a private Daylight server for one test file and talks to its admin
// API with plain fetch. The binary comes from DAYLIGHT_BIN, else
// <repo>/target/debug/daylight (or $CARGO_TARGET_DIR/debug/daylight).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function daylightBinary() {
  if (process.env.DAYLIGHT_BIN) return resolve(process.env.DAYLIGHT_BIN);
  const targetDir = process.env.CARGO_TARGET_DIR;
  const target = targetDir ? (isAbsolute(targetDir) ? targetDir : join(REPO, targetDir)) : join(REPO, 'target');
  return join(target, 'debug', 'daylight');
}

/** A port nobody listens on right now (bind 0, read it, let it go). */
export function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `daylight serve` on a free loopback port with a temp SQLite file and
 * a random admin token, and waits for /healthz. Returns the server handle.
 */
export async function startDaylight() {
  const bin = daylightBinary();
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `the Daylight binary ${bin} is missing or not executable: build it first ` +
        '(`cargo build -p daylight-server`, which `cargo test --workspace` also does) or set DAYLIGHT_BIN',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'daylight-ofrep-node-'));
  const adminToken = `dl_admin_${randomBytes(24).toString('hex')}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      DAYLIGHT_DATABASE_URL: `sqlite://${join(dir, 't.db')}`,
      DAYLIGHT_ADMIN_TOKEN: adminToken,
      DAYLIGHT_LISTEN: `127.0.0.1:${port}`,
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let exited = null;
  const exit = new Promise((r) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      r(exited);
    }),
  );

  const server = {
    url,
    adminToken,
    output: () => output,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`daylight exited (${JSON.stringify(exited)}) before answering /healthz:\n${output}`);
    }
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`daylight did not answer ${url}/healthz within 15 s:\n${output}`);
    }
    await sleep(50);
  }
  return server;
}

/** One admin API call; throws with the body when the status is not `expect`. */
export async function admin(server, method, path, { body, headers = {}, expect } = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${server.adminToken}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (expect !== undefined && res.status !== expect) {
    throw new Error(`${method} ${path}: expected ${expect}, got ${res.status}: ${text}`);
  }
  return { status: res.status, headers: res.headers, body: json };
}
