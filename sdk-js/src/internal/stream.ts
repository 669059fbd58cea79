/**
 * One WebSocket at a time to `/sdk/v1/stream` (`docs/protocol.md`): the
 * handshake, heartbeats both ways, silence detection, server errors, and
 * reconnects with back-off. Shared by both clients; what the messages mean
 * (snapshots and patches, or evaluated values) is the {@link StreamSession}'s
 * business.
 */
import type { ConnectionState, StreamErrorEvent } from '../api/events.js';
import type { Logger, WebSocketFactory, WebSocketLike } from '../api/platform.js';
import { Backoff } from './backoff.js';

/** The protocol versions this SDK speaks, sent in `hello.protocols`. */
export const PROTOCOLS: readonly number[] = [1];
/** Used when `welcome` does not say (the protocol's usual interval). */
const DEFAULT_HEARTBEAT_MS = 15_000;
/** The connection is dead after this many heartbeat intervals of silence. */
const DEAD_AFTER_INTERVALS = 3;
const OPEN = 1;

/** How a connection ends, which decides what happens next. */
export type StreamEnd =
  /** Reconnect after the back-off. */
  | { readonly kind: 'retry' }
  /** The key was refused: retry after the long unauthorized delay. */
  | { readonly kind: 'unauthorized' }
  /** Never reconnect. */
  | { readonly kind: 'stop' };

export const RETRY: StreamEnd = { kind: 'retry' };
export const STOP: StreamEnd = { kind: 'stop' };

/** A server message, already parsed. */
export type Message = { readonly type: string; readonly [field: string]: unknown };

/** What a client plugs into the stream. */
export interface StreamSession {
  /** The hello's extra fields (`version` for server keys, `context` for client keys). */
  hello(): Record<string, unknown>;
  /** Any message but `welcome`, `heartbeat` and `error`; an end closes the connection. */
  handle(message: Message): StreamEnd | undefined;
  /** `welcome` arrived (the handshake is done). */
  welcomed?(message: Message): void;
  /** A server heartbeat (with the server's version). */
  heartbeat?(version: number | undefined): StreamEnd | undefined;
  /** The connection ended (any way). */
  disconnected?(): void;
}

export interface StreamOptions {
  url: string;
  key: string;
  sdk: string;
  /** The key kind this client needs (`welcome.kind`). */
  kind: 'server' | 'client';
  webSocket: WebSocketFactory;
  connectTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  unauthorizedRetryMs: number;
  logger: Logger;
  session: StreamSession;
  onState(state: ConnectionState): void;
  onError(error: StreamErrorEvent): void;
}

export class Stream {
  private readonly backoff: Backoff;
  private socket: WebSocketLike | undefined;
  private connection = 0;
  private synced = false;
  private heartbeatMs: number | undefined;
  /** The current connection's hello has gone out (later messages may follow it). */
  private helloSent = false;
  private silenceTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private stateValue: ConnectionState = 'connecting';

  constructor(private readonly options: StreamOptions) {
    this.backoff = new Backoff(options.backoffInitialMs, options.backoffMaxMs);
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Opens the first connection. */
  start(): void {
    this.connect();
  }

  /** The session is up to date: the next reconnect starts the back-off over. */
  markSynced(): void {
    this.synced = true;
    this.setState('synced');
  }

  /**
   * Sends a message after the current connection's hello (the server reads
   * it once the handshake is done); `false` when there is no such connection
   * (the next hello is then built afresh).
   */
  send(message: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== OPEN || !this.helloSent) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch (e) {
      this.options.logger.warn('cannot send on the flag stream', e);
      return false;
    }
  }

