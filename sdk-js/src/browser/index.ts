/**
 * `@daylight/sdk/browser`: the client-key client for browsers. Usage:
 * `docs/sdk-js.md`.
 *
 * ```ts
 * import { createBrowserClient } from '@daylight/sdk/browser';
 * const flags = createBrowserClient({ url: 'https://flags.example.com', clientKey: 'dl_client_…', context: { key: 'u-42' } });
 * flags.on('change', () => render());
 * await flags.waitForReady();
 * if (flags.boolVariation('new-lobby', false)) { … }
 * ```
 */
import type { StorageLike, WebSocketFactory, WebSocketLike } from '../api/platform.js';
import { BrowserClient, type BrowserClientOptions } from './client.js';

export { BrowserClient, type BrowserClientOptions, type ValuesSource } from './client.js';
export type { FlagValue, FlagValues } from './values.js';
export {
  jitterDelay,
  type BundleAnswer,
  type BundleOptions,
  type BundleReloadFailed,
  type BundleReloadInfo,
  type BundleStatus,
} from './bundle.js';
export type { ChangeEvent, ClientEvents, ConnectionState, StateEvent, StreamErrorEvent } from '../api/events.js';

type Globals = {
  WebSocket?: new (url: string) => WebSocketLike;
  localStorage?: StorageLike;
  document?: { readonly visibilityState?: string; addEventListener(type: string, listener: () => void): void };
};

/** Calls `fn` whenever the page becomes hidden (`visibilitychange`); nothing outside browsers. */
export function onPageHidden(fn: () => void): void {
  const document = (globalThis as Globals).document;
  if (document === undefined || typeof document.addEventListener !== 'function') return;
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') fn();
  });
}

/** Opens WebSockets with the platform's global `WebSocket`. */
export const globalWebSocket: WebSocketFactory = (url) => {
  const Ctor = (globalThis as Globals).WebSocket;
  if (Ctor === undefined) throw new Error('this platform has no global WebSocket: pass `webSocket`');
  return new Ctor(url);
};

/** `localStorage` when it exists and works (it throws in some privacy modes), else `undefined`. */
export function browserStorage(): StorageLike | undefined {
  try {
    const storage = (globalThis as Globals).localStorage;
    if (storage === undefined) return undefined;
    const probe = 'daylight:probe';
    storage.setItem(probe, '1');
    storage.removeItem(probe);
    return storage;
  } catch {
    return undefined;
  }
}

/** Starts a client-key client and returns at once (see `waitForReady`). */
export function createBrowserClient(options: BrowserClientOptions): BrowserClient {
  return new BrowserClient({
    ...options,
    webSocket: options.webSocket ?? globalWebSocket,
    storage: options.storage === undefined ? browserStorage() : options.storage,
    onPageHidden: options.onPageHidden ?? onPageHidden,
  });
}
