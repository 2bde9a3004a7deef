//! The children of a message: custom header properties, runs and run steps, error information,
//! attachments, adapter attributes and message-store entries, with their `$value` streams.

use super::{MplNav, small_collection};
use crate::details::{self, Attachment, StoreEntry};
use crate::generate::{Core, LOG_LEVELS, RunInfo};
use crate::odata::{self, Obj, entity_uri, push_key_escaped};
use crate::query::{self, QueryOptions};
use crate::reply::{ApiError, Reply};
use crate::tenant::{RequestCtx, Tenant};

use super::mpl::find;

fn single_entity(write: impl FnOnce(&mut Vec<u8>)) -> Reply {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"d\":");
    write(&mut out);
    out.push(b'}');
    Reply::json(out)
}

// ---- entity writers ---------------------------------------------------------------------------

fn write_header(out: &mut Vec<u8>, root: &str, c: &Core, k: usize, name: &str, value: &str) {
    let id = details::header_id(c, k).to_string();
    let uri = entity_uri(root, "MessageProcessingLogCustomHeaderProperties", &id);
    let mut o = Obj::open(out);
    o.metadata(
        &uri,
        "com.sap.hci.api.MessageProcessingLogCustomHeaderProperty",
    );
    o.str("Id", &id);
    o.str("Name", name);
    o.str("Value", value);
    o.deferred("Log", &uri);
    o.close();
}

fn write_adapter_attribute(out: &mut Vec<u8>, root: &str, a: &details::AdapterAttribute) {
    let id = a.id.to_string();
    let uri = entity_uri(root, "MessageProcessingLogAdapterAttributes", &id);
    let mut o = Obj::open(out);
    o.metadata(&uri, "com.sap.hci.api.MessageProcessingLogAdapterAttribute");
    o.str("Id", &id);
    o.str("AdapterId", a.adapter_id);
    o.str("AdapterMessageId", &a.adapter_message_id);
    o.str("Name", a.name);
    o.str("Value", &a.value);
    o.deferred("MessageProcessingLog", &uri);
    o.close();
}

fn write_attachment(out: &mut Vec<u8>, root: &str, guid: &str, a: &Attachment) {
    let uri = entity_uri(root, "MessageProcessingLogAttachments", &a.id);
    let mut o = Obj::open(out);
    o.media_metadata(
        &uri,
        "com.sap.hci.api.MessageProcessingLogAttachment",
        a.content_type,
    );
    o.str("Id", &a.id);
    o.str("MessageGuid", guid);
    o.date("TimeStamp", a.timestamp);
    o.str("Name", a.name);
    o.str("ContentType", a.content_type);
    o.int64("PayloadSize", a.size as i64);
    o.close();
}

fn write_run(out: &mut Vec<u8>, t: &Tenant, root: &str, c: &Core, r: &RunInfo) {
    let id = t.traffic.run_id(c, r.no);
    let uri = entity_uri(root, "MessageProcessingLogRuns", &id);
    let mut o = Obj::open(out);
    o.metadata(&uri, "com.sap.hci.api.MessageProcessingLogRun");
    o.str("Id", &id);
    o.date("RunStart", r.start);
    o.opt_date("RunStop", r.stop);
    o.str("LogLevel", LOG_LEVELS[usize::from(c.level)]);
    o.str("OverallState", r.state.as_str());
    let mut pid = [0u8; 32];
    crate::generate::hex_into(
        &t.traffic
            .detail_hash(c.idx, 600 + u64::from(r.no))
            .to_be_bytes(),
        &mut pid[..16],
    );
    crate::generate::hex_into(
        &t.traffic
            .detail_hash(c.idx, 700 + u64::from(r.no))
            .to_be_bytes(),
        &mut pid[16..],
    );
    o.ascii("ProcessId", &pid);
    o.deferred("RunSteps", &uri);
    o.close();
}

fn step_uri(root: &str, run_id: &str, n: u32) -> Vec<u8> {
    let mut uri = Vec::with_capacity(root.len() + run_id.len() + 64);
    uri.extend_from_slice(root.as_bytes());
    uri.extend_from_slice(b"/MessageProcessingLogRunSteps(RunId='");
    push_key_escaped(&mut uri, run_id);
    uri.extend_from_slice(b"',ChildCount=");
    odata::push_u64(&mut uri, u64::from(n));
    uri.push(b')');
    uri
}

