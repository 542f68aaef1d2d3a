//! Back-off with jitter, bounded by what is left of a deadline or a token's life.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential back-off with full jitter: attempt `n` (0-based) waits a random time in
/// `[base·2ⁿ/2, base·2ⁿ]`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay's upper bound.
    pub base: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .checked_mul(1u32 << attempt.min(20))
            .unwrap_or(self.max)
            .min(self.max);
        let half = ceiling / 2;
        let span = ceiling.saturating_sub(half);
        // `mul_f64` panics when rounding pushes a huge span past `Duration::MAX`.
        let jitter =
            Duration::try_from_secs_f64(span.as_secs_f64() * unit_random()).unwrap_or(span);
        half.saturating_add(jitter.min(span))
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish() | 1);
}

/// A number in `[0, 1)` for jitter (not for secrets).
pub fn unit_random() -> f64 {
    let x = STATE.with(|s| {
        // splitmix64
        let z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(z);
        let mut z = z;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    });
    #[allow(clippy::cast_precision_loss)]
    let f = (x >> 11) as f64 / (1u64 << 53) as f64;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_jittered_and_capped() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let d0 = b.delay(0);
            assert!(
                d0 >= Duration::from_millis(500) && d0 <= Duration::from_secs(1),
                "{d0:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8),
                "{d3:?}"
            );
            assert!(b.delay(30) <= Duration::from_secs(10));
        }
        let huge = Backoff {
            base: Duration::MAX,
            max: Duration::MAX,
        };
        for n in [0, 1, 30, u32::MAX] {
            let _ = huge.delay(n);
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| b.delay(2).as_millis()).collect();
        assert!(spread.len() > 10, "jittered");
    }
}
