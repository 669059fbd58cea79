/**
 * # Daylight SDK for JavaScript
 *
 * Feature flags evaluated locally and in memory (server keys, Node) or
 * evaluated by the server for one context (client keys, browsers). The rule
 * format and the evaluation contract are in `docs/flag-format.md`; usage is
 * in `docs/sdk-js.md`.
 *
 * Entry points:
 * - `@daylight/sdk`: the evaluator ({@link Ruleset}) and the public types;
 *   no platform code, usable anywhere.
 * - `@daylight/sdk/node`: `createServerClient` (server key, streaming, `ws`).
 * - `@daylight/sdk/browser`: `createBrowserClient` (client key, streaming).
 * - `@daylight/sdk/openfeature/server`, `@daylight/sdk/openfeature/web`: the
 *   OpenFeature providers.
 *
 * # Layout
 *
 * - `api/`: the public types (contexts, details and reasons, documents,
 *   platform services, errors, events).
 * - `evaluator/`: compile a ruleset once, evaluate it: clauses, bucketing
 *   (murmur3), SemVer, RFC 3339.
 * - `internal/`: what both clients share: the stream connection (handshake,
 *   heartbeats, back-off), the event emitter, URL handling.
 * - `server/`: the server-key client (snapshot, patches, resume) on any
 *   WebSocket implementation; `node/` wires in `ws`.
 * - `browser/`: the client-key client (values, identify, cache).
 * - `openfeature/`: the two providers.
 */
export type { Context } from './api/context.js';
export {
  errorDetail,
  openFeatureReason,
  type ErrorKind,
  type EvaluationDetail,
  type OpenFeatureReason,
  type Reason,
} from './api/detail.js';
export type {
  Clause,
  FlagRules,
  Operator,
  Prerequisite,
  Rollout,
  Rule,
  RulesetDocument,
  SegmentRule,
  SegmentRules,
  Serve,
  Target,
  WeightedVariation,
} from './api/documents.js';
export { ConfigurationError, DaylightError, ValidationError } from './api/errors.js';
export type { JsonObject, JsonValue } from './api/json.js';
export type { Logger, StorageLike, WebSocketFactory, WebSocketLike } from './api/platform.js';
export {
  BUCKETS,
  Ruleset,
  bucketOf,
  bucketValue,
  compareSemver,
  murmur3_32,
  parseRfc3339Ms,
  parseSemver,
  type RawDetail,
  type SemVer,
  type SkipHandler,
  type VariationKind,
} from './evaluator/index.js';
