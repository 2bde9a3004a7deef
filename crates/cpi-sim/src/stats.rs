//! Request counters: per route, per status code, per injected fault, plus MPL records served.
//! Atomic counters only, so counting never serialises requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What the simulator has served since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Every request (API, token endpoint), faults and auth failures included.
    pub requests_total: u64,
    /// Requests per route (keys removed, e.g. `MessageProcessingLogs(key)/Runs`).
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// Requests a fault was applied to, per fault kind.
    pub faults: BTreeMap<String, u64>,
    /// MPL entities written into successful responses.
    pub mpl_records_served: u64,
    pub tokens_issued: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// 403 answers for a missing role.
    pub forbidden: u64,
}

const FAULT_NAMES: [&str; 8] = [
    "throttle",
    "server_error",
    "slow",
    "connection_reset",
    "malformed",
    "truncated",
    "html_login",
    "expire_tokens",
];

pub(crate) struct Stats {
    total: AtomicU64,
    statuses: Vec<AtomicU64>,
    faults: [AtomicU64; 8],
    records: AtomicU64,
    tokens: AtomicU64,
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
    /// Label -> slot, filled at start and only read afterwards (no lock per request).
    routes: HashMap<&'static str, usize>,
    labels: Vec<&'static str>,
    route_counts: Vec<AtomicU64>,
}

/// Labels of requests that never became a route.
pub(crate) const TOKEN_LABEL: &str = "oauth/token";
pub(crate) const UNKNOWN_LABEL: &str = "(unknown path)";

impl Stats {
    pub(crate) fn new() -> Stats {
        let labels: Vec<&'static str> = crate::routes::ROUTE_LABELS
            .iter()
            .copied()
            .chain([TOKEN_LABEL, UNKNOWN_LABEL])
            .collect();
        Stats {
            total: AtomicU64::new(0),
            statuses: (0..600).map(|_| AtomicU64::new(0)).collect(),
            faults: Default::default(),
            records: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            forbidden: AtomicU64::new(0),
            routes: labels.iter().enumerate().map(|(i, l)| (*l, i)).collect(),
            route_counts: labels.iter().map(|_| AtomicU64::new(0)).collect(),
            labels,
        }
    }

    fn slot(&self, label: &str) -> usize {
        self.routes
            .get(label)
            .copied()
            .unwrap_or(self.labels.len() - 1)
    }

    pub(crate) fn request(&self, label: &str, status: u16, mpl_records: usize) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let slot = self.slot(label);
        self.route_counts[slot].fetch_add(1, Ordering::Relaxed);
        // Status 0: the connection was cut, no response was sent.
        if status > 0
            && let Some(c) = self.statuses.get(usize::from(status))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.records
            .fetch_add(mpl_records as u64, Ordering::Relaxed);
        match status {
            401 => {
                self.unauthorized.fetch_add(1, Ordering::Relaxed);
            }
            403 => {
                self.forbidden.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    pub(crate) fn fault(&self, name: &str) {
        if let Some(i) = FAULT_NAMES.iter().position(|n| *n == name) {
            self.faults[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn token_issued(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SimStats {
        let by_route = self
            .labels
            .iter()
            .zip(self.route_counts.iter())
            .filter_map(|(label, c)| {
                let n = c.load(Ordering::Relaxed);
                (n > 0).then(|| (label.to_string(), n))
            })
            .collect();
        SimStats {
            requests_total: self.total.load(Ordering::Relaxed),
            by_route,
            by_status: self
                .statuses
                .iter()
                .enumerate()
                .filter_map(|(code, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then_some((code as u16, n))
                })
                .collect(),
            faults: FAULT_NAMES
                .iter()
                .zip(self.faults.iter())
                .filter_map(|(name, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then(|| (name.to_string(), n))
                })
                .collect(),
            mpl_records_served: self.records.load(Ordering::Relaxed),
            tokens_issued: self.tokens.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            forbidden: self.forbidden.load(Ordering::Relaxed),
        }
    }
}
