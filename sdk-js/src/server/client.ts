/**
 * The server-key client: keeps a live copy of one environment's ruleset over
 * the stream (snapshot, patches, resume) and evaluates it locally with the
 * evaluator. It runs on any WebSocket implementation; `node/` wires in `ws`.
 */
import type { Context } from '../api/context.js';
import { errorDetail, type EvaluationDetail } from '../api/detail.js';
import type { RulesetDocument } from '../api/documents.js';
import { ConfigurationError } from '../api/errors.js';
import type { ChangeEvent, ClientEvents, ConnectionState } from '../api/events.js';
import type { JsonValue } from '../api/json.js';
import type { Logger, WebSocketFactory } from '../api/platform.js';
import { Ruleset } from '../evaluator/ruleset.js';
import { Emitter, type Listener } from '../internal/emitter.js';
import { defaultLogger } from '../internal/logger.js';
import { RETRY, Stream, type Message, type StreamEnd } from '../internal/stream.js';
import { waitForReady } from '../internal/ready.js';
import { streamUrl } from '../internal/url.js';
import { UsageRecorder, validEventName } from '../internal/usage.js';
import { Replica } from './replica.js';

export const SDK_NAME = 'daylight-js/0.1.0';

export interface ServerClientOptions {
  /**
   * The server: `wss://flags.example.com` (or `https://…`); a URL naming
   * only a host gets `/sdk/v1/stream`. Omit it to run offline on `bootstrap`.
   */
  url?: string;
  /** A server key (`dl_server_…`) of the environment to evaluate. */
  serverKey?: string;
  /**
   * A ruleset document to start from (`docs/flag-format.md`): the client is
   * ready at once on it, and the server's first snapshot replaces it.
   */
  bootstrap?: RulesetDocument;
  /** How long `waitForReady()` waits by default (5000 ms). */
  initTimeoutMs?: number;
  /** How long the upgrade and then the wait for `welcome` may take (10000 ms). */
  connectTimeoutMs?: number;
  /** Reconnect back-off: first delay and cap (500 ms and 30000 ms), jittered. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** The delay before retrying after the server refused the key (300000 ms). */
  unauthorizedRetryMs?: number;
  logger?: Logger;
  /** Opens WebSockets (the Node entry point defaults to the `ws` package). */
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
}

/** Counters for operators and tests: how the client got its data. */
export interface ServerClientDiagnostics {
  /** Connections that reached `welcome`. */
  readonly connections: number;
  readonly snapshots: number;
  readonly patches: number;
  /** `synced` messages accepted. */
  readonly syncs: number;
  /** Connections that got in sync without a snapshot (resumed from their version). */
  readonly resumes: number;
}

export class ServerClient {
  private readonly logger: Logger;
  private readonly events: Emitter<ClientEvents>;
  private readonly replica: Replica;
  private readonly stream: Stream | undefined;
  private readonly usage: UsageRecorder | undefined;
  private readonly initTimeoutMs: number;
  private ready = false;
  private offlineState: ConnectionState | undefined;
  private counters = { connections: 0, snapshots: 0, patches: 0, syncs: 0, resumes: 0 };
  /** Per connection: did a snapshot arrive, did `synced`? */
  private session = { snapshot: false, synced: false };

