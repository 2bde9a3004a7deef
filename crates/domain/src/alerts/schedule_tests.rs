use super::*;
use serde_json::json;

fn schedule(v: serde_json::Value) -> Schedule {
    serde_json::from_value(v).expect("valid schedule")
}

fn refused(v: serde_json::Value) -> String {
    serde_json::from_value::<Schedule>(v)
        .expect_err("refused")
        .to_string()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn office_hours() -> Schedule {
    schedule(json!({
        "weekdays": ["mon:fri"],
        "times": [{"start": "08:00", "end": "18:00"}],
        "time_zone": "Europe/Berlin"
    }))
}

fn hourly(s: Schedule) -> CheckWindows {
    CheckWindows::new(s, Some(Duration::from_secs(3600))).expect("windows")
}

fn hours(ws: &[Window]) -> Vec<f64> {
    ws.iter().map(|w| w.len().as_secs_f64() / 3600.0).collect()
}

#[test]
fn contains_follows_weekdays_times_and_the_zone() {
    let s = office_hours();
    // Monday 2026-12-07, CET (UTC+1): 08:00 local is 07:00 UTC.
    assert!(!s.contains(utc("2026-12-07T06:59:59Z")));
    assert!(s.contains(utc("2026-12-07T07:00:00Z")));
    assert!(s.contains(utc("2026-12-07T16:59:59Z")));
    assert!(!s.contains(utc("2026-12-07T17:00:00Z")), "end is exclusive");
    // Saturday.
    assert!(!s.contains(utc("2026-12-12T10:00:00Z")));
    // Summer (CEST, UTC+2): 08:00 local is 06:00 UTC.
    assert!(s.contains(utc("2026-06-01T06:00:00Z")));
    assert!(!s.contains(utc("2026-06-01T16:00:00Z")));
}

#[test]
fn days_of_month_count_from_the_end_and_months_and_years_limit() {
    let last_days = schedule(json!({"days_of_month": ["-2:-1"]}));
    assert!(
        last_days.contains(utc("2028-02-28T12:00:00Z")),
        "leap year: 28 is second last"
    );
    assert!(last_days.contains(utc("2028-02-29T12:00:00Z")));
    assert!(!last_days.contains(utc("2028-02-27T12:00:00Z")));
    assert!(last_days.contains(utc("2026-12-30T00:00:00Z")));
    let first_to_last = schedule(json!({"days_of_month": ["1:-1"], "months": ["jan:feb", "12"]}));
    assert!(first_to_last.contains(utc("2026-12-31T23:00:00Z")));
    assert!(!first_to_last.contains(utc("2026-03-01T00:00:00Z")));
    // Day 31 never happens in a 30-day month.
    let thirty_first = schedule(json!({"days_of_month": ["31"]}));
    assert!(!thirty_first.contains(utc("2026-11-30T12:00:00Z")));
    let years = schedule(json!({"years": ["2027:2028"]}));
    assert!(!years.contains(utc("2026-12-31T23:59:59Z")));
    assert!(years.contains(utc("2027-01-01T00:00:00Z")));
}

#[test]
fn one_of_several_intervals_is_enough_and_an_empty_interval_is_always() {
    let s = schedule(json!([
        {"weekdays": ["saturday"]},
        {"weekdays": ["sun"], "times": [{"start": "00:00", "end": "06:00"}]}
    ]));
    assert!(s.contains(utc("2026-12-12T23:00:00Z")));
    assert!(s.contains(utc("2026-12-13T05:59:00Z")));
    assert!(!s.contains(utc("2026-12-13T06:00:00Z")));
    assert!(schedule(json!({})).contains(utc("2026-12-08T00:00:00Z")));
}

#[test]
fn the_yaml_shape_round_trips() {
    let v = json!({
        "times": [{"start": "08:00", "end": "24:00"}],
        "weekdays": ["mon:fri"],
        "days_of_month": ["-1"],
        "months": ["jan:mar"],
        "years": ["2026"],
        "time_zone": "Europe/Berlin"
    });
    let s = schedule(v.clone());
    assert_eq!(serde_json::to_value(&s).unwrap(), json!([v]));
    // Alertmanager's name for the zone is accepted too.
    let am = schedule(json!({"location": "America/New_York"}));
    assert_eq!(am.intervals()[0].time_zone(), chrono_tz::America::New_York);
}

#[test]
fn bad_fields_are_named() {
    let cases = [
        (
            json!({"weekdays": ["mon-fri"]}),
            "weekdays[0]: \"mon-fri\" is not a weekday",
        ),
        (
            json!({"weekdays": ["fri:mon"]}),
            "weekdays[0]: \"fri:mon\": the range ends before it starts",
        ),
        (
            json!({"times": [{"start": "8:00", "end": "18:00"}]}),
            "times[0].start: \"8:00\" is not a time of day",
        ),
        (
            json!({"times": [{"start": "08:00", "end": "24:01"}]}),
            "times[0].end",
        ),
        (
            json!({"times": [{"start": "18:00", "end": "08:00"}]}),
            "times[0]: start 18:00 must come before end 08:00",
        ),
        (
            json!({"days_of_month": ["0"]}),
            "days_of_month[0]: \"0\" is not a day of the month",
        ),
        (json!({"days_of_month": ["-1:-3"]}), "days_of_month[0]"),
        (json!({"months": ["13"]}), "months[0]"),
        (json!({"years": ["26"]}), "years[0]"),
        (
            json!({"time_zone": "Europe/Berln"}),
            "time_zone: \"Europe/Berln\" is not an IANA time zone",
        ),
        (json!([{}, {"weekdays": ["noday"]}]), "[1].weekdays[0]"),
        (json!([]), "schedule: needs at least one interval"),
    ];
    for (v, want) in cases {
        let got = refused(v.clone());
        assert!(got.contains(want), "{v}: {got:?} does not contain {want:?}");
    }
    assert!(refused(json!({"weekday": ["mon"]})).contains("unknown field `weekday`"));
}

#[test]
fn office_hours_give_ten_hourly_windows_a_weekday_in_utc() {
    let w = hourly(office_hours());
    // Monday 2026-12-07 00:00 CET to Tuesday 00:00 CET.
    let got = w.complete(utc("2026-12-06T23:00:00Z"), utc("2026-12-07T23:00:00Z"));
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].start, utc("2026-12-07T07:00:00Z"));
    assert_eq!(got[9].end, utc("2026-12-07T17:00:00Z"));
    assert!(got.windows(2).all(|p| p[0].end == p[1].start));
    // The weekend has none.
    assert!(
        w.complete(utc("2026-12-11T23:00:00Z"), utc("2026-12-13T23:00:00Z"))
            .is_empty()
    );
}

