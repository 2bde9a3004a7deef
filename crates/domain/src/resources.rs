//! A tenant's resources as the `resources` job reads them: the JMS broker's usage against its
//! limits (`JmsBrokers('Broker1')`) and the data stores with their (overdue) messages
//! (`DataStores`). Pure values and the limit arithmetic the overview and the `tenant_resources`
//! alert rule share.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Share of the queue maximum from which the queue count counts as near its limit.
pub const QUEUES_NEAR_LIMIT_PERCENT: f64 = 90.0;

/// The JMS broker's usage. Every figure is optional: CPI omits fields freely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JmsBroker {
    /// Bytes used by all queues.
    pub capacity: Option<i64>,
    /// Bytes the tenant may use.
    pub max_capacity: Option<i64>,
    pub queue_count: Option<i64>,
    pub max_queue_count: Option<i64>,
    /// Queues whose fill level is fine / near their limit / at their limit (CPI's
    /// `CapacityOk`, `CapacityWarning`, `CapacityError`).
    pub queues_ok: Option<i64>,
    pub queues_warning: Option<i64>,
    pub queues_error: Option<i64>,
    /// CPI's `IsTransactedSessionsHigh` etc.: more in use than the broker allows.
    pub transacted_sessions_high: Option<bool>,
    pub consumers_high: Option<bool>,
    pub producers_high: Option<bool>,
}

impl JmsBroker {
    /// Capacity used, in percent of the maximum (`None` without both figures or a zero maximum).
    pub fn capacity_percent(&self) -> Option<f64> {
        percent(self.capacity?, self.max_capacity?)
    }

    /// Queues used, in percent of the maximum.
    pub fn queue_percent(&self) -> Option<f64> {
        percent(self.queue_count?, self.max_queue_count?)
    }

    /// Why the broker is near or over a limit, one short reason per limit; empty when fine.
    pub fn limit_reasons(&self) -> Vec<LimitReason> {
        let mut out = Vec::new();
        if self.queues_error.is_some_and(|n| n > 0) {
            out.push(LimitReason::CapacityError);
        } else if self.queues_warning.is_some_and(|n| n > 0) {
            out.push(LimitReason::CapacityWarning);
        }
        if self
            .queue_percent()
            .is_some_and(|p| p >= QUEUES_NEAR_LIMIT_PERCENT)
        {
            out.push(LimitReason::Queues);
        }
        for (flag, reason) in [
            (
                self.transacted_sessions_high,
                LimitReason::TransactedSessions,
            ),
            (self.consumers_high, LimitReason::Consumers),
            (self.producers_high, LimitReason::Producers),
        ] {
            if flag == Some(true) {
                out.push(reason);
            }
        }
        out
    }
}

fn percent(used: i64, max: i64) -> Option<f64> {
    (max > 0).then(|| used as f64 * 100.0 / max as f64)
}

/// One limit the broker is near or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReason {
    /// Some queue is at its capacity limit.
    CapacityError,
    /// Some queue is near its capacity limit.
    CapacityWarning,
    /// The queue count is near the maximum.
    Queues,
    TransactedSessions,
    Consumers,
    Producers,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CapacityError => "capacity_error",
            Self::CapacityWarning => "capacity_warning",
            Self::Queues => "queues",
            Self::TransactedSessions => "transacted_sessions",
            Self::Consumers => "consumers",
            Self::Producers => "producers",
        }
    }

    /// A sentence for the UI.
    pub fn describe(self) -> &'static str {
        match self {
            Self::CapacityError => "a JMS queue is at its capacity limit",
            Self::CapacityWarning => "a JMS queue is near its capacity limit",
            Self::Queues => "the number of JMS queues is near the maximum",
            Self::TransactedSessions => "too many transacted JMS sessions",
            Self::Consumers => "too many JMS consumers",
            Self::Producers => "too many JMS producers",
        }
    }
}

/// One data store (key: name, iFlow, type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataStore {
    pub name: String,
    /// The iFlow that owns it; empty for a global data store.
    pub iflow: String,
    /// CPI's `Type` (often empty).
    pub store_type: String,
    /// `Integration Flow` or `Global`.
    pub visibility: Option<String>,
    pub messages: Option<i64>,
    /// Messages past their expiry ("overdue"): nobody fetched them in time.
    pub overdue: Option<i64>,
}

impl DataStore {
    pub fn has_overdue(&self) -> bool {
        self.overdue.is_some_and(|n| n > 0)
    }
}

/// What the last `resources` run stored for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantResources {
    pub collected_at: DateTime<Utc>,
    /// `None`: the tenant has no JMS broker (JMS is not part of its plan).
    pub broker: Option<JmsBroker>,
    /// Sorted by name, iFlow, type.
    pub data_stores: Vec<DataStore>,
}

impl TenantResources {
    pub fn overdue_stores(&self) -> impl Iterator<Item = &DataStore> {
        self.data_stores.iter().filter(|d| d.has_overdue())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> JmsBroker {
        // The figures of SAP's example response.
        JmsBroker {
            capacity: Some(794_616_135),
            max_capacity: Some(9_751_756_800),
            queue_count: Some(16),
            max_queue_count: Some(30),
            queues_ok: Some(16),
            queues_warning: Some(0),
            queues_error: Some(0),
            transacted_sessions_high: Some(false),
            consumers_high: Some(false),
            producers_high: Some(false),
        }
    }

    #[test]
    fn percentages_of_the_limits() {
        let b = broker();
        assert!((b.capacity_percent().unwrap() - 8.148).abs() < 0.01);
        assert!((b.queue_percent().unwrap() - 53.33).abs() < 0.01);
        assert_eq!(JmsBroker::default().capacity_percent(), None);
        let zero = JmsBroker {
            max_capacity: Some(0),
            capacity: Some(1),
            ..JmsBroker::default()
        };
        assert_eq!(zero.capacity_percent(), None);
    }

    #[test]
    fn a_broker_within_its_limits_has_no_reasons() {
        assert!(broker().limit_reasons().is_empty());
        assert!(JmsBroker::default().limit_reasons().is_empty());
    }

    #[test]
    fn every_limit_gives_its_reason() {
        let b = JmsBroker {
            queue_count: Some(29),
            queues_warning: Some(2),
            queues_error: Some(1),
            consumers_high: Some(true),
            producers_high: Some(true),
            transacted_sessions_high: Some(true),
            ..broker()
        };
        assert_eq!(
            b.limit_reasons(),
            [
                LimitReason::CapacityError,
                LimitReason::Queues,
                LimitReason::TransactedSessions,
                LimitReason::Consumers,
                LimitReason::Producers,
            ]
        );
        let warn = JmsBroker {
            queues_warning: Some(1),
            ..broker()
        };
        assert_eq!(warn.limit_reasons(), [LimitReason::CapacityWarning]);
    }

    #[test]
    fn overdue_stores_are_the_ones_with_overdue_messages() {
        let r = TenantResources {
            collected_at: Utc::now(),
            broker: None,
            data_stores: vec![
                DataStore {
                    name: "a".into(),
                    overdue: Some(3),
                    ..DataStore::default()
                },
                DataStore {
                    name: "b".into(),
                    overdue: Some(0),
                    ..DataStore::default()
                },
                DataStore {
                    name: "c".into(),
                    ..DataStore::default()
                },
            ],
        };
        let names: Vec<_> = r.overdue_stores().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }
}
