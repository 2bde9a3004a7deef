//! Jobs: the envelope every job queue carries (a public contract, documented in `docs/jobs.md`
//! and `docs/jobs.schema.json`), the job types and their parameters, and the one rule that maps a
//! job's outcome to ack / retry / dead-letter ([`disposition`]).
//!
//! Decoding is lenient about what cannot hurt (a missing `attempt` or `params`) and strict about
//! what could run the wrong job silently (an unknown field, a misspelt parameter): a job that is
//! refused is dead-lettered with the reason, naming the field.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Prefix of every Celery task name (`integramon.messages_hot`). Fixed, unlike the AMQP name
/// prefix: it names the task, not where it is queued.
pub const CELERY_TASK_PREFIX: &str = "integramon.";

/// Declares the job types in one table, so adding one is one line: variant, wire name (JSON
/// `type`, Celery task `integramon.<wire>`), queue family (queue `<prefix>.<family>`), and the
/// parameter type that checks `params`.
macro_rules! job_types {
    ($( $(#[$doc:meta])* $variant:ident => $wire:literal, $family:literal, $params:ty; )*) => {
        /// What a job does. The set is open: a type this build does not know is kept as
        /// [`JobType::Unknown`] so the job can be dead-lettered with a reason.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum JobType {
            $( $(#[$doc])* $variant, )*
            /// Any other type string, verbatim.
            Unknown(String),
        }

        impl JobType {
            /// Every known type, in declaration order.
            pub const KNOWN: &'static [JobType] = &[$(JobType::$variant),*];

            /// Never fails: unknown strings become [`JobType::Unknown`].
            pub fn parse(raw: &str) -> Self {
                match raw.trim().to_ascii_lowercase().as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Unknown(raw.trim().to_string()),
                }
            }

            /// The wire name (`messages_hot`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Unknown(s) => s,
                }
            }

            /// The queue family (`messages.hot`); the queue is `<prefix>.<family>`. `None` for an
            /// unknown type, which has no queue.
            pub fn queue_family(&self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($family),)*
                    Self::Unknown(_) => None,
                }
            }

            fn check_params(&self, params: &Map<String, Value>) -> Result<(), JobError> {
                match self {
                    $(Self::$variant => <$params as JobParams>::from_params(params).map(|_| ()),)*
                    Self::Unknown(_) => Ok(()),
                }
            }
        }
    };
}

job_types! {
    /// Recent message processing logs (the hot window).
    MessagesHot => "messages_hot", "messages.hot", MessagesSync;
    /// Older message processing logs (the cold window).
    MessagesCold => "messages_cold", "messages.cold", MessagesSync;
    /// Details of one message: headers, runs and steps, error text, attachments.
    MessageDetails => "message_details", "message_details", MessageDetails;
    /// Payloads from the message store, of one message or of every message that wants them.
    Payloads => "payloads", "payloads", Payloads;
    /// Integration packages and artifacts.
    Packages => "packages", "packages", NoParams;
    /// Artifact content download and hashing (the nightly deep sync).
    DeepSync => "deep_sync", "deep_sync", DeepSync;
    /// Keystore entries.
    Keystore => "keystore", "keystore", NoParams;
    /// Archive files of old messages, retention and database upkeep (the archiver).
    Archive => "archive", "archive", Archive;
    /// Metric and storage snapshots of a tenant (the metrics daemon).
    Metrics => "metrics", "metrics", NoParams;
}

impl JobType {
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }

    /// `<prefix>.<family>`, the queue and routing key of this type; `None` for an unknown type.
    pub fn queue_name(&self, prefix: &str) -> Option<String> {
        self.queue_family().map(|f| format!("{prefix}.{f}"))
    }

    /// The Celery task name, `integramon.<wire name>`.
    pub fn celery_task_name(&self) -> String {
        format!("{CELERY_TASK_PREFIX}{}", self.as_str())
    }

    /// The type a Celery task name stands for; a name without the `integramon.` prefix is
    /// unknown as a whole.
    pub fn from_celery_task_name(task: &str) -> Self {
        match task.trim().strip_prefix(CELERY_TASK_PREFIX) {
            Some(wire) => match Self::parse(wire) {
                Self::Unknown(_) => Self::Unknown(task.trim().to_string()),
                known => known,
            },
            None => Self::Unknown(task.trim().to_string()),
        }
    }

    fn known_list() -> String {
        Self::KNOWN
            .iter()
            .map(JobType::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// The tenant a job is for: by database id (a JSON number) or by name (a JSON string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum TenantRef {
    Id(i64),
    Name(String),
}

impl TenantRef {
    /// From a JSON value: a whole number is an id, a non-empty string a name.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .map(Self::Id)
                .ok_or_else(|| format!("{n} is not a whole number (an id is an integer)")),
            Value::String(s) if s.trim().is_empty() => Err("must not be empty".into()),
            Value::String(s) => Ok(Self::Name(s.trim().to_string())),
            other => Err(format!(
                "must be an id (number) or a name (string), not {}",
                kind(other)
            )),
        }
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "#{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for TenantRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_json(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Why a job cannot be run, naming the field (`tenant`, `params.from`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl JobError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The field at fault, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::NotJson(_) => None,
        }
    }
}

