/**
 * One environment's flags and segments, compiled, and the evaluator:
 * off → prerequisites → targets → rules in order → fallthrough
 * (`docs/flag-format.md`; the Rust SDK's `evaluate.rs`).
 *
 * A `Ruleset` never changes: a patch makes a new one that shares every
 * other compiled flag and segment, so a client swaps whole rulesets and an
 * evaluation never sees half of a change.
 */
import type { Context } from '../api/context.js';
import {
  errorDetail,
  errorReason,
  type EvaluationDetail,
  type Reason,
} from '../api/detail.js';
import type { FlagRules, RulesetDocument, SegmentRules } from '../api/documents.js';
import { ValidationError } from '../api/errors.js';
import type { JsonValue } from '../api/json.js';
import { bucketOf, bucketValue } from './bucket.js';
import {
  compileFlag,
  compileSegment,
  type CompiledFlag,
  type CompiledSegment,
  type CompiledServe,
  type VariationKind,
} from './compile.js';
import { EvalContext } from './context.js';
import { object, optional, string, uint } from './read.js';

export type { VariationKind } from './compile.js';

/** Prerequisite chains are acyclic (checked on compile); this bounds the recursion anyway. */
const MAX_PREREQUISITE_DEPTH = 32;

const OFF: Reason = Object.freeze({ kind: 'OFF' });
const TARGET_MATCH: Reason = Object.freeze({ kind: 'TARGET_MATCH' });
const FALLTHROUGH_FIXED: Reason = Object.freeze({ kind: 'FALLTHROUGH', in_rollout: false });
const FALLTHROUGH_SPLIT: Reason = Object.freeze({ kind: 'FALLTHROUGH', in_rollout: true });

/**
 * An untyped evaluation result: `value` is `undefined` when the caller's
 * default applies (an error, or off without an off variation).
 */
export interface RawDetail {
  readonly value: JsonValue | undefined;
  readonly variation: number | null;
  readonly reason: Reason;
}

/** Told about each flag or segment a lenient compile leaves out. */
export type SkipHandler = (kind: 'flag' | 'segment', key: string, error: ValidationError) => void;

export class Ruleset {
  readonly environment: string;
  /** The change-log version this ruleset reflects. */
  readonly version: number;
  private readonly flags: ReadonlyMap<string, CompiledFlag>;
  private readonly segments: ReadonlyMap<string, CompiledSegment>;

  private constructor(
    environment: string,
    version: number,
    flags: ReadonlyMap<string, CompiledFlag>,
    segments: ReadonlyMap<string, CompiledSegment>,
  ) {
    this.environment = environment;
    this.version = version;
    this.flags = flags;
    this.segments = segments;
  }

  /** A ruleset without flags. */
  static empty(environment = '', version = 0): Ruleset {
    return new Ruleset(environment, version, new Map(), new Map());
  }

  /**
   * Validates and compiles a whole `RulesetDocument`; throws a
   * {@link ValidationError} naming the first bad field. Operators this SDK
   * does not know are kept as never-matching.
   */
  static compile(doc: RulesetDocument | unknown): Ruleset {
    const o = object(doc, '');
    const environment = readEnvironment(o, true);
    const versionRaw = optional(o, 'version');
    const version = versionRaw === undefined ? 0 : uint(versionRaw, 'version');
    const segments = new Map<string, CompiledSegment>();
    for (const [key, raw] of entries(o, 'segments', true)) {
      segments.set(key, compileSegment(raw, `segments.${key}`));
    }
    const flags = new Map<string, CompiledFlag>();
    for (const [key, raw] of entries(o, 'flags', true)) {
      flags.set(key, compileFlag(key, raw, `flags.${key}`));
    }
    const cycle = findCycle(flags);
    if (cycle !== undefined) throw cycleError(cycle);
    return new Ruleset(environment, version, flags, segments);
  }

  /**
   * Compiles what it can: each flag or segment that does not read or
   * compile is left out (it then evaluates as `FLAG_NOT_FOUND`) and reported
   * to `onSkip`, rather than losing the whole environment. This is how the
   * SDK clients read a server's snapshot, as the Rust client does.
   */
  static compileLenient(doc: unknown, onSkip: SkipHandler = () => {}): Ruleset {
    const o = object(doc, '');
    const environment = readEnvironment(o, false);
    const versionRaw = optional(o, 'version');
    const version = typeof versionRaw === 'number' && Number.isInteger(versionRaw) && versionRaw >= 0 ? versionRaw : 0;
    const segments = new Map<string, CompiledSegment>();
    for (const [key, raw] of entries(o, 'segments', false)) {
      try {
        segments.set(key, compileSegment(raw, `segments.${key}`));
      } catch (e) {
        onSkip('segment', key, asValidationError(e));
      }
    }
    const flags = new Map<string, CompiledFlag>();
    for (const [key, raw] of entries(o, 'flags', false)) {
      try {
        flags.set(key, compileFlag(key, raw, `flags.${key}`));
      } catch (e) {
        onSkip('flag', key, asValidationError(e));
      }
    }
    for (let cycle = findCycle(flags); cycle !== undefined; cycle = findCycle(flags)) {
      flags.delete(cycle);
      onSkip('flag', cycle, cycleError(cycle));
    }
    return new Ruleset(environment, version, flags, segments);
  }

