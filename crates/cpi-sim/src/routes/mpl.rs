//! `MessageProcessingLogs`: the list (filter, order, paging, `$select`, `$expand`), `$count`
//! and the single entity, written in the tenant's JSON shape.

use crate::filter;
use crate::generate::{Core, LOG_LEVELS, State};
use crate::odata::{self, Obj};
use crate::plan::Plan;
use crate::query::{self, QueryOptions};
use crate::reply::{ApiError, Reply};
use crate::results::{Order, ResultSet};
use crate::tenant::{RequestCtx, Tenant};

const MPL_TYPE: &str = "com.sap.hci.api.MessageProcessingLog";

/// Every property of `com.sap.hci.api.MessageProcessingLog`, navigation properties last, in the
/// tenant's order. The index is the bit in a `$select` mask.
pub(crate) const MPL_PROPERTIES: [&str; 30] = [
    "MessageGuid",
    "CorrelationId",
    "ApplicationMessageId",
    "PredecessorMessageGuid",
    "ApplicationMessageType",
    "LogStart",
    "LogEnd",
    "Sender",
    "Receiver",
    "IntegrationFlowName",
    "Status",
    "AlternateWebLink",
    "IntegrationArtifact",
    "LogLevel",
    "CustomStatus",
    "ArchivingStatus",
    "ArchivingSenderChannelMessages",
    "ArchivingReceiverChannelMessages",
    "ArchivingLogAttachments",
    "ArchivingPersistedMessages",
    "TransactionId",
    "PreviousComponentName",
    "LocalComponentName",
    "OriginComponentName",
    "CustomHeaderProperties",
    "MessageStoreEntries",
    "ErrorInformation",
    "AdapterAttributes",
    "Attachments",
    "Runs",
];

const EXPANDABLE: [&str; 4] = [
    "CustomHeaderProperties",
    "AdapterAttributes",
    "Attachments",
    "Runs",
];

fn bit(name: &str) -> Option<u32> {
    MPL_PROPERTIES
        .iter()
        .position(|p| *p == name)
        .map(|p| 1u32 << p)
}

/// Writes MPL entities for one request.
pub(crate) struct MplWriter<'a> {
    t: &'a Tenant,
    root: &'a str,
    now: i64,
    select: u32,
    /// Bits of `MPL_PROPERTIES` that are expanded.
    expand: u32,
}

impl<'a> MplWriter<'a> {
    pub(crate) fn new(
        t: &'a Tenant,
        q: &QueryOptions,
        ctx: &'a RequestCtx<'_>,
    ) -> Result<Self, ApiError> {
        let select = match &q.select {
            None => u32::MAX,
            Some(list) if list.iter().any(|s| s == "*") => u32::MAX,
            Some(list) => {
                let mut mask = 0;
                for name in list {
                    mask |= bit(name).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid $select: property '{name}' does not exist in type '{MPL_TYPE}'"
                        ))
                    })?;
                }
                mask
            }
        };
        let mut expand = 0;
        for name in &q.expand {
            if !EXPANDABLE.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid $expand: '{name}' cannot be expanded on MessageProcessingLogs"
                )));
            }
            expand |= bit(name).unwrap_or(0);
        }
        Ok(MplWriter {
            t,
            root: ctx.root,
            now: ctx.now_ms,
            // An expanded navigation property is always written.
            select: select | expand,
            expand,
        })
    }

    #[inline]
    fn has(&self, name_bit: usize) -> bool {
        self.select & (1 << name_bit) != 0
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>, i: u64) {
        let g = &self.t.traffic;
        let core = g.core(i);
        let state = g.state(&core, self.now);
        self.write_core(out, &core, &state);
    }

    pub(crate) fn write_core(&self, out: &mut Vec<u8>, c: &Core, st: &State) {
        let t = self.t;
        let g = &t.traffic;
        let flow = &t.catalog.iflows[c.iflow as usize];
        let mut guid = [0u8; 28];
        g.guid_into(c, &mut guid);
        let mut uri = Vec::with_capacity(self.root.len() + 64);
        uri.extend_from_slice(self.root.as_bytes());
        uri.extend_from_slice(b"/MessageProcessingLogs('");
        uri.extend_from_slice(&guid);
        uri.extend_from_slice(b"')");

        let mut o = Obj::open(out);
        o.metadata(&uri, MPL_TYPE);
        if self.has(0) {
            o.ascii("MessageGuid", &guid);
        }
        if self.has(1) {
            let mut corr = [0u8; 28];
            g.corr_id_into(g.corr_key(c.idx), &mut corr);
            o.ascii("CorrelationId", &corr);
        }
        if self.has(2) {
            match g.app_id(c.idx) {
                Some(v) => o.int64("ApplicationMessageId", v as i64),
                None => o.null("ApplicationMessageId"),
            }
        }
        if self.has(3) {
            match g.predecessor(c.idx) {
                Some(p) => {
                    let mut pg = [0u8; 28];
                    g.guid_into(&g.core(p), &mut pg);
                    o.ascii("PredecessorMessageGuid", &pg);
                }
                None => o.null("PredecessorMessageGuid"),
            }
        }
        if self.has(4) {
            o.opt_str("ApplicationMessageType", flow.message_type);
        }
        if self.has(5) {
            o.date("LogStart", c.start_ms);
        }
        if self.has(6) {
            o.date("LogEnd", st.log_end);
        }
        if self.has(7) {
            o.opt_str("Sender", flow.sender);
        }
        if self.has(8) {
            o.opt_str("Receiver", flow.receiver);
        }
        if self.has(9) {
            o.str("IntegrationFlowName", &flow.id);
        }
        if self.has(10) {
            o.str("Status", st.status.as_str());
        }
        if self.has(11) {
            let out = o.key("AlternateWebLink");
            out.push(b'"');
            out.extend_from_slice(t.weblink_prefix.as_bytes());
            out.extend_from_slice(&guid);
            out.extend_from_slice(b"%22%7D\"");
        }
        if self.has(12) {
            let pkg = &t.catalog.packages[flow.package];
            let out = o.key("IntegrationArtifact");
            let mut a = Obj::open(out);
            let out = a.key("__metadata");
            out.extend_from_slice(b"{\"type\":\"com.sap.hci.api.IntegrationArtifact\"}");
            a.str("Id", &flow.id);
            a.str("Name", &flow.name);
            a.str("Type", "INTEGRATION_FLOW");
            a.str("PackageId", &pkg.id);
            a.str("PackageName", &pkg.name);
            a.close();
        }
        if self.has(13) {
            o.str("LogLevel", LOG_LEVELS[usize::from(c.level)]);
        }
        if self.has(14) {
            o.str("CustomStatus", st.status.as_str());
        }
        if self.has(15) {
            o.str("ArchivingStatus", "NOT_RELEVANT");
        }
        for (n, name) in MPL_PROPERTIES.iter().enumerate().take(20).skip(16) {
            if self.has(n) {
                o.bool(name, false);
            }
        }
        if self.has(20) {
            let mut tx = [0u8; 32];
            g.transaction_id(c.idx, &mut tx);
            o.ascii("TransactionId", &tx);
        }
        for (n, name) in MPL_PROPERTIES.iter().enumerate().take(24).skip(21) {
            if self.has(n) {
                o.str(name, &t.component);
            }
        }
        for (n, name) in MPL_PROPERTIES.iter().enumerate().skip(24) {
            if !self.has(n) {
                continue;
            }
            if self.expand & (1 << n) != 0 {
                let out = o.key(name);
                super::children::write_expanded(t, out, name, c, self.root, self.now);
            } else {
                o.deferred(name, &uri);
            }
        }
        o.close();
    }
}

