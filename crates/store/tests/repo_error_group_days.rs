//! The daily rollup of error groups (`error_group_days`) on SQLite and PostgreSQL: after
//! occurrences, moves between groups, merges, unmerges and pruning, every day holds exactly the
//! sum of its hours, and the Errors list's occurrences in a range (read from whole days plus
//! the edge hours) and its 14-day sparklines equal what the hourly table alone gives, for
//! ranges aligned to days and not.

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, Utc};
use domain::MessageStatus;
use domain::message::{ErrorInfo, Message, MessageDetails};
use sea_orm::EntityTrait;
use store::Db;
use store::entity::{error_group_days, error_group_hours, message_logs};
use store::repo::error_groups::{self as groups, GroupQuery, GroupSort};
use store::repo::messages::{self, PageMessage};
use support::{Target, tenant};

const TIMEOUT: &str = "java.net.SocketTimeoutException: Read timed out after 30000 ms calling \
                       https://erp.example.com/orders/4711";
const UNAUTHORIZED: &str = "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: \
                            An internal server error occured: HTTP 401 Unauthorized";
const PARSE: &str = "org.xml.sax.SAXParseException: Content is not allowed in prolog";

fn midnight() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::days(1)).unwrap()
}

fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::days(1)).unwrap()
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap()
}

/// `days` days before today's midnight, plus `minutes`.
fn at(days: i64, minutes: i64) -> DateTime<Utc> {
    midnight() - Duration::days(days) + Duration::minutes(minutes)
}

async fn details(db: &Db, id: i64, text: &str) {
    let mut d = MessageDetails::empty(MessageStatus::Failed);
    d.error = Some(ErrorInfo {
        error_type: Some("text/plain".into()),
        last_error_model_step_id: None,
        text: Some(text.into()),
    });
    messages::write_details(db, id, &d, Utc::now())
        .await
        .unwrap();
}

/// A failed message ending at `end` with its error text; returns its id.
async fn failed(db: &Db, tid: i64, guid: &str, end: DateTime<Utc>, text: &str) -> i64 {
    let mut m = Message::new(guid, MessageStatus::Failed);
    m.log_start = Some(end - Duration::seconds(1));
    m.log_end = Some(end);
    m.iflow_id = Some("flow_a".into());
    m.package_id = Some("pkg".into());
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
    let id = out.upsert.rows[0].id;
    details(db, id, text).await;
    id
}

async fn group_of(db: &Db, id: i64) -> i64 {
    message_logs::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
        .error_group_id
        .expect("grouped")
}

async fn hours(db: &Db) -> Vec<error_group_hours::Model> {
    error_group_hours::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
}

/// The hourly table's sum of `group` over the hours of `[from, to)`, as the list counted
/// before the daily table existed.
fn hour_sum(
    hours: &[error_group_hours::Model],
    group: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    hours
        .iter()
        .filter(|h| h.group_id == group && h.hour >= hour_of(from) && h.hour < to)
        .map(|h| h.count)
        .sum()
}

fn query(tid: i64, from: DateTime<Utc>, to: DateTime<Utc>, sort: GroupSort) -> GroupQuery {
    GroupQuery {
        tenants: vec![tid],
        tenant: None,
        iflow: None,
        package: None,
        state: None,
        from,
        to,
        q: None,
        sort,
        limit: 100,
        after: None,
    }
}

