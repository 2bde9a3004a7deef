//! The client against the simulated tenant (crates/cpi-sim): every entity, both auth modes,
//! token expiry in the middle of paging, both next-link styles, window splitting, and every
//! injectable fault (right retry or right typed error). Results are compared with the
//! simulator's ground truth.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cpi::conntest::Check;
use cpi::*;
use cpi_sim::{Clock, Fault, NextLinkStyle, Sim, SimConfig, SimHandle, SimUser};
use domain::artifact::RuntimeStatus;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap()
}

/// A tenant frozen at `t0` (manual clock never moved), `rate` messages/s over `history`.
fn sim_config(rate: f64, history: Duration) -> SimConfig {
    let (clock, _manual) = Clock::manual(t0());
    SimConfig::default()
        .with_clock(clock)
        .with_rate(rate)
        .with_history(history)
        .with_seed(11)
        .with_basic("monitor", "monitor-pass")
        .with_oauth("sb-integramon", "oauth-secret", Duration::from_secs(3600))
}

async fn start(cfg: SimConfig) -> SimHandle {
    Sim::start(cfg, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

fn tuned(mut cfg: TenantConfig) -> TenantConfig {
    cfg.limits = LimitsConfig {
        max_concurrent_requests: 8,
        rate: RateLimits::unlimited(),
    };
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(5),
    };
    cfg.timeouts.request = Duration::from_secs(10);
    cfg
}

fn basic_client(sim: &SimHandle) -> CpiClient {
    basic_client_as(sim, "monitor", "monitor-pass")
}

fn basic_client_as(sim: &SimHandle, user: &str, password: &str) -> CpiClient {
    let cfg = TenantConfig::new(
        &sim.base_url(),
        Auth::Basic {
            username: user.into(),
            password: Secret::new(password),
        },
    )
    .expect("config");
    CpiClient::new(tuned(cfg)).expect("client")
}

fn oauth_client(sim: &SimHandle) -> CpiClient {
    // Through a service key, as a user would paste it.
    let key = serde_json::json!({"oauth": {
        "clientid": "sb-integramon", "clientsecret": "oauth-secret",
        "tokenurl": sim.token_url(), "url": sim.base_url()
    }})
    .to_string();
    CpiClient::new(tuned(TenantConfig::from_service_key(&key).expect("key"))).expect("client")
}

fn window(from_min_ago: i64, to_min_ago: i64) -> Window {
    Window::new(
        t0() - chrono::Duration::minutes(from_min_ago),
        t0() - chrono::Duration::minutes(to_min_ago),
    )
    .expect("window")
}

async fn read_window(client: &CpiClient, q: MplQuery) -> (Vec<MessageProcessingLog>, u32) {
    let mut pager = client.mpl_pages(q);
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await.expect("page") {
        out.extend(page.records);
    }
    (out, pager.splits())
}

/// What was read equals the simulator's truth for the window: same messages, same status and
/// LogEnd, each exactly once.
fn assert_matches_truth(sim: &SimHandle, w: &Window, read: &[MessageProcessingLog]) {
    let truth = sim.truth_between(w.from, w.to);
    assert!(truth.total > 0, "empty window proves nothing");
    let guids: HashSet<&str> = read.iter().map(|m| m.message_guid.as_str()).collect();
    assert_eq!(guids.len(), read.len(), "a message was read twice");
    assert_eq!(
        read.len(),
        truth.total,
        "message count differs from the tenant's"
    );
    for t in &truth.messages {
        let m = read
            .iter()
            .find(|m| m.message_guid == t.message_guid)
            .unwrap_or_else(|| panic!("{} missing", t.message_guid));
        assert_eq!(m.status.as_ref(), Some(&t.status), "{}", t.message_guid);
        assert_eq!(m.log_end, Some(t.log_end), "{}", t.message_guid);
        assert_eq!(m.log_start, Some(t.log_start), "{}", t.message_guid);
        assert_eq!(m.artifact_id(), Some(t.integration_flow.as_str()));
    }
}

// --- entities, both auth modes ---------------------------------------------------------------

async fn every_entity(client: &CpiClient, sim: &SimHandle) {
    // MPLs of a window, compared with the truth.
    let w = window(60, 1);
    let (mpls, _) = read_window(client, MplQuery::new(w)).await;
    assert_matches_truth(sim, &w, &mpls);

    // Children of messages that have them, counts checked against the truth.
    let truth = sim.truth_between(w.from, w.to);
    let with = |f: &dyn Fn(&cpi_sim::TruthMessage) -> bool| {
        truth
            .messages
            .iter()
            .find(|m| f(m))
            .cloned()
            .expect("a message with this detail")
    };
    let m = with(&|m| m.custom_headers > 0);
    assert_eq!(
        client
            .mpl_custom_header_properties(&m.message_guid)
            .await
            .expect("headers")
            .len(),
        m.custom_headers
    );
    let m = with(&|m| m.adapter_attributes > 0);
    assert_eq!(
        client
            .mpl_adapter_attributes(&m.message_guid)
            .await
            .expect("attrs")
            .len(),
        m.adapter_attributes
    );
    let m = with(&|m| m.attachments > 0);
    let atts = client
        .mpl_attachments(&m.message_guid)
        .await
        .expect("attachments");
    assert_eq!(atts.len(), m.attachments);
    let mut sink = Vec::new();
    match client
        .download_mpl_attachment(&atts[0].id, &mut sink, 10 << 20)
        .await
        .expect("attachment bytes")
    {
        DownloadOutcome::Complete { bytes, .. } => {
            assert_eq!(bytes as usize, sink.len());
            if let Some(size) = atts[0].payload_size {
                assert_eq!(bytes as i64, size, "PayloadSize matches the bytes");
            }
        }
        other => panic!("{other:?}"),
    }
    let m = with(&|m| m.store_entries > 0);
    let entries = client
        .mpl_message_store_entries(&m.message_guid)
        .await
        .expect("entries");
    assert_eq!(entries.len(), m.store_entries);
    match client
        .collect_message_store_entry(&entries[0].id, 10 << 20)
        .await
        .expect("payload")
    {
        Collected::Complete { data, .. } => assert!(!data.is_empty()),
        other => panic!("{other:?}"),
    }
    // The same payload over a tiny cap is "too large", not an error.
    assert!(matches!(
        client
            .collect_message_store_entry(&entries[0].id, 8)
            .await
            .expect("outcome"),
        Collected::TooLarge { .. }
    ));
    let m = with(&|m| m.has_error_information);
    let info = client
        .mpl_error_information(&m.message_guid)
        .await
        .expect("error info")
        .expect("present");
    assert_eq!(info.message_guid, m.message_guid);
    let text = client
        .mpl_error_text(&m.message_guid, 1 << 20)
        .await
        .expect("error text")
        .expect("present");
    assert!(!text.text.is_empty() && !text.truncated);
    let m = with(&|m| m.runs > 0);
    let runs = client.mpl_runs(&m.message_guid).await.expect("runs");
    assert_eq!(runs.len(), m.runs);
    let steps = client.mpl_run_steps(&runs[0].id).await.expect("steps");
    assert!(!steps.is_empty());
    assert!(steps.iter().all(|s| s.run_id == runs[0].id));
    let single = client.mpl(&m.message_guid).await.expect("single MPL");
    assert_eq!(single.message_guid, m.message_guid);
    let by_guid = client
        .mpls_by_guid(&[m.message_guid.as_str(), "no-such-guid"])
        .await
        .expect("by guid");
    assert_eq!(by_guid.len(), 1);

    // Content.
    let packages = client.integration_packages().await.expect("packages");
    assert!(!packages.is_empty());
    let pkg = client
        .integration_package(&packages[0].id)
        .await
        .expect("package");
    assert_eq!(pkg.id, packages[0].id);
    let flows = client
        .package_integration_designtime_artifacts(&packages[0].id)
        .await
        .expect("design-time");
    assert!(!flows.is_empty());
    let version = flows[0].version.clone().unwrap_or_else(|| "active".into());
    let art = client
        .integration_designtime_artifact(&flows[0].id, &version)
        .await
        .expect("artifact");
    assert_eq!(art.id, flows[0].id);
    let mut zip = Vec::new();
    let out = client
        .download_integration_designtime_artifact(&flows[0].id, &version, &mut zip, 50 << 20)
        .await
        .expect("zip");
    assert!(matches!(out, DownloadOutcome::Complete { .. }));
    assert!(zip.starts_with(b"PK"), "a zip file");
    let _ = client
        .package_value_mapping_designtime_artifacts(&packages[0].id)
        .await
        .expect("package value mappings");
    let vms = client
        .value_mapping_designtime_artifacts()
        .await
        .expect("value mappings");
    let vm = vms.first().expect("the simulator has value mappings");
    let mut z = Vec::new();
    let v = vm.version.clone().unwrap_or_else(|| "active".into());
    let out = client
        .download_value_mapping_designtime_artifact(&vm.id, &v, &mut z, 50 << 20)
        .await
        .expect("value mapping zip");
    assert!(matches!(out, DownloadOutcome::Complete { .. }));
    let runtime = client.runtime_artifacts().await.expect("runtime artifacts");
    assert!(!runtime.is_empty());
    let one = client.runtime_artifact(&runtime[0].id).await.expect("one");
    assert_eq!(one.id, runtime[0].id);
    let broken = runtime
        .iter()
        .find(|a| a.status == Some(RuntimeStatus::Error))
        .expect("the simulator has a failed deployment");
    let e = client
        .runtime_artifact_error(&broken.id, 1 << 20)
        .await
        .expect("error info")
        .expect("present for an ERROR artifact");
    assert!(!e.raw.is_empty());
    assert!(e.message.is_some(), "message extracted from {}", e.raw);

    // Security content.
    let keys = client.keystore_entries(None).await.expect("keystore");
    assert!(!keys.is_empty());
    let alias = keys[0].alias.clone().expect("alias");
    let entry = client.keystore_entry(&alias).await.expect("by hex alias");
    assert_eq!(entry.alias.as_deref(), Some(alias.as_str()));
}

#[tokio::test]
async fn every_entity_with_basic_auth() {
    let sim = start(sim_config(0.5, Duration::from_secs(3 * 3600))).await;
    every_entity(&basic_client(&sim), &sim).await;
    sim.stop().await;
}

#[tokio::test]
async fn every_entity_with_oauth_from_a_service_key() {
    let sim = start(sim_config(0.5, Duration::from_secs(3 * 3600))).await;
    let c = oauth_client(&sim);
    every_entity(&c, &sim).await;
    assert_eq!(c.stats().token_fetches, 1, "one token for the whole run");
    sim.stop().await;
}

// --- paging ----------------------------------------------------------------------------------

#[tokio::test]
async fn token_expiry_in_the_middle_of_paging_is_survived() {
    let sim = start(sim_config(2.0, Duration::from_secs(3 * 3600)).with_page_size(200)).await;
    let c = oauth_client(&sim);
    let w = window(60, 1);
    let mut q = MplQuery::new(w);
    q.split_threshold = u64::MAX;
    let mut pager = c.mpl_pages(q);
    let mut read = Vec::new();
    let mut pages = 0;
    while let Some(page) = pager.next_page().await.expect("page") {
        pages += 1;
        read.extend(page.records);
        if pages == 2 {
            sim.inject(Fault::ExpireTokens);
        }
    }
    assert!(pages > 3, "several pages: {pages}");
    assert_matches_truth(&sim, &w, &read);
    assert_eq!(c.stats().token_fetches, 2, "one refresh after the expiry");
    assert!(sim.stats().unauthorized >= 1);
    sim.stop().await;
}

async fn paging_with(style: NextLinkStyle) {
    let sim = start(
        sim_config(2.0, Duration::from_secs(3 * 3600))
            .with_page_size(150)
            .with_next_link(style),
    )
    .await;
    let c = basic_client(&sim);
    let w = window(45, 1);
    let mut q = MplQuery::new(w);
    q.split_threshold = u64::MAX;
    let mut pager = c.mpl_pages(q);
    let mut read = Vec::new();
    let mut urls = Vec::new();
    while let Some(page) = pager.next_page().await.expect("page") {
        urls.push(page.url.clone());
        read.extend(page.records);
    }
    assert!(urls.len() > 5, "{} pages", urls.len());
    assert!(
        urls[1..].iter().all(|u| u.contains("skiptoken")),
        "{urls:?}"
    );
    assert!(
        urls.iter().all(|u| u.starts_with(&sim.api_url())),
        "{urls:?}"
    );
    assert_matches_truth(&sim, &w, &read);
    sim.stop().await;
}

#[tokio::test]
async fn absolute_next_links_against_the_simulator() {
    paging_with(NextLinkStyle::Absolute).await;
}

#[tokio::test]
async fn relative_next_links_against_the_simulator() {
    paging_with(NextLinkStyle::Relative).await;
}

#[tokio::test]
async fn crowded_windows_are_split_and_read_exactly_once() {
    let sim = start(sim_config(3.0, Duration::from_secs(2 * 3600))).await;
    let c = basic_client(&sim);
    let w = window(60, 1);
    let mut q = MplQuery::new(w);
    q.split_threshold = 1500;
    let (read, splits) = read_window(&c, q).await;
    assert!(splits >= 2, "splits: {splits}");
    assert_matches_truth(&sim, &w, &read);
    let ends: Vec<_> = read.iter().filter_map(|m| m.log_end).collect();
    assert!(ends.windows(2).all(|p| p[0] <= p[1]), "ascending LogEnd");
    sim.stop().await;
}

#[tokio::test]
async fn artifact_and_user_filters_narrow_the_window() {
    let sim = start(sim_config(1.0, Duration::from_secs(3 * 3600))).await;
    let c = basic_client(&sim);
    let w = window(120, 1);
    let truth = sim.truth_between(w.from, w.to);
    let flow = truth.messages[0].integration_flow.clone();
    let mut q = MplQuery::new(w);
    q.artifact_id = Some(flow.clone());
    q.extra_filter = Some("Status eq 'FAILED' or Status eq 'COMPLETED'".into());
    let (read, _) = read_window(&c, q).await;
    let expected: Vec<_> = truth
        .messages
        .iter()
        .filter(|m| m.integration_flow == flow)
        .filter(|m| {
            matches!(
                m.status,
                domain::MessageStatus::Failed | domain::MessageStatus::Completed
            )
        })
        .collect();
    assert_eq!(read.len(), expected.len());
    assert!(read.iter().all(|m| m.artifact_id() == Some(flow.as_str())));
    sim.stop().await;
}

// --- faults ----------------------------------------------------------------------------------

async fn small_sim() -> SimHandle {
    start(sim_config(0.2, Duration::from_secs(3600))).await
}

async fn read_small(c: &CpiClient) -> Result<Vec<MessageProcessingLog>, CpiError> {
    let mut pager = c.mpl_pages(MplQuery::new(window(30, 1)));
    let mut out = Vec::new();
    while let Some(p) = pager.next_page().await? {
        out.extend(p.records);
    }
    Ok(out)
}

#[tokio::test]
async fn throttling_is_waited_out_per_retry_after() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::Throttle {
        count: 2,
        retry_after_secs: 1,
    });
    let started = Instant::now();
    let read = read_small(&c).await.expect("read after throttling");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_matches_truth(&sim, &window(30, 1), &read);
    assert_eq!(c.stats().retries, 2);
    assert_eq!(sim.stats().faults.get("throttle"), Some(&2));
    sim.stop().await;
}

