//! Packages, design-time artifacts, runtime artifacts and keystore entries of a tenant, each
//! written as a whole set.
//!
//! Set semantics: the tenant is the source of truth, so rows missing from a new set are
//! **deleted** (no tombstones). What must outlive a deletion lives elsewhere: every content
//! hash ever seen stays in `artifact_versions` (not touched by set replacement), and alerts
//! keep their own copy of what they fired on. Sets are upserted by their CPI keys, so a row that
//! stays keeps its id and its deep-sync fields (`content_hash`, `hashed_at`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::artifact::{
    ArtifactVersion, DesignArtifact, DesignArtifactKind, Package, RuntimeArtifact, RuntimeStatus,
};
use domain::keystore::KeystoreEntry;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Value};

use super::{Bulk, Sql, clean, delete_in, get, opt, text};
use crate::connect::Db;
use crate::entity::{
    artifact_versions, design_artifacts, keystore_entries, packages, runtime_artifacts,
};
use crate::error::StoreError;

/// What a set replacement did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOutcome {
    pub inserted: u64,
    /// Rows present before and after (their fields refreshed, their ids kept).
    pub updated: u64,
    pub removed: u64,
}

/// Which rows a design-artifact set replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactScope<'a> {
    /// Every design artifact of the tenant.
    Tenant,
    /// Only the artifacts of one package (artifacts are listed per package; one package's
    /// failed listing must not wipe the others).
    Package(&'a str),
}

/// A table written as a set: `(tenant_id, key…)` is its unique key.
struct SetTable<'a> {
    table: &'a str,
    keys: &'a [&'a str],
    cols: &'a [&'a str],
}

/// One row: its key as text (for matching) and its values in `keys ++ cols` order.
struct SetRow {
    key: Vec<String>,
    values: Vec<Value>,
}

async fn replace_set<C: ConnectionTrait>(
    conn: &C,
    spec: &SetTable<'_>,
    tenant_id: i64,
    scope: Option<(&str, &str)>,
    rows: Vec<SetRow>,
    synced_at: DateTime<Utc>,
) -> Result<SetOutcome, DbErr> {
    let backend = conn.get_database_backend();
    // Last copy of a key wins; sorted by key so concurrent writers lock in one order.
    let mut unique: BTreeMap<Vec<String>, SetRow> = BTreeMap::new();
    for r in rows {
        unique.insert(r.key.clone(), r);
    }
    let rows: Vec<SetRow> = unique.into_values().collect();

    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT id, {} FROM {} WHERE tenant_id = ",
        spec.keys.join(", "),
        spec.table
    ))
    .bind(tenant_id);
    if let Some((col, value)) = scope {
        sql.push(&format!(" AND {col} = ")).bind(value);
    }
    let mut existing: HashMap<Vec<String>, i64> = HashMap::new();
    for row in conn.query_all_raw(sql.statement()).await? {
        let key = spec
            .keys
            .iter()
            .map(|k| get::<String>(&row, k))
            .collect::<Result<Vec<_>, _>>()?;
        existing.insert(key, get(&row, "id")?);
    }

    let mut out = SetOutcome::default();
    if !rows.is_empty() {
        let all: Vec<&str> = spec.keys.iter().chain(spec.cols).copied().collect();
        let head = format!(
            "INSERT INTO {} (tenant_id, {}, synced_at)",
            spec.table,
            all.join(", ")
        );
        let set: Vec<String> = spec
            .cols
            .iter()
            .chain(["synced_at"].iter())
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let tail = format!(
            "ON CONFLICT (tenant_id, {}) DO UPDATE SET {}",
            spec.keys.join(", "),
            set.join(", ")
        );
        let bulk = Bulk {
            head: &head,
            tail: &tail,
            shared: vec![Value::from(tenant_id), Value::from(synced_at)],
        };
        for stmt in bulk.statements(backend, &rows, |t, r| {
            t.shared(0);
            for v in &r.values {
                t.bind(v.clone());
            }
            t.shared(1);
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    let keep: HashSet<&Vec<String>> = rows.iter().map(|r| &r.key).collect();
    let mut stale = Vec::new();
    for (key, id) in &existing {
        if keep.contains(key) {
            out.updated += 1;
        } else {
            stale.push(*id);
        }
    }
    out.inserted = rows.len() as u64 - out.updated;
    out.removed = delete_in(conn, spec.table, "id", &stale).await?;
    Ok(out)
}

const PACKAGES: SetTable<'static> = SetTable {
    table: "packages",
    keys: &["package_id"],
    cols: &[
        "name",
        "description",
        "short_text",
        "version",
        "vendor",
        "mode",
        "supported_platform",
        "created_by",
        "created_at_cpi",
        "modified_by",
        "modified_at_cpi",
    ],
};

/// Replace a tenant's packages. Design artifacts of packages that are gone are removed too.
pub async fn replace_packages(
    db: &Db,
    tenant_id: i64,
    list: &[Package],
    synced_at: DateTime<Utc>,
) -> Result<SetOutcome, StoreError> {
    let rows = list
        .iter()
        .map(|p| SetRow {
            key: vec![clean(&p.package_id)],
            values: vec![
                text(Some(&p.package_id)),
                text(p.name.as_deref()),
                text(p.description.as_deref()),
                text(p.short_text.as_deref()),
                text(p.version.as_deref()),
                text(p.vendor.as_deref()),
                text(p.mode.as_deref()),
                text(p.supported_platform.as_deref()),
                text(p.created_by.as_deref()),
                opt(p.created_at),
                text(p.modified_by.as_deref()),
                opt(p.modified_at),
            ],
        })
        .collect();
    let txn = db.begin_write().await?;
    let out = replace_set(&txn, &PACKAGES, tenant_id, None, rows, synced_at).await?;
    let kept: HashSet<String> = list.iter().map(|p| clean(&p.package_id)).collect();
    let orphans: Vec<i64> = design_artifacts::Entity::find()
        .filter(design_artifacts::Column::TenantId.eq(tenant_id))
        .filter(design_artifacts::Column::PackageId.is_not_null())
        .all(&txn)
        .await?
        .into_iter()
        .filter(|a| a.package_id.as_ref().is_some_and(|p| !kept.contains(p)))
        .map(|a| a.id)
        .collect();
    delete_in(&txn, "design_artifacts", "id", &orphans).await?;
    txn.commit().await?;
    Ok(out)
}

const DESIGN_ARTIFACTS: SetTable<'static> = SetTable {
    table: "design_artifacts",
    keys: &["artifact_type", "artifact_id"],
    cols: &[
        "package_id",
        "version",
        "name",
        "description",
        "created_by",
        "created_at_cpi",
        "modified_by",
        "modified_at_cpi",
    ],
};

