//! # Daylight server
//!
//! The central service: stores flags, segments, keys and the audit log;
//! serves the admin API, OFREP and SDK endpoints; and the CLI that drives
//! it. Evaluation uses the one evaluator in the `daylight` crate.
//!
//! # Layout
//!
//! - `app`: `Application::build` / `run`, the shared `AppState`.
//! - `settings`: configuration (flags and `DAYLIGHT_*` variables).
//! - `db`: the sqlx pool (SQLite or PostgreSQL) and migrations.
//! - `store`: every read and write; writes append to the change and audit logs.
//! - `live`: the in-memory rulesets evaluation reads, kept up to date from
//!   the change log.
//! - `fanout`: several nodes in step: Redis notifications plus change-log polling.
//! - `bundles`: client-bundle versions: which version a browser should run.
//! - `auth`: admin tokens with roles, SDK keys.
//! - `http`: one module per resource (`flags`, `segments`, `environments`,
//!   `tokens`, `ofrep`, `sdk`, `health`) and shared extractors.
//! - `releases`: staged rollouts (the plan's state machine, guards) and the
//!   scheduler that advances plans and applies scheduled changes.
//! - `clock`: the scheduler's clock (injectable for tests).
//! - `limits`: per-key request and stream limits (429 with `Retry-After`),
//!   allowed browser origins.
//! - `error`: the API error type and its JSON shape.
//! - `frames`: the frames SDKs send on the stream, and their parsing.
//! - `cli`: the client subcommands for deploy scripts.

pub mod app;
pub mod auth;
pub mod bundles;
pub mod catch_up;
pub mod change;
pub mod cli;
pub mod clock;
pub mod db;
pub mod error;
pub mod fanout;
pub mod frames;
pub mod http;
pub mod limits;
pub mod live;
pub mod releases;
pub mod settings;
pub mod state;
pub mod store;
pub mod webhooks;
pub mod writes;

pub use app::Application;
pub use settings::Settings;
