//! Settings both binaries share: where Redis is and which fleet to use.
//!
//! Precedence is flags > environment > defaults, which clap gives us for free with `env = ...`.

use clap::Args;

use crate::connection::RedisHandle;
use crate::error::ValidationError;
use crate::keys::{FleetName, Keys};
use crate::queue::Queue;

/// `--redis-url` / `FLEET_REDIS_URL` and `--fleet` / `FLEET_NAME`.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis to use: redis://[user:password@]host:port[/db], or rediss:// for TLS.
    #[arg(
        long,
        env = "FLEET_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        global = true,
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Name of the fleet: all its keys live under fleet:{NAME}:.
    #[arg(
        long = "fleet",
        env = "FLEET_NAME",
        default_value = "default",
        global = true
    )]
    pub fleet: String,
}

impl RedisArgs {
    /// The queue these settings point at. Fails only on malformed settings; an unreachable Redis
    /// shows up at the first command.
    pub fn queue(&self) -> Result<Queue, ValidationError> {
        let fleet = FleetName::parse(&self.fleet)?;
        let redis = RedisHandle::open(&self.redis_url)?;
        Ok(Queue::new(redis, Keys::new(&fleet)))
    }
}
