/**
 * The client-key client: sends one context, receives the evaluated values of
 * the environment's `client_side` flags (`values`, then `changed`), and
 * switches context with `identify`. It never sees rules. Values are cached
 * in storage for an instant start and served while offline.
 */
import type { Context } from '../api/context.js';
import type { EvaluationDetail } from '../api/detail.js';
import { ConfigurationError } from '../api/errors.js';
import type { ClientEvents, ConnectionState } from '../api/events.js';
import type { JsonValue } from '../api/json.js';
import type { Logger, StorageLike, WebSocketFactory } from '../api/platform.js';
import { Emitter, type Listener } from '../internal/emitter.js';
import { deepFreeze } from '../internal/json.js';
import { defaultLogger } from '../internal/logger.js';
import { waitForReady } from '../internal/ready.js';
import { Stream, type Message, type StreamEnd } from '../internal/stream.js';
import { streamUrl } from '../internal/url.js';
import { BundleWatcher, type BundleAnswer, type BundleOptions } from './bundle.js';
import { ValuesCache } from './cache.js';
import { changedFlags, readFlagValues, typedValue, type FlagValue, type FlagValues } from './values.js';
import { UsageRecorder, validEventName } from '../internal/usage.js';

export const SDK_NAME = 'daylight-js-browser/0.1.0';

/**
 * A protocol feature layered on the client-key stream (the bundle handshake
 * of `docs/bundles.md` is meant to plug in here): it adds hello fields,
 * receives its own message types, and emits its own events.
 * @internal Not a stable API yet.
 */
export interface BrowserExtension {
  /** Message types this extension handles. */
  readonly types: readonly string[];
  /** Fields added to every hello (e.g. `bundle: { app, version }`). */
  hello?(): Record<string, unknown>;
  handle(message: Message, emit: (event: string, payload: unknown) => void): void;
}

export interface BrowserClientOptions {
  /** The server: `wss://flags.example.com` (or `https://…`). */
  url: string;
  /** A client key (`dl_client_…`): public, sees only `client_side` flags. */
  clientKey: string;
  /** The evaluation context (e.g. the signed-in user). */
  context: Context;
  /**
   * Where last known values are kept for an instant start (default:
   * `localStorage` when usable); `null` keeps none.
   */
  storage?: StorageLike | null;
  /** Values to start with when the cache has none for this context. */
  bootstrap?: FlagValues;
  /** How long `waitForReady()` and `identify()` wait by default (5000 ms). */
  initTimeoutMs?: number;
  /** How long the upgrade and then the wait for `welcome` may take (10000 ms). */
  connectTimeoutMs?: number;
  /** Reconnect back-off: first delay and cap (500 ms and 30000 ms), jittered. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** The delay before retrying after the server refused the key (300000 ms). */
  unauthorizedRetryMs?: number;
  logger?: Logger;
  /** Opens WebSockets (the browser entry point defaults to the global `WebSocket`). */
  webSocket?: WebSocketFactory;
  /** Name/version sent in `hello.sdk`. */
  sdk?: string;
  /**
   * How often evaluation counts and tracked events go to the server
   * (10000 ms; also on `close()`). See `docs/usage-metrics.md`.
   */
  usageIntervalMs?: number;
  /** Count evaluations and report them, with tracked events (default true). */
  sendUsage?: boolean;
  /**
   * The bundle handshake (`docs/bundles.md`): which app and bundle version
   * this page runs. The client then emits `bundle` with the server's answer
   * and reloads the page when it is told to (see `docs/sdk-js.md`).
   */
  bundle?: BundleOptions;
  /**
   * Calls `fn` whenever the page becomes hidden (the browser entry point
   * listens to `visibilitychange`); used by the bundle handshake's
   * `when_hidden` soft reloads.
   * @internal
   */
  onPageHidden?: (fn: () => void) => void;
}

/** Where the current values came from. */
export type ValuesSource = 'none' | 'bootstrap' | 'cache' | 'server';

