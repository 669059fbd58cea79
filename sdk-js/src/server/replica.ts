/**
 * The server-key client's copy of its environment, and how stream messages
 * change it (the Rust client's `store.rs`): snapshots replace everything,
 * patches apply one flag or segment at a time and must be consecutive, and
 * every change tells the listeners which flags it may affect.
 */
import type { Logger } from '../api/platform.js';
import { murmur3_32 } from '../evaluator/murmur3.js';
import { Ruleset } from '../evaluator/ruleset.js';
import { canonicalJson } from '../internal/json.js';

/** What became of a patch. */
export type PatchOutcome =
  | 'applied'
  /** Already applied (a version at or below ours): ignored. */
  | 'stale'
  /** A version was skipped, or there is nothing to patch: reconnect and resume. */
  | 'gap';

/** Called with each new ruleset and the flags the change may affect (sorted). */
export type Publish = (ruleset: Ruleset, changed: string[]) => void;

export class Replica {
  private current: Ruleset | undefined;
  /** A fingerprint of every flag and segment document, to tell what a snapshot changed. */
  private flagPrints = new Map<string, string>();
  private segmentPrints = new Map<string, string>();
  /**
   * The data came from a server, so its version can be resumed. Bootstrap
   * data is never resumed from: the first connection asks for a snapshot.
   */
  private fromServer = false;

  constructor(
    private readonly publish: Publish,
    private readonly logger: Logger,
    bootstrap?: { ruleset: Ruleset; doc: unknown },
  ) {
    if (bootstrap !== undefined) {
      this.current = bootstrap.ruleset;
      [this.flagPrints, this.segmentPrints] = prints(bootstrap.doc);
    }
  }

  get ruleset(): Ruleset | undefined {
    return this.current;
  }

  /** The version to send in `hello.version`: only data from a server is resumed. */
  resumeVersion(): number | undefined {
    return this.fromServer ? this.current?.version : undefined;
  }

  /** Makes the next connection ask for a snapshot instead of resuming. */
  forgetVersion(): void {
    this.fromServer = false;
  }

  /**
   * Replaces everything with a snapshot. Entries this SDK cannot read or
   * compile are left out and logged (they evaluate as `FLAG_NOT_FOUND`).
   * Throws when the snapshot is not a document at all.
   */
  applySnapshot(version: number, doc: unknown): void {
    const compiled = Ruleset.compileLenient(doc, (kind, key, error) =>
      this.logger.error(`a ${kind} this SDK cannot compile was left out: ${key}: ${error.message}`),
    ).withVersion(version);
    const [flagPrints, segmentPrints] = prints(doc, compiled);
    const changedFlags = changedKeys(this.flagPrints, flagPrints);
    const changedSegments = new Set(changedKeys(this.segmentPrints, segmentPrints));
    this.flagPrints = flagPrints;
    this.segmentPrints = segmentPrints;
    this.fromServer = true;
    this.current = compiled;
    this.logger.debug(`applied a snapshot at version ${version}`);
    this.publish(compiled, compiled.affectedFlags(changedFlags, changedSegments));
  }

  applyPatch(version: number, kind: string, key: string, doc: unknown): PatchOutcome {
    const current = this.current;
    if (current === undefined || !this.fromServer) return 'gap';
    if (version <= current.version) return 'stale';
    if (version !== current.version + 1) return 'gap';
    let next: Ruleset;
    const flags: string[] = [];
    const segments = new Set<string>();
    const removed = doc === null || doc === undefined;
    if (kind === 'flag' || kind === 'segment') {
      const prints = kind === 'flag' ? this.flagPrints : this.segmentPrints;
      if (kind === 'flag') flags.push(key);
      else segments.add(key);
      try {
        next = kind === 'flag' ? current.withFlag(key, doc, version) : current.withSegment(key, doc, version);
        if (removed) prints.delete(key);
        else prints.set(key, fingerprint(doc));
      } catch (e) {
        this.logger.error(`a patched ${kind} this SDK cannot compile was removed: ${key}: ${(e as Error).message}`);
        prints.delete(key);
        next = kind === 'flag' ? current.withFlag(key, null, version) : current.withSegment(key, null, version);
      }
    } else {
      this.logger.debug(`a patch of a kind this SDK does not know (${kind}): version advanced`);
      next = current.withVersion(version);
    }
    this.current = next;
    this.publish(next, next.affectedFlags(flags, segments));
    return 'applied';
  }
}

/** Fingerprints of a document's flags and segments (only those `compiled` kept, when given). */
function prints(doc: unknown, compiled?: Ruleset): [Map<string, string>, Map<string, string>] {
  const members = (name: string): [string, unknown][] => {
    const o = (doc as { [k: string]: unknown } | null)?.[name];
    return typeof o === 'object' && o !== null && !Array.isArray(o) ? Object.entries(o) : [];
  };
  const flags = new Map<string, string>();
  for (const [key, value] of members('flags')) {
    if (compiled === undefined || compiled.hasFlag(key)) flags.set(key, fingerprint(value));
  }
  const segments = new Map<string, string>();
  for (const [key, value] of members('segments')) {
    if (compiled === undefined || compiled.hasSegment(key)) segments.set(key, fingerprint(value));
  }
  return [flags, segments];
}

/** Keys added, removed, or with another fingerprint. */
function changedKeys(old: ReadonlyMap<string, string>, now: ReadonlyMap<string, string>): string[] {
  const changed: string[] = [];
  for (const [key, print] of now) if (old.get(key) !== print) changed.push(key);
  for (const key of old.keys()) if (!now.has(key)) changed.push(key);
  return changed;
}

const encoder = new TextEncoder();

/** A hash of a document's canonical JSON (keys sorted). */
function fingerprint(value: unknown): string {
  const bytes = encoder.encode(canonicalJson(value));
  return `${murmur3_32(bytes, 0)}.${murmur3_32(bytes, 0x9747b28c)}.${bytes.length}`;
}
