//! Proves that the entities in `src/entity` and the schema the migrations build agree, on SQLite
//! and on PostgreSQL: the same tables, the same columns with the same nullability, and every
//! column round-trips a value of the entity's Rust type (PostgreSQL decodes strictly, so an
//! `i32` field on a `bigint` column or a `String` on a `timestamptz` fails here).
//!
//! PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth); set
//! `TEST_POSTGRES_URL` to point elsewhere. When it is unreachable the test fails rather than
//! skips.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DbBackend, EntityName, EntityTrait, IdenStatic, IntoActiveModel, Iterable,
    ModelTrait, QueryFilter, Statement,
};
use store::entity::*;

fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn connect(url: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(2)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Strings of one column from a query, for the catalogue queries below.
async fn strings(db: &DatabaseConnection, stmt: Statement) -> Vec<String> {
    db.query_all_raw(stmt)
        .await
        .expect("catalogue query")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

/// The application tables in the database, without the migrator's own.
async fn db_tables(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name"
        }
    };
    strings(db, Statement::from_string(db.get_database_backend(), sql))
        .await
        .into_iter()
        .filter(|t| t != "seaql_migrations")
        .collect()
}

/// Column name -> nullable, as the database has it.
async fn db_columns(db: &DatabaseConnection, table: &str) -> BTreeMap<String, bool> {
    let backend = db.get_database_backend();
    let stmt = match backend {
        DbBackend::Sqlite => Statement::from_sql_and_values(
            backend,
            "SELECT name || ':' || CASE WHEN \"notnull\" = 1 THEN 'NO' ELSE 'YES' END \
             FROM pragma_table_info(?)",
            [table.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT column_name::text || ':' || is_nullable::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
            [table.into()],
        ),
    };
    strings(db, stmt)
        .await
        .into_iter()
        .map(|s| {
            let (name, nullable) = s.rsplit_once(':').expect("name:nullable");
            (name.to_owned(), nullable == "YES")
        })
        .collect()
}

/// Checks one entity against its table, then leaves `row` in it for the children after it.
async fn check<E>(db: &DatabaseConnection, row: E::Model)
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + PartialEq + std::fmt::Debug + Clone,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let table = E::default().table_name().to_owned();
    let backend = db.get_database_backend();

    // Selecting every column the entity knows works on the empty table.
    let none = E::find().one(db).await;
    assert!(
        matches!(none, Ok(None)),
        "{backend:?} {table}: select: {none:?}"
    );

    let entity_columns: BTreeMap<String, bool> = E::Column::iter()
        .map(|c| (c.as_str().to_owned(), c.def().is_null()))
        .collect();
    assert_eq!(
        entity_columns,
        db_columns(db, &table).await,
        "{backend:?} {table}: entity columns (left) and table columns (right) differ \
         (name -> nullable)"
    );

    // Every field set, written and read back unchanged.
    E::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await
        .unwrap_or_else(|e| panic!("{backend:?} {table}: insert: {e}"));
    let back = E::find()
        .all(db)
        .await
        .unwrap_or_else(|e| panic!("{backend:?} {table}: select: {e}"));
    assert_eq!(back, vec![row], "{backend:?} {table}: round trip");
}

/// A header value longer than any index entry may be, with multi-byte characters, so the
/// prefix is cut on characters and the full value is still stored and found.
fn long_header_value() -> String {
    const ALPHABET: &[char] = &['a', 'Z', '7', '-', 'é', 'ß', '€', '😀', ' ', '/'];
    (0..3000usize)
        .map(|i| ALPHABET[(i * 7919 + i / 13) % ALPHABET.len()])
        .collect()
}

