//! Reading definition files, and the one-line error that points into them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;
use serde_yaml::Value;

use super::Definition;
use super::locate::{Locator, Position, Seg, path_string};
use super::names::WorkerId;
use super::raw::RawDefinition;
use super::validate;

/// A definition that cannot be used, as one line:
/// `FILE:LINE:COLUMN: FIELD.PATH: message`. Errors about a whole file or directory leave out the
/// position and path. Every definition error is permanent: the file has to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// The file (or directory) as it was named to the loader, not canonicalised.
    pub file: PathBuf,
    /// Where the offending key or list item is; `None` for errors about the whole file.
    pub position: Option<Position>,
    /// Dotted field path such as `runtime.resources.memory` or `constraints[2].value`; empty
    /// when the error is not about one field.
    pub path: String,
    pub message: String,
}

impl DefinitionError {
    fn whole(file: &Path, message: impl Into<String>) -> Self {
        DefinitionError {
            file: file.to_path_buf(),
            position: None,
            path: String::new(),
            message: message.into(),
        }
    }

    fn at(file: &Path, locator: &Locator, path: &[Seg], at: &[Seg], message: String) -> Self {
        DefinitionError {
            file: file.to_path_buf(),
            position: Some(locator.find(at)),
            path: path_string(path),
            message,
        }
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{p}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DefinitionError {}

/// A definition and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDefinition {
    pub path: PathBuf,
    pub definition: Definition,
}

/// Checks the YAML `text` of a definition; `file` only names it in errors.
pub fn parse_str(text: &str, file: &Path) -> Result<Definition, DefinitionError> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(file, &e))?;
    if value.is_null() {
        return Err(DefinitionError {
            position: Some(Position { line: 1, column: 1 }),
            ..DefinitionError::whole(file, "the file is empty (expected a worker definition)")
        });
    }
    let locator = Locator::new(text);
    // Deserializing from the parsed Value (not the text) keeps serde_yaml's own path and
    // position out of the messages: positions come from the locator, pointing at keys.
    let raw: RawDefinition = serde_path_to_error::deserialize(value)
        .map_err(|e| deserialize_error(file, &locator, &e))?;
    validate::definition(raw).map_err(|issue| {
        let at = issue.at.as_deref().unwrap_or(&issue.path);
        DefinitionError::at(file, &locator, &issue.path, at, issue.message)
    })
}

/// Reads and checks one definition file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Definition, DefinitionError> {
    let path = path.as_ref();
    let text = read(path)?;
    parse_str(&text, path)
}

fn read(path: &Path) -> Result<String, DefinitionError> {
    std::fs::read_to_string(path)
        .map_err(|e| DefinitionError::whole(path, format!("cannot read: {e}")))
}

/// Every `*.yaml` and `*.yml` file directly in `dir` (not below it), in file-name order: the
/// definitions that loaded and the errors of those that did not. A `worker_id` already used by
/// an earlier file is an error of the later file, which is then left out.
pub fn load_dir(dir: impl AsRef<Path>) -> (Vec<LoadedDefinition>, Vec<DefinitionError>) {
    let dir = dir.as_ref();
    let mut loaded: Vec<LoadedDefinition> = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(DefinitionError::whole(
                dir,
                format!("cannot read directory: {e}"),
            ));
            return (loaded, errors);
        }
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let yaml = matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                );
                if yaml && path.is_file() {
                    files.push(path);
                }
            }
            Err(e) => errors.push(DefinitionError::whole(
                dir,
                format!("cannot read directory: {e}"),
            )),
        }
    }
    files.sort();
    let mut owners: HashMap<WorkerId, usize> = HashMap::new();
    for path in files {
        let text = match read(&path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match parse_str(&text, &path) {
            Ok(definition) => {
                if let Some(&first) = owners.get(&definition.worker_id) {
                    let at = [Seg::Key("worker_id".into())];
                    errors.push(DefinitionError::at(
                        &path,
                        &Locator::new(&text),
                        &at,
                        &at,
                        format!(
                            "\"{}\" is already defined in {}",
                            definition.worker_id,
                            loaded[first].path.display()
                        ),
                    ));
                    continue;
                }
                owners.insert(definition.worker_id.clone(), loaded.len());
                loaded.push(LoadedDefinition { path, definition });
            }
            Err(e) => errors.push(e),
        }
    }
    (loaded, errors)
}

