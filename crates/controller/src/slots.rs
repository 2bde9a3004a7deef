//! Slot arithmetic: which scheduled slot of a job is open at a given time, as the key the
//! `job_firings` table arbitrates on. Pure, so controllers on different hosts agree on the key
//! from the clock alone.
//!
//! - Every `n` seconds: slot `floor(epoch_secs / n)`, key `every:{n}:{index}`. Slots are aligned
//!   to the Unix epoch, not to when a controller started, so every controller sees the same
//!   boundaries.
//! - Daily at `HH:MM` (UTC): key `daily:{YYYY-MM-DD}`, open from the plan time until midnight
//!   UTC. A controller that was down at the plan time still fires later that day; a day it
//!   missed completely is not caught up.
//! - Daily at `HH:MM` in a time zone (the archive job, `ARCHIVE_TIME_ZONE`): the same with the
//!   local date and time of day. On the day clocks spring forward, a plan time in the gap
//!   (02:30 in Europe/Berlin) fires at the first local time after it (03:00); on the day they
//!   fall back, the repeated hour fires once (the key is the local date).

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use domain::tenant::{JobSettings, PlanTime};

/// When a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every so many seconds (never 0).
    Every(u32),
    /// Once a day, at this time UTC.
    Daily(PlanTime),
    /// Once a day, at this local time in this zone.
    DailyIn(PlanTime, Tz),
}

impl Schedule {
    /// The schedule of a job's settings. An interval wins over a plan time should both be set
    /// (validation refuses that, but rows written by hand may have it); `None` when neither is
    /// usable, e.g. an interval of 0.
    pub fn of(job: &JobSettings) -> Option<Self> {
        match (job.interval_secs, job.plan_time) {
            (Some(secs), _) if secs > 0 => Some(Self::Every(secs)),
            (_, Some(plan)) => Some(Self::Daily(plan)),
            _ => None,
        }
    }

    /// [`Schedule::of`] with a plan time in `tz` (UTC gives [`Schedule::Daily`]).
    pub fn of_in(job: &JobSettings, tz: Tz) -> Option<Self> {
        match Self::of(job)? {
            Self::Daily(plan) if tz != Tz::UTC => Some(Self::DailyIn(plan, tz)),
            other => Some(other),
        }
    }

