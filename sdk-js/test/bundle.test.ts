// The bundle handshake's state machine (src/browser/bundle.ts) under a fake
// clock, fake storage and a fake reload: the jitter moment, reload-loop
// protection with exponential back-off, onReload deferral, soft reloads.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BundleWatcher,
  backoffDelay,
  jitterDelay,
  storageKey,
  type BundleEnvironment,
  type BundleOptions,
} from '../src/browser/bundle.js';
import { bucketOf, murmur3_32 } from '../src/index.js';
import { MemoryLogger, MemoryStorage } from './support/daylight.js';

/** Timers on a fake clock. */
class FakeClock {
  time = 1_000_000;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.time;
  setTimer = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  };
  clearTimer = (id: unknown) => void this.timers.delete(id as number);
  get pending(): number {
    return this.timers.size;
  }
  /** Fires due timers in order until `done()` holds (the clock stops there); throws after `ms`. */
  async runUntil(done: () => boolean, ms: number): Promise<void> {
    const end = this.time + ms;
    while (!done()) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) throw new Error(`nothing happened within ${ms} ms`);
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await flush();
    }
  }
  /** Moves the clock forward, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => queueMicrotask(r));
};

/** One page load: a watcher with the shared storage and clock. */
function page(
  clock: FakeClock,
  storage: MemoryStorage,
  options: Partial<BundleOptions> & { key?: string } = {},
): { watcher: BundleWatcher; events: [string, any][]; reloads: number[]; hide: () => void } {
  const events: [string, any][] = [];
  const reloads: number[] = [];
  let hidden: (() => void) | undefined;
  const env: BundleEnvironment = {
    context: () => (options.key === undefined ? { key: 'u-42' } : { key: options.key }),
    emit: (event, payload) => void events.push([event, payload]),
    logger: new MemoryLogger(),
    storage,
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    onHidden: (fn) => (hidden = fn),
    random: () => 0.5,
  };
  const watcher = new BundleWatcher(
    { app: 'web', version: '1.0.0', reload: () => void reloads.push(clock.time), ...options },
    env,
  );
  return { watcher, events, reloads, hide: () => hidden?.() };
}

function answer(status: string, target: string, extra: Record<string, unknown> = {}) {
  return {
    type: 'bundle',
    app: 'web',
    running: '1.0.0',
    status,
    target,
    reload: { soft: 'next_navigation', jitter_ms: 60_000 },
    ...extra,
  };
}

test('the jitter moment is murmur3("<app>.bundle." + key) % 100000 / 100000 * jitter_ms', () => {
  const encoder = new TextEncoder();
  for (const key of ['u-1', 'u-42', 'player-7', 'ü-ß', '']) {
    const bucket = murmur3_32(encoder.encode(`web.bundle.${key}`), 0) % 100_000;
    assert.equal(bucket, bucketOf('web.bundle', key));
    assert.equal(jitterDelay('web', key, 60_000), Math.floor((bucket / 100_000) * 60_000), key);
    assert.ok(jitterDelay('web', key, 1000) < 1000);
  }
  // Spread: 1000 keys over a 60 s window land all over it.
  const delays = Array.from({ length: 1000 }, (_, i) => jitterDelay('web', `k${i}`, 60_000));
  assert.ok(Math.min(...delays) < 1_000 && Math.max(...delays) > 59_000);
  // No key: random; no window: now.
  assert.equal(jitterDelay('web', undefined, 1000, () => 0.25), 250);
  assert.equal(jitterDelay('web', 'u-42', 0), 0);
  assert.equal(jitterDelay('web', 'u-42', Number.NaN), 0);
});

test('back-off doubles from the first delay up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 10, 100].map((n) => backoffDelay(n, 30_000, 1_800_000)),
    [30_000, 60_000, 120_000, 240_000, 1_800_000, 1_800_000],
  );
  assert.equal(backoffDelay(0, 30_000, 1_800_000), 0);
});

test('the hello carries the app and version', () => {
  const { watcher } = page(new FakeClock(), new MemoryStorage());
  assert.deepEqual(watcher.hello(), { bundle: { app: 'web', version: '1.0.0' } });
});

