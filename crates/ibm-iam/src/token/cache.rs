//! The cached token and the three states of its life.
//!
//! * **fresh** until `refresh_at` (80% of its life, a little earlier with jitter): served
//!   from a lock-free read of one atomic flag, which a timer clears at `refresh_at`;
//! * **refresh due** until `expires_at` (10 s before the real expiry): served at once while
//!   one refresh runs in the background;
//! * **expired** after that: callers wait for a new token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::secret::AccessToken;

/// The longest life the cache gives a token, whatever IAM says (IAM's own tokens live an
/// hour; a refresh token at most a month). A longer `expires_in`, up to `i64::MAX`, is
/// clamped to this, so that no answer can overflow the clock's arithmetic.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A token with its refresh point and hard expiry (monotonic).
pub(crate) struct Cached {
    pub token: AccessToken,
    pub refresh_at: Instant,
    pub expires_at: Instant,
    /// Shared with the timer that clears it and with the threads' copies of the token
    /// (`local`), which must not keep the rest alive.
    fresh: Arc<AtomicBool>,
    timer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Cached {
    fn drop(&mut self) {
        if let Some(t) = self
            .timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
    }
}

/// When to refresh and when to stop serving a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifecycle {
    /// Refresh from this fraction of the token's life (IBM's SDKs: 0.8).
    pub refresh_fraction: f64,
    /// Refresh up to this fraction of the life earlier, at random, so that many processes
    /// started together do not refresh in lock-step.
    pub jitter_fraction: f64,
    /// Stop serving a token this long before it expires (IBM's SDKs: 10 s).
    pub expiry_window: Duration,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            refresh_fraction: 0.8,
            jitter_fraction: 0.05,
            expiry_window: Duration::from_secs(10),
        }
    }
}

impl Cached {
    /// A token obtained by a request sent at `sent_at`, valid for `lifetime` (at most
    /// [`MAX_TOKEN_LIFETIME`]; a time the clock cannot represent counts as expired).
    pub fn new(
        token: AccessToken,
        sent_at: Instant,
        lifetime: Duration,
        lc: &Lifecycle,
        jitter: f64,
    ) -> Self {
        let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
        let at = |d: Duration| sent_at.checked_add(d).unwrap_or(sent_at);
        let expires_at = at(lifetime.saturating_sub(lc.expiry_window));
        // The builder accepts only sane fractions; still, `clamp` panics on NaN.
        let finite = |x: f64, hi: f64| if x.is_finite() { x.clamp(0.0, hi) } else { 0.0 };
        let refresh_fraction = finite(lc.refresh_fraction, 1.0);
        let early = finite(lc.jitter_fraction * jitter, refresh_fraction);
        let fraction = refresh_fraction - early;
        let refresh_at = at(lifetime.mul_f64(fraction)).min(expires_at);
        Self {
            token,
            refresh_at,
            expires_at,
            fresh: Arc::new(AtomicBool::new(false)),
            timer: Mutex::new(None),
        }
    }

    /// The lock-free check: true only between arming and `refresh_at`.
    #[inline]
    pub fn is_fresh(&self) -> bool {
        self.fresh.load(Ordering::Acquire)
    }

    /// The freshness flag itself, for a thread's copy of the token to watch.
    pub fn freshness(&self) -> Arc<AtomicBool> {
        self.fresh.clone()
    }

    /// Marks the token fresh and starts the timer that ends freshness at `refresh_at`. Without
    /// a Tokio runtime no timer can run, so the token is never marked fresh and every read
    /// takes the clock-checking path instead.
    ///
    /// The flag is cleared however the timer task ends: at `refresh_at`, when it is aborted,
    /// when it panics, and when its runtime shuts down and drops it without running it to the
    /// end. So a `true` flag always belongs to a live timer, and a manager that outlives the
    /// runtime it was used on never serves a token from the fast path past its refresh
    /// point. Calling `arm` again on a token that is no longer fresh (its timer died with a
    /// runtime) starts a new timer on the current runtime; on a fresh token it does nothing.
    ///
    /// Only a multi-threaded runtime runs its timers by itself. A current-thread runtime
    /// runs them only while something drives it (`block_on`), and a read that the fast path
    /// answers drives nothing: a program that sleeps between two `block_on(get_token())`
    /// would get a token whose life ended while it slept. So on a current-thread runtime
    /// the token is never marked fresh, and reads there check the clock (some 50 ns more).
    pub fn arm(self: &Arc<Self>, clock: &Arc<dyn Clock>) {
        if self.is_fresh() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let mut timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_fresh() || clock.now() >= self.refresh_at {
            return;
        }
        let guard = EndFreshness(self.fresh.clone());
        let clock = clock.clone();
        let at = self.refresh_at;
        // Set before spawning: a runtime that is shutting down drops the task at once, and
        // the guard's drop then clears the flag again.
        self.fresh.store(true, Ordering::Release);
        let task = handle.spawn(async move {
            let _guard = guard;
            // Created inside the task: a runtime without timers panics here, in the task,
            // which the guard survives.
            clock.sleep_until(at).await;
        });
        *timer = Some(task.abort_handle());
    }
}

