//! `integramon secrets init`: the one-shot service of compose.yaml that gives a fresh
//! installation its secrets before anything else starts, so `docker compose up` works without
//! an `.env`. It writes, into a volume the other services mount read-only:
//! - `db_password`: PostgreSQL's (`POSTGRES_PASSWORD_FILE`) and the daemons' (`DB_PASSWORD_FILE`);
//! - `rabbitmq_password`: the daemons' broker password (`AMQP_PASSWORD_FILE`);
//! - a RabbitMQ `conf.d` file with its default user and that password;
//!
//! and makes the tenant-secret key `${DATA_DIR}/secret.key` (unless `SECRET_KEY` is set). A
//! value set in the environment (from `.env`) is written as given; otherwise an existing file is
//! kept and a missing one generated. Values are never printed. As root (the service runs so) each
//! file is given to the one user that reads it: uid 999 is the `postgres` and `rabbitmq` user of
//! the official images, `integramon` (the image's user) owns the daemons' files.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use runtime::Settings;

/// The official postgres and rabbitmq images' service user and group.
pub const SERVER_UID: u32 = 999;
/// The image's own user (docker/Dockerfile).
pub const APP_USER: &str = "integramon";
/// The RabbitMQ configuration file written into `--rabbitmq-conf-dir`.
pub const RABBITMQ_CONF: &str = "20-integramon.conf";

pub struct InitArgs {
    pub dir: PathBuf,
    pub rabbitmq_conf_dir: Option<PathBuf>,
}

/// Who a file is handed to when running as root.
#[derive(Clone, Copy)]
enum Reader {
    /// The database server (owner) and the daemons (group).
    ServerAndApp,
    /// The broker server alone.
    Server,
    /// The daemons alone.
    App,
}

pub fn init(settings: &Settings, args: &InitArgs) -> anyhow::Result<()> {
    let given = crate::settings::SecretsSettings::from_settings(settings);
    create_dir(&args.dir, 0o755)?;
    secret_file(
        given.db_password.clone(),
        "DB_PASSWORD",
        &args.dir.join("db_password"),
        Reader::ServerAndApp,
    )?;
    let broker = secret_file(
        given.rabbitmq_password.clone(),
        "RABBITMQ_PASSWORD",
        &args.dir.join("rabbitmq_password"),
        Reader::App,
    )?;
    if let Some(conf_dir) = &args.rabbitmq_conf_dir {
        create_dir(conf_dir, 0o755)?;
        let user = given.rabbitmq_user.clone();
        for (what, v) in [("RABBITMQ_USER", &user), ("RABBITMQ_PASSWORD", &broker)] {
            anyhow::ensure!(
                !v.contains(['\n', '\r', '#']),
                "{what} must not contain a line break or '#' (RabbitMQ's configuration format)"
            );
        }
        // The default user only takes effect when the broker's data is created (first start).
        let text = format!(
            "# Written by `integramon secrets init` at every start.\n\
             default_user = {user}\n\
             default_pass = {broker}\n\
             log.console = true\n"
        );
        write_file(&conf_dir.join(RABBITMQ_CONF), &text, Reader::Server)?;
        println!(
            "secrets: RabbitMQ's default user {user} in {}",
            conf_dir.join(RABBITMQ_CONF).display()
        );
    }
    if !settings.secret_key_from_env() {
        settings.secret_key()?;
        let path = settings.secret_key_file();
        hand_over(&path, Reader::App, 0o600)?;
        println!("secrets: tenant-secret key in {}", path.display());
    }
    Ok(())
}

/// `VAR` from the environment if set, else the file's content if it exists, else a new random
/// value; written (back) to `path`. Returns the value.
fn secret_file(
    given: Option<String>,
    var: &str,
    path: &Path,
    reader: Reader,
) -> anyhow::Result<String> {
    let (value, how) = match given {
        Some(v) => (v, format!("from {var}")),
        None => match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => {
                (v.trim_end_matches(['\n', '\r']).to_string(), "kept".into())
            }
            Ok(_) => (new_secret(), "generated (the file was empty)".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (new_secret(), "generated".into())
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        },
    };
    write_file(path, &value, reader)?;
    println!("secrets: {} {how}", path.display());
    Ok(value)
}

fn new_secret() -> String {
    // URL-safe base64: usable in URLs and configuration files as it is.
    integramon_web::auth::random_secret(24)
}

fn create_dir(dir: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", dir.display()))
}

/// Replace `path` with `text` (a new file, so no reader sees it half written), then hand it over.
fn write_file(path: &Path, text: &str, reader: Reader) -> anyhow::Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    let mode = match reader {
        Reader::ServerAndApp => 0o440,
        Reader::Server | Reader::App => 0o400,
    };
    hand_over(&tmp, reader, mode)?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

fn hand_over(path: &Path, reader: Reader, mode: u32) -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        let app = nix::unistd::User::from_name(APP_USER).ok().flatten();
        let server = Some(nix::unistd::Uid::from_raw(SERVER_UID));
        let server_group = Some(nix::unistd::Gid::from_raw(SERVER_UID));
        let (uid, gid) = match reader {
            Reader::ServerAndApp => (server, app.as_ref().map(|u| u.gid).or(server_group)),
            Reader::Server => (server, server_group),
            Reader::App => (app.as_ref().map(|u| u.uid), app.as_ref().map(|u| u.gid)),
        };
        nix::unistd::chown(path, uid, gid)
            .with_context(|| format!("handing {} over", path.display()))?;
    } else {
        // Not root (outside a container): readable by this user alone.
        let mode = mode & 0o700;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.max(0o400)))
            .with_context(|| format!("setting permissions of {}", path.display()))?;
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", path.display()))
}