/// Replace a tenant's design-time artifacts, all of them or one package's. Content hashes
/// written by [`record_artifact_version`] stay with artifacts that remain.
pub async fn replace_design_artifacts(
    db: &Db,
    tenant_id: i64,
    scope: ArtifactScope<'_>,
    list: &[DesignArtifact],
    synced_at: DateTime<Utc>,
) -> Result<SetOutcome, StoreError> {
    let rows = list
        .iter()
        .map(|a| SetRow {
            key: vec![clean(a.kind.as_str()), clean(&a.artifact_id)],
            values: vec![
                text(Some(a.kind.as_str())),
                text(Some(&a.artifact_id)),
                text(a.package_id.as_deref()),
                text(a.version.as_deref()),
                text(a.name.as_deref()),
                text(a.description.as_deref()),
                text(a.created_by.as_deref()),
                opt(a.created_at),
                text(a.modified_by.as_deref()),
                opt(a.modified_at),
            ],
        })
        .collect();
    let scope = match scope {
        ArtifactScope::Tenant => None,
        ArtifactScope::Package(p) => Some(("package_id", p)),
    };
    let txn = db.begin_write().await?;
    let out = replace_set(&txn, &DESIGN_ARTIFACTS, tenant_id, scope, rows, synced_at).await?;
    txn.commit().await?;
    Ok(out)
}

const RUNTIME_ARTIFACTS: SetTable<'static> = SetTable {
    table: "runtime_artifacts",
    keys: &["artifact_id"],
    cols: &[
        "version",
        "name",
        "artifact_type",
        "deployed_by",
        "deployed_at",
        "status",
        "error_text",
    ],
};

/// Replace a tenant's deployed artifacts. An undeployed artifact disappears from the set.
pub async fn replace_runtime_artifacts(
    db: &Db,
    tenant_id: i64,
    list: &[RuntimeArtifact],
    synced_at: DateTime<Utc>,
) -> Result<SetOutcome, StoreError> {
    let rows = list
        .iter()
        .map(|a| SetRow {
            key: vec![clean(&a.artifact_id)],
            values: vec![
                text(Some(&a.artifact_id)),
                text(a.version.as_deref()),
                text(a.name.as_deref()),
                text(a.artifact_type.as_deref()),
                text(a.deployed_by.as_deref()),
                opt(a.deployed_at),
                text(a.status.as_ref().map(RuntimeStatus::as_str)),
                text(a.error_text.as_deref()),
            ],
        })
        .collect();
    let txn = db.begin_write().await?;
    let out = replace_set(&txn, &RUNTIME_ARTIFACTS, tenant_id, None, rows, synced_at).await?;
    txn.commit().await?;
    Ok(out)
}