test('unsupported: reloads at the jitter moment, once, after recording the attempt', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const p = page(clock, storage);
  const start = clock.time;
  p.watcher.handle(answer('unsupported', '1.0.1'));
  assert.deepEqual(p.events[0], ['bundle', { app: 'web', running: '1.0.0', status: 'unsupported', target: '1.0.1', reload: { soft: 'next_navigation', jitter_ms: 60_000 } }]);
  const moment = jitterDelay('web', 'u-42', 60_000);
  await clock.advance(moment - 1);
  assert.deepEqual(p.reloads, []);
  await clock.advance(1);
  assert.deepEqual(p.reloads, [start + moment]);
  const record = JSON.parse(storage.getItem(storageKey('web'))!);
  assert.deepEqual(record, { app: 'web', from: '1.0.0', target: '1.0.1', at: start + moment, attempts: 1 });
  // A repeated notice does not reload twice.
  p.watcher.handle(answer('unsupported', '1.0.1'));
  await clock.advance(120_000);
  assert.equal(p.reloads.length, 1);
});

test('a successful reload clears the record', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const first = page(clock, storage, { reload: () => {} });
  first.watcher.handle(answer('unsupported', '1.0.1'));
  await clock.advance(60_000);
  assert.ok(storage.getItem(storageKey('web')));
  const second = page(clock, storage, { version: '1.0.1' });
  await flush();
  assert.equal(storage.getItem(storageKey('web')), null);
  assert.deepEqual(second.events, []);
});

test('loop protection: a reload that leaves the page on the old version backs off exponentially', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const backoff = { initialMs: 30_000, maxMs: 100_000 };
  const reloadTimes: number[] = [];
  const failures: any[] = [];
  let p = page(clock, storage, { backoff, reload: () => void reloadTimes.push(clock.time), key: 'u-42' });
  p.watcher.handle(answer('unsupported', '1.0.1', { reload: { soft: 'next_navigation', jitter_ms: 1000 } }));
  // Each "reload": a new page at once, still on 1.0.0 (a stale CDN), told again that it is unsupported.
  for (let load = 0; load < 6; load++) {
    const before = reloadTimes.length;
    await clock.runUntil(() => reloadTimes.length > before, 1_000_000);
    assert.equal(reloadTimes.length, before + 1, `load ${load}: exactly one reload`);
    p.watcher.stop();
    p = page(clock, storage, { backoff, reload: () => void reloadTimes.push(clock.time), key: 'u-42' });
    await flush();
    const failed = p.events.find(([e]) => e === 'reload_failed');
    assert.ok(failed, `load ${load}: reload_failed`);
    failures.push(failed![1]);
    p.watcher.handle(answer('unsupported', '1.0.1', { reload: { soft: 'next_navigation', jitter_ms: 1000 } }));
    // Nothing before the back-off is over.
    await clock.advance(failed![1].nextRetryAt - clock.time - 1);
    assert.equal(reloadTimes.length, before + 1, `load ${load}: no reload during the back-off`);
  }
  assert.deepEqual(
    failures.map((f) => f.attempts),
    [1, 2, 3, 4, 5, 6],
  );
  for (const f of failures) assert.equal(f.target, '1.0.1');
  // The retries are exactly at record.at + back-off: 30 s, 60 s, then capped at 100 s.
  const gaps = reloadTimes.slice(1).map((t, i) => t - reloadTimes[i]!);
  assert.deepEqual(gaps, [30_000, 60_000, 100_000, 100_000, 100_000]);
  for (let i = 0; i < failures.length - 1; i++) assert.equal(reloadTimes[i + 1], failures[i].nextRetryAt, `retry ${i + 1}`);
});

test('loop protection: a new target is tried at once; current clears the record', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const first = page(clock, storage);
  first.watcher.handle(answer('unsupported', '1.0.1', { reload: { soft: 'next_navigation', jitter_ms: 0 } }));
  await clock.advance(1);
  assert.equal(first.reloads.length, 1);
  // Still on 1.0.0; meanwhile 1.0.2 was published.
  const second = page(clock, storage);
  await flush();
  assert.equal(second.events[0]![0], 'reload_failed');
  second.watcher.handle(answer('unsupported', '1.0.2', { reload: { soft: 'next_navigation', jitter_ms: 0 } }));
  await clock.advance(1);
  assert.equal(second.reloads.length, 1, 'another target: no back-off');
  assert.equal(JSON.parse(storage.getItem(storageKey('web'))!).attempts, 1);
  // Still on 1.0.0, and now 1.0.0 is what it should run (a rollback).
  const third = page(clock, storage);
  third.watcher.handle(answer('current', '1.0.0'));
  assert.equal(storage.getItem(storageKey('web')), null);
});

