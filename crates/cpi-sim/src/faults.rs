//! Faults injected at run time: each affects the next `count` matching requests, in the order
//! they were injected. When none is active, a request pays one atomic load, not a lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault to inject. Its JSON form (admin endpoint) is tagged by `kind`, e.g.
/// `{"kind":"throttle","count":3,"retry_after_secs":2}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 with `Retry-After: <retry_after_secs>`.
    Throttle { count: u32, retry_after_secs: u32 },
    /// An error status (e.g. 500, 502, 503) with the OData error envelope.
    ServerError { count: u32, status: u16 },
    /// Answer normally, after `delay`.
    Slow {
        count: u32,
        #[serde(rename = "delay_ms", with = "duration_ms")]
        delay: Duration,
    },
    /// Close the connection without any response.
    ConnectionReset { count: u32 },
    /// 200 with a body that is not valid JSON (complete HTTP message).
    Malformed { count: u32 },
    /// Content-Length of the full body, half of it sent, then the connection is closed.
    Truncated { count: u32 },
    /// 200 `text/html`: an identity provider's login page, as a misrouted request gets.
    HtmlLogin { count: u32 },
    /// Invalidate every OAuth token issued so far (immediate, no count).
    ExpireTokens,
}

impl Fault {
    pub(crate) fn count(&self) -> u32 {
        match self {
            Fault::Throttle { count, .. }
            | Fault::ServerError { count, .. }
            | Fault::Slow { count, .. }
            | Fault::ConnectionReset { count }
            | Fault::Malformed { count }
            | Fault::Truncated { count }
            | Fault::HtmlLogin { count } => *count,
            Fault::ExpireTokens => 0,
        }
    }

    fn with_count(&self, n: u32) -> Fault {
        let mut f = self.clone();
        match &mut f {
            Fault::Throttle { count, .. }
            | Fault::ServerError { count, .. }
            | Fault::Slow { count, .. }
            | Fault::ConnectionReset { count }
            | Fault::Malformed { count }
            | Fault::Truncated { count }
            | Fault::HtmlLogin { count } => *count = n,
            Fault::ExpireTokens => {}
        }
        f
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Throttle { .. } => "throttle",
            Fault::ServerError { .. } => "server_error",
            Fault::Slow { .. } => "slow",
            Fault::ConnectionReset { .. } => "connection_reset",
            Fault::Malformed { .. } => "malformed",
            Fault::Truncated { .. } => "truncated",
            Fault::HtmlLogin { .. } => "html_login",
            Fault::ExpireTokens => "expire_tokens",
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A fault plus the requests it targets. The admin endpoint's JSON is the fault's fields plus an
/// optional `path_prefix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    /// Only requests whose path starts with this. A prefix without a leading `/` is relative to
    /// the service root (`MessageProcessingLogs` means `/api/v1/MessageProcessingLogs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

impl FaultSpec {
    pub fn everywhere(fault: Fault) -> FaultSpec {
        FaultSpec {
            fault,
            path_prefix: None,
        }
    }

    pub fn on(prefix: impl Into<String>, fault: Fault) -> FaultSpec {
        FaultSpec {
            fault,
            path_prefix: Some(prefix.into()),
        }
    }
}

impl From<Fault> for FaultSpec {
    fn from(f: Fault) -> Self {
        FaultSpec::everywhere(f)
    }
}

struct Active {
    fault: Fault,
    remaining: u32,
    prefix: Option<String>,
    /// As given, for listing.
    given_prefix: Option<String>,
}

pub(crate) struct Faults {
    active: Mutex<Vec<Active>>,
    /// Number of active faults, read without the lock.
    any: AtomicUsize,
}

impl Faults {
    pub(crate) fn new() -> Faults {
        Faults {
            active: Mutex::new(Vec::new()),
            any: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a counted fault (`ExpireTokens` is handled by the caller).
    pub(crate) fn add(&self, spec: FaultSpec) {
        let remaining = spec.fault.count();
        if remaining == 0 {
            return;
        }
        let prefix = spec.path_prefix.as_ref().map(|p| {
            if p.starts_with('/') {
                p.clone()
            } else {
                format!("/api/v1/{p}")
            }
        });
        let mut active = self.lock();
        active.push(Active {
            fault: spec.fault,
            remaining,
            prefix,
            given_prefix: spec.path_prefix,
        });
        self.any.store(active.len(), Ordering::SeqCst);
    }

    pub(crate) fn clear(&self) {
        let mut active = self.lock();
        active.clear();
        self.any.store(0, Ordering::SeqCst);
    }

    /// The fault this request gets, if any; consumes one of its count.
    pub(crate) fn take(&self, path: &str) -> Option<Fault> {
        if self.any.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut active = self.lock();
        let pos = active
            .iter()
            .position(|a| a.prefix.as_deref().is_none_or(|p| path.starts_with(p)))?;
        let a = &mut active[pos];
        a.remaining -= 1;
        let fault = a.fault.clone();
        if a.remaining == 0 {
            active.remove(pos);
        }
        self.any.store(active.len(), Ordering::SeqCst);
        Some(fault)
    }

    /// The faults still pending, with their remaining counts.
    pub(crate) fn list(&self) -> Vec<FaultSpec> {
        self.lock()
            .iter()
            .map(|a| FaultSpec {
                fault: a.fault.with_count(a.remaining),
                path_prefix: a.given_prefix.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_and_by_prefix() {
        let f = Faults::new();
        assert_eq!(f.take("/api/v1/x"), None);
        f.add(FaultSpec::on(
            "MessageProcessingLogs",
            Fault::Throttle {
                count: 1,
                retry_after_secs: 2,
            },
        ));
        f.add(
            Fault::ServerError {
                count: 2,
                status: 503,
            }
            .into(),
        );
        assert!(matches!(
            f.take("/api/v1/KeystoreEntries"),
            Some(Fault::ServerError { .. })
        ));
        assert!(matches!(
            f.take("/api/v1/MessageProcessingLogs"),
            Some(Fault::Throttle { .. })
        ));
        assert_eq!(f.list().len(), 1);
        assert_eq!(f.list()[0].fault.count(), 1);
        assert!(matches!(
            f.take("/api/v1/MessageProcessingLogs"),
            Some(Fault::ServerError { .. })
        ));
        assert_eq!(f.take("/api/v1/MessageProcessingLogs"), None);
    }

    #[test]
    fn admin_json_round_trips() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"kind":"slow","count":2,"delay_ms":150,"path_prefix":"MessageProcessingLogs"}"#,
        )
        .unwrap();
        assert_eq!(
            spec.fault,
            Fault::Slow {
                count: 2,
                delay: Duration::from_millis(150)
            }
        );
        assert_eq!(spec.path_prefix.as_deref(), Some("MessageProcessingLogs"));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["kind"], "slow");
        assert_eq!(back["delay_ms"], 150);
        let e: FaultSpec = serde_json::from_str(r#"{"kind":"expire_tokens"}"#).unwrap();
        assert_eq!(e.fault, Fault::ExpireTokens);
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"nope"}"#).is_err());
    }
}
