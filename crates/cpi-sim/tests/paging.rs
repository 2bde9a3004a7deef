//! Server paging (`__next` with `$skiptoken`, absolute or relative), client paging (`$top`,
//! `$skip`), `$inlinecount`, `$select`, `$count`, and run steps paged at 500.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use cpi_sim::NextLinkStyle;

#[tokio::test]
async fn absolute_next_links_page_at_1000_and_reach_every_record() {
    // 1 message/s for an hour: 3600 messages, so four pages.
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let first = c
        .json("MessageProcessingLogs?$inlinecount=allpages&$orderby=LogEnd")
        .await;
    let next = first["d"]["__next"]
        .as_str()
        .expect("a first page of 1000 has __next");
    assert_eq!(first["d"]["results"].as_array().unwrap().len(), 1000);
    assert!(
        next.starts_with(&format!("{}/MessageProcessingLogs?", sim.api_url())),
        "absolute next link: {next}"
    );
    assert!(next.ends_with("$skiptoken=1000"), "{next}");
    assert!(
        next.contains("$orderby=LogEnd"),
        "the next link keeps the query: {next}"
    );

    let (records, count, pages) = read_all(
        &c,
        "MessageProcessingLogs?$inlinecount=allpages&$orderby=LogEnd",
    )
    .await;
    let truth = sim.truth();
    assert_eq!(pages, truth.total.div_ceil(1000));
    assert_eq!(count, Some(truth.total as u64));
    assert_eq!(records.len(), truth.total);
    let guids: HashSet<&str> = records
        .iter()
        .map(|r| r["MessageGuid"].as_str().unwrap())
        .collect();
    assert_eq!(guids.len(), records.len(), "no record twice");
    let ends: Vec<i64> = records.iter().map(|r| date_ms(&r["LogEnd"])).collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "ordered by LogEnd");
    sim.stop().await;
}

#[tokio::test]
async fn relative_next_links_resolve_against_the_service_root() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(2500));
    let sim = start(cfg.with_next_link(NextLinkStyle::Relative)).await;
    let c = Client::default_for(&sim);
    let filter = enc(&format!(
        "LogStart ge {}",
        lit(t0() - chrono::Duration::hours(1))
    ));
    let first_url = format!("MessageProcessingLogs?$filter={filter}&$orderby=LogEnd%20desc");
    let first = c.json(&first_url).await;
    let next = first["d"]["__next"].as_str().unwrap();
    assert!(
        next.starts_with("MessageProcessingLogs?"),
        "relative next link: {next}"
    );
    assert!(next.ends_with("$skiptoken=1000"));
    let (records, _, pages) = read_all(&c, &first_url).await;
    assert_eq!(pages, 3);
    assert_eq!(records.len(), sim.truth().total);
    sim.stop().await;
}

#[tokio::test]
async fn top_skip_inlinecount_select_and_count() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(3000));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let total = sim.truth().total;
    let (all, _, _) = read_all(&c, "MessageProcessingLogs?$orderby=LogStart").await;
    let guid = |r: &serde_json::Value| r["MessageGuid"].as_str().unwrap().to_string();

    // $top/$skip cut the ordered result.
    let v = c
        .json("MessageProcessingLogs?$orderby=LogStart&$top=5&$skip=10")
        .await;
    let got: Vec<String> = v["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(guid)
        .collect();
    let want: Vec<String> = all[10..15].iter().map(guid).collect();
    assert_eq!(got, want);
    assert!(
        v["d"].get("__next").is_none(),
        "$top within one page: no next link"
    );
    assert!(
        v["d"].get("__count").is_none(),
        "no __count without $inlinecount"
    );

    // __count counts the whole result, as a string, regardless of $top/$skip.
    let v = c
        .json("MessageProcessingLogs?$top=2&$skip=3&$inlinecount=allpages")
        .await;
    assert_eq!(v["d"]["__count"], total.to_string());

    // $top above the server page: 1000 now, the rest behind __next, never more than $top.
    let (records, _, pages) =
        read_all(&c, "MessageProcessingLogs?$top=1500&$orderby=LogStart").await;
    assert_eq!((records.len(), pages), (1500, 2));
    assert_eq!(
        records.iter().map(guid).collect::<Vec<_>>(),
        all[..1500].iter().map(guid).collect::<Vec<_>>()
    );

    // $select: only the selected properties (and __metadata).
    let v = c
        .json("MessageProcessingLogs?$top=3&$select=MessageGuid,Status,LogEnd")
        .await;
    for r in v["d"]["results"].as_array().unwrap() {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["LogEnd", "MessageGuid", "Status", "__metadata"]);
    }
    let bad = c.get("MessageProcessingLogs?$select=Nope").await;
    assert_eq!(bad.status, 400);

    // /$count is plain text.
    let r = c.get("MessageProcessingLogs/$count").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.text(), total.to_string());
    let failed = sim.truth().by_status.get("FAILED").copied().unwrap_or(0);
    let r = c
        .get(&format!(
            "MessageProcessingLogs/$count?$filter={}",
            enc("Status eq 'FAILED'")
        ))
        .await;
    assert_eq!(r.text(), failed.to_string());
    sim.stop().await;
}

#[tokio::test]
async fn a_configured_page_size_is_honoured() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(1000));
    let sim = start(cfg.with_page_size(250)).await;
    let c = Client::default_for(&sim);
    let (records, _, pages) = read_all(&c, "MessageProcessingLogs").await;
    assert_eq!(records.len(), sim.truth().total);
    assert_eq!(pages, records.len().div_ceil(250));
    sim.stop().await;
}

#[tokio::test]
async fn run_steps_are_paged_at_500_with_count_top_and_skip() {
    let (mut cfg, _clock) = manual_config(1.0, Duration::from_secs(120));
    cfg.traffic.large_run_permille = 1000;
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let guid = sim.truth().messages[0].message_guid.clone();
    let runs = c
        .json(&format!("MessageProcessingLogs('{guid}')/Runs"))
        .await;
    let run_id = runs["d"]["results"][0]["Id"].as_str().unwrap().to_string();
    let first_url = format!(
        "MessageProcessingLogRuns('{run_id}')/RunSteps?$expand=RunStepProperties&$inlinecount=allpages"
    );
    let first = c.json(&first_url).await;
    let count: usize = first["d"]["__count"].as_str().unwrap().parse().unwrap();
    assert!(
        count > 500,
        "a large run has more than 500 steps, got {count}"
    );
    assert_eq!(first["d"]["results"].as_array().unwrap().len(), 500);
    assert!(
        first["d"]["__next"]
            .as_str()
            .unwrap()
            .ends_with("$skiptoken=500")
    );
    let (steps, _, pages) = read_all(&c, &first_url).await;
    assert_eq!((steps.len(), pages), (count, count.div_ceil(500)));
    let children: Vec<i64> = steps
        .iter()
        .map(|s| s["ChildCount"].as_i64().unwrap())
        .collect();
    assert_eq!(children, (1..=count as i64).collect::<Vec<_>>());

    let v = c
        .json(&format!(
            "MessageProcessingLogRuns('{run_id}')/RunSteps?$top=10&$skip=500"
        ))
        .await;
    let children: Vec<i64> = v["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ChildCount"].as_i64().unwrap())
        .collect();
    assert_eq!(children, (501..=510).collect::<Vec<_>>());
    assert!(v["d"]["results"][0]["RunStepProperties"]["__deferred"].is_object());
    sim.stop().await;
}