async fn entities_match(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("migrate up");
    let backend = db.get_database_backend();
    // Microseconds: what PostgreSQL keeps.
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 4, 19, 4).unwrap()
        + chrono::Duration::microseconds(123_456);
    let long_value = long_header_value();
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();

    check::<tenants::Entity>(
        db,
        tenants::Model {
            id: 1,
            name: "tenants.name".to_owned(),
            api_url: "tenants.api_url".to_owned(),
            ui_url: Some("tenants.ui_url".to_owned()),
            auth_kind: "tenants.auth_kind".to_owned(),
            username: Some("tenants.username".to_owned()),
            client_id: Some("tenants.client_id".to_owned()),
            token_url: Some("tenants.token_url".to_owned()),
            secret_enc: Some("tenants.secret_enc".to_owned()),
            tls_verify: false,
            ca_cert: Some("tenants.ca_cert".to_owned()),
            enabled: false,
            tags: r#"["prod","eu"]"#.to_owned(),
            access_groups: "tenants.access_groups".to_owned(),
            message_filter: Some("tenants.message_filter".to_owned()),
            collect_from: Some(at),
            hot_window_secs: 2_000_000_000,
            payload_strategy: "tenants.payload_strategy".to_owned(),
            payload_max_bytes: 5_000_000_000,
            attachments_enabled: false,
            status: "tenants.status".to_owned(),
            status_message: Some("tenants.status_message".to_owned()),
            status_at: Some(at),
            created_at: at,
            updated_at: at,
        },
    )
    .await;
    check::<tenant_jobs::Entity>(
        db,
        tenant_jobs::Model {
            id: 1,
            tenant_id: 1,
            job_type: "tenant_jobs.job_type".to_owned(),
            enabled: false,
            interval_secs: Some(2_000_000_000),
            plan_time: Some("tenant_jobs.plan_time".to_owned()),
            settings: "tenant_jobs.settings".to_owned(),
        },
    )
    .await;
    check::<sync_state::Entity>(
        db,
        sync_state::Model {
            id: 1,
            tenant_id: 1,
            job_type: "sync_state.job_type".to_owned(),
            watermark: Some(at),
            resume_state: Some("sync_state.resume_state".to_owned()),
            last_attempt_at: Some(at),
            last_success_at: Some(at),
            last_error: Some("sync_state.last_error".to_owned()),
            consecutive_failures: 2_000_000_000,
        },
    )
    .await;
    check::<message_logs::Entity>(
        db,
        message_logs::Model {
            id: 1,
            tenant_id: 1,
            message_guid: "message_logs.message_guid".to_owned(),
            correlation_id: Some("message_logs.correlation_id".to_owned()),
            application_message_id: Some("message_logs.application_message_id".to_owned()),
            application_message_type: Some("message_logs.application_message_type".to_owned()),
            predecessor_message_guid: Some("message_logs.predecessor_message_guid".to_owned()),
            log_start: Some(at),
            log_end: Some(at),
            sender: Some("message_logs.sender".to_owned()),
            receiver: Some("message_logs.receiver".to_owned()),
            iflow_id: Some("message_logs.iflow_id".to_owned()),
            iflow_name: Some("message_logs.iflow_name".to_owned()),
            artifact_type: Some("message_logs.artifact_type".to_owned()),
            package_id: Some("message_logs.package_id".to_owned()),
            package_name: Some("message_logs.package_name".to_owned()),
            status: Some("message_logs.status".to_owned()),
            custom_status: Some("message_logs.custom_status".to_owned()),
            log_level: Some("message_logs.log_level".to_owned()),
            alternate_web_link: Some("message_logs.alternate_web_link".to_owned()),
            transaction_id: Some("message_logs.transaction_id".to_owned()),
            archiving_status: Some("message_logs.archiving_status".to_owned()),
            origin_component_name: Some("message_logs.origin_component_name".to_owned()),
            local_component_name: Some("message_logs.local_component_name".to_owned()),
            previous_component_name: Some("message_logs.previous_component_name".to_owned()),
            duration_ms: Some(5_000_000_000),
            details_status: Some("message_logs.details_status".to_owned()),
            details_fetched_at: Some(at),
            created_at: at,
            updated_at: at,
            error_group_id: Some(5_000_000_001),
            error_group_hour: Some(at),
        },
    )
    .await;
    check::<message_errors::Entity>(
        db,
        message_errors::Model {
            message_id: 1,
            error_type: Some("message_errors.error_type".to_owned()),
            last_error_model_step_id: Some("message_errors.last_error_model_step_id".to_owned()),
            text: Some("message_errors.text".to_owned()),
            fetched_at: at,
        },
    )
    .await;
    check::<message_detail_failures::Entity>(
        db,
        message_detail_failures::Model {
            message_id: 1,
            tenant_id: 1,
            attempts: 2,
            error: "message_detail_failures.error".to_owned(),
            first_failed_at: at,
            last_failed_at: at,
            next_attempt_at: Some(at),
        },
    )
    .await;
    check::<message_runs::Entity>(
        db,
        message_runs::Model {
            id: 1,
            message_id: 1,
            run_id: "message_runs.run_id".to_owned(),
            run_start: Some(at),
            run_stop: Some(at),
            log_level: Some("message_runs.log_level".to_owned()),
            overall_state: Some("message_runs.overall_state".to_owned()),
            process_id: Some("message_runs.process_id".to_owned()),
        },
    )
    .await;
    check::<message_run_steps::Entity>(
        db,
        message_run_steps::Model {
            id: 1,
            run_pk: 1,
            child_count: 2_000_000_000,
            step_start: Some(at),
            step_stop: Some(at),
            step_id: Some("message_run_steps.step_id".to_owned()),
            model_step_id: Some("message_run_steps.model_step_id".to_owned()),
            branch_id: Some("message_run_steps.branch_id".to_owned()),
            status: Some("message_run_steps.status".to_owned()),
            error: Some("message_run_steps.error".to_owned()),
            activity: Some("message_run_steps.activity".to_owned()),
            properties: Some("message_run_steps.properties".to_owned()),
        },
    )
    .await;
    check::<custom_header_properties::Entity>(
        db,
        custom_header_properties::Model {
            id: 1,
            message_id: 1,
            tenant_id: 1,
            cpi_id: Some("custom_header_properties.cpi_id".to_owned()),
            name: "custom_header_properties.name".to_owned(),
            value: Some(long_value.clone()),
            value_prefix: Some(custom_header_properties::value_prefix(&long_value)),
        },
    )
    .await;
    check::<adapter_attributes::Entity>(
        db,
        adapter_attributes::Model {
            id: 1,
            message_id: 1,
            cpi_id: Some("adapter_attributes.cpi_id".to_owned()),
            adapter_id: Some("adapter_attributes.adapter_id".to_owned()),
            adapter_message_id: Some("adapter_attributes.adapter_message_id".to_owned()),
            name: "adapter_attributes.name".to_owned(),
            value: Some("adapter_attributes.value".to_owned()),
        },
    )
    .await;
    check::<payloads::Entity>(
        db,
        payloads::Model {
            id: 1,
            message_id: 1,
            entry_id: "payloads.entry_id".to_owned(),
            message_store_id: Some("payloads.message_store_id".to_owned()),
            entry_timestamp: Some(at),
            has_attachments: Some(true),
            content_type: Some("payloads.content_type".to_owned()),
            size: Some(5_000_000_000),
            content: Some(bytes.clone()),
            sha256: Some("payloads.sha256".to_owned()),
            retain_until: Some(at),
            status: "payloads.status".to_owned(),
            error: Some("payloads.error".to_owned()),
            downloaded_at: Some(at),
        },
    )
    .await;
    check::<attachments::Entity>(
        db,
        attachments::Model {
            id: 1,
            message_id: 1,
            attachment_id: "attachments.attachment_id".to_owned(),
            name: Some("attachments.name".to_owned()),
            content_type: Some("attachments.content_type".to_owned()),
            size: Some(5_000_000_000),
            timestamp: Some(at),
            content: Some(bytes.clone()),
            sha256: Some("attachments.sha256".to_owned()),
            status: "attachments.status".to_owned(),
            error: Some("attachments.error".to_owned()),
            downloaded_at: Some(at),
        },
    )
    .await;
    check::<correlations::Entity>(
        db,
        correlations::Model {
            id: 1,
            tenant_id: 1,
            correlation_id: "correlations.correlation_id".to_owned(),
            message_count: 2_000_000_000,
            first_seen: Some(at),
            last_seen: Some(at),
        },
    )
    .await;
    check::<packages::Entity>(
        db,
        packages::Model {
            id: 1,
            tenant_id: 1,
            package_id: "packages.package_id".to_owned(),
            name: Some("packages.name".to_owned()),
            description: Some("packages.description".to_owned()),
            short_text: Some("packages.short_text".to_owned()),
            version: Some("packages.version".to_owned()),
            vendor: Some("packages.vendor".to_owned()),
            mode: Some("packages.mode".to_owned()),
            supported_platform: Some("packages.supported_platform".to_owned()),
            created_by: Some("packages.created_by".to_owned()),
            created_at_cpi: Some(at),
            modified_by: Some("packages.modified_by".to_owned()),
            modified_at_cpi: Some(at),
            synced_at: at,
        },
    )
    .await;
    check::<design_artifacts::Entity>(
        db,
        design_artifacts::Model {
            id: 1,
            tenant_id: 1,
            package_id: Some("design_artifacts.package_id".to_owned()),
            artifact_id: "design_artifacts.artifact_id".to_owned(),
            artifact_type: "design_artifacts.artifact_type".to_owned(),
            version: Some("design_artifacts.version".to_owned()),
            name: Some("design_artifacts.name".to_owned()),
            description: Some("design_artifacts.description".to_owned()),
            created_by: Some("design_artifacts.created_by".to_owned()),
            created_at_cpi: Some(at),
            modified_by: Some("design_artifacts.modified_by".to_owned()),
            modified_at_cpi: Some(at),
            content_hash: Some("design_artifacts.content_hash".to_owned()),
            content_size: Some(5_000_000_000),
            hashed_at: Some(at),
            synced_at: at,
        },
    )
    .await;
    check::<artifact_versions::Entity>(
        db,
        artifact_versions::Model {
            id: 1,
            tenant_id: 1,
            artifact_id: "artifact_versions.artifact_id".to_owned(),
            artifact_type: "artifact_versions.artifact_type".to_owned(),
            version: "artifact_versions.version".to_owned(),
            content_hash: "artifact_versions.content_hash".to_owned(),
            content_size: Some(5_000_000_000),
            first_seen_at: at,
        },
    )
    .await;
    check::<runtime_artifacts::Entity>(
        db,
        runtime_artifacts::Model {
            id: 1,
            tenant_id: 1,
            artifact_id: "runtime_artifacts.artifact_id".to_owned(),
            version: Some("runtime_artifacts.version".to_owned()),
            name: Some("runtime_artifacts.name".to_owned()),
            artifact_type: Some("runtime_artifacts.artifact_type".to_owned()),
            deployed_by: Some("runtime_artifacts.deployed_by".to_owned()),
            deployed_at: Some(at),
            status: Some("runtime_artifacts.status".to_owned()),
            error_text: Some("runtime_artifacts.error_text".to_owned()),
            synced_at: at,
        },
    )
    .await;
    check::<keystore_entries::Entity>(
        db,
        keystore_entries::Model {
            id: 1,
            tenant_id: 1,
            alias: "keystore_entries.alias".to_owned(),
            hex_alias: "keystore_entries.hex_alias".to_owned(),
            entry_type: Some("keystore_entries.entry_type".to_owned()),
            owner: Some("keystore_entries.owner".to_owned()),
            key_type: Some("keystore_entries.key_type".to_owned()),
            key_size: Some(2_000_000_000),
            valid_not_before: Some(at),
            valid_not_after: Some(at),
            subject_dn: Some("keystore_entries.subject_dn".to_owned()),
            issuer_dn: Some("keystore_entries.issuer_dn".to_owned()),
            serial_number: Some("keystore_entries.serial_number".to_owned()),
            signature_algorithm: Some("keystore_entries.signature_algorithm".to_owned()),
            fingerprint_sha256: Some("keystore_entries.fingerprint_sha256".to_owned()),
            last_modified_by: Some("keystore_entries.last_modified_by".to_owned()),
            last_modified_at: Some(at),
            synced_at: at,
        },
    )
    .await;
    check::<job_runs::Entity>(
        db,
        job_runs::Model {
            id: 1,
            job_id: "job_runs.job_id".to_owned(),
            tenant_id: Some(1),
            job_type: "job_runs.job_type".to_owned(),
            queue: "job_runs.queue".to_owned(),
            state: "job_runs.state".to_owned(),
            attempt: 2_000_000_000,
            params: "job_runs.params".to_owned(),
            error: Some("job_runs.error".to_owned()),
            worker: Some("job_runs.worker".to_owned()),
            counts: Some("job_runs.counts".to_owned()),
            queued_at: at,
            started_at: Some(at),
            finished_at: Some(at),
        },
    )
    .await;
    check::<message_counts::Entity>(
        db,
        message_counts::Model {
            id: 1,
            tenant_id: 1,
            hour_start: at,
            iflow_id: "message_counts.iflow_id".to_owned(),
            package_id: "message_counts.package_id".to_owned(),
            status: "message_counts.status".to_owned(),
            iflow_name: Some("message_counts.iflow_name".to_owned()),
            count: i64::MAX,
        },
    )
    .await;
    check::<archives::Entity>(
        db,
        archives::Model {
            id: 1,
            tenant_id: 1,
            day: chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
            file_name: "archives.file_name".to_owned(),
            path: "archives.path".to_owned(),
            size_bytes: i64::MAX,
            message_count: 1_000_000,
            checksum: Some("archives.checksum".to_owned()),
            status: "archives.status".to_owned(),
            error: Some("archives.error".to_owned()),
            created_at: at,
            updated_at: at,
            deleted_at: Some(at),
        },
    )
    .await;
    check::<metric_snapshots::Entity>(
        db,
        metric_snapshots::Model {
            id: 1,
            tenant_id: 1,
            bucket_start: at,
            bucket_secs: i32::MAX,
            iflow_id: "metric_snapshots.iflow_id".to_owned(),
            iflow_name: Some("metric_snapshots.iflow_name".to_owned()),
            messages: i64::MAX,
            status_counts: "metric_snapshots.status_counts".to_owned(),
            duration_p50_ms: Some(i64::MAX),
            duration_p95_ms: Some(i64::MAX),
            duration_p99_ms: Some(i64::MAX),
            duration_max_ms: Some(i64::MAX),
            payload_count: i64::MAX,
            payload_bytes: i64::MAX,
            computed_at: at,
        },
    )
    .await;
    check::<storage_snapshots::Entity>(
        db,
        storage_snapshots::Model {
            id: 1,
            taken_at: at,
            kind: "storage_snapshots.kind".to_owned(),
            name: "storage_snapshots.name".to_owned(),
            tenant_id: Some(1),
            bytes: Some(i64::MAX),
            row_count: Some(i64::MAX),
        },
    )
    .await;
    check::<job_firings::Entity>(
        db,
        job_firings::Model {
            id: 1,
            tenant_id: 1,
            job_type: "job_firings.job_type".to_owned(),
            slot_key: "job_firings.slot_key".to_owned(),
            fired_at: at,
            job_id: "job_firings.job_id".to_owned(),
        },
    )
    .await;
    check::<users::Entity>(
        db,
        users::Model {
            id: 1,
            username: "users.username".to_owned(),
            email: Some("users.email".to_owned()),
            password_hash: "users.password_hash".to_owned(),
            role: "users.role".to_owned(),
            tags: "users.tags".to_owned(),
            active: false,
            must_change_password: false,
            created_at: at,
            updated_at: at,
            last_login_at: Some(at),
            time_zone: Some("users.time_zone".to_owned()),
        },
    )
    .await;
    check::<sessions::Entity>(
        db,
        sessions::Model {
            id: "session-token-hash".to_owned(),
            user_id: 1,
            csrf_token: "sessions.csrf_token".to_owned(),
            created_at: at,
            expires_at: at,
            last_seen_at: at,
            ip: Some("sessions.ip".to_owned()),
            user_agent: Some("sessions.user_agent".to_owned()),
        },
    )
    .await;
    check::<api_tokens::Entity>(
        db,
        api_tokens::Model {
            id: 1,
            user_id: 1,
            name: "api_tokens.name".to_owned(),
            token_hash: "api_tokens.token_hash".to_owned(),
            created_at: at,
            expires_at: Some(at),
            last_used_at: Some(at),
            revoked_at: Some(at),
        },
    )
    .await;
    check::<login_attempts::Entity>(
        db,
        login_attempts::Model {
            id: 1,
            attempt_key: "login_attempts.attempt_key".to_owned(),
            attempted_at: at,
        },
    )
    .await;
    check::<audit_log::Entity>(
        db,
        audit_log::Model {
            id: 1,
            at,
            actor_id: Some(1),
            actor: "audit_log.actor".to_owned(),
            source: Some("audit_log.source".to_owned()),
            action: "audit_log.action".to_owned(),
            object_type: "audit_log.object_type".to_owned(),
            object_id: Some("audit_log.object_id".to_owned()),
            object_name: Some("audit_log.object_name".to_owned()),
            details: "audit_log.details".to_owned(),
        },
    )
    .await;
    check::<error_groups::Entity>(
        db,
        error_groups::Model {
            id: 1,
            tenant_id: 1,
            iflow_id: "error_groups.iflow_id".to_owned(),
            package_id: Some("error_groups.package_id".to_owned()),
            fingerprint: "error_groups.fingerprint".to_owned(),
            grouping_version: 32_000,
            rule_id: Some(5_000_000_002),
            title: "error_groups.title".to_owned(),
            template: "error_groups.template".to_owned(),
            sample_text: Some("error_groups.sample_text".to_owned()),
            sample_message_id: Some(5_000_000_003),
            state: "error_groups.state".to_owned(),
            state_changed_at: at,
            resolved_at: Some(at),
            resolve_mode: Some("error_groups.resolve_mode".to_owned()),
            resolved_deployed_at: Some(at),
            ignore_until: Some("error_groups.ignore_until".to_owned()),
            ignored_at: Some(at),
            ignored_occurrences: 5_000_000_004,
            total_occurrences: 5_000_000_005,
            first_seen: at,
            last_seen: at,
            merged_into: Some(5_000_000_006),
            created_at: at,
        },
    )
    .await;
    check::<error_group_hours::Entity>(
        db,
        error_group_hours::Model {
            group_id: 1,
            hour: at,
            count: 5_000_000_007,
        },
    )
    .await;
    check::<error_group_days::Entity>(
        db,
        error_group_days::Model {
            group_id: 1,
            day: at,
            count: 5_000_000_008,
        },
    )
    .await;
    check::<error_group_sums::Entity>(
        db,
        error_group_sums::Model {
            group_id: 1,
            window_hours: 720,
            tenant_id: 5_000_000_009,
            count: 5_000_000_010,
        },
    )
    .await;
    check::<error_group_sum_windows::Entity>(
        db,
        error_group_sum_windows::Model {
            window_hours: 168,
            start_hour: at,
        },
    )
    .await;
    check::<error_group_events::Entity>(
        db,
        error_group_events::Model {
            id: 1,
            group_id: 1,
            at,
            actor: "error_group_events.actor".to_owned(),
            action: "error_group_events.action".to_owned(),
            from_state: Some("error_group_events.from_state".to_owned()),
            to_state: Some("error_group_events.to_state".to_owned()),
            comment: Some("error_group_events.comment".to_owned()),
        },
    )
    .await;
    check::<error_rules::Entity>(
        db,
        error_rules::Model {
            id: 1,
            position: 2_000_000_000,
            iflow: Some("error_rules.iflow".to_owned()),
            package: Some("error_rules.package".to_owned()),
            status: Some("error_rules.status".to_owned()),
            text_glob: Some("error_rules.text_glob".to_owned()),
            text_regex: Some("error_rules.text_regex".to_owned()),
            fingerprint: "error_rules.fingerprint".to_owned(),
            title: Some("error_rules.title".to_owned()),
            created_by: "error_rules.created_by".to_owned(),
            created_at: at,
            updated_at: at,
        },
    )
    .await;
    check::<alert_rules::Entity>(
        db,
        alert_rules::Model {
            id: 1,
            name: "alert_rules.name".to_owned(),
            kind: "alert_rules.kind".to_owned(),
            spec: "alert_rules.spec".to_owned(),
            enabled: false,
            tenant: Some("alert_rules.tenant".to_owned()),
            created_at: at,
            updated_at: at,
            updated_by: Some("alert_rules.updated_by".to_owned()),
        },
    )
    .await;
    check::<alerts::Entity>(
        db,
        alerts::Model {
            id: 1,
            rule_id: 1,
            tenant_id: Some(1),
            identity: "alerts.identity".to_owned(),
            open_identity: Some("alerts.open_identity".to_owned()),
            labels: "alerts.labels".to_owned(),
            state: "alerts.state".to_owned(),
            severity: "alerts.severity".to_owned(),
            summary: "alerts.summary".to_owned(),
            started_at: at,
            firing_at: Some(at),
            last_seen_at: at,
            resolved_at: Some(at),
            recovering_since: Some(at),
            count: 5_000_000_009,
            value: 1.5,
            seen_key: Some("alerts.seen_key".to_owned()),
            ack_by: Some("alerts.ack_by".to_owned()),
            ack_at: Some(at),
            ack_comment: Some("alerts.ack_comment".to_owned()),
            ack_until: Some(at),
            assignee: Some("alerts.assignee".to_owned()),
            about: "alerts.about".to_owned(),
            muted_by: Some("alerts.muted_by".to_owned()),
            updated_at: at,
        },
    )
    .await;
    check::<alert_transitions::Entity>(
        db,
        alert_transitions::Model {
            id: 1,
            alert_id: 1,
            at,
            from_state: Some("alert_transitions.from_state".to_owned()),
            to_state: "alert_transitions.to_state".to_owned(),
            cause: "alert_transitions.cause".to_owned(),
            actor: "alert_transitions.actor".to_owned(),
        },
    )
    .await;
    check::<silences::Entity>(
        db,
        silences::Model {
            id: 1,
            name: "silences.name".to_owned(),
            matchers: "silences.matchers".to_owned(),
            starts_at: at,
            ends_at: at,
            created_by: "silences.created_by".to_owned(),
            comment: "silences.comment".to_owned(),
            expire_on_resolve: false,
            expired_at: Some(at),
            muted_any: false,
            created_at: at,
            updated_at: at,
        },
    )
    .await;
    check::<alert_evaluations::Entity>(
        db,
        alert_evaluations::Model {
            id: 1,
            tenant_id: 1,
            last_started_at: Some(at),
            last_finished_at: Some(at),
            duration_ms: Some(5_000_000_010),
            error: Some("alert_evaluations.error".to_owned()),
            cursor: "alert_evaluations.cursor".to_owned(),
            defaults_applied: false,
        },
    )
    .await;
    check::<object_labels::Entity>(
        db,
        object_labels::Model {
            id: 1,
            tenant_id: 1,
            object_type: "object_labels.object_type".to_owned(),
            object_id: "object_labels.object_id".to_owned(),
            name: "object_labels.name".to_owned(),
            value: "object_labels.value".to_owned(),
        },
    )
    .await;
    check::<tenant_jms_brokers::Entity>(
        db,
        tenant_jms_brokers::Model {
            id: 1,
            tenant_id: 1,
            has_jms: true,
            capacity: Some(i64::MAX),
            max_capacity: Some(9_751_756_800),
            queue_count: Some(16),
            max_queue_count: Some(30),
            queues_ok: Some(16),
            queues_warning: Some(0),
            queues_error: Some(0),
            transacted_sessions_high: Some(true),
            consumers_high: Some(false),
            producers_high: None,
            collected_at: at,
        },
    )
    .await;
    check::<tenant_data_stores::Entity>(
        db,
        tenant_data_stores::Model {
            id: 1,
            tenant_id: 1,
            name: "tenant_data_stores.name".to_owned(),
            iflow: "tenant_data_stores.iflow".to_owned(),
            store_type: "tenant_data_stores.store_type".to_owned(),
            visibility: Some("tenant_data_stores.visibility".to_owned()),
            messages: Some(i64::MAX),
            overdue: Some(3),
            collected_at: at,
        },
    )
    .await;
    let mut expected: Vec<String> = [
        tenants::Entity.table_name(),
        tenant_jobs::Entity.table_name(),
        sync_state::Entity.table_name(),
        message_logs::Entity.table_name(),
        message_errors::Entity.table_name(),
        message_detail_failures::Entity.table_name(),
        message_runs::Entity.table_name(),
        message_run_steps::Entity.table_name(),
        custom_header_properties::Entity.table_name(),
        adapter_attributes::Entity.table_name(),
        payloads::Entity.table_name(),
        attachments::Entity.table_name(),
        correlations::Entity.table_name(),
        packages::Entity.table_name(),
        design_artifacts::Entity.table_name(),
        artifact_versions::Entity.table_name(),
        runtime_artifacts::Entity.table_name(),
        keystore_entries::Entity.table_name(),
        job_runs::Entity.table_name(),
        job_firings::Entity.table_name(),
        message_counts::Entity.table_name(),
        archives::Entity.table_name(),
        metric_snapshots::Entity.table_name(),
        storage_snapshots::Entity.table_name(),
        users::Entity.table_name(),
        sessions::Entity.table_name(),
        api_tokens::Entity.table_name(),
        login_attempts::Entity.table_name(),
        audit_log::Entity.table_name(),
        error_groups::Entity.table_name(),
        error_group_hours::Entity.table_name(),
        error_group_days::Entity.table_name(),
        error_group_sums::Entity.table_name(),
        error_group_sum_windows::Entity.table_name(),
        error_group_events::Entity.table_name(),
        error_rules::Entity.table_name(),
        alert_rules::Entity.table_name(),
        alerts::Entity.table_name(),
        alert_transitions::Entity.table_name(),
        silences::Entity.table_name(),
        alert_evaluations::Entity.table_name(),
        object_labels::Entity.table_name(),
        tenant_jms_brokers::Entity.table_name(),
        tenant_data_stores::Entity.table_name(),
    ]
    .iter()
    .map(|t| (*t).to_owned())
    .collect();
    expected.sort();
    assert_eq!(
        db_tables(db).await,
        expected,
        "{backend:?}: every table has an entity and every entity a table"
    );

    // The header search as the store runs it: the indexed prefix, then the full value.
    let found = custom_header_properties::Entity::find()
        .filter(custom_header_properties::Column::TenantId.eq(1))
        .filter(custom_header_properties::Column::Name.eq("custom_header_properties.name"))
        .filter(
            custom_header_properties::Column::ValuePrefix
                .eq(custom_header_properties::value_prefix(&long_value)),
        )
        .filter(custom_header_properties::Column::Value.eq(long_value.as_str()))
        .all(db)
        .await
        .expect("header search");
    assert_eq!(found.len(), 1, "{backend:?}: header search");
    assert_eq!(
        custom_header_properties::value_prefix(&long_value)
            .chars()
            .count(),
        migration::HEADER_VALUE_PREFIX_CHARS as usize
    );

    // The relations resolve both ways.
    let with_runs = message_logs::Entity::find()
        .find_with_related(message_runs::Entity)
        .all(db)
        .await
        .expect("message with runs");
    assert_eq!(with_runs.len(), 1);
    assert_eq!(with_runs[0].1.len(), 1);
    let tenant = with_runs[0]
        .0
        .find_related(tenants::Entity)
        .one(db)
        .await
        .expect("tenant of message")
        .expect("tenant exists");
    assert_eq!(tenant.id, 1);
    let sessions = users::Entity::find()
        .find_with_related(sessions::Entity)
        .all(db)
        .await
        .expect("user with sessions");
    assert_eq!(sessions[0].1.len(), 1);
}

#[tokio::test]
async fn entities_match_schema_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("integramon.db");
    let db = connect(&format!("sqlite://{}?mode=rwc", path.display())).await;
    assert_eq!(db.get_database_backend(), DbBackend::Sqlite);
    entities_match(&db).await;
    db.close().await.expect("close");
}

#[tokio::test]
async fn entities_match_schema_on_postgres() {
    let admin_url = pg_admin_url();
    let admin = connect(&admin_url).await;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let name = format!("im_test_{}_{nanos}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_POSTGRES_URL ends with /<database>");
    let db = connect(&format!("{base}/{name}")).await;
    assert_eq!(db.get_database_backend(), DbBackend::Postgres);
    // A spawned task turns a panic into a JoinError, so the database is dropped either way.
    let outcome = tokio::spawn(async move {
        entities_match(&db).await;
        db.close().await.expect("close");
    })
    .await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
