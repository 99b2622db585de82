//! Retry backoff: exponential with jitter, so orders that failed together do not retry together.

use std::time::Duration;

use rand::RngExt;

/// `base × 2^(attempt−1)`, capped at `max`, then spread by ±`jitter` (a fraction of the delay).
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
            jitter: 0.25,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (1-based); `unit` in [0, 1) picks the jitter,
    /// so tests can pin it.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64(raw.as_secs_f64() * spread.max(0.0))
    }

    /// The wait after failed attempt number `attempt`, with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::rng().random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_attempt_and_stop_at_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
            jitter: 0.25,
        };
        assert_eq!(b.delay_with(1, 0.5), Duration::from_secs(10));
        assert_eq!(b.delay_with(2, 0.5), Duration::from_secs(20));
        assert_eq!(b.delay_with(3, 0.5), Duration::from_secs(40));
        assert_eq!(b.delay_with(4, 0.5), Duration::from_secs(60));
        assert_eq!(b.delay_with(40, 0.5), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(1, 0.0), Duration::from_millis(7_500));
        assert_eq!(b.delay_with(1, 1.0), Duration::from_millis(12_500));
        for _ in 0..100 {
            let d = b.delay(2);
            assert!(
                d >= Duration::from_secs(15) && d <= Duration::from_secs(25),
                "{d:?}"
            );
        }
    }
}
