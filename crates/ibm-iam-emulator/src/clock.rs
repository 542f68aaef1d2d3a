//! The emulator's clock: wall time plus an offset that the control API can shift.
//!
//! Every time the emulator reasons about (token `iat`/`exp`, key rotation, refresh-token
//! expiry) is read from here, so a test can move the emulator hours ahead without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time shifted by an adjustable offset, in milliseconds.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock that reads the system time with no offset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Milliseconds since the Unix epoch, offset applied.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch, offset applied.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (or backward, with a negative value) by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::Relaxed);
    }

    /// The current offset from the system clock, in seconds.
    pub fn offset_seconds(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed).div_euclid(1000)
    }

    /// Sets the offset from the system clock, in seconds.
    pub fn set_offset_seconds(&self, seconds: i64) {
        self.offset_ms
            .store(seconds.saturating_mul(1000), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::new();
        let before = clock.now();
        clock.advance(3600);
        assert!(clock.now() >= before + 3600);
        assert_eq!(clock.offset_seconds(), 3600);
        clock.set_offset_seconds(-10);
        assert_eq!(clock.offset_seconds(), -10);
    }
}
