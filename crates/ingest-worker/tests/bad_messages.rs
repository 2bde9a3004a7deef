//! A tenant must never stall on one bad message (issue 12, item 3), on SQLite and PostgreSQL:
//! bad records in a list page are stored (not the page failed), one message whose details keep
//! failing is recorded and retried a bounded number of times while its window completes and
//! the watermark moves, and a tenant whose collection keeps failing shows as `stuck`, with the
//! reason, even while its other jobs succeed.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use common::client;
use cpi_sim::{Fault, Sim, SimConfig, SimHandle};
use domain::MessageStatus;
use domain::job::{JobEnvelope, JobOutcome, JobType, RetryTiers, TenantRef};
use domain::secret::SecretKey;
use domain::tenant::{Auth as TenantAuth, Tenant, TenantSettings, TenantStatus};
use integramon_ingest_worker::jobs::Worker;
use integramon_ingest_worker::messages::{self, MessageOptions};
use integramon_ingest_worker::tenants::{ClientOptions, Clients};
use queue::Delivery;
use sea_orm::ConnectionTrait;
use serde_json::json;
use store::repo::monitor::{self, MessageFilter, Sort};
use store::repo::{detail_failures, messages as stored, tenants};
use store::{Db, on_both};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn tenant(db: &Db, name: &str, api_url: &str) -> Tenant {
    tenant_with_secret(db, name, api_url, None).await
}

async fn tenant_with_secret(db: &Db, name: &str, api_url: &str, sealed: Option<&str>) -> Tenant {
    let settings = TenantSettings::new(
        name,
        api_url,
        TenantAuth::Basic {
            username: "sim".into(),
        },
    );
    tenants::create(db, &settings, sealed)
        .await
        .expect("tenant")
}

fn incompressible(chars: usize) -> String {
    let mut s = String::with_capacity(chars + 32);
    while s.len() < chars {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(chars);
    s
}

fn odata_date(t: DateTime<Utc>) -> String {
    format!("/Date({})/", t.timestamp_millis())
}

fn at(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap() + chrono::Duration::minutes(min)
}

/// One list page with bad records in it: a 3,000-character application id, correlation id,
/// iFlow and package, a GUID with NUL, a 1 MB custom header value; and a plain message.
async fn bad_records_in_a_page_are_stored(db: Db) {
    let server = MockServer::start().await;
    let long_app = incompressible(3000);
    let long_corr = incompressible(3000);
    let long_flow = incompressible(3000);
    let big_value = incompressible(1 << 20);
    let record = |guid: &str, min: i64| {
        json!({
            "MessageGuid": guid,
            "CorrelationId": format!("corr-{min}"),
            "LogStart": odata_date(at(min)),
            "LogEnd": odata_date(at(min)),
            "Status": "COMPLETED",
            "IntegrationArtifact": {"Id": "flow", "Name": "Flow", "Type": "INTEGRATION_FLOW"},
            "CustomHeaderProperties": {"results": [{"Id": format!("h{min}"), "Name": "Order", "Value": format!("ORD-{min}")}]},
        })
    };
    let mut ids = record("ids", 1);
    ids["ApplicationMessageId"] = json!(long_app);
    ids["CorrelationId"] = json!(long_corr);
    let mut flow = record("flow", 2);
    flow["IntegrationArtifact"] = json!({"Id": long_flow, "PackageId": incompressible(3000)});
    let nul = record("nul\u{0}guid", 3);
    let mut big = record("big", 4);
    big["CustomHeaderProperties"] =
        json!({"results": [{"Id": "hbig", "Name": "Big", "Value": big_value}]});
    let plain = record("plain", 5);
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "d": {"results": [ids, flow, nul, big, plain]}
        })))
        .mount(&server)
        .await;
    let t = tenant(&db, "bad", &server.uri()).await;
    let report = messages::sync_range(
        &db,
        &client(&server.uri()),
        &t,
        &MessageOptions::default(),
        at(0),
        at(60),
        |_| {},
    )
    .await
    .expect("the page is stored despite its bad records");
    assert_eq!(report.inserted, 5, "{report:?}");

    let find = |set: &(dyn Fn(&mut MessageFilter) + Sync)| {
        let mut f = MessageFilter::tenants([t.id]);
        set(&mut f);
        f
    };
    let guids = |f: MessageFilter| {
        let db = db.clone();
        async move {
            monitor::search(&db, &f, Sort::NewestFirst, None, 10)
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|r| r.message_guid)
                .collect::<Vec<_>>()
        }
    };
    // The tenant's full values find the messages.
    assert_eq!(
        guids(find(&|f| f.application_id = Some(long_app.clone()))).await,
        ["ids"]
    );
    assert_eq!(
        guids(find(&|f| f.correlation_id = Some(long_corr.clone()))).await,
        ["ids"]
    );
    assert_eq!(
        guids(find(&|f| f.iflow_id = Some(long_flow.clone()))).await,
        ["flow"]
    );
    assert_eq!(
        guids(find(&|f| f.message_guid = Some("nul\u{0}guid".into()))).await,
        ["nul\u{FFFD}guid"]
    );
    let by_header = guids(find(&|f| {
        f.header_name = Some("Big".into());
        f.header_value = Some(big_value.clone());
    }))
    .await;
    assert_eq!(by_header, ["big"]);
    let big_id = stored::find_message(&db, t.id, "big")
        .await
        .unwrap()
        .unwrap()
        .id;
    let detail = monitor::detail(&db, &[t.id], big_id)
        .await
        .unwrap()
        .unwrap();
    let value = detail.headers[0].value.clone().unwrap();
    assert!(value.len() <= domain::limits::HEADER_VALUE_MAX_BYTES);
    assert!(value.ends_with("…[cut: 1048576 bytes]"));

    // Read again (the overlap of the next run): nothing changes, nothing fails.
    let again = messages::sync_range(
        &db,
        &client(&server.uri()),
        &t,
        &MessageOptions::default(),
        at(0),
        at(60),
        |_| {},
    )
    .await
    .expect("read again");
    assert_eq!((again.inserted, again.unchanged), (0, 5), "{again:?}");
}
on_both!(bad_records_in_a_page_are_stored);

