//! Escalation: is a group's last hour far above what its own history makes normal? In the spirit
//! of Sentry's escalation forecast (`/work/shared/alerting.md`), applied per hour:
//!
//! - a group at least 7 days old: from the past week's 168 hourly counts (missing hours are 0),
//!   `avg`, population `std` and `max`, `cv = std / avg`:
//!   `spike  = avg + min(max((avg + 5·std) / avg, 5), 8) · avg`,
//!   `bursty = max · min(max(2, 5·e^(−0.65·cv)), 5)`,
//!   `limit  = max(spike, bursty)`;
//! - a younger group: `limit = 10 · max hourly count so far` (complete hours before the last 60
//!   minutes, so a burst does not raise its own limit);
//! - either way at least [`MIN_HOURLY_LIMIT`]: a group that was silent all week is not
//!   "escalating" at its first few occurrences (that is what `regressed` or `new` say).
//!
//! The group escalates when the last 60 minutes' count is strictly above the limit.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// Hours in the week the forecast looks at.
pub const WEEK_HOURS: usize = 168;
/// The age from which the week's history is used.
pub const FORECAST_AGE_DAYS: i64 = 7;
/// Young groups: this many times their max hourly count so far.
pub const YOUNG_MULTIPLIER: f64 = 10.0;
/// No limit below this: a handful of occurrences never makes a group escalate.
pub const MIN_HOURLY_LIMIT: f64 = 10.0;

/// The escalation limit for the last 60 minutes from the group's own history.
/// `past_week_hourly`: the counts of the past week's hours (up to 168, oldest first, the current
/// hour not included; fewer values are padded with zeros). `max_hourly_so_far`: the group's
/// highest count of a complete hour. `age`: now − first seen.
pub fn hourly_limit(past_week_hourly: &[u64], max_hourly_so_far: u64, age: Duration) -> f64 {
    let limit = if age >= Duration::days(FORECAST_AGE_DAYS) {
        week_limit(past_week_hourly)
    } else {
        YOUNG_MULTIPLIER * max_hourly_so_far as f64
    };
    limit.max(MIN_HOURLY_LIMIT)
}

/// True when the last 60 minutes' count is above the limit.
pub fn is_escalating(last_hour: u64, limit: f64) -> bool {
    last_hour as f64 > limit
}

/// The limit from a group's hourly buckets as the store keeps them (`(hour start, count)`, any
/// order, missing hours are 0): the past week is the 168 complete hours before the hour `now` is
/// in, the max so far is over every complete hour, the age is `now − first_seen`.
pub fn limit_from_buckets(
    now: DateTime<Utc>,
    first_seen: DateTime<Utc>,
    buckets: &[(DateTime<Utc>, u64)],
) -> f64 {
    let current = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let week_start = current - Duration::hours(WEEK_HOURS as i64);
    let mut week = vec![0u64; WEEK_HOURS];
    let mut max_so_far = 0;
    for (start, count) in buckets {
        if *start >= current {
            continue;
        }
        max_so_far = max_so_far.max(*count);
        if *start >= week_start {
            let slot = ((*start - week_start).num_hours() as usize).min(WEEK_HOURS - 1);
            week[slot] += count;
        }
    }
    hourly_limit(&week, max_so_far, now - first_seen)
}

