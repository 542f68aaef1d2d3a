//! Per-thread copies of the cached token.
//!
//! Handing every caller a clone of one shared token would make every `get_token`, on every
//! thread, write the same reference count: on many cores that one cache line goes back and
//! forth and a cached read costs several times what it costs on one. So each thread keeps
//! its own copy of the token it last read from a manager (a few managers per thread) and
//! hands out clones of that: the fast path writes only memory of its own thread.
//!
//! A copy is the same token for [`AccessToken::same_as`] (and `==`); it is zeroed when it
//! is replaced (the manager's next token, read on that thread), when another manager needs
//! its slot, or when the thread ends.

use std::cell::RefCell;

use crate::secret::AccessToken;

/// Managers whose tokens one thread keeps a copy of.
const SLOTS: usize = 4;

struct Copies {
    /// (the manager, its token as copied for this thread).
    slots: [Option<(usize, AccessToken)>; SLOTS],
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

/// `token` (the cached token of the manager `manager`) as this thread's own copy.
pub(crate) fn copy(manager: usize, token: &AccessToken) -> AccessToken {
    COPIES
        .try_with(|copies| {
            // Re-entered (from a destructor, say): take the shared token.
            let Ok(mut copies) = copies.try_borrow_mut() else {
                return token.clone();
            };
            for (m, t) in copies.slots.iter().flatten() {
                if *m == manager && t.same_as(token) {
                    return t.clone();
                }
            }
            let local = token.copy_for_thread();
            let i = match copies
                .slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|(m, _)| *m == manager))
            {
                Some(i) => i,
                None => {
                    let i = copies.next;
                    copies.next = (i + 1) % SLOTS;
                    i
                }
            };
            copies.slots[i] = Some((manager, local.clone()));
            local
        })
        // The thread is ending and its copies are gone.
        .unwrap_or_else(|_| token.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_hands_out_its_own_copy_of_the_same_token() {
        let shared = AccessToken::new("eyJ.a.b");
        let a = copy(1, &shared);
        let b = copy(1, &shared);
        assert!(a.same_as(&shared) && b.same_as(&a));
        assert_eq!(a, shared);
        assert_eq!(a.expose_secret(), "eyJ.a.b");
        // A new token of the same manager replaces the copy.
        let next = AccessToken::new("eyJ.c.d");
        let c = copy(1, &next);
        assert!(c.same_as(&next) && !c.same_as(&shared));
        // Another thread has a copy of its own, still the same token.
        let other = std::thread::scope(|s| s.spawn(|| copy(1, &next)).join());
        assert!(other.is_ok_and(|t| t.same_as(&c)));
    }

    #[test]
    fn managers_beyond_the_slots_evict_the_oldest_and_stay_correct() {
        let tokens: Vec<AccessToken> = (0..SLOTS * 2)
            .map(|i| AccessToken::new(format!("eyJ.{i}.s")))
            .collect();
        for round in 0..3 {
            for (m, t) in tokens.iter().enumerate() {
                let c = copy(100 + m, t);
                assert!(c.same_as(t), "round {round}, manager {m}");
                assert_eq!(c.expose_secret(), t.expose_secret());
            }
        }
    }
}
