//! fleet's benchmarks, one `fleet-bench` subcommand each. Every benchmark starts what it needs
//! (a private redis-server on a free port, git daemons, containers labelled `io.fleet.bench` or
//! `io.fleet.managed`), measures side by side in one run, prints tables of figures and ratios,
//! and cleans up. See docs/benchmarks.md for the commands, a recorded run and what is fragile.
//!
//! - [`queue_bench`]: no-op throughput of the queue's scripts, with a `redis-benchmark`
//!   baseline and the peers (BullMQ, apalis, ...) in the same run.
//! - [`worker_overhead`]: the real worker pipeline around one container, against a raw
//!   `docker run --rm` of the same image and command.
//! - [`mirror`]: cold against warm workspace preparation through the git mirror cache.
//! - [`heartbeats`]: 1,000 (and 10,000) simulated workers heartbeating, with the controller's
//!   maintenance loop running.
//! - [`throughput`]: orders/s through real `fleet-worker` processes with the process executor.

pub mod agent_image;
pub mod cli;
pub mod fleet;
pub mod heartbeats;
pub mod mirror;
pub mod peers;
pub mod procs;
pub mod queue_bench;
pub mod redis_server;
pub mod repo;
pub mod report;
pub mod throughput;
pub mod worker_overhead;