fn write_step(
    out: &mut Vec<u8>,
    root: &str,
    run_id: &str,
    c: &Core,
    s: &details::RunStep,
    expand_properties: bool,
) {
    let uri = step_uri(root, run_id, s.child_count);
    let mut o = Obj::open(out);
    o.metadata(&uri, "com.sap.hci.api.MessageProcessingLogRunStep");
    o.str("RunId", run_id);
    o.int32("ChildCount", i64::from(s.child_count));
    o.date("StepStart", s.start);
    o.opt_date("StepStop", s.stop);
    o.str("StepId", &s.model_step_id);
    o.str("ModelStepId", &s.model_step_id);
    o.str("BranchId", "Process_1");
    o.str("Status", s.status);
    o.opt_str("Error", s.error.as_deref());
    o.str("Activity", s.activity);
    if expand_properties {
        let out = o.key("RunStepProperties");
        out.extend_from_slice(b"{\"results\":[");
        for (n, (name, value)) in details::run_step_properties(c, s).iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_step_property(out, root, run_id, s.child_count, name, value);
        }
        out.extend_from_slice(b"]}");
    } else {
        o.deferred("RunStepProperties", &uri);
    }
    o.deferred("TraceMessages", &uri);
    o.close();
}

fn write_step_property(
    out: &mut Vec<u8>,
    root: &str,
    run_id: &str,
    n: u32,
    name: &str,
    value: &str,
) {
    let mut uri = Vec::with_capacity(root.len() + 96);
    uri.extend_from_slice(root.as_bytes());
    uri.extend_from_slice(b"/MessageProcessingLogRunStepProperties(RunId='");
    push_key_escaped(&mut uri, run_id);
    uri.extend_from_slice(b"',ChildCount=");
    odata::push_u64(&mut uri, u64::from(n));
    uri.extend_from_slice(b",Name='");
    push_key_escaped(&mut uri, name);
    uri.extend_from_slice(b"')");
    let mut o = Obj::open(out);
    o.metadata(&uri, "com.sap.hci.api.MessageProcessingLogRunStepProperty");
    o.str("RunId", run_id);
    o.int32("ChildCount", i64::from(n));
    o.str("Name", name);
    o.str("Value", value);
    o.close();
}

fn write_error_info(out: &mut Vec<u8>, t: &Tenant, root: &str, guid: &str, c: &Core) {
    let uri = entity_uri(root, "MessageProcessingLogErrorInformations", guid);
    let mut o = Obj::open(out);
    o.media_metadata(
        &uri,
        "com.sap.hci.api.MessageProcessingLogErrorInformation",
        "text/plain",
    );
    o.str("MessageGuid", guid);
    o.str("Type", "text/plain");
    o.str(
        "LastErrorModelStepId",
        &details::last_error_step(&t.traffic, c),
    );
    o.close();
}

fn write_store_entry(out: &mut Vec<u8>, root: &str, guid: &str, e: &StoreEntry) {
    let uri = entity_uri(root, "MessageStoreEntries", &e.id);
    let mut o = Obj::open(out);
    o.media_metadata(&uri, "com.sap.hci.api.MessageStoreEntry", e.content_type);
    o.str("Id", &e.id);
    o.str("MessageGuid", guid);
    o.str("MessageStoreId", &e.store_id);
    o.date("TimeStamp", e.timestamp);
    o.bool("HasAttachments", false);
    o.deferred("Attachments", &uri);
    o.deferred("Properties", &uri);
    o.close();
}

/// An expanded navigation property of an MPL: `{"results":[…]}`.
pub(crate) fn write_expanded(
    t: &Tenant,
    out: &mut Vec<u8>,
    nav: &str,
    c: &Core,
    root: &str,
    now: i64,
) {
    out.extend_from_slice(b"{\"results\":[");
    match nav {
        "CustomHeaderProperties" => {
            for (k, (name, value)) in details::headers(&t.traffic, c).enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_header(out, root, c, k, name, &value);
            }
        }
        "AdapterAttributes" => {
            for (k, a) in details::adapter_attributes(&t.traffic, c)
                .iter()
                .enumerate()
            {
                if k > 0 {
                    out.push(b',');
                }
                write_adapter_attribute(out, root, a);
            }
        }
        "Attachments" => {
            let guid = t.traffic.guid(c);
            for (k, a) in details::attachments(&t.traffic, c).iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_attachment(out, root, &guid, a);
            }
        }
        "Runs" => {
            for (k, r) in t.traffic.runs(c, now).iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_run(out, t, root, c, r);
            }
        }
        _ => {}
    }
    out.extend_from_slice(b"]}");
}

// ---- handlers ---------------------------------------------------------------------------------

