//! The Errors list's windowed sums (`error_group_sums`, the last 24 hours / 7 days / 30 days per
//! group) on SQLite and PostgreSQL: after occurrences, moves between groups, merges, unmerges,
//! pruning and the clock moving on (hours leaving each window), every sum equals the group's
//! hours from its window's start, and the list sorted by occurrences in those ranges (read from
//! the sums) equals sorting the exact hourly sums, page by page, for one tenant and several.

#[macro_use]
mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, Utc};
use domain::MessageStatus;
use domain::message::{ErrorInfo, Message, MessageDetails};
use sea_orm::{ConnectionTrait, EntityTrait};
use store::Db;
use store::entity::{
    error_group_hours, error_group_sum_windows, error_group_sums, error_groups, message_logs,
};
use store::repo::error_groups::{self as groups, GroupQuery, GroupSort};
use store::repo::messages::{self, PageMessage};
use support::{Target, tenant};

const TEXTS: [&str; 4] = [
    "java.net.SocketTimeoutException: Read timed out after 30000 ms calling https://erp.example.com/orders/4711",
    "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal server error occured: HTTP 401 Unauthorized",
    "org.xml.sax.SAXParseException: Content is not allowed in prolog",
    "com.jcraft.jsch.SftpException: No such file: /in/orders/20261208",
];

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap()
}

/// Now to the minute (PostgreSQL keeps microseconds; the tests compare exactly).
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap()
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

/// A failed message of `iflow` ending at `end` with its error text; returns its id.
async fn failed(db: &Db, tid: i64, guid: &str, iflow: &str, end: DateTime<Utc>, text: &str) -> i64 {
    let mut m = Message::new(guid, MessageStatus::Failed);
    m.log_start = Some(end - Duration::seconds(1));
    m.log_end = Some(end);
    m.iflow_id = Some(iflow.into());
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

/// The invariant: in each built window, a group's sum is its hours from the window's start.
async fn check_sums(db: &Db, step: &str) {
    let hours = error_group_hours::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    let windows = error_group_sum_windows::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(windows.len(), 3, "{step}: the three windows are built");
    let tenants: BTreeMap<i64, i64> = error_groups::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.tenant_id))
        .collect();
    let sums = error_group_sums::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    for w in &windows {
        let mut want: BTreeMap<i64, i64> = BTreeMap::new();
        for h in hours.iter().filter(|h| h.hour >= w.start_hour) {
            *want.entry(h.group_id).or_default() += h.count;
        }
        want.retain(|_, n| *n != 0);
        let mut got: BTreeMap<i64, i64> = BTreeMap::new();
        for s in sums.iter().filter(|s| s.window_hours == w.window_hours) {
            assert_eq!(
                Some(&s.tenant_id),
                tenants.get(&s.group_id),
                "{step}: the tenant of group {}",
                s.group_id
            );
            if s.count != 0 {
                got.insert(s.group_id, s.count);
            }
        }
        assert_eq!(
            got, want,
            "{step}: window {} h from {}",
            w.window_hours, w.start_hour
        );
    }
}

fn query(tenants: &[i64], from: DateTime<Utc>, to: DateTime<Utc>) -> GroupQuery {
    GroupQuery {
        tenants: tenants.to_vec(),
        tenant: None,
        iflow: None,
        package: None,
        state: None,
        from,
        to,
        q: None,
        sort: GroupSort::Occurrences,
        limit: 2,
        after: None,
    }
}

