//! `daylight validate PATH…`: offline, no server. Exit code 0 when every file
//! is valid, 1 when a problem is found, 2 for a usage error (a path that
//! cannot be read, a directory with no flag files).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::validate::{validate_sources, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Flag files (`.yaml`, `.yml`, `.json`) or directories holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// `json`: a list of `{file, line, path, message}`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Reads the files, checks them together and prints the problems.
pub fn run(args: &ValidateArgs, today: jiff::civil::Date) -> i32 {
    let mut sources = Vec::new();
    for path in &args.paths {
        if let Err(e) = collect(path, &mut sources) {
            eprintln!("daylight validate: {}: {e}", path.display());
            return 2;
        }
    }
    let problems = validate_sources(&sources, today);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&problems).unwrap_or_default()),
        Format::Text => {
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("{} file(s) valid", sources.len());
            }
        }
    }
    if problems.is_empty() {
        0
    } else {
        1
    }
}

fn is_flag_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// A file as given, or a directory's flag files (recursively, sorted).
pub(crate) fn collect(path: &Path, out: &mut Vec<Source>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        let before = out.len();
        for entry in entries {
            if entry.is_dir() || is_flag_file(&entry) {
                collect(&entry, out)?;
            }
        }
        if out.len() == before {
            return Err(std::io::Error::other("no .yaml, .yml or .json files"));
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path)?;
    out.push(Source {
        name: path.display().to_string(),
        text,
    });
    Ok(())
}