test('onReload returning false defers; reloadNow() reloads later', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const asked: any[] = [];
  const p = page(clock, storage, {
    onReload: async (info) => {
      asked.push(info);
      return false;
    },
  });
  p.watcher.handle(answer('unsupported', '1.0.1'));
  await clock.advance(60_000);
  assert.deepEqual(asked, [{ app: 'web', running: '1.0.0', target: '1.0.1', status: 'unsupported', attempt: 1 }]);
  assert.deepEqual(p.reloads, []);
  assert.ok(p.events.some(([e]) => e === 'reload_deferred'));
  assert.equal(clock.pending, 0, 'nothing scheduled while the app defers');
  assert.equal(storage.getItem(storageKey('web')), null, 'no attempt recorded');
  await clock.advance(600_000);
  assert.deepEqual(p.reloads, []);
  assert.equal(p.watcher.reloadNow(), true);
  assert.equal(p.reloads.length, 1);
  assert.equal(JSON.parse(storage.getItem(storageKey('web'))!).attempts, 1);
  assert.equal(p.watcher.reloadNow(), false, 'already reloading');
});

test('onReload returning true (or nothing, or throwing) goes ahead', async () => {
  for (const onReload of [() => true, () => undefined, async () => {}, () => { throw new Error('oops'); }]) {
    const clock = new FakeClock();
    const p = page(clock, new MemoryStorage(), { onReload });
    p.watcher.handle(answer('unsupported', '1.0.1'));
    await clock.advance(60_000);
    assert.equal(p.reloads.length, 1, String(onReload));
  }
});

test('a change of answer while waiting cancels the reload', async () => {
  const clock = new FakeClock();
  const p = page(clock, new MemoryStorage());
  p.watcher.handle(answer('unsupported', '1.0.1'));
  p.watcher.handle(answer('current', '1.0.0'));
  await clock.advance(120_000);
  assert.deepEqual(p.reloads, []);
  assert.equal(p.watcher.reloadNow(), false);
});

test('update_available, when_hidden: reloads when the page is hidden', async () => {
  const clock = new FakeClock();
  const p = page(clock, new MemoryStorage());
  p.hide();
  p.watcher.handle(answer('update_available', '1.0.1', { reload: { soft: 'when_hidden', jitter_ms: 60_000 } }));
  await clock.advance(600_000);
  assert.deepEqual(p.reloads, [], 'not while visible');
  p.hide();
  await flush();
  assert.equal(p.reloads.length, 1);
});

test('update_available, next_navigation: shouldReloadOnNavigate() says so once', async () => {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const p = page(clock, storage);
  assert.equal(p.watcher.shouldReloadOnNavigate(), false);
  p.watcher.handle(answer('update_available', '1.0.1'));
  p.hide();
  await clock.advance(600_000);
  assert.deepEqual(p.reloads, [], 'no reload on its own');
  assert.equal(p.watcher.shouldReloadOnNavigate(), true);
  assert.equal(JSON.parse(storage.getItem(storageKey('web'))!).attempts, 1);
  assert.equal(p.watcher.shouldReloadOnNavigate(), false, 'once');
  // The full load served the old bundle again: the next navigation keeps the SPA route for a while.
  const again = page(clock, storage);
  again.watcher.handle(answer('update_available', '1.0.1'));
  assert.equal(again.watcher.shouldReloadOnNavigate(), false);
  await clock.advance(30_000);
  assert.equal(again.watcher.shouldReloadOnNavigate(), true);
});

test('answers for another app are ignored', async () => {
  const clock = new FakeClock();
  const p = page(clock, new MemoryStorage());
  p.watcher.handle({ ...answer('unsupported', '1.0.1'), app: 'admin' });
  await clock.advance(120_000);
  assert.deepEqual(p.events, []);
  assert.deepEqual(p.reloads, []);
});
