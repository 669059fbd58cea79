// A scripted WebSocket: the test plays the server. Sockets open on the next
// tick; `receive` delivers a server message; `sent` holds what the client sent.
import type { WebSocketFactory, WebSocketLike } from '../../src/index.js';

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  closedByClient = false;

  constructor(readonly url: string) {
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }

  /** The server sends a message. */
  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The server (or the network) closes the connection. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  /** The client's hello. */
  get hello(): Record<string, unknown> | undefined {
    return this.sent.find((m) => m.type === 'hello');
  }
}

/** A factory that records every socket it opens. */
export function fakeSockets(): { factory: WebSocketFactory; sockets: FakeSocket[]; last(): FakeSocket } {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    factory: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    last: () => sockets[sockets.length - 1]!,
  };
}

export const flag = (on: boolean, extra: object = {}) => ({
  variations: [false, true],
  on,
  off_variation: 0,
  fallthrough: { variation: 1 },
  ...extra,
});

export const welcome = (kind: 'server' | 'client' = 'server', heartbeat_ms = 1000) => ({
  type: 'welcome',
  protocol: 1,
  environment: 'test',
  kind,
  heartbeat_ms,
});
