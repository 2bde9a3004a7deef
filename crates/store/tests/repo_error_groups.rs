//! Error groups on SQLite and PostgreSQL: grouping on write (idempotent under re-fetches,
//! status changes and concurrent writers; moves when the text changes; the "no error text yet"
//! group), the lifecycle (regression, next deployment, ignore conditions, escalation), merge and
//! unmerge, counts that survive the archive, the list, rules and regroup.

#[macro_use]
mod support;

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, Utc};
use domain::MessageStatus;
use domain::errors::{FingerprintRule, GroupState, IgnoreUntil, ResolveMode};
use domain::message::{ErrorInfo, Message, MessageDetails};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use store::Db;
use store::entity::{error_group_hours, error_groups, message_logs, runtime_artifacts};
use store::repo::error_groups::{self as groups, GroupQuery, GroupSort};
use store::repo::messages::{self, PageMessage};
use store::repo::monitor::{self, MessageFilter, Sort};
use store::repo::{archive_data, archive_restore, error_rules};
use support::{Target, tenant};

const TIMEOUT: &str = "java.net.SocketTimeoutException: Read timed out after 30000 ms calling \
                       https://erp.example.com/orders/4711";
const UNAUTHORIZED: &str = "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: \
                            An internal server error occured: HTTP 401 Unauthorized";

/// A recent instant, in whole seconds, `secs` from now.
fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap() - Duration::seconds(secs)
}

fn message(guid: &str, status: MessageStatus, start: DateTime<Utc>) -> Message {
    let mut m = Message::new(guid, status);
    m.log_start = Some(start);
    m.log_end = Some(start + Duration::seconds(1));
    m.iflow_id = Some("flow_a".into());
    m.package_id = Some("pkg".into());
    m
}

/// Store one message page; returns the message's id.
async fn put(db: &Db, tid: i64, m: Message) -> i64 {
    let out = messages::write_page(
        db,
        tid,
        &[PageMessage {
            message: m,
            headers: None,
        }],
    )
    .await
    .unwrap();
    out.upsert.rows[0].id
}

async fn details(db: &Db, id: i64, status: MessageStatus, text: &str) {
    let mut d = MessageDetails::empty(status);
    d.error = Some(ErrorInfo {
        error_type: Some("text/plain".into()),
        last_error_model_step_id: None,
        text: Some(text.into()),
    });
    messages::write_details(db, id, &d, Utc::now())
        .await
        .unwrap();
}

/// A failed message with its error text; returns its id.
async fn failed(db: &Db, tid: i64, guid: &str, start: DateTime<Utc>, text: &str) -> i64 {
    let id = put(db, tid, message(guid, MessageStatus::Failed, start)).await;
    details(db, id, MessageStatus::Failed, text).await;
    id
}

async fn group_of(db: &Db, id: i64) -> Option<i64> {
    message_logs::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
        .error_group_id
}

async fn group(db: &Db, id: i64) -> error_groups::Model {
    error_groups::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
}

/// The sum of a group's hourly history.
async fn hours_sum(db: &Db, id: i64) -> i64 {
    error_group_hours::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.group_id == id)
        .map(|h| h.count)
        .sum()
}

fn query(tenants: Vec<i64>) -> GroupQuery {
    GroupQuery {
        tenants,
        tenant: None,
        iflow: None,
        package: None,
        state: None,
        from: Utc::now() - Duration::days(30),
        to: Utc::now() + Duration::days(1),
        q: None,
        sort: GroupSort::LastSeen,
        limit: 50,
        after: None,
    }
}

async fn state(db: &Db, id: i64) -> GroupState {
    groups::get(db, id).await.unwrap().unwrap().summary.state
}

