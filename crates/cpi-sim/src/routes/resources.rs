//! `JmsBrokers('Broker1')` (with `$expand=QueueStates`) and `DataStores` (with `overdueonly`),
//! in the shapes of SAP's MessageStore spec: Int64 figures as strings, the `Is…High` flags as
//! `0`/`1` numbers.

use super::small_collection;
use crate::odata::{Obj, entity_uri};
use crate::query::QueryOptions;
use crate::reply::{ApiError, Reply};
use crate::tenant::{RequestCtx, Tenant};

pub(crate) fn broker(
    t: &Tenant,
    key: &str,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let b = match t.resources.broker() {
        Some(b) if key == "Broker1" => b,
        _ => return Err(ApiError::not_found(format!("Broker '{key}' not found"))),
    };
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(b"{\"d\":");
    let uri = entity_uri(ctx.root, "JmsBrokers", key);
    let mut o = Obj::open(&mut out);
    o.metadata(&uri, "com.sap.hci.api.JmsBroker");
    o.str("Key", key);
    o.int64("Capacity", b.capacity);
    o.int64("MaxCapacity", b.max_capacity);
    let flag = i64::from(b.high);
    o.int32("IsTransactedSessionsHigh", flag);
    o.int32("IsConsumersHigh", flag);
    o.int32("IsProducersHigh", flag);
    o.int64("MaxQueueNumber", b.max_queue_number);
    o.int64("QueueNumber", b.queue_number);
    o.int64("CapacityOk", b.ok);
    o.int64("CapacityWarning", b.warning);
    o.int64("CapacityError", b.error);
    if q.expand.iter().any(|e| e == "QueueStates") {
        let out = o.key("QueueStates");
        out.extend_from_slice(b"{\"results\":[");
        for i in 0..b.queue_number {
            if i > 0 {
                out.push(b',');
            }
            // The last queues are the ones in error, before them the ones in warning.
            let state = if i >= b.queue_number - b.error {
                2
            } else if i >= b.queue_number - b.error - b.warning {
                1
            } else {
                0
            };
            let name = format!("JMS_Q{:02}", i + 1);
            let mut s = Obj::open(out);
            s.str("Name", &name);
            s.int64("State", state);
            s.deferred("Broker", &entity_uri(ctx.root, "QueueStates", &name));
            s.close();
        }
        out.extend_from_slice(b"]}");
    }
    o.close();
    out.push(b'}');
    Ok(Reply::json(out))
}

pub(crate) fn data_stores(
    t: &Tenant,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let flows: Vec<String> = t.catalog.iflows.iter().map(|f| f.id.clone()).collect();
    let stores: Vec<_> = t
        .resources
        .stores(&flows)
        .into_iter()
        .filter(|s| !q.overdue_only || s.overdue > 0)
        .collect();
    Ok(small_collection(
        &stores,
        q,
        ctx,
        "DataStores",
        t.page_size,
        |out, s| {
            let mut o = Obj::open(out);
            o.str("DataStoreName", &s.name);
            o.str("IntegrationFlow", &s.iflow);
            o.str("Type", "");
            o.str("Visibility", s.visibility);
            o.int64("NumberOfMessages", s.messages);
            o.int64("NumberOfOverdueMessages", s.overdue);
            o.close();
        },
    ))
}
