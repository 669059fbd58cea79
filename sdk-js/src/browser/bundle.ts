/**
 * The bundle handshake (`docs/bundles.md`): the page tells the server which
 * app and bundle version it runs, the server answers whether that is still
 * the right one, and this module reloads the page when it must, spread out
 * over the jitter window and protected against reload loops.
 *
 * Platform services (clock, timers, storage, `location.reload()`, page
 * visibility) are injected so the state machine runs under a fake clock.
 */
import type { Context } from '../api/context.js';
import type { Logger, StorageLike } from '../api/platform.js';
import { BUCKETS, bucketOf, bucketValue } from '../evaluator/bucket.js';
import type { Message } from '../internal/stream.js';
import type { BrowserExtension } from './client.js';

/** `status` of a bundle answer. */
export type BundleStatus = 'current' | 'update_available' | 'unsupported';

/** The server's answer for this page (the `bundle` event's payload). */
export interface BundleAnswer {
  readonly app: string;
  /** The version the page announced. */
  readonly running: string;
  readonly status: BundleStatus;
  /** The version this page should run (live, or the canary for its context). */
  readonly target: string | null;
  readonly reload: { readonly soft: 'next_navigation' | 'when_hidden'; readonly jitter_ms: number };
}

/** What `onReload` is told before the SDK reloads the page. */
export interface BundleReloadInfo {
  readonly app: string;
  readonly running: string;
  readonly target: string | null;
  readonly status: 'update_available' | 'unsupported';
  /** 1 for the first reload towards `target`, 2 when the previous one left the page on `running`, … */
  readonly attempt: number;
}

/** The `reload_failed` event: a reload left the page on the old version. */
export interface BundleReloadFailed {
  readonly app: string;
  readonly running: string;
  readonly target: string | null;
  /** Reloads towards `target` so far that left the page on `running`. */
  readonly attempts: number;
  /** When the SDK may try again (epoch ms). */
  readonly nextRetryAt: number;
}

export interface BundleOptions {
  /** The app's name, as published (`daylight bundles publish <app> …`). */
  app: string;
  /** The bundle version this page runs (baked in at build time). */
  version: string;
  /**
   * Called before every reload the SDK does on its own. Return (or resolve)
   * `false` to defer it (e.g. to save a draft), then call
   * `client.reloadNow()` when ready. A throw or rejection counts as "go ahead".
   */
  onReload?: (info: BundleReloadInfo) => Promise<boolean | void> | boolean | void;
  /** Reloads the page (default `location.reload()`). */
  reload?: () => void;
  /**
   * Where the reload-loop protection keeps its record (default: the client's
   * `storage`, i.e. `localStorage`). `null`: in memory only (no protection
   * across reloads).
   */
  storage?: StorageLike | null;
  /** Back-off after a reload that left the page on the old version: first delay and cap (30000 ms, 1800000 ms). */
  backoff?: { initialMs?: number; maxMs?: number };
}

/** Platform services of a {@link BundleWatcher}. */
export interface BundleEnvironment {
  /** The current evaluation context (its `key` picks the jitter moment). */
  context(): Context;
  emit(event: string, payload: unknown): void;
  logger: Logger;
  storage: StorageLike | undefined;
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Calls `fn` whenever the page becomes hidden; absent outside browsers. */
  onHidden?(fn: () => void): void;
  /** A number in [0, 1), for contexts without a key. */
  random(): number;
}

/** What is kept in storage before a reload. */
export interface ReloadRecord {
  app: string;
  from: string;
  target: string | null;
  at: number;
  attempts: number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 30_000;
export const DEFAULT_BACKOFF_MAX_MS = 30 * 60_000;

/**
 * The moment within the jitter window at which a context reloads:
 * `bucketOf("<app>.bundle", key) / 100000 * jitterMs`, i.e.
 * `murmur3_x86_32(utf8("<app>.bundle." + key)) mod 100000 / 100000 * jitter_ms`,
 * the same bucket as the canary. A context without a usable key gets a
 * random moment (`random` in [0, 1)).
 */
export function jitterDelay(app: string, contextKey: unknown, jitterMs: number, random: () => number = Math.random): number {
  const window = Number.isFinite(jitterMs) && jitterMs > 0 ? jitterMs : 0;
  const key = bucketValue(contextKey);
  const fraction = key === undefined ? random() : bucketOf(`${app}.bundle`, key) / BUCKETS;
  return Math.floor(fraction * window);
}

/** The wait after `attempts` failed reloads: `initial * 2^(attempts-1)`, capped. */
export function backoffDelay(attempts: number, initialMs: number, maxMs: number): number {
  if (attempts <= 0) return 0;
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempts - 1, 30));
}

export function storageKey(app: string): string {
  return `daylight:bundle:${app}`;
}

/**
 * Sends `bundle: { app, version }` in every hello, handles `bundle` answers
 * and reloads the page when it must. One per client (`options.bundle`).
 */