const KEYSTORE: SetTable<'static> = SetTable {
    table: "keystore_entries",
    keys: &["alias"],
    cols: &[
        "hex_alias",
        "entry_type",
        "owner",
        "key_type",
        "key_size",
        "valid_not_before",
        "valid_not_after",
        "subject_dn",
        "issuer_dn",
        "serial_number",
        "signature_algorithm",
        "fingerprint_sha256",
        "last_modified_by",
        "last_modified_at",
    ],
};

/// Replace a tenant's keystore entries.
pub async fn replace_keystore(
    db: &Db,
    tenant_id: i64,
    list: &[KeystoreEntry],
    synced_at: DateTime<Utc>,
) -> Result<SetOutcome, StoreError> {
    let rows = list
        .iter()
        .map(|e| SetRow {
            key: vec![clean(&e.alias)],
            values: vec![
                text(Some(&e.alias)),
                text(Some(&e.hex_alias)),
                text(e.entry_type.as_deref()),
                text(e.owner.as_deref()),
                text(e.key_type.as_deref()),
                opt(e.key_size),
                opt(e.valid_not_before),
                opt(e.valid_not_after),
                text(e.subject_dn.as_deref()),
                text(e.issuer_dn.as_deref()),
                text(e.serial_number.as_deref()),
                text(e.signature_algorithm.as_deref()),
                text(e.fingerprint_sha256.as_deref()),
                text(e.last_modified_by.as_deref()),
                opt(e.last_modified_at),
            ],
        })
        .collect();
    let txn = db.begin_write().await?;
    let out = replace_set(&txn, &KEYSTORE, tenant_id, None, rows, synced_at).await?;
    txn.commit().await?;
    Ok(out)
}

/// What [`record_artifact_version`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionOutcome {
    /// This (version, hash) pair was never seen before for the artifact.
    pub new_content: bool,
    /// The design artifact's hash before this call (`None`: never hashed, or no such row).
    pub previous_hash: Option<String>,
}

impl VersionOutcome {
    /// The content differs from the last hash recorded on the artifact.
    pub fn changed(&self, hash: &str) -> bool {
        self.previous_hash.as_deref().is_some_and(|p| p != hash)
    }
}

/// Record a downloaded artifact content: remember the (version, hash) pair in
/// `artifact_versions` (once; repeats change nothing) and put the hash on the design artifact
/// row if there is one.
pub async fn record_artifact_version(
    db: &Db,
    tenant_id: i64,
    v: &ArtifactVersion,
    at: DateTime<Utc>,
) -> Result<VersionOutcome, StoreError> {
    let txn = db.begin_write().await?;
    let previous_hash = design_artifacts::Entity::find()
        .filter(design_artifacts::Column::TenantId.eq(tenant_id))
        .filter(design_artifacts::Column::ArtifactType.eq(v.kind.as_str()))
        .filter(design_artifacts::Column::ArtifactId.eq(v.artifact_id.as_str()))
        .one(&txn)
        .await?
        .and_then(|a| a.content_hash);
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(
        "INSERT INTO artifact_versions (tenant_id, artifact_id, artifact_type, version, \
         content_hash, content_size, first_seen_at) VALUES ",
    )
    .tuple(|t| {
        t.bind(tenant_id)
            .bind(clean(&v.artifact_id))
            .bind(clean(v.kind.as_str()))
            .bind(clean(&v.version))
            .bind(clean(&v.content_hash))
            .bind(v.content_size)
            .bind(at);
    })
    .push(" ON CONFLICT (tenant_id, artifact_type, artifact_id, version, content_hash) DO NOTHING");
    let new_content = txn.execute_raw(sql.statement()).await?.rows_affected() == 1;

    let mut sql = Sql::new(backend);
    sql.push("UPDATE design_artifacts SET content_hash = ")
        .bind(clean(&v.content_hash))
        .push(", content_size = ")
        .bind(v.content_size)
        .push(", hashed_at = ")
        .bind(at)
        .push(" WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND artifact_type = ")
        .bind(clean(v.kind.as_str()))
        .push(" AND artifact_id = ")
        .bind(clean(&v.artifact_id));
    txn.execute_raw(sql.statement()).await?;
    txn.commit().await?;
    Ok(VersionOutcome {
        new_content,
        previous_hash,
    })
}

