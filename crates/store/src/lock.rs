//! A cross-process lock around migrations, so two `migrate` runs at once never interleave. On
//! PostgreSQL it is a transaction-scoped advisory lock (it works across hosts and is released if
//! the holder dies); on SQLite an exclusive lock on a file beside the database.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::connect::Db;
use crate::error::StoreError;
use crate::settings::Backend;

/// Advisory lock key: "IMMIGRAT" in ASCII, so it is recognisable in `pg_locks`.
const PG_LOCK_KEY: i64 = 0x494D_4D49_4752_4154;

pub struct MigrationLock {
    inner: Inner,
}

enum Inner {
    File(#[allow(dead_code)] std::fs::File),
    Postgres(DatabaseTransaction),
}

impl MigrationLock {
    /// Block until the lock is ours. `on_wait` is called (about every few seconds) while another
    /// process holds it.
    pub async fn acquire(db: &Db, mut on_wait: impl FnMut()) -> Result<Self, StoreError> {
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(200);
        match db.backend() {
            Backend::Sqlite => {
                let mut path = db.settings().sqlite_path.clone().into_os_string();
                path.push(".migrate-lock");
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(StoreError::io(format!(
                        "opening the migration lock file {}",
                        path.display()
                    )))?;
                loop {
                    match file.try_lock() {
                        Ok(()) => {
                            return Ok(Self {
                                inner: Inner::File(file),
                            });
                        }
                        Err(std::fs::TryLockError::WouldBlock) => {}
                        Err(std::fs::TryLockError::Error(source)) => {
                            return Err(StoreError::Io {
                                what: "locking the migration lock file".into(),
                                source,
                            });
                        }
                    }
                    tick(&mut waited, step, &mut on_wait).await;
                }
            }
            Backend::Postgres { .. } => loop {
                let txn = db.conn().begin().await?;
                let row = txn
                    .query_one_raw(sea_orm::Statement::from_string(
                        txn.get_database_backend(),
                        format!("SELECT pg_try_advisory_xact_lock({PG_LOCK_KEY}) AS locked"),
                    ))
                    .await?;
                let locked: bool = match row {
                    Some(row) => row.try_get("", "locked")?,
                    None => false,
                };
                if locked {
                    return Ok(Self {
                        inner: Inner::Postgres(txn),
                    });
                }
                txn.rollback().await?;
                tick(&mut waited, step, &mut on_wait).await;
            },
        }
    }

    pub async fn release(self) -> Result<(), StoreError> {
        match self.inner {
            Inner::File(_) => Ok(()),
            Inner::Postgres(txn) => Ok(txn.commit().await?),
        }
    }
}

async fn tick(waited: &mut Duration, step: Duration, on_wait: &mut impl FnMut()) {
    if waited.as_millis() % 5000 < step.as_millis() {
        on_wait();
    }
    tokio::time::sleep(step).await;
    *waited += step;
}