/// One job, as it travels through the queues.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEnvelope {
    /// A UUID; the same job published twice has the same id.
    pub job_id: String,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub tenant: TenantRef,
    /// Always a JSON object; its shape depends on the type (see [`JobParams`]).
    pub params: Value,
    /// This try's number: 1 for the first, incremented by each retry.
    pub attempt: u32,
    pub submitted_at: DateTime<Utc>,
    /// Do not run before this time (Celery's `eta`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Do not run after this time: the job is dead-lettered as expired instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// Queue to publish the result to (Celery's `rpc://` result backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Correlation id of that result; Celery uses the task id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

const ENVELOPE_FIELDS: &[&str] = &[
    "job_id",
    "type",
    "tenant",
    "params",
    "attempt",
    "submitted_at",
    "not_before",
    "expires",
    "reply_to",
    "correlation_id",
];

/// Longest accepted `reply_to` / `correlation_id`: AMQP short strings hold 255 bytes.
const MAX_SHORT_STRING: usize = 255;

impl JobEnvelope {
    /// A new job with a fresh UUID, attempt 1, submitted `now`.
    pub fn new(job_type: JobType, tenant: TenantRef, params: Value, now: DateTime<Utc>) -> Self {
        Self {
            job_id: uuid::Uuid::new_v4().to_string(),
            job_type,
            tenant,
            params,
            attempt: 1,
            submitted_at: now,
            not_before: None,
            expires: None,
            reply_to: None,
            correlation_id: None,
        }
    }

    /// Decode and validate a message body: what a consumer calls.
    pub fn from_json(body: &[u8]) -> Result<Self, JobError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| JobError::NotJson(e.to_string()))?;
        let job = Self::from_value(value)?;
        job.validate()?;
        Ok(job)
    }

    /// The JSON body, as published.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Structural decoding: every field present with the right JSON type, no unknown fields.
    /// The type may still be unknown; [`validate`](Self::validate) checks meaning.
    pub fn from_value(value: Value) -> Result<Self, JobError> {
        let Value::Object(mut obj) = value else {
            return Err(JobError::invalid(
                "(envelope)",
                format!("must be a JSON object, not {}", kind(&value)),
            ));
        };
        if let Some(unknown) = obj.keys().find(|k| !ENVELOPE_FIELDS.contains(&k.as_str())) {
            return Err(JobError::invalid(
                unknown.clone(),
                format!("unknown field (known: {})", ENVELOPE_FIELDS.join(", ")),
            ));
        }
        let job_id = match obj.remove("job_id") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(wrong_type("job_id", "a string (UUID)", &other)),
            None => return Err(JobError::invalid("job_id", "missing")),
        };
        check_job_id(&job_id)?;
        let job_type = match obj.remove("type") {
            Some(Value::String(s)) if !s.trim().is_empty() => JobType::parse(&s),
            Some(Value::String(_)) => return Err(JobError::invalid("type", "must not be empty")),
            Some(other) => return Err(wrong_type("type", "a string", &other)),
            None => return Err(JobError::invalid("type", "missing")),
        };
        let tenant = match obj.remove("tenant") {
            Some(v) => TenantRef::from_json(&v).map_err(|p| JobError::invalid("tenant", p))?,
            None => return Err(JobError::invalid("tenant", "missing")),
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v,
            Some(other) => return Err(wrong_type("params", "an object", &other)),
        };
        let attempt = match obj.remove("attempt") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => match n.as_u64().and_then(|a| u32::try_from(a).ok()) {
                Some(0) => {
                    return Err(JobError::invalid(
                        "attempt",
                        "must be at least 1 (the first try is 1)",
                    ));
                }
                Some(a) => a,
                None => return Err(JobError::invalid("attempt", format!("{n} is not a count"))),
            },
            Some(other) => return Err(wrong_type("attempt", "a number", &other)),
        };
        let submitted_at = match obj.remove("submitted_at") {
            Some(v) => time_field("submitted_at", &v)?,
            None => return Err(JobError::invalid("submitted_at", "missing")),
        };
        let not_before = opt_time_field("not_before", obj.remove("not_before"))?;
        let expires = opt_time_field("expires", obj.remove("expires"))?;
        let reply_to = opt_short_string("reply_to", obj.remove("reply_to"))?;
        let correlation_id = opt_short_string("correlation_id", obj.remove("correlation_id"))?;
        Ok(Self {
            job_id,
            job_type,
            tenant,
            params,
            attempt,
            submitted_at,
            not_before,
            expires,
            reply_to,
            correlation_id,
        })
    }

    /// Meaning: the type is known, its parameters fit it, and the time limits are consistent.
    pub fn validate(&self) -> Result<(), JobError> {
        check_job_id(&self.job_id)?;
        if let JobType::Unknown(t) = &self.job_type {
            return Err(JobError::invalid(
                "type",
                format!("unknown job type {t:?} (known: {})", JobType::known_list()),
            ));
        }
        if self.attempt == 0 {
            return Err(JobError::invalid(
                "attempt",
                "must be at least 1 (the first try is 1)",
            ));
        }
        let Value::Object(params) = &self.params else {
            return Err(wrong_type("params", "an object", &self.params));
        };
        self.job_type.check_params(params)?;
        if let (Some(nb), Some(ex)) = (self.not_before, self.expires)
            && ex < nb
        {
            return Err(JobError::invalid(
                "expires",
                format!(
                    "{} is before not_before {}: the job could never run",
                    rfc3339(ex),
                    rfc3339(nb)
                ),
            ));
        }
        Ok(())
    }

    /// The parameters as `P`, checked (see [`JobParams`]).
    pub fn params_as<P: JobParams>(&self) -> Result<P, JobError> {
        match &self.params {
            Value::Object(map) => P::from_params(map),
            other => Err(wrong_type("params", "an object", other)),
        }
    }

    /// Past its `expires` time at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|ex| now > ex)
    }

    /// How long to hold the job back at `now` because of `not_before`; `None` when it may run.
    pub fn wait_before_running(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.not_before
            .and_then(|nb| (nb - now).to_std().ok())
            .filter(|d| !d.is_zero())
    }

    /// The same job, for its next try.
    pub fn next_attempt(&self, attempt: u32) -> Self {
        Self {
            attempt,
            ..self.clone()
        }
    }
}