async fn grouping_counts_each_message_once(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let id = failed(&db, tid, "M1", ago(600), TIMEOUT).await;
    let g = group_of(&db, id).await.expect("grouped");
    // Details fetched again, twice.
    details(&db, id, MessageStatus::Failed, TIMEOUT).await;
    details(&db, id, MessageStatus::Failed, TIMEOUT).await;
    assert_eq!(group(&db, g).await.total_occurrences, 1);
    assert_eq!(hours_sum(&db, g).await, 1);

    // RETRY, then FAILED with the same text (the ids vary, the normalised text does not).
    let r = put(&db, tid, message("M2", MessageStatus::Retry, ago(500))).await;
    details(
        &db,
        r,
        MessageStatus::Retry,
        &TIMEOUT.replace("4711", "4712"),
    )
    .await;
    assert_eq!(
        group_of(&db, r).await,
        Some(g),
        "same normalised text, same group"
    );
    let mut again = message("M2", MessageStatus::Failed, ago(500));
    again.log_end = Some(ago(100));
    put(&db, tid, again).await;
    details(
        &db,
        r,
        MessageStatus::Failed,
        &TIMEOUT.replace("4711", "4712"),
    )
    .await;
    let model = group(&db, g).await;
    assert_eq!(model.total_occurrences, 2);
    assert_eq!(hours_sum(&db, g).await, 2);
    assert_eq!(model.sample_text.as_deref(), Some(TIMEOUT));
    assert_eq!(model.sample_message_id, Some(id));
    assert!(
        model.title.contains("SocketTimeoutException"),
        "{}",
        model.title
    );
    let listed = groups::list(&db, &query(vec![tid])).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].occurrences, 2);
    assert_eq!(listed.items[0].total_occurrences, 2);
    assert_eq!(listed.items[0].sparkline.iter().sum::<i64>(), 2);
}
on_both!(grouping_counts_each_message_once);

async fn concurrent_writers_count_once(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            put(
                &db,
                tid,
                message(&format!("C{i}"), MessageStatus::Failed, ago(900)),
            )
            .await,
        );
    }
    let mut tasks = Vec::new();
    for _worker in 0..2 {
        for &id in &ids {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                details(&db, id, MessageStatus::Failed, UNAUTHORIZED).await;
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let g = group_of(&db, ids[0]).await.unwrap();
    assert_eq!(group(&db, g).await.total_occurrences, 8);
    assert_eq!(hours_sum(&db, g).await, 8);
    // The no-text group they sat in meanwhile is back to zero.
    let all = error_groups::Entity::find().all(db.conn()).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let no_text = all.iter().find(|x| x.id != g).unwrap();
    assert_eq!(no_text.fingerprint, domain::errors::NO_TEXT_FINGERPRINT);
    assert_eq!(no_text.total_occurrences, 0);
    assert_eq!(hours_sum(&db, no_text.id).await, 0);
}
on_both!(concurrent_writers_count_once);

async fn a_changed_text_moves_the_message(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let id = failed(&db, tid, "M", ago(600), TIMEOUT).await;
    let old = group_of(&db, id).await.unwrap();
    details(&db, id, MessageStatus::Failed, UNAUTHORIZED).await;
    let new = group_of(&db, id).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(group(&db, old).await.total_occurrences, 0);
    assert_eq!(hours_sum(&db, old).await, 0, "counted down in its hour");
    assert_eq!(group(&db, new).await.total_occurrences, 1);
    assert_eq!(hours_sum(&db, new).await, 1);
    // The list shows only groups with occurrences in the range when sorted by them.
    let mut q = query(vec![tid]);
    q.sort = GroupSort::Occurrences;
    let page = groups::list(&db, &q).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.id).collect::<Vec<_>>(), [new]);
}
on_both!(a_changed_text_moves_the_message);