#[test]
fn only_complete_windows_and_each_once() {
    let w = hourly(office_hours());
    // Collected up to 10:30 local: 08–09 and 09–10 are complete, 10–11 is not.
    let first = w.complete(utc("2026-12-07T00:00:00Z"), utc("2026-12-07T09:30:00Z"));
    assert_eq!(first.len(), 2);
    assert_eq!(first[1].end, utc("2026-12-07T09:00:00Z"));
    // Exactly at a window's end, that window is complete.
    let second = w.complete(utc("2026-12-07T09:30:00Z"), utc("2026-12-07T10:00:00Z"));
    assert_eq!(
        second,
        vec![Window {
            start: utc("2026-12-07T09:00:00Z"),
            end: utc("2026-12-07T10:00:00Z")
        }]
    );
    // Successive calls never repeat a window and miss none.
    let mut seen = Vec::new();
    let mut at = utc("2026-12-07T00:00:00Z");
    while at < utc("2026-12-08T00:00:00Z") {
        let next = at + chrono::Duration::minutes(7);
        seen.extend(w.complete(at, next));
        at = next;
    }
    assert_eq!(
        seen,
        w.complete(utc("2026-12-07T00:00:00Z"), utc("2026-12-08T00:00:00Z"))
    );
    assert_eq!(seen.len(), 10);
    assert!(w.complete(at, at).is_empty());
}

