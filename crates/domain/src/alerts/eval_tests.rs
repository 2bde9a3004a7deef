use super::*;
use crate::alerts::rule::RuleSpec;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 10, 0, 0).unwrap()
}

fn rule(json: serde_json::Value) -> Rule {
    let mut v = json;
    v["name"] = "r".into();
    serde_json::from_value::<RuleSpec>(v)
        .unwrap()
        .validate()
        .unwrap()
}

fn count(iflow: &str, status: &str, n: u64) -> IflowCount {
    IflowCount {
        iflow_id: iflow.into(),
        iflow_name: Some(format!("{iflow} name")),
        package_id: "pkg".into(),
        status: MessageStatus::parse(status),
        count: n,
    }
}

fn facts() -> TenantFacts {
    TenantFacts {
        tenant: "demo".into(),
        labels: Labels::new().with("team", "finance").unwrap(),
        ..Default::default()
    }
}

#[test]
fn message_failures_one_alert_per_iflow_at_the_threshold() {
    let r = rule(json!({"kind": "message_failures", "threshold": 2, "window": "5m"}));
    let mut f = facts();
    f.counts.insert(
        300,
        vec![
            count("A", "FAILED", 2),
            count("A", "COMPLETED", 9),
            count("B", "FAILED", 1),
        ],
    );
    f.iflow_labels
        .insert("A".into(), Labels::new().with("owner", "ann").unwrap());
    let out = evaluate(&r, &f, now()).observations;
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert_eq!(o.key.identity(), r#"iflow="A",tenant="demo""#);
    assert_eq!(o.labels.get("owner"), Some("ann"));
    assert_eq!(o.labels.get("team"), Some("finance"));
    assert_eq!(o.value, 2.0);
    assert_eq!(o.summary, "2 FAILED message(s) in 5m on A name");
}

#[test]
fn message_failures_per_rule_sums_iflows() {
    let r = rule(json!({"kind": "message_failures", "threshold": 2, "per": "rule"}));
    let mut f = facts();
    f.counts
        .insert(300, vec![count("A", "FAILED", 1), count("B", "FAILED", 1)]);
    let out = evaluate(&r, &f, now()).observations;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.identity(), r#"tenant="demo""#);
}

#[test]
fn scope_and_label_matchers_filter() {
    let r = rule(json!({"kind": "message_failures", "iflow": "B*"}));
    let mut f = facts();
    f.counts
        .insert(300, vec![count("A", "FAILED", 5), count("B1", "FAILED", 1)]);
    let out = evaluate(&r, &f, now()).observations;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.get("iflow"), Some("B1"));
    let r = rule(json!({"kind": "message_failures", "labels": ["team!=finance"]}));
    assert!(evaluate(&r, &f, now()).observations.is_empty());
}

#[test]
fn error_rate_needs_min_messages_and_percent() {
    let r = rule(json!({"kind": "error_rate", "percent": 50, "min_messages": 4}));
    let mut f = facts();
    f.counts.insert(
        900,
        vec![
            count("A", "FAILED", 2),
            count("A", "COMPLETED", 2),
            count("B", "FAILED", 2),
            count("B", "COMPLETED", 3),
            count("C", "FAILED", 3),
        ],
    );
    let out = evaluate(&r, &f, now()).observations;
    // A: 50% of 4 → yes; B: 40% → no; C: 100% of 3 < min → no.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.get("iflow"), Some("A"));
    assert_eq!(out[0].value, 50.0);
}

#[test]
fn error_groups_fire_on_chosen_triggers_until_resolved_or_resolve_after() {
    let r = rule(json!({"kind": "error_group", "on": ["regressed"], "resolve_after": "1h"}));
    let g = |id, state: &str, trig, mins| GroupFact {
        id,
        iflow_id: "A".into(),
        package_id: None,
        title: "HTTP 500".into(),
        state: state.into(),
        triggers: vec![(trig, now() - chrono::Duration::minutes(mins))],
    };
    let mut f = facts();
    f.groups = vec![
        g(1, "regressed", GroupTrigger::Regressed, 10),
        g(2, "resolved", GroupTrigger::Regressed, 10),
        g(3, "regressed", GroupTrigger::Regressed, 61),
        g(4, "new", GroupTrigger::New, 1),
    ];
    let out = evaluate(&r, &f, now()).observations;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].key.identity(),
        r#"error_group="1",iflow="A",tenant="demo""#
    );
}

