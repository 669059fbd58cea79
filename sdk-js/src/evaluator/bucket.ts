/**
 * The bucketing contract, identical in every SDK (`docs/flag-format.md`,
 * "Rollouts and bucketing"):
 * `bucket = murmur3_x86_32(utf8(salt + "." + value), seed 0) mod 100000`.
 */
import { murmur3_32 } from './murmur3.js';

/** Buckets per rollout: weights are thousandths of a percent. */
export const BUCKETS = 100_000;

/**
 * The largest integer a `bucket_by` number may hold, ±2^53 inclusive.
 * (`Number.isSafeInteger` stops at 2^53 - 1, so it is not used.)
 */
const MAX_BUCKET_INTEGER = 9_007_199_254_740_992;

const encoder = new TextEncoder();

/**
 * The string a context value contributes to bucketing, or `undefined` when
 * it counts as missing: a string as is; an integer within ±2^53 in plain
 * decimal (`-0` is `"0"`); anything else (fractions, bools, lists, objects,
 * `null`) is missing.
 */
export function bucketValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= MAX_BUCKET_INTEGER) {
    // Integers below 2^53 print in plain decimal; String(-0) is "0".
    return String(value);
  }
  return undefined;
}

/** The bucket of `value` under `salt`. */
export function bucketOf(salt: string, value: string): number {
  return murmur3_32(encoder.encode(`${salt}.${value}`), 0) % BUCKETS;
}
