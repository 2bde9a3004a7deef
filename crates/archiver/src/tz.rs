//! Days in the archive time zone (`ARCHIVE_TIME_ZONE`, an IANA name; UTC by default).

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `ARCHIVE_TIME_ZONE` from its text (the shared parser's error, as text).
pub fn parse(raw: &str) -> Result<Tz, String> {
    domain::setting::time_zone("ARCHIVE_TIME_ZONE", raw).map_err(|e| e.to_string())
}

/// The first instant of `day` in `tz`. Where midnight does not exist (a DST change at 00:00)
/// the day starts at the first local time that does; where it exists twice, at the earlier.
pub fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut local = day.and_time(NaiveTime::MIN);
    // A gap is at most a few hours; step through it a quarter hour at a time.
    for _ in 0..(4 * 26) {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(15);
    }
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The day in `tz` that `at` falls on.
pub fn day_of(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn days_follow_the_zone_across_dst() {
        let berlin = parse("Europe/Berlin").unwrap();
        // 2026-03-29: clocks go 02:00 -> 03:00; the day has 23 hours.
        let a = start_of_day(berlin, d(2026, 3, 29));
        let b = start_of_day(berlin, d(2026, 3, 30));
        assert_eq!(a, Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap());
        assert_eq!((b - a).num_hours(), 23);
        // 2026-10-25: 03:00 -> 02:00; 25 hours.
        let c = start_of_day(berlin, d(2026, 10, 25));
        let e = start_of_day(berlin, d(2026, 10, 26));
        assert_eq!((e - c).num_hours(), 25);
        assert_eq!(day_of(berlin, c), d(2026, 10, 25));
        assert_eq!(
            day_of(berlin, e - chrono::Duration::seconds(1)),
            d(2026, 10, 25)
        );
    }

    #[test]
    fn a_missing_midnight_starts_the_day_at_the_first_real_time() {
        // America/Santiago skipped 00:00-01:00 on 2026-09-06.
        let santiago = parse("America/Santiago").unwrap();
        let start = start_of_day(santiago, d(2026, 9, 6));
        assert_eq!(day_of(santiago, start), d(2026, 9, 6));
        assert_eq!(
            day_of(santiago, start - chrono::Duration::seconds(1)),
            d(2026, 9, 5)
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(parse("Mars/Olympus").is_err());
        assert_eq!(parse("UTC").unwrap(), Tz::UTC);
    }
}