  /** Stops for good. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.drop();
    this.setState('closed');
  }

  private setState(state: ConnectionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.options.onState(state);
  }

  private connect(): void {
    if (this.closed) return;
    const { logger, url } = this.options;
    const connection = ++this.connection;
    this.synced = false;
    this.heartbeatMs = undefined;
    this.setState('connecting');
    let socket: WebSocketLike;
    try {
      socket = this.options.webSocket(url);
    } catch (e) {
      logger.warn(`cannot open the flag stream ${url}`, e);
      this.options.onError({ code: 'connect_failed', message: String(e) });
      this.end(RETRY);
      return;
    }
    this.socket = socket;
    const current = () => this.connection === connection && !this.closed;
    socket.onopen = () => {
      if (!current()) return;
      const hello = {
        type: 'hello',
        protocols: PROTOCOLS,
        key: this.options.key,
        sdk: this.options.sdk,
        ...this.options.session.hello(),
      };
      try {
        socket.send(JSON.stringify(hello));
        this.helloSent = true;
      } catch (e) {
        logger.warn('the flag stream closed during the handshake', e);
        this.end(RETRY);
      }
    };
    socket.onmessage = (event) => {
      if (!current()) return;
      this.heard();
      if (typeof event.data !== 'string') return; // binary frames are not ours
      let message: Message;
      try {
        const parsed: unknown = JSON.parse(event.data);
        if (typeof parsed !== 'object' || parsed === null || typeof (parsed as Message).type !== 'string') {
          throw new Error('not a typed message');
        }
        message = parsed as Message;
      } catch (e) {
        logger.warn('ignoring a message this SDK cannot read', e);
        return;
      }
      let end: StreamEnd | undefined;
      try {
        end = this.dispatch(message);
      } catch (e) {
        // A bug must not escape into the socket's event handler (and crash the app).
        logger.error(`failed to handle a "${message.type}" message: reconnecting`, e);
        end = RETRY;
      }
      if (end !== undefined && current()) this.end(end);
    };
    socket.onerror = (event) => {
      if (!current()) return;
      logger.debug('flag stream socket error', (event as { message?: string })?.message ?? event);
    };
    socket.onclose = (event) => {
      if (!current()) return;
      logger.info(`the flag stream closed (${event?.code ?? '?'}): reconnecting`);
      this.end(RETRY);
    };
    // Before `welcome` the connect timeout applies; then three intervals.
    this.heard();
  }

  private dispatch(message: Message): StreamEnd | undefined {
    const { logger } = this.options;
    switch (message.type) {
      case 'welcome': {
        if (typeof message.protocol !== 'number' || !PROTOCOLS.includes(message.protocol)) {
          logger.error(`the server chose protocol ${String(message.protocol)}, which this SDK did not offer: reconnecting`);
          return RETRY;
        }
        if (message.kind !== undefined && message.kind !== this.options.kind) {
          const text =
            this.options.kind === 'server'
              ? 'this client needs a server key (dl_server_…), the server says it is a client key'
              : 'a browser client needs a client key (dl_client_…); never ship a server key to a browser';
          logger.error(`${text}: stopping`);
          this.options.onError({ code: 'wrong_key_kind', message: text });
          return STOP;
        }
        const ms = message.heartbeat_ms;
        this.heartbeatMs = typeof ms === 'number' && ms > 0 ? ms : DEFAULT_HEARTBEAT_MS;
        this.heard();
        if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
        this.heartbeatTimer = setInterval(() => this.send({ type: 'heartbeat' }), this.heartbeatMs);
        logger.info(`connected to the flag stream (environment ${String(message.environment)})`);
        this.options.session.welcomed?.(message);
        return undefined;
      }
      case 'heartbeat': {
        const version = typeof message.version === 'number' ? message.version : undefined;
        return this.options.session.heartbeat?.(version);
      }
      case 'error': {
        const code = typeof message.code === 'string' ? message.code : 'unknown';
        const text = typeof message.message === 'string' ? message.message : '';
        this.options.onError({ code, message: text });
        switch (code) {
          case 'unauthorized':
            logger.error(`the server refused the key (${text}); retrying after a long back-off`);
            return { kind: 'unauthorized' };
          case 'unsupported_protocol':
            logger.error(`the server and this SDK share no protocol version (${text}): stopping`);
            return STOP;
          default:
            // bad_message, slow_consumer, shutting_down and codes this SDK
            // does not know: reconnect with back-off.
            logger.warn(`the server sent an error (${code}: ${text}): reconnecting`);
            return RETRY;
        }
      }
      default:
        return this.options.session.handle(message);
    }
  }

  /** Restarts the silence watchdog. */
  private heard(): void {
    if (this.silenceTimer !== undefined) clearTimeout(this.silenceTimer);
    const silence =
      this.heartbeatMs === undefined ? this.options.connectTimeoutMs : this.heartbeatMs * DEAD_AFTER_INTERVALS;
    const connection = this.connection;
    this.silenceTimer = setTimeout(() => {
      if (this.connection !== connection || this.closed) return;
      this.options.logger.warn(`heard nothing from the flag stream for ${silence} ms: reconnecting`);
      this.end(RETRY);
    }, silence);
  }

  /** Ends the current connection and schedules the next one. */
  private end(end: StreamEnd): void {
    const wasSynced = this.synced;
    this.drop();
    if (this.closed) return;
    let delay: number;
    switch (end.kind) {
      case 'stop':
        this.setState('stopped');
        return;
      case 'unauthorized':
        this.setState('unauthorized');
        delay = this.options.unauthorizedRetryMs;
        break;
      case 'retry':
        if (wasSynced) this.backoff.reset();
        this.setState('disconnected');
        delay = this.backoff.nextDelayMs();
        break;
    }
    this.options.logger.debug(`reconnecting in ${Math.round(delay)} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Forgets the current socket (closing it) and its timers. */
  private drop(): void {
    this.connection++;
    if (this.silenceTimer !== undefined) clearTimeout(this.silenceTimer);
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.silenceTimer = undefined;
    this.heartbeatTimer = undefined;
    this.heartbeatMs = undefined;
    this.helloSent = false;
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      // No-op handlers, not null: the `ws` package throws an 'error' event
      // that has no listener (closing a socket that is still connecting).
      const ignore = () => {};
      socket.onopen = ignore;
      socket.onmessage = ignore;
      socket.onclose = ignore;
      socket.onerror = ignore;
      try {
        socket.close(1000);
      } catch {
        // already closed
      }
    }
    this.options.session.disconnected?.();
  }
}
