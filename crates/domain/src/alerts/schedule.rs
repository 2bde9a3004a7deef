//! Recurring schedules, as Alertmanager's time intervals: weekdays, times of day, days of the
//! month (negative days count from the month's end), months and years, in an IANA time zone.
//! Maintenance windows ask [`Schedule::contains`]; the `no_messages` rule asks
//! [`CheckWindows::complete`] for the check windows that collection has fully passed.
//!
//! Everything is wall-clock time in the schedule's zone, so "08:00–18:00 Europe/Berlin" follows
//! the zone across daylight saving changes. A wall time that does not exist (the hour skipped in
//! spring) begins when the clocks jump past it; a wall time that occurs twice (the hour repeated
//! in autumn) is inside the schedule both times. Check windows never cross local midnight, so a
//! day-long schedule checked per hour yields 23 windows on the spring day and 25 in autumn.
//!
//! Written as YAML/JSON:
//! ```yaml
//! weekdays: [mon:fri]          # or monday:friday, saturday, …
//! times: [{start: "08:00", end: "18:00"}]   # end exclusive, 24:00 allowed
//! days_of_month: ["1:5", "-1"] # -1 = the last day of the month
//! months: [jan:mar, "12"]
//! years: ["2026:2027"]
//! time_zone: Europe/Berlin     # or `location`, as Alertmanager calls it; default UTC
//! ```
//! A schedule is one such interval or a list of them (it contains an instant when any does);
//! a field left out puts no limit on the instant.

use std::fmt;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A schedule field that cannot be read, naming the field (`weekdays[1]`, `times[0].end`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field: field.into(),
        message: message.into(),
    }
}

/// `start` inclusive, `end` exclusive, as written (`"08:00"`, `"24:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    pub start: String,
    pub end: String,
}

/// One interval as written in YAML/JSON; [`TimeInterval`] is its checked form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRangeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<String>,
    #[serde(default, alias = "location", skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A checked interval. Ranges are inclusive except times (end exclusive); an empty list puts no
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TimeIntervalSpec", into = "TimeIntervalSpec")]
pub struct TimeInterval {
    /// Minutes after local midnight, `[start, end)`.
    times: Vec<(u32, u32)>,
    /// 0 = Monday.
    weekdays: Vec<(u32, u32)>,
    /// 1..=31 or -31..=-1.
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(u32, u32)>,
    years: Vec<(i32, i32)>,
    tz: Tz,
    spec: TimeIntervalSpec,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A full name or its first three letters, case-insensitive; index into `names`.
fn named(raw: &str, names: &[&str]) -> Option<usize> {
    let s = raw.trim().to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == s || (s.len() == 3 && n.starts_with(&s)))
}

/// `a` or `a:b` with both ends read by `one`; `b` must not come before `a` when `ordered`.
fn range<T: Copy + PartialOrd>(
    raw: &str,
    field: &str,
    what: &str,
    ordered: bool,
    one: impl Fn(&str) -> Option<T>,
) -> Result<(T, T), ScheduleError> {
    let bad = || err(field, format!("{raw:?} is not {what}"));
    let (a, b) = match raw.split_once(':') {
        Some((a, b)) => (one(a).ok_or_else(bad)?, one(b).ok_or_else(bad)?),
        None => {
            let v = one(raw).ok_or_else(bad)?;
            (v, v)
        }
    };
    if ordered && b < a {
        return Err(err(
            field,
            format!("{raw:?}: the range ends before it starts (write two entries to wrap around)"),
        ));
    }
    Ok((a, b))
}

