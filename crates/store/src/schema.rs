//! Schema state: applying migrations (for `migrate` and tests only), listing their status, and the
//! gate every other daemon passes before it does any work.

use std::fmt;
use std::path::Path;

use chrono::Utc;
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use crate::connect::Db;
use crate::error::StoreError;
use crate::lock::MigrationLock;
use crate::marker::{self, Marker};

/// Why a daemon may or may not start work. Every variant but `Ready` is a reason to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateState {
    Ready {
        version: String,
    },
    NoMarker {
        path: String,
    },
    BadMarker(String),
    /// The marker was written for an older schema than this binary needs.
    StaleMarker {
        found: String,
        expected: String,
    },
    /// The marker names a migration this binary does not know: the binary is older than the
    /// schema (for example during a rolling upgrade) and must not touch it.
    UnknownSchema {
        found: String,
        expected: String,
    },
    Pending(Vec<String>),
    Unreachable(String),
}

impl GateState {
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }
}

impl fmt::Display for GateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready { version } => write!(f, "schema {version} is migrated"),
            Self::NoMarker { path } => write!(f, "no migration marker at {path} yet"),
            Self::BadMarker(e) => write!(f, "{e}"),
            Self::StaleMarker { found, expected } => write!(
                f,
                "stale migration marker: it names {found}, this binary needs {expected}"
            ),
            Self::UnknownSchema { found, expected } => write!(
                f,
                "the marker names {found}, which this binary does not know (its newest is \
                 {expected}); upgrade this binary"
            ),
            Self::Pending(list) => write!(
                f,
                "the database has {} pending migration(s): {}",
                list.len(),
                list.join(", ")
            ),
            Self::Unreachable(e) => write!(f, "{e}"),
        }
    }
}

/// The newest migration this binary knows: the schema version it needs.
pub fn expected_version<M: MigratorTrait>() -> Option<String> {
    M::migrations().last().map(|m| m.name().to_string())
}

/// Check the marker, then the database itself. Read-only: it never creates tables.
pub async fn check_gate<M: MigratorTrait>(db: &Db, marker_path: &Path) -> GateState {
    let expected = expected_version::<M>().unwrap_or_default();
    let found = match marker::read(marker_path) {
        Ok(Some(m)) => m.schema_version,
        Ok(None) => {
            return GateState::NoMarker {
                path: marker_path.display().to_string(),
            };
        }
        Err(e) => return GateState::BadMarker(e.to_string()),
    };
    if found != expected {
        let known = M::migrations().iter().any(|m| m.name() == found);
        return if known {
            GateState::StaleMarker { found, expected }
        } else {
            GateState::UnknownSchema { found, expected }
        };
    }
    if let Err(e) = db.ping().await {
        return GateState::Unreachable(e.to_string());
    }
    match M::get_pending_migrations_read_only(db.conn()).await {
        Ok(pending) if pending.is_empty() => GateState::Ready { version: found },
        Ok(pending) => GateState::Pending(pending.iter().map(|m| m.name().to_string()).collect()),
        Err(e) => GateState::Unreachable(format!("cannot read the migration table: {e}")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRow {
    pub name: String,
    pub applied: bool,
}

/// Every migration this binary knows, with whether the database has it.
pub async fn status<M: MigratorTrait>(db: &Db) -> Result<Vec<MigrationRow>, StoreError> {
    Ok(M::get_migration_with_status_read_only(db.conn())
        .await?
        .iter()
        .map(|m| MigrationRow {
            name: m.name().to_string(),
            applied: m.status() == MigrationStatus::Applied,
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: Vec<String>,
    pub marker: Marker,
}

/// Apply pending migrations under the cross-process lock, one at a time so a failure names its
/// migration, then write the marker. The marker is removed first and written only on success.
pub async fn apply<M: MigratorTrait>(
    db: &Db,
    marker_path: &Path,
    written_by: &str,
    mut on_event: impl FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, StoreError> {
    let lock = MigrationLock::acquire(db, || on_event(ApplyEvent::WaitingForLock)).await?;
    let result = apply_locked::<M>(db, marker_path, written_by, &mut on_event).await;
    lock.release().await?;
    result
}

pub enum ApplyEvent<'a> {
    WaitingForLock,
    Applying(&'a str),
    Applied(&'a str),
}

async fn apply_locked<M: MigratorTrait>(
    db: &Db,
    marker_path: &Path,
    written_by: &str,
    on_event: &mut impl FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, StoreError> {
    let pending: Vec<String> = M::get_pending_migrations(db.conn())
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    if !pending.is_empty() {
        marker::remove(marker_path)?;
    }
    let mut applied = Vec::new();
    for name in &pending {
        on_event(ApplyEvent::Applying(name));
        M::up(db.conn(), Some(1))
            .await
            .map_err(|e| StoreError::MigrationFailed {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        on_event(ApplyEvent::Applied(name));
        applied.push(name.clone());
    }
    let total = M::migrations().len();
    let marker = Marker {
        schema_version: expected_version::<M>().unwrap_or_default(),
        migrations_applied: total,
        written_at: Utc::now(),
        written_by: written_by.to_string(),
        database: format!("{} {}", db.backend().name(), db.settings().target()),
    };
    marker::write(marker_path, &marker)?;
    Ok(ApplyReport { applied, marker })
}
