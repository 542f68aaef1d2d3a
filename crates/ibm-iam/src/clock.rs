//! Injectable time. Expiry, refresh points, back-off and cache lifetimes read a [`Clock`],
//! so tests drive time with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time: monotonic for deadlines, wall-clock for comparing with IAM's absolute
/// times, and sleeping until a monotonic deadline.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Wall-clock now.
    fn system_now(&self) -> SystemTime;
    /// Completes at `deadline` (on this clock).
    fn sleep_until(&self, deadline: Instant) -> Sleep;
}

/// The real clock: `Instant::now`, `SystemTime::now`, tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

/// A clock that moves only when told to. Sleeps complete when [`ManualClock::advance`]
/// passes their deadline, or at once when auto-advance is on (then a sleep moves the clock
/// to its deadline itself: useful for retry loops in tests).
///
/// ```
/// use std::time::Duration;
/// use ibm_iam::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now() - t0, Duration::from_secs(3600));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

struct ManualState {
    base: Instant,
    system_base: SystemTime,
    offset: Duration,
    auto_advance: bool,
    sleepers: Vec<(Instant, tokio::sync::oneshot::Sender<()>)>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("ManualClock")
            .field("offset", &s.offset)
            .field("sleepers", &s.sleepers.len())
            .finish()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock that starts at the real current time and stands still.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualState {
                base: Instant::now(),
                system_base: SystemTime::now(),
                offset: Duration::ZERO,
                auto_advance: false,
                sleepers: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time forward and wakes the sleeps that fall due.
    pub fn advance(&self, by: Duration) {
        let due = {
            let mut s = self.lock();
            s.offset += by;
            let now = s.base + s.offset;
            let (due, pending): (Vec<_>, Vec<_>) =
                s.sleepers.drain(..).partition(|(d, _)| *d <= now);
            s.sleepers = pending;
            due
        };
        for (_, tx) in due {
            let _ = tx.send(());
        }
    }

    /// When on, a sleep completes at once and moves the clock to its deadline.
    pub fn set_auto_advance(&self, on: bool) {
        self.lock().auto_advance = on;
    }

    /// How many sleeps are waiting (a sleep whose future was dropped no longer counts).
    pub fn pending_sleeps(&self) -> usize {
        let mut s = self.lock();
        s.sleepers.retain(|(_, tx)| !tx.is_closed());
        s.sleepers.len()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let s = self.lock();
        s.base + s.offset
    }

    fn system_now(&self) -> SystemTime {
        let s = self.lock();
        s.system_base + s.offset
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let auto = {
            let mut s = self.lock();
            let now = s.base + s.offset;
            if deadline <= now {
                return Box::pin(std::future::ready(()));
            }
            if s.auto_advance {
                true
            } else {
                s.sleepers.push((deadline, tx));
                false
            }
        };
        if auto {
            let by = deadline.saturating_duration_since(self.now());
            self.advance(by);
            return Box::pin(std::future::ready(()));
        }
        Box::pin(async move {
            // A dropped clock never fires: the sleep then stays pending, like time standing
            // still.
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_wake_when_time_passes_their_deadline() {
        let clock = ManualClock::new();
        let deadline = clock.now() + Duration::from_secs(10);
        let sleep = clock.sleep_until(deadline);
        let handle = tokio::spawn(sleep);
        tokio::task::yield_now().await;
        assert_eq!(clock.pending_sleeps(), 1);
        clock.advance(Duration::from_secs(9));
        assert!(!handle.is_finished());
        clock.advance(Duration::from_secs(1));
        handle.await.expect("woken");
        assert_eq!(clock.pending_sleeps(), 0);
        // A sleep dropped before its deadline stops counting.
        let dropped = clock.sleep_until(clock.now() + Duration::from_secs(5));
        assert_eq!(clock.pending_sleeps(), 1);
        drop(dropped);
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[tokio::test]
    async fn auto_advance_moves_the_clock() {
        let clock = ManualClock::new();
        clock.set_auto_advance(true);
        let t0 = clock.now();
        clock.sleep_until(t0 + Duration::from_secs(5)).await;
        assert_eq!(clock.now() - t0, Duration::from_secs(5));
        let s0 = clock.system_now();
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            clock.system_now().duration_since(s0).ok(),
            Some(Duration::from_secs(1))
        );
    }
}
