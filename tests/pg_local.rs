//! `DB_LOCAL=true`: `integramon-migrate` creates, starts and provisions an internal PostgreSQL in
//! `${DATA_DIR}/postgres`, again and again safely; with `DB_LOCAL=false` it starts nothing. Its
//! socket admits no other OS user; `integramon up` (no `DB_PASSWORD`: one is generated) keeps it
//! running, restarting it when it dies, and stops it when it exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use integramon_tests::private_pg::{as_postgres, set};
use integramon_tests::proc::run;
use integramon_tests::{Proc, bin, free_port, http_get, temp_dir, wait_for};
use migration::MigratorTrait;

const MIGRATE: &str = "integramon-migrate";

/// Stops the cluster migrate started, whatever happens to the test: it outlives migrate.
struct StopOnDrop {
    cluster: PathBuf,
}

impl StopOnDrop {
    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        let dir = self.cluster.display().to_string();
        all.extend(["-D", &dir]);
        as_postgres("pg_ctl", &all)
            .output()
            .expect("running pg_ctl")
    }

    fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-w", "-t", "60", "-m", "fast"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.cluster.join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
        }
    }
}

/// psql over TCP with a password, as a client of the application would connect.
fn psql_tcp(port: u16, user: &str, password: &str, db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            db,
        ])
        .args(["-X", "-w", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/nonexistent")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql (PostgreSQL client) must be installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Every table in `public`, each read as the application role: `(table, rows)`.
fn read_every_table(port: u16, password: &str) -> Vec<(String, String)> {
    let q = |sql: &str| {
        psql_tcp(port, "im_app", password, "im_local", sql)
            .unwrap_or_else(|e| panic!("as im_app: {sql}: {e}"))
    };
    let tables = q("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    tables
        .lines()
        .map(|t| (t.to_string(), q(&format!("SELECT count(*) FROM \"{t}\""))))
        .collect()
}

fn local_env(data: &Path, port: u16, password: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (k, v) in [
        ("DATA_DIR", data.display().to_string()),
        ("DB_BACKEND", "postgresql".into()),
        ("DB_LOCAL", "true".into()),
        ("DB_PORT", port.to_string()),
        ("DB_NAME", "im_local".into()),
        ("DB_USER", "im_app".into()),
        ("DB_PASSWORD", password.into()),
        ("DB_POOL_MAX", "3".into()),
        ("RUST_LOG", "info".into()),
    ] {
        set(&mut env, k, &v);
    }
    env
}

#[test]
fn db_local_creates_starts_and_provisions_a_cluster_on_a_free_port() {
    let root = temp_dir();
    // A space in DATA_DIR: its paths reach pg_ctl, which passes server options through a shell.
    let data = root.path().join("data dir");
    let guard = StopOnDrop {
        cluster: data.join("postgres"),
    };
    let port = free_port();

    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "first"), 120);
    assert!(status.success(), "first DB_LOCAL migrate failed:\n{out}");
    assert!(
        guard.cluster.join("PG_VERSION").is_file(),
        "no cluster in DATA_DIR/postgres"
    );

    let migrations = migration::Migrator::migrations().len().to_string();
    let count = |password: &str| {
        psql_tcp(
            port,
            "im_app",
            password,
            "im_local",
            "SELECT count(*) FROM seaql_migrations",
        )
    };
    assert_eq!(count("first").unwrap(), migrations);
    let tables = read_every_table(port, "first");
    assert!(tables.len() > 1, "expected the migrated tables: {tables:?}");

    // Again with the same settings: nothing to create, nothing broken.
    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "first"), 120);
    assert!(status.success(), "second DB_LOCAL migrate failed:\n{out}");
    assert!(
        !out.contains("created cluster"),
        "the cluster was re-created:\n{out}"
    );
    assert_eq!(count("first").unwrap(), migrations);
    assert_eq!(read_every_table(port, "first"), tables);

    // A new DB_PASSWORD replaces the old one.
    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "second"), 120);
    assert!(
        status.success(),
        "DB_LOCAL migrate with a new password failed:\n{out}"
    );
    assert_eq!(count("second").unwrap(), migrations);
    let refused = count("first").expect_err("the old password still works");
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );

    guard.stop();
    assert!(
        !guard.pg_ctl(&["status"]).status.success(),
        "the cluster still runs after pg_ctl stop"
    );
}

#[test]
fn db_local_false_starts_nothing() {
    let data = temp_dir();
    let mut env = local_env(data.path(), free_port(), "first");
    set(&mut env, "DB_LOCAL", "false");
    set(&mut env, "DB_WAIT_TIMEOUT", "2");
    set(&mut env, "DB_CONNECT_TIMEOUT", "2");
    let _guard = StopOnDrop {
        cluster: data.path().join("postgres"),
    };

    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        !status.success(),
        "migrate succeeded against a closed port:\n{out}"
    );
    assert!(
        !data.path().join("postgres").exists(),
        "DB_LOCAL=false created ${{DATA_DIR}}/postgres"
    );
    assert!(
        !data.path().join("pg-run").exists(),
        "DB_LOCAL=false created a socket dir"
    );
}

