//! The alert engine on SQLite and PostgreSQL: rules over stored data, the lifecycle across
//! evaluations (pending, firing, flapping held, acknowledged, resolved), silences, built-in
//! inhibition, default rules, and concurrent evaluators of one tenant.

#[macro_use]
#[path = "../../store/tests/support/mod.rs"]
mod support;

use chrono::{DateTime, Duration, Utc};
use domain::MessageStatus;
use domain::alerts::AlertState;
use domain::alerts::rule::RuleSpec;
use domain::alerts::silence::SilenceSpec;
use domain::artifact::{RuntimeArtifact, RuntimeStatus};
use domain::keystore::KeystoreEntry;
use domain::message::Message;
use domain::tenant::{Tenant, TenantStatus};
use integramon_ingest_worker::alerts::{WATCHDOG_IDENTITY, evaluate_tenant};
use store::Db;
use store::repo::alerts::instances::{self, AlertRow, Filter};
use store::repo::alerts::{rules, silences, transitions};
use store::repo::messages::{self, PageMessage};
use store::repo::{artifacts, tenants};
use support::{Target, t, tenant};

/// Two minutes past an hour: a 5-minute window spans the rollup's current hour and the end of
/// the previous one, read from the messages themselves.
fn now() -> DateTime<Utc> {
    t(3 * 3600 + 120)
}

fn at(secs: i64) -> DateTime<Utc> {
    now() + Duration::seconds(secs)
}

async fn load(db: &Db, id: i64) -> Tenant {
    tenants::get(db, id).await.unwrap().unwrap()
}

async fn store_messages(db: &Db, tenant_id: i64, list: &[(&str, &str, MessageStatus, i64)]) {
    let page: Vec<PageMessage> = list
        .iter()
        .map(|(guid, iflow, status, end)| {
            let mut m = Message::new(*guid, status.clone());
            m.log_start = Some(at(*end - 1));
            m.log_end = Some(at(*end));
            m.iflow_id = Some((*iflow).into());
            m.iflow_name = Some(format!("{iflow} name"));
            m.package_id = Some("pkg".into());
            PageMessage {
                message: m,
                headers: None,
            }
        })
        .collect();
    messages::write_page(db, tenant_id, &page).await.unwrap();
}

async fn rule(db: &Db, json: serde_json::Value) {
    let spec: RuleSpec = serde_json::from_value(json).unwrap();
    spec.validate().unwrap();
    rules::upsert(db, &spec, "test", now()).await.unwrap();
}