struct Prepared {
    order: Order,
    plan: Plan,
}

fn prepare(t: &Tenant, q: &QueryOptions) -> Result<Prepared, ApiError> {
    let order = Order::parse(q.orderby.as_deref())
        .ok_or_else(|| ApiError::bad_request("Invalid order by expression"))?;
    let expr = q.filter.as_deref().map(filter::parse).transpose()?;
    let header = q
        .custom_header
        .as_deref()
        .map(filter::parse_custom_header_filter)
        .transpose()?;
    let key = format!(
        "{}\u{1}{}",
        q.filter.as_deref().unwrap_or(""),
        q.custom_header.as_deref().unwrap_or("")
    );
    let plan = Plan::new(expr.as_ref(), header, &t.traffic, &t.catalog, key)?;
    Ok(Prepared { order, plan })
}

fn run<'t>(t: &'t Tenant, p: &Prepared, now: i64) -> ResultSet<'t> {
    t.engine.run(&t.traffic, &t.catalog, &p.plan, p.order, now)
}

pub(crate) fn list(t: &Tenant, q: &QueryOptions, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let p = prepare(t, q)?;
    let writer = MplWriter::new(t, q, ctx)?;
    let rs = run(t, &p, ctx.now_ms);
    let total = rs.len();
    let w = query::window(q, total, t.page_size);
    let page = rs.page(w.start, w.len);
    let mut out = Vec::with_capacity(256 + page.len() * 1700);
    odata::begin_collection(&mut out, q.inlinecount.then_some(total));
    for (n, &i) in page.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        writer.write(&mut out, i);
    }
    let next = w
        .next_token
        .map(|tok| query::next_link(ctx.next_root(), "MessageProcessingLogs", q, tok));
    odata::end_collection(&mut out, next.as_deref());
    let mut reply = Reply::json(out);
    reply.mpl_records = page.len();
    Ok(reply)
}

pub(crate) fn count(t: &Tenant, q: &QueryOptions, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let p = prepare(t, q)?;
    let total = run(t, &p, ctx.now_ms).len();
    Ok(super::count_reply(total, q))
}

/// The message a guid names, if it exists now.
pub(crate) fn find(t: &Tenant, guid: &str, now: i64) -> Result<Core, ApiError> {
    let g = &t.traffic;
    g.decode_guid(guid)
        .filter(|&i| i >= g.visible_from && i < g.end_index(now))
        .map(|i| g.core(i))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Message processing log with MessageGuid '{guid}' not found"
            ))
        })
}

pub(crate) fn single(
    t: &Tenant,
    guid: &str,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let core = find(t, guid, ctx.now_ms)?;
    let writer = MplWriter::new(t, q, ctx)?;
    let state = t.traffic.state(&core, ctx.now_ms);
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(b"{\"d\":");
    writer.write_core(&mut out, &core, &state);
    out.push(b'}');
    let mut reply = Reply::json(out);
    reply.mpl_records = 1;
    Ok(reply)
}
