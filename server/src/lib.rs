//! # Daylight server
//!
//! The central service: stores flags, segments, keys and the audit log;
//! serves the admin API, OFREP and SDK endpoints; and the CLI that drives
//! it. Evaluation uses the one evaluator in the `daylight` crate.
//!
//! # Layout
//!
//! - `app`: the composition root: `Application::build` / `run` (nothing
//!   imports it).
//! - `state`: what handlers share: `AppState`, and the narrow per-area
//!   states handlers take (`AdminState`, `ReleaseState`, `KeyState`,
//!   `BundleState`, `SdkState`, `ObservabilityState`).
//! - `settings`: configuration (flags and `DAYLIGHT_*` variables).
//! - `db`: the sqlx pool (SQLite or PostgreSQL) and migrations.
//! - `writes`: every write, one shape: validate, lock, catch up, check,
//!   store, commit, tell `live` and the other nodes.
//! - `store`: SQL only: rows, the change log, the audit log.
//! - `change`: one change-log row.
//! - `live`: the in-memory rulesets evaluation reads (memory only).
//! - `catch_up`: keeps `live` up to the change log (apply rows, or reload).
//! - `fanout`: several nodes in step: Redis notifications plus change-log polling.
//! - `bundles`: client-bundle versions: which version a browser should run.
//! - `cohorts`: named cohorts (salt, bucket-by, a share per environment)
//!   and what they make of the flag rollouts and bundle canaries that
//!   reference them.
//! - `auth`: admin tokens with roles, SDK keys.
//! - `http`: one module per resource (`flags`, `segments`, `environments`,
//!   `tokens`, `ofrep`, `sdk`, `health`, …) whose handlers take their
//!   area's state, and shared extractors (`extract`; `Editing` makes the
//!   checks every admin write starts with).
//! - `releases`: staged rollouts (`plan`: the spec, the state machine and
//!   its effect on the flag; `guard`) and the scheduler that advances plans
//!   and applies scheduled changes.
//! - `freeze`: freeze windows (once, or weekly in a time zone): what they
//!   are and whether one covers an instant.
//! - `clock`: the scheduler's clock (injectable for tests).
//! - `limits`: per-key request and stream limits (429 with `Retry-After`),
//!   allowed browser origins.
//! - `error`: the API error type and its JSON shape.
//! - `receipts`: propagation receipts: per change, the SDK connections it
//!   reached on this node and how fast they acknowledged it (memory only).
//! - `frames`: the frames SDKs send on the stream, and their parsing.
//! - `cli`: the client subcommands for people and deploy scripts, one module
//!   per resource on the HTTP handlers' own request and response types, a
//!   shared HTTP client, and the output (tables, readable times, `--json`).
//! - `sync`: `daylight sync`, one environment's flags kept in local files
//!   (a PHP file for the PHP SDK, JSON) and optionally Redis.

pub mod app;
pub mod auth;
pub mod bundles;
pub mod catch_up;
pub mod change;
pub mod cli;
pub mod clock;
pub mod cohorts;
pub mod db;
pub mod error;
pub mod fanout;
pub mod flagfile;
pub mod frames;
pub mod freeze;
pub mod http;
pub mod learned;
pub mod limits;
pub mod live;
pub mod receipts;
pub mod releases;
pub mod settings;
pub mod state;
pub mod store;
pub mod sync;
pub mod webhooks;
pub mod writes;

pub use app::Application;
pub use settings::Settings;
