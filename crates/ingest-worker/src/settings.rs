//! The ingest worker's settings (`INGEST_*`, `CPI_*`), built once at start from the layered
//! settings and handed to the worker on its context (also read by `sync`).

use std::time::Duration;

use domain::job::JobType;
use domain::setting::{self, Entry, Invalid};
use runtime::Settings;

use crate::jobs;
use crate::messages::{DetailsPolicy, MessageOptions};
use crate::tenants::ClientOptions;

/// `INGEST_CONCURRENCY` default: jobs of one family a worker runs at once.
pub const DEFAULT_CONCURRENCY: u16 = 4;
/// `INGEST_TENANT_CONCURRENCY` default: jobs of one family and tenant a worker runs at once.
pub const DEFAULT_TENANT_CONCURRENCY: usize = 1;

/// How many jobs a worker runs at once: per family (its consumer's prefetch), and of those per
/// tenant (see [`crate::fairness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduling {
    pub concurrency: u16,
    pub per_tenant: usize,
}

/// Everything the worker reads from the settings.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub messages: MessageOptions,
    pub client: ClientOptions,
    /// `INGEST_FAMILIES`: the families this worker consumes (default all).
    pub families: Vec<JobType>,
    pub scheduling: Scheduling,
}

/// Zero would mean no request, window or slot at all: refused rather than hanging.
fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    key: &str,
    raw: &str,
) -> Result<T, Invalid> {
    let n: T = setting::whole(key, raw, "a positive whole number")?;
    if n < T::from(1) {
        return Err(Invalid::new(key, raw, "a positive whole number"));
    }
    Ok(n)
}

impl IngestSettings {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let secs = |key: &str, default: u64, min: u64| {
            s.parsed(key, Duration::from_secs(default), |k, v| {
                setting::seconds_in(k, v, min, u64::MAX)
            })
        };
        let mut m = MessageOptions::default();
        m.windows.overlap = secs("INGEST_OVERLAP_SECS", 180, 0)?;
        m.windows.lag = secs("INGEST_LAG_SECS", 45, 0)?;
        m.windows.max_width = Some(secs("INGEST_WINDOW_MAX_SECS", 6 * 3600, 1)?);
        m.details = s.parsed("INGEST_DETAILS", DetailsPolicy::Problems, |k, v| {
            Ok(match setting::one_of(k, v, &["problems", "all"])? {
                "all" => DetailsPolicy::All,
                _ => DetailsPolicy::Problems,
            })
        })?;
        m.details_concurrency = s.parsed(
            "INGEST_DETAILS_CONCURRENCY",
            m.details_concurrency,
            positive,
        )?;
        let client = ClientOptions {
            max_concurrent_requests: s.parsed(
                "CPI_MAX_CONCURRENCY",
                ClientOptions::default().max_concurrent_requests,
                positive,
            )?,
            sap_rate_limits: s.parsed("CPI_RATE_LIMITS", true, |k, v| {
                Ok(setting::one_of(k, v, &["sap", "off"])? == "sap")
            })?,
            outbound: cpi::OutboundPolicy {
                deny_private: s.outbound_deny_private,
            },
        };
        let scheduling = Scheduling {
            concurrency: s.parsed("INGEST_CONCURRENCY", DEFAULT_CONCURRENCY, |k, v| {
                setting::whole_in(k, v, 1, 1000)
            })?,
            per_tenant: s.parsed(
                "INGEST_TENANT_CONCURRENCY",
                DEFAULT_TENANT_CONCURRENCY,
                positive,
            )?,
        };
        Ok(Self {
            messages: m,
            client,
            families: families(s.raw("INGEST_FAMILIES").as_deref())?,
            scheduling,
        })
    }

    /// The resolved settings for `integramon config`.
    pub fn entries(&self) -> Vec<Entry> {
        let m = &self.messages;
        vec![
            Entry::secs("INGEST_OVERLAP_SECS", m.windows.overlap),
            Entry::secs("INGEST_LAG_SECS", m.windows.lag),
            Entry::secs(
                "INGEST_WINDOW_MAX_SECS",
                m.windows.max_width.unwrap_or_default(),
            ),
            Entry::new(
                "INGEST_DETAILS",
                match m.details {
                    DetailsPolicy::Problems => "problems",
                    DetailsPolicy::All => "all",
                },
            ),
            Entry::new("INGEST_DETAILS_CONCURRENCY", m.details_concurrency),
            Entry::new("CPI_MAX_CONCURRENCY", self.client.max_concurrent_requests),
            Entry::new(
                "CPI_RATE_LIMITS",
                if self.client.sap_rate_limits {
                    "sap"
                } else {
                    "off"
                },
            ),
            Entry::new(
                "INGEST_FAMILIES",
                self.families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Entry::new("INGEST_CONCURRENCY", self.scheduling.concurrency),
            Entry::new("INGEST_TENANT_CONCURRENCY", self.scheduling.per_tenant),
        ]
    }
}

/// The families this worker consumes: `INGEST_FAMILIES` (comma-separated job types), or all.
fn families(raw: Option<&str>) -> anyhow::Result<Vec<JobType>> {
    match raw {
        None => Ok(jobs::FAMILIES.to_vec()),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match JobType::parse(s) {
                t if jobs::FAMILIES.contains(&t) => Ok(t),
                _ => anyhow::bail!(
                    "INGEST_FAMILIES names {s:?}; the ingest worker runs: {}",
                    jobs::FAMILIES.map(|t| t.as_str().to_string()).join(", ")
                ),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<IngestSettings> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestSettings::from_settings(&Settings::from_env(env).unwrap())
    }

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        let s = load(&[]).unwrap();
        assert_eq!(s.messages.windows.lag, Duration::from_secs(45));
        assert_eq!(s.scheduling.concurrency, DEFAULT_CONCURRENCY);
        assert!(s.client.sap_rate_limits);
        assert_eq!(s.families, jobs::FAMILIES.to_vec());
        let s = load(&[("CPI_RATE_LIMITS", "off"), ("INGEST_DETAILS", "all")]).unwrap();
        assert!(!s.client.sap_rate_limits);
        assert_eq!(s.messages.details, DetailsPolicy::All);
        for (k, v) in [
            ("CPI_MAX_CONCURRENCY", "0"),
            ("INGEST_LAG_SECS", "soon"),
            ("INGEST_WINDOW_MAX_SECS", "0"),
            ("INGEST_DETAILS", "some"),
            ("CPI_RATE_LIMITS", "fast"),
            ("INGEST_CONCURRENCY", "1001"),
            ("INGEST_TENANT_CONCURRENCY", "0"),
            ("INGEST_FAMILIES", "archive"),
        ] {
            let e = load(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{k}={v}: {e}");
        }
    }
}
