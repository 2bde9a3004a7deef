//! Error groups for benchmarks (`integramon db seed --error-groups N`): groups spread over a
//! seeded tenant's iFlows with a synthetic hourly history over the seeded range, and the
//! tenant's failed seeded messages assigned to them. Not a collection path: the history is
//! generated, not counted from the messages (a seed has far fewer failed messages than a
//! realistic history has occurrences). Deterministic for a given seed.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use domain::errors::{GROUPING_VERSION, GroupState};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sea_orm::{ConnectionTrait, DbBackend};

use super::counts::{hour_of, sync_days};
use super::sums;
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, get};

/// Groups per insert transaction.
const BATCH: usize = 2_000;

const PROBLEMS: [&str; 8] = [
    "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal server error occured: HTTP <number> Unauthorized",
    "java.net.SocketTimeoutException: Read timed out calling https://erp.example.com/<id>",
    "com.sap.gateway.core.ip.component.odata.exception.OsciException: Bad Request : 400 : HTTP/1.1",
    "com.sap.aii.mappingtool.tf7.IllegalInstanceException: Cannot create target element /ns0:Invoice/Item[<number>]",
    "org.xml.sax.SAXParseException: Content is not allowed in prolog",
    "javax.script.ScriptException: java.lang.NullPointerException in script<number>.groovy",
    "com.jcraft.jsch.SftpException: No such file: /in/orders/<number>",
    "javax.jms.JMSException: queue capacity reached for queue <id>",
];

/// What [`seed_groups`] made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeededGroups {
    pub groups: u64,
    pub hours: u64,
    pub messages: u64,
}

