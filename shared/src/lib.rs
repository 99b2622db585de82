//! What the fleet controller and its workers agree on.
//!
//! - [`order`]: work orders ([`WorkOrder`]) and their validation at the edge ([`NewOrder`]).
//! - [`state`]: the order state machine ([`OrderState`]) and typed failure reasons.
//! - [`keys`]: the Redis key schema, every key under one Cluster hash tag `fleet:{NAME}:`.
//! - [`queue`]: the reliable queue; every transition is one Lua script in `shared/lua/`.
//! - [`connection`], [`config`], [`telemetry`], [`clock`]: plumbing both binaries share.
//!
//! The flow of an order, the keys and the scripts are described in docs/architecture.md and
//! docs/redis-keys.md.

pub mod alerts;
pub mod approval;
pub mod audit;
pub mod clarification;
pub mod clock;
pub mod config;
pub mod connection;
pub mod definition;
pub mod error;
pub mod events;
pub mod keys;
pub mod order;
pub mod queue;
pub mod registry;
pub mod state;
pub mod telemetry;
pub mod units;

pub use clock::Clock;
pub use connection::RedisHandle;
pub use definition::Definition;
pub use error::ValidationError;
pub use keys::{FleetName, Keys};
pub use order::{BranchName, NewOrder, OrderId, Priority, RepoUrl, TaskType, WorkOrder};
pub use queue::{Lease, Queue, QueueError, QueueSettings};
pub use state::{FailureReason, OrderState};