async fn no_text_group_until_the_text_arrives(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let id = put(&db, tid, message("M", MessageStatus::Failed, ago(600))).await;
    let nt = group_of(&db, id).await.expect("in the no-text group");
    let detail = groups::get(&db, nt).await.unwrap().unwrap();
    assert!(detail.no_text);
    assert_eq!(detail.summary.iflow, "flow_a");
    assert_eq!(detail.summary.total_occurrences, 1);
    // Details without a text keep it there.
    messages::write_details(
        &db,
        id,
        &MessageDetails::empty(MessageStatus::Failed),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(group_of(&db, id).await, Some(nt));
    assert_eq!(group(&db, nt).await.total_occurrences, 1);
    // The text arrives.
    details(&db, id, MessageStatus::Failed, TIMEOUT).await;
    let real = group_of(&db, id).await.unwrap();
    assert_ne!(real, nt);
    assert_eq!(group(&db, nt).await.total_occurrences, 0);
    assert_eq!(group(&db, real).await.total_occurrences, 1);

    // A RETRY without text that completes leaves the no-text group.
    let r = put(&db, tid, message("R", MessageStatus::Retry, ago(500))).await;
    assert_eq!(group_of(&db, r).await, Some(nt));
    assert_eq!(group(&db, nt).await.total_occurrences, 1);
    let mut done = message("R", MessageStatus::Completed, ago(500));
    done.log_end = Some(ago(10));
    put(&db, tid, done).await;
    assert_eq!(group_of(&db, r).await, None);
    assert_eq!(group(&db, nt).await.total_occurrences, 0);
}
on_both!(no_text_group_until_the_text_arrives);

async fn a_resolved_group_regresses(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let id = failed(&db, tid, "M1", ago(600), TIMEOUT).await;
    let g = group_of(&db, id).await.unwrap();
    let d = groups::resolve(&db, g, "alice", ResolveMode::Now, Some("fixed the ERP"))
        .await
        .unwrap();
    assert_eq!(d.summary.state, GroupState::Resolved);
    // A late message that failed before the resolve changes nothing.
    failed(&db, tid, "M0", ago(3000), TIMEOUT).await;
    assert_eq!(state(&db, g).await, GroupState::Resolved);
    // One that fails after it regresses the group.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    failed(&db, tid, "M2", ago(0), TIMEOUT).await;
    let d = groups::get(&db, g).await.unwrap().unwrap();
    assert_eq!(d.summary.state, GroupState::Regressed);
    let actions: Vec<(&str, &str)> = d
        .history
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(actions, [("system", "regression"), ("alice", "resolve")]);
    assert_eq!(d.history[1].comment.as_deref(), Some("fixed the ERP"));
    assert_eq!(d.history[0].from_state, Some(GroupState::Resolved));
    let counts = groups::overview_counts(&db, &[tid]).await.unwrap();
    assert_eq!(counts.regressed, 1);
    assert_eq!(
        groups::overview_counts(&db, &[]).await.unwrap().regressed,
        0
    );
    // Reopen is refused for an open group, accepted after a resolve.
    assert!(groups::reopen(&db, g, "alice", None).await.is_err());
    groups::resolve(&db, g, "alice", ResolveMode::Now, None)
        .await
        .unwrap();
    let d = groups::reopen(&db, g, "bob", Some("not fixed"))
        .await
        .unwrap();
    assert!(d.summary.state.is_open());
    assert_eq!(d.history[0].actor, "bob");
}
on_both!(a_resolved_group_regresses);

async fn deploy(db: &Db, tid: i64, at: DateTime<Utc>) {
    use sea_orm::{ColumnTrait, QueryFilter};
    runtime_artifacts::Entity::delete_many()
        .filter(runtime_artifacts::Column::TenantId.eq(tid))
        .exec(db.conn())
        .await
        .unwrap();
    runtime_artifacts::ActiveModel {
        tenant_id: Set(tid),
        artifact_id: Set("flow_a".into()),
        deployed_at: Set(Some(at)),
        status: Set(Some("STARTED".into())),
        synced_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
}

async fn resolved_with_the_next_deployment(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    deploy(&db, tid, ago(86_400)).await;
    let id = failed(&db, tid, "M1", ago(600), TIMEOUT).await;
    let g = group_of(&db, id).await.unwrap();
    let resolved = groups::resolve(&db, g, "alice", ResolveMode::NextDeployment, None)
        .await
        .unwrap();
    assert_eq!(resolved.resolve_mode, Some(ResolveMode::NextDeployment));
    // No new deployment yet: occurrences are expected.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    failed(&db, tid, "M2", ago(0), TIMEOUT).await;
    assert_eq!(state(&db, g).await, GroupState::Resolved);
    // Deployed now; a message that started before it is still expected.
    let deployed = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap() + Duration::seconds(1);
    deploy(&db, tid, deployed).await;
    failed(&db, tid, "M3", deployed - Duration::seconds(5), TIMEOUT).await;
    assert_eq!(state(&db, g).await, GroupState::Resolved);
    // One that started after it is a regression.
    failed(&db, tid, "M4", deployed + Duration::seconds(5), TIMEOUT).await;
    let d = groups::get(&db, g).await.unwrap().unwrap();
    assert_eq!(d.summary.state, GroupState::Regressed);
    assert_eq!(d.history[0].action, "regression_after_deployment");
}
on_both!(resolved_with_the_next_deployment);

async fn ignore_until_conditions(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    // Forever: stays ignored.
    let a = failed(&db, tid, "A0", ago(600), TIMEOUT).await;
    let ga = group_of(&db, a).await.unwrap();
    groups::ignore(&db, ga, "alice", IgnoreUntil::Forever, None)
        .await
        .unwrap();
    for i in 1..4 {
        failed(&db, tid, &format!("A{i}"), ago(500 - i), TIMEOUT).await;
    }
    assert_eq!(state(&db, ga).await, GroupState::Ignored);

    // Two more occurrences.
    let b = failed(&db, tid, "B0", ago(600), UNAUTHORIZED).await;
    let gb = group_of(&db, b).await.unwrap();
    let d = groups::ignore(&db, gb, "alice", IgnoreUntil::Occurrences(2), Some("noise"))
        .await
        .unwrap();
    assert_eq!(d.ignore, Some(IgnoreUntil::Occurrences(2)));
    failed(&db, tid, "B1", ago(400), UNAUTHORIZED).await;
    assert_eq!(state(&db, gb).await, GroupState::Ignored);
    failed(&db, tid, "B2", ago(300), UNAUTHORIZED).await;
    let d = groups::get(&db, gb).await.unwrap().unwrap();
    assert_eq!(
        d.summary.state,
        GroupState::New,
        "back, and first seen minutes ago"
    );
    assert_eq!(d.history[0].action, "ignore_count_reached");

    // Three within an hour.
    let text = "org.xml.sax.SAXParseException: Content is not allowed in prolog";
    let c = failed(&db, tid, "C0", ago(600), text).await;
    let gc = group_of(&db, c).await.unwrap();
    let rate = IgnoreUntil::Rate {
        count: 3,
        window_minutes: 60,
    };
    groups::ignore(&db, gc, "alice", rate, None).await.unwrap();
    // C0 is in the window already: one more keeps it ignored, the next reaches three.
    failed(&db, tid, "C1", ago(200), text).await;
    assert_eq!(state(&db, gc).await, GroupState::Ignored);
    failed(&db, tid, "C2", ago(100), text).await;
    assert_eq!(state(&db, gc).await, GroupState::New);

    // A date in the past is refused, naming the argument.
    let err = groups::ignore(&db, gc, "alice", IgnoreUntil::Date(ago(60)), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            store::StoreError::InvalidArgument { field: "until", .. }
        ),
        "{err}"
    );
    // A date reached comes back on the tick.
    let until = Utc::now() + Duration::seconds(1);
    groups::ignore(&db, gc, "alice", IgnoreUntil::Date(until), None)
        .await
        .unwrap();
    assert_eq!(groups::tick(&db, Utc::now()).await.unwrap(), 0);
    assert_eq!(state(&db, gc).await, GroupState::Ignored);
    assert_eq!(
        groups::tick(&db, until + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(state(&db, gc).await, GroupState::New);
}
on_both!(ignore_until_conditions);

async fn a_burst_escalates(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let text = "com.sap.gateway.core.ip.component.odata.exception.OsciException: HTTP 503";
    let mut g = None;
    for i in 0..12 {
        let id = failed(&db, tid, &format!("E{i}"), ago(30), text).await;
        g = group_of(&db, id).await;
        if i < 10 {
            // At most the minimum limit (10) in the last hour: not escalating.
            assert_eq!(
                state(&db, g.unwrap()).await,
                GroupState::New,
                "after {}",
                i + 1
            );
        }
    }
    let d = groups::get(&db, g.unwrap()).await.unwrap().unwrap();
    assert_eq!(d.summary.state, GroupState::Escalating);
    assert_eq!(d.history[0].action, "escalation");
    assert_eq!(
        groups::overview_counts(&db, &[tid])
            .await
            .unwrap()
            .escalating,
        1
    );
}
on_both!(a_burst_escalates);

async fn merge_and_unmerge(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let a1 = failed(&db, tid, "A1", ago(900), TIMEOUT).await;
    failed(&db, tid, "A2", ago(800), TIMEOUT).await;
    let b1 = failed(&db, tid, "B1", ago(700), UNAUTHORIZED).await;
    failed(&db, tid, "B2", ago(600), UNAUTHORIZED).await;
    failed(&db, tid, "B3", ago(500), UNAUTHORIZED).await;
    let (ga, gb) = (
        group_of(&db, a1).await.unwrap(),
        group_of(&db, b1).await.unwrap(),
    );

    let d = groups::merge(&db, ga, &[gb], "alice").await.unwrap();
    assert_eq!(d.summary.total_occurrences, 5);
    assert_eq!(d.merged, [gb]);
    let page = groups::list(&db, &query(vec![tid])).await.unwrap();
    assert_eq!(page.items.len(), 1, "the merged group is not listed");
    assert_eq!(page.items[0].id, ga);
    assert_eq!(page.items[0].occurrences, 5);
    // The monitor filtered to the group lists the merged group's messages too, as the target's.
    let mut f = MessageFilter::tenants([tid]);
    f.error_group = Some(ga);
    let msgs = monitor::search(&db, &f, Sort::NewestFirst, None, 100)
        .await
        .unwrap();
    assert_eq!(msgs.rows.len(), 5);
    assert!(msgs.rows.iter().all(|r| r.error_group == Some(ga)));
    // New occurrences of the merged group count in both.
    failed(&db, tid, "B4", ago(400), UNAUTHORIZED).await;
    assert_eq!(group(&db, ga).await.total_occurrences, 6);
    assert_eq!(group(&db, gb).await.total_occurrences, 4);
    assert_eq!(hours_sum(&db, ga).await, 6);
    // Acting on a merged group is refused.
    assert!(
        groups::resolve(&db, gb, "alice", ResolveMode::Now, None)
            .await
            .is_err()
    );

    let d = groups::unmerge(&db, gb, "alice").await.unwrap();
    assert_eq!(d.merged_into, None);
    assert_eq!(d.summary.total_occurrences, 4);
    assert_eq!(group(&db, ga).await.total_occurrences, 2);
    assert_eq!(hours_sum(&db, ga).await, 2);
    assert_eq!(hours_sum(&db, gb).await, 4);
    let page = groups::list(&db, &query(vec![tid])).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let msgs = monitor::search(&db, &f, Sort::NewestFirst, None, 100)
        .await
        .unwrap();
    assert_eq!(msgs.rows.len(), 2);
    let actions: Vec<String> = groups::get(&db, ga)
        .await
        .unwrap()
        .unwrap()
        .history
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["unmerged", "merge"]);
    // Another tenant's group cannot be merged in.
    let other = tenant(&db, "u").await;
    let o = failed(&db, other, "O", ago(100), TIMEOUT).await;
    let go = group_of(&db, o).await.unwrap();
    assert!(groups::merge(&db, ga, &[go], "alice").await.is_err());
}
on_both!(merge_and_unmerge);

async fn counts_survive_archive_and_restore(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(failed(&db, tid, &format!("M{i}"), ago(3600 + i * 60), TIMEOUT).await);
    }
    let g = group_of(&db, ids[0]).await.unwrap();
    let from = ago(10 * 86_400);
    let to = Utc::now() + Duration::days(1);
    let day = archive_data::day_messages(&db, tid, from, to)
        .await
        .unwrap();
    let archived = archive_data::read_messages(&db, &ids).await.unwrap();
    let deleted = archive_data::delete_archived(&db, tid, &day).await.unwrap();
    assert_eq!(deleted.deleted, 3);
    let after_archive = group(&db, g).await;
    assert_eq!(after_archive.total_occurrences, 3);
    assert_eq!(hours_sum(&db, g).await, 3);
    let page = groups::list(&db, &query(vec![tid])).await.unwrap();
    assert_eq!(
        page.items[0].occurrences, 3,
        "the range counts archived messages"
    );

    for _ in 0..2 {
        // restore_messages' future is not provably Send (its insert iterators borrow across
        // awaits), and the test body runs spawned: run it on this thread.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(archive_restore::restore_messages(&db, tid, &archived))
        })
        .unwrap();
        assert_eq!(
            group(&db, g).await.total_occurrences,
            3,
            "restore counts nothing"
        );
        assert_eq!(hours_sum(&db, g).await, 3);
    }
    let restored = messages::find_message(&db, tid, "M1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        group_of(&db, restored.id).await,
        Some(g),
        "restored into its group"
    );
    // Writing a restored message's details again still counts nothing.
    details(&db, restored.id, MessageStatus::Failed, TIMEOUT).await;
    assert_eq!(group(&db, g).await.total_occurrences, 3);
    // Retention prunes the hours, not the totals.
    assert!(
        groups::prune_hours(&db, Utc::now() + Duration::hours(2))
            .await
            .unwrap()
            >= 1
    );
    assert_eq!(hours_sum(&db, g).await, 0);
    assert_eq!(group(&db, g).await.total_occurrences, 3);
}
on_both!(counts_survive_archive_and_restore);