/// Every content version seen for an artifact, oldest first.
pub async fn artifact_versions(
    db: &Db,
    tenant_id: i64,
    kind: &DesignArtifactKind,
    artifact_id: &str,
) -> Result<Vec<ArtifactVersion>, StoreError> {
    let rows = artifact_versions::Entity::find()
        .filter(artifact_versions::Column::TenantId.eq(tenant_id))
        .filter(artifact_versions::Column::ArtifactType.eq(kind.as_str()))
        .filter(artifact_versions::Column::ArtifactId.eq(artifact_id))
        .order_by_asc(artifact_versions::Column::FirstSeenAt)
        .order_by_asc(artifact_versions::Column::Id)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ArtifactVersion {
            artifact_id: r.artifact_id,
            kind: DesignArtifactKind::parse(&r.artifact_type),
            version: r.version,
            content_hash: r.content_hash,
            content_size: r.content_size,
        })
        .collect())
}

pub async fn list_packages(db: &Db, tenant_id: i64) -> Result<Vec<Package>, StoreError> {
    let rows = packages::Entity::find()
        .filter(packages::Column::TenantId.eq(tenant_id))
        .order_by_asc(packages::Column::PackageId)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Package {
            package_id: r.package_id,
            name: r.name,
            description: r.description,
            short_text: r.short_text,
            version: r.version,
            vendor: r.vendor,
            mode: r.mode,
            supported_platform: r.supported_platform,
            created_by: r.created_by,
            created_at: r.created_at_cpi,
            modified_by: r.modified_by,
            modified_at: r.modified_at_cpi,
        })
        .collect())
}

/// A design artifact with what the deep sync recorded on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDesignArtifact {
    pub artifact: DesignArtifact,
    pub content_hash: Option<String>,
    pub content_size: Option<i64>,
    pub hashed_at: Option<DateTime<Utc>>,
}

pub async fn list_design_artifacts(
    db: &Db,
    tenant_id: i64,
) -> Result<Vec<StoredDesignArtifact>, StoreError> {
    let rows = design_artifacts::Entity::find()
        .filter(design_artifacts::Column::TenantId.eq(tenant_id))
        .order_by_asc(design_artifacts::Column::ArtifactType)
        .order_by_asc(design_artifacts::Column::ArtifactId)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredDesignArtifact {
            artifact: DesignArtifact {
                artifact_id: r.artifact_id,
                kind: DesignArtifactKind::parse(&r.artifact_type),
                package_id: r.package_id,
                version: r.version,
                name: r.name,
                description: r.description,
                created_by: r.created_by,
                created_at: r.created_at_cpi,
                modified_by: r.modified_by,
                modified_at: r.modified_at_cpi,
            },
            content_hash: r.content_hash,
            content_size: r.content_size,
            hashed_at: r.hashed_at,
        })
        .collect())
}

pub async fn list_runtime_artifacts(
    db: &Db,
    tenant_id: i64,
) -> Result<Vec<RuntimeArtifact>, StoreError> {
    let rows = runtime_artifacts::Entity::find()
        .filter(runtime_artifacts::Column::TenantId.eq(tenant_id))
        .order_by_asc(runtime_artifacts::Column::ArtifactId)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| RuntimeArtifact {
            artifact_id: r.artifact_id,
            version: r.version,
            name: r.name,
            artifact_type: r.artifact_type,
            deployed_by: r.deployed_by,
            deployed_at: r.deployed_at,
            status: r.status.as_deref().map(RuntimeStatus::parse),
            error_text: r.error_text,
        })
        .collect())
}

pub async fn list_keystore(db: &Db, tenant_id: i64) -> Result<Vec<KeystoreEntry>, StoreError> {
    let rows = keystore_entries::Entity::find()
        .filter(keystore_entries::Column::TenantId.eq(tenant_id))
        .order_by_asc(keystore_entries::Column::Alias)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeystoreEntry {
            alias: r.alias,
            hex_alias: r.hex_alias,
            entry_type: r.entry_type,
            owner: r.owner,
            key_type: r.key_type,
            key_size: r.key_size,
            valid_not_before: r.valid_not_before,
            valid_not_after: r.valid_not_after,
            subject_dn: r.subject_dn,
            issuer_dn: r.issuer_dn,
            serial_number: r.serial_number,
            signature_algorithm: r.signature_algorithm,
            fingerprint_sha256: r.fingerprint_sha256,
            last_modified_by: r.last_modified_by,
            last_modified_at: r.last_modified_at,
        })
        .collect())
}
