//! SeaORM entities, one module per table, matching the migrations in `migrations/`.
//!
//! Conventions the schema follows:
//! - surrogate keys are `i64` (`bigint` identity on PostgreSQL, `INTEGER PRIMARY KEY
//!   AUTOINCREMENT` on SQLite); `message_errors` and
//!   `message_detail_failures` are keyed by their message, `sessions` by the hash
//!   of the session token, `error_group_hours` by group and hour, `error_group_days` by group and day,
//!   `error_group_sums` by group and window, `error_group_sum_windows` by window;
//! - timestamps are [`DateTimeUtc`](sea_orm::prelude::DateTimeUtc) (`timestamptz` on
//!   PostgreSQL, text on SQLite);
//! - list- and object-valued settings (`tags`, `access_groups`, `settings`, `params`, …) are
//!   `String` columns holding JSON, so both backends store them alike;
//! - value sets such as statuses and roles are plain strings without CHECK constraints, so a
//!   new value needs no table rebuild on SQLite; the domain types decide what is valid;
//! - fields copied from CPI are `Option` because the API omits them freely; only keys and what
//!   IntegraMon sets itself are required.
//!
//! `crates/store/tests/entities_match_schema.rs` proves that these entities and the migrated
//! schema agree, column by column, on both backends.

pub mod adapter_attributes;
pub mod alert_evaluations;
pub mod alert_rules;
pub mod alert_transitions;
pub mod alerts;
pub mod api_tokens;
pub mod archives;
pub mod artifact_versions;
pub mod attachments;
pub mod audit_log;
pub mod correlations;
pub mod custom_header_properties;
pub mod design_artifacts;
pub mod error_group_days;
pub mod error_group_events;
pub mod error_group_hours;
pub mod error_group_sum_windows;
pub mod error_group_sums;
pub mod error_groups;
pub mod error_rules;
pub mod job_firings;
pub mod job_runs;
pub mod keystore_entries;
pub mod login_attempts;
pub mod message_counts;
pub mod message_detail_failures;
pub mod message_errors;
pub mod message_logs;
pub mod message_run_steps;
pub mod message_runs;
pub mod metric_snapshots;
pub mod object_labels;
pub mod packages;
pub mod payloads;
pub mod runtime_artifacts;
pub mod sessions;
pub mod silences;
pub mod storage_snapshots;
pub mod sync_state;
pub mod tenant_data_stores;
pub mod tenant_jms_brokers;
pub mod tenant_jobs;
pub mod tenants;
pub mod users;

/// The entities under their table names in CamelCase.
pub mod prelude {
    pub use super::adapter_attributes::Entity as AdapterAttributes;
    pub use super::alert_evaluations::Entity as AlertEvaluations;
    pub use super::alert_rules::Entity as AlertRules;
    pub use super::alert_transitions::Entity as AlertTransitions;
    pub use super::alerts::Entity as Alerts;
    pub use super::api_tokens::Entity as ApiTokens;
    pub use super::archives::Entity as Archives;
    pub use super::artifact_versions::Entity as ArtifactVersions;
    pub use super::attachments::Entity as Attachments;
    pub use super::audit_log::Entity as AuditLog;
    pub use super::correlations::Entity as Correlations;
    pub use super::custom_header_properties::Entity as CustomHeaderProperties;
    pub use super::design_artifacts::Entity as DesignArtifacts;
    pub use super::error_group_days::Entity as ErrorGroupDays;
    pub use super::error_group_events::Entity as ErrorGroupEvents;
    pub use super::error_group_hours::Entity as ErrorGroupHours;
    pub use super::error_group_sum_windows::Entity as ErrorGroupSumWindows;
    pub use super::error_group_sums::Entity as ErrorGroupSums;
    pub use super::error_groups::Entity as ErrorGroups;
    pub use super::error_rules::Entity as ErrorRules;
    pub use super::job_firings::Entity as JobFirings;
    pub use super::job_runs::Entity as JobRuns;
    pub use super::keystore_entries::Entity as KeystoreEntries;
    pub use super::login_attempts::Entity as LoginAttempts;
    pub use super::message_counts::Entity as MessageCounts;
    pub use super::message_detail_failures::Entity as MessageDetailFailures;
    pub use super::message_errors::Entity as MessageErrors;
    pub use super::message_logs::Entity as MessageLogs;
    pub use super::message_run_steps::Entity as MessageRunSteps;
    pub use super::message_runs::Entity as MessageRuns;
    pub use super::metric_snapshots::Entity as MetricSnapshots;
    pub use super::object_labels::Entity as ObjectLabels;
    pub use super::packages::Entity as Packages;
    pub use super::payloads::Entity as Payloads;
    pub use super::runtime_artifacts::Entity as RuntimeArtifacts;
    pub use super::sessions::Entity as Sessions;
    pub use super::silences::Entity as Silences;
    pub use super::storage_snapshots::Entity as StorageSnapshots;
    pub use super::sync_state::Entity as SyncState;
    pub use super::tenant_data_stores::Entity as TenantDataStores;
    pub use super::tenant_jms_brokers::Entity as TenantJmsBrokers;
    pub use super::tenant_jobs::Entity as TenantJobs;
    pub use super::tenants::Entity as Tenants;
    pub use super::users::Entity as Users;
}
