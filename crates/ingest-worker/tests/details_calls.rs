//! Message details in few calls (issue 14, "Error texts arrive fast"): the parts `$expand`
//! brought are not asked for again, a message without runs costs no step call and one without
//! an error no error call, a tenant that refuses the expansion gets one call per part with the
//! same result, and what is stored still matches the simulated tenant's ground truth on SQLite
//! and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Timelike;
use common::client;
use cpi_sim::{Clock, Sim, SimConfig};
use domain::MessageStatus;
use domain::message::MessageDetails;
use domain::tenant::{Auth as TenantAuth, TenantSettings};
use integramon_ingest_worker::details;
use integramon_ingest_worker::messages::{self, MessageOptions};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use store::repo::tenants;
use store::{Db, on_both};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GUID: &str = "AFq478Bblxi4wCjBcDb_G0vAGGZG";

/// shared/cpi-api beside the repository (or beside any folder above it, for worktrees).
fn fixture(rel: &str) -> Value {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/cpi-api"))
        .find(|d| d.is_dir())
        .expect("shared/cpi-api must sit beside the repository");
    let p = dir.join(rel);
    let bytes =
        std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()));
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}

fn example(name: &str) -> Value {
    fixture(&format!("examples/{name}"))
}

fn mpl_path(part: &str) -> String {
    format!("/api/v1/MessageProcessingLogs('{GUID}')/{part}")
}

/// Answers `part` of the example message with `body`, expecting `times` calls.
async fn part(server: &MockServer, part: &str, body: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path(mpl_path(part)))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
}

/// The expansion call answers the single-MPL example with `parts` put where its `__deferred`
/// links were.
async fn expansion(server: &MockServer, parts: &[(&str, Value)]) {
    let mut mpl =
        example("MessageProcessingLogs_GET_MessageProcessingLogs_id_200.json")["d"].take();
    for (nav, value) in parts {
        mpl[*nav] = value.clone();
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param("$filter", format!("MessageGuid eq '{GUID}'")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"d": {"results": [mpl]}})))
        .expect(1)
        .mount(server)
        .await;
}

/// The error information and text of the example message, each asked for `times` times.
async fn error_parts(server: &MockServer, times: u64) {
    part(
        server,
        "ErrorInformation",
        example("MessageProcessingLogs_GET_MessageProcessingLogs_id_ErrorInformation_200.json"),
        times,
    )
    .await;
    Mock::given(method("GET"))
        .and(path(mpl_path("ErrorInformation/$value")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/plain")
                .set_body_string(
                    "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: 500",
                ),
        )
        .expect(times)
        .mount(server)
        .await;
}

fn children(name: &str) -> Value {
    example(name)["d"].take()
}

const HEADERS: &str =
    "MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json";
const ADAPTER: &str =
    "MessageProcessingLogs_GET_MessageProcessingLogs_id_AdapterAttributes_200.json";
const ATTACHMENTS: &str = "MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json";
const ENTRIES: &str = "MessageStore_GET_MessageProcessingLogs_id_MessageStoreEntries_200.json";

fn one_run() -> Value {
    json!({"results": [{"Id": "RUN1", "RunStart": "/Date(1522069440003)/",
        "RunStop": "/Date(1522069440200)/", "LogLevel": "INFO", "OverallState": "FAILED",
        "ProcessId": "P1"}]})
}

#[tokio::test]
async fn parts_the_expansion_brought_are_not_asked_for_again() {
    let server = MockServer::start().await;
    expansion(
        &server,
        &[
            ("CustomHeaderProperties", children(HEADERS)),
            ("AdapterAttributes", children(ADAPTER)),
            ("Attachments", children(ATTACHMENTS)),
            ("Runs", one_run()),
        ],
    )
    .await;
    for p in [
        "CustomHeaderProperties",
        "AdapterAttributes",
        "Attachments",
        "Runs",
    ] {
        part(&server, p, json!({"d": {"results": []}}), 0).await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogRuns('RUN1')/RunSteps"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"d": {"__count": "1",
            "results": [{"RunId": "RUN1", "ChildCount": 1, "ModelStepId": "MessageFlow_11",
            "Status": "FAILED"}]}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    error_parts(&server, 1).await;
    part(&server, "MessageStoreEntries", example(ENTRIES), 1).await;

    let d = details::fetch(&client(&server.uri()), GUID, &MessageStatus::Failed)
        .await
        .expect("details");
    assert_eq!(
        d.headers.as_ref().unwrap()[0].name,
        "myCustomHeaderProperty"
    );
    assert_eq!(d.adapter_attributes.as_ref().unwrap().len(), 1);
    assert_eq!(d.attachments.as_ref().unwrap().len(), 2);
    let runs = d.runs.as_ref().unwrap();
    assert_eq!((runs.len(), runs[0].steps.len()), (1, 1));
    let error = d.error.as_ref().expect("error");
    assert_eq!(error.error_type.as_deref(), Some("text/plain"));
    assert_eq!(
        error.last_error_model_step_id.as_deref(),
        Some("MessageFlow_11")
    );
    assert!(
        error
            .text
            .as_deref()
            .unwrap()
            .contains("HttpResponseException")
    );
    assert_eq!(d.payloads.as_ref().unwrap().len(), 2);
    // Every `expect` above is checked when the server is dropped.
}

#[tokio::test]
async fn no_runs_means_no_step_call_and_no_error_means_no_error_call() {
    let server = MockServer::start().await;
    let empty = json!({"results": []});
    expansion(
        &server,
        &[
            ("CustomHeaderProperties", empty.clone()),
            ("AdapterAttributes", empty.clone()),
            ("Attachments", empty.clone()),
            ("Runs", empty.clone()),
        ],
    )
    .await;
    Mock::given(method("GET"))
        .and(path_prefix("/api/v1/MessageProcessingLogRuns"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"d": {"results": []}})))
        .expect(0)
        .mount(&server)
        .await;
    error_parts(&server, 0).await;
    part(
        &server,
        "MessageStoreEntries",
        json!({"d": {"results": []}}),
        1,
    )
    .await;

    let d = details::fetch(&client(&server.uri()), GUID, &MessageStatus::Completed)
        .await
        .expect("details");
    assert_eq!(d.runs, Some(vec![]));
    assert_eq!(d.error, None);
    assert_eq!(d.headers, Some(vec![]));
    assert_eq!(d.attachments, Some(vec![]));
    assert_eq!(d.adapter_attributes, Some(vec![]));
    assert_eq!(d.payloads, Some(vec![]));
}

