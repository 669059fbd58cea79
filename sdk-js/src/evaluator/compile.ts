/**
 * Validation and compilation of one flag or one segment into the form the
 * evaluator reads: targets in a map, segment keys in sets, rollouts as
 * running sums, clauses compiled (see `clause.ts`). The checks and their
 * paths are those of the Rust SDK's `ruleset` module.
 */
import type { JsonValue } from '../api/json.js';
import { ValidationError } from '../api/errors.js';
import { BUCKETS } from './bucket.js';
import { compileClause, type ClauseScope, type CompiledClause, type SegmentLookup } from './clause.js';
import type { EvalContext } from './context.js';
import { array, field, flag, object, optional, string, strings, uint } from './read.js';

/** The JSON type shared by a flag's variations. */
export type VariationKind = 'bool' | 'string' | 'number' | 'object';

export interface CompiledFlag {
  readonly variations: readonly JsonValue[];
  readonly kind: VariationKind;
  readonly clientSide: boolean;
  readonly on: boolean;
  readonly offVariation: number | undefined;
  readonly prerequisites: readonly { readonly key: string; readonly variation: number }[];
  /** Context key → variation (the first target listing a key wins). */
  readonly targets: ReadonlyMap<string, number>;
  readonly rules: readonly CompiledRule[];
  readonly fallthrough: CompiledServe;
  readonly version: number;
}

export interface CompiledRule {
  readonly id: string;
  readonly clauses: readonly CompiledClause[];
  readonly serve: CompiledServe;
}

export type CompiledServe =
  | { readonly variation: number; readonly rollout?: undefined }
  | { readonly variation?: undefined; readonly rollout: CompiledRollout };

export interface CompiledRollout {
  readonly salt: string;
  readonly bucketBy: string;
  /** [variation, running sum of weights]; zero weights are dropped. */
  readonly thresholds: readonly (readonly [number, number])[];
}

export class CompiledSegment {
  constructor(
    private readonly included: ReadonlySet<string>,
    private readonly excluded: ReadonlySet<string>,
    private readonly rules: readonly (readonly CompiledClause[])[],
  ) {}

  /** In when listed in `included`; else out when in `excluded`; else when any rule matches. */
  contains(key: string, ctx: EvalContext): boolean {
    if (this.included.has(key)) return true;
    if (this.excluded.has(key)) return false;
    return this.rules.some((rule) => rule.every((clause) => clause.matches(ctx, NO_SEGMENTS)));
  }
}

const NO_SEGMENTS: SegmentLookup = { get: () => undefined };

const FLAG_SCOPE: ClauseScope = { inSegmentAllowed: true };
const SEGMENT_SCOPE: ClauseScope = { inSegmentAllowed: false };

/** `null` reads as absent, as serde reads an `Option`. */
function nullable(value: unknown): unknown {
  return value === null ? undefined : value;
}

export function compileFlag(key: string, raw: unknown, path: string): CompiledFlag {
  const o = object(raw, path);
  const variationsRaw = array(field(o, 'variations', path), `${path}.variations`);
  const clientSide = flag(o, 'client_side', path);
  const on = flag(o, 'on', path);
  const offRaw = nullable(optional(o, 'off_variation'));
  const offVariation = offRaw === undefined ? undefined : uint(offRaw, `${path}.off_variation`);
  const versionRaw = optional(o, 'version');
  const version = versionRaw === undefined ? 0 : uint(versionRaw, `${path}.version`);

  const kind = variationKind(variationsRaw, path);
  const n = variationsRaw.length;
  const check = (variation: number, at: string) => {
    if (variation >= n) throw new ValidationError(at, `no variation ${variation}: the flag has ${n}`);
    return variation;
  };
  if (offVariation !== undefined) check(offVariation, `${path}.off_variation`);

  const targets = new Map<string, number>();
  list(o, 'targets', path).forEach((rawTarget, i) => {
    const at = `${path}.targets[${i}]`;
    const target = object(rawTarget, at);
    const variation = check(uint(field(target, 'variation', at), `${at}.variation`), `${at}.variation`);
    for (const value of strings(field(target, 'values', at), `${at}.values`)) {
      if (!targets.has(value)) targets.set(value, variation);
    }
  });

  const prerequisites = list(o, 'prerequisites', path).map((rawPre, i) => {
    const at = `${path}.prerequisites[${i}]`;
    const pre = object(rawPre, at);
    const preKey = string(field(pre, 'flag', at), `${at}.flag`);
    const variation = uint(field(pre, 'variation', at), `${at}.variation`);
    if (preKey === key) throw new ValidationError(`${at}.flag`, 'a flag cannot be its own prerequisite');
    return { key: preKey, variation };
  });

  const rules = list(o, 'rules', path).map((rawRule, i): CompiledRule => {
    const at = `${path}.rules[${i}]`;
    const rule = object(rawRule, at);
    const idRaw = optional(rule, 'id');
    const id = idRaw === undefined ? '' : string(idRaw, `${at}.id`);
    const clauses = compileClauses(field(rule, 'clauses', at), at, FLAG_SCOPE);
    const serve = compileServe(field(rule, 'serve', at), key, n, `${at}.serve`);
    return { id, clauses, serve };
  });

  const fallthrough = compileServe(field(o, 'fallthrough', path), key, n, `${path}.fallthrough`);
  return {
    variations: variationsRaw.map((v) => frozenCopy(v as JsonValue)),
    kind,
    clientSide,
    on,
    offVariation,
    prerequisites,
    targets,
    rules,
    fallthrough,
    version,
  };
}

