//! Integration packages, design-time artifacts and their content versions, runtime (deployed)
//! artifacts, and keystore entries.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, index, pk, ref_id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Packages {
    Table,
    Id,
    TenantId,
    PackageId,
    Name,
    Description,
    ShortText,
    Version,
    Vendor,
    Mode,
    SupportedPlatform,
    CreatedBy,
    CreatedAtCpi,
    ModifiedBy,
    ModifiedAtCpi,
    SyncedAt,
}

#[derive(DeriveIden)]
enum DesignArtifacts {
    Table,
    Id,
    TenantId,
    PackageId,
    ArtifactId,
    ArtifactType,
    Version,
    Name,
    Description,
    CreatedBy,
    CreatedAtCpi,
    ModifiedBy,
    ModifiedAtCpi,
    ContentHash,
    ContentSize,
    HashedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum ArtifactVersions {
    Table,
    Id,
    TenantId,
    ArtifactId,
    ArtifactType,
    Version,
    ContentHash,
    ContentSize,
    FirstSeenAt,
}

#[derive(DeriveIden)]
enum RuntimeArtifacts {
    Table,
    Id,
    TenantId,
    ArtifactId,
    Version,
    Name,
    ArtifactType,
    DeployedBy,
    DeployedAt,
    Status,
    ErrorText,
    SyncedAt,
}

#[derive(DeriveIden)]
enum KeystoreEntries {
    Table,
    Id,
    TenantId,
    Alias,
    HexAlias,
    EntryType,
    Owner,
    KeyType,
    KeySize,
    ValidNotBefore,
    ValidNotAfter,
    SubjectDn,
    IssuerDn,
    SerialNumber,
    SignatureAlgorithm,
    FingerprintSha256,
    LastModifiedBy,
    LastModifiedAt,
    SyncedAt,
}

fn tenant_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    fk_cascade(name, (table, col), (Tenants::Table, Tenants::Id))
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        // `*_at_cpi` are the tenant's own timestamps; `synced_at` is when we last saw the row.
        Table::create()
            .table(Packages::Table)
            .col(pk(Packages::Id))
            .col(ref_id(Packages::TenantId))
            .col(string(Packages::PackageId))
            .col(string_null(Packages::Name))
            // HTML, can be long.
            .col(text_null(Packages::Description))
            .col(text_null(Packages::ShortText))
            .col(string_null(Packages::Version))
            .col(string_null(Packages::Vendor))
            .col(string_null(Packages::Mode))
            .col(string_null(Packages::SupportedPlatform))
            .col(string_null(Packages::CreatedBy))
            .col(timestamp_with_time_zone_null(Packages::CreatedAtCpi))
            .col(string_null(Packages::ModifiedBy))
            .col(timestamp_with_time_zone_null(Packages::ModifiedAtCpi))
            .col(timestamp_with_time_zone(Packages::SyncedAt))
            .foreign_key(&mut tenant_fk(
                "fk_packages_tenant_id",
                Packages::Table,
                Packages::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(DesignArtifacts::Table)
            .col(pk(DesignArtifacts::Id))
            .col(ref_id(DesignArtifacts::TenantId))
            // CPI package id (packages.package_id), not our key: artifacts arrive per package
            // and a package may be re-created under the same id.
            .col(string_null(DesignArtifacts::PackageId))
            .col(string(DesignArtifacts::ArtifactId))
            // 'IntegrationFlow' | 'ValueMapping' | 'MessageMapping' | 'ScriptCollection' | …
            .col(string(DesignArtifacts::ArtifactType))
            .col(string_null(DesignArtifacts::Version))
            .col(string_null(DesignArtifacts::Name))
            .col(text_null(DesignArtifacts::Description))
            .col(string_null(DesignArtifacts::CreatedBy))
            .col(timestamp_with_time_zone_null(DesignArtifacts::CreatedAtCpi))
            .col(string_null(DesignArtifacts::ModifiedBy))
            .col(timestamp_with_time_zone_null(
                DesignArtifacts::ModifiedAtCpi,
            ))
            // Hex SHA-256 of the downloaded content (deep sync).
            .col(string_null(DesignArtifacts::ContentHash))
            .col(big_integer_null(DesignArtifacts::ContentSize))
            .col(timestamp_with_time_zone_null(DesignArtifacts::HashedAt))
            .col(timestamp_with_time_zone(DesignArtifacts::SyncedAt))
            .foreign_key(&mut tenant_fk(
                "fk_design_artifacts_tenant_id",
                DesignArtifacts::Table,
                DesignArtifacts::TenantId,
            ))
            .to_owned(),
        // Every distinct content seen per artifact version; a hash change under the same
        // version is an edit that was not versioned. All key columns are NOT NULL because
        // NULLs never collide in a unique index, which would break idempotent upserts.
        Table::create()
            .table(ArtifactVersions::Table)
            .col(pk(ArtifactVersions::Id))
            .col(ref_id(ArtifactVersions::TenantId))
            .col(string(ArtifactVersions::ArtifactId))
            .col(string(ArtifactVersions::ArtifactType))
            .col(string(ArtifactVersions::Version))
            .col(string(ArtifactVersions::ContentHash))
            .col(big_integer_null(ArtifactVersions::ContentSize))
            .col(timestamp_with_time_zone(ArtifactVersions::FirstSeenAt))
            .foreign_key(&mut tenant_fk(
                "fk_artifact_versions_tenant_id",
                ArtifactVersions::Table,
                ArtifactVersions::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(RuntimeArtifacts::Table)
            .col(pk(RuntimeArtifacts::Id))
            .col(ref_id(RuntimeArtifacts::TenantId))
            .col(string(RuntimeArtifacts::ArtifactId))
            .col(string_null(RuntimeArtifacts::Version))
            .col(string_null(RuntimeArtifacts::Name))
            .col(string_null(RuntimeArtifacts::ArtifactType))
            .col(string_null(RuntimeArtifacts::DeployedBy))
            .col(timestamp_with_time_zone_null(RuntimeArtifacts::DeployedAt))
            // 'STARTED' | 'ERROR' | 'STARTING' | …
            .col(string_null(RuntimeArtifacts::Status))
            // ErrorInformation/$value (JSON text from CPI).
            .col(text_null(RuntimeArtifacts::ErrorText))
            .col(timestamp_with_time_zone(RuntimeArtifacts::SyncedAt))
            .foreign_key(&mut tenant_fk(
                "fk_runtime_artifacts_tenant_id",
                RuntimeArtifacts::Table,
                RuntimeArtifacts::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(KeystoreEntries::Table)
            .col(pk(KeystoreEntries::Id))
            .col(ref_id(KeystoreEntries::TenantId))
            .col(string(KeystoreEntries::Alias))
            // Hexalias, CPI's key for the entry.
            .col(string(KeystoreEntries::HexAlias))
            // 'Certificate' | 'Key Pair' | …
            .col(string_null(KeystoreEntries::EntryType))
            .col(string_null(KeystoreEntries::Owner))
            .col(string_null(KeystoreEntries::KeyType))
            .col(integer_null(KeystoreEntries::KeySize))
            .col(timestamp_with_time_zone_null(
                KeystoreEntries::ValidNotBefore,
            ))
            .col(timestamp_with_time_zone_null(
                KeystoreEntries::ValidNotAfter,
            ))
            .col(text_null(KeystoreEntries::SubjectDn))
            .col(text_null(KeystoreEntries::IssuerDn))
            .col(string_null(KeystoreEntries::SerialNumber))
            .col(string_null(KeystoreEntries::SignatureAlgorithm))
            .col(string_null(KeystoreEntries::FingerprintSha256))
            .col(string_null(KeystoreEntries::LastModifiedBy))
            .col(timestamp_with_time_zone_null(
                KeystoreEntries::LastModifiedAt,
            ))
            .col(timestamp_with_time_zone(KeystoreEntries::SyncedAt))
            .foreign_key(&mut tenant_fk(
                "fk_keystore_entries_tenant_id",
                KeystoreEntries::Table,
                KeystoreEntries::TenantId,
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(
            "uq_packages_tenant_id_package_id",
            Packages::Table,
            [Packages::TenantId, Packages::PackageId],
        ),
        unique(
            "uq_design_artifacts_tenant_id_artifact_type_artifact_id",
            DesignArtifacts::Table,
            [
                DesignArtifacts::TenantId,
                DesignArtifacts::ArtifactType,
                DesignArtifacts::ArtifactId,
            ],
        ),
        // The package page lists its artifacts.
        index(
            "idx_design_artifacts_tenant_id_package_id",
            DesignArtifacts::Table,
            [DesignArtifacts::TenantId, DesignArtifacts::PackageId],
        ),
        // Full column list abbreviated: PostgreSQL cuts identifiers at 63 bytes.
        unique(
            "uq_artifact_versions_tenant_type_artifact_version_hash",
            ArtifactVersions::Table,
            [
                ArtifactVersions::TenantId,
                ArtifactVersions::ArtifactType,
                ArtifactVersions::ArtifactId,
                ArtifactVersions::Version,
                ArtifactVersions::ContentHash,
            ],
        ),
        unique(
            "uq_runtime_artifacts_tenant_id_artifact_id",
            RuntimeArtifacts::Table,
            [RuntimeArtifacts::TenantId, RuntimeArtifacts::ArtifactId],
        ),
        index(
            "idx_runtime_artifacts_tenant_id_status",
            RuntimeArtifacts::Table,
            [RuntimeArtifacts::TenantId, RuntimeArtifacts::Status],
        ),
        unique(
            "uq_keystore_entries_tenant_id_alias",
            KeystoreEntries::Table,
            [KeystoreEntries::TenantId, KeystoreEntries::Alias],
        ),
        index(
            "idx_keystore_entries_tenant_id_valid_not_after",
            KeystoreEntries::Table,
            [KeystoreEntries::TenantId, KeystoreEntries::ValidNotAfter],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite runs DDL in transactions too, so a failed migration leaves nothing half applied.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            [
                KeystoreEntries::Table.into_iden(),
                RuntimeArtifacts::Table.into_iden(),
                ArtifactVersions::Table.into_iden(),
                DesignArtifacts::Table.into_iden(),
                Packages::Table.into_iden(),
            ],
        )
        .await
    }
}