async fn alerts_of(db: &Db, rule: &str) -> Vec<AlertRow> {
    instances::list(
        db,
        &Filter {
            rule: Some(rule.into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn moves(db: &Db, alert: i64) -> Vec<(Option<AlertState>, AlertState)> {
    transitions::of_alert(db, alert)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.from, t.to))
        .collect()
}

async fn eval(db: &Db, tid: i64, when: DateTime<Utc>) {
    evaluate_tenant(db, &load(db, tid).await, when)
        .await
        .unwrap();
}

async fn failures_fire_once_and_repeats_update_the_alert(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    store_messages(
        &db,
        tid,
        &[
            // Before the hour (read from the messages) and after it (from the rollup).
            ("F1", "flow_a", MessageStatus::Failed, -200),
            ("F2", "flow_a", MessageStatus::Failed, -60),
            ("C1", "flow_a", MessageStatus::Completed, -30),
            ("OLD", "flow_b", MessageStatus::Failed, -400),
        ],
    )
    .await;
    let report = evaluate_tenant(&db, &load(&db, tid).await, now())
        .await
        .unwrap();
    assert_eq!(report.defaults_created, 4, "{report:?}");
    let list = alerts_of(&db, "default-failures-demo").await;
    assert_eq!(list.len(), 1, "one alert: flow_b's failure is outside 5m");
    let a = &list[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.identity, r#"iflow="flow_a",tenant="demo""#);
    assert_eq!(a.value, 2.0);
    assert_eq!(a.count, 1);
    assert_eq!(a.labels.get("tenant"), Some("demo"));
    assert_eq!(moves(&db, a.id).await, [(None, AlertState::Firing)]);

    // A repeat updates the same alert: count and last seen, no new transition.
    store_messages(&db, tid, &[("F3", "flow_a", MessageStatus::Failed, 5)]).await;
    eval(&db, tid, at(10)).await;
    let list = alerts_of(&db, "default-failures-demo").await;
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].count, list[0].value), (2, 3.0));
    assert_eq!(list[0].last_seen_at, at(10));
    // The same sighting again counts nothing.
    eval(&db, tid, at(11)).await;
    assert_eq!(alerts_of(&db, "default-failures-demo").await[0].count, 2);
    assert_eq!(moves(&db, a.id).await.len(), 1);

    // Out of the window: resolved (keep_firing_for is 0 by default).
    eval(&db, tid, at(600)).await;
    let list = alerts_of(&db, "default-failures-demo").await;
    assert_eq!(list[0].state, AlertState::Resolved);
    assert_eq!(list[0].resolved_at, Some(at(600)));
    assert_eq!(
        moves(&db, a.id).await,
        [
            (None, AlertState::Firing),
            (Some(AlertState::Firing), AlertState::Resolved)
        ]
    );
    // New failures later open a new alert; the resolved one stays as history.
    store_messages(&db, tid, &[("F4", "flow_a", MessageStatus::Failed, 700)]).await;
    eval(&db, tid, at(710)).await;
    let list = alerts_of(&db, "default-failures-demo").await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].state, AlertState::Firing);

    // The watchdog fires while evaluation runs: one alert, never duplicated.
    let watchdog = alerts_of(&db, rules::WATCHDOG).await;
    assert_eq!(watchdog.len(), 1);
    assert_eq!(watchdog[0].identity, WATCHDOG_IDENTITY);
    assert_eq!(watchdog[0].state, AlertState::Firing);
}
on_both!(failures_fire_once_and_repeats_update_the_alert);

/// Tenant reachability is easy to flip, so the lifecycle is driven with it.
async fn set_unreachable(db: &Db, tid: i64, down: bool) {
    let status = if down {
        TenantStatus::Unreachable
    } else {
        TenantStatus::Ok
    };
    tenants::set_status(db, tid, status, down.then_some("tenant: refused"), now())
        .await
        .unwrap();
}

