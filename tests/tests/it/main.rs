//! Integration tests: one binary, a module per area.
#![allow(clippy::unwrap_used)]

mod queue;
mod queue_invariants;