/// Every page of the list sorted by occurrences in `[from, to)`, as (group, occurrences).
async fn listed(db: &Db, q: &GroupQuery) -> Vec<(i64, i64)> {
    let mut q = q.clone();
    let mut out = Vec::new();
    loop {
        let page = groups::list(db, &q).await.unwrap();
        out.extend(page.items.iter().map(|i| (i.id, i.occurrences)));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
}

/// What the list must show for `[from, to)`: the visible groups seen in the range with
/// occurrences in its hours, most first, ties by id (newest first), from the tables directly.
async fn expected(db: &Db, q: &GroupQuery) -> Vec<(i64, i64)> {
    let hours = error_group_hours::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    let mut out: Vec<(i64, i64)> = error_groups::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .filter(|g| {
            g.merged_into.is_none()
                && g.total_occurrences > 0
                && q.tenants.contains(&g.tenant_id)
                && g.last_seen >= q.from
                && g.first_seen < q.to
                && q.iflow.as_ref().is_none_or(|f| *f == g.iflow_id)
                && q.q.as_ref().is_none_or(|t| {
                    g.title.to_lowercase().contains(t) || g.iflow_id.to_lowercase().contains(t)
                })
        })
        .map(|g| {
            let n = hours
                .iter()
                .filter(|h| h.group_id == g.id && h.hour >= hour_of(q.from) && h.hour < q.to)
                .map(|h| h.count)
                .sum::<i64>();
            (g.id, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    out
}

/// The quick ranges 24 h, 7 d and 30 d ending at `at` (the clock as the sums were moved to),
/// for each tenant alone, both together, one iFlow, and a text search.
async fn check_list(db: &Db, tenants: &[i64], at: DateTime<Utc>, step: &str) {
    let mut shapes: Vec<GroupQuery> = Vec::new();
    for days in [1, 7, 30] {
        let from = at - Duration::days(days);
        for t in tenants {
            shapes.push(query(&[*t], from, at));
        }
        shapes.push(query(tenants, from, at));
        let mut one = query(tenants, from, at);
        one.iflow = Some("flow_b".into());
        shapes.push(one);
        // The text search (on PostgreSQL through the trigram indexes' candidates).
        let mut text = query(tenants, from, at);
        text.q = Some("sftpexception".into());
        shapes.push(text);
    }
    let mut nonempty = 0;
    for q in shapes {
        let want = expected(db, &q).await;
        nonempty += usize::from(!want.is_empty());
        assert_eq!(
            listed(db, &q).await,
            want,
            "{step}: tenants {:?}, iflow {:?}, {} .. {}",
            q.tenants,
            q.iflow,
            q.from,
            q.to
        );
    }
    assert!(nonempty > 0, "{step}: something to compare");
}

async fn windowed_sums_equal_hourly_sums_as_hours_leave_the_windows(db: Db, _: Target) {
    let t1 = tenant(&db, "t1").await;
    let t2 = tenant(&db, "t2").await;
    let start = now();
    // Occurrences around each window's edge: hours before now, several per hour in some.
    let ages = [
        0, 1, 2, 22, 23, 24, 25, 26, 48, 166, 167, 168, 169, 170, 400, 718, 719, 720, 721, 722, 800,
    ];
    let mut ids = Vec::new();
    let mut n = 0;
    for (i, age) in ages.iter().enumerate() {
        for k in 0..(1 + i % 3) {
            n += 1;
            let tid = if n % 5 == 0 { t2 } else { t1 };
            let iflow = if n % 2 == 0 { "flow_a" } else { "flow_b" };
            let end = start - Duration::hours(*age) - Duration::minutes(k as i64);
            let text = TEXTS[(i + k) % TEXTS.len()];
            ids.push(failed(&db, tid, &format!("M{n}"), iflow, end, text).await);
        }
    }
    // The first list request of a quick range builds the windows.
    check_list(&db, &[t1, t2], Utc::now(), "first request").await;
    check_sums(&db, "built").await;

    // The clock moves on: hours leave each window.
    let mut clock = start;
    for (step, ahead) in [
        (1, 1),
        (2, 1),
        (3, 23),
        (4, 2),
        (5, 143),
        (6, 2),
        (7, 552),
        (8, 3),
    ] {
        clock += Duration::hours(ahead);
        groups::refresh_sums(&db, clock).await.unwrap();
        check_sums(&db, &format!("clock step {step}")).await;
        check_list(&db, &[t1, t2], clock, &format!("clock step {step}")).await;
        // New occurrences near the clock, and a moved message (counted down where it was).
        n += 1;
        let id = failed(
            &db,
            t1,
            &format!("M{n}"),
            "flow_b",
            clock - Duration::minutes(7),
            TEXTS[step % TEXTS.len()],
        )
        .await;
        ids.push(id);
        details(&db, ids[step * 3], TEXTS[(step + 1) % TEXTS.len()]).await;
        check_sums(&db, &format!("writes at clock step {step}")).await;
        if step == 2 {
            // Merges and an unmerge rewrite whole histories.
            let ga = group_of(&db, ids[0]).await;
            let gb = group_of(&db, ids[3]).await;
            let gc = group_of(&db, ids[6]).await;
            for g in [gb, gc] {
                if g != ga {
                    groups::merge(&db, ga, &[g], "alice").await.unwrap();
                }
            }
            check_sums(&db, "after merges").await;
            check_list(&db, &[t1, t2], clock, "after merges").await;
            if gb != ga {
                groups::unmerge(&db, gb, "alice").await.unwrap();
            }
            check_sums(&db, "after an unmerge").await;
        }
        if step == 5 {
            // The retention cuts into the 30-day window.
            groups::prune_hours(&db, clock - Duration::days(20))
                .await
                .unwrap();
            check_sums(&db, "after pruning").await;
            check_list(&db, &[t1, t2], clock, "after pruning").await;
        }
    }
}
on_both!(windowed_sums_equal_hourly_sums_as_hours_leave_the_windows);

/// The quick ranges really read the sums (a wrong sum shows), a custom range and a window that
/// is behind do not, and a count at or after the range's end sends it to the exact path.
async fn quick_ranges_read_the_sums_and_other_ranges_the_hours(db: Db, _: Target) {
    let tid = tenant(&db, "t").await;
    let start = now();
    let id = failed(
        &db,
        tid,
        "M1",
        "flow_a",
        start - Duration::hours(3),
        TEXTS[0],
    )
    .await;
    let g = group_of(&db, id).await;
    let to = Utc::now();
    let day = query(&[tid], to - Duration::days(1), to);
    assert_eq!(listed(&db, &day).await, vec![(g, 1)]);
    // Tamper with the 24-hour sum: the 24-hour list shows it, so it reads the sums.
    db.conn()
        .execute_unprepared(&format!(
            "UPDATE error_group_sums SET count = 41 WHERE group_id = {g} AND window_hours = 24"
        ))
        .await
        .unwrap();
    assert_eq!(listed(&db, &day).await, vec![(g, 41)]);
    // A custom range (not a window's start) sums the hours.
    let custom = query(&[tid], to - Duration::hours(20), to);
    assert_eq!(listed(&db, &custom).await, vec![(g, 1)]);
    // A count in an hour at or after the range's end: exact path.
    failed(&db, tid, "M2", "flow_a", to + Duration::hours(2), TEXTS[0]).await;
    assert_eq!(listed(&db, &day).await, vec![(g, 1)]);
}
on_both!(quick_ranges_read_the_sums_and_other_ranges_the_hours);
