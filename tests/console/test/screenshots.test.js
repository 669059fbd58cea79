// Screenshots of the console's main pages for the README (docs/console/*.png),
// taken from a real server with a small realistic data set. Runs only with
// CONSOLE_SCREENSHOTS=1 (`npm run screenshots`). With pngquant on the PATH
// the pictures are quantized (a third of the bytes, text still sharp).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Daylight, REPO_ROOT, checkPrerequisites, launchBrowser, openConsole, sleep } from './support.js';

const OUT = join(REPO_ROOT, 'docs', 'console');

test('screenshots of the main pages', { skip: process.env.CONSOLE_SCREENSHOTS !== '1' && 'set CONSOLE_SCREENSHOTS=1' }, async () => {
  checkPrerequisites();
  mkdirSync(OUT, { recursive: true });
  const server = await Daylight.start();
  const browser = await launchBrowser();
  try {
    const api = (method, path, body, headers) => server.call(method, `/api/v1${path}`, { body, headers });
    const flags = [
      ['new-lobby', 'New lobby', ['lobby', 'q3'], 'The redesigned game lobby'],
      ['checkout-v2', 'Checkout v2', ['payments'], 'One-page checkout'],
      ['live-chat', 'Live chat at tables', ['social'], 'Chat between players at one table'],
      ['dark-mode', 'Dark mode', ['ui'], 'Follow the system colour scheme'],
      ['omaha-hi-lo', 'Omaha Hi-Lo tables', ['games'], 'New game variant'],
    ];
    for (const [key, name, tags, description] of flags) await api('POST', '/flags', { key, name, tags, description, client_side: key === 'dark-mode' });
    await api('POST', '/environments/production/segments', { key: 'vip', name: 'VIP players', description: 'Top tier, from the CRM export' });
    await server.call('PUT', '/api/v1/environments/production/segments/vip/included', {
      body: Array.from({ length: 12_500 }, (_, i) => `player-${i}`),
    });
    await api('POST', '/environments/production/segments', {
      key: 'staff', name: 'Staff', included: ['ana', 'ben', 'chloe'],
      rules: [{ id: 'company-email', clauses: [{ attribute: 'email', op: 'ends_with', values: ['@example.com'], case_insensitive: true }] }],
    });
    const read = await api('GET', '/flags/new-lobby/environments/production');
    await api('PUT', '/flags/new-lobby/environments/production', {
      ...read.body,
      targets: [{ variation: 1, values: ['qa-1', 'qa-2'] }],
      rules: [
        { id: 'staff', description: 'Staff first', clauses: [{ attribute: '', op: 'in_segment', values: ['staff'] }], serve: { variation: 1 } },
        {
          id: 'omaha', description: 'Omaha tables, a quarter of them',
          clauses: [{ attribute: 'game', op: 'in', values: ['omaha'], case_insensitive: true }, { attribute: 'appVersion', op: 'semver_gt', values: ['2.3.0'] }],
          serve: { rollout: { variations: [{ variation: 0, weight: 75000 }, { variation: 1, weight: 25000 }], bucket_by: 'table_id' } },
        },
      ],
    }, { 'If-Match': read.headers.get('etag'), 'X-Audit-Comment': 'omaha tables first' });
    await api('POST', '/flags/new-lobby/environments/production/toggle', { on: true, comment: 'go' });
    await api('POST', '/flags/dark-mode/environments/production/toggle', { on: true });
    await api('POST', '/flags/checkout-v2/environments/staging/toggle', { on: true });
    await api('POST', '/flags/live-chat/environments/staging/toggle', { on: true });
    await api('POST', '/environments/production/apps/web/publish', { version: '2.3.0' });
    await api('POST', '/environments/production/apps/web/publish', { version: '2.4.0', min_supported: '2.3.0' });

    const { page, context } = await openConsole(browser, server, server.adminToken, { viewport: { width: 1280, height: 800 } });
    const shot = async (name, fullPage = false) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage });
    await page.locator('tr[data-flag="new-lobby"]').waitFor();
    await shot('flags');

    await page.goto(`${server.url}/#/flags/new-lobby`);
    await page.getByRole('heading', { name: 'Targeting in production' }).waitFor();
    await page.getByLabel('Context (JSON) in production').fill('{"key": "u-42", "game": "Omaha", "appVersion": "2.4.1", "table_id": 1017}');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('#explain-result').waitFor();
    await shot('flag', true);

    await page.goto(`${server.url}/#/segments`);
    await page.locator('tr[data-segment="vip"]').waitFor();
    await shot('segments');
    await page.goto(`${server.url}/#/segments/staff`);
    await page.getByRole('heading', { name: 'Staff' }).waitFor();
    await shot('segment', true);

    // Browsers connect on the old bundle, then a canary rolls out.
    const clientKey = (await api('POST', '/environments/production/keys', { kind: 'client', name: 'web' })).body.secret;
    await page.goto(`${server.url}/#/bundles`);
    await page.locator('article[data-app="web"]').waitFor();
    const connect = (version, from, to) =>
      page.evaluate(({ key, version, from, to }) => {
        window.sockets ??= [];
        for (let n = from; n < to; n += 1) {
          const ws = new WebSocket(`ws://${location.host}/sdk/v1/stream`);
          ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', protocols: [1], key, context: { key: `u-${n}` }, bundle: { app: 'web', version } }));
          window.sockets.push(ws);
        }
      }, { key: clientKey, version, from, to });
    await connect('2.3.0', 0, 4);
    await connect('2.4.0', 100, 118);
    await sleep(4500);
    await api('POST', '/environments/production/apps/web/publish', { version: '2.5.0', canary_percent: 10 });
    await connect('2.5.0', 200, 203);
    await sleep(4500);
    await page.evaluate(() => window.sockets.slice(0, 4).forEach((ws) => ws.close()));
    await connect('2.5.0', 300, 302);
    await sleep(4500);
    await shot('bundles', true);

    // A staged rollout two stages in, with a guard.
    const plan = await api('POST', '/flags/checkout-v2/environments/production/releases', {
      variation: 1, bucket_by: 'table_id',
      stages: [1000, 5000, 25000, 100000].map((weight) => ({ weight, hold_seconds: 3600 })),
      guard: { event: 'checkout_error', window_seconds: 300, max_ratio: 2, min_evaluations: 500, action: 'rollback' },
    });
    await api('POST', `/releases/${plan.body.id}/start`, undefined, { 'X-Audit-Comment': 'CHG-1042' });
    await api('POST', `/releases/${plan.body.id}/skip`);
    await api('POST', '/flags/live-chat/environments/production/releases', {
      variation: 1, stages: [{ weight: 10000 }, { weight: 100000 }],
    });
    await page.goto(`${server.url}/#/releases`);
    await page.locator(`article[data-plan="${plan.body.id}"]`).waitFor();
    await shot('releases', true);

    await page.goto(`${server.url}/#/audit`);
    const entry = page.locator('li.entry:has([data-action="flag.config"])');
    await entry.getByRole('button', { name: 'Show changes' }).click();
    await shot('audit', true);

    // "Copy to Production…" from staging: the server's plan, field by field.
    const staged = await api('GET', '/flags/live-chat/environments/staging');
    await server.call('PUT', '/api/v1/flags/live-chat/environments/staging', {
      body: {
        ...staged.body,
        targets: [{ variation: 1, values: ['table-7', 'table-12'] }],
        rules: [{ id: 'high-stakes', description: 'High-stakes tables', clauses: [{ attribute: 'stakes', op: 'in', values: ['high'] }], serve: { variation: 1 } }],
      },
      headers: { 'If-Match': staged.headers.get('etag') },
      expect: 200,
    });
    await page.locator('#env-select').selectOption('staging');
    await page.goto(`${server.url}/#/flags/live-chat`);
    await page.getByRole('heading', { name: 'Targeting in staging' }).waitFor();
    await page.locator('#copy-to-production').click();
    await page.locator('#promote-plan').waitFor();
    await shot('promote');
    await page.keyboard.press('Escape');
    await page.locator('#env-select').selectOption('production');

    // A change request in production: its diff, an approval, the apply to come.
    await api('PUT', '/environments/production/approvals', { required: 1 });
    const editor = await server.token('editor');
    const dark = await api('GET', '/flags/dark-mode/environments/production');
    const proposed = await server.call('POST', '/api/v1/change-requests', {
      token: editor,
      expect: 201,
      body: {
        flag: 'dark-mode', environment: 'production', comment: 'VIP players first, then everyone',
        config: { ...dark.body, on: true, rules: [{ id: 'vip', description: 'VIP players', clauses: [{ attribute: '', op: 'in_segment', values: ['vip'] }], serve: { variation: 1 } }], fallthrough: { variation: 0 } },
      },
    });
    await api('POST', `/change-requests/${proposed.body.id}/reviews`, { verdict: 'approve', comment: 'checked with support' });
    await page.goto(`${server.url}/#/requests/${proposed.body.id}`);
    await page.locator('#approval-count', { hasText: '1 of 1' }).waitFor();
    await shot('request', true);

    await context.close();
    const viewer = await openConsole(browser, server, await server.token('viewer'), { viewport: { width: 1280, height: 500 } });
    await viewer.page.locator('tr[data-flag="new-lobby"]').waitFor();
    await viewer.page.screenshot({ path: join(OUT, 'viewer.png') });
    await viewer.context.close();
  } finally {
    await browser.close();
    await server.stop();
  }
  shrink();
});

/** Quantizes the pictures in place when pngquant is installed; keeps each as is where that would not make it smaller. */
function shrink() {
  const files = readdirSync(OUT).filter((f) => f.endsWith('.png')).map((f) => join(OUT, f));
  try {
    execFileSync('pngquant', ['--force', '--skip-if-larger', '--quality=70-95', '--ext', '.png', ...files]);
  } catch (e) {
    // 98/99: a picture kept as it was (no smaller, or below the quality); ENOENT: no pngquant.
    if (e.code === 'ENOENT') console.log('pngquant not found: the pictures are left as Chromium wrote them');
    else if (![98, 99].includes(e.status)) throw e;
  }
}
