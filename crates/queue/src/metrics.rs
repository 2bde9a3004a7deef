//! The queue's own Prometheus families: jobs run per type and how they ended, how long they took,
//! and queue depths. Jobs are counted where both transports run the handler
//! ([`crate::dispatch::run_handler`]), so every consuming daemon, over AMQP or in-process, reports
//! them the same way.
//!
//! The families live in this process for its lifetime; [`register`] adds them to the process's
//! registry (the `runtime` crate keeps it).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use domain::job::{JobOutcome, JobType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::status::QueueDepth;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    r#type: String,
    /// `retry` (another try is planned or it is dead-lettered when tries run out) or `fail`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

/// Seconds a job may take, from a fast no-op to a long backfill or deep sync.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

struct JobMetrics {
    processed: Family<TypeLabel, Counter>,
    failed: Family<FailedLabels, Counter>,
    duration: Family<TypeLabel, Histogram, fn() -> Histogram>,
}

static JOBS: LazyLock<JobMetrics> = LazyLock::new(|| JobMetrics {
    processed: Family::default(),
    failed: Family::default(),
    duration: Family::new_with_constructor(duration_histogram),
});

struct DepthMetrics {
    messages: Family<QueueLabel, Gauge>,
    consumers: Family<QueueLabel, Gauge>,
    /// Queues last set, so one that disappeared is removed rather than left at its old value.
    seen: Mutex<HashSet<String>>,
}

static DEPTHS: LazyLock<DepthMetrics> = LazyLock::new(|| DepthMetrics {
    messages: Family::default(),
    consumers: Family::default(),
    seen: Mutex::new(HashSet::new()),
});

/// The job type as a label: known types by name, anything else as `unknown`, so a publisher
/// sending made-up types cannot grow the number of series.
fn type_label(t: &JobType) -> String {
    match t {
        JobType::Unknown(_) => "unknown".to_string(),
        known => known.as_str().to_string(),
    }
}

/// Count one handled job: processed always, failed when it did not end `Done`. A job handed
/// back unrun (`Defer`) is not counted: it comes again and is counted when it runs.
pub(crate) fn record_job(job_type: &JobType, outcome: &JobOutcome, took: Duration) {
    if matches!(outcome, JobOutcome::Defer { .. }) {
        return;
    }
    let label = TypeLabel {
        r#type: type_label(job_type),
    };
    JOBS.processed.get_or_create(&label).inc();
    JOBS.duration
        .get_or_create(&label)
        .observe(took.as_secs_f64());
    let failed = match outcome {
        JobOutcome::Done { .. } | JobOutcome::Defer { .. } => None,
        JobOutcome::Retry { .. } => Some("retry"),
        JobOutcome::Fail { .. } => Some("fail"),
    };
    if let Some(outcome) = failed {
        JOBS.failed
            .get_or_create(&FailedLabels {
                r#type: label.r#type,
                outcome,
            })
            .inc();
    }
}

/// Set the queue depth gauges from a fresh reading of [`crate::JobQueue::depths`].
pub fn record_depths(depths: &[QueueDepth]) {
    let mut seen = DEPTHS.seen.lock().unwrap_or_else(|e| e.into_inner());
    let now: HashSet<String> = depths.iter().map(|d| d.queue.clone()).collect();
    for gone in seen.difference(&now) {
        let label = QueueLabel {
            queue: gone.clone(),
        };
        DEPTHS.messages.remove(&label);
        DEPTHS.consumers.remove(&label);
    }
    for d in depths {
        let label = QueueLabel {
            queue: d.queue.clone(),
        };
        DEPTHS
            .messages
            .get_or_create(&label)
            .set(i64::from(d.messages));
        DEPTHS
            .consumers
            .get_or_create(&label)
            .set(i64::from(d.consumers));
    }
    *seen = now;
}

/// Add the job families to a registry (every daemon's).
pub fn register(registry: &mut Registry) {
    registry.register(
        "integramon_jobs_processed",
        "Jobs this process ran, by job type, whatever the outcome",
        JOBS.processed.clone(),
    );
    registry.register(
        "integramon_jobs_failed",
        "Jobs this process ran that did not succeed, by job type and outcome (retry or fail)",
        JOBS.failed.clone(),
    );
    registry.register_with_unit(
        "integramon_job_duration",
        "How long the handler of a job took, by job type",
        Unit::Seconds,
        JOBS.duration.clone(),
    );
}

/// Add the queue depth families to a registry (the process that refreshes them: the metrics
/// daemon, and the all-in-one mode).
pub fn register_depths(registry: &mut Registry) {
    registry.register(
        "integramon_queue_messages",
        "Jobs waiting in each queue (ready for delivery; in-process: waiting, delayed or held)",
        DEPTHS.messages.clone(),
    );
    registry.register(
        "integramon_queue_consumers",
        "Consumers attached to each queue (in-process: jobs running)",
        DEPTHS.consumers.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Registry)) -> String {
        let mut r = Registry::default();
        f(&mut r);
        let mut s = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut s, &r).unwrap();
        s
    }

    #[test]
    fn jobs_are_counted_by_type_and_unknown_types_share_one_label() {
        record_job(
            &JobType::Keystore,
            &JobOutcome::fail("no"),
            Duration::from_millis(20),
        );
        record_job(
            &JobType::Unknown("made-up-1".into()),
            &JobOutcome::done(serde_json::json!({})),
            Duration::from_millis(1),
        );
        let out = text(register);
        assert!(
            out.contains("# TYPE integramon_jobs_processed_total counter"),
            "{out}"
        );
        assert!(
            out.contains("integramon_jobs_processed_total{type=\"keystore\"}"),
            "{out}"
        );
        assert!(
            out.contains("integramon_jobs_processed_total{type=\"unknown\"}"),
            "{out}"
        );
        assert!(!out.contains("made-up-1"), "{out}");
        assert!(
            out.contains("integramon_jobs_failed_total{type=\"keystore\",outcome=\"fail\"}"),
            "{out}"
        );
        assert!(
            out.contains("integramon_job_duration_seconds_bucket{le=\"0.025\",type=\"keystore\"}")
                || out.contains(
                    "integramon_job_duration_seconds_bucket{type=\"keystore\",le=\"0.025\"}"
                ),
            "{out}"
        );
    }

    #[test]
    fn a_queue_that_disappears_is_removed() {
        let d = |q: &str, m| QueueDepth {
            queue: q.into(),
            messages: m,
            consumers: 1,
        };
        record_depths(&[d("t.a", 3), d("t.b", 4)]);
        let out = text(register_depths);
        assert!(
            out.contains("integramon_queue_messages{queue=\"t.a\"} 3"),
            "{out}"
        );
        record_depths(&[d("t.b", 5)]);
        let out = text(register_depths);
        assert!(!out.contains("t.a"), "{out}");
        assert!(
            out.contains("integramon_queue_messages{queue=\"t.b\"} 5"),
            "{out}"
        );
    }
}