export class BundleWatcher implements BrowserExtension {
  readonly types = ['bundle'] as const;
  private readonly app: string;
  private readonly version: string;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly reloadPage: () => void;
  private memory: string | null = null;
  /** The last answer asking for a reload, while it stands. */
  private pending: BundleAnswer | undefined;
  private timer: unknown;
  /** A reload was started (the page is going away): nothing more to do. */
  private reloading = false;
  /** `onReload` returned false for the pending answer: waiting for `reloadNow()`. */
  private deferredByApp = false;
  /** A failed reload found at start, reported once per target. */
  private failure: ReloadRecord | undefined;
  private lastAnswer: BundleAnswer | undefined;

  constructor(
    private readonly options: BundleOptions,
    private readonly env: BundleEnvironment,
  ) {
    if (typeof options.app !== 'string' || options.app === '') throw new TypeError('bundle.app must be a non-empty string');
    if (typeof options.version !== 'string' || options.version === '') {
      throw new TypeError('bundle.version must be a non-empty string');
    }
    this.app = options.app;
    this.version = options.version;
    this.initialMs = options.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.maxMs = options.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.reloadPage = options.reload ?? defaultReload;

    // Did the last reload work?
    const record = this.readRecord();
    if (record !== undefined) {
      if (record.from !== this.version) {
        // The page runs another version now: the reload worked.
        this.clearRecord();
      } else {
        this.failure = record;
        const failed: BundleReloadFailed = {
          app: this.app,
          running: this.version,
          target: record.target,
          attempts: record.attempts,
          nextRetryAt: this.nextRetryAt(record),
        };
        this.env.logger.warn(
          `bundle: reloading towards ${record.target} left the page on ${this.version} ` +
            `(${record.attempts} attempt(s)); next try at ${new Date(failed.nextRetryAt).toISOString()}`,
        );
        // After the caller attached its listeners.
        queueMicrotask(() => this.env.emit('reload_failed', failed));
      }
    }
    env.onHidden?.(() => this.pageHidden());
  }

  // ---- BrowserExtension ---------------------------------------------------

  hello(): Record<string, unknown> {
    return { bundle: { app: this.app, version: this.version } };
  }

  handle(message: Message): void {
    const answer = readAnswer(message);
    if (answer === undefined || answer.app !== this.app) return;
    this.lastAnswer = answer;
    this.env.emit('bundle', answer);
    this.apply(answer);
  }

  // ---- what the client exposes ------------------------------------------

  /** The last answer from the server. */
  get answer(): BundleAnswer | undefined {
    return this.lastAnswer;
  }

  /**
   * For a router, before a client-side navigation: `true` when an update is
   * waiting (and the loop protection allows a reload now). The router should
   * then do a full page load (`location.assign(href)`) instead; the attempt
   * is recorded for the loop protection. `onReload` is not consulted.
   */
  shouldReloadOnNavigate(): boolean {
    const answer = this.pending;
    if (answer === undefined || this.reloading) return false;
    if (this.blockedUntil(answer) > this.env.now()) return false;
    this.record(answer);
    this.reloading = true;
    this.cancelTimer();
    return true;
  }

  /**
   * Reloads now towards the pending target, without asking `onReload` and
   * regardless of the back-off (the app decided). `false` when no update is
   * pending.
   */
  reloadNow(): boolean {
    const answer = this.pending;
    if (answer === undefined || this.reloading) return false;
    this.doReload(answer);
    return true;
  }

  stop(): void {
    this.cancelTimer();
  }

  // ---- the state machine ------------------------------------------------

  private apply(answer: BundleAnswer): void {
    if (this.reloading) return;
    this.cancelTimer();
    this.deferredByApp = false;
    if (answer.status === 'current' || answer.target === null || answer.target === this.version) {
      this.pending = undefined;
      // Nothing to reload to: an old record no longer matters.
      if (this.failure !== undefined) {
        this.failure = undefined;
        this.clearRecord();
      }
      return;
    }
    this.pending = answer;
    if (answer.status === 'unsupported') {
      // The first try at the context's moment in the jitter window; a retry
      // after a failed reload when the back-off is over (already spread out).
      const at =
        this.attemptsFor(answer) > 0
          ? Math.max(this.env.now(), this.blockedUntil(answer))
          : this.env.now() + jitterDelay(this.app, this.env.context().key, answer.reload.jitter_ms, this.env.random);
      this.schedule(at, () => void this.attempt(answer));
    } else if (answer.reload.soft === 'when_hidden') {
      // pageHidden() does it; nothing scheduled.
    }
    // next_navigation: shouldReloadOnNavigate() does it.
  }

  private pageHidden(): void {
    const answer = this.pending;
    if (answer === undefined || this.reloading || this.deferredByApp) return;
    if (answer.status !== 'update_available' || answer.reload.soft !== 'when_hidden') return;
    const blocked = this.blockedUntil(answer);
    if (blocked > this.env.now()) return; // the next hide after the back-off tries again
    void this.attempt(answer);
  }

