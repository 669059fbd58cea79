/**
 * Reconnect delays: exponential back-off with jitter (`docs/protocol.md`,
 * "Errors and back-pressure": 0.5 s doubling to 30 s, each delay randomised
 * between half and all of it).
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Back to the shortest delay (after a connection got in sync). */
  reset(): void {
    this.attempt = 0;
  }

  /** The next delay, randomised; each call doubles the ceiling up to the maximum. */
  nextDelayMs(): number {
    const ceiling = this.ceilingMs();
    this.attempt = Math.min(this.attempt + 1, 64);
    return ceiling / 2 + this.random() * (ceiling / 2);
  }

  /** The un-jittered delay of the current attempt: `initial * 2^attempt`, at most the maximum. */
  ceilingMs(): number {
    return Math.min(this.initialMs * 2 ** this.attempt, Math.max(this.maxMs, this.initialMs));
  }
}
