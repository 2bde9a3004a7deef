//! Every binary checks every setting it will use, its daemon's own ones too, before it connects
//! or waits at the migration gate: a bad one exits 2 at once with one line naming the variable,
//! the value and the expected form. No database and no marker exist here, so a binary that got
//! as far as the gate would wait (and the bound below would fail it).

use integramon_tests::proc::run;
use integramon_tests::{Proc, bin, free_port, http_get, sqlite_env, temp_dir, wait_for};

/// Settings that point at nothing: an empty data directory and a PostgreSQL nobody listens on.
fn nowhere(data: &std::path::Path, bad: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("DATA_DIR", data.display().to_string().as_str()),
        ("DB_BACKEND", "postgresql"),
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", "1"),
        ("DB_WAIT_TIMEOUT", "60"),
        ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in bad {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Run `program args` with one bad setting; it must exit 2 within a few seconds, printing one
/// line that names `key` and `value`.
fn refuses(program: &str, args: &[&str], key: &str, value: &str) {
    let data = temp_dir();
    let (status, out) = run(
        &bin(program),
        args,
        &nowhere(data.path(), &[(key, value)]),
        15,
    );
    assert_eq!(
        status.code(),
        Some(2),
        "{program} with {key}={value:?}: {status}\n{out}"
    );
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{program} with {key}={value:?} printed more than one line:\n{out}"
    );
    assert!(
        lines[0].contains(key) && lines[0].contains(value),
        "{program}: the line does not name {key} and {value:?}: {}",
        lines[0]
    );
    assert!(
        std::fs::read_dir(data.path()).unwrap().next().is_none(),
        "{program} created files before refusing its settings"
    );
}

#[test]
fn each_daemon_refuses_its_own_bad_setting_before_the_gate() {
    refuses("integramon-web", &[], "WEB_SESSION_HOURS", "forever");
    refuses("integramon-web", &[], "WEB_WORKERS", "0");
    refuses("integramon-ingest-worker", &[], "CPI_MAX_CONCURRENCY", "0");
    refuses("integramon-ingest-worker", &[], "INGEST_LAG_SECS", "soon");
    refuses(
        "integramon-ingest-worker",
        &[],
        "INGEST_FAMILIES",
        "archive",
    );
    refuses("integramon-controller", &[], "JOB_STALE_AFTER", "later");
    refuses(
        "integramon-controller",
        &[],
        "ARCHIVE_TIME_ZONE",
        "Mars/Olympus",
    );
    refuses(
        "integramon-archiver",
        &[],
        "ARCHIVE_TIME_ZONE",
        "Mars/Olympus",
    );
    refuses("integramon-archiver", &[], "ARCHIVE_DELETE_BATCH", "0");
    refuses("integramon-metrics", &[], "METRICS_SNAPSHOT_SECS", "7");
    refuses("integramon-migrate", &[], "DB_WAIT_TIMEOUT", "later");
}

#[test]
fn integramon_up_refuses_any_daemons_bad_setting_before_migrating() {
    for (key, value) in [
        ("WEB_SESSION_HOURS", "forever"),
        ("CPI_MAX_CONCURRENCY", "0"),
        ("JOB_STALE_AFTER", "later"),
        ("ARCHIVE_TIME_ZONE", "Mars/Olympus"),
        ("METRICS_SNAPSHOT_SECS", "7"),
        ("DEMO", "maybe"),
    ] {
        refuses("integramon", &["up"], key, value);
    }
}

#[test]
fn a_bad_log_filter_or_shutdown_grace_is_refused_by_every_binary() {
    for program in [
        "integramon-web",
        "integramon-ingest-worker",
        "integramon-controller",
        "integramon-archiver",
        "integramon-metrics",
        "integramon-migrate",
    ] {
        refuses(program, &[], "RUST_LOG", "info,sqlx=loud");
        refuses(program, &[], "SHUTDOWN_GRACE_SECS", "twenty");
    }
    refuses("integramon", &["up"], "RUST_LOG", "info,sqlx=loud");
}

/// An error whose message already holds its cause is not printed with the cause again.
#[test]
fn an_error_is_shown_once_not_with_its_cause_repeated() {
    let dir = temp_dir();
    // DATA_DIR is a file: the SQLite file's directory cannot be created.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let env = vec![
        ("DATA_DIR".to_string(), file.display().to_string()),
        ("DB_BACKEND".to_string(), "sqlite".to_string()),
    ];
    for (program, args) in [
        ("integramon-migrate", &[][..]),
        ("integramon-metrics", &[][..]),
        ("integramon", &["db", "status"][..]),
    ] {
        let (status, out) = run(&bin(program), args, &env, 30);
        assert!(!status.success(), "{program}: {out}");
        let last = out
            .lines()
            .rfind(|l| l.contains("os error"))
            .unwrap_or_else(|| panic!("{program} did not say why:\n{out}"));
        assert_eq!(
            last.matches("os error").count(),
            1,
            "{program} repeats the cause: {last}"
        );
    }
}

