//! Jobs: the envelope every job queue carries (a public contract, documented in `docs/jobs.md`
//! and `docs/jobs.schema.json`), the job types and their parameters, and the one rule that maps a
//! job's outcome to ack / retry / dead-letter ([`disposition`]).
//!
//! Decoding is lenient about what cannot hurt (a missing `attempt` or `params`) and strict about
//! what could run the wrong job silently (an unknown field, a misspelt parameter): a job that is
//! refused is dead-lettered with the reason, naming the field.
mod bounds;
mod envelope;
mod outcome;
mod params;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use envelope::JobEnvelope;
pub use outcome::{Disposition, JobOutcome, RetryTiers, disposition};
pub use params::{Archive, DeepSync, JobParams, MessageDetails, MessagesSync, NoParams, Payloads};

/// Prefix of every Celery task name (`integramon.messages_hot`). Fixed, unlike the AMQP name
/// prefix: it names the task, not where it is queued.
pub const CELERY_TASK_PREFIX: &str = "integramon.";

pub use bounds::{DEFAULT_LOOKBACK_DAYS, HORIZON_DAYS, WINDOW_SLACK_SECS, collection_start};

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
    /// Alert rule evaluation of a tenant (docs/alerts.md).
    Alerts => "alerts", "alerts", NoParams;
    /// JMS broker and data store usage of a tenant (`JmsBrokers('Broker1')`, `DataStores`).
    Resources => "resources", "resources", NoParams;
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

/// Longest accepted `reply_to` / `correlation_id`: AMQP short strings hold 255 bytes.
const MAX_SHORT_STRING: usize = 255;

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

#[cfg(test)]
mod tests {
    use super::*;

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
                "integramon.alerts",
                "integramon.resources",
            ]
        );
    }

    #[test]
    fn the_published_schema_lists_every_known_type() {
        let schema: Value =
            serde_json::from_str(include_str!("../../../../docs/jobs.schema.json")).unwrap();
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
}