pub(crate) fn mpl_nav(
    t: &Tenant,
    guid: &str,
    nav: &MplNav,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let c = find(t, guid, ctx.now_ms)?;
    let g = &t.traffic;
    let root = ctx.root;
    let key = odata::key_escaped(guid);
    let path = |nav: &str| format!("MessageProcessingLogs('{key}')/{nav}");
    Ok(match nav {
        MplNav::CustomHeaderProperties => {
            let items: Vec<(usize, (&str, String))> = details::headers(g, &c).enumerate().collect();
            small_collection(
                &items,
                q,
                ctx,
                &path("CustomHeaderProperties"),
                t.page_size,
                |out, (k, (n, v))| write_header(out, root, &c, *k, n, v),
            )
        }
        MplNav::AdapterAttributes => {
            let items = details::adapter_attributes(g, &c);
            small_collection(
                &items,
                q,
                ctx,
                &path("AdapterAttributes"),
                t.page_size,
                |out, a| write_adapter_attribute(out, root, a),
            )
        }
        MplNav::Attachments => {
            let items = details::attachments(g, &c);
            small_collection(
                &items,
                q,
                ctx,
                &path("Attachments"),
                t.page_size,
                |out, a| write_attachment(out, root, guid, a),
            )
        }
        MplNav::Runs => {
            let items = g.runs(&c, ctx.now_ms);
            small_collection(&items, q, ctx, &path("Runs"), t.page_size, |out, r| {
                write_run(out, t, root, &c, r)
            })
        }
        MplNav::MessageStoreEntries => {
            let items = details::store_entries(g, &c);
            small_collection(
                &items,
                q,
                ctx,
                &path("MessageStoreEntries"),
                t.page_size,
                |out, e| write_store_entry(out, root, guid, e),
            )
        }
        MplNav::ErrorInformation => {
            if !g.state(&c, ctx.now_ms).status.has_error() {
                return Err(no_error_info(guid));
            }
            single_entity(|out| write_error_info(out, t, root, guid, &c))
        }
    })
}

fn no_error_info(guid: &str) -> ApiError {
    ApiError::not_found(format!(
        "No error information found for message processing log '{guid}'"
    ))
}

pub(crate) fn error_value(t: &Tenant, guid: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let c = find(t, guid, ctx.now_ms)?;
    if !t.traffic.state(&c, ctx.now_ms).status.has_error() {
        return Err(no_error_info(guid));
    }
    Ok(Reply::text(details::error_text(&t.traffic, &c)))
}

/// The message and run a run id names, if that run has started by now.
fn find_run(t: &Tenant, id: &str, now: i64) -> Result<(Core, RunInfo), ApiError> {
    let g = &t.traffic;
    let missing = || ApiError::not_found(format!("Message processing log run '{id}' not found"));
    let (i, no) = g.decode_run_id(id).ok_or_else(missing)?;
    if i < g.visible_from || i >= g.end_index(now) {
        return Err(missing());
    }
    let c = g.core(i);
    let run = g
        .runs(&c, now)
        .into_iter()
        .find(|r| r.no == no)
        .ok_or_else(missing)?;
    Ok((c, run))
}

pub(crate) fn run(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let (c, r) = find_run(t, id, ctx.now_ms)?;
    Ok(single_entity(|out| write_run(out, t, ctx.root, &c, &r)))
}

fn expand_step_properties(q: &QueryOptions) -> Result<bool, ApiError> {
    match q.expand.as_slice() {
        [] => Ok(false),
        [one] if one == "RunStepProperties" => Ok(true),
        other => Err(ApiError::bad_request(format!(
            "Invalid $expand: {} cannot be expanded on run steps",
            other.join(",")
        ))),
    }
}

pub(crate) fn run_steps(
    t: &Tenant,
    id: &str,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let (c, r) = find_run(t, id, ctx.now_ms)?;
    let expand = expand_step_properties(q)?;
    let total = t.traffic.step_count(c.idx) as usize;
    // Steps are generated only for the page served, not for the whole run.
    let w = query::window(q, total, t.run_steps_page_size);
    let mut out = Vec::with_capacity(256 + w.len * 900);
    odata::begin_collection(&mut out, q.inlinecount.then_some(total));
    for n in 0..w.len {
        if n > 0 {
            out.push(b',');
        }
        let step = details::run_step(&t.traffic, &c, &r, (w.start + n + 1) as u32, ctx.now_ms);
        write_step(&mut out, ctx.root, id, &c, &step, expand);
    }
    let path = format!(
        "MessageProcessingLogRuns('{}')/RunSteps",
        odata::key_escaped(id)
    );
    let next = w
        .next_token
        .map(|tok| query::next_link(ctx.next_root(), &path, q, tok));
    odata::end_collection(&mut out, next.as_deref());
    Ok(Reply::json(out))
}

fn find_step(t: &Tenant, id: &str, n: u32, now: i64) -> Result<(Core, details::RunStep), ApiError> {
    let (c, r) = find_run(t, id, now)?;
    if n == 0 || n > t.traffic.step_count(c.idx) {
        return Err(ApiError::not_found(format!(
            "Run step (RunId='{id}',ChildCount={n}) not found"
        )));
    }
    let step = details::run_step(&t.traffic, &c, &r, n, now);
    Ok((c, step))
}