export class BrowserClient {
  private readonly logger: Logger;
  private readonly events: Emitter<ClientEvents>;
  private readonly cache: ValuesCache;
  private readonly stream: Stream;
  private readonly usage: UsageRecorder | undefined;
  private readonly initTimeoutMs: number;
  private contextValue: Context;
  private values: FlagValues | undefined;
  private sourceValue: ValuesSource = 'none';
  private version: number | undefined;
  /**
   * `values` messages still to come before the values match the current
   * context: one after each hello, one more per `identify` sent. Until it is
   * back to zero, values and changes for an older context are not applied.
   */
  private awaitingValues = 0;
  /** `identify` calls waiting for their context's values. */
  private identifyWaiters: (() => void)[] = [];
  /** Protocol features beyond `values` / `changed` (see {@link BrowserExtension}). */
  private readonly extensions: BrowserExtension[] = [];
  private readonly bundleWatcher: BundleWatcher | undefined;

  constructor(options: BrowserClientOptions) {
    this.logger = options.logger ?? defaultLogger();
    this.events = new Emitter(this.logger);
    this.initTimeoutMs = options.initTimeoutMs ?? 5000;
    if (!options.clientKey) throw new ConfigurationError('a browser client needs a client key (dl_client_…)');
    if (options.webSocket === undefined) {
      throw new ConfigurationError('no WebSocket implementation: pass `webSocket` (the browser entry point does)');
    }
    const url = streamUrl(options.url);
    this.contextValue = snapshotContext(options.context);
    this.cache = new ValuesCache(options.storage ?? undefined, options.clientKey, this.logger);

    if (options.bundle !== undefined) {
      const bundleStorage = options.bundle.storage === undefined ? options.storage : options.bundle.storage;
      this.bundleWatcher = new BundleWatcher(options.bundle, {
        context: () => this.contextValue,
        emit: (event, payload) => this.events.emit(event, payload),
        logger: this.logger,
        storage: bundleStorage ?? undefined,
        now: () => Date.now(),
        setTimer: (fn, ms) => setTimeout(fn, ms),
        clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
        onHidden: options.onPageHidden,
        random: Math.random,
      });
      this.extensions.push(this.bundleWatcher);
    }

    const cached = this.cache.load(this.contextValue);
    if (cached !== undefined) {
      this.values = cached.flags;
      this.version = cached.version;
      this.sourceValue = 'cache';
    } else if (options.bootstrap !== undefined) {
      this.values = deepFreeze(readFlagValues(structuredClone(options.bootstrap)));
      this.sourceValue = 'bootstrap';
    }
    if (this.values !== undefined) queueMicrotask(() => this.events.emit('ready', undefined));

    this.stream = new Stream({
      url,
      key: options.clientKey,
      sdk: options.sdk ?? SDK_NAME,
      kind: 'client',
      webSocket: options.webSocket,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backoffInitialMs: options.backoff?.initialMs ?? 500,
      backoffMaxMs: options.backoff?.maxMs ?? 30_000,
      unauthorizedRetryMs: options.unauthorizedRetryMs ?? 300_000,
      logger: this.logger,
      session: {
        hello: () => {
          this.awaitingValues = 1;
          const fields: Record<string, unknown> = {};
          for (const extension of this.extensions) Object.assign(fields, extension.hello?.());
          // `receipts`: the page acknowledges the values it applied (`applied`).
          return { ...fields, context: this.contextValue, receipts: true };
        },
        handle: (message) => this.handle(message),
      },
      onState: (state) => this.events.emit('state', { state }),
      onError: (error) => this.events.emit('error', error),
    });
    this.stream.start();
    if (options.sendUsage ?? true) {
      const stream = this.stream;
      this.usage = new UsageRecorder(this.logger);
      this.usage.start(Math.max(10, options.usageIntervalMs ?? 10_000), (report) => stream.send({ ...report }));
    }
  }

  // ---- events and state -------------------------------------------------

