//! The details of one message: custom headers, runs and their steps, error text, attachment
//! metadata, adapter attributes and payload entries, written together in one transaction.

use chrono::Utc;
use cpi::{CpiClient, CpiError};
use domain::MessageStatus;
use domain::message::{ErrorInfo, MessageDetails};
use futures::StreamExt;
use store::Db;
use store::repo::messages;

use crate::error::JobError;
use crate::map;

/// Error texts are Java stack traces at worst; more than this is cut (and says so).
const ERROR_TEXT_CAP: u64 = 256 * 1024;

/// Fetch everything about one message from the tenant.
pub async fn fetch(
    client: &CpiClient,
    guid: &str,
    status: &MessageStatus,
) -> Result<MessageDetails, CpiError> {
    let headers = client.mpl_custom_header_properties(guid).await?;
    let runs = client.mpl_runs(guid).await?;
    let mut full_runs = Vec::with_capacity(runs.len());
    for run in &runs {
        let steps = client.mpl_run_steps(&run.id).await?;
        full_runs.push(map::run(run, &steps));
    }
    // SAP: error queries on messages without errors are pointless load.
    let error = if status.wants_details() {
        let info = client.mpl_error_information(guid).await?;
        let text = client.mpl_error_text(guid, ERROR_TEXT_CAP).await?;
        match (info, text) {
            (None, None) => None,
            (info, text) => Some(ErrorInfo {
                error_type: info.as_ref().and_then(|i| i.mime_type.clone()),
                last_error_model_step_id: info.and_then(|i| i.last_error_model_step_id),
                text: text.map(|t| {
                    if t.truncated {
                        format!("{}\n[… cut at {ERROR_TEXT_CAP} bytes]", t.text)
                    } else {
                        t.text
                    }
                }),
            }),
        }
    } else {
        None
    };
    let attachments = client.mpl_attachments(guid).await?;
    let adapter = client.mpl_adapter_attributes(guid).await?;
    let entries = client.mpl_message_store_entries(guid).await?;
    Ok(MessageDetails {
        status: status.clone(),
        headers: Some(map::headers(&headers)),
        runs: Some(full_runs),
        error,
        attachments: Some(attachments.iter().map(map::attachment).collect()),
        adapter_attributes: Some(adapter.iter().filter_map(map::adapter_attribute).collect()),
        payloads: Some(entries.iter().map(map::payload_entry).collect()),
    })
}

/// Fetch and store the details of many messages, `concurrency` at a time. A message the
/// tenant no longer knows (or whose details the user may not read) is counted as failed and
/// skipped; any other tenant or database error stops the batch (a retry of the job fetches the
/// details of these messages, see `messages::sync_window`).
pub async fn fetch_many(
    db: &Db,
    client: &CpiClient,
    wanted: &[(i64, String, MessageStatus)],
    concurrency: usize,
) -> Result<(u64, u64), JobError> {
    // Futures of a named async fn pushed into FuturesUnordered by hand: a closure-built stream
    // here makes the compiler lose the Send proof of the whole job.
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut next = wanted.iter();
    let (mut ok, mut failed) = (0, 0);
    loop {
        while in_flight.len() < concurrency.max(1) {
            match next.next() {
                Some(w) => in_flight.push(fetch_and_store(db, client, w)),
                None => break,
            }
        }
        match in_flight.next().await {
            Some(result) => {
                if result? {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            None => break,
        }
    }
    Ok((ok, failed))
}

async fn fetch_and_store(
    db: &Db,
    client: &CpiClient,
    (id, guid, status): &(i64, String, MessageStatus),
) -> Result<bool, JobError> {
    match fetch(client, guid, status).await {
        Ok(details) => {
            messages::write_details(db, *id, &details, Utc::now()).await?;
            Ok(true)
        }
        // Gone from the tenant (404), or a part the user may not read (403): skip the message.
        Err(e @ (CpiError::NotFound { .. } | CpiError::Forbidden { .. })) => {
            tracing::warn!(message = %guid, "details not available: {e}");
            Ok(false)
        }
        // Anything else (throttling, an unusable answer, …) fails the job like a list page
        // would, instead of leaving the message without details for good.
        Err(e) => Err(JobError::from(e)),
    }
}

/// The `message_details` job: one message, by GUID (also for messages not yet stored: the
/// message itself is read and upserted first).
pub async fn sync_one(
    db: &Db,
    client: &CpiClient,
    tenant_id: i64,
    guid: &str,
) -> Result<MessageStatus, JobError> {
    let record = client.mpl(guid).await?;
    let message = map::message(record);
    let outcome = messages::upsert_messages(db, tenant_id, std::slice::from_ref(&message)).await?;
    let id = outcome
        .rows
        .first()
        .map(|r| r.id)
        .ok_or_else(|| JobError::Retry(format!("message {guid} was not stored")))?;
    let details = fetch(client, guid, &message.status).await?;
    messages::write_details(db, id, &details, Utc::now()).await?;
    Ok(message.status)
}
