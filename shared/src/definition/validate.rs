//! The rules that span fields, applied once the YAML has been read: a [`RawDefinition`] becomes a
//! [`Definition`] or the first [`Issue`], in file order.

use std::collections::{BTreeMap, HashMap};

use super::locate::Seg;
use super::names::UserSpec;
use super::placeholder::{Placeholder, Template, is_shell_c};
use super::quantity::DurationSpec;
use super::raw::{DEFAULT_CLARIFICATION_TIMEOUT_SECS, RawConstraint, RawDefinition, RawGit};
use super::values::{Feedback, Network, OnTimeoutKind};
use super::witness::parse_rule;
use super::{
    Audit, Clarification, Constraint, Definition, Escalation, GitSettings, Identity, OnTimeout,
    Resources, Runtime,
};

/// A rule broken at `path`. `at` is where to point when `path` itself is not in the file (a
/// missing field is reported at the field that makes it required).
#[derive(Debug)]
pub(crate) struct Issue {
    pub path: Vec<Seg>,
    pub message: String,
    pub at: Option<Vec<Seg>>,
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn issue(path: Vec<Seg>, message: impl Into<String>) -> Issue {
    Issue {
        path,
        message: message.into(),
        at: None,
    }
}

const PROMPT_AS_DATA: &str = "{prompt} is refused here (prompts are data: pass {prompt_file}, or {prompt} as a whole argument of runtime.command)";

pub(crate) fn definition(raw: RawDefinition) -> Result<Definition, Issue> {
    let accepts: Vec<_> = raw.accepts.into_iter().map(|t| t.0).collect();
    if accepts.is_empty() {
        return Err(issue(
            vec![key("accepts")],
            "must list at least one task type",
        ));
    }
    for (i, t) in accepts.iter().enumerate() {
        if accepts[..i].contains(t) {
            return Err(issue(
                vec![key("accepts"), Seg::Index(i)],
                format!("\"{t}\" is listed twice"),
            ));
        }
    }

    let command = raw.runtime.command;
    check_command(&command)?;
    let mut env = BTreeMap::new();
    for (k, value) in raw.runtime.env {
        if value.uses(Placeholder::Prompt) {
            return Err(issue(
                vec![key("runtime"), key("env"), Seg::Key(k.0)],
                PROMPT_AS_DATA,
            ));
        }
        env.insert(k.0, value);
    }
    let r = raw.runtime.resources;
    let runtime = Runtime {
        image: raw.runtime.image,
        command,
        env,
        user: raw.runtime.user.unwrap_or(UserSpec::NOBODY),
        network: raw.runtime.network.map_or(Network::None, |n| n.0),
        resources: Resources {
            memory: r.memory.0,
            cpus: r.cpus.0,
            pids: r.pids.0,
            timeout: r.timeout.0,
            disk: r.disk.0,
        },
    };

    let trust_level = raw.trust_level.0;
    let escalation = match raw.escalation {
        None => None,
        Some(e) if e.to.0 <= trust_level => {
            return Err(issue(
                vec![key("escalation"), key("to")],
                format!(
                    "\"{}\" is not above trust_level {trust_level} (escalation promotes: supervised < monitored < autonomous)",
                    e.to.0
                ),
            ));
        }
        Some(e) => Some(Escalation {
            // IntIn bounds it to 10_000.
            after_approved: u32::try_from(e.after_approved.0).unwrap_or(u32::MAX),
            to: e.to.0,
        }),
    };

    let constraints = constraints(raw.constraints)?;
    let clarification = clarification(raw.clarification)?;
    let git = git(raw.git, raw.worker_id.as_str())?;

    Ok(Definition {
        worker_id: raw.worker_id,
        identity: Identity {
            name: raw.identity.name.0,
            system_prompt: raw.identity.system_prompt.0,
            onboarding_steps: raw
                .identity
                .onboarding_steps
                .into_iter()
                .map(|s| s.0)
                .collect(),
        },
        accepts,
        runtime,
        trust_level,
        escalation,
        constraints,
        audit: Audit {
            log_all_actions: raw.audit.log_all_actions,
            retention_days: u32::try_from(raw.audit.retention_days.0).unwrap_or(u32::MAX),
        },
        clarification,
        git,
    })
}

fn check_command(command: &[Template]) -> Result<(), Issue> {
    let at = |i: usize| vec![key("runtime"), key("command"), Seg::Index(i)];
    let Some(program) = command.first() else {
        return Err(issue(
            vec![key("runtime"), key("command")],
            "must not be empty (give the agent's argv as a list)",
        ));
    };
    if program.as_str().trim().is_empty() {
        return Err(issue(at(0), "must not be empty (it is the program to run)"));
    }
    let argv: Vec<&str> = command.iter().map(Template::as_str).collect();
    let shell = is_shell_c(&argv);
    for (i, arg) in command.iter().enumerate() {
        if !arg.uses(Placeholder::Prompt) {
            continue;
        }
        let message = if shell {
            "{prompt} is refused in a shell -c command (the shell would parse it as code; read {prompt_file} instead)"
        } else if i == 0 {
            "{prompt} cannot be the program"
        } else if !arg.is_only(Placeholder::Prompt) {
            "{prompt} must be a whole argument on its own (e.g. [agent, \"{prompt}\"]), never part of a string"
        } else {
            continue;
        };
        return Err(issue(at(i), message));
    }
    Ok(())
}

fn constraints(raw: Vec<RawConstraint>) -> Result<Vec<Constraint>, Issue> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.into_iter().enumerate() {
        let here = |k: &str| vec![key("constraints"), Seg::Index(i), key(k)];
        if let Some(first) = seen.insert(c.constraint_id.to_string(), i) {
            return Err(issue(
                here("constraint_id"),
                format!(
                    "\"{}\" is already used by constraints[{first}]",
                    c.constraint_id
                ),
            ));
        }
        let rule = parse_rule(c.witness.0, &c.value).map_err(|(below, message)| {
            let mut path = here("value");
            path.extend(below);
            issue(path, message)
        })?;
        out.push(Constraint {
            id: c.constraint_id,
            rule,
            feedback: c.feedback.map_or(Feedback::Alert, |f| f.0),
        });
    }
    Ok(out)
}