#[test]
fn certificate_ladder_raises_severity_and_expired_is_high() {
    let r = rule(json!({"kind": "certificate_expiry", "days": 30, "severity": "low"}));
    let cert = |alias: &str, days: i64| CertFact {
        alias: alias.into(),
        entry_type: None,
        subject_dn: None,
        valid_not_after: now() + chrono::Duration::days(days) - chrono::Duration::hours(1),
    };
    let mut f = facts();
    f.certificates = vec![
        cert("far", 60),
        cert("d29", 30),
        cert("d14", 14),
        cert("d7", 7),
        cert("gone", -1),
    ];
    let out = evaluate(&r, &f, now()).observations;
    let sev: HashMap<&str, Severity> = out
        .iter()
        .map(|o| (o.key.get("alias").unwrap(), o.severity))
        .collect();
    assert_eq!(sev.len(), 4, "{sev:?}");
    assert_eq!(sev["d29"], Severity::Low);
    assert_eq!(sev["d14"], Severity::Medium);
    assert_eq!(sev["d7"], Severity::High);
    assert_eq!(sev["gone"], Severity::High);
}

#[test]
fn artifacts_in_error_and_undeployed() {
    let r = rule(json!({"kind": "artifact_status", "on": ["error", "undeployed", "redeployed"]}));
    let art = |id: &str, status: &str, at: i64| ArtifactFact {
        id: id.into(),
        name: None,
        artifact_type: None,
        status: Some(status.into()),
        error_text: None,
        deployed_at: Some(now() - chrono::Duration::hours(at)),
    };
    let mut f = facts();
    // First look: remembers the set, reports only what is in error.
    f.artifacts = vec![
        art("A", "STARTED", 5),
        art("B", "ERROR", 5),
        art("C", "STARTED", 5),
    ];
    let out = evaluate(&r, &f, now()).observations;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.get("condition"), Some("error"));
    f.artifact_memory = f.artifact_memory.advance(&f.artifacts, now(), DEFAULT_KEEP);
    // C undeployed, A redeployed.
    f.artifacts = vec![art("A", "STARTED", 0), art("B", "ERROR", 5)];
    let out = evaluate(&r, &f, now()).observations;
    let got: Vec<String> = out.iter().map(|o| o.key.identity()).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter()
            .any(|k| k.contains("\"C\"") && k.contains("undeployed"))
    );
    assert!(
        got.iter()
            .any(|k| k.contains("\"A\"") && k.contains("redeployed"))
    );
}

const DEFAULT_KEEP: Duration = Duration::from_secs(86_400);

#[test]
fn collection_health_conditions() {
    let r = rule(json!({"kind": "collection_health", "lag": "10m"}));
    let mut f = facts();
    f.status = Some(TenantStatus::Unreachable);
    f.status_message = Some("tenant: connection refused".into());
    f.collected_until = Some(now() - chrono::Duration::minutes(11));
    f.dead_letters = vec![
        (now() - chrono::Duration::minutes(5), "keystore".into()),
        (now() - chrono::Duration::hours(2), "keystore".into()),
    ];
    let out = evaluate(&r, &f, now()).observations;
    let conds: Vec<&str> = out
        .iter()
        .map(|o| o.key.get("condition").unwrap())
        .collect();
    assert_eq!(conds, ["unreachable", "lag", "dead_letters"]);
    assert_eq!(out[2].value, 1.0);
}

#[test]
fn later_kinds_say_not_evaluated() {
    let r = rule(json!({"kind": "no_messages"}));
    let e = evaluate(&r, &facts(), now());
    assert!(e.observations.is_empty());
    assert_eq!(
        e.skipped.as_deref(),
        Some("rule kind no_messages is not evaluated yet by this version")
    );
}

#[test]
fn windows_are_deduplicated() {
    let a = rule(json!({"kind": "message_failures", "window": "5m"}));
    let b = rule(json!({"kind": "error_rate", "window": "5m"}));
    let c = rule(json!({"kind": "error_rate", "window": "1h"}));
    assert_eq!(windows_needed([&a, &b, &c]), vec![300, 3600]);
}
