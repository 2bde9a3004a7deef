//! Celery task protocol v2, as `celery.Celery(broker=…).send_task(…)` publishes it, mapped to the
//! job envelope; and results in the format Celery's `rpc://` result backend reads.
//!
//! A Celery message has the task name and id in the headers (`task`, `id`, `retries`, `eta`,
//! `expires`, …) and the body `[args, kwargs, embed]` as JSON. The task `integramon.<type>`
//! becomes a job of that type; the tenant comes from kwargs `tenant` (id or name), `tenant_id` or
//! `tenant_name`, or else from the first positional argument; a second positional argument, if
//! any, is an object of parameters; every other kwarg is a parameter.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use domain::job::{JobEnvelope, JobType, TenantRef};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Map, Value, json};

/// Where a Celery client waits for the result of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTarget {
    /// The client's reply queue (published to through the default exchange).
    pub reply_to: String,
    /// The task id, which the client matches results by.
    pub correlation_id: String,
}

impl ReplyTarget {
    /// The target of a job, if its publisher asked for a result.
    pub fn of(job: &JobEnvelope) -> Option<Self> {
        job.reply_to.as_ref().map(|r| Self {
            reply_to: r.clone(),
            correlation_id: job
                .correlation_id
                .clone()
                .unwrap_or_else(|| job.job_id.clone()),
        })
    }
}

/// A Celery message that cannot become a job, with where to report that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct CeleryError {
    pub reason: String,
    pub task_id: Option<String>,
    pub reply: Option<ReplyTarget>,
}

/// The parts of an AMQP message a Celery task is read from.
#[derive(Debug, Clone, Copy)]
pub struct CeleryMessage<'a> {
    pub headers: &'a FieldTable,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub body: &'a [u8],
}

/// Protocol v2 puts the task name in a `task` header; our envelope never has headers like it.
pub fn is_celery(headers: Option<&FieldTable>) -> bool {
    headers.is_some_and(|h| h.contains_key("task"))
}

