//! Reading a constraint's `value` once its witness is known, with the path below `value` of
//! whatever is wrong (`[1]`, `command[0]`).

use serde_yaml::Value;

use super::{CommandSpec, DEFAULT_COMMAND_TIMEOUT, GlobList, SecretScan, WitnessKind, WitnessRule};
use crate::definition::locate::Seg;
use crate::definition::quantity::{DurationSpec, duration_in, size_from_scalar};
use crate::definition::values::Scalar;

type RuleError = (Vec<Seg>, String);

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Reads `value` as the value `kind` takes. Errors carry the path below `value` (e.g. `[1]`).
pub(crate) fn parse_rule(kind: WitnessKind, value: &Value) -> Result<WitnessRule, RuleError> {
    let wrong = || {
        (
            vec![],
            format!("{kind} expects {}, not {}", kind.expects(), describe(value)),
        )
    };
    match kind {
        WitnessKind::MaxFileSize => {
            let scalar = match value {
                Value::String(s) => Scalar::Str(s.clone()),
                Value::Number(n) => match n.as_u64() {
                    Some(n) => Scalar::Int(n.into()),
                    None => return Err(wrong()),
                },
                _ => return Err(wrong()),
            };
            let size = size_from_scalar(&scalar).map_err(|m| (vec![], m))?;
            if size.bytes() == 0 {
                return Err((
                    vec![],
                    format!("{} is out of range (use at least 1)", describe(value)),
                ));
            }
            Ok(WitnessRule::MaxFileSize(size))
        }
        WitnessKind::MaxChangedFiles | WitnessKind::MaxChangedLines => {
            let n = value.as_u64().filter(|n| *n >= 1).ok_or_else(wrong)?;
            Ok(match kind {
                WitnessKind::MaxChangedFiles => WitnessRule::MaxChangedFiles(n),
                _ => WitnessRule::MaxChangedLines(n),
            })
        }
        WitnessKind::ForbiddenPaths | WitnessKind::AllowedPaths => {
            let globs = glob_list(value).ok_or_else(wrong)??;
            Ok(match kind {
                WitnessKind::ForbiddenPaths => WitnessRule::ForbiddenPaths(globs),
                _ => WitnessRule::AllowedPaths(globs),
            })
        }
        WitnessKind::NoSecrets => match value {
            Value::Bool(true) => Ok(WitnessRule::NoSecrets(SecretScan {
                extra_patterns: vec![],
                allow_paths: None,
            })),
            Value::Mapping(map) => {
                let mut scan = SecretScan {
                    extra_patterns: vec![],
                    allow_paths: None,
                };
                for (key, v) in map {
                    let name = key.as_str().unwrap_or_default();
                    let at = |e: RuleError| (prefixed(name, e.0), e.1);
                    match name {
                        "extra_patterns" => {
                            scan.extra_patterns = strings(v, false).map_err(at)?;
                        }
                        "allow_paths" => {
                            let list = glob_list(v).ok_or_else(|| {
                                (
                                    vec![],
                                    format!("expects a list of globs, not {}", describe(v)),
                                )
                            });
                            scan.allow_paths = Some(list.and_then(|r| r).map_err(at)?);
                        }
                        _ => {
                            return Err((
                                vec![Seg::Key(name.to_string())],
                                "unknown field (use extra_patterns or allow_paths)".into(),
                            ));
                        }
                    }
                }
                Ok(WitnessRule::NoSecrets(scan))
            }
            _ => Err(wrong()),
        },
        WitnessKind::NoBinaryFiles => value
            .as_bool()
            .map(WitnessRule::NoBinaryFiles)
            .ok_or_else(wrong),
        WitnessKind::RequireCommand => {
            let (argv_value, timeout, prefix) = match value {
                Value::Sequence(_) => (
                    value,
                    DurationSpec::from_secs(DEFAULT_COMMAND_TIMEOUT.as_secs()),
                    None,
                ),
                Value::Mapping(map) => {
                    let mut command = None;
                    let mut timeout = DurationSpec::from_secs(DEFAULT_COMMAND_TIMEOUT.as_secs());
                    for (key, v) in map {
                        match key.as_str().unwrap_or_default() {
                            "command" => command = Some(v),
                            "timeout" => {
                                let scalar = match v {
                                    Value::String(s) => Scalar::Str(s.clone()),
                                    Value::Number(n) => match n.as_i64() {
                                        Some(i) => Scalar::Int(i.into()),
                                        None => Scalar::Float(n.as_f64().unwrap_or_default()),
                                    },
                                    Value::Bool(b) => Scalar::Bool(*b),
                                    _ => Scalar::Str(describe(v)),
                                };
                                timeout = duration_in(
                                    &scalar,
                                    DurationSpec::from_secs(10),
                                    DurationSpec::from_secs(24 * 3600),
                                )
                                .map_err(|m| (vec![Seg::Key("timeout".into())], m))?;
                            }
                            other => {
                                return Err((
                                    vec![Seg::Key(other.to_string())],
                                    "unknown field (use command or timeout)".into(),
                                ));
                            }
                        }
                    }
                    let command = command
                        .ok_or_else(|| (vec![Seg::Key("command".into())], "missing".to_string()))?;
                    (command, timeout, Some("command"))
                }
                _ => return Err(wrong()),
            };
            let at = |e: RuleError| match prefix {
                Some(p) => (prefixed(p, e.0), e.1),
                None => e,
            };
            let argv = strings(argv_value, true).map_err(at)?;
            if argv.is_empty() {
                return Err(at((
                    vec![],
                    "must not be empty (give the command as an argv list)".into(),
                )));
            }
            Ok(WitnessRule::RequireCommand(CommandSpec { argv, timeout }))
        }
    }
}

