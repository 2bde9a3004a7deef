//! Payload and attachment downloads per the tenant's strategy (none / failed only / all) and size
//! cap. Each outcome is recorded: downloaded (with its hash), too large (with its size), or the
//! error that will not pass (404 after CPI's 30 days, 403 without the payload role).

use chrono::Utc;
use cpi::{Collected, CpiClient, CpiError};
use domain::tenant::{PayloadStrategy, Tenant};
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::Db;
use store::repo::payloads::{self, Download, PendingDownload};

use crate::error::JobError;

/// Downloads per job run, so a long backlog is worked off in bounded steps.
const BATCH: u64 = 200;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PayloadReport {
    pub downloaded: u64,
    pub too_large: u64,
    pub failed: u64,
    pub skipped: u64,
    pub bytes: u64,
}

pub async fn sync(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    only_message: Option<&str>,
) -> Result<PayloadReport, JobError> {
    let collection = &tenant.settings.collection;
    let mut report = PayloadReport::default();
    // An explicit request for one message downloads it whatever the strategy says.
    let strategy = if only_message.is_some() {
        PayloadStrategy::All
    } else {
        collection.payload_strategy
    };
    report.skipped += payloads::skip_unwanted_payloads(db, tenant.id, strategy).await?;
    let cap = collection.payload_max_bytes;
    let pending = payloads::pending_payloads(db, tenant.id, strategy, BATCH).await?;
    for p in filter(pending, only_message) {
        crate::error::stop_point()?;
        let outcome = classify(client.collect_message_store_entry(&p.cpi_id, cap).await)?;
        count(&mut report, &outcome);
        payloads::save_payload(db, p.id, &outcome, Utc::now()).await?;
    }
    if collection.attachments || only_message.is_some() {
        report.skipped += payloads::skip_unwanted_attachments(db, tenant.id, strategy).await?;
        let pending = payloads::pending_attachments(db, tenant.id, strategy, BATCH).await?;
        for p in filter(pending, only_message) {
            crate::error::stop_point()?;
            let outcome = match p.size {
                Some(size) if size as u64 > cap => Download::TooLarge { size },
                _ => classify(client.collect_mpl_attachment(&p.cpi_id, cap).await)?,
            };
            count(&mut report, &outcome);
            payloads::save_attachment(db, p.id, &outcome, Utc::now()).await?;
        }
    }
    Ok(report)
}

fn filter(list: Vec<PendingDownload>, only: Option<&str>) -> impl Iterator<Item = PendingDownload> {
    list.into_iter()
        .filter(move |p| only.is_none_or(|g| p.message_guid == g))
}

/// A retryable failure stops the run (it is tried again later); anything else is recorded.
fn classify(result: Result<Collected, CpiError>) -> Result<Download, JobError> {
    match result {
        Ok(Collected::Complete { data, content_type }) => Ok(Download::Downloaded {
            sha256: hex::encode(Sha256::digest(&data)),
            content: data.to_vec(),
            content_type,
        }),
        Ok(Collected::TooLarge {
            limit,
            content_length,
        }) => Ok(Download::TooLarge {
            size: content_length.unwrap_or(limit + 1) as i64,
        }),
        Err(e) if e.is_retryable() => Err(JobError::from(e)),
        Err(e) => Ok(Download::Error {
            message: e.to_string(),
        }),
    }
}

fn count(report: &mut PayloadReport, outcome: &Download) {
    match outcome {
        Download::Downloaded { content, .. } => {
            report.downloaded += 1;
            report.bytes += content.len() as u64;
        }
        Download::TooLarge { .. } => report.too_large += 1,
        Download::Error { .. } => report.failed += 1,
    }
}
