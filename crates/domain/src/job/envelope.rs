//! The job envelope: decoding with field-naming errors, validation, and encoding.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::*;

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
}