/// `HH:MM`, 00:00 to 24:00, in minutes.
fn minute_of_day(raw: &str) -> Option<u32> {
    let (h, m) = raw.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

impl TryFrom<TimeIntervalSpec> for TimeInterval {
    type Error = ScheduleError;

    fn try_from(spec: TimeIntervalSpec) -> Result<Self, ScheduleError> {
        let mut times = Vec::new();
        for (i, t) in spec.times.iter().enumerate() {
            let read = |raw: &str, end: &str| {
                minute_of_day(raw).ok_or_else(|| {
                    err(
                        format!("times[{i}].{end}"),
                        format!("{raw:?} is not a time of day like 08:00 (00:00 to 24:00)"),
                    )
                })
            };
            let (start, end) = (read(&t.start, "start")?, read(&t.end, "end")?);
            if start >= end {
                return Err(err(
                    format!("times[{i}]"),
                    format!(
                        "start {} must come before end {} (write two entries to cross midnight)",
                        t.start, t.end
                    ),
                ));
            }
            times.push((start, end));
        }
        let weekdays = spec
            .weekdays
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                range(
                    raw,
                    &format!("weekdays[{i}]"),
                    "a weekday or a range like mon:fri (monday … sunday, or mon … sun)",
                    true,
                    |s| named(s, &WEEKDAYS).map(|n| n as u32),
                )
            })
            .collect::<Result<_, _>>()?;
        let days_of_month = spec
            .days_of_month
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let field = format!("days_of_month[{i}]");
                let r = range(
                    raw,
                    &field,
                    "a day of the month or a range like 1:5 (1 to 31, or -31 to -1 counting from the month's end)",
                    false,
                    |s| {
                        s.trim()
                            .parse::<i32>()
                            .ok()
                            .filter(|d| (1..=31).contains(&d.abs()))
                    },
                )?;
                // Same-sign ranges must be ordered; mixed ones (1:-1) are resolved per month.
                if r.0.signum() == r.1.signum() && r.1 < r.0 {
                    return Err(err(field, format!("{raw:?}: the range ends before it starts")));
                }
                Ok(r)
            })
            .collect::<Result<_, _>>()?;
        let months = spec
            .months
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                range(
                    raw,
                    &format!("months[{i}]"),
                    "a month or a range like jan:mar (1 to 12, january … december, or jan … dec)",
                    true,
                    |s| {
                        named(s, &MONTHS).map(|n| n as u32 + 1).or_else(|| {
                            s.trim()
                                .parse::<u32>()
                                .ok()
                                .filter(|m| (1..=12).contains(m))
                        })
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        let years = spec
            .years
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                range(
                    raw,
                    &format!("years[{i}]"),
                    "a year or a range like 2026:2027",
                    true,
                    |s| {
                        s.trim()
                            .parse::<i32>()
                            .ok()
                            .filter(|y| (1970..=9999).contains(y))
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        let tz = match spec.time_zone.as_deref() {
            None => Tz::UTC,
            Some(name) => name.trim().parse::<Tz>().map_err(|_| {
                err(
                    "time_zone",
                    format!("{name:?} is not an IANA time zone like Europe/Berlin or UTC"),
                )
            })?,
        };
        Ok(Self {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            tz,
            spec,
        })
    }
}

impl From<TimeInterval> for TimeIntervalSpec {
    fn from(t: TimeInterval) -> Self {
        t.spec
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let next = first + chrono::Months::new(1);
    (next - first).num_days() as u32
}

impl TimeInterval {
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The date part of the check: year, month, day of month, weekday.
    fn date_matches(&self, d: NaiveDate) -> bool {
        let any = |ranges: &[(u32, u32)], v: u32| {
            ranges.is_empty() || ranges.iter().any(|(a, b)| (*a..=*b).contains(&v))
        };
        if !self.years.is_empty()
            && !self
                .years
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&d.year()))
        {
            return false;
        }
        if !any(&self.months, d.month()) || !any(&self.weekdays, d.weekday().num_days_from_monday())
        {
            return false;
        }
        if self.days_of_month.is_empty() {
            return true;
        }
        let len = days_in_month(d.year(), d.month()) as i32;
        let resolve = |v: i32| if v < 0 { (len + 1 + v).max(1) } else { v };
        self.days_of_month.iter().any(|(a, b)| {
            let (a, b) = (resolve(*a), resolve(*b).min(len));
            (a..=b).contains(&(d.day() as i32))
        })
    }

    fn local_matches(&self, local: NaiveDateTime) -> bool {
        let minute = local.hour() * 60 + local.minute();
        (self.times.is_empty() || self.times.iter().any(|(a, b)| (*a..*b).contains(&minute)))
            && self.date_matches(local.date())
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.local_matches(at.with_timezone(&self.tz).naive_local())
    }
}

/// One interval or several; contains an instant when any of them does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Schedule {
    intervals: Vec<TimeInterval>,
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // One interval or a list: read the shape first, so the field errors stay precise (an
        // untagged enum would hide them).
        let value = serde_json::Value::deserialize(d)?;
        let specs = match value {
            serde_json::Value::Array(_) => serde_json::from_value::<Vec<TimeIntervalSpec>>(value),
            _ => serde_json::from_value::<TimeIntervalSpec>(value).map(|s| vec![s]),
        }
        .map_err(serde::de::Error::custom)?;
        Schedule::new(specs).map_err(serde::de::Error::custom)
    }
}