/// `max(spike, bursty)` over the week (see the module documentation).
fn week_limit(hourly: &[u64]) -> f64 {
    let counts = &hourly[hourly.len().saturating_sub(WEEK_HOURS)..];
    let n = WEEK_HOURS as f64;
    let sum: f64 = counts.iter().map(|c| *c as f64).sum();
    let avg = sum / n;
    if avg == 0.0 {
        return 0.0;
    }
    let sq: f64 = counts.iter().map(|c| (*c as f64 - avg).powi(2)).sum::<f64>()
        // The padded zero hours count in the variance too.
        + (WEEK_HOURS - counts.len()) as f64 * avg * avg;
    let std = (sq / n).sqrt();
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let cv = std / avg;
    let spike = avg + ((avg + 5.0 * std) / avg).clamp(5.0, 8.0) * avg;
    let bursty = max * (5.0 * (-0.65 * cv).exp()).clamp(2.0, 5.0);
    spike.max(bursty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.max(1.0)
    }

    #[test]
    fn steady_week_limit_is_six_times_the_average() {
        // 10 every hour: std 0, cv 0 → spike = 10 + 5·10 = 60, bursty = 10·5 = 50.
        let limit = hourly_limit(&[10; 168], 10, Duration::days(30));
        assert!(close(limit, 60.0), "{limit}");
        assert!(!is_escalating(60, limit));
        assert!(is_escalating(61, limit));
    }

    #[test]
    fn one_burst_in_a_week_allows_twice_the_burst() {
        // 167 zeros and one hour of 168: avg 1, std √167, cv ≈ 12.9 → spike = 1 + 8·1 = 9,
        // bursty = 168 · max(2, 5·e^(−8.4)) = 336.
        let mut week = vec![0; 168];
        week[100] = 168;
        let limit = hourly_limit(&week, 168, Duration::days(8));
        assert!(close(limit, 336.0), "{limit}");
        assert!(!is_escalating(300, limit));
        assert!(is_escalating(337, limit));
    }

    #[test]
    fn alternating_week_uses_the_spike_bound() {
        // 0, 20, 0, 20…: avg 10, std 10, cv 1 → spike multiplier clamp((10+50)/10=6) = 6 →
        // spike = 10 + 60 = 70; bursty = 20 · clamp(5·e^(−0.65)) = 20 · 2.6102… = 52.2.
        let week: Vec<u64> = (0..168).map(|h| if h % 2 == 0 { 0 } else { 20 }).collect();
        let limit = hourly_limit(&week, 20, Duration::days(10));
        assert!(close(limit, 70.0), "{limit}");
        let bursty = 20.0 * 5.0 * (-0.65f64).exp();
        assert!(bursty < 70.0 && bursty > 52.0);
    }

    #[test]
    fn short_history_is_padded_with_zero_hours() {
        // 84 hours of 20, then nothing recorded: the same as 84 hours of 0 and 84 of 20.
        let padded: Vec<u64> = std::iter::repeat_n(0, 84)
            .chain(std::iter::repeat_n(20, 84))
            .collect();
        let short = vec![20; 84];
        let a = hourly_limit(&padded, 20, Duration::days(7));
        let b = hourly_limit(&short, 20, Duration::days(7));
        // avg 10, std 10, cv 1 → spike = 10 + clamp(6)·10 = 70, bursty = 20·2.61 = 52.2.
        assert!(close(a, 70.0), "{a}");
        assert!(close(b, 70.0), "{b}");
    }

    #[test]
    fn heavy_steady_week() {
        // 1000 every hour → 6000: escalates only above six times its normal rate.
        let limit = hourly_limit(&[1000; 168], 1000, Duration::days(7));
        assert!(close(limit, 6000.0), "{limit}");
    }

    #[test]
    fn young_group_uses_ten_times_its_max_hour() {
        let limit = hourly_limit(&[3, 7, 2], 7, Duration::hours(30));
        assert!(close(limit, 70.0));
        assert!(is_escalating(71, limit));
        assert!(!is_escalating(70, limit));
    }

    #[test]
    fn silent_or_brand_new_groups_have_the_floor() {
        assert!(close(
            hourly_limit(&[], 0, Duration::minutes(5)),
            MIN_HOURLY_LIMIT
        ));
        assert!(close(
            hourly_limit(&[0; 168], 0, Duration::days(40)),
            MIN_HOURLY_LIMIT
        ));
        assert!(!is_escalating(10, MIN_HOURLY_LIMIT));
        assert!(is_escalating(11, MIN_HOURLY_LIMIT));
    }

    #[test]
    fn limit_from_buckets_uses_complete_hours_only() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 12, 30, 0).unwrap();
        let hour =
            |h: i64| Utc.with_ymd_and_hms(2026, 12, 8, 12, 0, 0).unwrap() - Duration::hours(h);
        // 10 in each of the 168 complete hours before 12:00, a huge current hour (ignored), and
        // an old burst 9 days ago (outside the week, but the max so far).
        let mut buckets: Vec<(DateTime<Utc>, u64)> = (1..=168).map(|h| (hour(h), 10)).collect();
        buckets.push((hour(0), 5_000));
        buckets.push((hour(24 * 9), 400));
        let old = limit_from_buckets(now, hour(24 * 10), &buckets);
        assert!(close(old, 60.0), "{old}");
        // The same buckets for a group first seen 3 days ago: 10 × the max complete hour.
        let young = limit_from_buckets(now, hour(72), &buckets);
        assert!(close(young, 4_000.0), "{young}");
    }

    #[test]
    fn only_the_last_week_counts() {
        // A huge burst 9 days ago is outside the window.
        let mut history = vec![0u64; 216];
        history[0] = 100_000;
        for h in history.iter_mut().skip(48) {
            *h = 10;
        }
        let limit = hourly_limit(&history, 100_000, Duration::days(9));
        assert!(close(limit, 60.0), "{limit}");
    }
}
