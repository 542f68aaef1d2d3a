//! Request counters per route, so tests can prove "exactly one request reached IAM".

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Counts requests per route (the route as declared, e.g. `/identity/token`).
#[derive(Debug, Default)]
pub struct Counters {
    by_route: RwLock<HashMap<String, Arc<AtomicU64>>>,
}

impl Counters {
    /// Counts one request to `route`.
    pub fn hit(&self, route: &str) {
        if let Some(c) = self
            .by_route
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(route)
        {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.by_route
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(route.to_owned())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The count for one route.
    pub fn get(&self, route: &str) -> u64 {
        self.by_route
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(route)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every route's count, sorted by route.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_route
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }

    /// Sets every count to zero.
    pub fn reset(&self) {
        self.by_route
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_concurrently() {
        let c = Arc::new(Counters::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.hit("/identity/token");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(c.get("/identity/token"), 4000);
        assert_eq!(c.snapshot().len(), 1);
        c.reset();
        assert_eq!(c.get("/identity/token"), 0);
    }
}