pub(crate) fn run_step(
    t: &Tenant,
    id: &str,
    n: u32,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let expand = expand_step_properties(q)?;
    let (c, step) = find_step(t, id, n, ctx.now_ms)?;
    Ok(single_entity(|out| {
        write_step(out, ctx.root, id, &c, &step, expand)
    }))
}

pub(crate) fn run_step_properties(
    t: &Tenant,
    id: &str,
    n: u32,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let (c, step) = find_step(t, id, n, ctx.now_ms)?;
    let props = details::run_step_properties(&c, &step);
    let mut out = Vec::with_capacity(512);
    odata::begin_collection(&mut out, None);
    for (k, (name, value)) in props.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        write_step_property(&mut out, ctx.root, id, n, name, value);
    }
    odata::end_collection(&mut out, None);
    Ok(Reply::json(out))
}

/// Attachment (`kind` 0) or store entry (`kind` 1) by id: (message, position).
fn find_resource(t: &Tenant, id: &str, kind: u8, now: i64) -> Result<(Core, u8), ApiError> {
    let g = &t.traffic;
    let missing = || ApiError::not_found(format!("Entity with Id '{id}' not found"));
    let (i, k_kind, k) = g.decode_resource_id(id).ok_or_else(missing)?;
    if k_kind != kind || i < g.visible_from || i >= g.end_index(now) {
        return Err(missing());
    }
    let c = g.core(i);
    let count = if kind == 0 {
        g.attachment_count(i)
    } else {
        g.store_entry_count(&c)
    };
    if usize::from(k) >= count {
        return Err(missing());
    }
    Ok((c, k))
}

pub(crate) fn attachment(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let (c, k) = find_resource(t, id, 0, ctx.now_ms)?;
    let a = details::attachment(&t.traffic, &c, k);
    let guid = t.traffic.guid(&c);
    Ok(single_entity(|out| {
        write_attachment(out, ctx.root, &guid, &a)
    }))
}

pub(crate) fn attachment_value(
    t: &Tenant,
    id: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let (c, k) = find_resource(t, id, 0, ctx.now_ms)?;
    let a = details::attachment(&t.traffic, &c, k);
    let guid = t.traffic.guid(&c);
    let seed = t.traffic.detail_hash(c.idx, 800 + u64::from(k));
    Ok(Reply::bytes(
        a.content_type,
        details::payload(&guid, a.content_type, a.size, seed),
    ))
}

pub(crate) fn store_entry(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let (c, k) = find_resource(t, id, 1, ctx.now_ms)?;
    let e = details::store_entry(&t.traffic, &c, k);
    let guid = t.traffic.guid(&c);
    Ok(single_entity(|out| {
        write_store_entry(out, ctx.root, &guid, &e)
    }))
}

pub(crate) fn store_entry_value(
    t: &Tenant,
    id: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let (c, k) = find_resource(t, id, 1, ctx.now_ms)?;
    let e = details::store_entry(&t.traffic, &c, k);
    let guid = t.traffic.guid(&c);
    let seed = t.traffic.detail_hash(c.idx, 900 + u64::from(k));
    Ok(Reply::bytes(
        e.content_type,
        details::payload(&guid, e.content_type, e.size, seed),
    ))
}

pub(crate) fn store_entry_properties(
    t: &Tenant,
    id: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let (c, k) = find_resource(t, id, 1, ctx.now_ms)?;
    let e = details::store_entry(&t.traffic, &c, k);
    let props = details::store_entry_properties(&t.traffic, &t.catalog, &c, &e);
    let mut out = Vec::with_capacity(1024);
    odata::begin_collection(&mut out, None);
    for (n, (name, value)) in props.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let mut uri = Vec::with_capacity(ctx.root.len() + 128);
        uri.extend_from_slice(ctx.root.as_bytes());
        uri.extend_from_slice(b"/MessageStoreEntryProperties(MessageId='");
        push_key_escaped(&mut uri, id);
        uri.extend_from_slice(b"',Name='");
        push_key_escaped(&mut uri, name);
        uri.extend_from_slice(b"')");
        let mut o = Obj::open(&mut out);
        o.metadata(&uri, "com.sap.hci.api.MessageStoreEntryProperty");
        o.str("MessageId", id);
        o.str("Name", name);
        o.str("Value", value);
        o.close();
    }
    odata::end_collection(&mut out, None);
    Ok(Reply::json(out))
}

pub(crate) fn store_entry_attachments(
    t: &Tenant,
    id: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    // Simulated store entries have no attachments (HasAttachments is false).
    find_resource(t, id, 1, ctx.now_ms)?;
    let mut out = Vec::new();
    odata::begin_collection(&mut out, None);
    odata::end_collection(&mut out, None);
    Ok(Reply::json(out))
}
