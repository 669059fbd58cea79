import type { ClientEvents, ConnectionState } from '../api/events.js';
import type { Emitter } from './emitter.js';

/**
 * Resolves `true` once `ready` is emitted, `false` after `timeoutMs` or when
 * the connection is refused or stops first. Never rejects.
 */
export function waitForReady(events: Emitter<ClientEvents>, isReady: () => boolean, timeoutMs: number): Promise<boolean> {
  if (isReady()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = () => {
      clearTimeout(timer);
      events.off('ready', settle);
      events.off('state', onState);
      resolve(isReady());
    };
    const onState = ({ state }: { state: ConnectionState }) => {
      if (state === 'unauthorized' || state === 'stopped' || state === 'closed') settle();
    };
    const timer = setTimeout(settle, timeoutMs);
    events.on('ready', settle);
    events.on('state', onState);
  });
}