async fn pending_firing_flapping_held_acknowledged_resolved(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    rule(
        &db,
        serde_json::json!({
            "name": "down", "kind": "collection_health", "on": ["unreachable"],
            "for": "1m", "keep_firing_for": "5m", "severity": "high"
        }),
    )
    .await;
    set_unreachable(&db, tid, true).await;
    eval(&db, tid, at(0)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!(a.state, AlertState::Pending);
    eval(&db, tid, at(30)).await;
    assert_eq!(alerts_of(&db, "down").await[0].state, AlertState::Pending);
    eval(&db, tid, at(60)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.firing_at, Some(at(60)));

    // Flapping: down, up, down within keep_firing_for never resolves nor reopens.
    set_unreachable(&db, tid, false).await;
    eval(&db, tid, at(120)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!(
        (a.state, a.recovering_since),
        (AlertState::Firing, Some(at(120)))
    );
    set_unreachable(&db, tid, true).await;
    eval(&db, tid, at(180)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!((a.state, a.recovering_since), (AlertState::Firing, None));

    // Acknowledged with a comment; it stays acknowledged while the condition holds.
    let refused = instances::acknowledge(&db, a.id, "ann", " ", None, at(200))
        .await
        .unwrap();
    assert!(refused.is_err());
    instances::acknowledge(&db, a.id, "ann", "network team on it", None, at(200))
        .await
        .unwrap()
        .unwrap();
    eval(&db, tid, at(240)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!(a.state, AlertState::Acknowledged);
    assert_eq!(a.ack_comment.as_deref(), Some("network team on it"));

    // Up for keep_firing_for: resolved.
    set_unreachable(&db, tid, false).await;
    eval(&db, tid, at(300)).await;
    eval(&db, tid, at(599)).await;
    assert_eq!(
        alerts_of(&db, "down").await[0].state,
        AlertState::Acknowledged
    );
    eval(&db, tid, at(600)).await;
    let a = alerts_of(&db, "down").await.remove(0);
    assert_eq!(a.state, AlertState::Resolved);
    let log = transitions::of_alert(&db, a.id).await.unwrap();
    let states: Vec<_> = log.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        states,
        [
            (None, AlertState::Pending),
            (Some(AlertState::Pending), AlertState::Firing),
            (Some(AlertState::Firing), AlertState::Acknowledged),
            (Some(AlertState::Acknowledged), AlertState::Resolved),
        ]
    );
    assert_eq!(log[2].actor, "ann");
    assert_eq!(log[3].cause, "condition false for 5m");
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));
}
on_both!(pending_firing_flapping_held_acknowledged_resolved);

async fn concurrent_evaluators_never_duplicate(db: Db, target: Target) {
    let tid = tenant(&db, "demo").await;
    store_messages(
        &db,
        tid,
        &[
            ("F1", "flow_a", MessageStatus::Failed, -10),
            ("F2", "flow_b", MessageStatus::Failed, -10),
            ("F3", "flow_c", MessageStatus::Failed, -10),
        ],
    )
    .await;
    // Every evaluator on its own pool, as separate workers would be.
    let mut pools = Vec::new();
    for _ in 0..4 {
        pools.push(support::open(&target.settings()).await);
    }
    for when in [at(0), at(1), at(600)] {
        let tenant = load(&db, tid).await;
        let runs = pools.iter().map(|p| {
            let (p, tenant) = (p.clone(), tenant.clone());
            tokio::spawn(async move { evaluate_tenant(&p, &tenant, when).await })
        });
        for r in futures::future::join_all(runs).await {
            r.unwrap().unwrap();
        }
    }
    let list = alerts_of(&db, "default-failures-demo").await;
    assert_eq!(list.len(), 3, "one alert per iFlow, never two: {list:#?}");
    for a in &list {
        assert_eq!(a.state, AlertState::Resolved);
        assert_eq!(a.count, 1, "the same sighting is counted once");
        assert_eq!(
            moves(&db, a.id).await,
            [
                (None, AlertState::Firing),
                (Some(AlertState::Firing), AlertState::Resolved)
            ],
            "no double transitions"
        );
    }
    assert_eq!(alerts_of(&db, rules::WATCHDOG).await.len(), 1);
    assert_eq!(rules::list(&db).await.unwrap().len(), 5, "defaults once");
}
on_both!(concurrent_evaluators_never_duplicate);

async fn silences_mute_and_expire_when_their_alerts_resolve(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    let spec = SilenceSpec {
        name: "upgrade".into(),
        matchers: vec!["tenant=demo".into(), "iflow=~\"flow_.*\"".into()],
        starts_at: Some(at(-60)),
        ends_at: at(3600),
        comment: "planned upgrade".into(),
        expire_on_resolve: true,
    };
    let s = spec.validate("ann", at(-60)).unwrap();
    let sid = silences::create(&db, &s, at(-60)).await.unwrap();
    eval(&db, tid, at(0)).await;
    store_messages(&db, tid, &[("F1", "flow_a", MessageStatus::Failed, 5)]).await;
    eval(&db, tid, at(10)).await;
    let a = alerts_of(&db, "default-failures-demo").await.remove(0);
    assert_eq!(a.state, AlertState::Firing, "silenced alerts stay listed");
    assert_eq!(a.muted_by.as_deref(), Some("silenced by upgrade"));
    let running = silences::current(&db, at(10)).await.unwrap();
    assert_eq!(running.len(), 1);
    assert!(running[0].muted_any || silences::list(&db).await.unwrap()[0].muted_any);
    // Resolved: the silence ends with it.
    eval(&db, tid, at(600)).await;
    let all = silences::list(&db).await.unwrap();
    let stored = all.iter().find(|x| x.id == sid).unwrap();
    assert_eq!(stored.silence.expired_at, Some(at(600)));
    assert!(silences::current(&db, at(601)).await.unwrap().is_empty());
}
on_both!(silences_mute_and_expire_when_their_alerts_resolve);

async fn unreachable_tenant_inhibits_its_error_rate_alerts(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    rule(
        &db,
        serde_json::json!({"name": "rate", "kind": "error_rate", "percent": 50, "min_messages": 2}),
    )
    .await;
    store_messages(
        &db,
        tid,
        &[
            ("F1", "flow_a", MessageStatus::Failed, -10),
            ("C1", "flow_a", MessageStatus::Completed, -10),
        ],
    )
    .await;
    eval(&db, tid, at(0)).await;
    let a = alerts_of(&db, "rate").await.remove(0);
    assert_eq!((a.state, a.value), (AlertState::Firing, 50.0));
    assert_eq!(a.muted_by, None);
    set_unreachable(&db, tid, true).await;
    eval(&db, tid, at(5)).await;
    let a = alerts_of(&db, "rate").await.remove(0);
    assert_eq!(
        a.muted_by.as_deref(),
        Some("inhibited by tenant demo unreachable")
    );
    // The failures alert is not inhibited by it.
    let f = alerts_of(&db, "default-failures-demo").await.remove(0);
    assert_eq!(f.muted_by, None);
}
on_both!(unreachable_tenant_inhibits_its_error_rate_alerts);

async fn certificates_and_artifacts_from_the_stored_sets(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    let cert = |alias: &str, days: i64| KeystoreEntry {
        alias: alias.into(),
        hex_alias: hex(alias),
        entry_type: Some("Certificate".into()),
        owner: None,
        key_type: None,
        key_size: None,
        valid_not_before: None,
        valid_not_after: Some(now() + Duration::days(days)),
        subject_dn: Some("CN=x".into()),
        issuer_dn: None,
        serial_number: None,
        signature_algorithm: None,
        fingerprint_sha256: None,
        last_modified_by: None,
        last_modified_at: None,
    };
    artifacts::replace_keystore(&db, tid, &[cert("soon", 5), cert("later", 90)], now())
        .await
        .unwrap();
    let mut bad = RuntimeArtifact::new("flow_x");
    bad.status = Some(RuntimeStatus::Error);
    bad.error_text = Some("adapter missing".into());
    let mut ok = RuntimeArtifact::new("flow_y");
    ok.status = Some(RuntimeStatus::Started);
    artifacts::replace_runtime_artifacts(&db, tid, &[bad, ok], now())
        .await
        .unwrap();
    eval(&db, tid, now()).await;
    let certs = alerts_of(&db, "default-certificates-demo").await;
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].identity, r#"alias="soon",tenant="demo""#);
    // Medium by default, two ladder steps (14 and 7 days) up: high.
    assert_eq!(certs[0].severity, domain::alerts::Severity::High);
    let arts = alerts_of(&db, "default-artifacts-demo").await;
    assert_eq!(arts.len(), 1);
    assert!(
        arts[0].summary.contains("adapter missing"),
        "{}",
        arts[0].summary
    );
    assert_eq!(arts[0].severity, domain::alerts::Severity::Low);
}
on_both!(certificates_and_artifacts_from_the_stored_sets);

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