fn path_prefix(prefix: &'static str) -> impl wiremock::Match {
    wiremock::matchers::path_regex(format!("^{}", regex_escape(prefix)))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '(' | ')' | '.' | '\'' | '$' | '[' | ']' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The same message twice: once through a tenant that refuses the expansion (400, and one
/// call per part, each answered with its example exactly as it is), once through one that
/// expands the same examples. The details are the same.
#[tokio::test]
async fn a_refused_expansion_reads_each_part_and_gets_the_same_details() {
    let refusing = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("recorded/piper_error_400_mock.json")),
        )
        .expect(1)
        .mount(&refusing)
        .await;
    part(&refusing, "CustomHeaderProperties", example(HEADERS), 2).await;
    part(&refusing, "AdapterAttributes", example(ADAPTER), 2).await;
    part(&refusing, "Attachments", example(ATTACHMENTS), 2).await;
    part(&refusing, "Runs", json!({"d": {"results": []}}), 2).await;
    part(&refusing, "MessageStoreEntries", example(ENTRIES), 2).await;
    error_parts(&refusing, 2).await;
    let c = client(&refusing.uri());
    let per_part = details::fetch(&c, GUID, &MessageStatus::Failed)
        .await
        .expect("details");
    // Asked once: the refusal is remembered for the tenant.
    let again = details::fetch(&c, GUID, &MessageStatus::Failed)
        .await
        .expect("details");
    assert_eq!(per_part, again);

    let expanding = MockServer::start().await;
    expansion(
        &expanding,
        &[
            ("CustomHeaderProperties", children(HEADERS)),
            ("AdapterAttributes", children(ADAPTER)),
            ("Attachments", children(ATTACHMENTS)),
            ("Runs", json!({"results": []})),
        ],
    )
    .await;
    part(&expanding, "MessageStoreEntries", example(ENTRIES), 1).await;
    error_parts(&expanding, 1).await;
    let expanded = details::fetch(&client(&expanding.uri()), GUID, &MessageStatus::Failed)
        .await
        .expect("details");
    assert_eq!(expanded, per_part);
    assert_eq!(per_part.headers.as_ref().unwrap().len(), 1);
    assert_eq!(per_part.payloads.as_ref().unwrap().len(), 2);
}

// --- against the simulated tenant, on both backends ------------------------------------------

async fn counts(db: &Db, sql: &str) -> Vec<(String, Vec<i64>)> {
    let rows = db
        .conn()
        .query_all_raw(Statement::from_string(
            db.conn().get_database_backend(),
            sql,
        ))
        .await
        .expect(sql);
    rows.iter()
        .map(|r| {
            let guid: String = r.try_get_by_index(0).expect("guid");
            let n = (1..7)
                .map(|i| r.try_get_by_index::<i64>(i).expect("count"))
                .collect();
            (guid, n)
        })
        .collect()
}