fn prefixed(key: &str, mut path: Vec<Seg>) -> Vec<Seg> {
    path.insert(0, Seg::Key(key.to_string()));
    path
}

/// A list of strings; each must be non-empty. `argv` words the error for commands.
fn strings(value: &Value, argv: bool) -> Result<Vec<String>, RuleError> {
    let Value::Sequence(items) = value else {
        let what = if argv {
            "an argv list"
        } else {
            "a list of strings"
        };
        return Err((vec![], format!("expects {what}, not {}", describe(value))));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::String(_) => Err((vec![Seg::Index(i)], "must not be empty".to_string())),
            // Unquoted numbers are fine in an argv (`[sleep, 1]`); anything else is a mistake.
            Value::Number(n) if argv => Ok(n.to_string()),
            other => Err((
                vec![Seg::Index(i)],
                format!("expects a string, not {}", describe(other)),
            )),
        })
        .collect()
}

/// `None` when `value` is not a list at all; otherwise the compiled globs or the bad one.
fn glob_list(value: &Value) -> Option<Result<GlobList, RuleError>> {
    if !value.is_sequence() {
        return None;
    }
    Some(strings(value, false).and_then(|patterns| {
        if patterns.is_empty() {
            return Err((vec![], "must list at least one glob".into()));
        }
        GlobList::new(patterns).map_err(|(i, m)| (vec![Seg::Index(i)], m))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::quantity::Size;

    fn rule(kind: WitnessKind, yaml: &str) -> Result<WitnessRule, RuleError> {
        parse_rule(kind, &serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn each_witness_reads_its_value_type() {
        assert_eq!(
            rule(WitnessKind::MaxFileSize, "1m").unwrap(),
            WitnessRule::MaxFileSize(Size::from_bytes(1 << 20))
        );
        assert_eq!(
            rule(WitnessKind::MaxFileSize, "4096").unwrap(),
            WitnessRule::MaxFileSize(Size::from_bytes(4096))
        );
        assert_eq!(
            rule(WitnessKind::MaxChangedLines, "500").unwrap(),
            WitnessRule::MaxChangedLines(500)
        );
        assert!(matches!(
            rule(WitnessKind::ForbiddenPaths, "['.github/**', '*.pem']").unwrap(),
            WitnessRule::ForbiddenPaths(g) if g.is_match("keys/a.pem") && !g.is_match("a.rs")
        ));
        assert!(matches!(
            rule(WitnessKind::NoSecrets, "{extra_patterns: ['corp-[0-9]+'], allow_paths: ['tests/**']}").unwrap(),
            WitnessRule::NoSecrets(s) if s.extra_patterns.len() == 1 && s.allow_paths.is_some()
        ));
        assert_eq!(
            rule(WitnessKind::NoBinaryFiles, "false").unwrap(),
            WitnessRule::NoBinaryFiles(false)
        );
        assert_eq!(
            rule(
                WitnessKind::RequireCommand,
                "{command: [make, test], timeout: 5m}"
            )
            .unwrap(),
            WitnessRule::RequireCommand(CommandSpec {
                argv: vec!["make".into(), "test".into()],
                timeout: DurationSpec::from_secs(300),
            })
        );
    }

    #[test]
    fn wrong_values_say_what_the_witness_expects_and_where() {
        assert_eq!(
            rule(WitnessKind::MaxChangedFiles, "many").unwrap_err(),
            (
                vec![],
                "max_changed_files expects an integer >= 1, not \"many\"".into()
            )
        );
        assert_eq!(
            rule(WitnessKind::MaxChangedLines, "0").unwrap_err().1,
            "max_changed_lines expects an integer >= 1, not 0"
        );
        assert_eq!(
            rule(WitnessKind::AllowedPaths, "['src/**', 'a/[']")
                .unwrap_err()
                .0,
            vec![Seg::Index(1)]
        );
        assert!(
            rule(WitnessKind::NoSecrets, "false")
                .unwrap_err()
                .1
                .starts_with("no_secrets expects true or")
        );
        assert_eq!(
            rule(WitnessKind::NoSecrets, "{allow: []}").unwrap_err().0,
            vec![Seg::Key("allow".into())]
        );
        assert_eq!(
            rule(
                WitnessKind::RequireCommand,
                "{command: [make, ''], timeout: 5m}"
            )
            .unwrap_err()
            .0,
            vec![Seg::Key("command".into()), Seg::Index(1)]
        );
        assert!(rule(WitnessKind::RequireCommand, "[]").is_err());
        assert!(
            rule(WitnessKind::ForbiddenPaths, "['/etc/**']")
                .unwrap_err()
                .1
                .contains("never matches")
        );
    }
}