  private async attempt(answer: BundleAnswer): Promise<void> {
    if (this.reloading || this.pending !== answer) return;
    const info: BundleReloadInfo = {
      app: this.app,
      running: this.version,
      target: answer.target,
      status: answer.status as 'update_available' | 'unsupported',
      attempt: this.attemptsFor(answer) + 1,
    };
    if (this.options.onReload !== undefined) {
      let verdict: boolean | void = undefined;
      try {
        verdict = await this.options.onReload(info);
      } catch (e) {
        this.env.logger.error('bundle: onReload threw; reloading anyway', e);
      }
      // The answer may have changed while the app decided.
      if (this.reloading || this.pending !== answer) return;
      if (verdict === false) {
        this.deferredByApp = true;
        this.env.emit('reload_deferred', info);
        return;
      }
    }
    this.doReload(answer);
  }

  private doReload(answer: BundleAnswer): void {
    this.cancelTimer();
    this.record(answer);
    this.reloading = true;
    this.env.emit('reloading', { app: this.app, running: this.version, target: answer.target });
    try {
      this.reloadPage();
    } catch (e) {
      this.reloading = false;
      this.env.logger.error('bundle: reload failed', e);
    }
  }

  // ---- loop protection ---------------------------------------------------

  /** Failed reloads so far towards this answer's target from this version. */
  private attemptsFor(answer: BundleAnswer): number {
    const f = this.failure;
    return f !== undefined && f.from === this.version && f.target === answer.target ? f.attempts : 0;
  }

  /** When a reload towards this answer's target may happen (0: now). */
  private blockedUntil(answer: BundleAnswer): number {
    const attempts = this.attemptsFor(answer);
    return attempts === 0 ? 0 : this.nextRetryAt(this.failure!);
  }

  private nextRetryAt(record: ReloadRecord): number {
    return record.at + backoffDelay(record.attempts, this.initialMs, this.maxMs);
  }

  private record(answer: BundleAnswer): void {
    const record: ReloadRecord = {
      app: this.app,
      from: this.version,
      target: answer.target,
      at: this.env.now(),
      attempts: this.attemptsFor(answer) + 1,
    };
    this.writeRecord(record);
  }

  private readRecord(): ReloadRecord | undefined {
    let text: string | null;
    try {
      text = this.env.storage !== undefined ? this.env.storage.getItem(storageKey(this.app)) : this.memory;
    } catch {
      return undefined;
    }
    if (text === null) return undefined;
    try {
      const r = JSON.parse(text) as Partial<ReloadRecord>;
      if (
        r.app === this.app &&
        typeof r.from === 'string' &&
        (typeof r.target === 'string' || r.target === null) &&
        typeof r.at === 'number' &&
        typeof r.attempts === 'number' &&
        r.attempts >= 1
      ) {
        return { app: r.app, from: r.from, target: r.target, at: r.at, attempts: Math.floor(r.attempts) };
      }
    } catch {
      // unreadable: ignored
    }
    return undefined;
  }

  private writeRecord(record: ReloadRecord): void {
    const text = JSON.stringify(record);
    try {
      if (this.env.storage !== undefined) this.env.storage.setItem(storageKey(this.app), text);
      else this.memory = text;
    } catch (e) {
      this.env.logger.warn('bundle: could not store the reload record', e);
    }
  }

  private clearRecord(): void {
    try {
      if (this.env.storage !== undefined) this.env.storage.removeItem(storageKey(this.app));
      else this.memory = null;
    } catch {
      // nothing to do
    }
  }

  // ---- timers ----------------------------------------------------------------

  private schedule(at: number, fn: () => void): void {
    this.cancelTimer();
    this.timer = this.env.setTimer(() => {
      this.timer = undefined;
      fn();
    }, Math.max(0, at - this.env.now()));
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) {
      this.env.clearTimer(this.timer);
      this.timer = undefined;
    }
  }
}

function defaultReload(): void {
  const location = (globalThis as { location?: { reload(): void } }).location;
  if (location === undefined) throw new Error('no location to reload: pass bundle.reload');
  location.reload();
}

/** A `bundle` message as the protocol describes it, or `undefined`. */
function readAnswer(message: Message): BundleAnswer | undefined {
  const m = message as Record<string, unknown>;
  const status = m.status;
  if (typeof m.app !== 'string' || typeof m.running !== 'string') return undefined;
  if (status !== 'current' && status !== 'update_available' && status !== 'unsupported') return undefined;
  const target = typeof m.target === 'string' ? m.target : null;
  const r = (typeof m.reload === 'object' && m.reload !== null ? m.reload : {}) as Record<string, unknown>;
  const soft = r.soft === 'when_hidden' ? 'when_hidden' : 'next_navigation';
  const jitter = typeof r.jitter_ms === 'number' && Number.isFinite(r.jitter_ms) && r.jitter_ms >= 0 ? r.jitter_ms : 60_000;
  return { app: m.app, running: m.running, status, target, reload: { soft, jitter_ms: jitter } };
}
