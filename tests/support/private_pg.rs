//! A PostgreSQL cluster of the test's own, on a free port, for what the machine's shared server
//! cannot be used for: TLS on or off, host authentication rules, being stopped and started.
//! It runs as the `postgres` OS user (initdb and pg_ctl refuse root) and is stopped and removed
//! when dropped. Every failure panics with the failing command's output: tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database every private cluster has; owned by the password user when there is one.
pub const DB_NAME: &str = "integramon";
pub const SUPERUSER: &str = "postgres";
const PG_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
const OS_USER: &str = "postgres";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `ssl = on` with a server certificate signed by the cluster's own CA.
    pub tls: bool,
    /// A login role with this password (stored as SCRAM); host connections then need it.
    pub scram_password_user: Option<(String, String)>,
    /// Refuse non-TLS host connections (`hostssl` lines only).
    pub hostssl_only: bool,
}

pub struct PrivateCluster {
    options: Options,
    port: u16,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    ca_cert: Option<PathBuf>,
    // Dropped after `Drop::drop` has stopped the server.
    root: tempfile::TempDir,
    _socket_root: tempfile::TempDir,
}

impl PrivateCluster {
    pub fn start(options: Options) -> Self {
        let root = crate::temp_dir();
        // Unix socket paths are limited to ~100 bytes, and TMPDIR may be long: use /tmp.
        let socket_root = tempfile::Builder::new()
            .prefix("ims")
            .tempdir_in("/tmp")
            .expect("socket dir");
        let data_dir = root.path().join("data");
        let socket_dir = socket_root.path().to_path_buf();
        let log_file = root.path().join("postgres.log");
        std::fs::create_dir(&data_dir).expect("creating the cluster directory");
        std::fs::write(&log_file, b"").expect("creating the server log");
        for p in [&data_dir, &socket_dir, &log_file] {
            chown_to_postgres(p);
        }
        set_mode(&data_dir, 0o700);

        let mut cluster = Self {
            port: crate::free_port(),
            data_dir,
            socket_dir,
            log_file,
            ca_cert: None,
            options,
            root,
            _socket_root: socket_root,
        };
        run_ok(as_postgres(
            "initdb",
            &[
                "-D",
                &path(&cluster.data_dir),
                "--username",
                SUPERUSER,
                "--encoding=UTF8",
                "--auth-local=trust",
                "--auth-host=trust",
            ],
        ));
        if cluster.options.tls {
            cluster.ca_cert = Some(cluster.make_certificates());
        }
        cluster.write_config();
        cluster.start_on_a_free_port();

        let owner = match &cluster.options.scram_password_user {
            Some((user, password)) => {
                cluster.psql_in(
                    "postgres",
                    &format!(
                        "CREATE ROLE {} LOGIN PASSWORD {}",
                        ident(user),
                        literal(password)
                    ),
                );
                user.clone()
            }
            None => SUPERUSER.to_string(),
        };
        // The cluster's database does not exist yet: connect to the maintenance one.
        cluster.psql_in(
            "postgres",
            &format!("CREATE DATABASE {DB_NAME} OWNER {}", ident(&owner)),
        );
        cluster
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server certificate (for `DB_SSLROOTCERT`); panics without TLS.
    pub fn ca_cert_path(&self) -> &Path {
        self.ca_cert
            .as_deref()
            .expect("ca_cert_path() needs a cluster started with tls: true")
    }

    /// Everything the server logged (connections included: `log_connections = on`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The role binaries log in as: the password user, or the trusted superuser.
    pub fn user(&self) -> (&str, Option<&str>) {
        match &self.options.scram_password_user {
            Some((u, p)) => (u, Some(p)),
            None => (SUPERUSER, None),
        }
    }

    /// Environment for a binary using this cluster's database over TCP.
    pub fn env(&self, data_dir: &Path) -> Vec<(String, String)> {
        let (user, password) = self.user();
        let mut env = vec![
            ("DATA_DIR".into(), data_dir.display().to_string()),
            ("DB_BACKEND".into(), "postgresql".into()),
            ("DB_HOST".into(), "127.0.0.1".into()),
            ("DB_PORT".into(), self.port.to_string()),
            ("DB_NAME".into(), DB_NAME.into()),
            ("DB_USER".into(), user.into()),
            ("DB_POOL_MAX".into(), "3".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        if let Some(p) = password {
            env.push(("DB_PASSWORD".into(), p.into()));
        }
        env
    }

    /// IntegraMon's server connections now (`application_name = 'integramon'`): `(over TLS,
    /// in plain text)`.
    pub fn integramon_backends(&self) -> (u32, u32) {
        let row = self.psql(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'integramon'",
        );
        let (tls, plain) = row.split_once('|').expect("two counts");
        (tls.parse().expect("count"), plain.parse().expect("count"))
    }

    /// Stop the server (fast shutdown: clients are disconnected).
    pub fn stop(&mut self) {
        run_ok(as_postgres(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-D",
                &path(&self.data_dir),
            ],
        ));
    }

    /// Start it again after [`stop`](Self::stop), on the same port. (Not `start`: that name is
    /// the constructor's.)
    pub fn start_again(&mut self) {
        self.start_server();
    }

    /// Run SQL in the cluster's database as the superuser, over the Unix socket.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(DB_NAME, sql)
    }

    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new("psql");
        cmd.args(["-h", &path(&self.socket_dir), "-p", &self.port.to_string()])
            .args([
                "-U",
                SUPERUSER,
                "-d",
                db,
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ])
            .env("PGPASSFILE", "/nonexistent");
        let out = run_ok(cmd);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start_server(&mut self) {
        if let Err(e) = self.try_start_server() {
            panic!("{e}");
        }
    }

    /// `free_port` only finds a port that was free a moment ago: a parallel test may take it
    /// before the server binds it, so a bind failure moves the cluster to another port.
    fn start_on_a_free_port(&mut self) {
        for _ in 0..5 {
            match self.try_start_server() {
                Ok(()) => return,
                Err(e) if self.log().contains("could not bind") => {
                    eprintln!("port {} was taken; trying another: {e}", self.port);
                    self.port = crate::free_port();
                    append(
                        &self.data_dir.join("postgresql.conf"),
                        &format!("port = {}\n", self.port),
                    );
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!(
            "no free port for the cluster after 5 tries:\n{}",
            self.log()
        );
    }

    fn try_start_server(&mut self) -> Result<(), String> {
        let out = as_postgres(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &path(&self.data_dir),
                "-l",
                &path(&self.log_file),
            ],
        )
        .output()
        .expect("running pg_ctl start");
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start failed ({}): {}{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        ))
    }

    /// A CA and a server certificate it signs, with 127.0.0.1 and localhost as subject
    /// alternative names so `verify-full` can check the host. rustls rejects a self-signed CA
    /// certificate used directly as the server's, hence two certificates.
    fn make_certificates(&self) -> PathBuf {
        let dir = self.root.path().join("tls");
        std::fs::create_dir(&dir).expect("tls dir");
        let ca_key = dir.join("ca.key");
        let ca_crt = dir.join("ca.crt");
        make_ca(&ca_key, &ca_crt, "IntegraMon test CA");
        let key = dir.join("server.key");
        let csr = dir.join("server.csr");
        let crt = dir.join("server.crt");
        let ext = dir.join("server.ext");
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("writing the certificate extensions");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &path(&key),
            "-out",
            &path(&csr),
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path(&csr),
            "-CA",
            &path(&ca_crt),
            "-CAkey",
            &path(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &path(&ext),
            "-out",
            &path(&crt),
        ]);
        // The server refuses a key readable by others, and reads it as `postgres`.
        for p in [&key, &crt] {
            chown_to_postgres(p);
        }
        set_mode(&key, 0o600);
        ca_crt
    }

    fn write_config(&self) {
        let mut conf = format!(
            "\n# Written by the IntegraMon tests\n\
             port = {}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             password_encryption = 'scram-sha-256'\n\
             log_connections = on\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 16MB\n",
            self.port,
            path(&self.socket_dir)
        );
        if self.options.tls {
            let tls = self.root.path().join("tls");
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                path(&tls.join("server.crt")),
                path(&tls.join("server.key"))
            ));
        }
        append(&self.data_dir.join("postgresql.conf"), &conf);

