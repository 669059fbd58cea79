// A change that reaches everyone, provably: turning a flag off in the
// console shows, live, how many connected SDKs acknowledged it (their
// receipts, added up by the server), and the audit entry keeps saying so.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { consoleSuite } from './support.js';

const suite = consoleSuite();

/**
 * Two app servers' streams opened from a blank page: one SDK that sends
 * receipts (it acknowledges each version it is sent), one older SDK that
 * does not. Resolves once both are synced.
 */
async function appServers(browser, server, key) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const url = `${server.url.replace(/^http/, 'ws')}/sdk/v1/stream`;
  await page.evaluate(
    ({ url, key }) =>
      Promise.all(
        [true, false].map(
          (receipts) =>
            new Promise((resolve, reject) => {
              const socket = new WebSocket(url);
              socket.onopen = () => socket.send(JSON.stringify({ type: 'hello', protocols: [1], key, receipts }));
              socket.onerror = reject;
              socket.onmessage = (e) => {
                const m = JSON.parse(e.data);
                if (m.type === 'synced') resolve();
                if (receipts && (m.type === 'synced' || m.type === 'patch')) {
                  socket.send(JSON.stringify({ type: 'applied', version: m.version }));
                }
              };
              window.sockets = [...(window.sockets ?? []), socket];
            }),
        ),
      ),
    { url, key },
  );
  return context;
}

test('turning a flag off shows how many connected SDKs have the change, live and in the audit log', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  await server.call('POST', '/api/v1/flags/new-lobby/environments/staging/toggle', { body: { on: true }, expect: 200 });
  const apps = await appServers(suite.browser, server, await server.sdkKey('staging', 'server'));
  suite.cleanups.push(() => apps.close());

  await page.getByRole('switch', { name: /new-lobby in staging/ }).click();
  const live = page.getByRole('status').filter({ hasText: /connected SDKs/ });
  await live.filter({ hasText: 'Reached 1 of 2 connected SDKs' }).waitFor().catch(async (e) => {
    // Say what the page showed instead (a receipt still counting, or none).
    const shown = (await live.allTextContents()).join(' | ') || 'no receipt status';
    assert.fail(`${e.message}\nthe page showed: ${shown}`);
  });
  const text = await live.textContent();
  assert.match(text, /in \d+ ms \(median \d+ ms\)/);
  assert.match(text, /1 without receipts/);
  assert.doesNotMatch(text, /not yet/);

  await page.getByRole('link', { name: 'Audit log' }).click();
  const entry = page.locator('li.entry').filter({ hasText: 'new-lobby' }).first();
  await entry.locator('.receipt').filter({ hasText: 'Reached 1 of 2 connected SDKs' }).waitFor();
});