/// Make about `groups` groups for the seeded iFlows `IF_Seed_Flow_0000…` (`iflows` of them),
/// with hourly histories in `[from, to)`, and put the tenant's failed, not yet grouped seeded
/// messages into them (by iFlow and message id).
pub async fn seed_groups(
    db: &Db,
    tenant_id: i64,
    groups: u64,
    iflows: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seed: u64,
) -> Result<SeededGroups, StoreError> {
    let iflows = u64::from(iflows.max(1));
    let per = (groups / iflows).max(1);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xE220_0014);
    let span_hours = ((to - from).num_hours()).max(1);
    let now = Utc::now();
    let mut out = SeededGroups::default();
    let mut all: Vec<(u64, u64)> = (0..iflows)
        .flat_map(|f| (0..per).map(move |j| (f, j)))
        .collect();
    // Shuffle-free but interleaved: the batches mix iFlows.
    all.sort_by_key(|(f, j)| (*j, *f));
    for chunk in all.chunks(BATCH) {
        struct G {
            iflow: String,
            fingerprint: String,
            title: String,
            state: &'static str,
            ignore: Option<&'static str>,
            hours: Vec<(DateTime<Utc>, i64)>,
            // Within the first and last hour.
            first_secs: i64,
            last_secs: i64,
        }
        let mut made: Vec<G> = Vec::with_capacity(chunk.len());
        for (f, j) in chunk {
            // Most groups are short-lived; a few last the whole range.
            let active = 1 + (rng.random::<f64>().powi(3) * 72.0) as i64;
            let start = rng.random_range(0..span_hours);
            let mut hours: Vec<(DateTime<Utc>, i64)> = (0..active)
                .map(|k| {
                    let h = (start + k * rng.random_range(1..6)).min(span_hours - 1);
                    (
                        hour_of(from) + Duration::hours(h),
                        1 + (rng.random::<f64>().powi(4) * 200.0) as i64,
                    )
                })
                .collect();
            hours.sort();
            hours.dedup_by_key(|(h, _)| *h);
            let problem = PROBLEMS[(*j as usize) % PROBLEMS.len()];
            let roll: f64 = rng.random();
            let (state, ignore) = if roll < 0.10 {
                (GroupState::Resolved, None)
            } else if roll < 0.18 {
                (GroupState::Ignored, Some("\"forever\""))
            } else if roll < 0.25 {
                (GroupState::Regressed, None)
            } else if roll < 0.27 {
                (GroupState::Escalating, None)
            } else if now - hours[0].0 < Duration::days(7) {
                (GroupState::New, None)
            } else {
                (GroupState::Ongoing, None)
            };
            made.push(G {
                iflow: format!("IF_Seed_Flow_{f:04}"),
                fingerprint: format!("seed-{j}"),
                title: format!("{problem} (seeded {j})"),
                state: state.as_str(),
                ignore,
                hours,
                first_secs: rng.random_range(0..3600),
                last_secs: rng.random_range(0..3600),
            });
        }
        let txn = db.begin_write().await?;
        let backend = db.db_backend();
        let bulk = Bulk {
            head: "INSERT INTO error_groups (tenant_id, iflow_id, package_id, fingerprint, grouping_version, \
                   title, template, sample_text, state, state_changed_at, ignore_until, \
                   ignored_occurrences, total_occurrences, first_seen, last_seen, created_at)",
            tail: "ON CONFLICT (tenant_id, iflow_id, fingerprint, grouping_version) DO NOTHING RETURNING id, iflow_id, fingerprint",
            shared: vec![tenant_id.into(), GROUPING_VERSION.into(), now.into()],
        };
        let mut ids: HashMap<(String, String), i64> = HashMap::new();
        for stmt in bulk.statements(backend, &made, |t, g| {
            let total: i64 = g.hours.iter().map(|(_, n)| n).sum();
            let (a, b) = if g.hours.len() == 1 {
                (g.first_secs.min(g.last_secs), g.first_secs.max(g.last_secs))
            } else {
                (g.first_secs, g.last_secs)
            };
            let first = g.hours[0].0 + Duration::seconds(a);
            let last = g.hours[g.hours.len() - 1].0 + Duration::seconds(b);
            t.shared(0)
                .bind(g.iflow.clone())
                .bind(None::<String>)
                .bind(g.fingerprint.clone())
                .shared(1)
                .bind(g.title.clone())
                .bind(g.title.clone())
                .bind(g.title.clone())
                .bind(g.state)
                .shared(2)
                .bind(g.ignore.map(str::to_owned))
                .bind(0i64)
                .bind(total)
                .bind(first)
                .bind(last)
                .shared(2);
        }) {
            for row in txn.query_all_raw(stmt).await? {
                ids.insert(
                    (get(&row, "iflow_id")?, get(&row, "fingerprint")?),
                    get(&row, "id")?,
                );
            }
        }
        let mut hour_rows: Vec<(i64, DateTime<Utc>, i64)> = Vec::new();
        for g in &made {
            if let Some(id) = ids.get(&(g.iflow.clone(), g.fingerprint.clone())) {
                hour_rows.extend(g.hours.iter().map(|(h, n)| (*id, *h, *n)));
            }
        }
        let bulk = Bulk {
            head: "INSERT INTO error_group_hours (group_id, hour, count)",
            tail: "ON CONFLICT (group_id, hour) DO NOTHING",
            shared: Vec::new(),
        };
        for stmt in bulk.statements(backend, &hour_rows, |t, (g, h, n)| {
            t.bind(*g).bind(*h).bind(*n);
        }) {
            txn.execute_raw(stmt).await?;
        }
        let made_ids: Vec<i64> = ids.values().copied().collect();
        sync_days(&txn, &made_ids, None).await?;
        sums::sync(&txn, &made_ids).await?;
        txn.commit().await?;
        out.groups += ids.len() as u64;
        out.hours += hour_rows.len() as u64;
    }
    out.messages = assign_messages(db, tenant_id, per).await?;
    let analyze = match db.db_backend() {
        DbBackend::Postgres => {
            "ANALYZE error_groups, error_group_hours, error_group_days, error_group_sums"
        }
        _ => "ANALYZE",
    };
    db.conn().execute_unprepared(analyze).await?;
    Ok(out)
}

/// The failed seeded messages into group `seed-<id mod per>` of their iFlow.
async fn assign_messages(db: &Db, tenant_id: i64, per: u64) -> Result<u64, StoreError> {
    let backend = db.db_backend();
    let hour = match backend {
        DbBackend::Postgres => "date_trunc('hour', log_end)",
        // The text form the driver writes for a timestamp (RFC 3339, `T`, `+00:00`).
        _ => "strftime('%Y-%m-%dT%H:00:00+00:00', log_end)",
    };
    let txn = db.begin_write().await?;
    let mut sql = Sql::new(backend);
    sql.push("UPDATE message_logs SET error_group_id = (SELECT g.id FROM error_groups g WHERE g.tenant_id = message_logs.tenant_id AND g.iflow_id = message_logs.iflow_id AND g.grouping_version = ")
        .bind(GROUPING_VERSION)
        .push(" AND g.fingerprint = 'seed-' || CAST(message_logs.id % ")
        .bind(per as i64)
        .push(&format!(
            " AS TEXT)), error_group_hour = {hour} WHERE tenant_id = "
        ))
        .bind(tenant_id)
        .push(" AND error_group_id IS NULL AND log_end IS NOT NULL AND status IN ('FAILED', 'ESCALATED', 'RETRY') AND iflow_id LIKE 'IF\\_Seed\\_Flow\\_%' ESCAPE '\\'");
    let n = txn.execute_raw(sql.statement()).await?.rows_affected();
    txn.commit().await?;
    Ok(n)
}