fn clarification(raw: Option<super::raw::RawClarification>) -> Result<Clarification, Issue> {
    let here = |k: &str| vec![key("clarification"), key(k)];
    let Some(raw) = raw else {
        return Ok(Clarification {
            timeout: DurationSpec::from_secs(DEFAULT_CLARIFICATION_TIMEOUT_SECS),
            on_timeout: OnTimeout::Fail,
        });
    };
    let on_timeout = match (raw.on_timeout.map(|k| k.0), raw.default_answer) {
        (Some(OnTimeoutKind::Default), Some(answer)) => OnTimeout::Answer(answer.0),
        (Some(OnTimeoutKind::Default), None) => {
            return Err(Issue {
                path: here("default_answer"),
                message: "missing (required when on_timeout is default)".into(),
                at: Some(here("on_timeout")),
            });
        }
        (_, Some(_)) => {
            return Err(issue(
                here("default_answer"),
                "is only used when on_timeout is default (remove it, or set on_timeout: default)",
            ));
        }
        (_, None) => OnTimeout::Fail,
    };
    Ok(Clarification {
        timeout: raw.timeout.map_or(
            DurationSpec::from_secs(DEFAULT_CLARIFICATION_TIMEOUT_SECS),
            |t| t.0,
        ),
        on_timeout,
    })
}

fn git(raw: Option<RawGit>, worker_id: &str) -> Result<GitSettings, Issue> {
    let here = |k: &str| vec![key("git"), key(k)];
    let raw = raw.unwrap_or(RawGit {
        author_name: None,
        author_email: None,
        commit_message: None,
    });
    let author_name = raw
        .author_name
        .map_or_else(|| format!("fleet-{worker_id}"), |n| n.0);
    if author_name.contains(['<', '>', '\n']) {
        return Err(issue(
            here("author_name"),
            format!("{author_name:?} must not contain <, > or a line break"),
        ));
    }
    let author_email = raw
        .author_email
        .map_or_else(|| "fleet@localhost".to_string(), |e| e.0);
    let email_ok = author_email
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
        && !author_email.contains(|c: char| c.is_whitespace() || c == '<' || c == '>');
    if !email_ok {
        return Err(issue(
            here("author_email"),
            format!("{author_email:?} is not an email address (use e.g. fleet@localhost)"),
        ));
    }
    let commit_message = match raw.commit_message {
        Some(t) if t.uses(Placeholder::Prompt) => {
            return Err(issue(here("commit_message"), PROMPT_AS_DATA));
        }
        Some(t) if t.as_str().trim().is_empty() => {
            return Err(issue(here("commit_message"), "must not be empty"));
        }
        Some(t) => t,
        None => Template::parse("fleet {task_type} {order_id}").map_err(|m| {
            // A constant that parses; kept as an error rather than a panic all the same.
            issue(here("commit_message"), m)
        })?,
    };
    Ok(GitSettings {
        author_name,
        author_email,
        commit_message,
    })
}
