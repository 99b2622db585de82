//! Where "now" comes from for queue transitions.
//!
//! In production every script asks Redis for the time (`TIME`), so leases written by one host and
//! reaped by another never disagree because of clock skew. Tests inject a manual clock and move
//! it forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The time source handed to the Lua scripts.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Redis's own clock (the scripts call `TIME`).
    #[default]
    Redis,
    /// A fixed instant (ms since the epoch) that a test moves by hand.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// The value scripts receive as ARGV[1]: 0 means "use Redis TIME".
    pub fn script_arg(&self) -> i64 {
        match self {
            Clock::Redis => 0,
            Clock::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// A timestamp for records that are only read by people (audit entries, alerts): the manual
    /// time, or this host's clock — never a Redis round trip, and never compared with leases.
    pub fn stamp_ms(&self) -> i64 {
        match self {
            Clock::Redis => wall_clock_ms(),
            Clock::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; does nothing to the Redis clock.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(now) = self {
            now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }

    /// Sets a manual clock; does nothing to the Redis clock.
    pub fn set(&self, ms: i64) {
        if let Clock::Manual(now) = self {
            now.store(ms, Ordering::SeqCst);
        }
    }
}

/// Milliseconds since the Unix epoch by this host's clock, for values that are only displayed or
/// stamped locally (never compared with lease deadlines).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
