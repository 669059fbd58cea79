/**
 * Platform services the clients need, injected so one client works in Node
 * (the `ws` package), in browsers (the global `WebSocket`, `localStorage`)
 * and in tests (fakes). Each interface is the smallest slice of the standard
 * browser API that the SDK uses, so the browser's own objects fit as they are.
 */

/**
 * An event handler property. Its parameter is bivariant (method syntax), so
 * platform classes whose handlers take richer event types (the DOM's
 * `MessageEvent`, `CloseEvent`) still fit.
 */
export type EventHandler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WHATWG `WebSocket` the SDK uses (the `ws` package's class fits too). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: EventHandler<unknown> | null;
  onmessage: EventHandler<{ data: unknown }> | null;
  onclose: EventHandler<{ code?: number; reason?: string }> | null;
  onerror: EventHandler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens a WebSocket to `url`. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/** The part of the Web Storage API (`localStorage`) the browser client uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Where the SDK writes what it does. `console` fits. */
export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}
