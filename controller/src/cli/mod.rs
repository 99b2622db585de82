//! The `fleet-controller` command line. Every command talks to Redis directly (no controller
//! needs to be running), except `serve`, which *is* the controller.
//!
//! Exit codes: 0 success, 1 refused (unknown order, a transition that is not allowed),
//! 2 bad input, 4 infrastructure (Redis unreachable).

mod commands;
mod inspect;
pub mod output;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fleet_shared::config::RedisArgs;
use fleet_shared::telemetry::LogFormat;
use fleet_shared::{QueueError, ValidationError};

#[derive(Debug, Parser)]
#[command(
    name = "fleet-controller",
    version,
    about = "Drive and watch a fleet of sandboxed coding agents",
    long_about = "Drive and watch a fleet of sandboxed coding agents.\n\n\
        `serve` runs the HTTP API, the dashboard and the background loops (reaper, scheduler, \
        lost-worker detection). Every other command talks to Redis directly.\n\n\
        Exit codes: 0 success, 1 refused (unknown order, transition not allowed), 2 bad input, \
        4 infrastructure (Redis unreachable).",
    after_help = "Examples:\n  \
        fleet-controller serve --bind 127.0.0.1:8080\n  \
        fleet-controller enqueue --type bugfix --repo https://git.example.com/app.git --prompt \"Fix the crash in login\"\n  \
        fleet-controller status\n  \
        fleet-controller watch"
)]
pub struct Cli {
    #[command(flatten)]
    pub redis: RedisArgs,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log line format.
    #[arg(
        long,
        value_enum,
        default_value_t,
        global = true,
        env = "FLEET_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API, the dashboard and the background loops until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Submit a work order; prints its id.
    Enqueue(EnqueueArgs),
    /// One order in detail (attempts, history, last output), or a fleet summary without ID.
    Status {
        /// The order id.
        id: Option<String>,
    },
    /// Queue depth per task type and priority, plus delayed, running and dead counts.
    Queues,
    /// Registered workers: status, current orders, heartbeat age, CPU and memory.
    Workers,
    /// Cancel an order that has not finished (a running one stops within a heartbeat).
    Cancel {
        /// The order id.
        id: String,
    },
    /// Send a dead or failed order round again with a fresh set of attempts.
    Retry {
        /// The order id.
        id: String,
    },
    /// Approve the branch a supervised worker pushed: the order succeeds.
    Approve {
        /// The order id.
        id: String,
    },
    /// Reject the branch a supervised worker pushed: the order fails with reason `rejected`.
    Reject {
        /// The order id.
        id: String,
        /// Why (recorded on the order and in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// An order's audit trail: claim, clone, sandbox, questions, verdicts, commit, push, approval.
    Audit {
        /// The order id.
        id: String,
    },
    /// A definition's earned trust level and approval streak; --reset reverts an escalation.
    Trust {
        /// The definition's worker_id.
        definition: String,
        /// Revert to the definition's configured level and restart the streak.
        #[arg(long)]
        reset: bool,
    },
    /// Questions agents asked that wait for a person: id, order, worker, type, age.
    Questions,
    /// Answer a pending question (the agent continues with your answer).
    Answer {
        /// The question id (see `questions`).
        id: String,
        /// The answer.
        #[arg(required_unless_present = "decline")]
        text: Option<String>,
        /// Decline to answer instead (the agent is told it was declined).
        #[arg(long, conflicts_with = "text")]
        decline: bool,
    },
    /// Follow the live event stream (Ctrl-C to stop).
    Watch(watch::WatchArgs),
    /// Worker definitions (definitions/*.yaml).
    #[command(subcommand)]
    Definitions(DefinitionsCommand),
    /// Mint a JWT for the HTTP API, signed with FLEET_JWT_SECRET; its subject is recorded as
    /// the actor of what it does.
    Token {
        /// Who the token is for (recorded in events and the audit trail).
        #[arg(long)]
        subject: String,
        /// How long it is valid, e.g. 8h.
        #[arg(long, default_value = "8h", value_parser = parse_duration_arg)]
        ttl: std::time::Duration,
        #[arg(long, env = "FLEET_JWT_SECRET", hide_env_values = true)]
        jwt_secret: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefinitionsCommand {
    /// Check every definition in DIR; prints a summary and each error as
    /// `file:line:column: field.path: message`. Exit 2 on any error.
    Check {
        /// Directory of *.yaml definitions.
        #[arg(default_value = "definitions")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and dashboard.
    #[arg(long, env = "FLEET_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Token that mutating API calls must present as `Authorization: Bearer <token>`.
    #[arg(long, env = "FLEET_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Secret for HS256 JWTs (see `fleet-controller token`).
    #[arg(long, env = "FLEET_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Serve on a non-loopback address without any token (not recommended).
    #[arg(long)]
    pub insecure: bool,
    /// Time between maintenance cycles (reaper, scheduler, lost workers).
    #[arg(long, default_value = "500ms", value_parser = parse_duration_arg)]
    pub maintenance_interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Task type: feature, bugfix, test, docs, refactor or review.
    #[arg(long = "type", value_name = "TYPE")]
    pub task_type: String,
    /// Repository to clone: https://, ssh://, git://, file://, user@host:path or a path.
    #[arg(long)]
    pub repo: String,
    /// Base branch.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// high, default or low.
    #[arg(long, default_value = "default")]
    pub priority: String,
    /// What the agent should do.
    #[arg(
        long,
        conflicts_with = "prompt_file",
        required_unless_present = "prompt_file"
    )]
    pub prompt: Option<String>,
    /// Read the prompt from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Attempts before the order goes to the dead set.
    #[arg(long, default_value_t = fleet_shared::order::DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// How long the agent may run, e.g. 30m.
    #[arg(long, default_value = "30m", value_parser = parse_duration_arg)]
    pub timeout: std::time::Duration,
    /// Free-form labels (repeatable), e.g. --label team:core.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// How long a question from the agent may wait for an answer (default: the definition's).
    #[arg(long, value_parser = parse_duration_arg)]
    pub clarification_timeout: Option<std::time::Duration>,
}

fn parse_duration_arg(raw: &str) -> Result<std::time::Duration, String> {
    fleet_shared::units::parse_duration(raw)
}

/// A failed command: the exit code and the one line to print.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    pub fn infrastructure(message: impl Into<String>) -> Self {
        CliError {
            code: 4,
            message: message.into(),
        }
    }
}

impl From<ValidationError> for CliError {
    fn from(e: ValidationError) -> Self {
        CliError::bad_input(e.to_string())
    }
}

impl From<QueueError> for CliError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Connection(inner) => CliError::infrastructure(format!(
                "cannot reach Redis: {inner} (is redis-server running? check --redis-url / FLEET_REDIS_URL)"
            )),
            QueueError::Corrupt { .. } => CliError::infrastructure(e.to_string()),
            other => CliError {
                code: 1,
                message: other.to_string(),
            },
        }
    }
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match commands::dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
