/**
 * Clauses compiled for evaluation, and the operator semantics
 * (`docs/flag-format.md`, "Clauses"; the Rust SDK's `clause.rs`).
 *
 * Everything that can be parsed once is parsed here (regexes, semvers,
 * timestamps, lowercased strings, sets), so matching never parses clause
 * values.
 */
import { ValidationError } from '../api/errors.js';
import type { AttrValue, EvalContext } from './context.js';
import { compilePortableRegex } from './portable-regex.js';
import { array, field, flag, object, optional, string } from './read.js';
import { compareSemver, parseSemver, type SemVer } from './semver.js';
import { parseRfc3339Ms } from './timestamp.js';

/** What `in_segment` needs to know about a segment. */
export interface SegmentLookup {
  get(key: string): { contains(key: string, ctx: EvalContext): boolean } | undefined;
}

/** Where a clause sits: segment rules may not use `in_segment`. */
export interface ClauseScope {
  readonly inSegmentAllowed: boolean;
}

export interface CompiledClause {
  /** Does the context match? A missing attribute never matches, negated or not. */
  matches(ctx: EvalContext, segments: SegmentLookup): boolean;
  /** The segments an `in_segment` clause names. */
  readonly segmentRefs: readonly string[];
}

/** Tests one scalar context value (a list attribute is tested element by element). */
type Test = (value: string | number | boolean) => boolean;

const KNOWN_OPS = new Set([
  'in',
  'starts_with',
  'ends_with',
  'contains',
  'matches',
  'lt',
  'lte',
  'gt',
  'gte',
  'semver_eq',
  'semver_lt',
  'semver_gt',
  'before',
  'after',
  'in_segment',
]);

type Ordering = (left: number, right: number) => boolean;

const ORDERINGS: Record<string, Ordering> = {
  lt: (l, r) => l < r,
  lte: (l, r) => l <= r,
  gt: (l, r) => l > r,
  gte: (l, r) => l >= r,
  before: (l, r) => l < r,
  after: (l, r) => l > r,
};

const SEMVER_OPS: Record<string, (order: number) => boolean> = {
  semver_eq: (o) => o === 0,
  semver_lt: (o) => o < 0,
  semver_gt: (o) => o > 0,
};

const TEXT_OPS: Record<string, (haystack: string, needle: string) => boolean> = {
  starts_with: (h, n) => h.startsWith(n),
  ends_with: (h, n) => h.endsWith(n),
  contains: (h, n) => h.includes(n),
};

/** Compiles one raw clause; throws a {@link ValidationError} naming the bad field. */
export function compileClause(raw: unknown, path: string, scope: ClauseScope): CompiledClause {
  const o = object(raw, path);
  const attributeRaw = optional(o, 'attribute');
  const attribute = attributeRaw === undefined ? '' : string(attributeRaw, `${path}.attribute`);
  const op = string(field(o, 'op', path), `${path}.op`);
  const values = array(field(o, 'values', path), `${path}.values`);
  const negate = flag(o, 'negate', path);
  const ci = flag(o, 'case_insensitive', path);
  const known = KNOWN_OPS.has(op);

  if (op !== 'in_segment' && attribute === '') {
    throw new ValidationError(`${path}.attribute`, 'a clause needs an attribute');
  }
  if (values.length === 0 && known) {
    throw new ValidationError(`${path}.values`, 'a clause needs at least one value');
  }
  const each = <T>(kind: string, parse: (value: unknown) => T | undefined): T[] =>
    values.map((value, i) => {
      const parsed = parse(value);
      if (parsed === undefined) throw new ValidationError(`${path}.values[${i}]`, `expected ${kind}`);
      return parsed;
    });
  const asString = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const asNumber = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const lower = (s: string) => (ci ? s.toLowerCase() : s);

  if (!known) return { matches: () => false, segmentRefs: [] };

  if (op === 'in_segment') {
    if (!scope.inSegmentAllowed) {
      throw new ValidationError(`${path}.op`, 'in_segment is not allowed inside a segment');
    }
    const keys = each('a segment key', asString);
    return {
      segmentRefs: keys,
      matches(ctx, segments) {
        const key = ctx.key;
        if (key === undefined) return false;
        const found = keys.some((k) => segments.get(k)?.contains(key, ctx) === true);
        return found !== negate;
      },
    };
  }

  let test: Test;
  if (op === 'in') {
    each('a string, number or boolean', (v) =>
      typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined,
    );
    const strings = new Set(values.filter((v): v is string => typeof v === 'string').map(lower));
    const numbers = values.filter((v): v is number => typeof v === 'number');
    const hasFalse = values.includes(false);
    const hasTrue = values.includes(true);
    test = (v) => {
      if (typeof v === 'string') return strings.has(lower(v));
      if (typeof v === 'number') return numbers.includes(v);
      return v ? hasTrue : hasFalse;
    };
  } else if (op in TEXT_OPS) {
    const needles = each('a string', asString).map(lower);
    const textOp = TEXT_OPS[op]!;
    test = (v) => {
      if (typeof v !== 'string') return false;
      const haystack = lower(v);
      return needles.some((n) => textOp(haystack, n));
    };
  } else if (op === 'matches') {
    const regexes = values.map((v, i) => {
      if (typeof v !== 'string') throw new ValidationError(`${path}.values[${i}]`, 'expected a string');
      try {
        // The portable subset of `docs/regex-subset.md` means the same here
        // and in the Rust SDK, which refuse the same patterns.
        return compilePortableRegex(v, ci);
      } catch (e) {
        throw new ValidationError(`${path}.values[${i}]`, `invalid regex: ${(e as Error).message}`);
      }
    });
    test = (v) => typeof v === 'string' && regexes.some((r) => r.test(v));
  } else if (op === 'lt' || op === 'lte' || op === 'gt' || op === 'gte') {
    const numbers = each('a number', asNumber);
    const ord = ORDERINGS[op]!;
    test = (v) => typeof v === 'number' && numbers.some((n) => ord(v, n));
  } else if (op in SEMVER_OPS) {
    const versions: SemVer[] = each('a SemVer 2.0.0 version such as "1.0.3"', (v) =>
      typeof v === 'string' ? parseSemver(v) : undefined,
    );
    const wanted = SEMVER_OPS[op]!;
    test = (v) => {
      if (typeof v !== 'string') return false;
      const version = parseSemver(v);
      return version !== undefined && versions.some((w) => wanted(compareSemver(version, w)));
    };
  } else {
    // before / after
    const times = each(
      'an RFC 3339 timestamp such as "2026-11-22T10:00:00Z" or Unix milliseconds',
      timeOf,
    );
    const ord = ORDERINGS[op]!;
    test = (v) => {
      const ms = timeOf(v);
      return ms !== undefined && times.some((t) => ord(ms, t));
    };
  }

  return {
    segmentRefs: [],
    matches(ctx) {
      const attr: AttrValue | undefined = ctx.get(attribute);
      if (attr === undefined) return false;
      const found = typeof attr === 'object' ? attr.some(test) : test(attr);
      return found !== negate;
    },
  };
}

/** Unix milliseconds of an RFC 3339 string or a number (fractions truncated). */
function timeOf(value: unknown): number | undefined {
  if (typeof value === 'string') return parseRfc3339Ms(value);
  if (typeof value === 'number') return Math.trunc(value);
  return undefined;
}
