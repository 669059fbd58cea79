// A private Daylight server for one test file: the shared harness
// (tests/support/daylight.js: `daylight serve` on a free loopback port with a
// temp SQLite file and a random admin token, which can be killed and started
// again on the same port and database) with 500 ms heartbeats and the admin
// calls these tests make; and in-memory stand-ins for storage and logging.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT } from './paths.js';

type Shared = typeof import('../../../tests/support/daylight.js');

// Found from the repository root: the compiled tests run from dist-test/, so
// a relative import would point elsewhere.
const shared: Shared = await import(pathToFileURL(join(REPO_ROOT, 'tests', 'support', 'daylight.js')).href);

export const { sleep } = shared;

export const HEARTBEAT_MS = 500;

/** Polls `check` every 20 ms until it returns true; throws after `ms`. */
export async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export class DaylightServer extends shared.Daylight {
  static override defaultEnv = { DAYLIGHT_HEARTBEAT_MS: String(HEARTBEAT_MS) };

  async createEnvironment(key: string): Promise<void> {
    await this.call('POST', '/api/v1/environments', { body: { key, name: key }, expect: 201 });
  }

  /** Creates a flag and sets its config in `env`. */
  async createFlag(
    env: string,
    key: string,
    flag: { variations: unknown[]; client_side?: boolean },
    config: Record<string, unknown>,
  ): Promise<void> {
    const created = await this.call('POST', '/api/v1/flags', {
      body: { key, name: key, variations: flag.variations, client_side: flag.client_side ?? false },
      expect: 201,
    });
    await this.putConfig(env, key, config, created.headers.get('etag')!);
  }

  async putConfig(env: string, key: string, config: Record<string, unknown>, etag?: string): Promise<void> {
    const tag = etag ?? (await this.call('GET', `/api/v1/flags/${key}/environments/${env}`, { expect: 200 })).headers.get('etag')!;
    await this.call('PUT', `/api/v1/flags/${key}/environments/${env}`, { body: config, headers: { 'If-Match': tag }, expect: 200 });
  }

  async toggle(env: string, key: string, on: boolean): Promise<void> {
    await this.call('POST', `/api/v1/flags/${key}/environments/${env}/toggle`, { body: { on }, expect: 200 });
  }

  async createSegment(env: string, key: string, segment: Record<string, unknown>): Promise<void> {
    await this.call('POST', `/api/v1/environments/${env}/segments`, { body: { key, ...segment }, expect: 201 });
  }

  /** Creates an SDK key and returns its secret. */
  async createKey(env: string, kind: 'server' | 'client'): Promise<string> {
    const res = await this.call('POST', `/api/v1/environments/${env}/keys`, { body: { kind, name: `sdk-js ${kind}` }, expect: 201 });
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
