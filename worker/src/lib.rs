//! The fleet worker: claims orders, prepares a workspace, runs the agent in a sandbox, checks the
//! change against the definition's constraints, then commits and pushes a branch.
//!
//! - [`runtime`]: the long-running worker (claim loop, heartbeats, drain).
//! - [`pipeline`]: one order from clone to push, the same for `run` and `once`.
//! - [`executor`]: the sandboxes (Docker, bubblewrap / process).
//! - [`git`]: mirror cache, workspace, change set, commit, push.
//! - [`witness`]: the constraint checks run before anything is committed.
//! - [`agent_io`] and [`clarify`]: the agent protocol (/fleet/events.jsonl, questions, answers).

pub mod agent_io;
pub mod change;
pub mod clarify;
pub mod cli;
pub mod config;
mod elf;
pub mod executor;
pub mod git;
pub mod once;
pub mod order_dir;
pub mod pipeline;
pub mod report;
pub mod runtime;
pub mod settle;
pub mod spec;
pub mod usage;
pub mod witness;