  /** `ready`, `change`, `error`, `state` (see `ClientEvents`). */
  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    this.events.on(event, listener);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    this.events.off(event, listener);
    return this;
  }

  /** Whether the client has values (from the cache, bootstrap or the server). */
  isReady(): boolean {
    return this.values !== undefined;
  }

  get state(): ConnectionState {
    return this.stream.state;
  }

  /** Where the current values came from. */
  get source(): ValuesSource {
    return this.sourceValue;
  }

  /** The current context. */
  get context(): Context {
    return this.contextValue;
  }

  /**
   * Waits until the client has values, at most `timeoutMs` (default
   * `initTimeoutMs`); settles early (false) when the key is refused or the
   * client stops. Never rejects.
   */
  waitForReady(timeoutMs = this.initTimeoutMs): Promise<boolean> {
    return waitForReady(this.events, () => this.isReady(), timeoutMs);
  }

  /**
   * Switches to another context. Cached values for it are used at once if
   * there are any; otherwise the previous context's values stay until the
   * server's arrive. Resolves `true` when the server's values for `context`
   * arrived, `false` after `timeoutMs` (they keep coming later, e.g. after a
   * reconnect).
   */
  identify(context: Context, timeoutMs = this.initTimeoutMs): Promise<boolean> {
    this.contextValue = snapshotContext(context);
    const cached = this.cache.load(this.contextValue);
    if (cached !== undefined) this.replace(cached.flags, cached.version, 'cache');
    if (this.stream.send({ type: 'identify', context: this.contextValue })) {
      this.awaitingValues++;
    }
    // Otherwise the next hello carries the new context.
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.identifyWaiters = this.identifyWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.identifyWaiters.push(waiter);
    });
  }

  /**
   * Adds a protocol feature; its hello fields go out from the next
   * connection on.
   * @internal Not a stable API yet.
   */
  extend(extension: BrowserExtension): void {
    this.extensions.push(extension);
  }

  // ---- the bundle handshake ---------------------------------------------

  /** The server's last answer about this page's bundle (with `options.bundle`). */
  get bundle(): BundleAnswer | undefined {
    return this.bundleWatcher?.answer;
  }

  /**
   * For a router, before a client-side navigation: `true` when a newer
   * bundle is waiting; then do a full page load (`location.assign(href)`)
   * instead of a client-side route change. Counts as a reload attempt for
   * the loop protection; `false` while it backs off.
   */
  shouldReloadOnNavigate(): boolean {
    return this.bundleWatcher?.shouldReloadOnNavigate() ?? false;
  }

  /**
   * Reloads the page now towards the pending bundle (after `onReload`
   * deferred it). `false` when no update is pending.
   */
  reloadNow(): boolean {
    return this.bundleWatcher?.reloadNow() ?? false;
  }

  /** Closes the connection for good; the getters keep serving the last values. */
  close(): void {
    this.bundleWatcher?.stop();
    if (this.usage !== undefined) {
      // What was counted since the last report goes out before the close.
      this.usage.flush((report) => this.stream.send({ ...report }));
      this.usage.stop();
    }
    this.stream.close();
  }

  // ---- evaluation ---------------------------------------------------------

  boolVariation(key: string, defaultValue: boolean): boolean {
    return this.boolVariationDetail(key, defaultValue).value;
  }

  boolVariationDetail(key: string, defaultValue: boolean): EvaluationDetail<boolean> {
    return this.counted(key, typedValue(this.values, key, defaultValue, (v) => typeof v === 'boolean'));
  }

  stringVariation(key: string, defaultValue: string): string {
    return this.stringVariationDetail(key, defaultValue).value;
  }

  stringVariationDetail(key: string, defaultValue: string): EvaluationDetail<string> {
    return this.counted(key, typedValue(this.values, key, defaultValue, (v) => typeof v === 'string'));
  }

  numberVariation(key: string, defaultValue: number): number {
    return this.numberVariationDetail(key, defaultValue).value;
  }

  numberVariationDetail(key: string, defaultValue: number): EvaluationDetail<number> {
    return this.counted(key, typedValue(this.values, key, defaultValue, (v) => typeof v === 'number'));
  }

  /** Any variation type; object values are frozen. */
  jsonVariation<T = JsonValue>(key: string, defaultValue: T): JsonValue | T {
    return this.jsonVariationDetail(key, defaultValue).value;
  }

  jsonVariationDetail<T = JsonValue>(key: string, defaultValue: T): EvaluationDetail<JsonValue | T> {
    return this.counted(key, typedValue<JsonValue | T>(this.values, key, defaultValue, () => true));
  }

  /**
   * Reports app event `event` (e.g. `checkout_error`), attributed to the
   * variation this page is served now of each of `flags` (default: every
   * flag this client has evaluated). Sent with the next usage report. An
   * invalid name (1 to 100 of `A-Z a-z 0-9 _ - . :`) is ignored with a warning.
   */
  track(event: string, flags?: readonly string[]): void {
    if (this.usage === undefined) return;
    if (!validEventName(event)) {
      this.logger.warn(`ignoring event ${JSON.stringify(event)}: a name is 1 to 100 of A-Z a-z 0-9 _ - . :`);
      return;
    }
    const served: [string, number][] = [];
    for (const flag of flags ?? this.usage.evaluatedFlags()) {
      const variation = this.values?.[flag]?.variation ?? null;
      if (variation !== null) served.push([flag, variation]);
    }
    this.usage.track(event, served);
  }

  private counted<T>(key: string, detail: EvaluationDetail<T>): EvaluationDetail<T> {
    this.usage?.count(key, detail.variation);
    return detail;
  }

  /** Every flag's value (flags serving no variation are left out). */
  allFlags(): { [flag: string]: JsonValue } {
    const out: { [flag: string]: JsonValue } = {};
    for (const [key, entry] of Object.entries(this.values ?? {})) {
      if (entry.variation !== null) out[key] = entry.value;
    }
    return out;
  }

  /** Every flag's evaluated value, variation and reason, as the server sent them. */
  allFlagDetails(): FlagValues {
    return this.values ?? {};
  }

  // ---- the stream ---------------------------------------------------------

  private handle(message: Message): StreamEnd | undefined {
    switch (message.type) {
      case 'values': {
        if (this.awaitingValues > 0) this.awaitingValues--;
        // Values for a context that has since been replaced: the next ones count.
        if (this.awaitingValues > 0) return undefined;
        const flags = deepFreeze(readFlagValues(message.flags));
        this.replace(flags, versionOf(message.version), 'server');
        this.stream.markSynced();
        this.acknowledge(message.version);
        const waiters = this.identifyWaiters;
        this.identifyWaiters = [];
        for (const waiter of waiters) waiter();
        return undefined;
      }
      case 'changed': {
        if (this.awaitingValues > 0 || this.values === undefined) return undefined;
        const next: Record<string, FlagValue> = { ...this.values };
        for (const [key, entry] of Object.entries(deepFreeze(readFlagValues(message.flags)))) next[key] = entry;
        if (Array.isArray(message.removed)) {
          for (const key of message.removed) if (typeof key === 'string') delete next[key];
        }
        this.replace(next, versionOf(message.version), 'server');
        this.acknowledge(message.version);
        return undefined;
      }
      default: {
        const emit = (event: string, payload: unknown) => this.events.emit(event, payload);
        for (const extension of this.extensions) {
          if (extension.types.includes(message.type)) extension.handle(message, emit);
        }
        // Message types nobody handles (a newer server's) are ignored.
        return undefined;
      }
    }
  }

  /** The receipt the server counts as "this page has the change". */
  private acknowledge(version: unknown): void {
    const v = versionOf(version);
    if (v !== undefined) this.stream.send({ type: 'applied', version: v });
  }

  /** Swaps in new values, caches server values, and tells listeners what changed. */
  private replace(flags: FlagValues, version: number | undefined, source: ValuesSource): void {
    const before = this.values;
    this.values = flags;
    this.version = version;
    this.sourceValue = source;
    if (source === 'server') this.cache.save(this.contextValue, version, flags);
    if (before === undefined) this.events.emit('ready', undefined);
    const changed = changedFlags(before, flags);
    if (changed.length > 0) this.events.emit('change', { flags: changed, version: this.version });
  }
}

function versionOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** A frozen JSON copy of a context: what the server sees, and safe from later mutation. */
function snapshotContext(context: Context): Context {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new ConfigurationError('a context is an object, e.g. { key: "u-42" }');
  }
  return deepFreeze(JSON.parse(JSON.stringify(context)) as Context);
}
