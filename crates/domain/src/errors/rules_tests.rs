use super::*;

const HTTP_401: &str = "HttpResponseException: HTTP operation failed invoking https://erp.example.com/api/orders/17 with statusCode: 401";
const HTTP_403: &str = "HttpResponseException: HTTP operation failed invoking https://erp.example.com/api/orders/18 with statusCode: 403";

fn ctx<'a>(iflow: &'a str, status: &'a str, text: &'a str) -> ErrorContext<'a> {
    ErrorContext {
        iflow,
        package: Some("OrderToCash"),
        status,
        text,
    }
}

fn rule(id: i64, fingerprint: &str) -> FingerprintRule {
    FingerprintRule {
        id,
        fingerprint: fingerprint.into(),
        ..Default::default()
    }
}

#[test]
fn without_rules_the_default_normalisation_decides() {
    let k = group_key(&[], &ctx("Orders", "FAILED", HTTP_401));
    let n = normalise(HTTP_401);
    assert_eq!(k.fingerprint, fingerprint(&n.template));
    assert_eq!(k.title, n.title);
    assert_eq!(k.template, n.template);
    assert_eq!(k.rule_id, None);
}

#[test]
fn a_regex_rule_merges_what_the_default_keeps_apart() {
    let auth = FingerprintRule {
        text_regex: Some(r"statusCode: 40[13]\b".into()),
        title: Some("ERP refuses our credentials".into()),
        ..rule(1, "erp-auth")
    };
    let rules = [auth];
    let a = group_key(&rules, &ctx("Orders", "FAILED", HTTP_401));
    let b = group_key(&rules, &ctx("Orders", "FAILED", HTTP_403));
    assert_ne!(
        group_key(&[], &ctx("Orders", "FAILED", HTTP_401)).fingerprint,
        group_key(&[], &ctx("Orders", "FAILED", HTTP_403)).fingerprint
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.rule_id, Some(1));
    assert_eq!(a.title, "ERP refuses our credentials");
    // The template is still the default one (the group's page shows it).
    assert_eq!(a.template, normalise(HTTP_401).template);
}

#[test]
fn the_first_matching_rule_wins() {
    let rules = [
        FingerprintRule {
            text_glob: Some("*statusCode: 401*".into()),
            ..rule(1, "first")
        },
        FingerprintRule {
            text_glob: Some("*HttpResponseException*".into()),
            ..rule(2, "second")
        },
    ];
    assert_eq!(
        group_key(&rules, &ctx("Orders", "FAILED", HTTP_401)).rule_id,
        Some(1)
    );
    assert_eq!(
        group_key(&rules, &ctx("Orders", "FAILED", HTTP_403)).rule_id,
        Some(2)
    );
    assert_eq!(
        group_key(&rules, &ctx("Orders", "FAILED", "other")).rule_id,
        None
    );
}

#[test]
fn every_condition_set_must_match() {
    let r = FingerprintRule {
        iflow: Some("Order*".into()),
        package: Some("OrderTo?ash".into()),
        status: Some("retry".into()),
        text_regex: Some("statusCode".into()),
        ..rule(3, "x")
    };
    let rules = [r];
    let hit = |iflow, package, status| {
        group_key(
            &rules,
            &ErrorContext {
                iflow,
                package,
                status,
                text: HTTP_401,
            },
        )
        .rule_id
        .is_some()
    };
    assert!(hit("Orders_In", Some("OrderToCash"), "RETRY"));
    assert!(!hit("Invoices", Some("OrderToCash"), "RETRY"));
    assert!(!hit("Orders_In", Some("Finance"), "RETRY"));
    // A rule on the package never matches a message whose package is unknown.
    assert!(!hit("Orders_In", None, "RETRY"));
    assert!(!hit("Orders_In", Some("OrderToCash"), "FAILED"));
}