async fn list_filters_sorts_and_pages(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let hidden = tenant(&db, "h").await;
    let texts = [
        "java.lang.IllegalStateException: mapping of Invoice failed",
        "java.io.FileNotFoundException: /sftp/in/orders",
        "javax.jms.JMSException: queue full",
    ];
    // Group i has i + 1 occurrences, first seen earlier for lower i.
    for (i, text) in texts.iter().enumerate() {
        for n in 0..=i {
            let start = ago(7200 - (i as i64) * 600 + n as i64);
            failed(&db, tid, &format!("G{i}-{n}"), start, text).await;
        }
    }
    failed(&db, hidden, "H", ago(60), texts[0]).await;

    let mut q = query(vec![tid]);
    q.sort = GroupSort::Occurrences;
    q.limit = 2;
    let first = groups::list(&db, &q).await.unwrap();
    let occ: Vec<i64> = first.items.iter().map(|i| i.occurrences).collect();
    assert_eq!(occ, [3, 2]);
    q.after = first.next.clone();
    let second = groups::list(&db, &q).await.unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|i| i.occurrences)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(second.next, None);
    // A cursor of another sort is refused.
    let mut wrong = q.clone();
    wrong.sort = GroupSort::FirstSeen;
    assert!(matches!(
        groups::list(&db, &wrong).await,
        Err(store::StoreError::InvalidArgument { field: "after", .. })
    ));

    for sort in [GroupSort::LastSeen, GroupSort::FirstSeen] {
        let mut q = query(vec![tid]);
        q.sort = sort;
        q.limit = 1;
        let mut seen = Vec::new();
        loop {
            let page = groups::list(&db, &q).await.unwrap();
            seen.extend(page.items.iter().map(|i| i.title.clone()));
            match page.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3, "{sort:?}");
        assert!(
            seen[0].contains("JMSException"),
            "{sort:?}: newest first {seen:?}"
        );
    }
    let mut q = query(vec![tid]);
    q.q = Some("filenotfound".into());
    let found = groups::list(&db, &q).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert!(found.items[0].title.contains("FileNotFoundException"));
    q.q = Some("100%_".into());
    assert!(groups::list(&db, &q).await.unwrap().items.is_empty());
    let mut q = query(vec![tid]);
    q.state = Some(GroupState::Resolved);
    assert!(groups::list(&db, &q).await.unwrap().items.is_empty());
    q.state = Some(GroupState::New);
    assert_eq!(groups::list(&db, &q).await.unwrap().items.len(), 3);
    // Visibility: nothing without tenants, nothing of a tenant not visible.
    assert!(
        groups::list(&db, &query(vec![]))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let mut q = query(vec![tid]);
    q.tenant = Some(hidden);
    assert!(groups::list(&db, &q).await.unwrap().items.is_empty());
    let both = groups::list(&db, &query(vec![tid, hidden])).await.unwrap();
    assert_eq!(both.items.len(), 4);
    // A range before everything lists nothing.
    let mut q = query(vec![tid]);
    q.from = ago(30 * 86_400);
    q.to = ago(20 * 86_400);
    assert!(groups::list(&db, &q).await.unwrap().items.is_empty());
}
on_both!(list_filters_sorts_and_pages);

