//! Worker definitions: a worker type is configuration, one YAML file per type.
//!
//! A [`Definition`] says which task types a worker accepts, which image and argv run the agent and
//! with what resources, how far its results are trusted, and which constraints (witnesses) every
//! change must satisfy. [`load_file`], [`load_dir`] and [`resolve`] are the only ways to get one,
//! so a `Definition` is always fully checked. Their errors are one line each, naming the file,
//! line, column and field: `definitions/feature.yaml:14:5: runtime.resources.memory: "4 gigs" is
//! not a size (use e.g. 4g)`.
//!
//! The reference for every field is docs/definitions.md.
//!
//! - `raw`: the YAML layout with a checking type per leaf; `validate`: the cross-field rules.
//! - `locate`: line and column of a field path in the text.
//! - [`placeholder`]: `{order_id}`-style templates, rendered without a shell.
//! - [`witness`]: the witness registry and typed constraint values.

mod load;
mod locate;
mod names;
pub mod placeholder;
mod quantity;
mod raw;
mod report;
mod validate;
mod values;
pub mod witness;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::order::TaskType;

pub use load::{DefinitionError, LoadedDefinition, load_dir, load_file, parse_str, resolve};
pub use locate::Position;
pub use names::{ConstraintId, ImageRef, UserSpec, WorkerId};
pub use placeholder::{Placeholder, PlaceholderValues, Template};
pub use quantity::{DurationSpec, Size};
pub use report::{CheckReport, check_dir};
pub use values::{Feedback, Network, TrustLevel};
pub use witness::{CommandSpec, GlobList, SecretScan, WitnessKind, WitnessRule};

/// A checked worker definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definition {
    pub worker_id: WorkerId,
    pub identity: Identity,
    /// Never empty, no duplicates.
    pub accepts: Vec<TaskType>,
    pub runtime: Runtime,
    pub trust_level: TrustLevel,
    pub escalation: Option<Escalation>,
    pub constraints: Vec<Constraint>,
    pub audit: Audit,
    pub clarification: Clarification,
    pub git: GitSettings,
}

/// Who the agent is told it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    /// For people: dashboards and logs.
    pub name: String,
    /// Written to /fleet/system_prompt.txt for the agent.
    pub system_prompt: String,
    pub onboarding_steps: Vec<String>,
}

/// How the agent's sandbox runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runtime {
    /// A local image; fleet never pulls.
    pub image: ImageRef,
    /// The argv, exec'd directly. Never empty; `{prompt}` only as a whole element, and not at all
    /// in a shell `-c` command.
    pub command: Vec<Template>,
    /// Extra variables; no `FLEET_*` key (the worker sets those) and no `{prompt}`.
    pub env: BTreeMap<String, Template>,
    pub user: UserSpec,
    pub network: Network,
    pub resources: Resources,
}

/// Limits of the agent's sandbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resources {
    /// 16m..=64g.
    pub memory: Size,
    /// 0.1..=64 cores.
    pub cpus: f64,
    /// 16..=65536 processes.
    pub pids: u64,
    /// How long the agent may run, 10s..=24h. (An order carries its own `timeout_secs` too;
    /// which wins is the worker pipeline's decision.)
    pub timeout: DurationSpec,
    /// Size of the writable workspace quota / tmpfs, 16m..=256g.
    pub disk: Size,
}

/// Automatic promotion after a clean record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// Approved orders in a row, with no constraint violation, that earn one level.
    pub after_approved: u32,
    /// The level to promote to; always above the definition's `trust_level`.
    pub to: TrustLevel,
}

/// One rule every change must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    #[serde(rename = "constraint_id")]
    pub id: ConstraintId,
    #[serde(flatten)]
    pub rule: WitnessRule,
    /// Default [`Feedback::Alert`].
    pub feedback: Feedback,
}

/// What the audit stream keeps for this worker type, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Record every agent action (tool call, command) in the audit stream, not only results.
    pub log_all_actions: bool,
    /// 1..=3650.
    pub retention_days: u32,
}

/// What happens when the agent asks a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clarification {
    /// How long a question may wait for a person, 10s..=7d (default 30m).
    pub timeout: DurationSpec,
    pub on_timeout: OnTimeout,
}

/// What to do with an unanswered question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Fail the order.
    Fail,
    /// Give the agent this answer and carry on.
    Answer(String),
}

/// The identity and message of the commit a successful run pushes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GitSettings {
    /// Default `fleet-<worker_id>`.
    pub author_name: String,
    /// Default `fleet@localhost`.
    pub author_email: String,
    /// Default `fleet {task_type} {order_id}`; never contains `{prompt}`.
    pub commit_message: Template,
}

impl Definition {
    /// Whether this worker type may claim orders of `task_type`.
    pub fn accepts(&self, task_type: TaskType) -> bool {
        self.accepts.contains(&task_type)
    }

    /// The agent's argv for one attempt of an order. Pure substitution: no shell ever sees the
    /// values, and `{prompt}` fills a whole argument.
    pub fn render_command(&self, vars: &PlaceholderValues) -> Vec<String> {
        self.runtime
            .command
            .iter()
            .map(|t| t.render(vars))
            .collect()
    }

    /// The definition's extra environment for one attempt, in key order.
    pub fn render_env(&self, vars: &PlaceholderValues) -> Vec<(String, String)> {
        self.runtime
            .env
            .iter()
            .map(|(k, t)| (k.clone(), t.render(vars)))
            .collect()
    }

    /// The commit message for one attempt; it never contains the prompt.
    pub fn render_commit_message(&self, vars: &PlaceholderValues) -> String {
        self.git.commit_message.render(vars)
    }
}
