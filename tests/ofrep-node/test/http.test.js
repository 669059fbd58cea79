// The OFREP wire contract the stock providers rely on, checked with plain
// fetch: ETag / If-None-Match on bulk evaluation, CORS for browsers, the
// shapes of success and error bodies. Plus a check of the murmur3 helper the
// rollout assertions use.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Daylight } from '../../support/daylight.js';
import { seed } from '../lib/fixtures.js';
import { murmur3x86_32 } from '../lib/murmur3.js';

let server;
let keys;

before(async () => {
  server = await Daylight.start();
  keys = await seed(server);
});

after(async () => {
  await server?.stop();
});

function ofrep(path, { secret, body, headers = {}, method = 'POST' } = {}) {
  return fetch(`${server.url}/ofrep/v1${path}`, {
    method,
    headers: {
      ...(secret ? { Authorization: `Bearer ${secret}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

test('murmur3_x86_32 helper matches published answers', () => {
  const hash = (s, seed = 0) => murmur3x86_32(new TextEncoder().encode(s), seed);
  assert.equal(hash(''), 0);
  assert.equal(hash('', 1), 0x514e28b7);
  assert.equal(hash('hello'), 0x248bfa47);
  assert.equal(hash('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
});

describe('bulk evaluation: ETag and If-None-Match', () => {
  const context = { context: { targetingKey: 'player-1', game: 'omaha' } };

  test('a repeat with If-None-Match gets 304 with no body; another tag gets 200', async () => {
    const first = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: context });
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type'), /^application\/json/);
    const etag = first.headers.get('etag');
    // Node's fetch asks for gzip: the compressed form's tag is weak.
    assert.match(etag ?? '', /^(W\/)?"[^"]+"$/, 'a quoted ETag');
    await first.arrayBuffer();

    const again = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: context, headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    assert.equal(again.headers.get('etag'), etag);

    const other = await ofrep('/evaluate/flags', {
      secret: keys.clientKey,
      body: context,
      headers: { 'If-None-Match': '"not-the-tag"' },
    });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('etag'), etag);
    await other.arrayBuffer();
  });

  test(
    'If-None-Match uses weak comparison: W/"tag" also gets 304 (RFC 9110 13.1.2)',
    async () => {
      const first = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: context });
      const etag = first.headers.get('etag');
      await first.arrayBuffer();
      const weak = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: context, headers: { 'If-None-Match': `W/${etag}` } });
      await weak.arrayBuffer();
      assert.equal(weak.status, 304);
    },
  );

  test('a different context gets a different ETag and a 200 even with the old tag', async () => {
    const first = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: context });
    const etag = first.headers.get('etag');
    await first.arrayBuffer();
    const holdem = await ofrep('/evaluate/flags', {
      secret: keys.clientKey,
      body: { context: { targetingKey: 'player-1', game: 'holdem' } },
      headers: { 'If-None-Match': etag },
    });
    assert.equal(holdem.status, 200);
    assert.notEqual(holdem.headers.get('etag'), etag);
    const body = await holdem.json();
    assert.equal(body.flags.find((f) => f.key === 'new-lobby').value, false);
  });

  test('every entry is an OFREP success or failure; client keys get client-side flags only', async () => {
    const read = async (secret) => (await (await ofrep('/evaluate/flags', { secret, body: context })).json()).flags;
    const client = await read(keys.clientKey);
    const server_ = await read(keys.serverKey);
    for (const entry of [...client, ...server_]) {
      assert.equal(typeof entry.key, 'string');
      if ('errorCode' in entry) {
        assert.equal(typeof entry.errorCode, 'string', JSON.stringify(entry));
      } else {
        assert.ok('value' in entry, `success without value: ${JSON.stringify(entry)}`);
        assert.equal(typeof entry.reason, 'string');
        assert.equal(typeof entry.variant, 'string');
      }
    }
    assert.ok(!client.some((f) => f.key === 'server-only'));
    assert.ok(server_.some((f) => f.key === 'server-only'));
    assert.ok(client.some((f) => f.key === 'welcome-banner'));
  });
});

describe('CORS for browser clients', () => {
  const origin = 'https://games.example';
  // What the web provider sends: Authorization (or X-API-Key), a JSON
  // Content-Type (not safelisted with charset=utf-8) and If-None-Match.
  const requested = ['authorization', 'x-api-key', 'content-type', 'if-none-match'];

  /**
   * The requested headers this preflight does not allow. `*` allows any name
   * for a request without credentials, which is how Chromium 156 and Firefox
   * ESR 153 treat it (checked by hand with both). The Fetch standard no longer
   * lets `*` cover Authorization: see the report.
   */
  function refusedHeaders(res, names) {
    const allowed = (res.headers.get('access-control-allow-headers') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    return names.filter((h) => !allowed.includes(h) && !allowed.includes('*'));
  }

  for (const path of ['/evaluate/flags', '/evaluate/flags/welcome-banner']) {
    test(`preflight for ${path} allows the origin, POST and the provider's headers`, async () => {
      const res = await ofrep(path, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': requested.join(','),
        },
      });
      assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
      const allowOrigin = res.headers.get('access-control-allow-origin');
      assert.ok(allowOrigin === '*' || allowOrigin === origin, `Access-Control-Allow-Origin: ${allowOrigin}`);
      const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase();
      assert.ok(methods.includes('POST') || methods === '*', `Access-Control-Allow-Methods: ${methods}`);
      assert.deepEqual(refusedHeaders(res, requested), [], `Access-Control-Allow-Headers: ${res.headers.get('access-control-allow-headers')}`);
    });
  }

  // Access-Control-Expose-Headers belongs on the actual response, where the
  // browser reads it; a preflight does not carry it (nor needs to).
  test('the actual response allows the origin and exposes ETag', async () => {
    const res = await ofrep('/evaluate/flags', {
      secret: keys.clientKey,
      body: { context: { targetingKey: 'player-1' } },
      headers: { Origin: origin },
    });
    assert.equal(res.status, 200);
    const allowOrigin = res.headers.get('access-control-allow-origin');
    assert.ok(allowOrigin === '*' || allowOrigin === origin, `Access-Control-Allow-Origin: ${allowOrigin}`);
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    assert.ok(exposed.includes('etag') || exposed.includes('*'), `Access-Control-Expose-Headers: ${exposed}`);
    await res.arrayBuffer();
  });

  test('a 304 also carries the CORS headers', async () => {
    const first = await ofrep('/evaluate/flags', { secret: keys.clientKey, body: {}, headers: { Origin: origin } });
    const etag = first.headers.get('etag');
    await first.arrayBuffer();
    const res = await ofrep('/evaluate/flags', {
      secret: keys.clientKey,
      body: {},
      headers: { Origin: origin, 'If-None-Match': etag },
    });
    assert.equal(res.status, 304);
    assert.ok(res.headers.get('access-control-allow-origin'));
    assert.ok((res.headers.get('access-control-expose-headers') ?? '').toLowerCase().includes('etag'));
  });
});

