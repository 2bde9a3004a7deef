//! Shared pieces of the end-to-end tests: the real binaries, a fresh PostgreSQL database or data
//! directory per test, child processes that are killed when a test ends, HTTP probes, and a
//! headless Chromium for the web UI ([`Browser`]).

pub mod browser;
pub mod collect;
pub mod pg;
pub mod private_pg;
pub mod private_rabbit;
pub mod proc;
pub mod target;
pub mod web;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

pub use browser::Browser;
pub use pg::PgDb;
pub use proc::Proc;
pub use target::Target;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Path of a workspace binary, built first if needed. Tests of one package cannot depend on
/// another package's binaries, so the first call in each test process asks cargo to build them
/// in the same profile and target directory as the test. It builds the whole workspace's
/// binaries, exactly as `scripts/test` does beforehand: the same package selection resolves the
/// same features, so the call is a no-op instead of a rebuild with other features.
///
/// `INTEGRAMON_BIN_DIR` points the tests at binaries built elsewhere instead (e.g. an earlier
/// commit's, to see a new test fail before its fix); nothing is built then.
pub fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("INTEGRAMON_BIN_DIR") {
        let path = PathBuf::from(dir).join(name);
        assert!(path.is_file(), "{} is missing", path.display());
        return path;
    }
    static BUILT: Mutex<bool> = Mutex::new(false);
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("profile directory")
        .to_path_buf();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let target_dir = profile_dir.parent().expect("target directory");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--workspace", "--bins"])
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build for the binaries");
        assert!(status.success(), "cargo build --workspace --bins failed");
        *built = true;
    }
    let path = profile_dir.join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh temporary directory, readable by other users (so a cluster run as `postgres` can
/// live inside it).
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("im-test-")
        .tempdir()
        .expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok();
    dir
}

/// Environment for a binary on SQLite in `data_dir`, with small pools.
pub fn sqlite_env(data_dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("DATA_DIR".into(), data_dir.display().to_string()),
        ("DB_BACKEND".into(), "sqlite".into()),
        ("DB_POOL_MAX".into(), "4".into()),
        ("RUST_LOG".into(), "info".into()),
    ]
}

/// GET `http://addr{path}`; `(status, body)`, or `None` when nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Some((status, body))
}

/// Poll until `f` returns `Some`, or panic with `what` after `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
