//! The tenant's resources: its JMS broker and data stores, and the admin switch that pushes them
//! over their limits (or takes the broker away, as on a tenant without JMS). The figures are
//! plausible and fixed per mode, so tests can assert them.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

/// What `JmsBrokers('Broker1')` and `DataStores` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceMode {
    /// Well within every limit; no overdue data store messages.
    Normal,
    /// Capacity near the maximum, queues at the maximum, some queues in warning and error,
    /// sessions, consumers and producers high, and data stores with overdue messages.
    OverLimits,
    /// No JMS broker: `JmsBrokers('Broker1')` answers 404 (data stores stay as in `Normal`).
    NoJms,
}

impl ResourceMode {
    const ALL: [ResourceMode; 3] = [Self::Normal, Self::OverLimits, Self::NoJms];

    fn index(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::OverLimits => 1,
            Self::NoJms => 2,
        }
    }
}

/// The broker's figures as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    pub capacity: i64,
    pub max_capacity: i64,
    pub queue_number: i64,
    pub max_queue_number: i64,
    pub ok: i64,
    pub warning: i64,
    pub error: i64,
    pub high: bool,
}

/// SAP's example tenant: 9.75 GB of JMS capacity and 30 queues.
const MAX_CAPACITY: i64 = 9_751_756_800;
const MAX_QUEUES: i64 = 30;

/// One data store as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Store {
    pub name: String,
    /// Empty for the global store.
    pub iflow: String,
    pub visibility: &'static str,
    pub messages: i64,
    pub overdue: i64,
}

pub(crate) struct Resources {
    mode: AtomicU8,
}

impl Resources {
    pub(crate) fn new() -> Self {
        Self {
            mode: AtomicU8::new(ResourceMode::Normal.index()),
        }
    }

    pub(crate) fn mode(&self) -> ResourceMode {
        let i = self.mode.load(Ordering::SeqCst);
        ResourceMode::ALL[usize::from(i).min(ResourceMode::ALL.len() - 1)]
    }

    pub(crate) fn set_mode(&self, mode: ResourceMode) {
        self.mode.store(mode.index(), Ordering::SeqCst);
    }

    /// `None` in [`ResourceMode::NoJms`].
    pub(crate) fn broker(&self) -> Option<Broker> {
        match self.mode() {
            ResourceMode::Normal => Some(Broker {
                capacity: 794_616_135,
                max_capacity: MAX_CAPACITY,
                queue_number: 16,
                max_queue_number: MAX_QUEUES,
                ok: 16,
                warning: 0,
                error: 0,
                high: false,
            }),
            ResourceMode::OverLimits => Some(Broker {
                // 96 % of the capacity.
                capacity: MAX_CAPACITY / 100 * 96,
                max_capacity: MAX_CAPACITY,
                queue_number: MAX_QUEUES,
                max_queue_number: MAX_QUEUES,
                ok: 27,
                warning: 2,
                error: 1,
                high: true,
            }),
            ResourceMode::NoJms => None,
        }
    }

    /// One store per one of the first iFlows, plus a global one.
    pub(crate) fn stores(&self, iflows: &[String]) -> Vec<Store> {
        let over = self.mode() == ResourceMode::OverLimits;
        let mut out: Vec<Store> = iflows
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, flow)| {
                let messages = 3 + 5 * i as i64;
                Store {
                    name: format!("{flow}_Buffer"),
                    iflow: flow.clone(),
                    visibility: "Integration Flow",
                    messages: if over && i == 0 {
                        messages + 40
                    } else {
                        messages
                    },
                    overdue: if over && i == 0 { 40 } else { 0 },
                }
            })
            .collect();
        out.push(Store {
            name: "GlobalPartnerData".into(),
            iflow: String::new(),
            visibility: "Global",
            messages: 12,
            overdue: if over { 5 } else { 0 },
        });
        out
    }
}
