use super::*;

fn spec(kind: &str) -> RuleSpec {
    RuleSpec {
        name: "r".into(),
        kind: kind.into(),
        ..Default::default()
    }
}

#[test]
fn the_issue_example_reads_with_defaults() {
    let json = serde_json::json!({
        "name": "failed-messages", "kind": "message_failures", "tenant": "demo",
        "threshold": 1, "window": "5m", "severity": "high"
    });
    let r: RuleSpec = serde_json::from_value(json).unwrap();
    let rule = r.validate().unwrap();
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.scope.tenant.as_deref(), Some("demo"));
    assert_eq!(
        rule.kind,
        RuleKind::MessageFailures {
            statuses: vec![MessageStatus::Failed],
            threshold: 1,
            window: Duration::from_secs(300),
            per: Per::Iflow
        }
    );
    let c: RuleSpec = serde_json::from_value(serde_json::json!({
        "name": "certificates", "kind": "certificate_expiry", "tenant": "demo",
        "days": 30, "severity": "medium"
    }))
    .unwrap();
    assert_eq!(
        c.validate().unwrap().kind,
        RuleKind::CertificateExpiry {
            days: 30,
            ladder: vec![14, 7, 1]
        }
    );
}

#[test]
fn unknown_keys_are_refused() {
    let e = serde_json::from_value::<RuleSpec>(serde_json::json!({
        "name": "x", "kind": "error_rate", "treshold": 3
    }))
    .unwrap_err();
    assert!(e.to_string().contains("treshold"), "{e}");
}

#[test]
fn every_bad_field_is_named() {
    let s = RuleSpec {
        name: "".into(),
        window: Some("5 minutes".into()),
        severity: Some("critical".into()),
        tags: vec!["team=a".into(), "bad".into()],
        statuses: vec!["FAILD".into()],
        days: Some(3),
        ..spec("message_failures")
    };
    let errors = s.validate().unwrap_err().prefixed("rules[2].");
    let text = errors.to_string();
    for want in [
        "rules[2].name: is required",
        "rules[2].window: \"5 minutes\" is not a duration like 5m",
        "rules[2].severity: \"critical\" is not one of low, medium, high",
        "rules[2].tags[1]:",
        "rules[2].statuses[0]: \"FAILD\" is not a message status",
        "rules[2].days: is not a parameter of kind message_failures",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
}

#[test]
fn unknown_kind_and_parameters_of_other_kinds() {
    let e = spec("cpu").validate().unwrap_err().to_string();
    assert!(e.starts_with("kind: \"cpu\" is not a rule kind"), "{e}");
    let s = RuleSpec {
        on: vec!["new".into(), "gone".into()],
        ..spec("error_group")
    };
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("on[1]: \"gone\" is not one of new, regressed, escalating"));
}

#[test]
fn later_kinds_are_accepted_but_not_evaluated() {
    let r = spec("no_messages").validate().unwrap();
    assert_eq!(r.kind, RuleKind::NotEvaluatedYet("no_messages".into()));
    let r = spec("tenant_resources").validate().unwrap();
    assert_eq!(r.kind, RuleKind::NotEvaluatedYet("tenant_resources".into()));
}

#[test]
fn defaults_per_kind() {
    assert_eq!(
        spec("artifact_status").validate().unwrap().severity,
        Severity::Low
    );
    match spec("error_group").validate().unwrap().kind {
        RuleKind::ErrorGroup { on, resolve_after } => {
            assert_eq!(on.len(), 3);
            assert_eq!(resolve_after, DEFAULT_RESOLVE_AFTER);
        }
        k => panic!("{k:?}"),
    }
    let bad_ladder = RuleSpec {
        ladder: vec![7, 14],
        ..spec("certificate_expiry")
    };
    assert!(bad_ladder.validate().is_err());
    let bad_pct = RuleSpec {
        percent: Some(0.0),
        ..spec("error_rate")
    };
    assert!(
        bad_pct
            .validate()
            .unwrap_err()
            .to_string()
            .contains("percent")
    );
}

#[test]
fn scope_globs_and_tags() {
    let s = RuleSpec {
        iflow: Some("Order*".into()),
        tags: vec!["team=finance".into()],
        ..spec("message_failures")
    };
    let r = s.validate().unwrap();
    assert!(r.scope.covers_iflow("Order_Create", None));
    assert!(r.scope.covers_iflow("x", Some("Order sync")));
    assert!(!r.scope.covers_iflow("Invoice", Some("Invoice")));
    let fin = Labels::new().with("team", "finance").unwrap();
    assert!(r.scope.covers_tenant("any", &fin));
    assert!(!r.scope.covers_tenant("any", &Labels::new()));
}

#[test]
fn default_rules_validate() {
    let rules = default_rules("demo");
    assert_eq!(rules.len(), 4);
    for r in rules {
        assert!(r.name.starts_with("default-"));
        r.validate().unwrap();
    }
}
