//! `fleet-controller definitions check [DIR]`: what a directory of definitions holds, and what is
//! wrong with it, as text for a terminal.

use std::path::{Path, PathBuf};

use super::load::{DefinitionError, LoadedDefinition, load_dir};

/// The outcome of checking every definition file of a directory.
#[derive(Debug)]
pub struct CheckReport {
    pub dir: PathBuf,
    pub loaded: Vec<LoadedDefinition>,
    pub errors: Vec<DefinitionError>,
}

/// Loads every definition in `dir` (see [`load_dir`]) for [`CheckReport::render`].
pub fn check_dir(dir: impl AsRef<Path>) -> CheckReport {
    let dir = dir.as_ref();
    let (loaded, errors) = load_dir(dir);
    CheckReport {
        dir: dir.to_path_buf(),
        loaded,
        errors,
    }
}

impl CheckReport {
    /// True when every file loaded. A directory without definitions is not an error.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The process exit code for `definitions check`: 0, or 2 when any file is broken.
    pub fn exit_code(&self) -> i32 {
        if self.ok() { 0 } else { 2 }
    }

    /// One aligned line per definition (id, accepted types, trust level, image, number of
    /// constraints, file), then one line per error, then a count.
    pub fn render(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .loaded
            .iter()
            .map(|l| {
                let d = &l.definition;
                let accepts: Vec<&str> = d.accepts.iter().map(|t| t.as_str()).collect();
                [
                    d.worker_id.to_string(),
                    format!("accepts={}", accepts.join(",")),
                    format!("trust={}", d.trust_level),
                    format!("image={}", d.runtime.image),
                    format!("constraints={}", d.constraints.len()),
                    l.path.display().to_string(),
                ]
            })
            .collect();
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for e in &self.errors {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: {} definition(s) loaded, {} error(s)\n",
            self.dir.display(),
            self.loaded.len(),
            self.errors.len()
        ));
        out
    }
}
