//! Integration tests: one binary, a module per area.
#![allow(clippy::unwrap_used)]

mod api;
mod chaos;
mod clarification;
mod cli;
mod compose;
mod dashboard_browser;
mod definitions;
mod executor_docker;
mod executor_process;
mod git;
mod maintenance;
mod once;
mod queue;
mod queue_invariants;
mod redis_auth;
mod supervision;
mod witness;
mod worker;
mod worker_process;