#[tokio::test]
async fn passing_server_errors_are_retried() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::ServerError {
        count: 2,
        status: 502,
    });
    read_small(&c).await.expect("read after 502s");
    assert_eq!(c.stats().retries, 2);
    sim.stop().await;
}

#[tokio::test]
async fn lasting_server_errors_end_in_a_typed_error() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::ServerError {
        count: 10,
        status: 503,
    });
    match read_small(&c).await.unwrap_err() {
        CpiError::Server { status, .. } => assert_eq!(status, 503),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.stats().faults.get("server_error"),
        Some(&4),
        "max_attempts tries"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let sim = small_sim().await;
    let mut cfg = basic_client(&sim).config().clone();
    cfg.timeouts.request = Duration::from_millis(400);
    let c = CpiClient::new(cfg).expect("client");
    sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_secs(2),
    });
    read_small(&c).await.expect("read after one timeout");
    assert_eq!(c.stats().retries, 1);
    sim.stop().await;
}

#[tokio::test]
async fn slow_answers_beyond_the_attempts_are_a_timeout() {
    let sim = small_sim().await;
    let mut cfg = basic_client(&sim).config().clone();
    cfg.timeouts.request = Duration::from_millis(300);
    cfg.retry.max_attempts = 2;
    let c = CpiClient::new(cfg).expect("client");
    sim.inject(Fault::Slow {
        count: 5,
        delay: Duration::from_secs(1),
    });
    assert!(matches!(
        read_small(&c).await.unwrap_err(),
        CpiError::Timeout { .. }
    ));
    sim.stop().await;
}

