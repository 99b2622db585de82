//! The witness registry: every check a constraint may name, and the type of value each takes.
//!
//! The worker's `witness` module evaluates these rules; this module only reads and checks them, so
//! a definition with a bad rule is refused when it is loaded rather than when an order runs.

use std::fmt;
use std::time::Duration;

mod value;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};

use super::quantity::{DurationSpec, Size};
use crate::order::string_enum;

pub(crate) use value::parse_rule;

string_enum!(
    /// The name of a witness, as written in `constraints[].witness`.
    WitnessKind, "witness", {
        MaxFileSize => "max_file_size",
        MaxChangedFiles => "max_changed_files",
        MaxChangedLines => "max_changed_lines",
        ForbiddenPaths => "forbidden_paths",
        AllowedPaths => "allowed_paths",
        NoSecrets => "no_secrets",
        NoBinaryFiles => "no_binary_files",
        RequireCommand => "require_command",
    }
);

impl WitnessKind {
    /// What `value` must be, in the words error messages and the docs use.
    pub fn expects(self) -> &'static str {
        match self {
            WitnessKind::MaxFileSize => "a size such as 1m, or a number of bytes",
            WitnessKind::MaxChangedFiles | WitnessKind::MaxChangedLines => "an integer >= 1",
            WitnessKind::ForbiddenPaths | WitnessKind::AllowedPaths => "a list of globs",
            WitnessKind::NoSecrets => {
                "true or a mapping {extra_patterns: [regex...], allow_paths: [glob...]}"
            }
            WitnessKind::NoBinaryFiles => "true or false",
            WitnessKind::RequireCommand => {
                "an argv list such as [make, test], or a mapping {command: [...], timeout: 5m}"
            }
        }
    }
}

/// Default time a `require_command` check may run.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A checked constraint rule: the witness and its typed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "witness", content = "value", rename_all = "snake_case")]
pub enum WitnessRule {
    /// No added or modified file may be larger than this.
    MaxFileSize(Size),
    /// At most this many files may change (a rename counts once).
    MaxChangedFiles(u64),
    /// At most this many lines added plus removed, over text files.
    MaxChangedLines(u64),
    /// No changed path (nor a rename's old path) may match any of these.
    ForbiddenPaths(GlobList),
    /// Every changed path (and a rename's old path) must match one of these.
    AllowedPaths(GlobList),
    NoSecrets(SecretScan),
    /// `true`: no binary file may be added or modified. `false` turns the check off.
    NoBinaryFiles(bool),
    RequireCommand(CommandSpec),
}

impl WitnessRule {
    /// The witness this rule belongs to, as named in verdicts.
    pub fn kind(&self) -> WitnessKind {
        match self {
            WitnessRule::MaxFileSize(_) => WitnessKind::MaxFileSize,
            WitnessRule::MaxChangedFiles(_) => WitnessKind::MaxChangedFiles,
            WitnessRule::MaxChangedLines(_) => WitnessKind::MaxChangedLines,
            WitnessRule::ForbiddenPaths(_) => WitnessKind::ForbiddenPaths,
            WitnessRule::AllowedPaths(_) => WitnessKind::AllowedPaths,
            WitnessRule::NoSecrets(_) => WitnessKind::NoSecrets,
            WitnessRule::NoBinaryFiles(_) => WitnessKind::NoBinaryFiles,
            WitnessRule::RequireCommand(_) => WitnessKind::RequireCommand,
        }
    }
}

/// Globs over repository-relative, `/`-separated paths, compiled once. `*` also matches `/`
/// (globset's default), so `*.pem` matches `keys/a.pem`; `dir/**` matches everything under dir.
#[derive(Clone)]
pub struct GlobList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl GlobList {
    /// Compiles `patterns`; the error names the index of the bad one.
    pub fn new(patterns: Vec<String>) -> Result<GlobList, (usize, String)> {
        let mut builder = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            if p.starts_with('/') {
                return Err((
                    i,
                    format!(
                        "{p:?} never matches: changed paths are relative to the repository root (drop the leading /)"
                    ),
                ));
            }
            let glob = Glob::new(p)
                .map_err(|e| (i, format!("{p:?} is not a valid glob ({})", e.kind())))?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|e| (0, format!("the globs do not compile ({e})")))?;
        Ok(GlobList { patterns, set })
    }

    /// The globs as written, in order, for messages.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether any glob matches `path` (repository-relative, `/`-separated).
    pub fn is_match(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// Index of the first pattern matching `path`, to name it in a finding.
    pub fn first_match(&self, path: &str) -> Option<&str> {
        let hit = self.set.matches(path).into_iter().min()?;
        self.patterns.get(hit).map(String::as_str)
    }
}

impl PartialEq for GlobList {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl fmt::Debug for GlobList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GlobList").field(&self.patterns).finish()
    }
}

impl Serialize for GlobList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

/// Settings of the `no_secrets` witness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretScan {
    /// Regular expressions (Rust `regex` syntax) flagged in addition to the built-in formats.
    /// Compiled by the worker, which has the regex engine.
    pub extra_patterns: Vec<String>,
    /// Files not scanned at all (fixtures with fake keys, for instance).
    pub allow_paths: Option<GlobList>,
}

/// A command the worker runs in the sandbox after the agent; exit 0 means the constraint holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandSpec {
    /// Exec'd directly in /workspace; taken literally (no placeholders).
    pub argv: Vec<String>,
    pub timeout: DurationSpec,
}
