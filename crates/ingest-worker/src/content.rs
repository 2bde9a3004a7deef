//! Packages, design-time and runtime artifacts, the nightly deep sync (content hashes per
//! version), and keystore entries.

use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::Utc;
use cpi::{CpiClient, DownloadOutcome};
use domain::artifact::{ArtifactVersion, DesignArtifactKind, RuntimeStatus};
use domain::tenant::Tenant;
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::Db;
use store::repo::artifacts::{self, ArtifactScope};
use tokio::io::AsyncWrite;

use crate::error::JobError;
use crate::map;

/// Runtime error texts are small JSON documents; more than this is cut.
const RUNTIME_ERROR_CAP: u64 = 64 * 1024;
/// Artifact archives larger than this are not hashed.
const ARTIFACT_CAP: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContentReport {
    pub packages: u64,
    pub design_artifacts: u64,
    pub runtime_artifacts: u64,
    pub runtime_errors: u64,
    pub removed: u64,
}

pub async fn sync_packages(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
) -> Result<ContentReport, JobError> {
    let now = Utc::now();
    let mut report = ContentReport::default();
    let packages = client.integration_packages().await?;
    let list: Vec<_> = packages.iter().map(map::package).collect();
    report.removed += artifacts::replace_packages(db, tenant.id, &list, now)
        .await?
        .removed;
    report.packages = list.len() as u64;
    for p in &packages {
        crate::error::stop_point()?;
        let flows = client
            .package_integration_designtime_artifacts(&p.id)
            .await?;
        let maps = client
            .package_value_mapping_designtime_artifacts(&p.id)
            .await?;
        let mut list: Vec<_> = flows
            .iter()
            .map(|a| map::integration_flow(a, &p.id))
            .collect();
        list.extend(maps.iter().map(|a| map::value_mapping(a, &p.id)));
        report.design_artifacts += list.len() as u64;
        report.removed += artifacts::replace_design_artifacts(
            db,
            tenant.id,
            ArtifactScope::Package(&p.id),
            &list,
            now,
        )
        .await?
        .removed;
    }
    let runtime = client.runtime_artifacts().await?;
    let mut list = Vec::with_capacity(runtime.len());
    for a in &runtime {
        crate::error::stop_point()?;
        let status = a.status.clone();
        let error = if status == Some(RuntimeStatus::Error) {
            report.runtime_errors += 1;
            match client
                .runtime_artifact_error(&a.id, RUNTIME_ERROR_CAP)
                .await
            {
                Ok(info) => info.map(|i| i.message.unwrap_or(i.raw)),
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => Some(format!("(error details unavailable: {e})")),
            }
        } else {
            None
        };
        list.push(map::runtime_artifact(a, error));
    }
    report.runtime_artifacts = list.len() as u64;
    report.removed += artifacts::replace_runtime_artifacts(db, tenant.id, &list, now)
        .await?
        .removed;
    Ok(report)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeepSyncReport {
    pub hashed: u64,
    pub changed: u64,
    pub too_large: u64,
    pub failed: u64,
}

/// Download every design-time artifact (or one package's) and record its content hash per
/// version, so changes between versions (and edits without a version bump) show up.
pub async fn deep_sync(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    package: Option<&str>,
) -> Result<DeepSyncReport, JobError> {
    let mut report = DeepSyncReport::default();
    for stored in artifacts::list_design_artifacts(db, tenant.id).await? {
        crate::error::stop_point()?;
        let a = &stored.artifact;
        if package.is_some_and(|p| a.package_id.as_deref() != Some(p)) {
            continue;
        }
        let version = a.version.clone().unwrap_or_else(|| "active".to_string());
        let mut hasher = HashingWriter::default();
        let outcome = match a.kind {
            DesignArtifactKind::IntegrationFlow => {
                client
                    .download_integration_designtime_artifact(
                        &a.artifact_id,
                        &version,
                        &mut hasher,
                        ARTIFACT_CAP,
                    )
                    .await
            }
            DesignArtifactKind::ValueMapping => {
                client
                    .download_value_mapping_designtime_artifact(
                        &a.artifact_id,
                        &version,
                        &mut hasher,
                        ARTIFACT_CAP,
                    )
                    .await
            }
            _ => continue,
        };
        match outcome {
            Ok(DownloadOutcome::Complete { .. }) => {
                let v = ArtifactVersion {
                    artifact_id: a.artifact_id.clone(),
                    kind: a.kind.clone(),
                    version,
                    content_hash: hasher.finish(),
                    content_size: Some(hasher.len as i64),
                };
                let out = artifacts::record_artifact_version(db, tenant.id, &v, Utc::now()).await?;
                report.hashed += 1;
                if out.changed(&v.content_hash) {
                    report.changed += 1;
                }
            }
            Ok(DownloadOutcome::TooLarge { .. }) => report.too_large += 1,
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(artifact = %a.artifact_id, "not hashed: {e}");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KeystoreReport {
    pub entries: u64,
    pub expiring_30_days: u64,
    pub removed: u64,
}

pub async fn sync_keystore(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
) -> Result<KeystoreReport, JobError> {
    let now = Utc::now();
    let list: Vec<_> = client
        .keystore_entries(None)
        .await?
        .iter()
        .filter_map(map::keystore_entry)
        .collect();
    let out = artifacts::replace_keystore(db, tenant.id, &list, now).await?;
    Ok(KeystoreReport {
        entries: list.len() as u64,
        expiring_30_days: list.iter().filter(|e| e.expires_within(30, now)).count() as u64,
        removed: out.removed,
    })
}

/// Hashes what is written to it, keeping nothing: artifact archives are never held in memory.
#[derive(Default)]
struct HashingWriter {
    hash: Sha256,
    len: u64,
}

impl HashingWriter {
    fn finish(&mut self) -> String {
        hex::encode(std::mem::take(&mut self.hash).finalize())
    }
}

impl AsyncWrite for HashingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