/// PostgreSQL settings without `DB_BACKEND` still mean SQLite (the default), but the daemon says
/// so loudly at start and in `/readyz`, which stays ready.
#[test]
fn db_host_without_db_backend_warns_at_start_and_in_readyz() {
    let data = temp_dir();
    let mut env = sqlite_env(data.path());
    env.retain(|(k, _)| k != "DB_BACKEND");
    let prefix = format!("imt-warn-{}", std::process::id());
    for (k, v) in [
        ("DB_HOST", "db.example"),
        ("DB_PASSWORD", "s3cret-pw"),
        ("AMQP_PREFIX", prefix.as_str()),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    let warning = "DB_HOST and DB_PASSWORD are set but DB_BACKEND is not: using SQLite";
    let (status, out) = run(&bin("integramon-migrate"), &[], &env, 120);
    assert!(status.success(), "{out}");
    assert!(out.contains(&format!("WARNING: {warning}")), "{out}");

    let addr = format!("127.0.0.1:{}", free_port());
    let mut p = Proc::spawn(&bin("integramon-metrics"), &["--listen", &addr], &env);
    let body = wait_for(60, "the metrics daemon to be ready", || {
        assert!(p.is_running(), "{}", p.output());
        http_get(&addr, "/readyz")
            .filter(|(code, _)| *code == 200)
            .map(|(_, body)| body)
    });
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["ready"], true, "{body}");
    let shown = v["warnings"][0].as_str().unwrap_or_default();
    assert!(shown.contains(warning), "{body}");
    assert!(!body.contains("s3cret-pw") && !p.output().contains("s3cret-pw"));
    assert!(
        p.output().contains(&format!("WARNING: {warning}")),
        "{}",
        p.output()
    );
}

/// `integramon config` prints every crate's typed settings with where each came from; secrets
/// (in the file, the environment and a `_FILE`) never appear.
#[test]
fn integramon_config_shows_typed_settings_with_sources_and_masks_secrets() {
    let dir = temp_dir();
    let file = dir.path().join("integramon.toml");
    std::fs::write(
        &file,
        "DB_BACKEND = \"postgresql\"\nDB_PASSWORD = \"file-db-pw\"\nWEB_SESSION_HOURS = 8\n\
         ARCHIVE_TIME_ZONE = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let amqp_pw = dir.path().join("amqp_password");
    std::fs::write(&amqp_pw, "broker-pw\n").unwrap();
    let key = "q".repeat(43) + "=";
    let env: Vec<(String, String)> = [
        ("INTEGRAMON_CONFIG", file.display().to_string()),
        ("DATA_DIR", dir.path().join("data").display().to_string()),
        ("DB_PORT", "6543".to_string()),
        ("INGEST_DETAILS", "all".to_string()),
        ("AMQP_URL", "amqp://im@rabbit:5672/%2f".to_string()),
        ("AMQP_PASSWORD_FILE", amqp_pw.display().to_string()),
        ("SECRET_KEY", key.clone()),
        ("WEB_ADMIN_USER", "root".to_string()),
        ("WEB_ADMIN_PASSWORD", "admin-pw".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (status, out) = run(&bin("integramon"), &["config"], &env, 30);
    assert!(status.success(), "{out}");
    for secret in ["file-db-pw", "broker-pw", "admin-pw", key.as_str()] {
        assert!(!out.contains(secret), "a secret is shown:\n{out}");
    }
    let line = |key: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("{key} is not shown:\n{out}"))
            .to_string()
    };
    let file_source = format!("(config file INTEGRAMON_CONFIG={})", file.display());
    for (key, value, source) in [
        ("DB_BACKEND", "postgresql", file_source.as_str()),
        ("DB_PASSWORD", "***", file_source.as_str()),
        ("WEB_SESSION_HOURS", "8", file_source.as_str()),
        ("ARCHIVE_TIME_ZONE", "Europe/Berlin", file_source.as_str()),
        ("DB_PORT", "6543", "(environment)"),
        ("INGEST_DETAILS", "all", "(environment)"),
        ("AMQP_URL", "amqp://im:***@rabbit:5672/%2f", "(environment)"),
        ("SECRET_KEY", "***", "(environment)"),
        ("WEB_ADMIN_PASSWORD", "***", "(environment)"),
        ("DB_NAME", "integramon", "(default)"),
        ("AMQP_PREFETCH", "1", "(default)"),
        ("CONTROLLER_TICK", "5s", "(default)"),
        ("METRICS_SNAPSHOT_SECS", "300", "(default)"),
    ] {
        let l = line(key);
        assert!(
            l.contains(&format!("= {value}  {source}")),
            "{key}: expected {value} from {source}: {l}"
        );
    }
    // A bad value stops it like every other command: exit 2, one line naming it.
    refuses("integramon", &["config"], "INGEST_LAG_SECS", "soon");
}

/// The worker's `sync` runs without RabbitMQ; its `--help` says so.
#[test]
fn ingest_worker_help_lists_sync() {
    let (status, out) = run(&bin("integramon-ingest-worker"), &["--help"], &[], 15);
    assert!(status.success(), "{out}");
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        commands.contains(&"sync") && commands.contains(&"healthcheck"),
        "{out}"
    );
    let (status, out) = run(
        &bin("integramon-ingest-worker"),
        &["sync", "--help"],
        &[],
        15,
    );
    assert!(status.success() && out.contains("--from"), "{out}");
}
