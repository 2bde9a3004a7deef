use chrono::TimeZone;

use super::*;

fn at(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

/// Quiet facts at hour `h`: nothing counted, no escalation.
fn facts(h: i64) -> Facts {
    Facts {
        now: at(h),
        next_deployment: None,
        since_ignored: 0,
        in_ignore_window: 0,
        last_hour: 1,
        limit: 10.0,
    }
}

fn occ(h: i64) -> Occurrence {
    Occurrence {
        occurred_at: at(h),
        log_start: at(h),
    }
}

/// A group first seen at hour 0, in `state` since hour `since`.
fn group(state: GroupState, since: i64) -> Lifecycle {
    Lifecycle {
        state,
        state_since: at(since),
        ..Lifecycle::first(at(0))
    }
}

#[test]
fn states_round_trip_through_their_names() {
    for s in GroupState::ALL {
        assert_eq!(s.as_str().parse::<GroupState>().unwrap(), s);
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    assert!(matches!(
        "bogus".parse::<GroupState>(),
        Err(LifecycleError::UnknownState(_))
    ));
    assert_eq!(
        "next_deployment".parse::<ResolveMode>(),
        Ok(ResolveMode::NextDeployment)
    );
    assert_eq!("NOW".parse::<ResolveMode>(), Ok(ResolveMode::Now));
    assert!("later".parse::<ResolveMode>().is_err());
}

#[test]
fn a_group_is_new_for_seven_days_then_ongoing() {
    let g = Lifecycle::first(at(0));
    assert_eq!(g.state, GroupState::New);
    assert_eq!(on_tick(&g, &facts(24 * 7 - 1)), None);
    let t = on_tick(&g, &facts(24 * 7)).unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (GroupState::New, GroupState::Ongoing, Reason::NoLongerNew)
    );
    assert_eq!(t.lifecycle.state_since, at(24 * 7));
}

#[test]
fn resolved_now_regresses_on_a_later_occurrence_only() {
    let g = resolve(&group(GroupState::Ongoing, 0), ResolveMode::Now, at(200)).lifecycle;
    assert_eq!(g.state, GroupState::Resolved);
    assert_eq!(g.resolved_at, Some(at(200)));
    // A message that failed before the resolve (its text arriving late) changes nothing.
    assert_eq!(after_occurrence(&g, &occ(199), &facts(201)), None);
    let t = after_occurrence(&g, &occ(201), &facts(201)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Regressed, Reason::Regression)
    );
    assert_eq!(t.lifecycle.resolved_at, None);
    assert_eq!(t.lifecycle.resolve_mode, None);
}

#[test]
fn resolved_with_the_next_deployment_waits_for_a_message_started_after_it() {
    let g = resolve(
        &group(GroupState::Ongoing, 0),
        ResolveMode::NextDeployment,
        at(200),
    )
    .lifecycle;
    // No deployment yet: occurrences are expected.
    assert_eq!(after_occurrence(&g, &occ(205), &facts(205)), None);
    // Deployments before the resolve do not count; the first one after does.
    let deployed = next_deployment(at(200), [at(100), at(230), at(210)]);
    assert_eq!(deployed, Some(at(210)));
    let f = Facts {
        next_deployment: deployed,
        ..facts(240)
    };
    // A message started before the deployment and failing after it: still expected.
    let before = Occurrence {
        occurred_at: at(240),
        log_start: at(209),
    };
    assert_eq!(after_occurrence(&g, &before, &f), None);
    // One started after the deployment: the fix did not work.
    let t = after_occurrence(&g, &occ(211), &f).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Regressed, Reason::RegressionAfterDeployment)
    );
    // A deployment time at or before the resolve is not "the next one".
    let stale = Facts {
        next_deployment: Some(at(150)),
        ..facts(240)
    };
    assert_eq!(after_occurrence(&g, &occ(239), &stale), None);
}

#[test]
fn ignored_forever_stays_ignored() {
    let g = ignore(
        &group(GroupState::Ongoing, 0),
        IgnoreUntil::Forever,
        at(200),
    )
    .lifecycle;
    let f = Facts {
        since_ignored: 1_000_000,
        in_ignore_window: 1_000_000,
        last_hour: 1_000_000,
        ..facts(9_000)
    };
    assert_eq!(after_occurrence(&g, &occ(9_000), &f), None);
    assert_eq!(on_tick(&g, &f), None);
}

#[test]
fn ignored_until_a_date_comes_back_when_the_date_passes() {
    let g = ignore(
        &group(GroupState::Ongoing, 0),
        IgnoreUntil::Date(at(300)),
        at(200),
    )
    .lifecycle;
    assert_eq!(g.ignored_at, Some(at(200)));
    assert_eq!(after_occurrence(&g, &occ(250), &facts(250)), None);
    assert_eq!(on_tick(&g, &facts(299)), None);
    let t = on_tick(&g, &facts(300)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Ongoing, Reason::IgnoreDateReached)
    );
    assert_eq!(t.lifecycle.ignore, None);
    // An occurrence after the date brings it back too.
    let t = after_occurrence(&g, &occ(301), &facts(301)).unwrap();
    assert_eq!(t.to, GroupState::Ongoing);
}

