//! Each job type's parameters, checked strictly against its `params` object.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