async fn rules_and_regroup(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let a = failed(&db, tid, "A", ago(900), TIMEOUT).await;
    let b = failed(
        &db,
        tid,
        "B",
        ago(800),
        "java.net.ConnectException: Connection timed out",
    )
    .await;
    failed(&db, tid, "C", ago(700), UNAUTHORIZED).await;
    let (ga, gb) = (
        group_of(&db, a).await.unwrap(),
        group_of(&db, b).await.unwrap(),
    );
    assert_ne!(ga, gb);

    // A bad rule is refused with the reason.
    let bad = FingerprintRule {
        text_regex: Some("(unclosed".into()),
        fingerprint: "x".into(),
        ..Default::default()
    };
    let err = error_rules::create_rule(&db, &bad, "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            store::StoreError::InvalidArgument { field: "rule", .. }
        ),
        "{err}"
    );
    let rule = FingerprintRule {
        text_glob: Some("*timed out*".into()),
        fingerprint: "timeouts".into(),
        title: Some("Timeouts".into()),
        ..Default::default()
    };
    let stored = error_rules::create_rule(&db, &rule, "alice").await.unwrap();
    let second = error_rules::create_rule(
        &db,
        &FingerprintRule {
            iflow: Some("other_*".into()),
            fingerprint: "other".into(),
            ..Default::default()
        },
        "alice",
    )
    .await
    .unwrap();
    let order = error_rules::move_rule(&db, second.id, 0).await.unwrap();
    assert_eq!(
        order.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second.id, stored.id]
    );

    let mut progress = Vec::new();
    let report = groups::regroup(&db, |n| progress.push(n)).await.unwrap();
    assert_eq!(report.messages, 3);
    assert_eq!(report.moved, 2);
    assert_eq!(progress.last(), Some(&3));
    let merged = group_of(&db, a).await.unwrap();
    assert_eq!(group_of(&db, b).await, Some(merged));
    let m = group(&db, merged).await;
    assert_eq!(m.title, "Timeouts");
    assert_eq!(m.rule_id, Some(stored.id));
    assert_eq!(m.total_occurrences, 2);
    assert_eq!(group(&db, ga).await.total_occurrences, 0);
    assert_eq!(group(&db, gb).await.total_occurrences, 0);
    // Again: nothing moves, nothing is counted twice.
    let again = groups::regroup(&db, |_| {}).await.unwrap();
    assert_eq!((again.messages, again.moved), (3, 0));
    assert_eq!(group(&db, merged).await.total_occurrences, 2);
    // New messages follow the rule at once.
    let d = failed(&db, tid, "D", ago(100), "Read timed out").await;
    assert_eq!(group_of(&db, d).await, Some(merged));

    error_rules::delete_rule(&db, stored.id).await.unwrap();
    assert_eq!(error_rules::list_rules(&db).await.unwrap().len(), 1);
    assert!(
        error_rules::delete_rule(&db, stored.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}
on_both!(rules_and_regroup);
