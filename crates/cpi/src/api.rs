//! The calls IntegraMon makes, one method per entity or download. Paths and query options are
//! listed in `docs/cpi.md`; every method is a GET (IntegraMon never writes to a tenant).

use std::sync::atomic::Ordering;

use tokio::io::AsyncWrite;

use crate::client::CpiClient;
use crate::download::{Collected, DownloadOutcome};
use crate::error::{BadResponseKind, CpiError};
use crate::limits::ApiFamily;
use crate::model::{
    AdapterAttribute, CustomHeaderProperty, DataStore, IntegrationDesigntimeArtifact,
    IntegrationPackage, IntegrationRuntimeArtifact, JmsBroker, KeystoreEntry, MessageProcessingLog,
    MessageStoreEntry, MplAttachment, MplErrorInformation, MplParts, MplRun, MplRunStep,
    RuntimeArtifactErrorInfo, ValueMappingDesigntimeArtifact,
};
use crate::odata::{Entity, hex_alias, quote_key, string_literal};

/// An MPL's error text (`…/ErrorInformation/$value`), cut at the requested size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorText {
    pub text: String,
    /// The text was longer than the cap and has been cut.
    pub truncated: bool,
    pub content_type: Option<String>,
}

/// GUIDs per call when reading MPLs by id (`MessageGuid eq … or …`); keeps URLs short.
pub const GUIDS_PER_CALL: usize = 20;
/// Page size for run steps, as other clients use.
const RUN_STEP_PAGE: u32 = 500;

fn mpl_path(guid: &str) -> String {
    format!("MessageProcessingLogs({})", quote_key(guid))
}

fn artifact_key(id: &str, version: &str) -> String {
    format!("(Id={},Version={})", quote_key(id), quote_key(version))
}