/// What a `--definition` argument names: a definition file (a path that exists, contains `/`, or
/// ends in `.yaml`/`.yml`), else a `worker_id` looked up among the files of `dir`.
pub fn resolve(arg: &str, dir: impl AsRef<Path>) -> Result<LoadedDefinition, DefinitionError> {
    let dir = dir.as_ref();
    let as_path = Path::new(arg);
    let is_path = arg.contains(['/', std::path::MAIN_SEPARATOR])
        || arg.ends_with(".yaml")
        || arg.ends_with(".yml")
        || as_path.is_file();
    if is_path {
        return load_file(as_path).map(|definition| LoadedDefinition {
            path: as_path.to_path_buf(),
            definition,
        });
    }
    if let Err(m) = WorkerId::parse(arg) {
        return Err(DefinitionError::whole(
            dir,
            format!("{arg:?} is neither a definition file nor a worker id ({arg:?} {m})"),
        ));
    }
    let (mut loaded, errors) = load_dir(dir);
    if let Some(found) = loaded
        .iter()
        .position(|l| l.definition.worker_id.as_str() == arg)
    {
        return Ok(loaded.swap_remove(found));
    }
    let ids: Vec<&str> = loaded
        .iter()
        .map(|l| l.definition.worker_id.as_str())
        .collect();
    let mut message = format!(
        "no definition with worker_id {arg:?} (found: {})",
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    );
    if let Some(first) = errors.first() {
        message.push_str(&format!(
            "; {} file(s) did not load, the first: {first}",
            errors.len()
        ));
    }
    Err(DefinitionError::whole(dir, message))
}

fn syntax_error(file: &Path, e: &serde_yaml::Error) -> DefinitionError {
    let mut message = e.to_string();
    let position = e.location().map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    if let Some(p) = position {
        // serde_yaml appends the position to its message; it is already in front of ours.
        message = message.replacen(&format!(" at line {} column {}", p.line, p.column), "", 1);
    }
    DefinitionError {
        position,
        ..DefinitionError::whole(file, format!("invalid YAML: {message}"))
    }
}

fn deserialize_error(
    file: &Path,
    locator: &Locator,
    e: &serde_path_to_error::Error<serde_yaml::Error>,
) -> DefinitionError {
    let mut path: Vec<Seg> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    let raw = e.inner().to_string();
    let mut at = path.clone();
    let message = if let Some(field) = backticked(&raw, "missing field ").first() {
        // Reported on the mapping that lacks it; name the field, point at the mapping.
        path.push(Seg::Key(field.clone()));
        "missing".to_string()
    } else if let Some(field) = backticked(&raw, "unknown field ").first() {
        if path.last() != Some(&Seg::Key(field.clone())) {
            path.push(Seg::Key(field.clone()));
            at = path.clone();
        }
        let expected = raw
            .split_once(", expected ")
            .map(|(_, list)| backticked(list, ""))
            .unwrap_or_default();
        match expected.as_slice() {
            [] => "unknown field (this mapping takes no fields)".to_string(),
            names => format!("unknown field (use {})", join_or(names)),
        }
    } else {
        raw
    };
    DefinitionError::at(file, locator, &path, &at, message)
}

/// The `` `quoted` `` names in `text` after `prefix` (which must start it).
fn backticked(text: &str, prefix: &str) -> Vec<String> {
    let Some(rest) = text.strip_prefix(prefix) else {
        return vec![];
    };
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

pub(crate) fn join_or(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