#[test]
fn globs_match_the_whole_value_with_classes_and_escapes() {
    let matches = |glob: &str, value: &str| {
        let r = FingerprintRule {
            iflow: Some(glob.into()),
            ..rule(1, "x")
        };
        group_key(&[r], &ctx(value, "FAILED", "t"))
            .rule_id
            .is_some()
    };
    assert!(matches("Orders", "Orders"));
    assert!(!matches("Orders", "Orders_In"));
    assert!(matches("Order?_In", "Orders_In"));
    assert!(matches("Flow_[0-9]", "Flow_7"));
    assert!(!matches("Flow_[!0-9]", "Flow_7"));
    assert!(matches("Flow_[!0-9]", "Flow_x"));
    assert!(matches(r"Star\*", "Star*"));
    assert!(!matches(r"Star\*", "Stars"));
    assert!(matches("a.b", "a.b"));
    assert!(!matches("a.b", "axb"));
    // iFlow globs are case-sensitive (artifact ids are); text and status globs are not.
    assert!(!matches("orders", "Orders"));
    let text = FingerprintRule {
        text_glob: Some("*STATUSCODE: 401".into()),
        ..rule(2, "y")
    };
    assert!(
        group_key(&[text], &ctx("F", "FAILED", HTTP_401))
            .rule_id
            .is_some()
    );
}

#[test]
fn the_default_placeholder_refines_the_default_fingerprint() {
    // Split RETRY occurrences from FAILED ones, each still grouped by its normalised text.
    let r = FingerprintRule {
        status: Some("RETRY".into()),
        ..rule(4, "retry {{ default }}")
    };
    let rules = [r];
    let retry_401 = group_key(&rules, &ctx("F", "RETRY", HTTP_401));
    let retry_403 = group_key(&rules, &ctx("F", "RETRY", HTTP_403));
    let failed_401 = group_key(&rules, &ctx("F", "FAILED", HTTP_401));
    assert_ne!(retry_401.fingerprint, retry_403.fingerprint);
    assert_ne!(retry_401.fingerprint, failed_401.fingerprint);
    assert_eq!(failed_401.rule_id, None);
    // Another 401 text of the same problem lands with the first.
    let again = HTTP_401.replace("/17", "/99");
    assert_eq!(
        group_key(&rules, &ctx("F", "RETRY", &again)).fingerprint,
        retry_401.fingerprint
    );
}

#[test]
fn text_conditions_read_only_the_first_few_kb() {
    let far = format!("{} MARKER", "x".repeat(MAX_INPUT_BYTES));
    let r = FingerprintRule {
        text_regex: Some("MARKER".into()),
        ..rule(1, "m")
    };
    assert_eq!(group_key(&[r], &ctx("F", "FAILED", &far)).rule_id, None);
}

