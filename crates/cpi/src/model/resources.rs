//! Tenant resources (MessageStore API): the JMS broker's usage against its limits and the data
//! stores. Shapes from SAP's MessageStore spec; Int64 figures come as strings, the `Is…High`
//! flags as `0`/`1` numbers.

use serde::Deserialize;

use super::entity;
use crate::odata::{Metadata, lenient};

/// `com.sap.hci.api.JmsBroker` (`JmsBrokers('Broker1')`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JmsBroker {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    /// Bytes used by all queues.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub capacity: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_capacity: Option<i64>,
    /// `0`: enough available; `1`: more in use than allowed.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub is_transacted_sessions_high: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub is_consumers_high: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub is_producers_high: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_queue_number: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub queue_number: Option<i64>,
    /// Queues whose fill level is fine / near / at their limit.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub capacity_ok: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub capacity_warning: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub capacity_error: Option<i64>,
    /// Present only with `$expand=QueueStates`.
    #[serde(default, deserialize_with = "lenient::nav_collection")]
    pub queue_states: Option<Vec<JmsQueueState>>,
}
entity!(JmsBroker, "JmsBroker");

impl JmsBroker {
    /// No figure at all: what a tenant without a JMS broker may answer instead of a 404.
    pub fn is_empty(&self) -> bool {
        [
            self.capacity,
            self.max_capacity,
            self.max_queue_number,
            self.queue_number,
            self.capacity_ok,
            self.capacity_warning,
            self.capacity_error,
            self.is_transacted_sessions_high,
            self.is_consumers_high,
            self.is_producers_high,
        ]
        .iter()
        .all(Option::is_none)
    }
}

/// One queue's state in `JmsBrokers('Broker1')?$expand=QueueStates` (`0` = fine).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JmsQueueState {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub state: Option<i64>,
}
// The spec does not say which type name these carry (its definition is `DataStores`, plural);
// an empty name skips the type check rather than refuse a tenant's spelling.
entity!(JmsQueueState, "");

/// `com.sap.hci.api.DataStores`, key (DataStoreName, IntegrationFlow, Type).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataStore {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub data_store_name: String,
    /// Empty (or missing) for a global data store.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub integration_flow: Option<String>,
    #[serde(default, rename = "Type", deserialize_with = "lenient::opt_string")]
    pub store_type: Option<String>,
    /// `Integration Flow` or `Global`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub visibility: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub number_of_messages: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub number_of_overdue_messages: Option<i64>,
}
entity!(DataStore, "");