#[tokio::test]
async fn reset_connections_are_retried() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::ConnectionReset { count: 2 });
    let read = read_small(&c).await.expect("read after resets");
    assert_matches_truth(&sim, &window(30, 1), &read);
    assert!(c.stats().retries >= 2);
    sim.stop().await;
}

#[tokio::test]
async fn truncated_bodies_are_retried() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::Truncated { count: 1 });
    let read = read_small(&c).await.expect("read after a cut body");
    assert_matches_truth(&sim, &window(30, 1), &read);
    assert_eq!(c.stats().retries, 1);
    sim.stop().await;
}

#[tokio::test]
async fn lasting_truncation_ends_in_a_typed_error() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::Truncated { count: 10 });
    let e = read_small(&c).await.unwrap_err();
    assert!(
        matches!(
            e,
            CpiError::Transport { .. }
                | CpiError::BadResponse {
                    kind: BadResponseKind::Truncated,
                    ..
                }
        ),
        "{e:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn malformed_json_is_a_typed_error_not_an_empty_page() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::Malformed { count: 1 });
    match read_small(&c).await.unwrap_err() {
        CpiError::BadResponse { kind, status, .. } => {
            assert_eq!(status, 200);
            assert!(
                matches!(kind, BadResponseKind::Malformed | BadResponseKind::NotJson),
                "{kind:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The next poll succeeds.
    read_small(&c).await.expect("fault consumed");
    sim.stop().await;
}

#[tokio::test]
async fn an_html_login_page_is_a_typed_error() {
    let sim = small_sim().await;
    let c = basic_client(&sim);
    sim.inject(Fault::HtmlLogin { count: 1 });
    match read_small(&c).await.unwrap_err() {
        CpiError::BadResponse { kind, length, .. } => {
            assert_eq!(kind, BadResponseKind::HtmlPage);
            assert!(length > 0);
        }
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

// --- credentials and roles -------------------------------------------------------------------

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let sim = small_sim().await;
    let c = basic_client_as(&sim, "monitor", "wrong-password");
    assert!(matches!(
        read_small(&c).await.unwrap_err(),
        CpiError::Unauthorized { .. }
    ));
    sim.stop().await;
}

#[tokio::test]
async fn connection_test_against_the_simulator() {
    let sim = start(
        sim_config(0.5, Duration::from_secs(3 * 3600))
            .with_user(SimUser::without_payload_role("nopayload", "nopayload-pass")),
    )
    .await;
    let full = oauth_client(&sim).test_connection().await;
    assert!(full.all_ok(), "{full}");
    let limited = basic_client_as(&sim, "nopayload", "nopayload-pass")
        .test_connection()
        .await;
    match &limited.get(Check::Payloads).expect("payload check").outcome {
        CheckOutcome::Failed { advice, .. } => {
            assert!(advice.contains("MessagePayloadsRead"), "{advice}")
        }
        other => panic!("{other:?}\n{limited}"),
    }
    assert!(matches!(
        limited
            .get(Check::MessageProcessingLogs)
            .expect("mpl")
            .outcome,
        CheckOutcome::Ok(_)
    ));
    sim.stop().await;
}
