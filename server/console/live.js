// Live updates: follows the audit log (`GET /api/v1/audit?after_id=N`) about
// once a second and hands every new batch of entries to the views that are
// open; each decides whether the change concerns it. Every write — from this
// tab, another tab, the CLI or a deploy script — lands in the audit log.
import { api } from './api.js';

const OVERLAP = 20;

export class Live {
  constructor(intervalMs = 1000) {
    this.intervalMs = intervalMs;
    this.listeners = new Set();
    this.lastId = null;
    this.timer = null;
    this.status = 'starting';
    this.onStatus = () => {};
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async start() {
    this.stop();
    this.stopped = false;
    const { data } = await api('GET', `/audit?limit=${OVERLAP + 1}`);
    this.lastId = data.entries[0]?.id ?? 0;
    this.seen = new Set(data.entries.map((e) => e.id));
    this.setStatus('live');
    // A view that loaded before this first read may have missed these
    // entries (a write between its load and this read): let it check.
    this.emit(data.entries);
    this.schedule();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  schedule() {
    if (!this.stopped) this.timer = setTimeout(() => this.poll(), this.intervalMs);
  }

  setStatus(status) {
    if (status !== this.status) {
      this.status = status;
      this.onStatus(status);
    }
  }

  emit(entries) {
    if (entries.length === 0) return;
    for (const fn of [...this.listeners]) {
      try {
        fn(entries);
      } catch (e) {
        console.error(e);
      }
    }
  }

  async poll() {
    try {
      // Look a little behind the newest id seen: with concurrent writers a
      // lower id can commit after a higher one (PostgreSQL sequences).
      const from = Math.max(0, this.lastId - OVERLAP);
      const { data } = await api('GET', `/audit?after_id=${from}&limit=200`);
      this.setStatus('live');
      const fresh = data.entries.filter((e) => !this.seen.has(e.id));
      for (const e of fresh) this.seen.add(e.id);
      for (const id of this.seen) if (id <= from) this.seen.delete(id);
      if (fresh.length > 0) {
        this.lastId = Math.max(this.lastId, fresh[0].id);
        this.emit(fresh);
      }
    } catch {
      this.setStatus('offline');
    }
    this.schedule();
  }
}
