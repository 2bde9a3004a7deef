//! Gauges of the whole installation that the metrics daemon keeps current for its `/metrics`:
//! collection lag per tenant and job type (from the database), and queue depths (from the
//! broker). Refreshed every `METRICS_REFRESH_SECS` rather than on each scrape, so a scrape
//! never waits on the database or the broker, and the other daemons do not repeat them.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use queue::JobQueue;
use store::Db;
use store::repo::{sync_state, tenants};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    tenant: String,
    job_type: String,
}

struct Lag {
    seconds: Family<LagLabels, Gauge<f64, AtomicU64>>,
    seen: Mutex<HashSet<LagLabels>>,
}

static LAG: LazyLock<Lag> = LazyLock::new(|| Lag {
    seconds: Family::default(),
    seen: Mutex::new(HashSet::new()),
});

/// Add this daemon's gauges to the process registry.
pub fn register() {
    runtime::metrics::register("queue-depths", queue::metrics::register_depths);
    runtime::metrics::register("collection-lag", |r: &mut Registry| {
        r.register_with_unit(
            "integramon_collection_lag",
            "Seconds since what a tenant's job has collected: now minus its watermark (the \
             newest LogEnd collected), or minus its last success for jobs without one; enabled \
             tenants only",
            Unit::Seconds,
            LAG.seconds.clone(),
        );
    });
}

/// How far behind a job is at `now`: from its watermark, else its last success.
pub fn lag_seconds(
    watermark: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<f64> {
    let since = watermark.or(last_success)?;
    Some(((now - since).num_milliseconds().max(0) as f64) / 1000.0)
}

/// Read every enabled tenant's sync state and set the lag gauges.
pub async fn refresh_lag(db: &Db) -> Result<(), store::StoreError> {
    let now = Utc::now();
    let mut fresh = HashSet::new();
    for t in tenants::list(db).await? {
        if !t.settings.collection.enabled {
            continue;
        }
        for s in sync_state::list(db, t.id).await? {
            if let Some(secs) = lag_seconds(s.watermark, s.last_success_at, now) {
                let labels = LagLabels {
                    tenant: t.settings.name.clone(),
                    job_type: s.job_type,
                };
                LAG.seconds.get_or_create(&labels).set(secs);
                fresh.insert(labels);
            }
        }
    }
    let mut seen = LAG.seen.lock().unwrap_or_else(|e| e.into_inner());
    for gone in seen.difference(&fresh) {
        LAG.seconds.remove(gone);
    }
    *seen = fresh;
    Ok(())
}

/// Read the queue depths (bounded in time: a broker that does not answer leaves the last values).
pub async fn refresh_depths(queue: &Arc<dyn JobQueue>) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(5), queue.depths()).await {
        Ok(Ok(depths)) => {
            queue::metrics::record_depths(&depths);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_from_the_watermark_else_the_last_success() {
        let now = Utc::now();
        let w = now - chrono::Duration::seconds(90);
        let s = now - chrono::Duration::seconds(10);
        assert_eq!(lag_seconds(Some(w), Some(s), now), Some(90.0));
        assert_eq!(lag_seconds(None, Some(s), now), Some(10.0));
        assert_eq!(lag_seconds(None, None, now), None);
        assert_eq!(
            lag_seconds(Some(now + chrono::Duration::seconds(5)), None, now),
            Some(0.0)
        );
    }
}
