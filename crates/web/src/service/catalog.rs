//! Packages, runtime artifacts and the keystore view, for `api::catalog` and `pages::catalog`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use domain::artifact::{DesignArtifactKind, Package, RuntimeArtifact};
use domain::keystore::KeystoreEntry;
use serde::{Deserialize, Serialize};
use store::repo::artifacts::{self, StoredDesignArtifact};
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct PackageOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub package: Package,
    /// Design-time artifacts of the package.
    pub artifacts: usize,
}

/// The deployed side of an artifact.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct RuntimeOut {
    pub version: Option<String>,
    /// `INTEGRATION_FLOW`, …
    pub artifact_type: Option<String>,
    /// `STARTED`, `STARTING`, `STOPPING`, `ERROR`, or what CPI says.
    pub status: Option<String>,
    pub deployed_by: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    /// CPI's error information (JSON text) when the status is an error.
    pub error_text: Option<String>,
}

/// An artifact with its design-time and runtime sides, joined by artifact id. Either side may
/// be missing: not deployed, or deployed without a design-time artifact the collector knows.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct ArtifactOut {
    pub artifact_id: String,
    pub name: Option<String>,
    /// The design-time kind (`IntegrationFlow`, `ValueMapping`, …); absent when only deployed.
    pub kind: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    /// The design-time version.
    pub version: Option<String>,
    pub modified_by: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the content the deep sync downloaded last.
    pub content_hash: Option<String>,
    pub content_size: Option<i64>,
    pub hashed_at: Option<DateTime<Utc>>,
    pub runtime: Option<RuntimeOut>,
    /// The runtime status is `ERROR`.
    pub in_error: bool,
    /// Deployed, with another version than the design-time one.
    pub version_differs: bool,
}

impl ArtifactOut {
    /// Whether `q` (lower case) is part of its name, id, package id or package name.
    pub fn matches(&self, q: &str) -> bool {
        let has = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(q));
        q.is_empty()
            || has(Some(&self.artifact_id))
            || has(self.name.as_deref())
            || has(self.package_id.as_deref())
            || has(self.package_name.as_deref())
    }
}

fn runtime_out(r: RuntimeArtifact) -> RuntimeOut {
    RuntimeOut {
        version: r.version,
        artifact_type: r.artifact_type,
        status: r.status.as_ref().map(|s| s.as_str().to_string()),
        deployed_by: r.deployed_by,
        deployed_at: r.deployed_at,
        error_text: r.error_text,
    }
}

