//! Login throttling: after `max` failed sign-ins within `window` from one address or for one
//! user name, further attempts are refused until the oldest failure leaves the window. Kept in
//! memory per web process (several web replicas each allow `max`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond this the oldest entries are forgotten first.
const MAX_KEYS: usize = 50_000;

pub struct Throttle {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when any of the keys is locked out.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let mut map = self.lock();
        let mut wait = 0;
        for key in keys {
            if let Some(q) = map.get_mut(key) {
                prune(q, self.window, now);
                if q.len() >= self.max
                    && let Some(oldest) = q.front()
                {
                    let left = self.window.saturating_sub(now.duration_since(*oldest));
                    wait = wait.max(left.as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn fail(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| {
                prune(q, self.window, now);
                !q.is_empty()
            });
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            prune(q, self.window, now);
            q.push_back(now);
            while q.len() > self.max {
                q.pop_front();
            }
        }
    }

    /// A successful sign-in clears the user name's failures (not the address's).
    pub fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn prune(q: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_max_failures_and_releases_after_the_window() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let keys = vec!["ip:1".to_string(), "user:bob".to_string()];
        let start = Instant::now();
        for _ in 0..3 {
            assert!(t.check(&keys, start).is_ok());
            t.fail(&keys, start);
        }
        let wait = t.check(&keys, start + Duration::from_secs(10)).unwrap_err();
        assert!((49..=50).contains(&wait), "{wait}");
        // Another user from the same address is also held back; the address is the key.
        assert!(t.check(&["ip:1".into()], start).is_err());
        assert!(t.check(&["ip:2".into()], start).is_ok());
        assert!(t.check(&keys, start + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn success_clears_the_user_name() {
        let t = Throttle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        t.fail(&["user:bob".into()], now);
        assert!(t.check(&["user:bob".into()], now).is_err());
        t.succeed("user:bob");
        assert!(t.check(&["user:bob".into()], now).is_ok());
    }
}
