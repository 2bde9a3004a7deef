//! Message pages, details, headers and correlations, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use std::collections::BTreeMap;

use domain::MessageStatus;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, ErrorInfo, Message, MessageDetails,
    PayloadEntry, Run, RunStep,
};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use store::Db;
use store::entity::{
    adapter_attributes, attachments, custom_header_properties, message_errors, message_logs,
    message_run_steps, message_runs, payloads,
};
use store::repo::messages::{self, Change};
use store::repo::payloads::{self as payload_repo, Download};
use support::{Target, t, tenant};

fn msg(guid: &str, status: MessageStatus, end: i64) -> Message {
    let mut m = Message::new(guid, status);
    m.log_start = Some(t(0));
    m.log_end = Some(t(end));
    m.iflow_id = Some("flow_a".into());
    m.package_id = Some("pkg".into());
    m.correlation_id = Some(format!("corr-{guid}"));
    m
}

async fn stored(db: &Db, tenant_id: i64, guid: &str) -> messages::StoredMessage {
    messages::find_message(db, tenant_id, guid)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{guid} stored"))
}

async fn message_rows(db: &Db) -> u64 {
    message_logs::Entity::find().count(db.conn()).await.unwrap()
}

fn needs(out: &messages::UpsertOutcome) -> Vec<(String, MessageStatus)> {
    let mut v: Vec<_> = out
        .needs_details
        .iter()
        .map(|(_, g, s)| (g.clone(), s.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn upsert_inserts_updates_and_never_duplicates(db: Db, _: Target) {
    let tid = tenant(&db, "t1").await;
    let other = tenant(&db, "t2").await;
    let mut a = msg("A", MessageStatus::Processing, 10);
    a.application_message_id = Some("app-1".into());
    a.predecessor_guid = Some("P".into());
    a.alternate_web_link = Some("https://ui/link".into());
    let b = msg("B", MessageStatus::Completed, 20);
    let c = msg("C", MessageStatus::Failed, 30);

    // First sight: everything inserted, everything wants details.
    let out = messages::upsert_messages(&db, tid, &[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!((out.inserted, out.updated, out.unchanged), (3, 0, 0));
    assert_eq!(
        needs(&out),
        vec![
            ("A".into(), MessageStatus::Processing),
            ("B".into(), MessageStatus::Completed),
            ("C".into(), MessageStatus::Failed)
        ]
    );
    assert_eq!(
        out.rows.iter().map(|r| r.guid.as_str()).collect::<Vec<_>>(),
        ["A", "B", "C"],
        "rows in page order"
    );
    assert!(out.rows.iter().all(|r| r.change == Change::Inserted));
    let sa = stored(&db, tid, "A").await;
    assert_eq!(sa.message, a, "every field round-trips");
    assert_eq!(sa.id, out.rows[0].id);
    assert_eq!(sa.details_status, None);

    // The same page again (an overlap re-read): no writes, nothing to fetch.
    let again = messages::upsert_messages(&db, tid, &[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 3));
    assert!(again.needs_details.is_empty());
    assert_eq!(stored(&db, tid, "A").await.updated_at, sa.updated_at);

    // The same GUID in another tenant is another message.
    let out = messages::upsert_messages(&db, other, &[a.clone()])
        .await
        .unwrap();
    assert_eq!(out.inserted, 1);
    assert_ne!(out.rows[0].id, sa.id);

    // A moves PROCESSING -> FAILED: updated in place, and its details are wanted.
    let mut a2 = msg("A", MessageStatus::Failed, 40);
    a2.application_message_id = Some("app-1".into());
    // B changes only its custom status: updated, but COMPLETED wants no details.
    let mut b2 = b.clone();
    b2.custom_status = Some("DONE".into());
    let out = messages::upsert_messages(&db, tid, &[a2.clone(), b2.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!((out.inserted, out.updated, out.unchanged), (0, 2, 1));
    assert_eq!(needs(&out), vec![("A".into(), MessageStatus::Failed)]);
    assert_eq!(message_rows(&db).await, 4, "never duplicated");
    let sa2 = stored(&db, tid, "A").await;
    assert_eq!(sa2.id, sa.id);
    assert_eq!(sa2.message.status, MessageStatus::Failed);
    assert_eq!(sa2.message.log_end, Some(t(40)));
    assert_eq!(
        sa2.message.predecessor_guid, None,
        "fields are replaced, not merged"
    );
    assert_eq!(sa2.created_at, sa.created_at);
    assert!(sa2.updated_at >= sa.updated_at);

    // An older snapshot committed late does not regress the message.
    let stale = msg("A", MessageStatus::Processing, 35);
    let out = messages::upsert_messages(&db, tid, &[stale]).await.unwrap();
    assert_eq!((out.inserted, out.updated, out.unchanged), (0, 0, 1));
    assert_eq!(
        stored(&db, tid, "A").await.message.status,
        MessageStatus::Failed
    );

    // Details fetched for FAILED: a later FAILED update (LogEnd moved) wants none...
    messages::write_details(
        &db,
        sa.id,
        &MessageDetails::empty(MessageStatus::Failed),
        t(41),
    )
    .await
    .unwrap();
    assert_eq!(
        stored(&db, tid, "A").await.details_status,
        Some(MessageStatus::Failed)
    );
    let out = messages::upsert_messages(&db, tid, &[msg("A", MessageStatus::Failed, 50)])
        .await
        .unwrap();
    assert_eq!(out.updated, 1);
    assert!(out.needs_details.is_empty(), "{:?}", out.needs_details);
    // ...a move to RETRY does, and so does ESCALATED after it.
    let out = messages::upsert_messages(&db, tid, &[msg("A", MessageStatus::Retry, 60)])
        .await
        .unwrap();
    assert_eq!(needs(&out), vec![("A".into(), MessageStatus::Retry)]);
    let out = messages::upsert_messages(&db, tid, &[msg("A", MessageStatus::Escalated, 70)])
        .await
        .unwrap();
    assert_eq!(needs(&out), vec![("A".into(), MessageStatus::Escalated)]);
    // COMPLETED after a failure: updated, no details wanted.
    let out = messages::upsert_messages(&db, tid, &[msg("A", MessageStatus::Completed, 80)])
        .await
        .unwrap();
    assert_eq!(out.updated, 1);
    assert!(out.needs_details.is_empty());

    // A GUID twice in one page: one row, the latest LogEnd wins.
    let out = messages::upsert_messages(
        &db,
        tid,
        &[
            msg("D", MessageStatus::Completed, 90),
            msg("D", MessageStatus::Processing, 85),
        ],
    )
    .await
    .unwrap();
    assert_eq!((out.inserted, out.rows.len()), (1, 1));
    assert_eq!(
        stored(&db, tid, "D").await.message.status,
        MessageStatus::Completed
    );

    // A message without dates and without status (hanging RETRY, odd tenant data).
    let mut undated = Message::new("E", MessageStatus::Other(String::new()));
    undated.sender = Some("nul\0byte".into());
    let out = messages::upsert_messages(&db, tid, &[undated.clone()])
        .await
        .unwrap();
    assert_eq!(out.inserted, 1);
    let e = stored(&db, tid, "E").await;
    assert_eq!(e.message.status, MessageStatus::Other(String::new()));
    assert_eq!(e.message.sender.as_deref(), Some("nul\u{FFFD}byte"));
    assert_eq!(e.message.log_end, None);
    assert!(
        messages::upsert_messages(&db, tid, &[])
            .await
            .unwrap()
            .rows
            .is_empty()
    );
}
on_both!(upsert_inserts_updates_and_never_duplicates);

/// A page bigger than one statement can bind on either backend, with ten headers per message.
async fn large_pages_are_chunked(db: Db, _: Target) {
    let tid = tenant(&db, "big").await;
    let page: Vec<Message> = (0..3000)
        .map(|i| msg(&format!("G{i:05}"), MessageStatus::Completed, i))
        .collect();
    let out = messages::upsert_messages(&db, tid, &page).await.unwrap();
    assert_eq!(out.inserted, 3000);
    assert_eq!(out.needs_details.len(), 3000);
    let headers: Vec<(i64, Vec<CustomHeader>)> = out
        .rows
        .iter()
        .map(|r| {
            (
                r.id,
                (0..10)
                    .map(|h| CustomHeader::new(format!("h{h}"), format!("{}-{h}", r.guid)))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        messages::replace_headers_bulk(&db, &headers).await.unwrap(),
        30_000
    );
    assert_eq!(
        custom_header_properties::Entity::find()
            .count(db.conn())
            .await
            .unwrap(),
        30_000
    );
    // Writing them again replaces, never adds.
    messages::replace_headers_bulk(&db, &headers).await.unwrap();
    assert_eq!(
        custom_header_properties::Entity::find()
            .count(db.conn())
            .await
            .unwrap(),
        30_000
    );
    let out = messages::upsert_messages(&db, tid, &page).await.unwrap();
    assert_eq!((out.unchanged, out.updated, out.inserted), (3000, 0, 0));
    let found = messages::find_by_header(&db, tid, "h7", "G02999-7", 10)
        .await
        .unwrap();
    assert_eq!(found, vec![out.rows[2999].id]);
}
on_both!(large_pages_are_chunked);

/// A value longer than any index entry may be, with multi-byte characters.
fn long_value(seed: usize) -> String {
    const ALPHABET: &[char] = &['a', 'Z', '7', '-', 'é', 'ß', '€', '😀', ' ', '/'];
    (0..3000usize)
        .map(|i| ALPHABET[(i * 7919 + i / 13 + seed) % ALPHABET.len()])
        .collect()
}

async fn long_multibyte_headers_are_searchable(db: Db, _: Target) {
    let tid = tenant(&db, "h").await;
    let out = messages::upsert_messages(
        &db,
        tid,
        &[
            msg("M1", MessageStatus::Completed, 1),
            msg("M2", MessageStatus::Completed, 2),
        ],
    )
    .await
    .unwrap();
    let (m1, m2) = (out.rows[0].id, out.rows[1].id);
    let v1 = long_value(0);
    // Same first 200 characters as v1, different after: the prefix alone must not match.
    let v2: String = v1
        .chars()
        .take(250)
        .chain("different tail".chars())
        .collect();
    messages::replace_headers_bulk(
        &db,
        &[
            (
                m1,
                vec![
                    CustomHeader::new("po_number", v1.clone()),
                    CustomHeader::new("customer", "Müller & Söhne"),
                    CustomHeader {
                        name: "empty".into(),
                        value: None,
                    },
                ],
            ),
            (m2, vec![CustomHeader::new("po_number", v2.clone())]),
            (999_999, vec![CustomHeader::new("ghost", "x")]),
        ],
    )
    .await
    .unwrap();
    let rows = custom_header_properties::Entity::find()
        .order_by_asc(custom_header_properties::Column::Id)
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "the unknown message id was skipped");
    for r in &rows {
        assert_eq!(r.tenant_id, tid);
        assert_eq!(
            r.value_prefix,
            r.value
                .as_deref()
                .map(custom_header_properties::value_prefix)
        );
    }
    // Longer than the header cap: stored cut (and marked), still found by its whole value.
    assert!(v1.len() > domain::limits::HEADER_VALUE_MAX_BYTES);
    assert_eq!(
        rows[0].value.as_deref(),
        Some(domain::limits::header_value(&v1).as_ref()),
        "stored cut at the cap"
    );
    assert_eq!(
        rows[0].value_prefix.as_deref().unwrap().chars().count(),
        200
    );
    assert_eq!(
        messages::find_by_header(&db, tid, "po_number", &v1, 10)
            .await
            .unwrap(),
        vec![m1]
    );
    assert_eq!(
        messages::find_by_header(&db, tid, "po_number", &v2, 10)
            .await
            .unwrap(),
        vec![m2]
    );
    assert_eq!(
        messages::find_by_header(&db, tid, "customer", "Müller & Söhne", 10)
            .await
            .unwrap(),
        vec![m1]
    );
    assert!(
        messages::find_by_header(&db, tid + 1, "customer", "Müller & Söhne", 10)
            .await
            .unwrap()
            .is_empty(),
        "search is per tenant"
    );
    // Replacing m1's headers drops the old ones; m2 is untouched; an empty list clears.
    messages::replace_headers_bulk(&db, &[(m1, vec![CustomHeader::new("po_number", "short")])])
        .await
        .unwrap();
    assert!(
        messages::find_by_header(&db, tid, "po_number", &v1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        messages::find_by_header(&db, tid, "po_number", "short", 10)
            .await
            .unwrap(),
        vec![m1]
    );
    assert_eq!(
        messages::find_by_header(&db, tid, "po_number", &v2, 10)
            .await
            .unwrap(),
        vec![m2]
    );
    messages::replace_headers_bulk(&db, &[(m2, vec![])])
        .await
        .unwrap();
    assert_eq!(
        custom_header_properties::Entity::find()
            .count(db.conn())
            .await
            .unwrap(),
        1
    );
}
on_both!(long_multibyte_headers_are_searchable);

async fn correlation_counts_follow_the_messages(db: Db, _: Target) {
    let tid = tenant(&db, "c").await;
    let with = |guid: &str, corr: &str, start: i64, end: i64| {
        let mut m = msg(guid, MessageStatus::Completed, end);
        m.log_start = Some(t(start));
        m.correlation_id = Some(corr.into());
        m
    };
    messages::upsert_messages(
        &db,
        tid,
        &[
            with("1", "X", 5, 10),
            with("2", "X", 3, 20),
            with("3", "Y", 7, 30),
        ],
    )
    .await
    .unwrap();
    // Next page: one more X, one re-read, one message without correlation id.
    let mut none = msg("5", MessageStatus::Completed, 50);
    none.correlation_id = None;
    messages::upsert_messages(
        &db,
        tid,
        &[with("4", "X", 40, 45), with("3", "Y", 7, 30), none],
    )
    .await
    .unwrap();
    // An update of an existing message (status change) does not count it twice.
    let mut moved = with("1", "X", 5, 60);
    moved.status = MessageStatus::Failed;
    messages::upsert_messages(&db, tid, &[moved]).await.unwrap();
    assert_eq!(
        messages::correlation_count(&db, tid, "X").await.unwrap(),
        Some(3)
    );
    assert_eq!(
        messages::correlation_count(&db, tid, "Y").await.unwrap(),
        Some(1)
    );
    assert_eq!(
        messages::correlation_count(&db, tid, "none").await.unwrap(),
        None
    );
    let x = store::entity::correlations::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.correlation_id == "X")
        .unwrap();
    assert_eq!(x.first_seen, Some(t(3)));
    assert_eq!(x.last_seen, Some(t(60)));
    // A message that moves to another correlation id moves its count.
    messages::upsert_messages(&db, tid, &[with("2", "Y", 3, 70)])
        .await
        .unwrap();
    assert_eq!(
        messages::correlation_count(&db, tid, "X").await.unwrap(),
        Some(2)
    );
    assert_eq!(
        messages::correlation_count(&db, tid, "Y").await.unwrap(),
        Some(2)
    );
}
on_both!(correlation_counts_follow_the_messages);

fn step(child: i32, status: &str) -> RunStep {
    let mut s = RunStep::new(child);
    s.step_start = Some(t(i64::from(child)));
    s.step_stop = Some(t(i64::from(child) + 1));
    s.model_step_id = Some(format!("CallActivity_{child}"));
    s.status = Some(status.into());
    s.properties = BTreeMap::from([
        ("TraceIds".to_string(), Some(format!("[{child}]"))),
        ("Empty".to_string(), None),
    ]);
    s
}

fn full_details() -> MessageDetails {
    MessageDetails {
        status: MessageStatus::Failed,
        headers: Some(vec![
            CustomHeader::new("po_number", "4711"),
            CustomHeader::new("customer", "ACME"),
        ]),
        runs: Some(vec![
            Run {
                run_id: "R1".into(),
                run_start: Some(t(1)),
                run_stop: Some(t(5)),
                log_level: Some("INFO".into()),
                overall_state: Some("FAILED".into()),
                process_id: Some("p1".into()),
                steps: vec![
                    step(1, "COMPLETED"),
                    step(2, "COMPLETED"),
                    step(3, "FAILED"),
                ],
            },
            Run {
                run_id: "R2".into(),
                run_start: Some(t(6)),
                run_stop: None,
                log_level: None,
                overall_state: None,
                process_id: None,
                steps: vec![step(1, "FAILED")],
            },
        ]),
        error: Some(ErrorInfo {
            error_type: Some("text/plain".into()),
            last_error_model_step_id: Some("MessageFlow_11".into()),
            text: Some("java.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)".into()),
        }),
        attachments: Some(vec![
            AttachmentMeta {
                attachment_id: "sap-it-res:msg:n1:a1".into(),
                name: Some("a1.xml".into()),
                content_type: Some("application/xml".into()),
                size: Some(120),
                timestamp: Some(t(2)),
            },
            AttachmentMeta {
                attachment_id: "sap-it-res:msg:n1:a2".into(),
                name: Some("a2.txt".into()),
                content_type: Some("text/plain".into()),
                size: Some(7),
                timestamp: Some(t(3)),
            },
        ]),
        adapter_attributes: Some(vec![AdapterAttribute {
            cpi_id: Some("aa1".into()),
            adapter_id: Some("AS2".into()),
            adapter_message_id: Some("am1".into()),
            name: "SAP_MplCorrelationId".into(),
            value: Some("corr".into()),
        }]),
        payloads: Some(vec![
            PayloadEntry {
                entry_id: "E1".into(),
                message_store_id: Some("Persist_1".into()),
                timestamp: Some(t(2)),
                has_attachments: Some(false),
                retain_until: Some(t(2) + chrono::Duration::days(30)),
            },
            PayloadEntry {
                entry_id: "E2".into(),
                message_store_id: Some("Persist_2".into()),
                timestamp: Some(t(4)),
                has_attachments: Some(true),
                retain_until: None,
            },
        ]),
    }
}

/// Every child row of every message, ids included.
#[derive(Debug, PartialEq)]
struct Snapshot {
    headers: Vec<custom_header_properties::Model>,
    runs: Vec<message_runs::Model>,
    steps: Vec<message_run_steps::Model>,
    errors: Vec<message_errors::Model>,
    attachments: Vec<attachments::Model>,
    adapter_attributes: Vec<adapter_attributes::Model>,
    payloads: Vec<payloads::Model>,
}

async fn snapshot(db: &Db) -> Snapshot {
    let c = db.conn();
    Snapshot {
        headers: custom_header_properties::Entity::find()
            .order_by_asc(custom_header_properties::Column::Id)
            .all(c)
            .await
            .unwrap(),
        runs: message_runs::Entity::find()
            .order_by_asc(message_runs::Column::Id)
            .all(c)
            .await
            .unwrap(),
        steps: message_run_steps::Entity::find()
            .order_by_asc(message_run_steps::Column::Id)
            .all(c)
            .await
            .unwrap(),
        errors: message_errors::Entity::find().all(c).await.unwrap(),
        attachments: attachments::Entity::find()
            .order_by_asc(attachments::Column::Id)
            .all(c)
            .await
            .unwrap(),
        adapter_attributes: adapter_attributes::Entity::find()
            .order_by_asc(adapter_attributes::Column::Id)
            .all(c)
            .await
            .unwrap(),
        payloads: payloads::Entity::find()
            .order_by_asc(payloads::Column::Id)
            .all(c)
            .await
            .unwrap(),
    }
}

async fn write_details_is_idempotent(db: Db, _: Target) {
    let tid = tenant(&db, "d").await;
    let out = messages::upsert_messages(&db, tid, &[msg("M", MessageStatus::Failed, 9)])
        .await
        .unwrap();
    let id = out.rows[0].id;
    let details = full_details();
    let counts = messages::write_details(&db, id, &details, t(100))
        .await
        .unwrap();
    assert_eq!(
        (
            counts.headers,
            counts.runs,
            counts.steps,
            counts.attachments,
            counts.payloads
        ),
        (2, 2, 4, 2, 2)
    );
    let first = snapshot(&db).await;
    assert_eq!(first.steps.len(), 4);
    messages::write_details(&db, id, &details, t(100))
        .await
        .unwrap();
    assert_eq!(snapshot(&db).await, first, "a second write changes nothing");

    // What is stored reads back as what was written.
    let back = messages::get_details(&db, id).await.unwrap().unwrap();
    assert_eq!(back, details);
    let m = stored(&db, tid, "M").await;
    assert_eq!(m.details_status, Some(MessageStatus::Failed));
    assert_eq!(m.details_fetched_at, Some(t(100)));

    // E1 gets downloaded; then CPI lists less: R2 gone, step 3 gone, a2 gone, E1 and E2 gone.
    let pending =
        payload_repo::pending_payloads(&db, tid, domain::tenant::PayloadStrategy::All, 10)
            .await
            .unwrap();
    let e1 = pending.iter().find(|p| p.cpi_id == "E1").unwrap();
    payload_repo::save_payload(
        &db,
        e1.id,
        &Download::Downloaded {
            content: b"<xml/>".to_vec(),
            content_type: Some("application/xml".into()),
            sha256: "ab".repeat(32),
        },
        t(101),
    )
    .await
    .unwrap();
    let mut less = full_details();
    less.status = MessageStatus::Escalated;
    let runs = less.runs.as_mut().unwrap();
    runs.truncate(1);
    runs[0].steps.truncate(2);
    runs[0].steps[1].status = Some("CHANGED".into());
    less.attachments.as_mut().unwrap().truncate(1);
    less.payloads = Some(vec![]);
    less.headers = None; // not fetched this time: kept
    less.error = None; // kept
    less.adapter_attributes = Some(vec![]);
    messages::write_details(&db, id, &less, t(200))
        .await
        .unwrap();
    let after = snapshot(&db).await;
    assert_eq!(after.headers, first.headers);
    assert_eq!(after.errors, first.errors);
    assert_eq!(after.runs, first.runs[..1], "R1 keeps its id");
    assert_eq!(after.steps.len(), 2);
    assert_eq!(after.steps[0], first.steps[0]);
    assert_eq!(after.steps[1].id, first.steps[1].id);
    assert_eq!(after.steps[1].status.as_deref(), Some("CHANGED"));
    assert_eq!(after.attachments.len(), 1);
    assert!(after.adapter_attributes.is_empty());
    assert_eq!(after.payloads.len(), 1, "the downloaded payload is kept");
    assert_eq!(after.payloads[0].entry_id, "E1");
    assert_eq!(after.payloads[0].content.as_deref(), Some(&b"<xml/>"[..]));
    assert_eq!(
        stored(&db, tid, "M").await.details_status,
        Some(MessageStatus::Escalated)
    );

    // Listed again, the downloaded payload keeps its content and status.
    messages::write_details(&db, id, &full_details(), t(300))
        .await
        .unwrap();
    let again = snapshot(&db).await;
    let e1 = again.payloads.iter().find(|p| p.entry_id == "E1").unwrap();
    assert_eq!(e1.status, "downloaded");
    assert_eq!(e1.content.as_deref(), Some(&b"<xml/>"[..]));
    assert_eq!(again.payloads.len(), 2);
    assert_eq!(again.steps.len(), 4);

    let missing = messages::write_details(&db, 424_242, &full_details(), t(1)).await;
    assert!(missing.unwrap_err().is_not_found());
}
on_both!(write_details_is_idempotent);

async fn counts_by_status(db: Db, _: Target) {
    let tid = tenant(&db, "s").await;
    let page = [
        msg("1", MessageStatus::Completed, 10),
        msg("2", MessageStatus::Completed, 20),
        msg("3", MessageStatus::Failed, 30),
        msg("4", MessageStatus::Other("ERROR".into()), 40),
        msg("5", MessageStatus::Completed, 100),
    ];
    let out = messages::upsert_messages(&db, tid, &page).await.unwrap();
    // A message with nothing fetched yet reads back with empty parts and no status.
    let empty = messages::get_details(&db, out.rows[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(empty.status, MessageStatus::Other(String::new()));
    assert_eq!(empty.runs, Some(vec![]));
    assert_eq!(empty.error, None);
    assert!(messages::get_details(&db, 123_456).await.unwrap().is_none());
    assert_eq!(
        messages::get_message(&db, out.rows[0].id)
            .await
            .unwrap()
            .unwrap()
            .message,
        page[0]
    );
    let counts = messages::message_counts_by_status(&db, tid, t(10), t(100))
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![
            (MessageStatus::Completed, 2),
            (MessageStatus::Other("ERROR".into()), 1),
            (MessageStatus::Failed, 1),
        ]
    );
}
on_both!(counts_by_status);

/// A real PostgreSQL deadlock is recognised as one (a page write runs again when it is the
/// victim), and an ordinary error is not.
#[tokio::test]
async fn a_postgres_deadlock_is_recognised() {
    use sea_orm::ConnectionTrait;
    let name = support::create_pg().await;
    let db = support::open(&support::pg_settings(&name)).await;
    db.conn()
        .execute_unprepared("CREATE TABLE dl (id int PRIMARY KEY); INSERT INTO dl VALUES (1), (2)")
        .await
        .unwrap();
    let a = db.begin_write().await.unwrap();
    let b = db.begin_write().await.unwrap();
    a.execute_unprepared("UPDATE dl SET id = id WHERE id = 1")
        .await
        .unwrap();
    b.execute_unprepared("UPDATE dl SET id = id WHERE id = 2")
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        a.execute_unprepared("UPDATE dl SET id = id WHERE id = 2"),
        b.execute_unprepared("UPDATE dl SET id = id WHERE id = 1"),
    );
    let victim = ra.err().or(rb.err()).expect("one side is the victim");
    assert!(store::StoreError::from(victim).is_deadlock());
    drop((a, b));

    let other = db
        .conn()
        .execute_unprepared("SELECT 1/0")
        .await
        .unwrap_err();
    assert!(!store::StoreError::from(other).is_deadlock());
    db.close().await;
    support::drop_pg(&name).await;
}

/// Text no compressor shrinks (PostgreSQL compresses a long index entry before it checks the
/// size, so repeated characters would not reach the limit).
fn incompressible(chars: usize) -> String {
    let mut s = String::with_capacity(chars + 32);
    while s.len() < chars {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(chars);
    s
}

/// One bad record must not fail the page it came in (issue 12, item 3): a 3,000-character
/// application id, correlation id, iFlow, package, sender and receiver (over PostgreSQL's
/// btree limit), a GUID with NUL (written once, then "kept being inserted concurrently"), a
/// 1 MB custom header value (stored whole). The page is written, twice, and the monitor's
/// filters find each message by the tenant's original, full value.
async fn bad_records_do_not_fail_their_page(db: Db, _: Target) {
    use store::repo::messages::PageMessage;
    use store::repo::monitor::{self, MessageFilter, Sort};
    let tid = tenant(&db, "t1").await;
    let long = |_: &str| incompressible(3000);
    let mut ids = msg("ids", MessageStatus::Failed, 10);
    ids.application_message_id = Some(long("app"));
    ids.correlation_id = Some(long("corr"));
    let mut flow = msg("flow", MessageStatus::Completed, 11);
    flow.iflow_id = Some(long("iflow"));
    flow.package_id = Some(long("package"));
    flow.sender = Some(long("sender"));
    flow.receiver = Some(long("receiver"));
    flow.iflow_name = Some(incompressible(100_000));
    let nul = msg("bad\0guid", MessageStatus::Completed, 12);
    let header_value = incompressible(1 << 20);
    let big = msg("big-header", MessageStatus::Completed, 13);
    let page: Vec<PageMessage> = [ids.clone(), flow.clone(), nul, big]
        .into_iter()
        .map(|message| PageMessage {
            headers: Some(vec![
                CustomHeader::new("Big", header_value.clone()),
                CustomHeader::new("Order", "ORD-1"),
            ]),
            message,
        })
        .collect();
    let out = messages::write_page(&db, tid, &page).await.unwrap();
    assert_eq!(out.upsert.inserted, 4, "{out:?}");
    let again = messages::write_page(&db, tid, &page).await.unwrap();
    assert_eq!(again.upsert.unchanged, 4, "{again:?}");
    assert_eq!(message_rows(&db).await, 4);

    let find = |f: MessageFilter| {
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
    let base = MessageFilter::tenants([tid]);
    let by = |set: &(dyn Fn(&mut MessageFilter) + Sync)| {
        let mut f = base.clone();
        set(&mut f);
        f
    };
    let ids_guid = vec!["ids".to_string()];
    let flow_guid = vec!["flow".to_string()];
    let app = ids.application_message_id.clone();
    assert_eq!(
        find(by(&|f| f.application_id = app.clone())).await,
        ids_guid
    );
    let corr = ids.correlation_id.clone();
    assert_eq!(
        find(by(&|f| f.correlation_id = corr.clone())).await,
        ids_guid
    );
    for set in [
        &(|f: &mut MessageFilter| f.iflow_id = flow.iflow_id.clone())
            as &(dyn Fn(&mut MessageFilter) + Sync),
        &|f| f.package_id = flow.package_id.clone(),
        &|f| f.sender = flow.sender.clone(),
        &|f| f.receiver = flow.receiver.clone(),
    ] {
        assert_eq!(find(by(set)).await, flow_guid);
    }
    let nul = find(by(&|f| f.message_guid = Some("bad\0guid".into()))).await;
    assert_eq!(nul, vec!["bad\u{FFFD}guid".to_string()]);
    assert!(
        messages::find_message(&db, tid, "bad\0guid")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        messages::correlation_count(&db, tid, corr.as_deref().unwrap())
            .await
            .unwrap(),
        Some(1)
    );
    // Stored values are capped, and say so.
    let stored = stored(&db, tid, "ids").await.message;
    let app_key = stored.application_message_id.unwrap();
    assert!(
        app_key.len() <= domain::limits::KEY_MAX_BYTES && app_key.contains("…[sha256:"),
        "{app_key}"
    );
    let name = stored_flow_name(&db, tid).await;
    assert!(name.len() <= domain::limits::TEXT_MAX_BYTES && name.ends_with("…[cut: 100000 bytes]"));
    // The 1 MB header value is cut, marked, and still found by its full value.
    let big_headers: Vec<String> = custom_header_properties::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.name == "Big")
        .filter_map(|h| h.value)
        .collect();
    assert_eq!(big_headers.len(), 4);
    for v in &big_headers {
        assert!(
            v.len() <= domain::limits::HEADER_VALUE_MAX_BYTES,
            "{}",
            v.len()
        );
        assert!(
            v.ends_with("…[cut: 1048576 bytes]"),
            "{}",
            &v[v.len() - 30..]
        );
    }
    let by_header = find(by(&|f| {
        f.header_name = Some("Big".into());
        f.header_value = Some(header_value.clone());
    }))
    .await;
    assert_eq!(by_header.len(), 4, "{by_header:?}");
    let found = messages::find_by_header(&db, tid, "Big", &header_value, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 4);
}
on_both!(bad_records_do_not_fail_their_page);

async fn stored_flow_name(db: &Db, tid: i64) -> String {
    stored(db, tid, "flow").await.message.iflow_name.unwrap()
}