/// Put design-time and runtime artifacts side by side. A runtime artifact joins the first
/// design-time artifact with its id (iFlows sort first); runtime artifacts without one are
/// listed on their own. Sorted by name (case-insensitive), then id.
pub fn join_artifacts(
    design: Vec<StoredDesignArtifact>,
    runtime: Vec<RuntimeArtifact>,
    packages: &[Package],
) -> Vec<ArtifactOut> {
    let package_names: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p.package_id.as_str(), p.name.as_deref()?)))
        .collect();
    let mut deployed: HashMap<String, RuntimeArtifact> = runtime
        .into_iter()
        .map(|r| (r.artifact_id.clone(), r))
        .collect();
    let mut out = Vec::with_capacity(design.len() + deployed.len());
    let mut design = design;
    design.sort_by(|a, b| {
        let iflow =
            |d: &StoredDesignArtifact| d.artifact.kind != DesignArtifactKind::IntegrationFlow;
        (iflow(a), &a.artifact.artifact_id).cmp(&(iflow(b), &b.artifact.artifact_id))
    });
    for d in design {
        let a = d.artifact;
        let rt = deployed.remove(&a.artifact_id);
        let version_differs = rt
            .as_ref()
            .is_some_and(|r| r.version.is_some() && a.version.is_some() && r.version != a.version);
        let in_error = rt
            .as_ref()
            .is_some_and(|r| r.status.as_ref().is_some_and(|s| s.is_error()));
        out.push(ArtifactOut {
            package_name: a
                .package_id
                .as_deref()
                .and_then(|p| package_names.get(p))
                .map(|n| n.to_string()),
            name: a.name.or_else(|| rt.as_ref().and_then(|r| r.name.clone())),
            artifact_id: a.artifact_id,
            kind: Some(a.kind.as_str().to_string()),
            package_id: a.package_id,
            version: a.version,
            modified_by: a.modified_by,
            modified_at: a.modified_at,
            content_hash: d.content_hash,
            content_size: d.content_size,
            hashed_at: d.hashed_at,
            runtime: rt.map(runtime_out),
            in_error,
            version_differs,
        });
    }
    for (_, r) in deployed {
        out.push(ArtifactOut {
            artifact_id: r.artifact_id.clone(),
            name: r.name.clone(),
            kind: None,
            package_id: None,
            package_name: None,
            version: None,
            modified_by: None,
            modified_at: None,
            content_hash: None,
            content_size: None,
            hashed_at: None,
            in_error: r.status.as_ref().is_some_and(|s| s.is_error()),
            version_differs: false,
            runtime: Some(runtime_out(r)),
        });
    }
    out.sort_by(|a, b| {
        let key = |x: &ArtifactOut| {
            (
                x.name.as_deref().unwrap_or(&x.artifact_id).to_lowercase(),
                x.artifact_id.clone(),
                x.kind.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// Stable: with `errors_first`, artifacts in error move to the top, keeping their order;
/// `only_errors` keeps just those.
pub fn filter_artifacts(
    list: Vec<ArtifactOut>,
    q: &str,
    errors_first: bool,
    only_errors: bool,
) -> Vec<ArtifactOut> {
    let q = q.trim().to_lowercase();
    let mut list: Vec<ArtifactOut> = list
        .into_iter()
        .filter(|a| a.matches(&q) && (!only_errors || a.in_error))
        .collect();
    if errors_first {
        list.sort_by_key(|a| !a.in_error);
    }
    list
}

/// A tenant's artifacts, joined.
pub async fn load_artifacts(
    state: &AppState,
    tenant_id: i64,
) -> Result<Vec<ArtifactOut>, AppError> {
    let (design, runtime, packages) = futures::try_join!(
        artifacts::list_design_artifacts(&state.db, tenant_id),
        artifacts::list_runtime_artifacts(&state.db, tenant_id),
        artifacts::list_packages(&state.db, tenant_id),
    )?;
    Ok(join_artifacts(design, runtime, &packages))
}

/// How close a keystore entry is to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expiry {
    /// Already ended.
    Expired,
    /// Ends within 30 days.
    Critical,
    /// Ends within 90 days.
    Warning,
    Ok,
    /// No end date.
    None,
}

impl Expiry {
    pub const CRITICAL_DAYS: i64 = 30;
    pub const WARNING_DAYS: i64 = 90;

    pub fn classify(not_after: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match not_after {
            None => Self::None,
            Some(end) if end <= now => Self::Expired,
            Some(end) if end - now < Duration::days(Self::CRITICAL_DAYS) => Self::Critical,
            Some(end) if end - now < Duration::days(Self::WARNING_DAYS) => Self::Warning,
            Some(_) => Self::Ok,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Ok => "ok",
            Self::None => "none",
        }
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct KeystoreOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub entry: KeystoreEntry,
    /// Whole days until `valid_not_after` (negative once expired).
    pub days_left: Option<i64>,
    pub expiry: Expiry,
}

/// Entries with their expiry, soonest end first; entries without an end last, by alias. With
/// `expiring`, only those ending within that many days (expired ones included).
pub fn keystore_view(
    entries: Vec<KeystoreEntry>,
    now: DateTime<Utc>,
    expiring: Option<u32>,
) -> Vec<KeystoreOut> {
    let mut out: Vec<KeystoreOut> = entries
        .into_iter()
        .filter(|e| expiring.is_none_or(|d| e.expires_within(d, now)))
        .map(|e| KeystoreOut {
            days_left: e.days_left(now),
            expiry: Expiry::classify(e.valid_not_after, now),
            entry: e,
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |k: &KeystoreOut| {
            (
                k.entry.valid_not_after.is_none(),
                k.entry.valid_not_after,
                k.entry.alias.to_lowercase(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// `expiring=` as days (0–3650).
pub fn parse_expiring(raw: Option<&str>) -> Result<Option<u32>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<u32>() {
            Ok(d) if d <= 3650 => Ok(Some(d)),
            _ => Err(AppError::invalid(
                "expiring",
                "must be a number of days between 0 and 3650",
            )),
        },
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionOut {
    pub version: String,
    pub content_hash: String,
    pub content_size: Option<i64>,
    /// The hash the design-time artifact carries now.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VersionsOut {
    pub artifact_id: String,
    pub kind: String,
    /// Every content seen, oldest first.
    pub versions: Vec<VersionOut>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct VersionsQuery {
    /// `IntegrationFlow`, `ValueMapping`, `MessageMapping`, `ScriptCollection`, …; default: the
    /// kind of the design-time artifact with this id, else `IntegrationFlow`.
    pub kind: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct KeystoreQuery {
    /// Only entries ending within this many days (expired ones included), e.g. `30`.
    pub expiring: Option<String>,
}

/// A tenant's integration packages, with how many design-time artifacts each has.
pub async fn packages(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<Vec<PackageOut>, AppError> {
    let t = access::tenant(state, p, id).await?;
    let (list, design) = futures::try_join!(
        artifacts::list_packages(&state.db, t.id),
        artifacts::list_design_artifacts(&state.db, t.id),
    )?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in &design {
        if let Some(p) = d.artifact.package_id.as_deref() {
            *counts.entry(p).or_default() += 1;
        }
    }
    let out: Vec<PackageOut> = list
        .iter()
        .map(|p| PackageOut {
            artifacts: counts.get(p.package_id.as_str()).copied().unwrap_or(0),
            package: p.clone(),
        })
        .collect();
    Ok(out)
}

/// Every content hash the deep sync saw for an artifact, oldest first; `kind` picks among
/// artifacts sharing the id (default: the design-time one's, else an iFlow).
pub async fn versions(
    state: &AppState,
    p: &Principal,
    id: i64,
    artifact_id: String,
    kind: Option<&str>,
) -> Result<VersionsOut, AppError> {
    let t = access::tenant(state, p, id).await?;
    let design = artifacts::list_design_artifacts(&state.db, t.id).await?;
    let kind = match kind.map(str::trim) {
        Some("") => return Err(AppError::invalid("kind", "must not be empty")),
        Some(k) if k.len() > 100 || k.chars().any(char::is_control) => {
            return Err(AppError::invalid("kind", "is not an artifact kind"));
        }
        Some(k) => DesignArtifactKind::parse(k),
        None => design
            .iter()
            .find(|d| d.artifact.artifact_id == artifact_id)
            .map_or(DesignArtifactKind::IntegrationFlow, |d| {
                d.artifact.kind.clone()
            }),
    };
    let current = design
        .iter()
        .find(|d| d.artifact.artifact_id == artifact_id && d.artifact.kind == kind)
        .and_then(|d| d.content_hash.clone());
    let list = artifacts::artifact_versions(&state.db, t.id, &kind, &artifact_id).await?;
    let known = current.is_some()
        || !list.is_empty()
        || artifacts::list_runtime_artifacts(&state.db, t.id)
            .await?
            .iter()
            .any(|r| r.artifact_id == artifact_id);
    if !known {
        return Err(AppError::not_found(format!("artifact {artifact_id}")));
    }
    let mut seen = HashSet::new();
    let versions = list
        .into_iter()
        .filter(|v| seen.insert((v.version.clone(), v.content_hash.clone())))
        .map(|v| VersionOut {
            current: current.as_deref() == Some(v.content_hash.as_str()),
            version: v.version,
            content_hash: v.content_hash,
            content_size: v.content_size,
        })
        .collect();
    Ok(VersionsOut {
        artifact_id,
        kind: kind.as_str().to_string(),
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::artifact::{DesignArtifact, RuntimeStatus};

    fn design(id: &str, kind: DesignArtifactKind, version: &str) -> StoredDesignArtifact {
        let mut a = DesignArtifact::new(id, kind);
        a.version = Some(version.into());
        a.package_id = Some("pkg".into());
        a.name = Some(format!("Name {id}"));
        StoredDesignArtifact {
            artifact: a,
            content_hash: Some("abc".into()),
            content_size: Some(10),
            hashed_at: None,
        }
    }

    fn deployed(id: &str, version: &str, status: RuntimeStatus) -> RuntimeArtifact {
        let mut r = RuntimeArtifact::new(id);
        r.version = Some(version.into());
        r.status = Some(status);
        r
    }

    #[test]
    fn design_and_runtime_join_by_id() {
        let mut pkg = Package::new("pkg");
        pkg.name = Some("Orders".into());
        let list = join_artifacts(
            vec![
                design("b", DesignArtifactKind::ValueMapping, "1.0.0"),
                design("b", DesignArtifactKind::IntegrationFlow, "1.0.1"),
                design("a", DesignArtifactKind::IntegrationFlow, "2.0.0"),
            ],
            vec![
                deployed("b", "1.0.0", RuntimeStatus::Error),
                deployed("z", "3", RuntimeStatus::Started),
            ],
            &[pkg],
        );
        assert_eq!(list.len(), 4);
        let b_flow = list
            .iter()
            .find(|a| a.artifact_id == "b" && a.kind.as_deref() == Some("IntegrationFlow"))
            .unwrap();
        let rt = b_flow
            .runtime
            .as_ref()
            .expect("the iFlow gets the runtime side");
        assert_eq!(rt.status.as_deref(), Some("ERROR"));
        assert!(b_flow.in_error);
        assert!(b_flow.version_differs, "1.0.1 designed, 1.0.0 deployed");
        assert_eq!(b_flow.package_name.as_deref(), Some("Orders"));
        let b_map = list
            .iter()
            .find(|a| a.artifact_id == "b" && a.kind.as_deref() == Some("ValueMapping"))
            .unwrap();
        assert!(b_map.runtime.is_none(), "joined once only");
        let a = list.iter().find(|a| a.artifact_id == "a").unwrap();
        assert!(a.runtime.is_none() && !a.in_error && !a.version_differs);
        let z = list.iter().find(|a| a.artifact_id == "z").unwrap();
        assert!(z.kind.is_none(), "deployed only");
        assert_eq!(z.runtime.as_ref().unwrap().version.as_deref(), Some("3"));

        let filtered = filter_artifacts(list.clone(), "ORDERS", true, false);
        assert_eq!(filtered.len(), 3, "the package name matches");
        assert_eq!(filtered[0].artifact_id, "b", "errors first");
        assert!(filtered[0].in_error);
        assert_eq!(filter_artifacts(list.clone(), " z ", false, false).len(), 1);
        let only = filter_artifacts(list.clone(), "", false, true);
        assert!(
            !only.is_empty() && only.iter().all(|a| a.in_error),
            "only in error"
        );
        assert_eq!(filter_artifacts(list, "", false, false).len(), 4);
    }

    #[test]
    fn expiry_classes_and_order() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let at = |d: i64| Some(now + Duration::days(d));
        assert_eq!(Expiry::classify(None, now), Expiry::None);
        assert_eq!(Expiry::classify(at(-1), now), Expiry::Expired);
        assert_eq!(Expiry::classify(Some(now), now), Expiry::Expired);
        assert_eq!(Expiry::classify(at(29), now), Expiry::Critical);
        assert_eq!(Expiry::classify(at(30), now), Expiry::Warning);
        assert_eq!(Expiry::classify(at(89), now), Expiry::Warning);
        assert_eq!(Expiry::classify(at(90), now), Expiry::Ok);

        let entry = |alias: &str, d: Option<i64>| {
            let mut e = KeystoreEntry::new(alias, "00");
            e.valid_not_after = d.and_then(at);
            e
        };
        let entries = vec![
            entry("none", None),
            entry("late", Some(400)),
            entry("soon", Some(10)),
            entry("gone", Some(-5)),
            entry("month", Some(30)),
        ];
        let all = keystore_view(entries.clone(), now, None);
        let aliases: Vec<&str> = all.iter().map(|k| k.entry.alias.as_str()).collect();
        assert_eq!(aliases, ["gone", "soon", "month", "late", "none"]);
        assert_eq!(all[1].days_left, Some(10));
        let within: Vec<String> = keystore_view(entries, now, Some(30))
            .into_iter()
            .map(|k| k.entry.alias)
            .collect();
        assert_eq!(
            within,
            ["gone", "soon", "month"],
            "the overview's 30-day rule"
        );
        assert_eq!(parse_expiring(Some("30")).unwrap(), Some(30));
        assert_eq!(parse_expiring(Some("")).unwrap(), None);
        assert!(parse_expiring(Some("-1")).is_err());
        assert!(parse_expiring(Some("abc")).is_err());
    }
}