impl<'de> Deserialize<'de> for JobEnvelope {
    /// Structural decoding only (see [`JobEnvelope::from_value`]); call
    /// [`JobEnvelope::validate`] before running, or use [`JobEnvelope::from_json`].
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn check_job_id(id: &str) -> Result<(), JobError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|_| ())
        .map_err(|e| JobError::invalid("job_id", format!("{id:?} is not a UUID: {e}")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> JobError {
    JobError::invalid(field, format!("must be {expected}, not {}", kind(got)))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn time_field(field: &str, v: &Value) -> Result<DateTime<Utc>, JobError> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                JobError::invalid(
                    field,
                    format!("{s:?} is not an RFC 3339 timestamp with a UTC offset: {e}"),
                )
            }),
        other => Err(wrong_type(field, "an RFC 3339 timestamp string", other)),
    }
}

fn opt_time_field(field: &str, v: Option<Value>) -> Result<Option<DateTime<Utc>>, JobError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => time_field(field, &v).map(Some),
    }
}

fn opt_short_string(field: &str, v: Option<Value>) -> Result<Option<String>, JobError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_SHORT_STRING => Err(JobError::invalid(
            field,
            format!("longer than {MAX_SHORT_STRING} bytes"),
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

/// The parameters of one job type, read from the envelope's `params` object. Unknown keys are
/// refused, so a misspelt parameter cannot silently widen a job.
pub trait JobParams: Sized {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError>;
}

/// Reads a params object field by field, so every error names `params.<field>`.
struct ParamReader<'a> {
    params: &'a Map<String, Value>,
}

impl<'a> ParamReader<'a> {
    fn new(params: &'a Map<String, Value>, known: &[&str]) -> Result<Self, JobError> {
        if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = if known.is_empty() {
                "this job type takes no parameters".to_string()
            } else {
                format!("unknown parameter (known: {})", known.join(", "))
            };
            return Err(JobError::invalid(format!("params.{k}"), expected));
        }
        Ok(Self { params })
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.params.get(key).filter(|v| !v.is_null())
    }

    fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, JobError> {
        self.present(key)
            .map(|v| time_field(&format!("params.{key}"), v))
            .transpose()
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, JobError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(JobError::invalid(
                format!("params.{key}"),
                "must not be empty",
            )),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(wrong_type(&format!("params.{key}"), "a string", other)),
        }
    }

    fn string(&self, key: &str) -> Result<String, JobError> {
        self.opt_string(key)?
            .ok_or_else(|| JobError::invalid(format!("params.{key}"), "missing"))
    }
}

/// Parameters of `messages_hot` and `messages_cold`: the time window to sync. Either bound may be
/// left out; the worker then uses the tenant's window settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessagesSync {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