/// Maps 404 to `None`: "there is none" for optional children.
fn optional<T>(r: Result<T, CpiError>) -> Result<Option<T>, CpiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(CpiError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl CpiClient {
    // --- Message processing logs -------------------------------------------------------------

    /// `GET /MessageProcessingLogs('{guid}')`
    pub async fn mpl(&self, guid: &str) -> Result<MessageProcessingLog, CpiError> {
        let url = self.url(&mpl_path(guid), &[])?;
        self.get_entity(ApiFamily::MessageProcessingLogs, &url)
            .await
    }

    /// MPLs by id, for messages without dates or with pending details:
    /// `$filter=MessageGuid eq '…' or MessageGuid eq '…'` (SAP advises id filters on their own),
    /// in calls of 20 ids. Unknown ids are simply missing from the result.
    pub async fn mpls_by_guid(
        &self,
        guids: &[&str],
    ) -> Result<Vec<MessageProcessingLog>, CpiError> {
        let mut out = Vec::with_capacity(guids.len());
        for chunk in guids.chunks(GUIDS_PER_CALL) {
            let filter = chunk
                .iter()
                .map(|g| format!("MessageGuid eq {}", string_literal(g)))
                .collect::<Vec<_>>()
                .join(" or ");
            let select = MessageProcessingLog::PORTABLE_COLUMNS.join(",");
            let mut part = self
                .get_all::<MessageProcessingLog>(
                    ApiFamily::MessageProcessingLogs,
                    "MessageProcessingLogs",
                    &[("$filter", filter), ("$select", select)],
                    None,
                )
                .await?;
            out.append(&mut part);
        }
        Ok(out)
    }

    /// The parts `$expand` can bring along with their messages (custom headers, adapter
    /// attributes, attachment list, runs), for many messages in calls of 20 ids:
    /// `$filter=MessageGuid eq '…' or …&$select=MessageGuid,<parts>&$expand=<parts>`. One call
    /// instead of four per message. Unknown ids are missing from the result.
    ///
    /// SAP documents `$expand` of `CustomHeaderProperties` and `AdapterAttributes`; `Attachments`
    /// and `Runs` are navigation properties of the same entity in the tenant's `$metadata`.
    /// `Ok(None)` when the tenant refuses the expansion (400 or 501): that is remembered, and
    /// later calls answer `None` at once, so the caller reads the parts one call each.
    pub async fn mpl_parts_by_guid(
        &self,
        guids: &[&str],
    ) -> Result<Option<Vec<MplParts>>, CpiError> {
        let mut out = Vec::with_capacity(guids.len());
        for chunk in guids.chunks(GUIDS_PER_CALL) {
            if self.parts_expand_refused() {
                return Ok(None);
            }
            let filter = chunk
                .iter()
                .map(|g| format!("MessageGuid eq {}", string_literal(g)))
                .collect::<Vec<_>>()
                .join(" or ");
            let expand = MplParts::EXPANDED.join(",");
            let params = [
                ("$filter", filter),
                ("$select", format!("MessageGuid,{expand}")),
                ("$expand", expand),
            ];
            match self
                .get_all::<MplParts>(
                    ApiFamily::MessageProcessingLogs,
                    "MessageProcessingLogs",
                    &params,
                    None,
                )
                .await
            {
                Ok(mut part) => out.append(&mut part),
                Err(e) if matches!(e.status(), Some(400 | 501)) => {
                    tracing::info!(
                        error = %e,
                        "the tenant refuses $expand of a message's parts; reading them one call each"
                    );
                    self.inner
                        .parts_expand_refused
                        .store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(out))
    }

    /// Whether the tenant refused [`Self::mpl_parts_by_guid`]'s expansion before.
    pub fn parts_expand_refused(&self) -> bool {
        self.inner.parts_expand_refused.load(Ordering::Relaxed)
    }

    /// `GET /MessageProcessingLogs('{guid}')/CustomHeaderProperties`
    pub async fn mpl_custom_header_properties(
        &self,
        guid: &str,
    ) -> Result<Vec<CustomHeaderProperty>, CpiError> {
        let path = format!("{}/CustomHeaderProperties", mpl_path(guid));
        self.get_all(ApiFamily::MessageProcessingLogs, &path, &[], None)
            .await
    }

    /// `GET /MessageProcessingLogs('{guid}')/AdapterAttributes`
    pub async fn mpl_adapter_attributes(
        &self,
        guid: &str,
    ) -> Result<Vec<AdapterAttribute>, CpiError> {
        let path = format!("{}/AdapterAttributes", mpl_path(guid));
        self.get_all(ApiFamily::MessageProcessingLogs, &path, &[], None)
            .await
    }

    /// `GET /MessageProcessingLogs('{guid}')/Attachments` (metadata only).
    pub async fn mpl_attachments(&self, guid: &str) -> Result<Vec<MplAttachment>, CpiError> {
        let path = format!("{}/Attachments", mpl_path(guid));
        self.get_all(ApiFamily::MessageProcessingLogs, &path, &[], None)
            .await
    }

    /// `GET /MessageProcessingLogs('{guid}')/ErrorInformation`; `None` on 404.
    pub async fn mpl_error_information(
        &self,
        guid: &str,
    ) -> Result<Option<MplErrorInformation>, CpiError> {
        let url = self.url(&format!("{}/ErrorInformation", mpl_path(guid)), &[])?;
        optional(
            self.get_entity(ApiFamily::MessageProcessingLogs, &url)
                .await,
        )
    }

    /// `GET /MessageProcessingLogs('{guid}')/ErrorInformation/$value`: the error text, cut at
    /// `cap` bytes. `None` when the tenant has none (404 or an empty body).
    pub async fn mpl_error_text(
        &self,
        guid: &str,
        cap: u64,
    ) -> Result<Option<ErrorText>, CpiError> {
        let url = self.url(&format!("{}/ErrorInformation/$value", mpl_path(guid)), &[])?;
        let mut buf: Vec<u8> = Vec::new();
        let outcome = optional(
            self.download_prefix(ApiFamily::MessageProcessingLogs, &url, &mut buf, cap)
                .await,
        )?;
        let (truncated, content_type) = match outcome {
            None => return Ok(None),
            Some(DownloadOutcome::Complete { content_type, .. }) => (false, content_type),
            Some(DownloadOutcome::TooLarge { .. }) => (true, None),
        };
        if buf.is_empty() && !truncated {
            return Ok(None);
        }
        Ok(Some(ErrorText {
            text: String::from_utf8_lossy(&buf).into_owned(),
            truncated,
            content_type,
        }))
    }

    /// `GET /MessageProcessingLogs('{guid}')/MessageStoreEntries` (needs the payload role).
    pub async fn mpl_message_store_entries(
        &self,
        guid: &str,
    ) -> Result<Vec<MessageStoreEntry>, CpiError> {
        let path = format!("{}/MessageStoreEntries", mpl_path(guid));
        self.get_all(ApiFamily::Payloads, &path, &[], None).await
    }

    /// `GET /MessageProcessingLogs('{guid}')/Runs`
    pub async fn mpl_runs(&self, guid: &str) -> Result<Vec<MplRun>, CpiError> {
        let path = format!("{}/Runs", mpl_path(guid));
        self.get_all(ApiFamily::MessageProcessingLogs, &path, &[], None)
            .await
    }

    /// `GET /MessageProcessingLogRuns('{run}')/RunSteps?$expand=RunStepProperties&
    /// $inlinecount=allpages&$top=500&$skip=n`
    pub async fn mpl_run_steps(&self, run_id: &str) -> Result<Vec<MplRunStep>, CpiError> {
        let path = format!("MessageProcessingLogRuns({})/RunSteps", quote_key(run_id));
        self.get_all(
            ApiFamily::MessageProcessingLogs,
            &path,
            &[("$expand", "RunStepProperties".into())],
            Some(RUN_STEP_PAGE),
        )
        .await
    }

    /// `GET /MessageProcessingLogAttachments('{id}')/$value` into `writer`.
    pub async fn download_mpl_attachment<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        attachment_id: &str,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError> {
        let url = self.url(
            &format!(
                "MessageProcessingLogAttachments({})/$value",
                quote_key(attachment_id)
            ),
            &[],
        )?;
        self.download_to(ApiFamily::Payloads, &url, writer, cap)
            .await
    }

    /// `GET /MessageProcessingLogAttachments('{id}')/$value` into memory.
    pub async fn collect_mpl_attachment(
        &self,
        attachment_id: &str,
        cap: u64,
    ) -> Result<Collected, CpiError> {
        let url = self.url(
            &format!(
                "MessageProcessingLogAttachments({})/$value",
                quote_key(attachment_id)
            ),
            &[],
        )?;
        self.download_collect(ApiFamily::Payloads, &url, cap).await
    }

    /// `GET /MessageStoreEntries('{id}')/$value` into `writer`.
    pub async fn download_message_store_entry<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        entry_id: &str,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError> {
        let url = self.url(
            &format!("MessageStoreEntries({})/$value", quote_key(entry_id)),
            &[],
        )?;
        self.download_to(ApiFamily::Payloads, &url, writer, cap)
            .await
    }

    /// `GET /MessageStoreEntries('{id}')/$value` into memory.
    pub async fn collect_message_store_entry(
        &self,
        entry_id: &str,
        cap: u64,
    ) -> Result<Collected, CpiError> {
        let url = self.url(
            &format!("MessageStoreEntries({})/$value", quote_key(entry_id)),
            &[],
        )?;
        self.download_collect(ApiFamily::Payloads, &url, cap).await
    }

    // --- Design-time content -----------------------------------------------------------------

    /// `GET /IntegrationPackages`
    pub async fn integration_packages(&self) -> Result<Vec<IntegrationPackage>, CpiError> {
        self.get_all(
            ApiFamily::DesigntimeArtifacts,
            "IntegrationPackages",
            &[],
            None,
        )
        .await
    }

    /// `GET /IntegrationPackages('{id}')`
    pub async fn integration_package(&self, id: &str) -> Result<IntegrationPackage, CpiError> {
        let url = self.url(&format!("IntegrationPackages({})", quote_key(id)), &[])?;
        self.get_entity(ApiFamily::DesigntimeArtifacts, &url).await
    }

    /// `GET /IntegrationPackages('{id}')/<set>`: one package's artifacts of one kind.
    async fn package_artifacts<T: Entity>(
        &self,
        package_id: &str,
        set: &str,
    ) -> Result<Vec<T>, CpiError> {
        let path = format!("IntegrationPackages({})/{set}", quote_key(package_id));
        self.get_all(ApiFamily::DesigntimeArtifacts, &path, &[], None)
            .await
    }

    /// `GET /IntegrationPackages('{id}')/IntegrationDesigntimeArtifacts`
    pub async fn package_integration_designtime_artifacts(
        &self,
        package_id: &str,
    ) -> Result<Vec<IntegrationDesigntimeArtifact>, CpiError> {
        self.package_artifacts(package_id, "IntegrationDesigntimeArtifacts")
            .await
    }

    /// `GET /IntegrationPackages('{id}')/ValueMappingDesigntimeArtifacts`
    pub async fn package_value_mapping_designtime_artifacts(
        &self,
        package_id: &str,
    ) -> Result<Vec<ValueMappingDesigntimeArtifact>, CpiError> {
        self.package_artifacts(package_id, "ValueMappingDesigntimeArtifacts")
            .await
    }

    /// `GET /ValueMappingDesigntimeArtifacts`
    pub async fn value_mapping_designtime_artifacts(
        &self,
    ) -> Result<Vec<ValueMappingDesigntimeArtifact>, CpiError> {
        self.get_all(
            ApiFamily::DesigntimeArtifacts,
            "ValueMappingDesigntimeArtifacts",
            &[],
            None,
        )
        .await
    }

    /// `GET /IntegrationDesigntimeArtifacts(Id='…',Version='…')`; `version` may be `active`.
    pub async fn integration_designtime_artifact(
        &self,
        id: &str,
        version: &str,
    ) -> Result<IntegrationDesigntimeArtifact, CpiError> {
        let url = self.url(
            &format!(
                "IntegrationDesigntimeArtifacts{}",
                artifact_key(id, version)
            ),
            &[],
        )?;
        self.get_entity(ApiFamily::DesigntimeArtifacts, &url).await
    }

    /// `GET /IntegrationDesigntimeArtifacts(Id='…',Version='…')/$value`: the iFlow zip.
    pub async fn download_integration_designtime_artifact<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        id: &str,
        version: &str,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError> {
        let url = self.url(
            &format!(
                "IntegrationDesigntimeArtifacts{}/$value",
                artifact_key(id, version)
            ),
            &[],
        )?;
        self.download_to(ApiFamily::DesigntimeArtifacts, &url, writer, cap)
            .await
    }

    /// `GET /ValueMappingDesigntimeArtifacts(Id='…',Version='…')/$value`: the zip.
    pub async fn download_value_mapping_designtime_artifact<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        id: &str,
        version: &str,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError> {
        let url = self.url(
            &format!(
                "ValueMappingDesigntimeArtifacts{}/$value",
                artifact_key(id, version)
            ),
            &[],
        )?;
        self.download_to(ApiFamily::DesigntimeArtifacts, &url, writer, cap)
            .await
    }

    // --- Runtime artifacts -------------------------------------------------------------------

    /// `GET /IntegrationRuntimeArtifacts`
    pub async fn runtime_artifacts(&self) -> Result<Vec<IntegrationRuntimeArtifact>, CpiError> {
        self.get_all(
            ApiFamily::RuntimeArtifacts,
            "IntegrationRuntimeArtifacts",
            &[],
            None,
        )
        .await
    }

    /// `GET /IntegrationRuntimeArtifacts('{id}')`
    pub async fn runtime_artifact(&self, id: &str) -> Result<IntegrationRuntimeArtifact, CpiError> {
        let url = self.url(
            &format!("IntegrationRuntimeArtifacts({})", quote_key(id)),
            &[],
        )?;
        self.get_entity(ApiFamily::RuntimeArtifacts, &url).await
    }

    /// `GET /IntegrationRuntimeArtifacts('{id}')/ErrorInformation/$value` (a JSON text, parsed
    /// leniently with the raw text kept); `None` on 404 or an empty body.
    pub async fn runtime_artifact_error(
        &self,
        id: &str,
        cap: u64,
    ) -> Result<Option<RuntimeArtifactErrorInfo>, CpiError> {
        let url = self.url(
            &format!(
                "IntegrationRuntimeArtifacts({})/ErrorInformation/$value",
                quote_key(id)
            ),
            &[],
        )?;
        match optional(
            self.download_collect(ApiFamily::RuntimeArtifacts, &url, cap)
                .await,
        )? {
            Some(Collected::Complete { data, .. }) if !data.is_empty() => {
                Ok(Some(RuntimeArtifactErrorInfo::parse(&data)))
            }
            Some(Collected::Complete { .. }) | None => Ok(None),
            Some(Collected::TooLarge { content_length, .. }) => Err(CpiError::TooLarge {
                url: url.to_string(),
                limit: cap,
                content_length,
            }),
        }
    }

    // --- Security content --------------------------------------------------------------------

    /// `GET /KeystoreEntries[?keystoreName=…]` (`system` when `None`). Sent with
    /// `Accept: application/json` only: this set ignores `$format`.
    pub async fn keystore_entries(
        &self,
        keystore_name: Option<&str>,
    ) -> Result<Vec<KeystoreEntry>, CpiError> {
        let params: Vec<(&str, String)> = keystore_name
            .map(|k| vec![("keystoreName", k.to_string())])
            .unwrap_or_default();
        self.get_all(ApiFamily::SecurityContent, "KeystoreEntries", &params, None)
            .await
    }

    /// `GET /KeystoreEntries('{hex of alias}')`
    pub async fn keystore_entry(&self, alias: &str) -> Result<KeystoreEntry, CpiError> {
        let url = self.url(
            &format!("KeystoreEntries({})", quote_key(&hex_alias(alias))),
            &[],
        )?;
        self.get_entity(ApiFamily::SecurityContent, &url).await
    }

    // --- Tenant resources (MessageStore API) -------------------------------------------------

    /// `GET /JmsBrokers('Broker1')`: the JMS broker's usage. `None` when the tenant has no
    /// broker: a 404, an empty body, or an entity without a single figure.
    pub async fn jms_broker(&self) -> Result<Option<JmsBroker>, CpiError> {
        let url = self.url("JmsBrokers('Broker1')", &[])?;
        let r = self
            .get_entity::<JmsBroker>(ApiFamily::MessageProcessingLogs, &url)
            .await;
        match optional(r) {
            Ok(Some(b)) if b.is_empty() => Ok(None),
            Ok(b) => Ok(b),
            Err(CpiError::BadResponse {
                kind: BadResponseKind::Empty,
                status,
                ..
            }) if (200..300).contains(&status) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /DataStores`: every data store with its message counts. The set takes no query
    /// options; a 404 (no data store service) is an empty list.
    pub async fn data_stores(&self) -> Result<Vec<DataStore>, CpiError> {
        let r = self
            .get_all(ApiFamily::MessageProcessingLogs, "DataStores", &[], None)
            .await;
        Ok(optional(r)?.unwrap_or_default())
    }
}
