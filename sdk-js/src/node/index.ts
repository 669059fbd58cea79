/**
 * `@daylight/sdk/node`: the server-key client for Node, on the `ws` package
 * (Node 20 has no global WebSocket). Usage: `docs/sdk-js.md`.
 *
 * ```ts
 * import { createServerClient } from '@daylight/sdk/node';
 * const flags = createServerClient({ url: 'wss://flags.example.com', serverKey: process.env.DAYLIGHT_SERVER_KEY });
 * await flags.waitForReady();
 * if (flags.boolVariation('new-lobby', { key: 'u-42', game: 'omaha' }, false)) { … }
 * ```
 */
import WebSocket from 'ws';

import type { WebSocketFactory } from '../api/platform.js';
import { ServerClient, type ServerClientOptions } from '../server/client.js';

export {
  ServerClient,
  type ServerClientDiagnostics,
  type ServerClientOptions,
} from '../server/client.js';
export type { ChangeEvent, ClientEvents, ConnectionState, StateEvent, StreamErrorEvent } from '../api/events.js';

/** The largest message read: a snapshot of a big environment is one message. */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Opens WebSockets with the `ws` package. */
export const nodeWebSocket: WebSocketFactory = (url) =>
  new WebSocket(url, { maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });

/**
 * Starts a server-key client and returns at once; `await client.waitForReady()`
 * to wait for the first data (evaluations return defaults with
 * `PROVIDER_NOT_READY` until then).
 */
export function createServerClient(options: ServerClientOptions): ServerClient {
  return new ServerClient({ webSocket: nodeWebSocket, ...options });
}