/// The job a Celery task message stands for (validated), and the task name.
pub fn decode(
    msg: &CeleryMessage<'_>,
    now: DateTime<Utc>,
) -> Result<(JobEnvelope, String), CeleryError> {
    let task_id = header_str(msg.headers, "id").or_else(|| msg.correlation_id.map(str::to_string));
    let reply = msg
        .reply_to
        .filter(|r| !r.is_empty())
        .zip(
            task_id
                .clone()
                .or_else(|| msg.correlation_id.map(str::to_string)),
        )
        .map(|(reply_to, id)| ReplyTarget {
            reply_to: reply_to.to_string(),
            correlation_id: msg.correlation_id.map_or(id, str::to_string),
        });
    let fail = |reason: String| CeleryError {
        reason,
        task_id: task_id.clone(),
        reply: reply.clone(),
    };

    let task = header_str(msg.headers, "task")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| fail("Celery message without a task name (header `task`)".into()))?;
    let job_id = task_id
        .clone()
        .ok_or_else(|| fail(format!("Celery task {task} without an id (header `id`)")))?;
    if let Some(lang) = header_str(msg.headers, "lang")
        && lang != "py"
    {
        tracing::debug!(task, lang, "Celery message from a non-Python client");
    }
    let content_type = msg.content_type.unwrap_or("").trim().to_ascii_lowercase();
    if content_type != "application/json" {
        return Err(fail(format!(
            "Celery task {task}: content type {content_type:?} is not supported; send JSON \
             (task_serializer='json')"
        )));
    }
    match msg.content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => {}
        Some(e) if matches!(e.as_str(), "" | "utf-8" | "utf8" | "binary") => {}
        Some(e) => {
            return Err(fail(format!(
                "Celery task {task}: content encoding {e:?} is not supported (utf-8 only)"
            )));
        }
    }
    if msg.headers.contains_key("compression") {
        return Err(fail(format!(
            "Celery task {task}: compressed messages are not supported"
        )));
    }

    let body: Value = serde_json::from_slice(msg.body)
        .map_err(|e| fail(format!("Celery task {task}: body is not JSON: {e}")))?;
    let (args, kwargs, embed) =
        split_body(body).map_err(|e| fail(format!("Celery task {task}: {e}")))?;
    if let Some(embed) = embed {
        for key in ["callbacks", "errbacks", "chain", "chord"] {
            if embed
                .get(key)
                .is_some_and(|v| !v.is_null() && v != &json!([]))
            {
                return Err(fail(format!(
                    "Celery task {task}: {key} are not supported (IntegraMon jobs do not chain)"
                )));
            }
        }
    }
    let (tenant, params) =
        map_arguments(args, kwargs).map_err(|e| fail(format!("Celery task {task}: {e}")))?;

    let retries = header_int(msg.headers, "retries").unwrap_or(0);
    let attempt = u32::try_from(retries.max(0)).unwrap_or(u32::MAX - 1) + 1;
    let not_before =
        header_time(msg.headers, "eta").map_err(|e| fail(format!("Celery task {task}: {e}")))?;
    let expires = header_time(msg.headers, "expires")
        .map_err(|e| fail(format!("Celery task {task}: {e}")))?;

    let job = JobEnvelope {
        job_id,
        job_type: JobType::from_celery_task_name(&task),
        tenant,
        params: Value::Object(params),
        attempt,
        submitted_at: now,
        not_before,
        expires,
        reply_to: reply.as_ref().map(|r| r.reply_to.clone()),
        correlation_id: reply.as_ref().map(|r| r.correlation_id.clone()),
    };
    if let JobType::Unknown(_) = job.job_type {
        return Err(fail(format!(
            "unknown Celery task {task:?} (IntegraMon tasks are named integramon.<job type>: {})",
            JobType::KNOWN
                .iter()
                .map(JobType::celery_task_name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    job.validate()
        .map_err(|e| fail(format!("Celery task {task}: {e}")))?;
    Ok((job, task))
}

type Body = (Vec<Value>, Map<String, Value>, Option<Map<String, Value>>);

fn split_body(body: Value) -> Result<Body, String> {
    let Value::Array(mut parts) = body else {
        return Err(
            "body is not [args, kwargs, embed] (Celery task protocol 1 is not supported; use \
             task_protocol=2, the default)"
                .into(),
        );
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "body has {} parts, not [args, kwargs, embed]",
            parts.len()
        ));
    }
    let embed = match parts.get(2).cloned() {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err("embed (body[2]) is not an object".into()),
    };
    let kwargs = match parts.swap_remove(1) {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return Err("kwargs (body[1]) is not an object".into()),
    };
    let args = match parts.swap_remove(0) {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        _ => return Err("args (body[0]) is not a list".into()),
    };
    Ok((args, kwargs, embed))
}

/// The documented convention: `args = [tenant]` or `[tenant, {params}]`; kwargs `tenant`,
/// `tenant_id` or `tenant_name` name the tenant instead; the other kwargs are parameters.
fn map_arguments(
    args: Vec<Value>,
    mut kwargs: Map<String, Value>,
) -> Result<(TenantRef, Map<String, Value>), String> {
    if args.len() > 2 {
        return Err(format!(
            "{} positional arguments; at most 2 are accepted: (tenant, params)",
            args.len()
        ));
    }
    let mut args = args.into_iter();
    let mut sources: Vec<(&str, TenantRef)> = Vec::new();
    if let Some(first) = args.next() {
        sources.push((
            "args[0]",
            TenantRef::from_json(&first).map_err(|e| format!("tenant (args[0]): {e}"))?,
        ));
    }
    let mut params = match args.next() {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("args[1] must be an object of parameters".into()),
    };
    if let Some(v) = kwargs.remove("tenant") {
        sources.push((
            "tenant",
            TenantRef::from_json(&v).map_err(|e| format!("tenant: {e}"))?,
        ));
    }
    if let Some(v) = kwargs.remove("tenant_id") {
        let id = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("tenant_id: {v} is not a whole number"))?;
        sources.push(("tenant_id", TenantRef::Id(id)));
    }
    if let Some(v) = kwargs.remove("tenant_name") {
        match v {
            Value::String(s) if !s.trim().is_empty() => {
                sources.push(("tenant_name", TenantRef::Name(s.trim().to_string())));
            }
            other => return Err(format!("tenant_name: {other} is not a non-empty string")),
        }
    }
    let tenant = match sources.len() {
        0 => {
            return Err(
                "no tenant: pass kwargs tenant=<id or name>, tenant_id=<id> or tenant_name=<name>"
                    .into(),
            );
        }
        1 => sources.remove(0).1,
        _ => {
            return Err(format!(
                "the tenant is given more than once ({})",
                sources
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    for (k, v) in kwargs {
        if params.contains_key(&k) {
            return Err(format!(
                "parameter {k:?} is given both in args[1] and as a kwarg"
            ));
        }
        params.insert(k, v);
    }
    Ok((tenant, params))
}

fn header<'a>(headers: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    headers.inner().get(key)
}

pub(crate) fn header_str(headers: &FieldTable, key: &str) -> Option<String> {
    match header(headers, key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

pub(crate) fn header_int(headers: &FieldTable, key: &str) -> Option<i64> {
    match header(headers, key)? {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => {
            header_str(headers, key)?.trim().parse().ok()
        }
        _ => None,
    }
}

/// An ISO 8601 time header; Celery sends aware times, a naive one is taken as UTC.
fn header_time(headers: &FieldTable, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    match header(headers, key) {
        None | Some(AMQPValue::Void) => return Ok(None),
        Some(AMQPValue::LongString(_) | AMQPValue::ShortString(_)) => {}
        Some(other) => return Err(format!("header {key} is not an ISO 8601 string: {other:?}")),
    }
    let raw = header_str(headers, key).unwrap_or_default();
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(format!("header {key}={raw:?} is not an ISO 8601 time"))
}

/// A task state as Celery's result backend reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum CeleryState {
    Success(Value),
    /// Not final: the client keeps waiting.
    Retry(String),
    Failure(String),
    /// Expired tasks are `REVOKED`, as Celery's own worker reports them.
    Revoked(String),
}

/// The body of a result message for the `rpc://` backend: publish it to the default exchange
/// with routing key `reply_to`, correlation id = task id, content type `application/json`.
pub fn result_body(task_id: &str, state: &CeleryState, now: DateTime<Utc>) -> Vec<u8> {
    // Exceptions are encoded as Celery's JSON serializer does; the client rebuilds them from
    // exc_module/exc_type, which must name a real exception class.
    let exc = |module: &str, ty: &str, msg: &str| json!({"exc_type": ty, "exc_module": module, "exc_message": [msg]});
    let (status, result, ready) = match state {
        CeleryState::Success(v) => ("SUCCESS", v.clone(), true),
        CeleryState::Retry(r) => ("RETRY", exc("celery.exceptions", "Retry", r), false),
        CeleryState::Failure(r) => ("FAILURE", exc("builtins", "RuntimeError", r), true),
        CeleryState::Revoked(r) => (
            "REVOKED",
            exc("celery.exceptions", "TaskRevokedError", r),
            true,
        ),
    };
    let date_done = ready.then(|| {
        // Python's datetime.isoformat() of an aware UTC time.
        now.to_rfc3339_opts(SecondsFormat::Micros, false)
    });
    serde_json::to_vec(&json!({
        "task_id": task_id,
        "status": status,
        "result": result,
        "traceback": Value::Null,
        "children": [],
        "date_done": date_done,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use lapin::types::LongString;

    use super::*;

    const ID: &str = "6f1c3a52-5d7e-4c2b-9f0a-1b2c3d4e5f60";

    fn headers(task: &str, extra: &[(&str, AMQPValue)]) -> FieldTable {
        let mut h = FieldTable::default();
        h.insert("lang".into(), AMQPValue::LongString("py".into()));
        h.insert("task".into(), AMQPValue::LongString(task.into()));
        h.insert("id".into(), AMQPValue::LongString(ID.into()));
        h.insert("retries".into(), AMQPValue::LongLongInt(0));
        h.insert("eta".into(), AMQPValue::Void);
        h.insert("expires".into(), AMQPValue::Void);
        for (k, v) in extra {
            h.insert((*k).into(), v.clone());
        }
        h
    }

    fn msg<'a>(h: &'a FieldTable, body: &'a [u8]) -> CeleryMessage<'a> {
        CeleryMessage {
            headers: h,
            content_type: Some("application/json"),
            content_encoding: Some("utf-8"),
            reply_to: Some("reply-q"),
            correlation_id: Some(ID),
            body,
        }
    }

    fn body(args: Value, kwargs: Value) -> Vec<u8> {
        serde_json::to_vec(&json!([args, kwargs, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])).unwrap()
    }

    #[test]
    fn send_task_with_kwargs_becomes_a_job() {
        let h = headers("integramon.messages_hot", &[]);
        let b = body(
            json!([]),
            json!({"tenant": "acme", "from": "2025-01-01T00:00:00Z"}),
        );
        let now = Utc::now();
        let (job, task) = decode(&msg(&h, &b), now).unwrap();
        assert_eq!(task, "integramon.messages_hot");
        assert_eq!(job.job_id, ID);
        assert_eq!(job.job_type, JobType::MessagesHot);
        assert_eq!(job.tenant, TenantRef::Name("acme".into()));
        assert_eq!(job.params, json!({"from": "2025-01-01T00:00:00Z"}));
        assert_eq!(job.attempt, 1);
        assert_eq!(job.submitted_at, now);
        assert_eq!(job.reply_to.as_deref(), Some("reply-q"));
        assert_eq!(job.correlation_id.as_deref(), Some(ID));
        assert_eq!(job.not_before, None);
    }

    #[test]
    fn positional_arguments_and_tenant_kwargs() {
        let h = headers("integramon.message_details", &[]);
        let b = body(json!([7, {"message_guid": "G1"}]), json!({}));
        let (job, _) = decode(&msg(&h, &b), Utc::now()).unwrap();
        assert_eq!(job.tenant, TenantRef::Id(7));
        assert_eq!(job.params, json!({"message_guid": "G1"}));

        let b = body(json!([]), json!({"tenant_id": "12", "message_guid": "G"}));
        assert_eq!(
            decode(&msg(&h, &b), Utc::now()).unwrap().0.tenant,
            TenantRef::Id(12)
        );
        let b = body(json!([]), json!({"tenant_name": "x", "message_guid": "G"}));
        assert_eq!(
            decode(&msg(&h, &b), Utc::now()).unwrap().0.tenant,
            TenantRef::Name("x".into())
        );

        for (args, kwargs, needle) in [
            (json!([]), json!({"message_guid": "G"}), "no tenant"),
            (
                json!([1]),
                json!({"tenant": 2, "message_guid": "G"}),
                "more than once",
            ),
            (
                json!([1, {"message_guid": "G"}]),
                json!({"message_guid": "H"}),
                "both",
            ),
            (json!([1, 2, 3]), json!({}), "positional"),
            (json!([1, 2]), json!({}), "args[1]"),
            (
                json!([]),
                json!({"tenant_id": "x", "message_guid": "G"}),
                "tenant_id",
            ),
            (json!([1]), json!({}), "params.message_guid"),
        ] {
            let b = body(args, kwargs);
            let e = decode(&msg(&h, &b), Utc::now()).unwrap_err();
            assert!(e.reason.contains(needle), "{needle}: {}", e.reason);
            assert_eq!(e.task_id.as_deref(), Some(ID));
            assert_eq!(e.reply.as_ref().unwrap().reply_to, "reply-q");
        }
    }

    #[test]
    fn retries_eta_and_expires_come_from_the_headers() {
        let h = headers(
            "integramon.keystore",
            &[
                ("retries", AMQPValue::LongLongInt(2)),
                (
                    "eta",
                    AMQPValue::LongString(LongString::from("2030-01-01T00:00:00.250000+00:00")),
                ),
                (
                    "expires",
                    AMQPValue::LongString(LongString::from("2030-01-02T00:00:00")),
                ),
            ],
        );
        let b = body(json!(["acme"]), json!({}));
        let (job, _) = decode(&msg(&h, &b), Utc::now()).unwrap();
        assert_eq!(job.attempt, 3);
        assert_eq!(
            job.not_before
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            "2030-01-01T00:00:00.250Z"
        );
        assert_eq!(
            job.expires
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            "2030-01-02T00:00:00Z"
        );
        let bad = headers(
            "integramon.keystore",
            &[("eta", AMQPValue::LongString("soon".into()))],
        );
        assert!(
            decode(&msg(&bad, &b), Utc::now())
                .unwrap_err()
                .reason
                .contains("eta")
        );
    }

    #[test]
    fn what_cannot_be_run_is_refused_with_a_reason() {
        let b = body(json!(["acme"]), json!({}));
        let h = headers("tasks.add", &[]);
        let e = decode(&msg(&h, &b), Utc::now()).unwrap_err();
        assert!(
            e.reason.contains("unknown Celery task \"tasks.add\""),
            "{}",
            e.reason
        );
        assert!(e.reason.contains("integramon.messages_hot"), "{}", e.reason);

        let h = headers("integramon.keystore", &[]);
        let mut m = msg(&h, &b);
        m.content_type = Some("application/x-python-serialize");
        assert!(
            decode(&m, Utc::now())
                .unwrap_err()
                .reason
                .contains("content type")
        );
        let mut m = msg(&h, &b);
        m.content_encoding = Some("gzip");
        assert!(
            decode(&m, Utc::now())
                .unwrap_err()
                .reason
                .contains("encoding")
        );
        assert!(
            decode(&msg(&h, b"{"), Utc::now())
                .unwrap_err()
                .reason
                .contains("not JSON")
        );
        let v1 = serde_json::to_vec(&json!({"task": "integramon.keystore", "id": ID})).unwrap();
        assert!(
            decode(&msg(&h, &v1), Utc::now())
                .unwrap_err()
                .reason
                .contains("protocol 1")
        );
        let chained =
            serde_json::to_vec(&json!([["acme"], {}, {"chain": [{"task": "x"}]}])).unwrap();
        assert!(
            decode(&msg(&h, &chained), Utc::now())
                .unwrap_err()
                .reason
                .contains("chain")
        );

        let mut no_id = headers("integramon.keystore", &[]);
        no_id.insert("id".into(), AMQPValue::Void);
        let mut m = msg(&no_id, &b);
        m.correlation_id = None;
        assert!(
            decode(&m, Utc::now())
                .unwrap_err()
                .reason
                .contains("without an id")
        );
    }

    #[test]
    fn detection_uses_the_task_header() {
        assert!(is_celery(Some(&headers("x", &[]))));
        assert!(!is_celery(Some(&FieldTable::default())));
        assert!(!is_celery(None));
    }

    #[test]
    fn results_have_celerys_shape() {
        let now = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let ok: Value = serde_json::from_slice(&result_body(
            ID,
            &CeleryState::Success(json!({"n": 1})),
            now,
        ))
        .unwrap();
        assert_eq!(
            ok,
            json!({"task_id": ID, "status": "SUCCESS", "result": {"n": 1}, "traceback": null,
                   "children": [], "date_done": "2025-01-02T03:04:05.123456+00:00"})
        );
        let failed: Value =
            serde_json::from_slice(&result_body(ID, &CeleryState::Failure("boom".into()), now))
                .unwrap();
        assert_eq!(failed["status"], "FAILURE");
        assert_eq!(failed["result"]["exc_type"], "RuntimeError");
        assert_eq!(failed["result"]["exc_message"], json!(["boom"]));
        let retry: Value =
            serde_json::from_slice(&result_body(ID, &CeleryState::Retry("later".into()), now))
                .unwrap();
        assert_eq!(retry["status"], "RETRY");
        assert_eq!(retry["date_done"], Value::Null);
        let revoked: Value = serde_json::from_slice(&result_body(
            ID,
            &CeleryState::Revoked("expired".into()),
            now,
        ))
        .unwrap();
        assert_eq!(revoked["result"]["exc_type"], "TaskRevokedError");
    }
}
