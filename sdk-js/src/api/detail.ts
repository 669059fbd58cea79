/**
 * Evaluation results and reasons, with exactly the JSON shapes of
 * `docs/flag-format.md` ("Evaluation order and reasons"), so a detail can be
 * compared with (or logged next to) what the server and the Rust SDK report.
 */

/** OpenFeature's error codes, as the `ERROR` reason carries them. */
export type ErrorKind = 'FLAG_NOT_FOUND' | 'TYPE_MISMATCH' | 'PROVIDER_NOT_READY' | 'GENERAL';

/** Why a value was served. */
export type Reason =
  | { readonly kind: 'OFF' }
  | { readonly kind: 'TARGET_MATCH' }
  | { readonly kind: 'RULE_MATCH'; readonly rule_index: number; readonly rule_id: string; readonly in_rollout: boolean }
  | { readonly kind: 'FALLTHROUGH'; readonly in_rollout: boolean }
  | { readonly kind: 'PREREQUISITE_FAILED'; readonly prerequisite_key: string }
  | { readonly kind: 'ERROR'; readonly error_kind: ErrorKind };

/**
 * A typed evaluation result. `variation` is `null` when the caller's default
 * was returned: on an error, and when a flag that is off (or whose
 * prerequisite failed) has no off variation.
 */
export interface EvaluationDetail<T> {
  readonly value: T;
  readonly variation: number | null;
  readonly reason: Reason;
}

/** The reasons OpenFeature knows (`docs/flag-format.md` has the table). */
export type OpenFeatureReason = 'DISABLED' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'ERROR';

/** The OpenFeature reason of a Daylight reason. */
export function openFeatureReason(reason: Reason): OpenFeatureReason {
  switch (reason.kind) {
    case 'OFF':
      return 'DISABLED';
    case 'TARGET_MATCH':
      return 'TARGETING_MATCH';
    case 'RULE_MATCH':
      return reason.in_rollout ? 'SPLIT' : 'TARGETING_MATCH';
    case 'FALLTHROUGH':
      return reason.in_rollout ? 'SPLIT' : 'DEFAULT';
    case 'PREREQUISITE_FAILED':
      return 'DEFAULT';
    case 'ERROR':
      return 'ERROR';
  }
}

/** An `ERROR` reason. */
export function errorReason(kind: ErrorKind): Reason {
  return { kind: 'ERROR', error_kind: kind };
}

/** The caller's default with an `ERROR` reason. */
export function errorDetail<T>(defaultValue: T, kind: ErrorKind): EvaluationDetail<T> {
  return { value: defaultValue, variation: null, reason: errorReason(kind) };
}