async fn default_rules_are_created_once(db: Db, _: Target) {
    let tid = tenant(&db, "demo").await;
    eval(&db, tid, now()).await;
    assert!(rules::delete(&db, "default-failures-demo").await.unwrap());
    eval(&db, tid, at(60)).await;
    assert!(
        rules::get_by_name(&db, "default-failures-demo")
            .await
            .unwrap()
            .is_none(),
        "a deleted default rule stays deleted"
    );
    // A later kind is accepted and reported as not evaluated, its alerts left alone.
    rule(
        &db,
        serde_json::json!({"name": "quiet", "kind": "no_messages"}),
    )
    .await;
    let report = evaluate_tenant(&db, &load(&db, tid).await, at(120))
        .await
        .unwrap();
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s == "quiet: rule kind no_messages is not evaluated yet by this version"),
        "{report:?}"
    );
}
on_both!(default_rules_are_created_once);

async fn hot_trigger_queues_at_most_one_evaluation_per_tenant(db: Db, _: Target) {
    use integramon_ingest_worker::alerts::{Trigger, request_evaluation};
    use queue::{InProcessQueue, JobQueue, QueueConfig};
    use store::repo::job_runs;
    let tid = tenant(&db, "demo").await;
    let other = tenant(&db, "other").await;
    let queue = std::sync::Arc::new(InProcessQueue::new(QueueConfig::default()).unwrap());
    let trigger = Trigger {
        queue: queue.clone(),
        prefix: "integramon".into(),
    };
    assert!(request_evaluation(&db, &trigger, tid).await.unwrap());
    // One is queued: neither a second request for the tenant nor a concurrent one queues more.
    let again =
        futures::future::join_all((0..3).map(|_| request_evaluation(&db, &trigger, tid))).await;
    assert!(again.into_iter().all(|r| !r.unwrap()));
    // Another tenant is not held back.
    assert!(request_evaluation(&db, &trigger, other).await.unwrap());
    let depth = queue
        .depths()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.queue == "integramon.alerts")
        .unwrap();
    assert_eq!(depth.messages, 2);
    let runs = job_runs::list_recent(&db, Some(tid), Some("alerts"), 10)
        .await
        .unwrap();
    let active: Vec<_> = runs.iter().filter(|r| r.state.is_active()).collect();
    assert_eq!(active.len(), 1, "{runs:?}");
    // Once it has run, the next request queues again.
    job_runs::mark_succeeded(&db, &active[0].job_id, &serde_json::json!({}), Utc::now())
        .await
        .unwrap();
    assert!(request_evaluation(&db, &trigger, tid).await.unwrap());
}
on_both!(hot_trigger_queues_at_most_one_evaluation_per_tenant);