impl Schedule {
    /// Check every interval; errors name the interval when there are several (`[1].weekdays[0]`).
    pub fn new(specs: Vec<TimeIntervalSpec>) -> Result<Self, ScheduleError> {
        if specs.is_empty() {
            return Err(err("schedule", "needs at least one interval"));
        }
        let many = specs.len() > 1;
        let intervals = specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                TimeInterval::try_from(s).map_err(|e| {
                    if many {
                        err(format!("[{i}].{}", e.field), e.message)
                    } else {
                        e
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { intervals })
    }

    pub fn intervals(&self) -> &[TimeInterval] {
        &self.intervals
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.intervals.iter().any(|i| i.contains(at))
    }
}

/// A check window of a `no_messages` rule, `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn len(&self) -> Duration {
        (self.end - self.start).to_std().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// "At least `n` per `per`" for this window: `n` scaled to its length, rounded up (the last
    /// window of a period may be shorter than `per`).
    pub fn expected(&self, n: u64, per: Duration) -> u64 {
        let (len, per) = (self.len().as_secs(), per.as_secs().max(1));
        (n * len).div_ceil(per)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} – {}", self.start.to_rfc3339(), self.end.to_rfc3339())
    }
}

/// The longest check window: one day (a window never crosses local midnight).
pub const MAX_PER: Duration = Duration::from_secs(24 * 3600);

/// The `no_messages` check windows of a schedule: every stretch of a local day inside the
/// schedule, cut into windows of `per` from the stretch's start (the last one may be shorter);
/// without `per`, each stretch is one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckWindows {
    schedule: Schedule,
    per: Option<Duration>,
}

