/**
 * Evaluated values as the server sends them to a client key (`values` and
 * `changed` messages), and the typed reading of one.
 */
import { errorDetail, type EvaluationDetail, type Reason } from '../api/detail.js';
import type { JsonValue } from '../api/json.js';
import { canonicalJson } from '../internal/json.js';

/** One flag's evaluated value: `variation` is `null` when no variation is served. */
export interface FlagValue {
  readonly value: JsonValue;
  readonly variation: number | null;
  readonly reason: Reason;
}

export type FlagValues = { readonly [flag: string]: FlagValue };

/** Reads a message's `flags` member, keeping the well-formed entries. */
export function readFlagValues(raw: unknown): Record<string, FlagValue> {
  const out: Record<string, FlagValue> = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return out;
  for (const [key, entry] of Object.entries(raw)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { value, variation, reason } = entry as { value?: unknown; variation?: unknown; reason?: unknown };
    const index = typeof variation === 'number' && Number.isInteger(variation) && variation >= 0 ? variation : null;
    if (typeof reason !== 'object' || reason === null || typeof (reason as { kind?: unknown }).kind !== 'string') continue;
    Object.defineProperty(out, key, {
      value: { value: (value ?? null) as JsonValue, variation: index, reason: reason as Reason },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** The flags whose value or variation differs (or that appeared or went), sorted. */
export function changedFlags(before: FlagValues | undefined, after: FlagValues): string[] {
  const changed: string[] = [];
  const old = before ?? {};
  for (const key of Object.keys(after)) {
    const a = old[key];
    const b = after[key]!;
    if (a === undefined || a.variation !== b.variation || canonicalJson(a.value) !== canonicalJson(b.value)) {
      changed.push(key);
    }
  }
  for (const key of Object.keys(old)) if (!(key in after)) changed.push(key);
  return changed.sort();
}

/**
 * The typed detail of one flag: the caller's default when nothing is
 * served (with the server's reason), or with `FLAG_NOT_FOUND`,
 * `TYPE_MISMATCH` or `PROVIDER_NOT_READY` — as the evaluator's typed getters.
 */
export function typedValue<T>(
  values: FlagValues | undefined,
  key: string,
  defaultValue: T,
  accept: (value: JsonValue) => boolean,
): EvaluationDetail<T> {
  if (values === undefined) return errorDetail(defaultValue, 'PROVIDER_NOT_READY');
  const entry = Object.hasOwn(values, key) ? values[key] : undefined;
  if (entry === undefined) return errorDetail(defaultValue, 'FLAG_NOT_FOUND');
  if (entry.variation === null) return { value: defaultValue, variation: null, reason: entry.reason };
  if (!accept(entry.value)) return errorDetail(defaultValue, 'TYPE_MISMATCH');
  return { value: entry.value as T, variation: entry.variation, reason: entry.reason };
}