  /**
   * A copy with flag `key` replaced (a document) or removed (`null`), at
   * `version`; the rest is shared. Throws a {@link ValidationError} when the
   * document does not compile or makes a prerequisite cycle.
   */
  withFlag(key: string, doc: FlagRules | unknown | null, version: number): Ruleset {
    const flags = new Map(this.flags);
    if (doc === null || doc === undefined) {
      flags.delete(key);
    } else {
      flags.set(key, compileFlag(key, doc, `flags.${key}`));
      const cycle = findCycle(flags);
      if (cycle !== undefined) throw cycleError(cycle);
    }
    return new Ruleset(this.environment, version, flags, this.segments);
  }

  /** A copy with segment `key` replaced or removed (`null`), at `version`. */
  withSegment(key: string, doc: SegmentRules | unknown | null, version: number): Ruleset {
    const segments = new Map(this.segments);
    if (doc === null || doc === undefined) {
      segments.delete(key);
    } else {
      segments.set(key, compileSegment(doc, `segments.${key}`));
    }
    return new Ruleset(this.environment, version, this.flags, segments);
  }

  /** The same contents at another version (a change this SDK does not evaluate). */
  withVersion(version: number): Ruleset {
    return new Ruleset(this.environment, version, this.flags, this.segments);
  }

  flagKeys(): string[] {
    return [...this.flags.keys()];
  }

  hasFlag(key: string): boolean {
    return this.flags.has(key);
  }

  hasSegment(key: string): boolean {
    return this.segments.has(key);
  }

  /** May a browser (client key) see this flag? */
  isClientSide(key: string): boolean {
    return this.flags.get(key)?.clientSide === true;
  }

  /** The version of flag `key`'s config. */
  flagVersion(key: string): number | undefined {
    return this.flags.get(key)?.version;
  }

  variationKind(key: string): VariationKind | undefined {
    return this.flags.get(key)?.kind;
  }

  /**
   * `flags`, plus the flags using one of `segments`, plus (transitively) the
   * flags having one of those as a prerequisite; sorted. Used to tell change
   * listeners which flags a change may affect.
   */
  affectedFlags(flags: Iterable<string>, segments: ReadonlySet<string>): string[] {
    const affected = new Set(flags);
    if (segments.size > 0) {
      for (const [key, flag] of this.flags) {
        const usesSegment = flag.rules.some((rule) =>
          rule.clauses.some((clause) => clause.segmentRefs.some((s) => segments.has(s))),
        );
        if (usesSegment) affected.add(key);
      }
    }
    for (let grew = true; grew; ) {
      grew = false;
      for (const [key, flag] of this.flags) {
        if (!affected.has(key) && flag.prerequisites.some((pre) => affected.has(pre.key))) {
          affected.add(key);
          grew = true;
        }
      }
    }
    return [...affected].sort();
  }

  /** Evaluates flag `key` for `context`, untyped. */
  evaluate(key: string, context: Context | undefined): RawDetail {
    const flag = this.flags.get(key);
    if (flag === undefined) return { value: undefined, variation: null, reason: errorReason('FLAG_NOT_FOUND') };
    const ctx = EvalContext.read(context);
    if (ctx === undefined) return { value: undefined, variation: null, reason: errorReason('GENERAL') };
    return this.evalFlag(flag, ctx, 0);
  }

  boolVariation(key: string, context: Context | undefined, defaultValue: boolean): boolean {
    return this.boolVariationDetail(key, context, defaultValue).value;
  }

  boolVariationDetail(key: string, context: Context | undefined, defaultValue: boolean): EvaluationDetail<boolean> {
    return typed(this.evaluate(key, context), defaultValue, isBoolean);
  }

  stringVariation(key: string, context: Context | undefined, defaultValue: string): string {
    return this.stringVariationDetail(key, context, defaultValue).value;
  }

  stringVariationDetail(key: string, context: Context | undefined, defaultValue: string): EvaluationDetail<string> {
    return typed(this.evaluate(key, context), defaultValue, isString);
  }

  numberVariation(key: string, context: Context | undefined, defaultValue: number): number {
    return this.numberVariationDetail(key, context, defaultValue).value;
  }

  numberVariationDetail(key: string, context: Context | undefined, defaultValue: number): EvaluationDetail<number> {
    return typed(this.evaluate(key, context), defaultValue, isNumber);
  }

  /** Any variation type. Object values are frozen: copy one to change it. */
  jsonVariation<T = JsonValue>(key: string, context: Context | undefined, defaultValue: T): JsonValue | T {
    return this.jsonVariationDetail(key, context, defaultValue).value;
  }

  jsonVariationDetail<T = JsonValue>(
    key: string,
    context: Context | undefined,
    defaultValue: T,
  ): EvaluationDetail<JsonValue | T> {
    return typed<JsonValue | T>(this.evaluate(key, context), defaultValue, isAnything);
  }

