//! `daylight import`: another tool's flag definitions translated into the
//! flags-as-code model (`FlagFile`), so they are validated, planned and
//! applied by the one path every file takes. Each translator says, per flag,
//! whether Daylight evaluates it exactly as the source tool would, only
//! approximately (and why), or not at all (and why); see the "Import"
//! section of `docs/flags-as-code.md` for the mapping.

pub mod flagd;
pub mod unleash;

use std::fmt;

use serde::Serialize;

use super::model::{FileFlag, FileSegment, FlagFile, FORMAT_VERSION};

/// The tools `daylight import --from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// Unleash's feature export (`/api/client/features` or an export file).
    Unleash,
    /// flagd's JSON flag definitions.
    Flagd,
}

/// How faithfully a flag was translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Daylight serves what the source tool serves, for every context.
    Exact,
    /// Imported, but some contexts get another answer (the notes say which).
    Approximate,
    /// Left out of the translated file (the notes say why).
    Unmapped,
}

/// One flag's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagReport {
    pub key: String,
    pub result: Fidelity,
    /// Why a flag is approximate or unmapped (empty when exact).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What an import found, flag by flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: Tool,
    pub environment: String,
    pub exact: usize,
    pub approximate: usize,
    pub unmapped: usize,
    pub flags: Vec<FlagReport>,
}

impl Report {
    fn new(from: Tool, environment: &str, flags: Vec<FlagReport>) -> Report {
        let count = |f: Fidelity| flags.iter().filter(|r| r.result == f).count();
        Report {
            from,
            environment: environment.to_owned(),
            exact: count(Fidelity::Exact),
            approximate: count(Fidelity::Approximate),
            unmapped: count(Fidelity::Unmapped),
            flags,
        }
    }

    /// The report of one flag, by key.
    pub fn flag(&self, key: &str) -> Option<&FlagReport> {
        self.flags.iter().find(|f| f.key == key)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for flag in &self.flags {
            let mark = match flag.result {
                Fidelity::Exact => '=',
                Fidelity::Approximate => '~',
                Fidelity::Unmapped => 'x',
            };
            let result = serde_json::to_value(flag.result).unwrap_or_default();
            writeln!(f, "{mark} flag {}: {}", flag.key, result.as_str().unwrap_or_default())?;
            for note in &flag.notes {
                writeln!(f, "    {note}")?;
            }
        }
        writeln!(
            f,
            "Import from {} into `{}`: {} exact, {} approximate, {} unmapped ({} flags).",
            match self.from {
                Tool::Unleash => "Unleash",
                Tool::Flagd => "flagd",
            },
            self.environment,
            self.exact,
            self.approximate,
            self.unmapped,
            self.flags.len()
        )
    }
}

/// A translated file and its report.
#[derive(Debug, Clone)]
pub struct Imported {
    pub file: FlagFile,
    pub report: Report,
}

/// The source file could not be read at all (not one flag is translated).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// Translates `text` (the source tool's JSON) into a flags file whose
/// configs are for `environment`.
pub fn import(from: Tool, text: &str, environment: &str) -> Result<Imported, ImportError> {
    match from {
        Tool::Unleash => unleash::translate(text, environment),
        Tool::Flagd => flagd::translate(text, environment),
    }
}

/// Collects one flag's notes while it is translated; the worst note decides
/// its fidelity.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    approximate: Vec<String>,
    unmapped: Vec<String>,
}

impl Notes {
    pub(crate) fn approximate(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.approximate.contains(&why) {
            self.approximate.push(why);
        }
    }

    pub(crate) fn unmapped(&mut self, why: impl Into<String>) {
        self.unmapped.push(why.into());
    }

    pub(crate) fn is_unmapped(&self) -> bool {
        !self.unmapped.is_empty()
    }

    pub(crate) fn report(self, key: &str) -> FlagReport {
        let (result, notes) = if !self.unmapped.is_empty() {
            (Fidelity::Unmapped, self.unmapped)
        } else if !self.approximate.is_empty() {
            (Fidelity::Approximate, self.approximate)
        } else {
            (Fidelity::Exact, Vec::new())
        };
        FlagReport {
            key: key.to_owned(),
            result,
            notes,
        }
    }
}

/// Adds a translated flag to `flags` unless its notes make it unmapped, and
/// refuses it (as unmapped) when Daylight's own checks refuse it, so the
/// file written always validates.
pub(crate) fn keep(flag: FileFlag, mut notes: Notes, flags: &mut Vec<FileFlag>, reports: &mut Vec<FlagReport>) {
    if !notes.is_unmapped() {
        if let Err(e) = daylight::validate_flag(&flag.to_flag(), &|_, _| false) {
            notes.unmapped(format!(
                "Daylight refuses the translation at `{}`: {}",
                e.path, e.message
            ));
        }
    }
    let key = flag.key.clone();
    if !notes.is_unmapped() {
        flags.push(flag);
    }
    reports.push(notes.report(&key));
}

pub(crate) fn file(flags: Vec<FileFlag>, segments: Vec<FileSegment>) -> FlagFile {
    FlagFile {
        version: FORMAT_VERSION,
        flags,
        segments,
    }
}

/// Splits `weights` (relative, any positive total) into integers summing
/// to exactly `total`; the rounding error goes to the last non-zero weight.
pub(crate) fn split_total(weights: &[u64], total: u32) -> Option<Vec<u32>> {
    let sum: u64 = weights.iter().sum();
    if sum == 0 {
        return None;
    }
    let mut out: Vec<u32> = weights
        .iter()
        .map(|w| u32::try_from(w * u64::from(total) / sum).unwrap_or(0))
        .collect();
    let given: u32 = out.iter().sum();
    let last = weights.iter().rposition(|w| *w > 0)?;
    out[last] += total - given;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_always_sum_to_100000() {
        assert_eq!(split_total(&[1, 1, 1], 100_000), Some(vec![33333, 33333, 33334]));
        assert_eq!(split_total(&[500, 500, 0], 100_000), Some(vec![50000, 50000, 0]));
        assert_eq!(split_total(&[1, 3], 50_000), Some(vec![12500, 37500]));
        assert_eq!(split_total(&[0, 0], 100_000), None);
    }
}
