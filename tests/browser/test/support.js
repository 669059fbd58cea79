// What the browser tests run on: a private `daylight serve` (temp SQLite, a
// random admin token, a free loopback port), a tiny static site standing in
// for the app's CDN (or, behind nginx, for one server pool: `nginx.js`) (its index.html's bundle version is set by the test; the
// SDK is served from sdk-js/dist/ as ES modules), and Debian's Chromium
// driven by playwright-core.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, Daylight as Server, REPO_ROOT, checkBinaries, sleep } from '../../support/daylight.js';

export { REPO_ROOT, sleep };
export const SDK_DIST = join(REPO_ROOT, 'sdk-js', 'dist');

/** Polls `check` (sync or async) every 25 ms until it returns a truthy value; throws after `ms`. */
export async function until(what, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let value;
    try {
      value = await check();
    } catch {
      value = undefined; // e.g. a page in the middle of a navigation
    }
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Fails early, with what to do, when something the suite needs is missing. */
export function checkPrerequisites() {
  checkBinaries();
  if (!existsSync(join(SDK_DIST, 'browser', 'bundle.js'))) {
    throw new Error(`${SDK_DIST} has no browser build: run \`npm --prefix sdk-js ci && npm --prefix sdk-js run build\``);
  }
}

export class Daylight extends Server {
  static start(env = {}) {
    return super.start({ DAYLIGHT_HEARTBEAT_MS: '1000', ...env });
  }

  /** One admin API call; throws with the body unless the status is `expect`. */
  admin(method, path, options) {
    return this.call(method, path, options);
  }

  publish(version, extra = {}) {
    return this.admin('POST', '/api/v1/environments/production/apps/web/publish', { body: { version, ...extra }, expect: 200 });
  }

  /** Changes the app's reload settings (GET, then PUT with If-Match). */
  async setReload(reload) {
    const current = await this.admin('GET', '/api/v1/environments/production/apps/web/bundle', { expect: 200 });
    const body = { ...current.body, reload: { ...current.body.reload, ...reload } };
    for (const field of ['app', 'environment', 'version']) delete body[field];
    await this.admin('PUT', '/api/v1/environments/production/apps/web/bundle', {
      body,
      headers: { 'If-Match': current.headers.get('etag') },
      expect: 200,
    });
  }

  async status() {
    return (await this.admin('GET', '/api/v1/environments/production/apps/web/status', { expect: 200 })).body;
  }

  async clientKey() {
    const res = await this.admin('POST', '/api/v1/environments/production/keys', {
      body: { kind: 'client', name: 'browser tests' },
      expect: 201,
    });
    return res.body.secret;
  }
}

const TYPES = { '.js': 'text/javascript', '.map': 'application/json', '.html': 'text/html' };

/**
 * The app's "CDN": `/` is an index.html running bundle `version` (what the
 * test sets), `/sdk/…` is sdk-js/dist/. Every `/` served is logged with the
 * time and the version served. Query parameters of `/`: `ctx` (the context
 * key) and `backoff` (the SDK's first loop-protection delay, ms).
 */
export class Site {
  version = '1.0.0';
  hits = [];

  /** `pool`: the name of the server pool this site stands for (behind nginx), shown to the page as `state.pool`. */
  static async start(daylightUrl, clientKey, { pool } = {}) {
    const site = new Site();
    site.daylightUrl = daylightUrl;
    site.clientKey = clientKey;
    site.pool = pool ?? null;
    site.server = createServer((req, res) => site.serve(req, res));
    await new Promise((r) => site.server.listen(0, '127.0.0.1', r));
    site.port = site.server.address().port;
    return site;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Page loads (`/`) since `since` (ms), optionally of one context. */
  loads(since = 0, ctx) {
    return this.hits.filter((h) => h.at >= since && (ctx === undefined || h.ctx === ctx));
  }

  serve(req, res) {
    const url = new URL(req.url, this.url);
    if (url.pathname === '/') {
      const ctx = url.searchParams.get('ctx') ?? 'anonymous';
      const backoff = Number(url.searchParams.get('backoff') ?? 0) || undefined;
      this.hits.push({ at: Date.now(), ctx, version: this.version });
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(this.page(ctx, backoff));
      return;
    }
    if (url.pathname.startsWith('/sdk/')) {
      const file = normalize(join(SDK_DIST, url.pathname.slice('/sdk/'.length)));
      if (file.startsWith(SDK_DIST + sep) && existsSync(file)) {
        res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
        res.end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404).end();
  }

  page(ctx, backoff) {
    const config = { url: this.daylightUrl, clientKey: this.clientKey, ctx, backoff };
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>web</title>
<script>window.BUNDLE_VERSION = ${JSON.stringify(this.version)}; window.POOL = ${JSON.stringify(this.pool)};</script>
<script type="module">
import { createBrowserClient } from '/sdk/browser/index.js';
const config = (window.config = ${JSON.stringify(config)});
const state = (window.state = {
  version: window.BUNDLE_VERSION, pool: window.POOL, loadedAt: Date.now(), ready: false,
  answers: [], failed: [], reloading: [], flags: {}, changes: [],
});
const client = (window.client = createBrowserClient({
  url: config.url,
  clientKey: config.clientKey,
  context: { key: config.ctx },
  backoff: { initialMs: 100, maxMs: 500 },
  bundle: { app: 'web', version: window.BUNDLE_VERSION, backoff: config.backoff ? { initialMs: config.backoff } : undefined },
}));
client.on('bundle', (answer) => state.answers.push({ ...answer, at: Date.now() }));
client.on('reload_failed', (failed) => state.failed.push({ ...failed, at: Date.now() }));
client.on('reloading', (r) => state.reloading.push({ ...r, at: Date.now() }));
client.on('ready', () => { state.ready = true; state.flags = client.allFlags(); });
client.on('change', (event) => {
  state.flags = client.allFlags();
  state.changes.push({ at: Date.now(), flags: event.flags, values: client.allFlags() });
});
</script></head><body>web</body></html>`;
  }

  stop() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** The page's `window.state`, or undefined while it navigates. */
export async function pageState(page) {
  try {
    return await page.evaluate(() => window.state ?? null);
  } catch {
    return undefined;
  }
}