/// psql over the cluster's Unix socket as another OS user (`nobody`).
fn psql_socket_as_nobody(socket_dir: &Path, port: u16, user: &str, password: &str) -> Output {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "psql"])
        .arg("-h")
        .arg(socket_dir)
        .args(["-p", &port.to_string(), "-U", user, "-d", "postgres"])
        .args(["-X", "-w", "-qAtc", "SELECT current_user"])
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/nonexistent")
        .env("PGCONNECT_TIMEOUT", "10")
        .current_dir("/")
        .output()
        .expect("runuser and psql")
}

#[test]
fn db_local_socket_admits_no_other_os_user() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let root = temp_dir();
    let data = root.path().join("data");
    let guard = StopOnDrop {
        cluster: data.join("postgres"),
    };
    let port = free_port();
    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "first"), 120);
    assert!(status.success(), "DB_LOCAL migrate failed:\n{out}");
    let socket_dir = data.join("pg-run");

    // Another local user gets in neither as the superuser nor as the application's role (whose
    // password it even knows here).
    for (user, password) in [("postgres", ""), ("im_app", "first")] {
        let out = psql_socket_as_nobody(&socket_dir, port, user, password);
        assert!(
            !out.status.success(),
            "user nobody connected over the socket as {user}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The socket directory and the socket are the server user's alone.
    let mode = std::fs::metadata(&socket_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "socket directory mode {mode:o}");
    let socket = std::fs::read_dir(&socket_dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .expect("the server's socket");
    let mode = socket.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "socket mode {mode:o}");
    // Over TCP the superuser has no password to sign in with.
    let err =
        psql_tcp(port, "postgres", "", "postgres", "SELECT 1").expect_err("postgres over TCP");
    assert!(err.contains("password"), "{err}");
    // The application still works, over TCP with its password.
    assert_eq!(
        psql_tcp(port, "im_app", "first", "im_local", "SELECT current_user").unwrap(),
        "im_app"
    );
    guard.stop();
}

/// The postmaster's pid, from `postmaster.pid`, when the file is there.
fn postmaster_pid(cluster: &Path) -> Option<i32> {
    std::fs::read_to_string(cluster.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // Not a zombie either: /proc/PID/stat's state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn integramon_up_restarts_its_internal_postgresql_and_stops_it_on_exit() {
    let root = temp_dir();
    let data = root.path().join("data");
    let cluster = data.join("postgres");
    let _guard = StopOnDrop {
        cluster: cluster.clone(),
    };
    let port = free_port();
    let web = format!("127.0.0.1:{}", free_port());
    // No DB_PASSWORD: the internal cluster gets a generated one.
    let mut env = local_env(&data, port, "unused");
    env.retain(|(k, _)| k != "DB_PASSWORD");
    set(&mut env, "DEMO", "false");
    let mut up = Proc::spawn(&bin("integramon"), &["up", "--listen", &web], &env);
    let ready = |up: &mut Proc, what: &str| {
        wait_for(120, what, || {
            assert!(up.is_running(), "integramon up exited:\n{}", up.output());
            http_get(&web, "/readyz").filter(|(s, _)| *s == 200)
        })
    };
    ready(&mut up, "integramon up to be ready");
    wait_for(60, "the first admin's password", || {
        up.output()
            .contains("Sign in as \"admin\" with the password")
            .then_some(())
    });
    let password_file = data.join("postgres.password");
    let password = std::fs::read_to_string(&password_file).expect("the generated password file");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    assert!(
        !up.output().contains(password.trim()),
        "the password was logged"
    );
    assert_eq!(
        psql_tcp(
            port,
            "im_app",
            password.trim(),
            "im_local",
            "SELECT current_user"
        )
        .unwrap(),
        "im_app"
    );

    // The server dies: it is started again and the application recovers.
    let first = postmaster_pid(&cluster).expect("postmaster.pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill postgres");
    let second = wait_for(120, "a new postmaster", || {
        assert!(up.is_running(), "integramon up exited:\n{}", up.output());
        postmaster_pid(&cluster).filter(|p| *p != first && alive(*p))
    });
    ready(&mut up, "integramon up to be ready again");
    assert!(
        up.output().contains("starting it again"),
        "the restart is not logged:\n{}",
        up.output()
    );
    let (status, _) = http_get(&web, "/api/messages").expect("the web answers");
    assert_eq!(status, 401, "the API answers (anonymous: 401)");

    // SIGTERM: everything stops, the server too.
    up.signal(nix::sys::signal::Signal::SIGTERM);
    let status = up.wait(90);
    assert!(status.success(), "integramon up: {status}\n{}", up.output());
    assert!(
        !alive(second),
        "postgres {second} still runs after integramon up exited"
    );
    assert!(
        !cluster.join("postmaster.pid").exists(),
        "postmaster.pid is left behind"
    );
}