/// A simulated tenant with a few hours of traffic, settled.
async fn sim() -> SimHandle {
    let config = SimConfig::default()
        .with_seed(12)
        .with_rate(0.05)
        .with_history(Duration::from_secs(3 * 3600));
    Sim::start(config, "127.0.0.1:0").await.expect("sim")
}

/// One FAILED message whose `ErrorInformation` keeps answering 500: the window completes, every
/// other message gets its details, the failure is recorded with the message (and shown), tried
/// again a bounded number of times, and a later success clears it.
async fn a_message_whose_details_keep_failing_does_not_fail_the_window(db: Db) {
    let sim = sim().await;
    let to = sim.now() - chrono::Duration::minutes(30);
    let from = to - chrono::Duration::hours(2);
    let truth = sim.truth_between(from, to);
    let bad = truth
        .messages
        .iter()
        .find(|m| m.status == MessageStatus::Failed && m.has_error_information)
        .expect("a failed message")
        .message_guid
        .clone();
    let wanting = truth
        .messages
        .iter()
        .filter(|m| m.status.wants_details())
        .count() as u64;
    assert!(wanting > 1, "{wanting}");
    sim.inject_on(
        &format!("MessageProcessingLogs('{bad}')/ErrorInformation"),
        Fault::ServerError {
            count: 1000,
            status: 500,
        },
    );
    let t = tenant(&db, "sim", &sim.base_url()).await;
    let opts = MessageOptions::default();
    let client = client(&sim.base_url());
    let report = messages::sync_range(&db, &client, &t, &opts, from, to, |_| {})
        .await
        .expect("the window completes despite one message");
    assert_eq!(report.inserted as usize, truth.total, "{report:?}");
    assert_eq!(report.details, wanting - 1, "{report:?}");
    // Failed in the window, and once more at the end of the job.
    assert_eq!(
        (report.details_failed, report.details_retried),
        (2, 1),
        "{report:?}"
    );
    let id = stored::find_message(&db, t.id, &bad)
        .await
        .unwrap()
        .unwrap()
        .id;
    let failure = detail_failures::get_failure(&db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failure.attempts, 2, "{failure:?}");
    assert!(failure.error.contains("500"), "{failure:?}");
    let shown = monitor::detail(&db, &[t.id], id).await.unwrap().unwrap();
    assert_eq!(shown.details_failure.as_ref(), Some(&failure));
    assert_eq!(
        shown.message.status.as_deref(),
        Some("FAILED"),
        "the message is stored"
    );
    // Not due yet: the next job does not ask again.
    let next = messages::sync_range(&db, &client, &t, &opts, from, to, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (next.details_failed, next.details_retried),
        (0, 0),
        "{next:?}"
    );

    // Each later try is due after its pause; after MAX_ATTEMPTS the collector gives up.
    let due_now = |db: Db| async move {
        db.conn()
            .execute_unprepared(
                "UPDATE message_detail_failures SET next_attempt_at = last_failed_at \
                 WHERE next_attempt_at IS NOT NULL",
            )
            .await
            .unwrap();
    };
    for attempt in 3..=detail_failures::MAX_ATTEMPTS {
        due_now(db.clone()).await;
        let r = messages::sync_range(&db, &client, &t, &opts, to, to, |_| {})
            .await
            .unwrap();
        assert_eq!(r.details_retried, 1, "attempt {attempt}: {r:?}");
        let f = detail_failures::get_failure(&db, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.attempts, attempt);
    }
    let given_up = detail_failures::get_failure(&db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(given_up.next_attempt_at, None, "{given_up:?}");
    due_now(db.clone()).await;
    let r = messages::sync_range(&db, &client, &t, &opts, to, to, |_| {})
        .await
        .unwrap();
    assert_eq!(r.details_retried, 0, "given up: {r:?}");
    assert_eq!(
        detail_failures::counts(&db, t.id).await.unwrap(),
        (0, 1),
        "one given up"
    );

    // Once the tenant answers, fetching the details (a `message_details` job) clears it.
    sim.clear_faults();
    integramon_ingest_worker::details::sync_one(&db, &client, t.id, &bad)
        .await
        .expect("details");
    assert_eq!(detail_failures::get_failure(&db, id).await.unwrap(), None);
    sim.stop().await;
}
on_both!(a_message_whose_details_keep_failing_does_not_fail_the_window);

/// A worker as the daemon builds it, for `tenant`'s jobs, with `max_attempts` tries per job.
fn worker(db: &Db, key: SecretKey, max_attempts: u32) -> Worker {
    Worker {
        db: db.clone(),
        clients: Clients::new(
            key,
            ClientOptions {
                max_concurrent_requests: 2,
                sap_rate_limits: false,
                ..ClientOptions::default()
            },
        ),
        messages: MessageOptions::default(),
        name: "test-worker".into(),
        max_attempts,
        retry_tiers: RetryTiers::default(),
        slots: integramon_ingest_worker::fairness::TenantSlots::new(1),
        alerts: None,
    }
}

async fn run(worker: &Worker, tenant: i64, job_type: JobType, attempt: u32) -> JobOutcome {
    let mut job = JobEnvelope::new(job_type, TenantRef::Id(tenant), json!({}), Utc::now());
    job.attempt = attempt;
    let delivery = Delivery {
        queue: "test".into(),
        redelivered: false,
        celery_task: None,
    };
    runtime::runs::run_recorded(worker, job, delivery).await
}

/// Message collection that keeps failing shows the tenant as `stuck`, with the reason, even
/// while other jobs of the tenant succeed (before: their success set it back to `ok`); a
/// successful collection makes it `ok` again.
async fn a_tenant_whose_collection_keeps_failing_shows_as_stuck(db: Db) {
    let sim = sim().await;
    let key = SecretKey::generate().expect("key");
    let sealed = domain::secret::seal(&key, "sim").expect("seal");
    let w = worker(&db, key, 3);
    let t = tenant_with_secret(&db, "stuck", &sim.base_url(), Some(&sealed)).await;
    // Every list request of the hot sync is refused; the keystore still answers.
    sim.inject_on(
        "MessageProcessingLogs",
        Fault::ServerError {
            count: 10_000,
            status: 400,
        },
    );
    for attempt in 1..=3 {
        let outcome = run(&w, t.id, JobType::MessagesHot, attempt).await;
        assert!(
            matches!(outcome, JobOutcome::Fail { .. } | JobOutcome::Retry { .. }),
            "{outcome:?}"
        );
    }
    let outcome = run(&w, t.id, JobType::Keystore, 1).await;
    assert!(matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
    let now = tenants::get(&db, t.id).await.unwrap().unwrap();
    assert_eq!(now.status, TenantStatus::Stuck, "{now:?}");
    let reason = now.status_message.clone().unwrap_or_default();
    assert!(
        reason.contains("messages_hot") && reason.contains("400"),
        "the reason is named: {reason}"
    );

    sim.clear_faults();
    let outcome = run(&w, t.id, JobType::MessagesHot, 1).await;
    assert!(matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
    let now = tenants::get(&db, t.id).await.unwrap().unwrap();
    assert_eq!(now.status, TenantStatus::Ok, "{now:?}");
    sim.stop().await;
}
on_both!(a_tenant_whose_collection_keeps_failing_shows_as_stuck);

/// A job that sends the tenant no request (a payloads job with nothing to fetch) says nothing
/// about the tenant: it leaves an `unreachable` status and its reason as they were (before, its
/// success set the tenant back to `ok` between two failed collections, and the reason flickered
/// away); the next job that reaches the tenant does make it `ok`.
async fn a_job_that_calls_no_one_leaves_the_tenants_status(db: Db) {
    let sim = sim().await;
    let key = SecretKey::generate().expect("key");
    let sealed = domain::secret::seal(&key, "sim").expect("seal");
    let w = worker(&db, key, 5);
    let t = tenant_with_secret(&db, "quiet", &sim.base_url(), Some(&sealed)).await;
    sim.inject_on(
        "MessageProcessingLogs",
        Fault::ServerError {
            count: 10_000,
            status: 400,
        },
    );
    let outcome = run(&w, t.id, JobType::MessagesHot, 1).await;
    assert!(!matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
    let failed = tenants::get(&db, t.id).await.unwrap().unwrap();
    assert_eq!(failed.status, TenantStatus::Unreachable, "{failed:?}");
    let reason = failed.status_message.clone().expect("a reason");
    assert!(reason.starts_with("tenant:"), "{reason}");

    let outcome = run(&w, t.id, JobType::Payloads, 1).await;
    assert!(matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
    let after = tenants::get(&db, t.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.status_message.as_deref()),
        (TenantStatus::Unreachable, Some(reason.as_str())),
        "a job without a call changed the tenant's status"
    );

    let outcome = run(&w, t.id, JobType::Keystore, 1).await;
    assert!(matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
    let reached = tenants::get(&db, t.id).await.unwrap().unwrap();
    assert_eq!(reached.status, TenantStatus::Ok, "{reached:?}");
    sim.stop().await;
}
on_both!(a_job_that_calls_no_one_leaves_the_tenants_status);
