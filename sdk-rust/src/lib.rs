//! # Daylight SDK for Rust
//!
//! Feature flags evaluated locally, in memory, with no allocation on the
//! evaluation path. The rule format and the evaluation contract are in
//! `docs/flag-format.md`; the shared test vectors in `tests/vectors/` pin
//! them for every SDK.
//!
//! ```
//! use daylight::{Context, Ruleset, RulesetDocument};
//! let doc: RulesetDocument = serde_json::from_str(r#"{"flags": {"new-lobby": {
//!     "variations": [false, true], "on": true,
//!     "rules": [{"clauses": [{"attribute": "game", "op": "in", "values": ["omaha"]}],
//!                "serve": {"variation": 1}}],
//!     "fallthrough": {"variation": 0}}}}"#).unwrap();
//! let rules = Ruleset::compile(&doc).unwrap();
//! let ctx = Context::new("u-42").with("game", "omaha");
//! assert!(rules.bool_variation("new-lobby", &ctx, false));
//! ```
//!
//! # Layout
//!
//! - `model`: the serde types of flags, segments and rulesets (raw JSON).
//! - `ruleset`: validation and compilation into a [`Ruleset`]; patches.
//! - `clause`: compiled clauses and the operator semantics.
//! - `evaluate`: the evaluator, reasons, typed getters.
//! - `trace`: what an evaluation looked at, step by step (explanations).
//! - `bucket`: the murmur3 bucketing contract.
//! - `context`: the evaluation [`Context`].
//! - `portable_regex`: the regex subset that Rust and JavaScript read alike.
//! - `timestamp`: strict RFC 3339 parsing for `before` / `after`.
//! - `error`: [`ValidationError`], which names the offending field's path.
//! - `client` (features `client`, `openfeature`): the streaming SDK client and OpenFeature provider.

pub mod bucket;
mod clause;
#[cfg(feature = "client")]
pub mod client;
mod context;
mod error;
mod evaluate;
mod lookup;
pub mod model;
pub mod portable_regex;
pub mod protocol;
mod ruleset;
mod timestamp;
pub mod trace;

pub use clause::Strictness;
pub use context::{AttrValue, Context, ContextError, ContextLimits, ContextReader};
pub use error::ValidationError;
pub use evaluate::{Detail, ErrorKind, Reason, TypedDetail};
pub use lookup::Changed;
pub use model::{Flag, FlagConfig, FlagRules, RulesetDocument, SegmentRules};
pub use ruleset::{validate_flag, validate_segment, Entry, Ruleset, VariationKind};
pub use timestamp::parse_rfc3339_ms;
pub use trace::Trace;
