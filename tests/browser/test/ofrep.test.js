// The stock OpenFeature OFREP web provider (@openfeature/web-sdk +
// @openfeature/ofrep-web-provider from npm, unmodified) in a real Chromium
// against a real server: what only a browser enforces. A 429's Retry-After
// must be readable by the page (exposed by CORS) so the provider backs off;
// a page from an origin outside DAYLIGHT_ALLOWED_ORIGINS is refused with 403,
// preflight included.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, test } from 'node:test';

import { Daylight, checkBinaries, sleep } from '../../support/daylight.js';
import { launchBrowser, until } from './support.js';

const MODULES = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@openfeature');
// The provider's own ofrep-core (npm nests it under the provider while
// another version sits at the top, and hoists it otherwise).
const OFREP_CORE = ['ofrep-web-provider/node_modules/@openfeature/ofrep-core', 'ofrep-core'].find((dir) =>
  existsSync(join(MODULES, dir)),
);
// Bare specifiers of the packages' ES builds, resolved for the browser.
const IMPORTS = {
  '@openfeature/core': '/m/core/dist/esm/index.js',
  '@openfeature/web-sdk': '/m/web-sdk/dist/esm/index.js',
  '@openfeature/ofrep-core': `/m/${OFREP_CORE}/index.esm.js`,
  '@openfeature/ofrep-web-provider': '/m/ofrep-web-provider/index.esm.js',
};
const RATE_LIMIT = 5;

let browser;
const cleanups = [];

before(async () => {
  checkBinaries();
  for (const path of Object.values(IMPORTS)) {
    if (!existsSync(join(MODULES, path.slice('/m/'.length)))) {
      throw new Error(`${path} is missing: run \`npm --prefix tests/browser ci\``);
    }
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

/**
 * A page running the stock provider against `config.url` with `config.key`,
 * polling every 100 ms. `window.seen` lists every answer the provider got
 * (time, status, the Retry-After it could read); `window.state` its status.
 */
function page(config) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>ofrep</title>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>
<script type="module">
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
const config = ${JSON.stringify(config)};
const seen = (window.seen = []);
const state = (window.state = { ready: false, error: null });
const provider = new OFREPWebProvider({
  baseUrl: config.url,
  headers: [['Authorization', 'Bearer ' + config.key]],
  cacheMode: 'disabled',
  changeDetection: 'polling',
  pollInterval: 100,
  fetchImplementation: async (input, init) => {
    try {
      const response = await fetch(input, init);
      seen.push({ at: Date.now(), status: response.status, retryAfter: response.headers.get('retry-after') });
      return response;
    } catch (e) {
      seen.push({ at: Date.now(), status: 'failed' });
      throw e;
    }
  },
});
OpenFeature.addHandler(ProviderEvents.Ready, () => (state.ready = true));
OpenFeature.setProviderAndWait(provider, { targetingKey: 'u-1' }).catch((e) => (state.error = String(e)));
</script></head><body>ofrep</body></html>`;
}

/** A static site: `/` is the page, `/m/…` the @openfeature packages. */
async function site(config) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page(config));
      return;
    }
    const file = normalize(join(MODULES, url.pathname.slice('/m/'.length)));
    if (url.pathname.startsWith('/m/') && file.startsWith(MODULES + sep) && existsSync(file)) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(file));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

/** A server allowing `origins`, limited to RATE_LIMIT requests a second per key, with a client key and one flag. */
async function daylight(origins) {
  const server = await Daylight.start({ DAYLIGHT_ALLOWED_ORIGINS: origins.join(','), DAYLIGHT_RATE_LIMIT: String(RATE_LIMIT) });
  cleanups.push(() => server.stop());
  await server.call('POST', '/api/v1/flags', { body: { key: 'banner', client_side: true }, expect: 201 });
  const key = await server.call('POST', '/api/v1/environments/production/keys', {
    body: { kind: 'client', name: 'browser' },
    expect: 201,
  });
  return { server, key: key.body.secret };
}

/** Requests the server answered on `route` with `method` and `status`, from /metrics. */
async function answered(server, route, method, status) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = `daylight_http_requests_total{route="${route}",method="${method}",status="${status}"} `;
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length)) : 0;
}

async function open(url) {
  const context = await browser.newContext();
  cleanups.push(() => context.close());
  const tab = await context.newPage();
  tab.on('pageerror', (e) => console.error('page error:', e));
  await tab.goto(url);
  return tab;
}

test('a rate-limited provider reads Retry-After and waits that long before asking again', async () => {
  // The site's origin is only known once it listens: the page reads the config per request.
  const config = {};
  const origin = await site(config);
  const { server, key } = await daylight([origin]);
  Object.assign(config, { url: server.url, key });
  const tab = await open(origin);
  await until('the provider to be ready', () => tab.evaluate(() => window.state.ready));
  await sleep(3000);
  const seen = await tab.evaluate(() => window.seen);
  const limited = seen.filter((s) => s.status === 429);
  assert.ok(limited.length > 0, `polling every 100 ms went over ${RATE_LIMIT}/s: ${JSON.stringify(seen)}`);
  for (const answer of limited) {
    assert.ok(answer.retryAfter !== null, 'the page can read Retry-After');
    const next = seen.find((s) => s.at > answer.at);
    if (next === undefined) continue;
    // The provider waits until Retry-After has passed (a timer tick of slack).
    assert.ok(
      next.at - answer.at >= Number(answer.retryAfter) * 1000 - 150,
      `asked again ${next.at - answer.at} ms after a 429 with Retry-After: ${answer.retryAfter}`,
    );
  }
  // Over-limit answers stay at about one per second instead of half of all polls.
  assert.ok(limited.length <= 4, `${limited.length} rate-limited answers in 3 s`);
});

test('a page from an origin outside DAYLIGHT_ALLOWED_ORIGINS is refused with 403, preflight included', async () => {
  const config = {};
  const allowed = await site(config);
  const other = await site(config);
  const { server, key } = await daylight([allowed]);
  Object.assign(config, { url: server.url, key });
  const route = '/ofrep/v1/evaluate/flags';

  const refused = await open(other);
  await until('the provider to fail', () => refused.evaluate(() => window.state.error));
  assert.ok((await answered(server, route, 'OPTIONS', 403)) >= 1, 'the preflight was refused');
  assert.equal(await answered(server, route, 'POST', 200), 0, 'nothing was evaluated');

  const welcome = await open(allowed);
  await until('the provider to be ready', () => welcome.evaluate(() => window.state.ready));
  assert.ok((await answered(server, route, 'POST', 200)) >= 1);
});
