//! The YAML layout of a definition, exactly as written (unknown fields refused everywhere).
//!
//! Every leaf is a checking type, so a bad value fails *while it is read* and serde reports the
//! path to it. What needs more than one field (escalation above trust level, a witness's value
//! type, unique constraint ids...) is checked afterwards in `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::names::{ConstraintId, EnvKey, ImageRef, UserSpec, WorkerId};
use super::placeholder::Template;
use super::quantity::{Cpus, DurationIn, IntIn, SizeIn};
use super::values::{Feedback, Network, NonEmpty, OnTimeoutKind, Parsed, TrustLevel};
use super::witness::WitnessKind;
use crate::order::TaskType;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a worker definition (a YAML mapping)"
)]
pub(crate) struct RawDefinition {
    pub worker_id: WorkerId,
    pub identity: RawIdentity,
    pub accepts: Vec<Parsed<TaskType>>,
    pub runtime: RawRuntime,
    pub trust_level: Parsed<TrustLevel>,
    pub escalation: Option<RawEscalation>,
    #[serde(default)]
    pub constraints: Vec<RawConstraint>,
    pub audit: RawAudit,
    pub clarification: Option<RawClarification>,
    pub git: Option<RawGit>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with name and system_prompt"
)]
pub(crate) struct RawIdentity {
    pub name: NonEmpty,
    pub system_prompt: NonEmpty,
    #[serde(default)]
    pub onboarding_steps: Vec<NonEmpty>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with image, command and resources"
)]
pub(crate) struct RawRuntime {
    pub image: ImageRef,
    pub command: Vec<Template>,
    #[serde(default)]
    pub env: BTreeMap<EnvKey, Template>,
    pub user: Option<UserSpec>,
    pub network: Option<Parsed<Network>>,
    pub resources: RawResources,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with memory, cpus, pids, timeout and disk"
)]
pub(crate) struct RawResources {
    pub memory: SizeIn<{ 16 * MIB }, { 64 * GIB }>,
    pub cpus: Cpus,
    pub pids: IntIn<16, 65536>,
    pub timeout: DurationIn<10, DAY>,
    pub disk: SizeIn<{ 16 * MIB }, { 256 * GIB }>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with after_approved and to"
)]
pub(crate) struct RawEscalation {
    pub after_approved: IntIn<1, 10_000>,
    pub to: Parsed<TrustLevel>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with constraint_id, witness and value"
)]
pub(crate) struct RawConstraint {
    pub constraint_id: ConstraintId,
    pub witness: Parsed<WitnessKind>,
    /// Typed by the witness, so read in `validate` once the witness is known.
    pub value: Value,
    pub feedback: Option<Parsed<Feedback>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with log_all_actions and retention_days"
)]
pub(crate) struct RawAudit {
    pub log_all_actions: bool,
    pub retention_days: IntIn<1, 3650>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with timeout, on_timeout and default_answer"
)]
pub(crate) struct RawClarification {
    pub timeout: Option<DurationIn<10, { 7 * DAY }>>,
    pub on_timeout: Option<Parsed<OnTimeoutKind>>,
    pub default_answer: Option<NonEmpty>,
}

/// The default clarification timeout, 30 minutes.
pub(crate) const DEFAULT_CLARIFICATION_TIMEOUT_SECS: u64 = 30 * MINUTE;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with author_name, author_email and commit_message"
)]
pub(crate) struct RawGit {
    pub author_name: Option<NonEmpty>,
    pub author_email: Option<NonEmpty>,
    pub commit_message: Option<Template>,
}