  constructor(options: ServerClientOptions) {
    this.logger = options.logger ?? defaultLogger();
    this.events = new Emitter(this.logger);
    this.initTimeoutMs = options.initTimeoutMs ?? 5000;
    if (options.url === undefined && options.bootstrap === undefined) {
      throw new ConfigurationError('give a url (and a server key), a bootstrap document, or both');
    }
    let bootstrap: { ruleset: Ruleset; doc: unknown } | undefined;
    if (options.bootstrap !== undefined) {
      bootstrap = { ruleset: Ruleset.compile(options.bootstrap), doc: options.bootstrap };
    }
    this.replica = new Replica((ruleset, changed) => this.published(ruleset, changed), this.logger, bootstrap);
    if (bootstrap !== undefined) {
      this.ready = true;
      // Listeners added right after construction still hear it.
      queueMicrotask(() => this.events.emit('ready', undefined));
    }

    if (options.url === undefined) {
      this.offlineState = 'offline';
      return;
    }
    const url = streamUrl(options.url);
    if (!options.serverKey) throw new ConfigurationError('a streaming client needs a server key (dl_server_…)');
    if (options.webSocket === undefined) {
      throw new ConfigurationError('no WebSocket implementation: pass `webSocket` (the Node entry point does)');
    }
    this.stream = new Stream({
      url,
      key: options.serverKey,
      sdk: options.sdk ?? SDK_NAME,
      kind: 'server',
      webSocket: options.webSocket,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backoffInitialMs: options.backoff?.initialMs ?? 500,
      backoffMaxMs: options.backoff?.maxMs ?? 30_000,
      unauthorizedRetryMs: options.unauthorizedRetryMs ?? 300_000,
      logger: this.logger,
      session: {
        hello: () => {
          this.session = { snapshot: false, synced: false };
          const version = this.replica.resumeVersion();
          // `receipts`: this SDK acknowledges what it applies (`applied`).
          return version === undefined ? { receipts: true } : { version, receipts: true };
        },
        welcomed: () => {
          this.counters.connections++;
        },
        handle: (message) => this.handle(message),
        heartbeat: (version) => this.heartbeat(version),
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

  /** Whether the client has flag data (from bootstrap or a server). */
  isReady(): boolean {
    return this.ready;
  }

  get state(): ConnectionState {
    return this.offlineState ?? this.stream?.state ?? 'offline';
  }

  /** The version of the current data, when there is some. */
  get version(): number | undefined {
    return this.replica.ruleset?.version;
  }

  /** The current ruleset (immutable), for callers that want the evaluator directly. */
  ruleset(): Ruleset | undefined {
    return this.replica.ruleset;
  }

  diagnostics(): ServerClientDiagnostics {
    return { ...this.counters };
  }

  /**
   * Waits until the client has flag data, at most `timeoutMs` (default
   * `initTimeoutMs`); settles early (false) when the server refuses the key
   * or the client stops. Never rejects. Until data arrives, evaluations return
   * the caller's default with `PROVIDER_NOT_READY`.
   */
  waitForReady(timeoutMs = this.initTimeoutMs): Promise<boolean> {
    return waitForReady(this.events, () => this.ready, timeoutMs);
  }

  /** Closes the connection for good; evaluations keep serving the last data. */
  close(): void {
    const stream = this.stream;
    if (stream !== undefined && this.usage !== undefined) {
      // What was counted since the last report goes out before the close.
      this.usage.flush((report) => stream.send({ ...report }));
      this.usage.stop();
    }
    if (stream !== undefined) stream.close();
    else this.offlineState = 'closed';
  }

  // ---- evaluation ---------------------------------------------------------

  boolVariation(key: string, context: Context, defaultValue: boolean): boolean {
    return this.boolVariationDetail(key, context, defaultValue).value;
  }

  boolVariationDetail(key: string, context: Context, defaultValue: boolean): EvaluationDetail<boolean> {
    const rules = this.replica.ruleset;
    return this.counted(key, rules ? rules.boolVariationDetail(key, context, defaultValue) : notReady(defaultValue));
  }

  stringVariation(key: string, context: Context, defaultValue: string): string {
    return this.stringVariationDetail(key, context, defaultValue).value;
  }

  stringVariationDetail(key: string, context: Context, defaultValue: string): EvaluationDetail<string> {
    const rules = this.replica.ruleset;
    return this.counted(key, rules ? rules.stringVariationDetail(key, context, defaultValue) : notReady(defaultValue));
  }

  numberVariation(key: string, context: Context, defaultValue: number): number {
    return this.numberVariationDetail(key, context, defaultValue).value;
  }

  numberVariationDetail(key: string, context: Context, defaultValue: number): EvaluationDetail<number> {
    const rules = this.replica.ruleset;
    return this.counted(key, rules ? rules.numberVariationDetail(key, context, defaultValue) : notReady(defaultValue));
  }

  /** Any variation type; object values are frozen. */
  jsonVariation<T = JsonValue>(key: string, context: Context, defaultValue: T): JsonValue | T {
    return this.jsonVariationDetail(key, context, defaultValue).value;
  }

  jsonVariationDetail<T = JsonValue>(key: string, context: Context, defaultValue: T): EvaluationDetail<JsonValue | T> {
    const rules = this.replica.ruleset;
    return this.counted(key, rules ? rules.jsonVariationDetail(key, context, defaultValue) : notReady<JsonValue | T>(defaultValue));
  }

  /**
   * Reports app event `event` (e.g. `checkout_error`) for `context`,
   * attributed to the variation `context` is served now of each of `flags`
   * (default: every flag this client has evaluated). Counted in memory and
   * sent with the next usage report; release guards compare these counts per
   * variation. An invalid name (1 to 100 of `A-Z a-z 0-9 _ - . :`) is ignored
   * with a warning.
   */
  track(event: string, context: Context, flags?: readonly string[]): void {
    const rules = this.replica.ruleset;
    if (this.usage === undefined || rules === undefined) return;
    if (!validEventName(event)) {
      this.logger.warn(`ignoring event ${JSON.stringify(event)}: a name is 1 to 100 of A-Z a-z 0-9 _ - . :`);
      return;
    }
    const served: [string, number][] = [];
    for (const flag of flags ?? this.usage.evaluatedFlags()) {
      const variation = rules.jsonVariationDetail(flag, context, null).variation;
      if (variation !== null) served.push([flag, variation]);
    }
    this.usage.track(event, served);
  }

  private counted<T>(key: string, detail: EvaluationDetail<T>): EvaluationDetail<T> {
    this.usage?.count(key, detail.variation);
    return detail;
  }

  // ---- the stream ---------------------------------------------------------

  private published(ruleset: Ruleset, changed: string[]): void {
    if (!this.ready) {
      this.ready = true;
      this.events.emit('ready', undefined);
    }
    if (changed.length > 0) {
      const event: ChangeEvent = { flags: changed, version: ruleset.version };
      this.events.emit('change', event);
    }
  }

  private handle(message: Message): StreamEnd | undefined {
    switch (message.type) {
      case 'snapshot': {
        const version = message.version;
        if (!isVersion(version)) {
          this.logger.error('a snapshot without a version: reconnecting');
          return RETRY;
        }
        try {
          this.replica.applySnapshot(version, message.ruleset);
        } catch (e) {
          const text = `cannot use the server's snapshot (${(e as Error).message}): keeping the last known flags`;
          this.logger.error(text);
          this.events.emit('error', { code: 'invalid_snapshot', message: text });
          this.replica.forgetVersion();
          return RETRY;
        }
        this.counters.snapshots++;
        this.session.snapshot = true;
        return undefined;
      }
      case 'synced': {
        const version = message.version;
        const have = this.replica.resumeVersion();
        if (isVersion(version) && have === version) {
          this.counters.syncs++;
          if (!this.session.snapshot) this.counters.resumes++;
          this.session.synced = true;
          this.stream?.markSynced();
          this.stream?.send({ type: 'applied', version });
          this.logger.info(`flags in sync at version ${version}`);
          return undefined;
        }
        if (isVersion(version) && have !== undefined && have < version) {
          this.logger.info(`missed changes before synced (have ${have}, server ${version}): resuming`);
          return RETRY;
        }
        // The server is behind what we have (or sent no data): start over.
        this.logger.warn(`synced ${String(version)} does not match the data received (${String(have)}): asking for a snapshot`);
        this.replica.forgetVersion();
        return RETRY;
      }
      case 'patch': {
        const { version, kind, key } = message;
        if (!isVersion(version) || typeof kind !== 'string' || typeof key !== 'string') {
          this.logger.warn('ignoring a patch this SDK cannot read');
          return undefined;
        }
        const outcome = this.replica.applyPatch(version, kind, key, message.doc);
        if (outcome === 'gap') {
          this.logger.info(`missed a change (have ${String(this.replica.resumeVersion())}, got ${version}): reconnecting to resume`);
          return RETRY;
        }
        if (outcome === 'applied') {
          this.counters.patches++;
          // The receipt an operator reads as "this app server has it".
          this.stream?.send({ type: 'applied', version });
        }
        return undefined;
      }
      default:
        // A message type this SDK does not know (a newer server): ignored.
        return undefined;
    }
  }

  private heartbeat(version: number | undefined): StreamEnd | undefined {
    const have = this.replica.resumeVersion();
    if (this.session.synced && version !== undefined && have !== undefined && have < version) {
      this.logger.info(`a heartbeat shows a missed change (have ${have}, server ${version}): resuming`);
      return RETRY;
    }
    return undefined;
  }
}

function notReady<T>(defaultValue: T): EvaluationDetail<T> {
  return errorDetail(defaultValue, 'PROVIDER_NOT_READY');
}

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
