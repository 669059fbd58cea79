/**
 * The JSON documents an SDK reads (`docs/flag-format.md`), as TypeScript
 * types. These describe the raw form; the evaluator validates every field
 * when it compiles one, and ignores fields it does not know (a newer server's
 * documents stay readable).
 */
import type { JsonValue } from './json.js';

/** Everything a server-key SDK evaluates: one environment's flags and segments. */
export interface RulesetDocument {
  environment?: string;
  /** The environment's change-log version this document reflects. */
  version?: number;
  flags?: Record<string, FlagRules>;
  segments?: Record<string, SegmentRules>;
}

/** One flag in one environment: its shared fields plus its config there. */
export interface FlagRules {
  /** Two or more values of one JSON type: booleans, strings, numbers or objects. */
  variations: JsonValue[];
  client_side?: boolean;
  on?: boolean;
  /** Served when off or a prerequisite fails; absent: the caller's default. */
  off_variation?: number | null;
  prerequisites?: Prerequisite[];
  targets?: Target[];
  rules?: Rule[];
  fallthrough: Serve;
  version?: number;
}

export interface Prerequisite {
  flag: string;
  variation: number;
}

export interface Target {
  variation: number;
  values: string[];
}

export interface Rule {
  id?: string;
  description?: string;
  clauses: Clause[];
  serve: Serve;
}

/** Clause operators; an operator unknown to this SDK never matches. */
export type Operator =
  | 'in'
  | 'starts_with'
  | 'ends_with'
  | 'contains'
  | 'matches'
  | 'lt'
  | 'lte'
  | 'gt'
  | 'gte'
  | 'semver_eq'
  | 'semver_lt'
  | 'semver_gt'
  | 'before'
  | 'after'
  | 'in_segment';

export interface Clause {
  attribute?: string;
  op: Operator | (string & {});
  values: JsonValue[];
  negate?: boolean;
  case_insensitive?: boolean;
}

/** Exactly one of `variation` or `rollout`. */
export interface Serve {
  variation?: number;
  rollout?: Rollout;
}

export interface Rollout {
  /** Weights in thousandths of a percent, summing to 100000. */
  variations: WeightedVariation[];
  /** The attribute to bucket by (default `key`). */
  bucket_by?: string;
  /** The hash salt (default: the flag key). */
  salt?: string;
}

export interface WeightedVariation {
  variation: number;
  weight: number;
}

/** A cohort in one environment. */
export interface SegmentRules {
  included?: string[];
  excluded?: string[];
  rules?: SegmentRule[];
  version?: number;
}

export interface SegmentRule {
  id?: string;
  clauses: Clause[];
}