  private evalFlag(flag: CompiledFlag, ctx: EvalContext, depth: number): RawDetail {
    if (!flag.on) return off(flag, OFF);
    for (const pre of flag.prerequisites) {
      const preFlag = this.flags.get(pre.key);
      const met =
        depth < MAX_PREREQUISITE_DEPTH &&
        preFlag !== undefined &&
        preFlag.on &&
        this.evalFlag(preFlag, ctx, depth + 1).variation === pre.variation;
      if (!met) return off(flag, { kind: 'PREREQUISITE_FAILED', prerequisite_key: pre.key });
    }
    if (ctx.key !== undefined) {
      const variation = flag.targets.get(ctx.key);
      if (variation !== undefined) return served(flag, variation, TARGET_MATCH);
    }
    for (let index = 0; index < flag.rules.length; index++) {
      const rule = flag.rules[index]!;
      if (rule.clauses.every((clause) => clause.matches(ctx, this.segments))) {
        const [variation, inRollout] = serve(rule.serve, ctx);
        return served(flag, variation, {
          kind: 'RULE_MATCH',
          rule_index: index,
          rule_id: rule.id,
          in_rollout: inRollout,
        });
      }
    }
    const [variation, inRollout] = serve(flag.fallthrough, ctx);
    return served(flag, variation, inRollout ? FALLTHROUGH_SPLIT : FALLTHROUGH_FIXED);
  }
}

function off(flag: CompiledFlag, reason: Reason): RawDetail {
  if (flag.offVariation === undefined) return { value: undefined, variation: null, reason };
  return served(flag, flag.offVariation, reason);
}

function served(flag: CompiledFlag, variation: number, reason: Reason): RawDetail {
  return { value: flag.variations[variation], variation, reason };
}

/** The variation a serve picks, and whether a rollout decided it. */
function serve(s: CompiledServe, ctx: EvalContext): [number, boolean] {
  if (s.rollout === undefined) return [s.variation, false];
  const { thresholds, salt, bucketBy } = s.rollout;
  const attr = ctx.get(bucketBy);
  const value = attr === undefined ? undefined : bucketValue(attr);
  // A missing bucket value counts as bucket 0 (documented).
  const bucket = value === undefined ? 0 : bucketOf(salt, value);
  const hit = thresholds.find(([, end]) => end > bucket) ?? thresholds[thresholds.length - 1];
  return [hit === undefined ? 0 : hit[0], value !== undefined && thresholds.length > 1];
}

/** The value when it has the wanted type, else the default with `TYPE_MISMATCH`. */
function typed<T>(detail: RawDetail, defaultValue: T, accept: (value: JsonValue) => value is T & JsonValue): EvaluationDetail<T> {
  if (detail.value === undefined) return { value: defaultValue, variation: null, reason: detail.reason };
  if (accept(detail.value)) return { value: detail.value, variation: detail.variation, reason: detail.reason };
  return errorDetail(defaultValue, 'TYPE_MISMATCH');
}

const isBoolean = (v: JsonValue): v is boolean => typeof v === 'boolean';
const isString = (v: JsonValue): v is string => typeof v === 'string';
const isNumber = (v: JsonValue): v is number => typeof v === 'number';
const isAnything = (_: JsonValue): _ is JsonValue => true;

function readEnvironment(o: Parameters<typeof optional>[0], strict: boolean): string {
  const raw = optional(o, 'environment');
  if (raw === undefined) return '';
  if (strict) return string(raw, 'environment');
  return typeof raw === 'string' ? raw : '';
}

/** The members of an optional object field. */
function entries(o: Parameters<typeof optional>[0], name: string, strict: boolean): [string, unknown][] {
  const raw = optional(o, name);
  if (raw === undefined) return [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    if (strict) throw new ValidationError(name, 'expected an object');
    return [];
  }
  return Object.entries(raw);
}

/**
 * A flag on a prerequisite cycle, or `undefined`. Depth-first in key order
 * (the Rust SDK walks its hash map's order: both refuse every cycle, but may
 * name another flag of it).
 */
function findCycle(flags: ReadonlyMap<string, CompiledFlag>): string | undefined {
  const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
  const visit = (key: string): string | undefined => {
    const s = state.get(key);
    if (s === 2) return undefined;
    if (s === 1) return key;
    state.set(key, 1);
    for (const pre of flags.get(key)?.prerequisites ?? []) {
      const found = visit(pre.key);
      if (found !== undefined) return found;
    }
    state.set(key, 2);
    return undefined;
  };
  for (const key of [...flags.keys()].sort()) {
    const found = visit(key);
    if (found !== undefined) return found;
  }
  return undefined;
}

function cycleError(key: string): ValidationError {
  return new ValidationError(`flags.${key}.prerequisites`, 'prerequisites form a cycle');
}

function asValidationError(e: unknown): ValidationError {
  if (e instanceof ValidationError) return e;
  return new ValidationError('', e instanceof Error ? e.message : String(e));
}