#[test]
fn ignored_until_n_more_occurrences() {
    let g = ignore(
        &group(GroupState::Ongoing, 0),
        IgnoreUntil::Occurrences(3),
        at(200),
    )
    .lifecycle;
    let with = |n| Facts {
        since_ignored: n,
        ..facts(210)
    };
    assert_eq!(after_occurrence(&g, &occ(210), &with(2)), None);
    let t = after_occurrence(&g, &occ(210), &with(3)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Ongoing, Reason::IgnoreCountReached)
    );
}

#[test]
fn ignored_until_a_rate_and_back_as_escalating_when_it_is() {
    let until = IgnoreUntil::Rate {
        count: 5,
        window_minutes: 10,
    };
    assert_eq!(until.window(), Some(Duration::minutes(10)));
    // First seen 2 days ago: it would be "new" again, but it is escalating.
    let g = ignore(&Lifecycle::first(at(0)), until, at(10)).lifecycle;
    let with = |n, last_hour| Facts {
        in_ignore_window: n,
        last_hour,
        limit: 10.0,
        ..facts(48)
    };
    assert_eq!(after_occurrence(&g, &occ(48), &with(4, 4)), None);
    let t = after_occurrence(&g, &occ(48), &with(5, 5)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::New, Reason::IgnoreRateReached)
    );
    let t = after_occurrence(&g, &occ(48), &with(50, 50)).unwrap();
    assert_eq!(t.to, GroupState::Escalating);
}

#[test]
fn ignore_conditions_are_validated() {
    let now = at(100);
    assert_eq!(IgnoreUntil::Forever.validate(now), Ok(()));
    assert_eq!(IgnoreUntil::Date(at(101)).validate(now), Ok(()));
    assert_eq!(
        IgnoreUntil::Date(at(99)).validate(now),
        Err(LifecycleError::DateInPast(at(99)))
    );
    assert_eq!(
        IgnoreUntil::Occurrences(0).validate(now),
        Err(LifecycleError::ZeroCount)
    );
    let rate = |count, window_minutes| IgnoreUntil::Rate {
        count,
        window_minutes,
    };
    assert_eq!(rate(5, 0).validate(now), Err(LifecycleError::BadWindow));
    assert_eq!(
        rate(5, MAX_IGNORE_WINDOW_MINUTES + 1).validate(now),
        Err(LifecycleError::BadWindow)
    );
    assert_eq!(rate(5, 60).validate(now), Ok(()));
}

#[test]
fn ignore_until_serialises_in_serdes_default_shape() {
    use serde_json::json;
    for (u, v) in [
        (IgnoreUntil::Forever, json!("forever")),
        (
            IgnoreUntil::Date(at(0)),
            json!({"date": "2026-12-01T00:00:00Z"}),
        ),
        (IgnoreUntil::Occurrences(5), json!({"occurrences": 5})),
        (
            IgnoreUntil::Rate {
                count: 5,
                window_minutes: 10,
            },
            json!({"rate": {"count": 5, "window_minutes": 10}}),
        ),
    ] {
        assert_eq!(serde_json::to_value(u).unwrap(), v);
        assert_eq!(serde_json::from_value::<IgnoreUntil>(v).unwrap(), u);
    }
}

#[test]
fn an_open_group_escalates_and_calms_down() {
    let g = group(GroupState::Ongoing, 0);
    let hot = Facts {
        last_hour: 61,
        limit: 60.0,
        ..facts(500)
    };
    assert_eq!(after_occurrence(&g, &occ(500), &facts(500)), None);
    let t = after_occurrence(&g, &occ(500), &hot).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Escalating, Reason::Escalation)
    );
    let g = t.lifecycle;
    // Still hot: nothing changes.
    assert_eq!(after_occurrence(&g, &occ(500), &hot), None);
    assert_eq!(on_tick(&g, &hot), None);
    let t = on_tick(&g, &facts(502)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Ongoing, Reason::EscalationOver)
    );
    // A young group calms down to "new".
    let young = group(GroupState::Escalating, 10);
    assert_eq!(on_tick(&young, &facts(20)).unwrap().to, GroupState::New);
}

#[test]
fn a_regression_settles_after_seven_days_unless_it_escalates() {
    let g = group(GroupState::Regressed, 300);
    assert_eq!(on_tick(&g, &facts(300 + 24 * 7 - 1)), None);
    let t = on_tick(&g, &facts(300 + 24 * 7)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (GroupState::Ongoing, Reason::RegressionSettled)
    );
    let hot = Facts {
        last_hour: 100,
        ..facts(301)
    };
    assert_eq!(
        after_occurrence(&g, &occ(301), &hot).unwrap().to,
        GroupState::Escalating
    );
}

#[test]
fn reopen_makes_a_resolved_or_ignored_group_active_again() {
    let resolved = resolve(
        &group(GroupState::Ongoing, 0),
        ResolveMode::NextDeployment,
        at(200),
    )
    .lifecycle;
    let t = reopen(&resolved, &facts(210));
    assert_eq!(
        (t.from, t.to, t.reason),
        (GroupState::Resolved, GroupState::Ongoing, Reason::Reopened)
    );
    assert_eq!(t.lifecycle.resolved_at, None);
    assert_eq!(t.lifecycle.resolve_mode, None);
    let ignored = ignore(&Lifecycle::first(at(0)), IgnoreUntil::Forever, at(1)).lifecycle;
    let t = reopen(&ignored, &facts(2));
    assert_eq!(t.to, GroupState::New);
    assert_eq!(t.lifecycle.ignore, None);
    assert_eq!(t.lifecycle.ignored_at, None);
    assert!(t.to.is_open() && !GroupState::Resolved.is_open());
}