        let method = if self.options.scram_password_user.is_some() {
            "scram-sha-256"
        } else {
            "trust"
        };
        let mut hba = String::from("local all all trust\n");
        if self.options.tls {
            hba.push_str(&format!("hostssl all all 127.0.0.1/32 {method}\n"));
        }
        if !self.options.hostssl_only {
            hba.push_str(&format!("host all all 127.0.0.1/32 {method}\n"));
        }
        std::fs::write(self.data_dir.join("pg_hba.conf"), hba).expect("writing pg_hba.conf");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Whether or not start-up got as far as knowing it: a server runs while its pid file is
        // there. Immediate: nothing to keep, and a test that panicked should not wait.
        if self.data_dir.join("postmaster.pid").exists() {
            let _ = as_postgres(
                "pg_ctl",
                &["stop", "-w", "-m", "immediate", "-D", &path(&self.data_dir)],
            )
            .output();
        }
    }
}

/// The five daemon binaries.
pub const DAEMONS: &[&str] = &[
    "integramon-web",
    "integramon-ingest-worker",
    "integramon-controller",
    "integramon-archiver",
    "integramon-metrics",
];

/// Set `key` in an environment list, replacing any earlier value.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// The line a binary prints last when it fails (`name: reason`). Assertions look at it rather
/// than at the whole output, whose log lines mention sslmode and the like whatever happens.
pub fn failure_line(output: &str, program: &str) -> String {
    let prefix = format!("{program}: ");
    output
        .lines()
        .rfind(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{program} printed no `{prefix}…` failure line:\n{output}"))
        .to_string()
}

/// A CA certificate (self-signed, CA:TRUE) and its key.
pub fn make_ca(key: &Path, crt: &Path, name: &str) {
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &path(key),
        "-out",
        &path(crt),
        "-days",
        "2",
        "-sha256",
        "-subj",
        &format!("/CN={name}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

fn openssl(args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    run_ok(cmd);
}

/// A PostgreSQL server program run as the `postgres` OS user (they refuse to run as root).
pub fn as_postgres(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", OS_USER, "--"])
        .arg(Path::new(PG_BIN_DIR).join(program))
        .args(args)
        // The postgres user cannot enter a test's working directory.
        .current_dir("/");
    cmd
}

fn run_ok(mut cmd: Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn chown_to_postgres(p: &Path) {
    let user = nix::unistd::User::from_name(OS_USER)
        .ok()
        .flatten()
        .expect("the postgres OS user must exist");
    nix::unistd::chown(p, Some(user.uid), Some(user.gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("opening {}: {e}", file.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
