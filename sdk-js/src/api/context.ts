/**
 * What the app knows about one request or user, e.g.
 * `{ key: "u-42", game: "omaha", country: "AU", table_id: 1017, groups: ["beta"] }`.
 *
 * `key` is the targeting key (optional: a context without one matches no
 * target, no segment, and a rollout bucketed by `key` treats it as missing).
 * Other members are attributes: strings, numbers, booleans or arrays of
 * strings. Any other value (`null`, `undefined`, an object, a non-finite
 * number, an array holding a non-string) counts as a missing attribute, as in
 * `docs/flag-format.md`.
 */
export interface Context {
  readonly key?: string;
  readonly [attribute: string]: unknown;
}
