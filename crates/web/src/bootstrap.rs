//! The first admin: `integramon user create --admin`, or `WEB_ADMIN_USER`/`WEB_ADMIN_PASSWORD`
//! when no user exists yet. There is no default password.

use domain::user::{self, Role, User};
use store::Db;
use store::repo::users;

use crate::auth;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{0}")]
    Invalid(String),
    #[error("a user named {0:?} exists already")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("could not hash the password")]
    Hash,
}

/// Create a user with a password (hashed here).
pub async fn create_user(
    db: &Db,
    username: &str,
    password: &str,
    role: Role,
    must_change_password: bool,
) -> Result<User, BootstrapError> {
    user::validate_username("username", username)
        .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    user::validate_password("password", password, username)
        .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let hash = auth::hash_password(password)
        .await
        .map_err(|_| BootstrapError::Hash)?;
    users::create(
        db,
        &users::NewUser {
            username: username.into(),
            email: None,
            password_hash: hash,
            role,
            groups: vec![],
            must_change_password,
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            BootstrapError::Exists(username.into())
        } else {
            e.into()
        }
    })
}

/// `WEB_ADMIN_USER`/`WEB_ADMIN_PASSWORD`: only while there is no user at all, so a changed
/// password is never reset by a restart.
pub async fn admin_from_settings(db: &Db, username: &str, password: &str) -> anyhow::Result<()> {
    if users::count(db).await? > 0 {
        return Ok(());
    }
    match create_user(db, username, password, Role::Admin, false).await {
        Ok(u) => {
            tracing::info!(user = %u.username, "created the first admin from WEB_ADMIN_USER");
            Ok(())
        }
        // Another web replica created it first.
        Err(BootstrapError::Exists(_)) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("WEB_ADMIN_USER: {e}")),
    }
}

/// `WEB_ADMIN_GENERATE=true` (compose): while no user exists and no `WEB_ADMIN_USER` is given,
/// the user `admin` with a generated password, printed once to standard output (the container's
/// log) as `integramon up` does; it must be changed at the first sign-in. `Some(password)` when
/// this process created it (another web replica may have been first).
pub async fn generated_admin(db: &Db) -> anyhow::Result<Option<String>> {
    if users::count(db).await? > 0 {
        return Ok(None);
    }
    let password = auth::random_secret(15);
    match create_user(db, "admin", &password, Role::Admin, true).await {
        Ok(_) => {
            tracing::info!("no user existed: created the admin \"admin\" (password printed once)");
            println!(
                "Sign in as \"admin\" with the password {password} (shown once; you will be \
                 asked to change it)."
            );
            Ok(Some(password))
        }
        Err(BootstrapError::Exists(_)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("creating the first admin: {e}")),
    }
}
