/**
 * The evaluator: pure, synchronous, no I/O. Every client (Node server keys,
 * the OpenFeature providers) evaluates through {@link Ruleset}; the shared
 * vectors in `tests/vectors/` pin it to the Rust SDK's answers.
 */
export { Ruleset, type RawDetail, type SkipHandler, type VariationKind } from './ruleset.js';
export { BUCKETS, bucketOf, bucketValue } from './bucket.js';
export { murmur3_32 } from './murmur3.js';
export { parseRfc3339Ms } from './timestamp.js';
export { compareSemver, parseSemver, type SemVer } from './semver.js';
