//! The process's Prometheus registry and the `/metrics` body.
//!
//! One registry per process. The crates that record (the queue's job counters, the CPI client's
//! call counters, the metrics daemon's gauges) own their families as statics and add them here
//! with [`register`]; a source registers once however many daemons of the all-in-one mode ask.
//! What belongs to an endpoint rather than to the process (build info, readiness, uptime, the
//! database pool of its `Db`) is added per scrape.
//!
//! The body is the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it
//! in `Accept` (Prometheus does by default).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

struct Process {
    registry: Registry,
    sources: HashSet<&'static str>,
}

static PROCESS: LazyLock<Mutex<Process>> = LazyLock::new(|| {
    let mut registry = Registry::default();
    queue::metrics::register(&mut registry);
    Mutex::new(Process {
        registry,
        sources: HashSet::from(["queue"]),
    })
});

fn process() -> std::sync::MutexGuard<'static, Process> {
    // Registration and encoding cannot leave the registry half changed, so a poisoned lock (a
    // panic elsewhere while holding it) is still usable.
    PROCESS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Add a source's families to the process registry, once per `name` (later calls with the same
/// name do nothing). For example `runtime::metrics::register("cpi", cpi::metrics::register)`.
pub fn register(name: &'static str, add: impl FnOnce(&mut Registry)) {
    let mut p = process();
    if p.sources.insert(name) {
        add(&mut p.registry);
    }
}

/// The content types of the two formats.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What one endpoint adds to the process's families.
#[derive(Debug, Clone)]
pub struct EndpointFacts {
    pub component: String,
    pub ready: bool,
    pub uptime_secs: u64,
    pub pool: store::PoolStats,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    component: String,
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

fn endpoint_registry(facts: &EndpointFacts) -> Registry {
    let mut r = Registry::default();
    let component = ComponentLabel {
        component: facts.component.clone(),
    };
    let build: Family<BuildLabels, Gauge> = Family::default();
    build
        .get_or_create(&BuildLabels {
            component: facts.component.clone(),
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    r.register(
        "integramon_build_info",
        "Build information (always 1)",
        build,
    );
    let ready: Family<ComponentLabel, Gauge> = Family::default();
    ready.get_or_create(&component).set(i64::from(facts.ready));
    r.register(
        "integramon_ready",
        "Whether the component is ready (1) or not (0)",
        ready,
    );
    let uptime: Family<ComponentLabel, Gauge> = Family::default();
    uptime
        .get_or_create(&component)
        .set(i64::try_from(facts.uptime_secs).unwrap_or(i64::MAX));
    r.register_with_unit(
        "integramon_uptime",
        "Seconds since the component started",
        Unit::Seconds,
        uptime,
    );
    let pool: Family<PoolLabels, Gauge> = Family::default();
    for (state, n) in [("in_use", facts.pool.in_use()), ("idle", facts.pool.idle)] {
        pool.get_or_create(&PoolLabels { state }).set(i64::from(n));
    }
    r.register(
        "integramon_db_pool_connections",
        "Connections of this process's database pool, by state (in_use, idle)",
        pool,
    );
    r.register(
        "integramon_db_pool_max_connections",
        "The largest number of connections the pool opens (DB_POOL_MAX)",
        ConstGauge::new(i64::from(facts.pool.max)),
    );
    r
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The `/metrics` body and its content type.
pub fn render(facts: &EndpointFacts, openmetrics: bool) -> (String, &'static str) {
    let local = endpoint_registry(facts);
    let p = process();
    let mut body = String::with_capacity(8 * 1024);
    // Writing into a String cannot fail; an encoder error would be a bug in a label type, and a
    // partial body is then still more useful than none.
    if openmetrics {
        use prometheus_client::encoding::text;
        let _ = text::encode_registry(&mut body, &local);
        let _ = text::encode_registry(&mut body, &p.registry);
        let _ = text::encode_eof(&mut body);
        (body, OPENMETRICS_TEXT)
    } else {
        use prometheus_client::encoding::prometheus_text;
        let _ = prometheus_text::encode(&mut body, &local);
        let _ = prometheus_text::encode(&mut body, &p.registry);
        (body, PROMETHEUS_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> EndpointFacts {
        EndpointFacts {
            component: "x\"y".into(),
            ready: true,
            uptime_secs: 7,
            pool: store::PoolStats {
                open: 3,
                idle: 1,
                max: 10,
            },
        }
    }

    #[test]
    fn both_formats_carry_help_type_and_escaped_labels() {
        let (text, ct) = render(&facts(), false);
        assert!(ct.starts_with("text/plain; version=0.0.4"));
        assert!(text.contains("# HELP integramon_ready Whether"), "{text}");
        assert!(text.contains("# TYPE integramon_ready gauge"), "{text}");
        assert!(
            text.contains("integramon_ready{component=\"x\\\"y\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("integramon_db_pool_connections{state=\"in_use\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("integramon_db_pool_max_connections 10"),
            "{text}"
        );
        // Families without series (no job ran here yet) are left out rather than sent empty.
        assert!(!text.contains("integramon_jobs_processed"), "{text}");
        assert!(!text.contains("# EOF"));
        let (om, ct) = render(&facts(), true);
        assert!(ct.starts_with("application/openmetrics-text"));
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert_eq!(om.matches("# EOF").count(), 1);
    }

    #[test]
    fn a_source_registers_once() {
        let mut calls = 0;
        register("test-source", |_| calls += 1);
        register("test-source", |_| calls += 1);
        assert_eq!(calls, 1);
    }
}
