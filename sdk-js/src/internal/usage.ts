/**
 * Usage counts a client reports to the server (`docs/usage-metrics.md`):
 * evaluations per flag and variation, and app events (`track`) tagged with
 * the variation the context is served. Counts accumulate in memory and go
 * out as `usage` messages on the stream every interval and on `close()`;
 * while disconnected they wait for the next connection.
 *
 * Memory is bounded: one counter per (flag, variation) evaluated (flags come
 * from the server), and at most MAX_EVENT_ENTRIES distinct (event, flag,
 * variation) between two reports; events beyond that are dropped and logged.
 */
import type { Logger } from '../api/platform.js';

export const MAX_EVENT_ENTRIES = 10_000;
/**
 * The size a message stays under (the server reads client messages of up to
 * 64 KiB), and a bound on an entry's bytes besides its strings.
 */
const MAX_MESSAGE_BYTES = 48 * 1024;
const ENTRY_OVERHEAD = 80;
const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

export interface UsageReport {
  type: 'usage';
  evaluations: { flag: string; variation: number; count: number }[];
  events: { event: string; flag: string; variation: number; count: number }[];
}

/** Whether `event` is a name the server accepts. */
export function validEventName(event: string): boolean {
  return EVENT_NAME.test(event);
}

export class UsageRecorder {
  /** Flag → counts per variation index. */
  private evaluations = new Map<string, number[]>();
  /** `event\u0000flag\u0000variation` → count. */
  private events = new Map<string, number>();
  private dropped = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Counts one evaluation (`null`: the caller's default, not counted). */
  count(flag: string, variation: number | null): void {
    if (variation === null) return;
    let counts = this.evaluations.get(flag);
    if (counts === undefined) {
      counts = [];
      this.evaluations.set(flag, counts);
    }
    counts[variation] = (counts[variation] ?? 0) + 1;
  }

  /** The flags evaluated so far. */
  evaluatedFlags(): string[] {
    return [...this.evaluations.keys()];
  }

  /** Counts `event` once for each (flag, variation) served. */
  track(event: string, served: Iterable<[string, number]>): void {
    for (const [flag, variation] of served) {
      const key = `${event}\u0000${flag}\u0000${variation}`;
      const have = this.events.get(key);
      if (have !== undefined) this.events.set(key, have + 1);
      else if (this.events.size >= MAX_EVENT_ENTRIES) this.dropped++;
      else this.events.set(key, 1);
    }
  }

  /** Takes the counts since the last call, as messages (empty: nothing to send). */
  take(): UsageReport[] {
    const evaluations: UsageReport['evaluations'] = [];
    for (const [flag, counts] of this.evaluations) {
      counts.forEach((count, variation) => {
        if (count > 0) evaluations.push({ flag, variation, count });
        counts[variation] = 0;
      });
    }
    const events: UsageReport['events'] = [];
    for (const [key, count] of this.events) {
      const [event, flag, variation] = key.split('\u0000');
      events.push({ event: event!, flag: flag!, variation: Number(variation), count });
    }
    this.events.clear();
    if (this.dropped > 0) {
      this.logger.warn(`too many distinct events between two usage reports: ${this.dropped} were not counted`);
      this.dropped = 0;
    }
    const reports: UsageReport[] = [];
    let report: UsageReport = { type: 'usage', evaluations: [], events: [] };
    let size = 0;
    const room = (n: number) => {
      if (size + n > MAX_MESSAGE_BYTES) {
        reports.push(report);
        report = { type: 'usage', evaluations: [], events: [] };
        size = 0;
      }
      size += n;
    };
    for (const e of evaluations) {
      room(utf8Length(e.flag) + ENTRY_OVERHEAD);
      report.evaluations.push(e);
    }
    for (const e of events) {
      room(utf8Length(e.flag) + utf8Length(e.event) + ENTRY_OVERHEAD);
      report.events.push(e);
    }
    if (report.evaluations.length > 0 || report.events.length > 0) reports.push(report);
    return reports;
  }

  /** Gives back counts that could not be sent. */
  restore(reports: UsageReport[]): void {
    for (const r of reports) {
      for (const e of r.evaluations) {
        let counts = this.evaluations.get(e.flag);
        if (counts === undefined) {
          counts = [];
          this.evaluations.set(e.flag, counts);
        }
        counts[e.variation] = (counts[e.variation] ?? 0) + e.count;
      }
      for (const e of r.events) {
        const key = `${e.event}\u0000${e.flag}\u0000${e.variation}`;
        this.events.set(key, (this.events.get(key) ?? 0) + e.count);
      }
    }
  }

  /** Sends what was counted with `send` (false: not connected, kept for later). */
  flush(send: (report: UsageReport) => boolean): void {
    const reports = this.take();
    for (let i = 0; i < reports.length; i++) {
      if (!send(reports[i]!)) {
        this.restore(reports.slice(i));
        return;
      }
    }
  }

  /** Flushes every `intervalMs` (the timer does not keep Node alive). */
  start(intervalMs: number, send: (report: UsageReport) => boolean): void {
    this.stop();
    this.timer = setInterval(() => this.flush(send), intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Bytes of `s` in UTF-8, at most (a JSON escape of a control character is longer, and rare). */
function utf8Length(s: string): number {
  return s.length * 3;
}
