/**
 * What both OpenFeature providers share: contexts in, resolution details out
 * (`docs/flag-format.md` has the reasons' table). No OpenFeature import here,
 * so the server and web providers each depend only on their own SDK.
 */
import type { Context } from '../api/context.js';
import { openFeatureReason, type ErrorKind, type EvaluationDetail, type Reason } from '../api/detail.js';

/** An OpenFeature evaluation context, structurally (both SDKs' types fit). */
export interface OpenFeatureContext {
  targetingKey?: string;
  [field: string]: unknown;
}

/**
 * An OpenFeature context as a Daylight one: `targetingKey` is the key;
 * booleans, numbers, strings and lists of strings are attributes; a `Date`
 * is its Unix milliseconds (what `before` / `after` compare, as the Rust
 * provider does); anything else counts as missing when evaluated.
 */
export function toDaylightContext(context: OpenFeatureContext | undefined): Context {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(context ?? {})) {
    if (name === 'targetingKey') continue;
    if (name === 'key' && typeof value !== 'string') continue;
    Object.defineProperty(out, name, {
      value: value instanceof Date ? value.getTime() : value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  if (typeof context?.targetingKey === 'string') out.key = context.targetingKey;
  return out;
}

/** What a provider returns: OpenFeature's `ResolutionDetails`, structurally. */
export interface Resolution<T> {
  value: T;
  variant?: string;
  reason?: string;
  errorCode?: ErrorKind;
  errorMessage?: string;
  flagMetadata?: Record<string, string | number | boolean>;
}

/**
 * A Daylight detail as an OpenFeature resolution: the variant is the
 * variation index as a string; a served-nothing result (off, or a failed
 * prerequisite, without an off variation) is the caller's default with the
 * mapped reason and no error (JavaScript's OpenFeature hands providers the
 * default); errors carry their code. The rule id and index, and the failed
 * prerequisite, are in the flag metadata.
 */
export function toResolution<T>(flagKey: string, detail: EvaluationDetail<T>): Resolution<T> {
  const { reason } = detail;
  const flagMetadata = metadata(reason);
  if (reason.kind === 'ERROR') {
    return {
      value: detail.value,
      reason: 'ERROR',
      errorCode: reason.error_kind,
      errorMessage: errorMessage(flagKey, reason.error_kind),
    };
  }
  const resolution: Resolution<T> = { value: detail.value, reason: openFeatureReason(reason) };
  if (detail.variation !== null) resolution.variant = String(detail.variation);
  if (flagMetadata !== undefined) resolution.flagMetadata = flagMetadata;
  return resolution;
}

function metadata(reason: Reason): Record<string, string | number | boolean> | undefined {
  switch (reason.kind) {
    case 'RULE_MATCH':
      return { rule_index: reason.rule_index, rule_id: reason.rule_id };
    case 'PREREQUISITE_FAILED':
      return { prerequisite_key: reason.prerequisite_key };
    default:
      return undefined;
  }
}

function errorMessage(flagKey: string, kind: ErrorKind): string {
  switch (kind) {
    case 'FLAG_NOT_FOUND':
      return `flag \`${flagKey}\` was not found`;
    case 'TYPE_MISMATCH':
      return `flag \`${flagKey}\` has another type`;
    case 'PROVIDER_NOT_READY':
      return 'no flag data yet';
    case 'GENERAL':
      return `flag \`${flagKey}\` could not be evaluated (is the context an object with a string key?)`;
  }
}

/** OpenFeature's "object" flags are JSON objects. */
export function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
