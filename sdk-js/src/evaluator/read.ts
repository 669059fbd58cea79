/**
 * Reading raw JSON documents field by field, with the types the Rust SDK's
 * serde model enforces: a field of the wrong type refuses the whole entry
 * (with the path of the field); unknown fields are ignored; absent optional
 * fields take their defaults.
 */
import { ValidationError } from '../api/errors.js';

export type RawObject = { readonly [key: string]: unknown };

export function object(value: unknown, path: string): RawObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(path, 'expected an object');
  }
  return value as RawObject;
}

export function array(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new ValidationError(path, 'expected an array');
  return value;
}

/** A required field. */
export function field(o: RawObject, name: string, path: string): unknown {
  const value = Object.hasOwn(o, name) ? o[name] : undefined;
  if (value === undefined) throw new ValidationError(join(path, name), 'missing field');
  return value;
}

/** An optional field: `undefined` when absent. */
export function optional(o: RawObject, name: string): unknown {
  return Object.hasOwn(o, name) ? o[name] : undefined;
}

export function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(path, 'expected a boolean');
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new ValidationError(path, 'expected a string');
  return value;
}

/** A non-negative integer at most `max`. */
export function uint(value: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ValidationError(path, 'expected a non-negative integer');
  }
  return value;
}

export function strings(value: unknown, path: string): string[] {
  return array(value, path).map((item, i) => string(item, `${path}[${i}]`));
}

/** An optional boolean (default `false`). */
export function flag(o: RawObject, name: string, path: string): boolean {
  const value = optional(o, name);
  return value === undefined ? false : bool(value, join(path, name));
}

export function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}