/// Ends a token's freshness when the timer task that owns it ends, however it ends.
struct EndFreshness(Arc<AtomicBool>);

impl Drop for EndFreshness {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// A token of an hour obtained at `sent_at`, with no jitter: fresh until 2880 s.
    fn hour_token(sent_at: Instant) -> Arc<Cached> {
        Arc::new(Cached::new(
            AccessToken::new("t"),
            sent_at,
            Duration::from_secs(3600),
            &Lifecycle::default(),
            0.0,
        ))
    }

    /// Waits (a bounded while, in real time) for the timer task on a worker thread to act.
    async fn settled(c: &Cached, fresh: bool) -> bool {
        for _ in 0..2000 {
            if c.is_fresh() == fresh {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn freshness_ends_at_the_refresh_point() {
        let clock = ManualClock::new();
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let lc = Lifecycle {
            jitter_fraction: 0.0,
            ..Lifecycle::default()
        };
        let c = Arc::new(Cached::new(
            AccessToken::new("t"),
            clock.now(),
            Duration::from_secs(3600),
            &lc,
            0.5,
        ));
        assert_eq!(c.refresh_at - clock.now(), Duration::from_secs(2880));
        assert_eq!(c.expires_at - clock.now(), Duration::from_secs(3590));
        c.arm(&dyn_clock);
        assert!(c.is_fresh());
        clock.advance(Duration::from_secs(2879));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(c.is_fresh());
        clock.advance(Duration::from_secs(1));
        assert!(
            settled(&c, false).await,
            "freshness ended at the refresh point"
        );
    }

    #[test]
    fn on_a_current_thread_runtime_the_token_is_never_marked_fresh() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let c = hour_token(clock.now());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async { c.arm(&clock) });
        assert!(!c.is_fresh(), "its timers run only while it is driven");
    }

    #[test]
    fn jitter_moves_the_refresh_point_earlier_only() {
        let now = Instant::now();
        let lc = Lifecycle::default();
        let c = Cached::new(
            AccessToken::new("t"),
            now,
            Duration::from_secs(1000),
            &lc,
            1.0,
        );
        assert_eq!(c.refresh_at - now, Duration::from_secs(750));
        let c = Cached::new(
            AccessToken::new("t"),
            now,
            Duration::from_secs(1000),
            &lc,
            0.0,
        );
        assert_eq!(c.refresh_at - now, Duration::from_secs(800));
        // Short-lived tokens: refresh never after the hard expiry.
        let c = Cached::new(
            AccessToken::new("t"),
            now,
            Duration::from_secs(12),
            &lc,
            0.0,
        );
        assert!(c.refresh_at <= c.expires_at);
    }

    #[test]
    fn freshness_ends_with_the_runtime_that_ran_its_timer() {
        let clock = ManualClock::new();
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let c = hour_token(clock.now());
        let rt = || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime")
        };
        let first = rt();
        first.block_on(async { c.arm(&dyn_clock) });
        assert!(c.is_fresh());
        drop(first);
        assert!(
            !c.is_fresh(),
            "the timer task died with its runtime, and took the flag with it"
        );
        // Used again from another runtime, the token gets a new timer there.
        let second = rt();
        second.block_on(async { c.arm(&dyn_clock) });
        assert!(c.is_fresh());
        clock.advance(Duration::from_secs(2880));
        assert!(second.block_on(settled(&c, false)));
        // Past the refresh point, arming does nothing.
        second.block_on(async { c.arm(&dyn_clock) });
        assert!(!c.is_fresh());
    }

    #[test]
    fn absurd_lifetimes_are_clamped_not_overflowed() {
        let now = Instant::now();
        for lifetime in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            let c = Cached::new(
                AccessToken::new("t"),
                now,
                lifetime,
                &Lifecycle::default(),
                0.5,
            );
            assert!(c.expires_at - now <= MAX_TOKEN_LIFETIME);
            assert!(c.refresh_at <= c.expires_at);
        }
        // Non-finite fractions (never accepted by the builder) still do not panic.
        let lc = Lifecycle {
            refresh_fraction: f64::NAN,
            jitter_fraction: f64::INFINITY,
            ..Lifecycle::default()
        };
        let c = Cached::new(
            AccessToken::new("t"),
            now,
            Duration::from_secs(60),
            &lc,
            1.0,
        );
        assert!(c.refresh_at <= c.expires_at);
    }

    #[test]
    fn without_a_runtime_the_token_is_never_marked_fresh() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let c = hour_token(clock.now());
        c.arm(&clock);
        assert!(!c.is_fresh());
    }
}