/// An hour of the simulated tenant's default traffic, collected with the worker's defaults:
/// every problem message's stored details agree with the tenant's ground truth, and reading the
/// parts one call each gives the same details as the expanded calls.
async fn details_match_the_simulators_truth(db: Db) {
    let now = chrono::Utc::now();
    let (clock, _manual) = Clock::manual(now);
    let sim = Sim::start(
        SimConfig::default()
            .with_clock(clock)
            .with_seed(21)
            .with_rate(0.5)
            .with_history(Duration::from_secs(3600)),
        "127.0.0.1:0",
    )
    .await
    .expect("sim");
    let settings = TenantSettings::new(
        "sim",
        sim.api_url(),
        TenantAuth::Basic {
            username: "sim".into(),
        },
    );
    let tenant = tenants::create(&db, &settings, None).await.expect("tenant");
    let c = client(&sim.api_url());
    let from = now - chrono::Duration::hours(2);
    let report = messages::sync_range(
        &db,
        &c,
        &tenant,
        &MessageOptions::default(),
        from,
        now + chrono::Duration::seconds(1),
        |_| {},
    )
    .await
    .expect("sync");
    assert_eq!(report.details_failed, 0, "{report:?}");
    assert!(!c.parts_expand_refused());

    let truth = sim.truth();
    let problems: Vec<&cpi_sim::TruthMessage> = truth
        .messages
        .iter()
        .filter(|m| m.status.wants_details())
        .collect();
    assert!(problems.len() >= 40, "{} problem messages", problems.len());
    assert_eq!(report.details, problems.len() as u64);
    let stored = counts(
        &db,
        "SELECT m.message_guid, \
         (SELECT count(*) FROM custom_header_properties h WHERE h.message_id = m.id), \
         (SELECT count(*) FROM message_runs r WHERE r.message_id = m.id), \
         (SELECT count(*) FROM attachments a WHERE a.message_id = m.id), \
         (SELECT count(*) FROM payloads p WHERE p.message_id = m.id), \
         (SELECT count(*) FROM adapter_attributes a WHERE a.message_id = m.id), \
         (SELECT count(*) FROM message_errors e WHERE e.message_id = m.id AND e.text IS NOT NULL) \
         FROM message_logs m WHERE m.details_status IS NOT NULL",
    )
    .await;
    assert_eq!(stored.len(), problems.len());
    for m in &problems {
        let (_, n) = stored
            .iter()
            .find(|(g, _)| *g == m.message_guid)
            .unwrap_or_else(|| panic!("{} has no details", m.message_guid));
        let expected = vec![
            m.custom_headers as i64,
            m.runs as i64,
            m.attachments as i64,
            m.store_entries as i64,
            m.adapter_attributes as i64,
            i64::from(m.has_error_information),
        ];
        assert_eq!(
            n, &expected,
            "{} ({}): headers, runs, attachments, payload entries, adapter attributes, error text",
            m.message_guid, m.status
        );
    }
    // Same details with one call per part.
    for m in problems.iter().take(25) {
        let expanded: MessageDetails = details::fetch(&c, &m.message_guid, &m.status)
            .await
            .expect("expanded");
        let per_part = details::fetch_with(&c, &m.message_guid, &m.status, None)
            .await
            .expect("per part");
        assert_eq!(expanded, per_part, "{}", m.message_guid);
    }
    sim.stop().await;
}
on_both!(details_match_the_simulators_truth);

/// A hot run reads its window once. Windows end on whole milliseconds; with a `now` that has
/// microseconds (as the wall clock has) the run used to read the same last window 64 times,
/// which held every failed message's error text back by the time of 63 needless reads.
async fn a_hot_run_reads_its_window_once(db: Db) {
    let now = chrono::Utc::now()
        .with_nanosecond(123_456_789)
        .expect("a valid instant");
    let (clock, _manual) = Clock::manual(now);
    let sim = Sim::start(
        SimConfig::default()
            .with_clock(clock)
            .with_seed(5)
            .with_rate(0.2)
            .with_history(Duration::from_secs(1800)),
        "127.0.0.1:0",
    )
    .await
    .expect("sim");
    let settings = TenantSettings::new(
        "hot",
        sim.api_url(),
        TenantAuth::Basic {
            username: "sim".into(),
        },
    );
    let tenant = tenants::create(&db, &settings, None).await.expect("tenant");
    let c = client(&sim.api_url());
    let opts = MessageOptions::default();
    let first = messages::sync_hot(&db, &c, &tenant, &opts, now)
        .await
        .expect("first run");
    assert_eq!(first.windows, 1, "{first:?}");
    let again = messages::sync_hot(&db, &c, &tenant, &opts, now + chrono::Duration::seconds(60))
        .await
        .expect("next run");
    assert_eq!(again.windows, 1, "{again:?}");
    sim.stop().await;
}
on_both!(a_hot_run_reads_its_window_once);