export function compileSegment(raw: unknown, path: string): CompiledSegment {
  const o = object(raw, path);
  const keys = (name: string) => {
    const value = optional(o, name);
    return new Set(value === undefined ? [] : strings(value, `${path}.${name}`));
  };
  const included = keys('included');
  const excluded = keys('excluded');
  const rules = list(o, 'rules', path).map((rawRule, i) => {
    const at = `${path}.rules[${i}]`;
    const rule = object(rawRule, at);
    const idRaw = optional(rule, 'id');
    if (idRaw !== undefined) string(idRaw, `${at}.id`);
    return compileClauses(field(rule, 'clauses', at), at, SEGMENT_SCOPE);
  });
  const versionRaw = optional(o, 'version');
  if (versionRaw !== undefined) uint(versionRaw, `${path}.version`);
  return new CompiledSegment(included, excluded, rules);
}

/** An optional array field (default empty). */
function list(o: Parameters<typeof optional>[0], name: string, path: string): readonly unknown[] {
  const value = optional(o, name);
  return value === undefined ? [] : array(value, `${path}.${name}`);
}

function compileClauses(raw: unknown, path: string, scope: ClauseScope): CompiledClause[] {
  return array(raw, `${path}.clauses`).map((clause, i) => compileClause(clause, `${path}.clauses[${i}]`, scope));
}

function compileServe(raw: unknown, flagKey: string, n: number, path: string): CompiledServe {
  const o = object(raw, path);
  const variationRaw = nullable(optional(o, 'variation'));
  const rolloutRaw = nullable(optional(o, 'rollout'));
  const variation = variationRaw === undefined ? undefined : uint(variationRaw, `${path}.variation`);
  if (variation !== undefined && rolloutRaw === undefined) {
    if (variation >= n) {
      throw new ValidationError(`${path}.variation`, `no variation ${variation}: the flag has ${n}`);
    }
    return { variation };
  }
  if (variation === undefined && rolloutRaw !== undefined) {
    return { rollout: compileRollout(rolloutRaw, flagKey, n, `${path}.rollout`) };
  }
  throw new ValidationError(path, 'serve exactly one of `variation` or `rollout`');
}

function compileRollout(raw: unknown, flagKey: string, n: number, path: string): CompiledRollout {
  const o = object(raw, path);
  const variations = array(field(o, 'variations', path), `${path}.variations`);
  const saltRaw = nullable(optional(o, 'salt'));
  const salt = saltRaw === undefined ? flagKey : string(saltRaw, `${path}.salt`);
  const bucketByRaw = nullable(optional(o, 'bucket_by'));
  const bucketBy = bucketByRaw === undefined ? 'key' : string(bucketByRaw, `${path}.bucket_by`);
  if (variations.length === 0) {
    throw new ValidationError(`${path}.variations`, 'a rollout needs at least one variation');
  }
  let sum = 0;
  const thresholds: [number, number][] = [];
  variations.forEach((rawWv, i) => {
    const at = `${path}.variations[${i}]`;
    const wv = object(rawWv, at);
    const variation = uint(field(wv, 'variation', at), `${at}.variation`);
    const weight = uint(field(wv, 'weight', at), `${at}.weight`, 0xffff_ffff);
    if (variation >= n) {
      throw new ValidationError(`${at}.variation`, `no variation ${variation}: the flag has ${n}`);
    }
    if (weight > BUCKETS) {
      throw new ValidationError(`${at}.weight`, 'a weight is at most 100000 (thousandths of a percent)');
    }
    sum += weight;
    if (weight > 0) thresholds.push([variation, sum]);
  });
  if (sum !== BUCKETS) {
    throw new ValidationError(`${path}.variations`, `weights sum to ${sum}; they must sum to 100000`);
  }
  if (bucketBy === '') {
    throw new ValidationError(`${path}.bucket_by`, 'an attribute name cannot be empty');
  }
  return { salt, bucketBy, thresholds };
}

function variationKind(variations: readonly unknown[], path: string): VariationKind {
  if (variations.length < 2) {
    throw new ValidationError(`${path}.variations`, 'a flag needs at least two variations');
  }
  const kindOf = (v: unknown): VariationKind | undefined => {
    switch (typeof v) {
      case 'boolean':
        return 'bool';
      case 'string':
        return 'string';
      case 'number':
        return Number.isFinite(v) ? 'number' : undefined;
      case 'object':
        return v !== null && !Array.isArray(v) ? 'object' : undefined;
      default:
        return undefined;
    }
  };
  const kind = kindOf(variations[0]);
  if (kind === undefined) {
    throw new ValidationError(`${path}.variations[0]`, 'a variation is a boolean, string, number or object');
  }
  for (let i = 1; i < variations.length; i++) {
    if (kindOf(variations[i]) !== kind) {
      throw new ValidationError(`${path}.variations[${i}]`, `all variations must have one type (${kind})`);
    }
  }
  return kind;
}

/**
 * A deep, frozen copy: variations are handed to callers as they are, so a
 * caller mutating an object variation cannot change what others are served.
 */
function frozenCopy(value: JsonValue): JsonValue {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as JsonValue;
  const copy: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (member === undefined) continue;
    // defineProperty: a `__proto__` member stays a member, as JSON.parse made it.
    Object.defineProperty(copy, key, { value: frozenCopy(member), enumerable: true, writable: true, configurable: true });
  }
  return Object.freeze(copy);
}
