//! The fleet worker: claims orders, prepares a workspace, runs the agent in a sandbox, checks the
//! change against the definition's constraints, then commits and pushes a branch.

pub mod change;
pub mod executor;
pub mod git;
pub mod witness;
