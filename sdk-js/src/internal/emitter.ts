/**
 * A small typed event emitter that works everywhere (no Node `events`). A
 * listener that throws is logged and does not stop the others, nor the
 * network code that emitted.
 */
import type { Logger } from '../api/platform.js';

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends { [name: string]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly logger: Logger) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (e) {
        this.logger.error(`a "${String(event)}" listener threw`, e);
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