impl JobParams for MessagesSync {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        let r = ParamReader::new(params, &["from", "to"])?;
        let p = Self {
            from: r.opt_time("from")?,
            to: r.opt_time("to")?,
        };
        if let (Some(from), Some(to)) = (p.from, p.to)
            && to < from
        {
            return Err(JobError::invalid(
                "params.to",
                format!("{} is before params.from {}", rfc3339(to), rfc3339(from)),
            ));
        }
        Ok(p)
    }
}

/// Parameters of `message_details`: the message to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageDetails {
    pub message_guid: String,
}

impl JobParams for MessageDetails {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        let r = ParamReader::new(params, &["message_guid"])?;
        Ok(Self {
            message_guid: r.string("message_guid")?,
        })
    }
}

/// Parameters of `payloads`: one message's payloads, or (without a guid) every message the
/// tenant's payload strategy wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Payloads {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_guid: Option<String>,
}

impl JobParams for Payloads {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        let r = ParamReader::new(params, &["message_guid"])?;
        Ok(Self {
            message_guid: r.opt_string("message_guid")?,
        })
    }
}

/// Parameters of `deep_sync`: one package, or (without an id) all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeepSync {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
}

impl JobParams for DeepSync {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        let r = ParamReader::new(params, &["package_id"])?;
        Ok(Self {
            package_id: r.opt_string("package_id")?,
        })
    }
}

/// Parameters of `archive`: every day past the tenant's `archive_older_than` (the default), or
/// only `day` (`YYYY-MM-DD`, in the archive time zone), which must be past it too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Archive {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<chrono::NaiveDate>,
}

impl JobParams for Archive {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        let r = ParamReader::new(params, &["day"])?;
        let day = match r.opt_string("day")? {
            None => None,
            Some(raw) => Some(
                chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                    JobError::invalid("params.day", format!("{raw:?} is not a date (YYYY-MM-DD)"))
                })?,
            ),
        };
        Ok(Self { day })
    }
}

/// For job types that take no parameters: `params` must be empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoParams {}

impl JobParams for NoParams {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        ParamReader::new(params, &[])?;
        Ok(Self {})
    }
}

/// Any object, unchecked: for handlers of types whose parameters are free-form.
impl JobParams for Map<String, Value> {
    fn from_params(params: &Map<String, Value>) -> Result<Self, JobError> {
        Ok(params.clone())
    }
}

/// What a handler reports after running a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done and committed; `summary` is the job's result (what a Celery caller gets back).
    Done { summary: Value },
    /// Failed in a way another try may fix (tenant unreachable, rate limited, database busy).
    /// `after` asks for at least that delay.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Failed for good (bad parameters, unknown tenant): retrying cannot help.
    Fail { reason: String },
}

impl JobOutcome {
    pub fn done(summary: Value) -> Self {
        Self::Done { summary }
    }

    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn retry_after(reason: impl Into<String>, after: Duration) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: Some(after),
        }
    }

    pub fn fail(reason: impl Into<String>) -> Self {
        Self::Fail {
            reason: reason.into(),
        }
    }
}

/// The retry delays, ascending and distinct (one retry queue each). Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTiers(Vec<Duration>);

impl RetryTiers {
    pub fn new(mut tiers: Vec<Duration>) -> Result<Self, String> {
        if tiers.is_empty() {
            return Err("at least one retry delay is needed".into());
        }
        if tiers.iter().any(|d| d.as_millis() == 0) {
            return Err("retry delays must be longer than zero".into());
        }
        tiers.sort();
        tiers.dedup();
        Ok(Self(tiers))
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The tier used for an escalating retry after try number `attempt` (1 → the shortest).
    fn escalating(&self, attempt: u32) -> usize {
        let i = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
        i.min(self.0.len() - 1)
    }

    /// The shortest tier of at least `wanted`, or the longest.
    fn at_least(&self, wanted: Duration) -> usize {
        self.0
            .iter()
            .position(|d| *d >= wanted)
            .unwrap_or(self.0.len() - 1)
    }
}

impl Default for RetryTiers {
    /// 10 s, 1 min, 5 min, 30 min.
    fn default() -> Self {
        Self(vec![
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(300),
            Duration::from_secs(1800),
        ])
    }
}

/// What the queue does with a delivered job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Acknowledge: the job is finished.
    Ack,
    /// Publish the job to retry tier `tier` (waiting `delay`) as try `next_attempt`, then ack.
    Retry {
        tier: usize,
        delay: Duration,
        next_attempt: u32,
    },
    /// Publish the job to the dead-letter queue with `reason`, then ack.
    DeadLetter { reason: String },
}