async fn error_group_rule_fires_on_new_and_regressed_groups(db: Db, _: Target) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    use store::entity::{error_group_events, error_groups};
    let tid = tenant(&db, "demo").await;
    rule(
        &db,
        serde_json::json!({"name": "groups", "kind": "error_group", "resolve_after": "1h"}),
    )
    .await;
    let group = |fp: &str, state: &str, first_seen: DateTime<Utc>| error_groups::ActiveModel {
        tenant_id: Set(tid),
        iflow_id: Set("flow_a".into()),
        package_id: Set(Some("pkg".into())),
        fingerprint: Set(fp.into()),
        grouping_version: Set(1),
        rule_id: Set(None),
        title: Set(format!("HTTP 500 {fp}")),
        template: Set("t".into()),
        sample_text: Set(None),
        sample_message_id: Set(None),
        state: Set(state.into()),
        state_changed_at: Set(first_seen),
        resolved_at: Set(None),
        resolve_mode: Set(None),
        resolved_deployed_at: Set(None),
        ignore_until: Set(None),
        ignored_at: Set(None),
        ignored_occurrences: Set(0),
        total_occurrences: Set(1),
        first_seen: Set(first_seen),
        last_seen: Set(first_seen),
        merged_into: Set(None),
        created_at: Set(first_seen),
        ..Default::default()
    };
    let fresh = group("new1", "new", at(-60))
        .insert(db.conn())
        .await
        .unwrap();
    let old = group("old", "regressed", at(-86_400))
        .insert(db.conn())
        .await
        .unwrap();
    group("quiet", "ongoing", at(-86_400))
        .insert(db.conn())
        .await
        .unwrap();
    error_group_events::ActiveModel {
        group_id: Set(old.id),
        at: Set(at(-30)),
        actor: Set("system".into()),
        action: Set("regressed".into()),
        from_state: Set(Some("resolved".into())),
        to_state: Set(Some("regressed".into())),
        comment: Set(None),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
    eval(&db, tid, now()).await;
    let mut ids: Vec<String> = alerts_of(&db, "groups")
        .await
        .iter()
        .map(|a| a.labels.get("error_group").unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![fresh.id.to_string(), old.id.to_string()];
    want.sort();
    assert_eq!(
        ids, want,
        "the new and the regressed group, not the quiet one"
    );
    // An hour after the events (resolve_after), both resolve.
    eval(&db, tid, at(3600)).await;
    assert!(
        alerts_of(&db, "groups")
            .await
            .iter()
            .all(|a| a.state == AlertState::Resolved)
    );
}
on_both!(error_group_rule_fires_on_new_and_regressed_groups);