describe('single evaluation bodies', () => {
  test('success: key, value, reason, variant, metadata; JSON content type', async () => {
    const res = await ofrep('/evaluate/flags/welcome-banner', { secret: keys.serverKey, body: { context: { targetingKey: 'qa-1' } } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    const body = await res.json();
    assert.deepEqual(
      { key: body.key, value: body.value, reason: body.reason, variant: body.variant },
      { key: 'welcome-banner', value: true, reason: 'TARGETING_MATCH', variant: '1' },
    );
    for (const v of Object.values(body.metadata ?? {})) assert.ok(['string', 'number', 'boolean'].includes(typeof v));
  });

  test('unknown flag: 404 with key and errorCode FLAG_NOT_FOUND', async () => {
    const res = await ofrep('/evaluate/flags/no-such-flag', { secret: keys.serverKey, body: { context: {} } });
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.deepEqual([body.key, body.errorCode], ['no-such-flag', 'FLAG_NOT_FOUND']);
  });

  test('no context, an empty object or an empty body: still evaluated', async () => {
    for (const body of [{}, { context: {} }, '']) {
      const res = await ofrep('/evaluate/flags/lobby-theme', { secret: keys.serverKey, body });
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal((await res.json()).value, 'midnight');
    }
  });

  test('malformed JSON: 400 PARSE_ERROR with the key', async () => {
    const res = await ofrep('/evaluate/flags/lobby-theme', { secret: keys.serverKey, body: '{"context": ' });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.deepEqual([body.key, body.errorCode], ['lobby-theme', 'PARSE_ERROR']);
  });

  test('missing or unknown key: 401', async () => {
    for (const secret of [undefined, 'dl_server_nope']) {
      const res = await ofrep('/evaluate/flags/lobby-theme', { secret, body: {} });
      assert.equal(res.status, 401);
      await res.arrayBuffer();
      const bulk = await ofrep('/evaluate/flags', { secret, body: {} });
      assert.equal(bulk.status, 401);
      await bulk.arrayBuffer();
    }
  });
});