/// The one rule mapping a job's outcome to what the queue does with it. `attempt` is the try that
/// just ran (1-based), `max_attempts` the tries allowed in all (0 counts as 1).
///
/// Escalating retries use tier `attempt - 1` (capped at the longest); a retry that asks for a
/// delay gets the shortest tier at least that long (or the longest). The last allowed try that
/// fails is dead-lettered, with the last reason.
pub fn disposition(
    outcome: &JobOutcome,
    attempt: u32,
    max_attempts: u32,
    tiers: &RetryTiers,
) -> Disposition {
    let attempt = attempt.max(1);
    let max_attempts = max_attempts.max(1);
    match outcome {
        JobOutcome::Done { .. } => Disposition::Ack,
        JobOutcome::Fail { reason } => Disposition::DeadLetter {
            reason: format!("failed on attempt {attempt}: {reason}"),
        },
        JobOutcome::Retry { reason, .. } if attempt >= max_attempts => Disposition::DeadLetter {
            reason: format!("gave up after {attempt} of {max_attempts} attempts: {reason}"),
        },
        JobOutcome::Retry { after, .. } => {
            let tier = match after {
                Some(wanted) => tiers.at_least(*wanted),
                None => tiers.escalating(attempt),
            };
            Disposition::Retry {
                tier,
                delay: tiers.0[tier],
                next_attempt: attempt + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn minimal() -> Value {
        json!({
            "job_id": "0b6c1f2e-8f37-4d5c-9a4e-2a1f3c5d7e90",
            "type": "messages_hot",
            "tenant": "acme-prod",
            "submitted_at": "2025-01-02T03:04:05Z"
        })
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v.as_object_mut().unwrap().insert(key.into(), val);
        v
    }

    fn decode(v: Value) -> Result<JobEnvelope, JobError> {
        JobEnvelope::from_json(&serde_json::to_vec(&v).unwrap())
    }

    fn field_of(v: Value) -> String {
        decode(v)
            .expect_err("should be refused")
            .field()
            .expect("names a field")
            .to_string()
    }

    #[test]
    fn every_known_type_has_distinct_names_and_round_trips() {
        let mut wires = std::collections::HashSet::new();
        let mut families = std::collections::HashSet::new();
        for ty in JobType::KNOWN {
            assert!(wires.insert(ty.as_str()), "{ty}");
            assert!(families.insert(ty.queue_family().unwrap()), "{ty}");
            assert_eq!(&JobType::parse(ty.as_str()), ty);
            assert_eq!(&JobType::from_celery_task_name(&ty.celery_task_name()), ty);
        }
        assert_eq!(
            JobType::MessagesHot.queue_name("integramon").as_deref(),
            Some("integramon.messages.hot")
        );
        assert_eq!(
            JobType::MessageDetails.queue_name("x").as_deref(),
            Some("x.message_details")
        );
        assert_eq!(
            JobType::MessagesCold.celery_task_name(),
            "integramon.messages_cold"
        );
        assert_eq!(JobType::parse(" Messages_HOT "), JobType::MessagesHot);
    }

    #[test]
    fn the_queue_names_are_the_documented_ones() {
        let names: Vec<String> = JobType::KNOWN
            .iter()
            .map(|t| t.queue_name("integramon").unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "integramon.messages.hot",
                "integramon.messages.cold",
                "integramon.message_details",
                "integramon.payloads",
                "integramon.packages",
                "integramon.deep_sync",
                "integramon.keystore",
                "integramon.archive",
                "integramon.metrics",
            ]
        );
    }

    #[test]
    fn archive_takes_an_optional_day() {
        let params = |v: Value| Archive::from_params(v.as_object().unwrap());
        assert_eq!(params(json!({})).unwrap().day, None);
        assert_eq!(
            params(json!({"day": "2025-03-31"})).unwrap().day,
            chrono::NaiveDate::from_ymd_opt(2025, 3, 31)
        );
        let err = params(json!({"day": "31.03.2025"})).unwrap_err();
        assert_eq!(err.field(), Some("params.day"));
        assert!(params(json!({"days": 3})).is_err());
    }

    #[test]
    fn the_published_schema_lists_every_known_type() {
        let schema: Value =
            serde_json::from_str(include_str!("../../../docs/jobs.schema.json")).unwrap();
        let listed: Vec<&str> = schema["properties"]["type"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let known: Vec<&str> = JobType::KNOWN.iter().map(JobType::as_str).collect();
        assert_eq!(
            listed, known,
            "docs/jobs.schema.json is part of the contract"
        );
    }

    #[test]
    fn unknown_types_are_kept_and_refused_by_validation() {
        assert_eq!(JobType::parse("alarms"), JobType::Unknown("alarms".into()));
        assert_eq!(JobType::Unknown("alarms".into()).queue_family(), None);
        assert_eq!(
            JobType::from_celery_task_name("other.messages_hot"),
            JobType::Unknown("other.messages_hot".into())
        );
        assert_eq!(
            JobType::from_celery_task_name("integramon.nope"),
            JobType::Unknown("integramon.nope".into())
        );
        let job = JobEnvelope::from_value(with(minimal(), "type", json!("alarms"))).unwrap();
        assert_eq!(job.job_type, JobType::Unknown("alarms".into()));
        let err = job.validate().unwrap_err();
        assert_eq!(err.field(), Some("type"));
        assert!(
            err.to_string().contains("unknown job type \"alarms\""),
            "{err}"
        );
        assert!(err.to_string().contains("messages_hot"), "{err}");
    }

    #[test]
    fn a_minimal_envelope_gets_defaults_and_round_trips() {
        let job = decode(minimal()).unwrap();
        assert_eq!(job.job_type, JobType::MessagesHot);
        assert_eq!(job.tenant, TenantRef::Name("acme-prod".into()));
        assert_eq!(job.params, json!({}));
        assert_eq!(job.attempt, 1);
        assert_eq!(job.submitted_at, t("2025-01-02T03:04:05Z"));
        assert_eq!(job.not_before, None);
        let again = JobEnvelope::from_json(&job.to_json()).unwrap();
        assert_eq!(again, job);
        let via_serde: JobEnvelope = serde_json::from_slice(&job.to_json()).unwrap();
        assert_eq!(via_serde, job);
    }

    #[test]
    fn a_full_envelope_round_trips() {
        let v = json!({
            "job_id": "0b6c1f2e-8f37-4d5c-9a4e-2a1f3c5d7e90",
            "type": "message_details",
            "tenant": 42,
            "params": {"message_guid": "AGVx"},
            "attempt": 3,
            "submitted_at": "2025-01-02T03:04:05+01:00",
            "not_before": "2025-01-02T03:00:00Z",
            "expires": "2025-01-03T00:00:00Z",
            "reply_to": "celery-reply-1",
            "correlation_id": "0b6c1f2e-8f37-4d5c-9a4e-2a1f3c5d7e90"
        });
        let job = decode(v).unwrap();
        assert_eq!(job.tenant, TenantRef::Id(42));
        assert_eq!(job.submitted_at, t("2025-01-02T02:04:05Z"));
        assert_eq!(job.attempt, 3);
        assert_eq!(
            job.params_as::<MessageDetails>().unwrap().message_guid,
            "AGVx"
        );
        let json: Value = serde_json::from_slice(&job.to_json()).unwrap();
        assert_eq!(json["tenant"], json!(42));
        assert_eq!(json["type"], json!("message_details"));
        assert_eq!(JobEnvelope::from_json(&job.to_json()).unwrap(), job);
    }

    #[test]
    fn structural_errors_name_the_field() {
        assert!(matches!(
            JobEnvelope::from_json(b"{not json"),
            Err(JobError::NotJson(_))
        ));
        assert_eq!(field_of(json!([1, 2])), "(envelope)");
        for key in ["job_id", "type", "tenant", "submitted_at"] {
            let mut v = minimal();
            v.as_object_mut().unwrap().remove(key);
            assert_eq!(field_of(v), key);
        }
        assert_eq!(field_of(with(minimal(), "job_id", json!("nope"))), "job_id");
        assert_eq!(field_of(with(minimal(), "job_id", json!(7))), "job_id");
        assert_eq!(field_of(with(minimal(), "type", json!(""))), "type");
        assert_eq!(field_of(with(minimal(), "type", json!(1))), "type");
        assert_eq!(field_of(with(minimal(), "tenant", json!(""))), "tenant");
        assert_eq!(field_of(with(minimal(), "tenant", json!(1.5))), "tenant");
        assert_eq!(field_of(with(minimal(), "tenant", json!([1]))), "tenant");
        assert_eq!(field_of(with(minimal(), "params", json!([]))), "params");
        assert_eq!(field_of(with(minimal(), "attempt", json!(0))), "attempt");
        assert_eq!(field_of(with(minimal(), "attempt", json!(-1))), "attempt");
        assert_eq!(field_of(with(minimal(), "attempt", json!("2"))), "attempt");
        assert_eq!(
            field_of(with(minimal(), "submitted_at", json!("yesterday"))),
            "submitted_at"
        );
        // An offset is required: a naive time is ambiguous.
        assert_eq!(
            field_of(with(minimal(), "not_before", json!("2025-01-02T03:04:05"))),
            "not_before"
        );
        assert_eq!(
            field_of(with(minimal(), "expires", json!(12345))),
            "expires"
        );
        assert_eq!(field_of(with(minimal(), "reply_to", json!(1))), "reply_to");
        assert_eq!(
            field_of(with(minimal(), "correlation_id", json!("x".repeat(300)))),
            "correlation_id"
        );
        assert_eq!(field_of(with(minimal(), "priority", json!(1))), "priority");
    }

    #[test]
    fn nulls_mean_absent_for_optional_fields() {
        let mut v = minimal();
        for key in [
            "params",
            "attempt",
            "not_before",
            "expires",
            "reply_to",
            "correlation_id",
        ] {
            v = with(v, key, Value::Null);
        }
        let job = decode(v).unwrap();
        assert_eq!(job.attempt, 1);
        assert_eq!(job.reply_to, None);
    }

    #[test]
    fn parameters_are_checked_per_type() {
        let hot = |p: Value| decode(with(minimal(), "params", p));
        let ok = hot(json!({"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"}))
            .unwrap()
            .params_as::<MessagesSync>()
            .unwrap();
        assert_eq!(ok.from, Some(t("2025-01-01T00:00:00Z")));
        assert_eq!(
            hot(json!({"form": "2025-01-01T00:00:00Z"}))
                .unwrap_err()
                .field(),
            Some("params.form")
        );
        assert_eq!(
            hot(json!({"from": "soon"})).unwrap_err().field(),
            Some("params.from")
        );
        assert_eq!(
            hot(json!({"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}))
                .unwrap_err()
                .field(),
            Some("params.to")
        );

        let typed =
            |ty: &str, p: Value| decode(with(with(minimal(), "type", json!(ty)), "params", p));
        assert_eq!(
            typed("message_details", json!({})).unwrap_err().field(),
            Some("params.message_guid")
        );
        assert_eq!(
            typed("message_details", json!({"message_guid": 5}))
                .unwrap_err()
                .field(),
            Some("params.message_guid")
        );
        typed("payloads", json!({})).unwrap();
        assert_eq!(
            typed("payloads", json!({"message_guid": "G"}))
                .unwrap()
                .params_as::<Payloads>()
                .unwrap()
                .message_guid
                .as_deref(),
            Some("G")
        );
        typed("packages", json!({})).unwrap();
        let err = typed("keystore", json!({"x": 1})).unwrap_err();
        assert_eq!(err.field(), Some("params.x"));
        assert!(err.to_string().contains("no parameters"), "{err}");
        typed("deep_sync", json!({"package_id": "P1"})).unwrap();
        assert_eq!(
            typed("deep_sync", json!({"package_id": " "}))
                .unwrap_err()
                .field(),
            Some("params.package_id")
        );
    }

    #[test]
    fn time_limits_must_be_consistent() {
        let v = with(
            with(minimal(), "not_before", json!("2025-01-02T00:00:00Z")),
            "expires",
            json!("2025-01-01T00:00:00Z"),
        );
        assert_eq!(field_of(v), "expires");
    }

    #[test]
    fn expiry_and_holding_back() {
        let mut job = decode(minimal()).unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 2, 12, 0, 0).unwrap();
        assert!(!job.is_expired(now));
        assert_eq!(job.wait_before_running(now), None);
        job.expires = Some(now - chrono::Duration::seconds(1));
        assert!(job.is_expired(now));
        job.expires = Some(now);
        assert!(!job.is_expired(now));
        job.not_before = Some(now + chrono::Duration::seconds(30));
        assert_eq!(job.wait_before_running(now), Some(Duration::from_secs(30)));
        job.not_before = Some(now);
        assert_eq!(job.wait_before_running(now), None);
        job.not_before = Some(now - chrono::Duration::seconds(30));
        assert_eq!(job.wait_before_running(now), None);
    }

    #[test]
    fn new_jobs_get_a_uuid_and_attempt_one() {
        let now = Utc::now();
        let a = JobEnvelope::new(JobType::Keystore, TenantRef::Id(1), json!({}), now);
        let b = JobEnvelope::new(JobType::Keystore, TenantRef::Id(1), json!({}), now);
        assert_ne!(a.job_id, b.job_id);
        assert_eq!(a.attempt, 1);
        a.validate().unwrap();
        assert_eq!(a.next_attempt(2).attempt, 2);
        assert_eq!(a.next_attempt(2).job_id, a.job_id);
    }

    fn tiers() -> RetryTiers {
        RetryTiers::new(vec![
            Duration::from_secs(60),
            Duration::from_secs(10),
            Duration::from_secs(300),
        ])
        .unwrap()
    }

    #[test]
    fn retry_tiers_are_sorted_distinct_and_never_empty() {
        assert_eq!(
            tiers().delays(),
            [
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300)
            ]
        );
        assert!(RetryTiers::new(vec![]).is_err());
        assert!(RetryTiers::new(vec![Duration::ZERO]).is_err());
        assert_eq!(
            RetryTiers::new(vec![Duration::from_secs(5), Duration::from_secs(5)])
                .unwrap()
                .delays()
                .len(),
            1
        );
        assert_eq!(RetryTiers::default().delays().len(), 4);
    }

    #[test]
    fn done_is_acked_whatever_the_attempt() {
        for attempt in [0, 1, 2, 5, 6, u32::MAX] {
            for max in [0, 1, 5] {
                assert_eq!(
                    disposition(&JobOutcome::done(json!({})), attempt, max, &tiers()),
                    Disposition::Ack
                );
            }
        }
    }

    #[test]
    fn fail_is_dead_lettered_at_once_with_the_reason() {
        for attempt in [1, 3, 9] {
            match disposition(&JobOutcome::fail("no such tenant"), attempt, 5, &tiers()) {
                Disposition::DeadLetter { reason } => {
                    assert!(reason.contains("no such tenant"), "{reason}");
                    assert!(reason.contains(&format!("attempt {attempt}")), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn retries_escalate_through_the_tiers_then_stay_on_the_longest() {
        let r = JobOutcome::retry("tenant unreachable");
        let expect = |attempt: u32, tier, secs| Disposition::Retry {
            tier,
            delay: Duration::from_secs(secs),
            next_attempt: attempt + 1,
        };
        assert_eq!(disposition(&r, 1, 10, &tiers()), expect(1, 0, 10));
        assert_eq!(disposition(&r, 2, 10, &tiers()), expect(2, 1, 60));
        assert_eq!(disposition(&r, 3, 10, &tiers()), expect(3, 2, 300));
        assert_eq!(disposition(&r, 4, 10, &tiers()), expect(4, 2, 300));
        assert_eq!(disposition(&r, 9, 10, &tiers()), expect(9, 2, 300));
        // Attempt 0 (never sent by us) counts as the first.
        assert_eq!(disposition(&r, 0, 10, &tiers()), expect(1, 0, 10));
    }

    #[test]
    fn a_requested_delay_picks_the_shortest_tier_that_covers_it() {
        let at = |secs| JobOutcome::retry_after("429", Duration::from_secs(secs));
        let tier_of = |o: &JobOutcome| match disposition(o, 1, 5, &tiers()) {
            Disposition::Retry {
                tier, next_attempt, ..
            } => {
                assert_eq!(next_attempt, 2);
                tier
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(tier_of(&at(0)), 0);
        assert_eq!(tier_of(&at(10)), 0);
        assert_eq!(tier_of(&at(11)), 1);
        assert_eq!(tier_of(&at(60)), 1);
        assert_eq!(tier_of(&at(61)), 2);
        assert_eq!(tier_of(&at(100_000)), 2);
        // The requested delay wins over escalation, even on a late attempt.
        assert_eq!(
            disposition(&at(5), 4, 5, &tiers()),
            Disposition::Retry {
                tier: 0,
                delay: Duration::from_secs(10),
                next_attempt: 5
            }
        );
    }

    #[test]
    fn the_last_allowed_attempt_is_dead_lettered() {
        let r = JobOutcome::retry("tenant unreachable");
        for (attempt, max) in [(5, 5), (6, 5), (1, 1), (1, 0), (u32::MAX, 5)] {
            match disposition(&r, attempt, max, &tiers()) {
                Disposition::DeadLetter { reason } => {
                    assert!(reason.contains("tenant unreachable"), "{reason}");
                    assert!(reason.contains("gave up after"), "{reason}");
                }
                other => panic!("attempt {attempt} of {max}: {other:?}"),
            }
        }
        assert!(matches!(
            disposition(&r, 4, 5, &tiers()),
            Disposition::Retry {
                next_attempt: 5,
                ..
            }
        ));
        let delayed = JobOutcome::retry_after("429", Duration::from_secs(1));
        assert!(matches!(
            disposition(&delayed, 5, 5, &tiers()),
            Disposition::DeadLetter { .. }
        ));
    }

    #[test]
    fn a_single_tier_serves_every_retry() {
        let one = RetryTiers::new(vec![Duration::from_millis(500)]).unwrap();
        for attempt in 1..4 {
            assert_eq!(
                disposition(&JobOutcome::retry("x"), attempt, 4, &one),
                Disposition::Retry {
                    tier: 0,
                    delay: Duration::from_millis(500),
                    next_attempt: attempt + 1
                }
            );
        }
        assert_eq!(
            disposition(
                &JobOutcome::retry_after("x", Duration::from_secs(60)),
                1,
                4,
                &one
            ),
            Disposition::Retry {
                tier: 0,
                delay: Duration::from_millis(500),
                next_attempt: 2
            }
        );
    }
}