    /// The slot open at `now`, if any: interval jobs always have one, daily jobs only from the
    /// plan time to the end of the day.
    pub fn slot_at(self, now: DateTime<Utc>) -> Option<String> {
        match self {
            Self::Every(secs) => {
                // div_euclid: a time before 1970 (a broken clock) still gets a stable slot.
                let index = now.timestamp().div_euclid(i64::from(secs));
                Some(format!("every:{secs}:{index}"))
            }
            Self::Daily(plan) => (now.num_seconds_from_midnight() >= plan.seconds_of_day())
                .then(|| format!("daily:{}", now.format("%Y-%m-%d"))),
            Self::DailyIn(plan, tz) => {
                let local = now.with_timezone(&tz);
                (local.num_seconds_from_midnight() >= plan.seconds_of_day())
                    .then(|| format!("daily:{}", local.format("%Y-%m-%d")))
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(secs) => write!(f, "every {secs}s"),
            Self::Daily(plan) => write!(f, "daily at {plan} UTC"),
            Self::DailyIn(plan, tz) => write!(f, "daily at {plan} {tz}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::tenant::JobKind;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn epoch(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn daily(h: u8, m: u8) -> Schedule {
        Schedule::Daily(PlanTime::new(h, m).unwrap())
    }

    #[test]
    fn interval_slots_change_exactly_at_multiples_of_the_interval() {
        let every = Schedule::Every(60);
        assert_eq!(every.slot_at(epoch(0)).unwrap(), "every:60:0");
        assert_eq!(every.slot_at(epoch(59)).unwrap(), "every:60:0");
        assert_eq!(every.slot_at(epoch(60)).unwrap(), "every:60:1");
        assert_eq!(every.slot_at(epoch(119)).unwrap(), "every:60:1");
        assert_eq!(every.slot_at(epoch(120)).unwrap(), "every:60:2");
        // Sub-second times belong to the second they are in.
        let just_before = epoch(119) + chrono::Duration::milliseconds(999);
        assert_eq!(every.slot_at(just_before).unwrap(), "every:60:1");
        assert_eq!(
            Schedule::Every(1_700_000_000).slot_at(epoch(1_700_000_000)),
            Some("every:1700000000:1".into())
        );
    }

    #[test]
    fn interval_slots_carry_the_interval_so_a_changed_interval_starts_afresh() {
        let t = epoch(600);
        assert_ne!(
            Schedule::Every(60).slot_at(t),
            Schedule::Every(30).slot_at(t)
        );
        assert_eq!(Schedule::Every(30).slot_at(t).unwrap(), "every:30:20");
    }

    #[test]
    fn times_before_the_epoch_still_get_distinct_slots() {
        let every = Schedule::Every(10);
        assert_eq!(every.slot_at(epoch(-1)).unwrap(), "every:10:-1");
        assert_eq!(every.slot_at(epoch(-10)).unwrap(), "every:10:-1");
        assert_eq!(every.slot_at(epoch(-11)).unwrap(), "every:10:-2");
    }

    #[test]
    fn a_daily_job_is_not_due_before_its_plan_time() {
        let d = daily(2, 30);
        assert_eq!(d.slot_at(at(2026, 3, 14, 0, 0, 0)), None);
        assert_eq!(d.slot_at(at(2026, 3, 14, 2, 29, 59)), None);
    }

    #[test]
    fn a_daily_job_is_due_from_its_plan_time_to_midnight_with_one_key() {
        let d = daily(2, 30);
        let key = Some("daily:2026-03-14".to_string());
        assert_eq!(d.slot_at(at(2026, 3, 14, 2, 30, 0)), key);
        assert_eq!(d.slot_at(at(2026, 3, 14, 13, 0, 0)), key);
        assert_eq!(d.slot_at(at(2026, 3, 14, 23, 59, 59)), key);
    }

    #[test]
    fn the_day_change_closes_the_slot_until_the_next_plan_time() {
        let d = daily(2, 30);
        assert_eq!(d.slot_at(at(2026, 3, 15, 0, 0, 0)), None);
        assert_eq!(d.slot_at(at(2026, 3, 15, 2, 29, 59)), None);
        assert_eq!(
            d.slot_at(at(2026, 3, 15, 2, 30, 0)).unwrap(),
            "daily:2026-03-15"
        );
        // Month and year ends.
        assert_eq!(
            d.slot_at(at(2026, 12, 31, 23, 0, 0)).unwrap(),
            "daily:2026-12-31"
        );
        assert_eq!(
            d.slot_at(at(2027, 1, 1, 3, 0, 0)).unwrap(),
            "daily:2027-01-01"
        );
    }

    #[test]
    fn midnight_plan_times_are_due_all_day_and_late_ones_only_in_the_last_minute() {
        let midnight = daily(0, 0);
        assert_eq!(
            midnight.slot_at(at(2026, 3, 14, 0, 0, 0)).unwrap(),
            "daily:2026-03-14"
        );
        let late = daily(23, 59);
        assert_eq!(late.slot_at(at(2026, 3, 14, 23, 58, 59)), None);
        assert_eq!(
            late.slot_at(at(2026, 3, 14, 23, 59, 0)).unwrap(),
            "daily:2026-03-14"
        );
    }

    /// Over a simulated day and a half, ticking every 5 s, a daily job yields exactly one key
    /// per day, first seen at the plan time: what makes it fire once a day.
    #[test]
    fn a_daily_job_yields_one_new_key_per_day_at_its_plan_time() {
        let d = daily(2, 0);
        let start = at(2026, 3, 14, 0, 0, 0);
        let mut first_seen: Vec<(String, DateTime<Utc>)> = Vec::new();
        let mut t = start;
        while t < start + chrono::Duration::hours(36) {
            if let Some(key) = d.slot_at(t)
                && first_seen.iter().all(|(k, _)| *k != key)
            {
                first_seen.push((key, t));
            }
            t += chrono::Duration::seconds(5);
        }
        assert_eq!(
            first_seen,
            vec![
                ("daily:2026-03-14".to_string(), at(2026, 3, 14, 2, 0, 0)),
                ("daily:2026-03-15".to_string(), at(2026, 3, 15, 2, 0, 0)),
            ]
        );
    }

    #[test]
    fn schedules_come_from_the_job_settings() {
        let mut job = JobSettings::default_for(JobKind::MessagesHot);
        assert_eq!(Schedule::of(&job), Some(Schedule::Every(60)));
        job.interval_secs = Some(0);
        assert_eq!(Schedule::of(&job), None);
        job.interval_secs = None;
        assert_eq!(Schedule::of(&job), None);
        job.plan_time = PlanTime::new(4, 5);
        assert_eq!(Schedule::of(&job), Some(daily(4, 5)));
        job.interval_secs = Some(120);
        assert_eq!(Schedule::of(&job), Some(Schedule::Every(120)));
        let deep = JobSettings::default_for(JobKind::DeepSync);
        assert_eq!(Schedule::of(&deep), Some(daily(3, 0)));
        assert_eq!(daily(3, 0).to_string(), "daily at 03:00 UTC");
        assert_eq!(Schedule::Every(30).to_string(), "every 30s");
    }

    fn first_keys(d: Schedule, start: DateTime<Utc>, hours: i64) -> Vec<(String, DateTime<Utc>)> {
        let mut first_seen: Vec<(String, DateTime<Utc>)> = Vec::new();
        let mut t = start;
        while t < start + chrono::Duration::hours(hours) {
            if let Some(key) = d.slot_at(t)
                && first_seen.iter().all(|(k, _)| *k != key)
            {
                first_seen.push((key, t));
            }
            t += chrono::Duration::seconds(60);
        }
        first_seen
    }

    #[test]
    fn a_zoned_daily_job_fires_at_local_time_once_per_local_day_across_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let job = JobSettings::default_for(JobKind::Archive);
        assert_eq!(Schedule::of_in(&job, Tz::UTC), Some(daily(2, 0)));
        let plan = PlanTime::new(2, 30).unwrap();
        let d = Schedule::DailyIn(plan, berlin);
        assert_eq!(d.to_string(), "daily at 02:30 Europe/Berlin");
        // Winter (UTC+1): 02:30 local is 01:30 UTC.
        assert_eq!(d.slot_at(at(2026, 1, 10, 1, 29, 0)), None);
        assert_eq!(
            d.slot_at(at(2026, 1, 10, 1, 30, 0)).unwrap(),
            "daily:2026-01-10"
        );
        // The local date decides the key: 23:30 UTC is already the next day in Berlin.
        assert_eq!(
            d.slot_at(at(2026, 1, 10, 23, 30, 0)),
            None,
            "00:30 local on the 11th is before the plan time"
        );
        // Spring forward, 2026-03-29: 02:00 -> 03:00 local, 02:30 does not exist. The slot
        // opens at 03:00 local (01:00 UTC), once (from 00:30 local on).
        assert_eq!(
            first_keys(d, at(2026, 3, 28, 23, 30, 0), 20),
            vec![("daily:2026-03-29".to_string(), at(2026, 3, 29, 1, 0, 0))]
        );
        // Fall back, 2026-10-25: 02:30 local happens twice (00:30 and 01:30 UTC); one key.
        assert_eq!(
            first_keys(d, at(2026, 10, 24, 22, 30, 0), 20),
            vec![("daily:2026-10-25".to_string(), at(2026, 10, 25, 0, 30, 0))]
        );
        // Summer (UTC+2): 02:30 local is 00:30 UTC.
        assert_eq!(
            first_keys(d, at(2026, 6, 30, 22, 30, 0), 20),
            vec![("daily:2026-07-01".to_string(), at(2026, 7, 1, 0, 30, 0))]
        );
    }
}
