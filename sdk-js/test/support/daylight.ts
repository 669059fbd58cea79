// A private Daylight server for one test file: `daylight serve` on a free
// loopback port with a temp SQLite file, a random admin token and 500 ms
// heartbeats; it can be killed and started again on the same port and
// database. The binary comes from DAYLIGHT_BIN, else
// $CARGO_TARGET_DIR/debug/daylight, else <repo>/target/debug/daylight (built
// by `cargo test --workspace` in scripts/test.sh).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { REPO_ROOT } from './paths.js';

export const HEARTBEAT_MS = 500;

export function daylightBinary(): string {
  if (process.env.DAYLIGHT_BIN) return resolve(process.env.DAYLIGHT_BIN);
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, 'target');
  return join(target, 'debug', 'daylight');
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => ok(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it returns true; throws after `ms`. */
export async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export class DaylightServer {
  readonly adminToken = `dl_admin_${randomBytes(24).toString('hex')}`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'daylight-sdk-js-'));
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  private constructor(readonly port: number) {}

  /** Starts a server on a free port with a new database. */
  static async start(): Promise<DaylightServer> {
    const bin = daylightBinary();
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      throw new Error(
        `the Daylight binary ${bin} is missing or not executable: build it first ` +
          '(`cargo build -p daylight-server`, which `cargo test --workspace` also does) or set DAYLIGHT_BIN',
      );
    }
    const server = new DaylightServer(await freePort());
    await server.launch();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  output(): string {
    return this.log;
  }

  /** (Re)starts the process on the same port and database; waits for /healthz. */
  async launch(): Promise<void> {
    if (this.child !== undefined) throw new Error('already running');
    const child = spawn(daylightBinary(), ['serve'], {
      env: {
        ...process.env,
        DAYLIGHT_DATABASE_URL: `sqlite://${join(this.dir, 't.db')}`,
        DAYLIGHT_ADMIN_TOKEN: this.adminToken,
        DAYLIGHT_LISTEN: `127.0.0.1:${this.port}`,
        DAYLIGHT_HEARTBEAT_MS: String(HEARTBEAT_MS),
        RUST_LOG: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (d) => (this.log += d));
    child.stderr!.on('data', (d) => (this.log += d));
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
  async kill(): Promise<void> {
    if (this.child === undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  /** Stops the process and removes the database. */
  async stop(): Promise<void> {
    if (this.child !== undefined) {
      const child = this.child;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
      this.child = undefined;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One admin API call; throws with the body unless the status is `expect`. */
  async admin(
    method: string,
    path: string,
    { body, headers = {}, expect }: { body?: unknown; headers?: Record<string, string>; expect?: number } = {},
  ): Promise<{ status: number; headers: Headers; body: any }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.adminToken}`,
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

  async createEnvironment(key: string): Promise<void> {
    await this.admin('POST', '/api/v1/environments', { body: { key, name: key }, expect: 201 });
  }

  /** Creates a flag and sets its config in `env`. */
  async createFlag(
    env: string,
    key: string,
    flag: { variations: unknown[]; client_side?: boolean },
    config: Record<string, unknown>,
  ): Promise<void> {
    const created = await this.admin('POST', '/api/v1/flags', {
      body: { key, name: key, variations: flag.variations, client_side: flag.client_side ?? false },
      expect: 201,
    });
    await this.putConfig(env, key, config, created.headers.get('etag')!);
  }

  async putConfig(env: string, key: string, config: Record<string, unknown>, etag?: string): Promise<void> {
    const tag = etag ?? (await this.admin('GET', `/api/v1/flags/${key}/environments/${env}`, { expect: 200 })).headers.get('etag')!;
    await this.admin('PUT', `/api/v1/flags/${key}/environments/${env}`, { body: config, headers: { 'If-Match': tag }, expect: 200 });
  }

  async toggle(env: string, key: string, on: boolean): Promise<void> {
    await this.admin('POST', `/api/v1/flags/${key}/environments/${env}/toggle`, { body: { on }, expect: 200 });
  }

  async createSegment(env: string, key: string, segment: Record<string, unknown>): Promise<void> {
    await this.admin('POST', `/api/v1/environments/${env}/segments`, { body: { key, ...segment }, expect: 201 });
  }

  /** Creates an SDK key and returns its secret. */
  async createKey(env: string, kind: 'server' | 'client'): Promise<string> {
    const res = await this.admin('POST', `/api/v1/environments/${env}/keys`, { body: { kind, name: `sdk-js ${kind}` }, expect: 201 });
    return res.body.secret as string;
  }
}

/** A `StorageLike` in memory (what `localStorage` is to a browser). */
export class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** A logger that keeps what it is told (tests assert on it, and stay quiet). */
export class MemoryLogger {
  readonly lines: string[] = [];
  debug = (m: string) => void this.lines.push(`debug ${m}`);
  info = (m: string) => void this.lines.push(`info ${m}`);
  warn = (m: string) => void this.lines.push(`warn ${m}`);
  error = (m: string) => void this.lines.push(`error ${m}`);
}
