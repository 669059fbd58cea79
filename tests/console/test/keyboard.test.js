// Keyboard and small screens: focus lands on the page after sign-in and on
// every route change, comes back to the opener when a dialog closes, New
// flag focuses its key field, a skip link leads to the content, and the
// navigation fits a 390 px wide phone.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertFocused, consoleSuite } from './support.js';

const suite = consoleSuite();

const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return el ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}:${(el.textContent || '').trim().slice(0, 40)}` : 'none';
});

test('focus follows sign-in, routes and dialogs; New flag focuses its key; a skip link leads to the content', async () => {
  const { server, page } = await suite.setup();
  await server.call('POST', '/api/v1/flags', { body: { key: 'new-lobby', name: 'New lobby' }, expect: 201 });
  // After sign-in: the page's heading, not <body>.
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
  assert.match(await focused(page), /^h1:Flags/);

  // A route change by a link: the new page's heading.
  await page.locator('tr[data-flag="new-lobby"]').getByRole('link', { name: 'New lobby' }).click();
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1' && document.activeElement.textContent.includes('New lobby'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Segments' }).press('Enter');
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1' && document.activeElement.textContent.includes('Segments'));

  // A dialog closed with Escape gives focus back to its opener.
  await page.goto(`${server.url}/#/flags`);
  const production = page.locator('tr[data-flag="new-lobby"]').getByRole('switch', { name: /in production/ });
  await production.focus();
  await page.keyboard.press('Space');
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await assertFocused(production, 'focus returns to the switch');

  // New flag: the key field has focus.
  await page.getByRole('button', { name: 'New flag' }).click();
  await page.waitForFunction(() => document.activeElement?.id === 'nf-key');

  // The skip link is the first thing Tab reaches (first focusable in the page), shows when focused, and leads to the content.
  const first = await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea')?.textContent);
  assert.equal(first, 'Skip to content');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await skip.focus();
  const box = await skip.boundingBox();
  assert.ok(box && box.x >= 0, 'visible when focused');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('main').contains(document.activeElement));
});

test('at 390 px every navigation link is on screen', async () => {
  const { server } = await suite.setup();
  const { page } = await suite.open(server, { viewport: { width: 390, height: 844 } });
  const links = page.getByRole('navigation', { name: 'Main' }).getByRole('link');
  // Flags, Releases, Segments, Cohorts, Bundles, Playground, Audit log,
  // Change requests and (admins) People.
  assert.equal(await links.count(), 9);
  for (const link of await links.all()) {
    const box = await link.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${await link.textContent()} at ${JSON.stringify(box)}`);
  }
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `the page is ${overflow} px wide`);
});
