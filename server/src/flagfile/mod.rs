//! Flags as code: the declarative file format (`model`), its offline checks
//! (`validate`), the `daylight validate` command, and `plan`: what applying
//! files to an environment would change; `codegen`: typed accessors for
//! apps. See
//! `docs/flags-as-code.md`.

pub mod codegen;
pub mod command;
pub mod import;
pub mod model;
pub mod plan;
pub mod schema;
pub mod validate;

pub use model::{FileFlag, FileSegment, FlagFile, FORMAT_VERSION};
pub use validate::{validate_sources, Diagnostic, Source};