/// Every check of the daily table against the hourly one.
async fn check(db: &Db, tid: i64, step: &str) {
    let hours = hours(db).await;
    // Each day is the sum of its hours (zero rows aside: a count-down may leave either).
    let mut want: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
    for h in &hours {
        *want.entry((h.group_id, day_of(h.hour))).or_default() += h.count;
    }
    want.retain(|_, n| *n != 0);
    let mut got: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
    for d in error_group_days::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
    {
        assert_eq!(d.day, day_of(d.day), "{step}: a day is midnight UTC");
        if d.count != 0 {
            got.insert((d.group_id, d.day), d.count);
        }
    }
    assert_eq!(got, want, "{step}: days are the sums of their hours");
    assert!(!want.is_empty(), "{step}: there is history to compare");

    let ranges = [
        // Aligned to days at both ends.
        (at(9, 0), at(1, 0)),
        (at(30, 0), at(0, 0)),
        // Cut in the middle of days and hours at one or both ends.
        (at(8, 150), at(2, 0)),
        (at(8, 0), at(2, 7 * 60 + 30)),
        (at(7, 61), at(3, 23 * 60 + 59)),
        (at(6, 600), at(6, 1300)),
        (at(5, 30), at(4, 30)),
        (at(30, 0), Utc::now() + Duration::days(1)),
    ];
    for (from, to) in ranges {
        let by_count = groups::list(db, &query(tid, from, to, GroupSort::Occurrences))
            .await
            .unwrap();
        for item in &by_count.items {
            assert_eq!(
                item.occurrences,
                hour_sum(&hours, item.id, from, to),
                "{step}: group {} in {from} .. {to} sorted by occurrences",
                item.id
            );
        }
        let by_seen = groups::list(db, &query(tid, from, to, GroupSort::LastSeen))
            .await
            .unwrap();
        for item in &by_seen.items {
            assert_eq!(
                item.occurrences,
                hour_sum(&hours, item.id, from, to),
                "{step}: group {} in {from} .. {to} sorted by last seen",
                item.id
            );
            // Sparkline: today last, 14 UTC days.
            let start = midnight() - Duration::days(13);
            for (i, n) in item.sparkline.iter().enumerate() {
                let day = start + Duration::days(i as i64);
                assert_eq!(
                    *n,
                    hour_sum(&hours, item.id, day, day + Duration::days(1)),
                    "{step}: sparkline of group {} on {day}",
                    item.id
                );
            }
        }
        let counted: BTreeSet<i64> = by_count.items.iter().map(|i| i.id).collect();
        let seen: BTreeSet<i64> = by_seen
            .items
            .iter()
            .filter(|i| hour_sum(&hours, i.id, from, to) > 0)
            .map(|i| i.id)
            .collect();
        assert_eq!(
            counted, seen,
            "{step}: groups with occurrences in {from} .. {to}"
        );
    }
}

async fn error_group_days_follow_hours_through_moves_merges_and_pruning(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    // Three groups with occurrences spread over ten days, several in some hours.
    let mut ids = Vec::new();
    let texts = [TIMEOUT, UNAUTHORIZED, PARSE];
    let mut n = 0;
    for day in 1..=10 {
        for minutes in [5, 65, 70, 600, 1439] {
            let text = texts[(day as usize + minutes as usize) % 3];
            n += 1;
            ids.push(failed(&db, tid, &format!("M{n}"), at(day, minutes), text).await);
        }
    }
    let ga = group_of(&db, ids[0]).await;
    let mut by_text = BTreeMap::new();
    for id in &ids {
        by_text.insert(group_of(&db, *id).await, *id);
    }
    assert_eq!(by_text.len(), 3, "three groups");
    let others: Vec<i64> = by_text.keys().copied().filter(|g| *g != ga).collect();
    let (gb, gc) = (others[0], others[1]);
    check(&db, tid, "after grouping").await;

    // Texts change: the messages are counted down in one group and up in another.
    for id in ids.iter().step_by(4) {
        details(&db, *id, PARSE).await;
    }
    details(&db, ids[1], TIMEOUT).await;
    check(&db, tid, "after moves").await;

    // Merge, new occurrences of the merged group, unmerge.
    groups::merge(&db, ga, &[gb], "alice").await.unwrap();
    check(&db, tid, "after a merge").await;
    failed(&db, tid, "N1", at(3, 200), UNAUTHORIZED).await;
    failed(&db, tid, "N2", at(1, 1), UNAUTHORIZED).await;
    check(&db, tid, "after occurrences of a merged group").await;
    groups::merge(&db, gc, &[ga], "bob").await.unwrap();
    check(&db, tid, "after a merge passing its merged group on").await;
    groups::unmerge(&db, gb, "alice").await.unwrap();
    check(&db, tid, "after an unmerge").await;

    // Pruning in the middle of a day keeps that day's remaining hours summed.
    let before = at(6, 600 + 30);
    let pruned = groups::prune_hours(&db, before).await.unwrap();
    assert!(pruned > 0, "old hours went");
    assert!(
        error_group_days::Entity::find()
            .all(db.conn())
            .await
            .unwrap()
            .iter()
            .all(|d| d.day >= day_of(before)),
        "days before the cut went"
    );
    check(&db, tid, "after pruning mid-day").await;
    // A count-down of a pruned hour changes nothing, and pruning at midnight drops whole days.
    details(&db, ids[45], TIMEOUT).await;
    check(&db, tid, "after moving a pruned occurrence").await;
    groups::prune_hours(&db, at(4, 0)).await.unwrap();
    check(&db, tid, "after pruning at midnight").await;
}
on_both!(error_group_days_follow_hours_through_moves_merges_and_pruning);
