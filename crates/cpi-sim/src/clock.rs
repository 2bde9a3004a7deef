//! The simulator's notion of "now". Everything time-dependent (which messages exist, their status
//! and LogEnd, token expiry, certificate validity) reads this clock, so tests can swap the system
//! clock for a manual one and move time by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

/// Where the simulator gets the current time from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Real wall-clock time.
    #[default]
    System,
    /// Time that only moves when a test moves it.
    Manual(ManualClock),
}

impl Clock {
    /// A manual clock starting at `start`, plus the handle to move it.
    pub fn manual(start: DateTime<Utc>) -> (Clock, ManualClock) {
        let manual = ManualClock::new(start);
        (Clock::Manual(manual.clone()), manual)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => Utc::now().timestamp_millis(),
            Clock::Manual(m) => m.now_ms(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        ms_to_datetime(self.now_ms())
    }
}

/// A shared, cheaply clonable clock that tests advance explicitly.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.timestamp_millis())))
    }

    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn now(&self) -> DateTime<Utc> {
        ms_to_datetime(self.now_ms())
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.0.store(to.timestamp_millis(), Ordering::SeqCst);
    }
}

pub(crate) fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let (clock, handle) = Clock::manual(start);
        assert_eq!(clock.now(), start);
        handle.advance(Duration::from_secs(90));
        assert_eq!(clock.now_ms(), start.timestamp_millis() + 90_000);
        handle.set(start);
        assert_eq!(clock.now(), start);
    }
}