impl CheckWindows {
    /// `per` must be whole minutes, at least one and at most a day; all intervals must share one
    /// time zone (the days the windows are cut at).
    pub fn new(schedule: Schedule, per: Option<Duration>) -> Result<Self, ScheduleError> {
        if let Some(p) = per
            && (p.as_secs() < 60 || p > MAX_PER || p.as_secs() % 60 != 0)
        {
            return Err(err("per", "must be whole minutes, from 1m to 24h"));
        }
        let tz = schedule.intervals[0].tz;
        if schedule.intervals.iter().any(|i| i.tz != tz) {
            return Err(err(
                "schedule",
                "every interval of a no_messages schedule must use the same time_zone",
            ));
        }
        Ok(Self { schedule, per })
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn tz(&self) -> Tz {
        self.schedule.intervals[0].tz
    }

    /// The windows that end after `after` and no later than `collected_up_to`: complete, and
    /// each returned once when the next call's `after` is this call's `collected_up_to`.
    pub fn complete(&self, after: DateTime<Utc>, collected_up_to: DateTime<Utc>) -> Vec<Window> {
        if collected_up_to <= after {
            return Vec::new();
        }
        let tz = self.tz();
        let first = after.with_timezone(&tz).date_naive();
        let last = collected_up_to.with_timezone(&tz).date_naive();
        let mut out = Vec::new();
        for day in first.iter_days().take_while(|d| *d <= last) {
            for stretch in self.stretches(day) {
                for w in self.cut(stretch) {
                    if w.end > after && w.end <= collected_up_to {
                        out.push(w);
                    }
                }
            }
        }
        out
    }

    fn cut(&self, stretch: Window) -> Vec<Window> {
        // "Per day" means per local day, whatever its length (23 or 25 hours at a change).
        let Some(per) = self
            .per
            .filter(|p| *p < MAX_PER)
            .and_then(|p| chrono::Duration::from_std(p).ok())
        else {
            return vec![stretch];
        };
        let mut out = Vec::new();
        let mut start = stretch.start;
        while start < stretch.end {
            let end = (start + per).min(stretch.end);
            out.push(Window { start, end });
            start = end;
        }
        out
    }

    /// The maximal stretches of local `day` inside the schedule, in UTC. Between two
    /// consecutive breakpoints (the day's edges, every interval's start and end on that day, a
    /// change of UTC offset) the local time neither crosses a boundary nor jumps, so the
    /// schedule's answer is the same throughout and one look at the breakpoint decides.
    pub fn stretches(&self, day: NaiveDate) -> Vec<Window> {
        let tz = self.tz();
        let day_start = first_instant(tz, day.and_time(NaiveTime::MIN));
        let Some(next) = day.succ_opt() else {
            return Vec::new();
        };
        let day_end = first_instant(tz, next.and_time(NaiveTime::MIN));
        let mut points = vec![day_start];
        for interval in &self.schedule.intervals {
            for (a, b) in &interval.times {
                for m in [*a, *b] {
                    if m < 24 * 60 {
                        let wall = day.and_time(
                            NaiveTime::from_hms_opt(m / 60, m % 60, 0).expect("minute of day"),
                        );
                        points.extend(all_instants(tz, wall));
                    }
                }
            }
        }
        points.extend(offset_change(tz, day_start, day_end));
        points.retain(|p| *p >= day_start && *p < day_end);
        points.sort();
        points.dedup();
        let mut out: Vec<Window> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            if !self.schedule.contains(*p) {
                continue;
            }
            let end = points.get(i + 1).copied().unwrap_or(day_end);
            match out.last_mut() {
                Some(w) if w.end == *p => w.end = end,
                _ => out.push(Window { start: *p, end }),
            }
        }
        out
    }
}

/// Every instant whose local time is `wall`: one, two (the repeated hour), or, for a wall time
/// the clocks skip, the instant they jump past it.
fn all_instants(tz: Tz, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => vec![first_instant(tz, wall)],
    }
}

/// The first instant whose local time is `wall` or, inside a gap, the end of the gap.
fn first_instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    use chrono::LocalResult;
    // Gaps are whole minutes and at most a few hours long in every zone.
    for m in 0..=(26 * 60) {
        match tz.from_local_datetime(&(wall + chrono::Duration::minutes(m))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            LocalResult::None => {}
        }
    }
    // Unreachable for real zones; UTC is a safe reading.
    wall.and_utc()
}

/// The instant in `[from, to)` at which the zone's UTC offset changes, if it does (at most once
/// a day in every zone); found by bisection to the second.
fn offset_change(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
    let before = offset(from);
    let last = to - chrono::Duration::seconds(1);
    if last <= from || offset(last) == before {
        return None;
    }
    let (mut lo, mut hi) = (from, last);
    while hi - lo > chrono::Duration::seconds(1) {
        let mid = lo + chrono::Duration::seconds((hi - lo).num_seconds() / 2);
        if offset(mid) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
