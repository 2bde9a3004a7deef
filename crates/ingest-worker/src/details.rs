//! The details of one message: custom headers, runs and their steps, error text, attachment
//! metadata, adapter attributes and payload entries, written together in one transaction.
//!
//! Few calls, at once: the parts `$expand` can bring (headers, adapter attributes, attachment
//! list, runs) come for 20 messages in one call ([`cpi::CpiClient::mpl_parts_by_guid`]); what
//! is left (each run's steps, the error information and text, the payload entries) is asked
//! for concurrently, so a message costs one round trip after that call instead of eight in a
//! row. A part the expansion did not bring (the tenant refused `$expand`, left it deferred, or
//! the call failed) is read with its own call, as before.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use cpi::{CpiClient, CpiError, MplParts};
use domain::MessageStatus;
use domain::message::{ErrorInfo, MessageDetails};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use store::Db;
use store::repo::{detail_failures, messages};

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
    let parts = client
        .mpl_parts_by_guid(&[guid])
        .await?
        .and_then(|list| list.into_iter().find(|p| p.message_guid == guid));
    fetch_with(client, guid, status, parts).await
}

/// Fetch one message's details, taking what `parts` brought and asking for the rest, all at
/// once (the tenant's concurrency cap and rate limits still apply to every call).
pub async fn fetch_with(
    client: &CpiClient,
    guid: &str,
    status: &MessageStatus,
    parts: Option<MplParts>,
) -> Result<MessageDetails, CpiError> {
    let (headers, adapter, attachments, runs) = match parts {
        Some(p) => (
            p.custom_header_properties,
            p.adapter_attributes,
            p.attachments,
            p.runs,
        ),
        None => (None, None, None, None),
    };
    let headers = async {
        match headers {
            Some(h) => Ok(h),
            None => client.mpl_custom_header_properties(guid).await,
        }
    };
    let adapter = async {
        match adapter {
            Some(a) => Ok(a),
            None => client.mpl_adapter_attributes(guid).await,
        }
    };
    let attachments = async {
        match attachments {
            Some(a) => Ok(a),
            None => client.mpl_attachments(guid).await,
        }
    };
    let runs = async {
        let runs = match runs {
            Some(r) => r,
            None => client.mpl_runs(guid).await?,
        };
        // No runs listed: no step calls.
        let steps =
            futures::future::try_join_all(runs.iter().map(|r| client.mpl_run_steps(&r.id))).await?;
        Ok::<_, CpiError>(
            runs.iter()
                .zip(&steps)
                .map(|(run, steps)| map::run(run, steps))
                .collect::<Vec<_>>(),
        )
    };
    // SAP: error queries on messages without errors are pointless load.
    let error = async {
        if !status.wants_details() {
            return Ok(None);
        }
        let (info, text) = futures::try_join!(
            client.mpl_error_information(guid),
            client.mpl_error_text(guid, ERROR_TEXT_CAP)
        )?;
        Ok::<_, CpiError>(match (info, text) {
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
        })
    };
    let entries = client.mpl_message_store_entries(guid);
    let (headers, runs, error, attachments, adapter, entries) =
        futures::try_join!(headers, runs, error, attachments, adapter, entries)?;
    Ok(MessageDetails {
        status: status.clone(),
        headers: Some(map::headers(&headers)),
        runs: Some(runs),
        error,
        attachments: Some(attachments.iter().map(map::attachment).collect()),
        adapter_attributes: Some(adapter.iter().filter_map(map::adapter_attribute).collect()),
        payloads: Some(entries.iter().map(map::payload_entry).collect()),
    })
}

/// The expanded parts of one call's worth of messages, by GUID, shared by those messages'
/// fetches: the first to need it sends the call. `None`: every message reads its own parts.
type Prefetch<'a> = Shared<BoxFuture<'a, Option<Arc<HashMap<String, MplParts>>>>>;

fn prefetch<'a>(client: &'a CpiClient, chunk: &'a [(i64, String, MessageStatus)]) -> Prefetch<'a> {
    async move {
        let guids: Vec<&str> = chunk.iter().map(|(_, g, _)| g.as_str()).collect();
        match client.mpl_parts_by_guid(&guids).await {
            Ok(Some(list)) => Some(Arc::new(
                list.into_iter()
                    .map(|p| (p.message_guid.clone(), p))
                    .collect(),
            )),
            Ok(None) => None,
            // Each message then asks for its parts itself and meets the trouble there: recorded
            // with that message, or failing the job when it concerns the whole tenant.
            Err(e) => {
                tracing::debug!(error = %e, "expanded parts not read; asking per message");
                None
            }
        }
    }
    .boxed()
    .shared()
}

/// What became of a batch of details.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetched {
    pub ok: u64,
    /// Recorded in `message_detail_failures` (and retried later, a bounded number of times).
    pub failed: u64,
}

