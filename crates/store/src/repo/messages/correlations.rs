//! Messages per correlation id (`message_correlations`), moved by deltas as messages enter and
//! leave a correlation id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::message::Message;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};
use serde::Serialize;

use super::pg_ts;
use crate::repo::{Bulk, Sql, opt};

/// What a batch of messages adds to one correlation's row.
#[derive(Default)]
pub(crate) struct CorrelationDelta {
    count: i64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl CorrelationDelta {
    pub(super) fn add(&mut self, m: &Message, count: i64) {
        self.add_span(m.log_start, m.log_end, count);
    }

    /// `count` messages that ran from `log_start` to `log_end`.
    pub(crate) fn add_span(
        &mut self,
        log_start: Option<DateTime<Utc>>,
        log_end: Option<DateTime<Utc>>,
        count: i64,
    ) {
        self.count += count;
        let first = log_start.or(log_end);
        let last = log_end.or(log_start);
        if first.is_some() && (self.first.is_none() || first < self.first) {
            self.first = first;
        }
        if last > self.last {
            self.last = last;
        }
    }
}

/// Add `deltas` to the correlation rows (created when missing, first and last seen widened),
/// and take one message off each of `decrements`.
pub(crate) async fn upsert_correlations<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    deltas: &BTreeMap<String, CorrelationDelta>,
    decrements: &[String],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    const HEAD: &str = "INSERT INTO correlations (tenant_id, correlation_id, message_count, first_seen, last_seen)";
    const TAIL: &str = "ON CONFLICT (tenant_id, correlation_id) DO UPDATE SET \
         message_count = correlations.message_count + excluded.message_count, \
         first_seen = CASE WHEN correlations.first_seen IS NULL \
           OR excluded.first_seen < correlations.first_seen \
           THEN excluded.first_seen ELSE correlations.first_seen END, \
         last_seen = CASE WHEN correlations.last_seen IS NULL \
           OR excluded.last_seen > correlations.last_seen \
           THEN excluded.last_seen ELSE correlations.last_seen END";
    if !deltas.is_empty() && backend == DbBackend::Postgres {
        // One JSON parameter, so the statement text is the same for every page: prepared once
        // per connection instead of once per distinct row count (each cached with thousands
        // of parameter types).
        #[derive(Serialize)]
        struct JsonCorrelation<'a> {
            c: &'a str,
            n: i64,
            f: Option<String>,
            l: Option<String>,
        }
        let rows: Vec<JsonCorrelation<'_>> = deltas
            .iter()
            .map(|(id, d)| JsonCorrelation {
                c: id,
                n: d.count,
                f: pg_ts(d.first),
                l: pg_ts(d.last),
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| DbErr::Json(e.to_string()))?;
        let mut sql = Sql::new(backend);
        sql.push(HEAD)
            .push(" SELECT ")
            .bind(tenant_id)
            .push(", x.c, x.n, x.f, x.l FROM json_to_recordset(")
            .bind(json)
            .push("::json) AS x(c text, n int4, f timestamptz, l timestamptz) ")
            .push(TAIL);
        conn.execute_raw(sql.statement()).await?;
    } else if !deltas.is_empty() {
        let rows: Vec<(&String, &CorrelationDelta)> = deltas.iter().collect();
        let bulk = Bulk {
            head: HEAD,
            tail: TAIL,
            shared: vec![Value::from(tenant_id)],
        };
        for stmt in bulk.statements(backend, &rows, |t, (id, d)| {
            // i32: the column is `integer`, and PostgreSQL binds are typed.
            let count = i32::try_from(d.count).unwrap_or(i32::MAX);
            t.shared(0)
                .bind(id.as_str())
                .bind(count)
                .bind(opt(d.first))
                .bind(opt(d.last));
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    // A message whose correlation id changed: rare enough for one statement each.
    for c in decrements {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE correlations SET message_count = message_count - 1 WHERE tenant_id = ")
            .bind(tenant_id)
            .push(" AND correlation_id = ")
            .bind(c.as_str())
            .push(" AND message_count > 0");
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}
