//! Flags as code: the declarative file format (`model`), its offline checks
//! (`validate`), and the `daylight validate` command. See
//! `docs/flags-as-code.md`.

pub mod command;
pub mod model;
pub mod validate;

pub use model::{FileFlag, FileSegment, FlagFile, FORMAT_VERSION};
pub use validate::{validate_sources, Diagnostic, Source};
