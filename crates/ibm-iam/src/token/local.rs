//! Per-thread copies of the cached token.
//!
//! Handing every caller a clone of one shared token would make every `get_token`, on every
//! thread, write the same reference count: on many cores that one cache line goes back and
//! forth, and a cached read costs several times what it costs on one. So each thread keeps
//! its own copy of the token it last read from a manager (a few managers a thread) and hands
//! out clones of that: the fast path reads shared memory (the manager's generation, the
//! token's freshness flag) but writes only its own thread's.
//!
//! A copy is found by the manager's generation, a number drawn from one process-wide
//! counter whenever a manager's cached token is replaced or dropped: equal generations mean
//! the same cached token, in whatever manager. The copy is trusted only while that token's
//! freshness flag is up. It is the same token for [`AccessToken::same_as`] (and `==`), and
//! it is zeroed when it is replaced (the manager's next token, read on that thread), when
//! another manager needs its slot, or when the thread ends.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::cache::Cached;
use crate::secret::AccessToken;

/// Managers whose tokens one thread keeps a copy of.
const SLOTS: usize = 4;

static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A generation no manager has had yet.
pub(crate) fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

struct Held {
    /// Which manager (its address): only to choose the slot a new copy replaces.
    owner: usize,
    generation: u64,
    fresh: Arc<AtomicBool>,
    token: AccessToken,
}

struct Copies {
    slots: [Option<Held>; SLOTS],
    /// The slot to reuse when a manager without one needs one.
    next: usize,
}

thread_local! {
    static COPIES: RefCell<Copies> = const {
        RefCell::new(Copies {
            slots: [const { None }; SLOTS],
            next: 0,
        })
    };
}

/// This thread's copy of the token of `generation`, while that token is fresh.
#[inline]
pub(crate) fn get(generation: u64) -> Option<AccessToken> {
    COPIES
        .try_with(|copies| {
            let copies = copies.try_borrow().ok()?;
            copies
                .slots
                .iter()
                .flatten()
                .find(|c| c.generation == generation)
                .filter(|c| c.fresh.load(Ordering::Acquire))
                .map(|c| c.token.clone())
        })
        .ok()
        .flatten()
}

/// Makes this thread's copy of `cached`, the token of `owner` at `generation`, and hands
/// out a clone of it.
pub(crate) fn put(owner: usize, generation: u64, cached: &Cached) -> AccessToken {
    let local = cached.token.copy_for_thread();
    let copy = Held {
        owner,
        generation,
        fresh: cached.freshness(),
        token: local.clone(),
    };
    // Re-entered (from a destructor, say) or at the thread's end: nothing kept.
    let _ = COPIES.try_with(|copies| {
        let Ok(mut copies) = copies.try_borrow_mut() else {
            return;
        };
        let i = match copies
            .slots
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.owner == owner))
        {
            Some(i) => i,
            None => {
                let i = copies.next;
                copies.next = (i + 1) % SLOTS;
                i
            }
        };
        copies.slots[i] = Some(copy);
    });
    local
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::token::Lifecycle;

    fn cached(text: &str, fresh: bool) -> Cached {
        let c = Cached::new(
            AccessToken::new(text),
            Instant::now(),
            Duration::from_secs(3600),
            &Lifecycle::default(),
            0.0,
        );
        c.freshness().store(fresh, Ordering::Release);
        c
    }

    #[test]
    fn a_thread_hands_out_its_own_copy_while_the_token_is_fresh() {
        let c = cached("eyJ.a.b", true);
        let g = next_generation();
        assert!(get(g).is_none(), "nothing copied yet");
        let a = put(1, g, &c);
        let b = get(g).expect("the copy");
        assert!(a.same_as(&c.token) && b.same_as(&a));
        assert_eq!(b.expose_secret(), "eyJ.a.b");
        // Another generation of the same manager replaces the copy.
        let d = cached("eyJ.c.d", true);
        let h = next_generation();
        put(1, h, &d);
        assert!(get(g).is_none(), "the old generation's copy is gone");
        assert!(get(h).is_some_and(|t| t.same_as(&d.token)));
        // Once the token is no longer fresh, its copy is not handed out.
        d.freshness().store(false, Ordering::Release);
        assert!(get(h).is_none());
        // Another thread has copies of its own.
        let other = std::thread::scope(|s| s.spawn(|| get(h).is_none()).join());
        assert!(other.is_ok_and(|none| none));
    }

    #[test]
    fn managers_beyond_the_slots_evict_a_copy_and_stay_correct() {
        let tokens: Vec<(u64, Cached)> = (0..SLOTS * 2)
            .map(|i| (next_generation(), cached(&format!("eyJ.{i}.s"), true)))
            .collect();
        for round in 0..3 {
            for (m, (g, c)) in tokens.iter().enumerate() {
                let t = get(*g).unwrap_or_else(|| put(100 + m, *g, c));
                assert!(t.same_as(&c.token), "round {round}, manager {m}");
                assert_eq!(t.expose_secret(), c.token.expose_secret());
            }
        }
    }
}
