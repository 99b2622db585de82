//! The fleet controller: how people drive and watch a fleet.
//!
//! - [`cli`]: the `fleet-controller` commands (they talk to Redis directly).
//! - [`serve`]: the long-running controller: [`api`] (HTTP + dashboard) and [`maintenance`]
//!   (reaper, scheduler, lost-worker detection), safe to run several times side by side.
//! - [`metrics`]: Prometheus exposition computed from Redis.

pub mod api;
pub mod auth;
pub mod cli;
pub mod dashboard;
pub mod maintenance;
pub mod metrics;
pub mod orders;
pub mod people;
pub mod serve;
