//! Load generator for the SQLite concurrency test and benchmark: one process playing a writer
//! (ingest-like transactions: upsert a message, replace its custom headers) or a reader (the
//! message list and facet queries the UI runs). Prints one JSON line with its counts.

use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::{ConnectionTrait, Statement};

#[derive(Parser)]
struct Args {
    /// writer or reader
    #[arg(long)]
    role: String,
    /// Seconds to run.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Distinguishes writers (message GUIDs are prefixed with it).
    #[arg(long, default_value_t = 0)]
    id: u32,
    /// Messages per writer transaction.
    #[arg(long, default_value_t = 20)]
    batch: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = runtime::Settings::load()?;
    let db = store::connect(&settings.db)?;
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let (mut ops, mut rows, mut errors, mut lock_errors) = (0u64, 0u64, 0u64, 0u64);
    let mut first_error = None::<String>;
    let mut seq = 0u64;
    let backend = db.db_backend();
    if args.role == "writer" {
        ensure_tenant(&db).await?;
    }
    while Instant::now() < deadline {
        let result = if args.role == "writer" {
            write_batch(&db, args.id, &mut seq, args.batch).await
        } else {
            read_once(&db, backend).await
        };
        match result {
            Ok(n) => {
                ops += 1;
                rows += n;
            }
            Err(e) => {
                let msg = e.to_string();
                errors += 1;
                if msg.contains("locked") || msg.contains("busy") {
                    lock_errors += 1;
                }
                first_error.get_or_insert(msg);
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "role": args.role, "id": args.id, "secs": args.secs, "ops": ops, "rows": rows,
            "errors": errors, "lock_errors": lock_errors, "first_error": first_error,
        })
    );
    db.close().await;
    Ok(())
}

async fn ensure_tenant(db: &store::Db) -> anyhow::Result<()> {
    let txn = db.begin_write().await?;
    let now = chrono::Utc::now();
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO tenants (id, name, api_url, auth_kind, hot_window_secs, payload_strategy, \
         payload_max_bytes, created_at, updated_at) \
         VALUES (1, 'load', 'http://127.0.0.1/api/v1', 'basic', 300, 'none', 0, $1, $1) \
         ON CONFLICT DO NOTHING",
        [now.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// One ingest-like transaction: upsert `batch` messages (every third one again later, so updates
/// happen too) and replace their headers.
async fn write_batch(db: &store::Db, id: u32, seq: &mut u64, batch: u32) -> anyhow::Result<u64> {
    let txn = db.begin_write().await?;
    let be = txn.get_database_backend();
    let now = chrono::Utc::now();
    let mut rows = 0;
    for _ in 0..batch {
        *seq += 1;
        // Revisit an earlier message now and then: a status change, as ingestion sees it.
        let n = if seq.is_multiple_of(3) {
            *seq / 2
        } else {
            *seq
        };
        let guid = format!("W{id}-{n:010}");
        let status = if seq.is_multiple_of(7) {
            "FAILED"
        } else {
            "COMPLETED"
        };
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                be,
                "INSERT INTO message_logs (tenant_id, message_guid, status, iflow_id, log_start, \
                 log_end, created_at, updated_at) VALUES (1, $1, $2, $3, $4, $4, $4, $4) \
                 ON CONFLICT (tenant_id, message_guid) DO UPDATE SET status = excluded.status, \
                 log_end = excluded.log_end, updated_at = excluded.updated_at RETURNING id",
                [
                    guid.into(),
                    status.into(),
                    format!("iflow_{}", n % 25).into(),
                    now.into(),
                ],
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("upsert returned no id"))?;
        let message_id: i64 = row.try_get_by_index(0)?;
        txn.execute_raw(Statement::from_sql_and_values(
            be,
            "DELETE FROM custom_header_properties WHERE message_id = $1",
            [message_id.into()],
        ))
        .await?;
        for h in 0..5 {
            let value = format!("value-{n}-{h}");
            txn.execute_raw(Statement::from_sql_and_values(
                be,
                "INSERT INTO custom_header_properties (message_id, tenant_id, name, value, \
                 value_prefix) VALUES ($1, 1, $2, $3, $3)",
                [
                    message_id.into(),
                    format!("header_{h}").into(),
                    value.into(),
                ],
            ))
            .await?;
        }
        rows += 6;
    }
    txn.commit().await?;
    Ok(rows)
}

/// What the UI asks: a status facet over the last hour and the newest page of messages.
async fn read_once(db: &store::Db, be: sea_orm::DbBackend) -> anyhow::Result<u64> {
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let facets = db
        .conn()
        .query_all_raw(Statement::from_sql_and_values(
            be,
            "SELECT status, COUNT(*) FROM message_logs WHERE tenant_id = 1 AND log_end >= $1 \
             GROUP BY status",
            [since.into()],
        ))
        .await?;
    let page = db
        .conn()
        .query_all_raw(Statement::from_string(
            be,
            "SELECT id, message_guid, status FROM message_logs WHERE tenant_id = 1 \
             ORDER BY log_end DESC, id DESC LIMIT 50",
        ))
        .await?;
    Ok((facets.len() + page.len()) as u64)
}
