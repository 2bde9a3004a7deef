//! Who may reach the internal cluster. Its socket directory is private to the cluster's OS user
//! (0700, socket 0700), the superuser signs in over the socket only by peer authentication as
//! that OS user (or root), every other role with a SCRAM password, and TCP always needs one.
//! Rewritten at every start, so a cluster made by an older version (socket trusted for every
//! local user) is closed too. The application role's password, when `DB_PASSWORD` is not given,
//! is generated once into a file of the data directory that every process of the installation
//! reads.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;

use crate::error::StoreError;

use super::LocalCluster;

/// The pg_ident.conf map that lets the cluster's OS user (and root) in as the superuser.
const MAP: &str = "integramon_owner";

/// Where the generated application password lives: `${DATA_DIR}/postgres.password`.
pub fn password_file(data_dir: &Path) -> PathBuf {
    data_dir.join("postgres.password")
}

/// The password of `DB_USER` for `DB_LOCAL=true` without `DB_PASSWORD`: read from
/// [`password_file`], created (mode 0600, 32 random bytes) on first use. Two processes starting
/// at once agree: one creates, the other reads.
pub fn load_or_create_password(data_dir: &Path) -> Result<String, StoreError> {
    let path = password_file(data_dir);
    let read = |p: &Path| -> Result<String, StoreError> {
        let text = std::fs::read_to_string(p)
            .map_err(StoreError::io(format!("reading {}", p.display())))?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(StoreError::Command(format!(
                "{} is empty; delete it to have a new password generated",
                p.display()
            )));
        }
        Ok(text)
    };
    if path.exists() {
        return read(&path);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(StoreError::io(format!("creating {}", data_dir.display())))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(password.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(StoreError::io(format!("writing {}", path.display())))?;
            tracing::info!(
                path = %path.display(),
                "DB_LOCAL=true without DB_PASSWORD: generated the database password into a file"
            );
            Ok(password)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // The other process may still be writing it.
            std::thread::sleep(std::time::Duration::from_millis(50));
            read(&path)
        }
        Err(e) => Err(StoreError::io(format!("creating {}", path.display()))(e)),
    }
}

impl LocalCluster {
    /// The OS users allowed in as the superuser over the socket: the one that runs the server,
    /// and root (which can read the data directory anyway).
    fn owners(&self) -> Vec<String> {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name);
        let server = if self.as_root() {
            Some(self.os_user.clone())
        } else {
            me
        };
        let mut owners: Vec<String> = server.into_iter().collect();
        if !owners.iter().any(|o| o == "root") {
            owners.push("root".into());
        }
        owners
    }

    /// Write pg_hba.conf and pg_ident.conf (see the module documentation).
    pub(super) fn write_access_rules(&self) -> Result<(), StoreError> {
        let hba = format!(
            "# Written by IntegraMon (DB_LOCAL=true) at every start; changes here are replaced.\n\
             # The superuser only over the socket, as the cluster's OS user or root.\n\
             local all postgres peer map={MAP}\n\
             local all all scram-sha-256\n\
             host all all all scram-sha-256\n"
        );
        let ident: String = std::iter::once(
            "# Written by IntegraMon (DB_LOCAL=true): OS users that may sign in as postgres.\n"
                .to_string(),
        )
        .chain(
            self.owners()
                .iter()
                .map(|o| format!("{MAP} {o} postgres\n")),
        )
        .collect();
        for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident)] {
            let path = self.data_dir.join(name);
            std::fs::write(&path, text)
                .map_err(StoreError::io(format!("writing {}", path.display())))?;
            self.give_to_os_user(&path)?;
        }
        Ok(())
    }
}
