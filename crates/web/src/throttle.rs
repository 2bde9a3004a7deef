//! The sign-in throttle and the bound on concurrent password hashes.
//!
//! Every password check (sign-in, password change) first takes one of `WEB_PASSWORD_HASHES`
//! hashing slots (argon2id holds 19 MiB while it runs; when all slots are busy the caller gets
//! 503 with `Retry-After` at once instead of a queue of hashes), then reserves the attempt in
//! the database for the caller's address and the user name (`store::repo::login_attempts`), so
//! all web replicas share one count. Only then is the password verified. After
//! `WEB_LOGIN_MAX_FAILURES` failures within `WEB_LOGIN_WINDOW_SECS` for either key, further
//! attempts get 429 with `Retry-After`. A success clears the user name's failures.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use store::Db;
use store::repo::login_attempts::{self, Reservation};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

/// Seconds a caller is asked to wait when every hashing slot is busy.
const BUSY_RETRY_SECS: u64 = 1;

pub struct Throttle {
    max: u32,
    window: chrono::Duration,
    hashes: Arc<Semaphore>,
}

/// Why an attempt may not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures for the address or the user name: wait this many seconds.
    TooMany(u64),
    /// Every hashing slot is busy: wait this many seconds.
    Busy(u64),
    /// The database did not answer.
    Unavailable,
}

impl From<Refused> for AppError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::TooMany(secs) => AppError::TooMany(secs),
            Refused::Busy(secs) => AppError::Busy(secs),
            Refused::Unavailable => {
                AppError::Unavailable("the database did not answer; try again".into())
            }
        }
    }
}

/// A reserved attempt holding a hashing slot; verify the password while it lives.
pub struct Attempt {
    ids: Vec<i64>,
    user_key: String,
    _slot: OwnedSemaphorePermit,
}

/// The throttle's key for a user name.
pub fn user_key(name: &str) -> String {
    format!("user:{}", name.trim().to_lowercase())
}

/// The throttle's key for a caller's address.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl Throttle {
    pub fn new(max: u32, window: Duration, hash_slots: usize) -> Self {
        Self {
            max: max.max(1),
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(5)),
            hashes: Arc::new(Semaphore::new(hash_slots.max(1))),
        }
    }

    /// A hashing slot for work of a signed-in admin (creating a user, resetting a password):
    /// waits for a free slot rather than refusing.
    pub async fn hash_slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.hashes
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::Internal)
    }

    /// Take a hashing slot and reserve an attempt for the caller's address and `user`.
    pub async fn begin(&self, db: &Db, ip: &str, user: &str) -> Result<Attempt, Refused> {
        let slot = self
            .hashes
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy(BUSY_RETRY_SECS))?;
        let user_key = user_key(user);
        let keys = [ip_key(ip), user_key.clone()];
        match login_attempts::reserve(db, &keys, self.max, self.window, Utc::now()).await {
            Ok(Reservation::Granted(ids)) => Ok(Attempt {
                ids,
                user_key,
                _slot: slot,
            }),
            Ok(Reservation::Refused(secs)) => Err(Refused::TooMany(secs)),
            Err(e) => {
                tracing::warn!("reserving a sign-in attempt: {e}");
                Err(Refused::Unavailable)
            }
        }
    }
}

impl Attempt {
    /// The password was right: release the reservation and the user name's failures. A failed
    /// attempt needs nothing: its reservation stays as the failure.
    pub async fn succeeded(self, db: &Db) {
        if let Err(e) = login_attempts::release(db, &self.ids, &self.user_key).await {
            tracing::warn!("clearing sign-in failures: {e}");
        }
    }
}