#[test]
fn a_bad_regex_is_a_clear_error() {
    let r = FingerprintRule {
        text_regex: Some("statusCode: (40[13]".into()),
        ..rule(7, "x")
    };
    let err = r.validate().unwrap_err();
    assert!(matches!(err, RuleError::BadRegex { rule: 7, .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("rule 7") && msg.contains("statusCode: (40[13]"),
        "{msg}"
    );
    // Look-around is not supported by the linear engine: refused, not silently ignored.
    let look = FingerprintRule {
        text_regex: Some("(?=x)".into()),
        ..rule(8, "x")
    };
    assert!(look.validate().is_err());
}

#[test]
fn a_bad_glob_is_a_clear_error() {
    for (glob, why) in [
        ("Flow_[0-9", "not closed"),
        (r"Flow\", "lone"),
        ("Flow_[z-a]", ""),
    ] {
        let r = FingerprintRule {
            iflow: Some(glob.into()),
            ..rule(9, "x")
        };
        let err = r.validate().unwrap_err();
        assert!(
            matches!(
                &err,
                RuleError::BadGlob {
                    rule: 9,
                    field: "iFlow",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn empty_fingerprint_no_condition_and_overlong_values_are_refused() {
    let no_fp = FingerprintRule {
        iflow: Some("F".into()),
        ..rule(1, "  ")
    };
    assert_eq!(
        no_fp.validate(),
        Err(RuleError::EmptyFingerprint { rule: 1 })
    );
    assert_eq!(
        rule(2, "x").validate(),
        Err(RuleError::NoCondition { rule: 2 })
    );
    let long = FingerprintRule {
        iflow: Some("F".into()),
        title: Some("t".repeat(MAX_RULE_VALUE + 1)),
        ..rule(3, "x")
    };
    assert_eq!(
        long.validate(),
        Err(RuleError::TooLong {
            rule: 3,
            field: "title"
        })
    );
    let ok = FingerprintRule {
        iflow: Some("F".into()),
        ..rule(4, "x")
    };
    assert_eq!(ok.validate(), Ok(()));
}

#[test]
fn invalid_stored_rules_are_skipped_not_fatal() {
    let rules = [
        FingerprintRule {
            text_regex: Some("(".into()),
            ..rule(1, "broken")
        },
        FingerprintRule {
            text_glob: Some("*401*".into()),
            ..rule(2, "ok")
        },
    ];
    assert!(RuleSet::compile(&rules).is_err());
    let (set, errors) = RuleSet::compile_lenient(&rules);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        set.group_key(&ctx("F", "FAILED", HTTP_401)).rule_id,
        Some(2)
    );
    assert_eq!(
        group_key(&rules, &ctx("F", "FAILED", HTTP_401)).rule_id,
        Some(2)
    );
}

#[test]
fn nested_quantifiers_stay_linear_on_a_long_text() {
    // `(a*)*b` backtracks exponentially in backtracking engines; here it is a finite automaton.
    let r = FingerprintRule {
        text_regex: Some("(a*)*b".into()),
        ..rule(1, "x")
    };
    let text = "a".repeat(MAX_INPUT_BYTES);
    assert_eq!(group_key(&[r], &ctx("F", "FAILED", &text)).rule_id, None);
}

#[test]
fn the_no_text_key_is_its_own_group() {
    let k = GroupKey::no_text();
    assert_eq!(k.fingerprint, NO_TEXT_FINGERPRINT);
    assert_eq!(k.title, "No error text yet");
    // No text, however normalised, has that fingerprint.
    assert_ne!(
        group_key(&[], &ctx("F", "FAILED", "")).fingerprint,
        k.fingerprint
    );
}

#[test]
fn the_regex_set_agrees_with_rule_by_rule_matching() {
    let rules = [
        FingerprintRule {
            status: Some("RETRY".into()),
            text_glob: Some("*statuscode: 40?*".into()),
            ..rule(1, "a")
        },
        FingerprintRule {
            text_regex: Some(r"orders/1[0-9]\b".into()),
            text_glob: Some("HttpResponseException*".into()),
            ..rule(2, "b")
        },
        FingerprintRule {
            text_regex: Some("statusCode: 403".into()),
            ..rule(3, "c")
        },
        FingerprintRule {
            iflow: Some("Other".into()),
            ..rule(4, "d")
        },
    ];
    let with_set = RuleSet::compile(&rules).unwrap();
    assert!(with_set.text_set.is_some());
    let one_by_one = RuleSet {
        text_set: None,
        ..with_set.clone()
    };
    let mut decided = Vec::new();
    for text in [HTTP_401, HTTP_403, "statusCode: 403", "nothing", ""] {
        for status in ["RETRY", "FAILED"] {
            for iflow in ["Orders", "Other"] {
                let c = ctx(iflow, status, text);
                let (a, b) = (with_set.group_key(&c), one_by_one.group_key(&c));
                assert_eq!(a, b, "{iflow} {status} {text}");
                decided.push(a.rule_id);
            }
        }
    }
    // Every rule decides somewhere, and the default too.
    for id in [Some(1), Some(2), Some(3), Some(4), None] {
        assert!(decided.contains(&id), "{id:?} never decided");
    }
}