#[test]
fn the_last_window_of_a_stretch_is_shorter_and_expects_proportionally() {
    let s = schedule(json!({"times": [{"start": "08:30", "end": "10:00"}]}));
    let got = hourly(s).complete(utc("2026-12-07T00:00:00Z"), utc("2026-12-08T00:00:00Z"));
    assert_eq!(hours(&got), [1.0, 0.5]);
    assert_eq!(
        got[1].expected(3, Duration::from_secs(3600)),
        2,
        "1.5 rounded up"
    );
    assert_eq!(got[0].expected(1, Duration::from_secs(3600)), 1);
}

#[test]
fn without_per_each_stretch_is_one_window_and_stretches_join_across_intervals() {
    let s = schedule(json!([
        {"times": [{"start": "08:00", "end": "12:00"}]},
        {"times": [{"start": "12:00", "end": "13:00"}, {"start": "15:00", "end": "16:00"}]}
    ]));
    let w = CheckWindows::new(s, None).unwrap();
    let got = w.complete(utc("2026-12-07T00:00:00Z"), utc("2026-12-08T00:00:00Z"));
    assert_eq!(hours(&got), [5.0, 1.0]);
}

#[test]
fn whole_days_have_23_hours_in_spring_and_25_in_autumn() {
    let berlin_day = |per: Option<u64>| {
        CheckWindows::new(
            schedule(json!({"time_zone": "Europe/Berlin"})),
            per.map(Duration::from_secs),
        )
        .unwrap()
    };
    // 2026-03-29: clocks go 02:00 → 03:00. Local midnight is 23:00 UTC the day before.
    let spring =
        berlin_day(Some(3600)).complete(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"));
    assert_eq!(spring.len(), 23);
    assert_eq!(spring[0].start, utc("2026-03-28T23:00:00Z"));
    assert_eq!(spring[22].end, utc("2026-03-29T22:00:00Z"));
    // 2026-10-25: clocks go 03:00 → 02:00.
    let autumn =
        berlin_day(Some(3600)).complete(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"));
    assert_eq!(autumn.len(), 25);
    assert!(autumn.iter().all(|w| w.len() == Duration::from_secs(3600)));
    // Per day: one window each, of 23 and 25 hours.
    let daily = berlin_day(Some(86_400));
    assert_eq!(
        hours(&daily.complete(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))),
        [23.0]
    );
    assert_eq!(
        hours(&daily.complete(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"))),
        [25.0]
    );
}

#[test]
fn office_hours_on_the_change_weekends_stay_at_local_eight_to_six() {
    let w = hourly(office_hours());
    // Friday before and Monday after the spring change: CET then CEST.
    let fri = w.complete(utc("2026-03-26T23:00:00Z"), utc("2026-03-27T23:00:00Z"));
    assert_eq!(fri[0].start, utc("2026-03-27T07:00:00Z"));
    let mon = w.complete(utc("2026-03-29T22:00:00Z"), utc("2026-03-30T22:00:00Z"));
    assert_eq!(mon[0].start, utc("2026-03-30T06:00:00Z"));
    assert_eq!(mon.len(), 10);
    // A week across the change: 5 days × 10 windows, none on the weekend.
    let week = w.complete(utc("2026-03-23T00:00:00Z"), utc("2026-03-31T00:00:00Z"));
    assert_eq!(week.len(), 60);
}

#[test]
fn an_hour_that_does_not_exist_has_no_window() {
    let sunday = |start: &str, end: &str| {
        hourly(schedule(json!({
            "weekdays": ["sun"],
            "times": [{"start": start, "end": end}],
            "time_zone": "Europe/Berlin"
        })))
    };
    let day = (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"));
    // 02:00–03:00 is skipped entirely on 2026-03-29.
    assert!(sunday("02:00", "03:00").complete(day.0, day.1).is_empty());
    assert!(
        !sunday("02:00", "03:00")
            .schedule()
            .contains(utc("2026-03-29T01:00:00Z"))
    );
    // 02:30–04:00 begins when the clocks jump to 03:00 (01:00 UTC): one real hour.
    let got = sunday("02:30", "04:00").complete(day.0, day.1);
    assert_eq!(
        got,
        vec![Window {
            start: utc("2026-03-29T01:00:00Z"),
            end: utc("2026-03-29T02:00:00Z")
        }]
    );
    // 01:00–04:00 local is two real hours.
    assert_eq!(
        hours(&sunday("01:00", "04:00").complete(day.0, day.1)),
        [1.0, 1.0]
    );
}

#[test]
fn an_hour_that_occurs_twice_is_inside_both_times() {
    let s = schedule(json!({
        "weekdays": ["sun"],
        "times": [{"start": "02:00", "end": "03:00"}],
        "time_zone": "Europe/Berlin"
    }));
    // 2026-10-25: 02:00 CEST = 00:00 UTC, 02:00 CET = 01:00 UTC, 03:00 CET = 02:00 UTC.
    assert!(s.contains(utc("2026-10-25T00:30:00Z")));
    assert!(s.contains(utc("2026-10-25T01:30:00Z")));
    assert!(!s.contains(utc("2026-10-25T02:00:00Z")));
    let got = hourly(s).complete(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"));
    assert_eq!(
        got,
        vec![
            Window {
                start: utc("2026-10-25T00:00:00Z"),
                end: utc("2026-10-25T01:00:00Z")
            },
            Window {
                start: utc("2026-10-25T01:00:00Z"),
                end: utc("2026-10-25T02:00:00Z")
            },
        ]
    );
    // A range ending inside the repeated hour is in twice: 01:00–02:30 local is 01:00–02:30
    // CEST and again 02:00–02:30 CET.
    let split = CheckWindows::new(
        schedule(
            json!({"times": [{"start": "01:00", "end": "02:30"}], "time_zone": "Europe/Berlin"}),
        ),
        None,
    )
    .unwrap();
    let got = split.complete(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"));
    assert_eq!(
        got,
        vec![
            Window {
                start: utc("2026-10-24T23:00:00Z"),
                end: utc("2026-10-25T00:30:00Z")
            },
            Window {
                start: utc("2026-10-25T01:00:00Z"),
                end: utc("2026-10-25T01:30:00Z")
            },
        ]
    );
}

#[test]
fn windows_agree_with_contains_minute_by_minute() {
    for zone in [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "UTC",
    ] {
        let s = schedule(json!([
            {"weekdays": ["sat:sun"], "times": [{"start": "01:00", "end": "02:30"}, {"start": "22:00", "end": "24:00"}], "time_zone": zone},
            {"days_of_month": ["-1"], "time_zone": zone}
        ]));
        let w = CheckWindows::new(s.clone(), None).unwrap();
        for (from, to) in [
            ("2026-03-27T00:00:00Z", "2026-04-07T00:00:00Z"),
            ("2026-10-23T00:00:00Z", "2026-11-03T00:00:00Z"),
        ] {
            let (from, to) = (utc(from), utc(to));
            let windows = w.complete(from, to);
            let mut t = from;
            while t < to {
                let inside = windows.iter().any(|x| x.start <= t && t < x.end);
                // Windows ending after `to` are not returned yet; skip their tail.
                let pending = !inside && s.contains(t) && windows.iter().all(|x| x.end <= t);
                if !pending {
                    assert_eq!(inside, s.contains(t), "{zone} at {t}");
                }
                t += chrono::Duration::minutes(1);
            }
        }
    }
}

#[test]
fn check_windows_refuse_bad_periods_and_mixed_zones() {
    let e = CheckWindows::new(office_hours(), Some(Duration::from_secs(30))).unwrap_err();
    assert_eq!(e.field, "per");
    assert!(CheckWindows::new(office_hours(), Some(Duration::from_secs(2 * 86_400))).is_err());
    let mixed = schedule(json!([{"time_zone": "UTC"}, {"time_zone": "Europe/Berlin"}]));
    assert!(
        CheckWindows::new(mixed, None)
            .unwrap_err()
            .to_string()
            .contains("same time_zone")
    );
}