/// Fetch and store the details of many messages, `concurrency` at a time. One message whose
/// details cannot be had (its `ErrorInformation` answers 500, a part is gone or forbidden, the
/// answer cannot be stored) must not fail the window it came in: its failure is recorded with
/// the message and the batch goes on. Only trouble that concerns the whole tenant (throttling,
/// no connection, rejected credentials) or the database stops the batch and fails the job.
pub async fn fetch_many(
    db: &Db,
    client: &CpiClient,
    wanted: &[(i64, String, MessageStatus)],
    concurrency: usize,
) -> Result<Fetched, JobError> {
    // Futures of a named async fn pushed into FuturesUnordered by hand: a closure-built stream
    // here makes the compiler lose the Send proof of the whole job.
    let prefetches: Vec<Prefetch<'_>> = wanted
        .chunks(cpi::api::GUIDS_PER_CALL)
        .map(|chunk| prefetch(client, chunk))
        .collect();
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut next = wanted.iter().enumerate();
    let mut out = Fetched::default();
    loop {
        // At shutdown no new fetch starts; those running finish and are stored.
        while in_flight.len() < concurrency.max(1) && !queue::stop_requested() {
            match next.next() {
                Some((i, w)) => {
                    let parts = prefetches[i / cpi::api::GUIDS_PER_CALL].clone();
                    in_flight.push(fetch_and_store(db, client, w, parts));
                }
                None => break,
            }
        }
        match in_flight.next().await {
            Some(result) => {
                if result? {
                    out.ok += 1;
                } else {
                    out.failed += 1;
                }
            }
            None => break,
        }
    }
    if out.ok + out.failed < wanted.len() as u64 {
        crate::error::stop_point()?;
    }
    Ok(out)
}

/// Whether a failed details call concerns the whole tenant (`None`: fail the job) or only this
/// message (`Some(retry)`: record it; `retry` whether another try may help).
fn per_message(e: &CpiError) -> Option<bool> {
    match e {
        CpiError::Throttled { .. }
        | CpiError::Unauthorized { .. }
        | CpiError::Connect { .. }
        | CpiError::Dns { .. }
        | CpiError::Tls { .. }
        | CpiError::Config(_)
        | CpiError::Write { .. } => None,
        // A login page answers every call alike: the tenant's access, not this message.
        CpiError::BadResponse {
            kind: cpi::BadResponseKind::HtmlPage,
            ..
        } => None,
        // Gone from the tenant, or a part the user may not read: waiting will not help.
        CpiError::NotFound { .. } | CpiError::Forbidden { .. } => Some(false),
        _ => Some(true),
    }
}

async fn fetch_and_store(
    db: &Db,
    client: &CpiClient,
    (id, guid, status): &(i64, String, MessageStatus),
    prefetched: Prefetch<'_>,
) -> Result<bool, JobError> {
    let parts = prefetched
        .await
        .and_then(|all| all.get(guid.as_str()).cloned());
    let error = match fetch_with(client, guid, status, parts).await {
        Ok(details) => match messages::write_details(db, *id, &details, Utc::now()).await {
            Ok(_) => return Ok(true),
            // What the tenant sent cannot be stored (a value no index takes, …): this
            // message's problem. Anything else (connection, lock time-out) is the database's.
            Err(e) if e.is_data_error() => (format!("database: {e}"), true),
            Err(e) => return Err(JobError::from(e)),
        },
        Err(e) => match per_message(&e) {
            Some(retry) => (format!("tenant: {e}"), retry),
            None => return Err(JobError::from(e)),
        },
    };
    let (error, retry) = error;
    let failure = detail_failures::record(db, *id, &error, retry, Utc::now()).await?;
    tracing::warn!(
        message = %guid,
        attempts = failure.attempts,
        next_attempt_at = ?failure.next_attempt_at,
        "details not stored: {error}"
    );
    Ok(false)
}

/// Messages of the tenant in `page` (ids) that have a recorded details failure: their next try
/// waits for its time (see [`retry_due`]) instead of coming with every re-read of the page.
pub async fn failing(db: &Db, ids: &[i64]) -> Result<std::collections::HashSet<i64>, JobError> {
    Ok(detail_failures::failing_among(db, ids).await?)
}

/// Another try for the tenant's messages whose details failed before and are due again, at
/// most [`RETRY_BATCH`] per run.
pub async fn retry_due(
    db: &Db,
    client: &CpiClient,
    tenant_id: i64,
    concurrency: usize,
    now: chrono::DateTime<Utc>,
) -> Result<Fetched, JobError> {
    let due = detail_failures::due(db, tenant_id, now, RETRY_BATCH).await?;
    if due.is_empty() {
        return Ok(Fetched::default());
    }
    fetch_many(db, client, &due, concurrency).await
}

/// Due details retried by one hot run at most.
pub const RETRY_BATCH: u64 = 100;

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
