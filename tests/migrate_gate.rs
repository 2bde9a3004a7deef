//! The migration gate on the real binaries, on SQLite and PostgreSQL: migrate writes the marker
//! only after a complete, locked run; daemons wait for it and for a clean schema.

use integramon_tests::proc::run;
use integramon_tests::{Proc, Target, bin, free_port, http_get, wait_for};
use nix::sys::signal::Signal;

const DAEMONS: [&str; 5] = [
    "integramon-web",
    "integramon-ingest-worker",
    "integramon-controller",
    "integramon-archiver",
    "integramon-metrics",
];

fn migrate(t: &Target) -> (std::process::ExitStatus, String) {
    run(&bin("integramon-migrate"), &[], &t.env(), 120)
}

fn marker_version(t: &Target) -> Option<String> {
    let text = std::fs::read_to_string(t.marker()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["schema_version"].as_str().map(str::to_string)
}

fn applied_count(t: &Target) -> usize {
    t.sql("SELECT COUNT(*) FROM seaql_migrations")
        .parse()
        .unwrap()
}

struct Daemon {
    proc: Proc,
    addr: String,
}

fn start_daemon(name: &str, t: &Target) -> Daemon {
    let addr = format!("127.0.0.1:{}", free_port());
    let proc = Proc::spawn(&bin(name), &["--listen", &addr], &t.env());
    let d = Daemon { proc, addr };
    wait_for(30, &format!("{name} to answer /healthz"), || {
        http_get(&d.addr, "/healthz").filter(|(s, _)| *s == 200)
    });
    d
}

fn readyz(d: &Daemon) -> (u16, String) {
    http_get(&d.addr, "/readyz").expect("readyz answers")
}

fn wait_ready(d: &Daemon) {
    wait_for(30, "readiness 200", || {
        http_get(&d.addr, "/readyz").filter(|(s, _)| *s == 200)
    });
}

fn fresh_then_rerun(t: Target) {
    let (status, out) = migrate(&t);
    assert!(status.success(), "migrate failed:\n{out}");
    let all = migration::all_versions();
    for name in &all {
        assert!(
            out.contains(&format!("applied migration {name}")),
            "{name} not applied:\n{out}"
        );
    }
    assert_eq!(
        marker_version(&t).as_deref(),
        Some(migration::latest_version())
    );
    assert_eq!(applied_count(&t), all.len());

    let (status, out) = migrate(&t);
    assert!(status.success(), "re-run failed:\n{out}");
    assert!(
        !out.contains("applying migration"),
        "re-run applied something:\n{out}"
    );
    assert_eq!(applied_count(&t), all.len());
    assert_eq!(
        marker_version(&t).as_deref(),
        Some(migration::latest_version())
    );

    let (status, out) = run(&bin("integramon-migrate"), &["status"], &t.env(), 60);
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("{} applied, 0 pending", all.len())),
        "{out}"
    );
}

#[test]
fn fresh_database_then_rerun_is_a_no_op_sqlite() {
    fresh_then_rerun(Target::sqlite());
}

#[test]
fn fresh_database_then_rerun_is_a_no_op_postgres() {
    fresh_then_rerun(Target::postgres());
}

fn concurrent_runs(t: Target) {
    let a = Proc::spawn(&bin("integramon-migrate"), &[], &t.env());
    let b = Proc::spawn(&bin("integramon-migrate"), &[], &t.env());
    let (mut a, mut b) = (a, b);
    let (sa, sb) = (a.wait(120), b.wait(120));
    let (oa, ob) = (a.output(), b.output());
    assert!(sa.success() && sb.success(), "a:\n{oa}\nb:\n{ob}");
    for name in migration::all_versions() {
        let applied = format!("applied migration {name}");
        let times = oa.matches(&applied).count() + ob.matches(&applied).count();
        assert_eq!(times, 1, "{name} applied {times} times\na:\n{oa}\nb:\n{ob}");
    }
    assert_eq!(applied_count(&t), migration::all_versions().len());
    assert_eq!(
        marker_version(&t).as_deref(),
        Some(migration::latest_version())
    );
}

#[test]
fn two_concurrent_runs_apply_each_migration_once_sqlite() {
    concurrent_runs(Target::sqlite());
}

#[test]
fn two_concurrent_runs_apply_each_migration_once_postgres() {
    concurrent_runs(Target::postgres());
}

/// A table in the way makes the second migration fail for real.
fn failing_migration(t: Target) {
    let blocker = "CREATE TABLE message_logs (id INTEGER PRIMARY KEY, junk TEXT)";
    match &t {
        Target::Sqlite { .. } => {
            // sqlite3 creates the file; migrate then finds the table in the way.
            std::fs::create_dir_all(t.data_dir()).unwrap();
            t.sql(blocker);
        }
        Target::Postgres { .. } => {
            t.sql(blocker);
        }
    }
    let web = start_daemon("integramon-web", &t);
    let (status, out) = migrate(&t);
    assert!(!status.success(), "migrate should fail:\n{out}");
    assert!(
        out.contains("migration m20261126_000002_messages failed"),
        "{out}"
    );
    assert!(
        !t.marker().exists(),
        "a failed migration must not write the marker"
    );
    let (code, body) = readyz(&web);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no migration marker"), "{body}");
    // The daemon keeps waiting (no half start) and goes once the problem is fixed.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(readyz(&web).0, 503);
    t.sql("DROP TABLE message_logs");
    let (status, out) = migrate(&t);
    assert!(status.success(), "{out}");
    wait_ready(&web);
}

#[test]
fn a_failing_migration_writes_no_marker_and_daemons_keep_waiting_sqlite() {
    failing_migration(Target::sqlite());
}

#[test]
fn a_failing_migration_writes_no_marker_and_daemons_keep_waiting_postgres() {
    failing_migration(Target::postgres());
}

fn stale_marker_and_pending(t: Target) {
    let (status, out) = migrate(&t);
    assert!(status.success(), "{out}");
    let first = migration::all_versions()[0];
    // A marker left by an older schema version.
    let text = std::fs::read_to_string(t.marker()).unwrap();
    let stale = text.replace(migration::latest_version(), first);
    std::fs::write(t.marker(), stale).unwrap();
    let d = start_daemon("integramon-controller", &t);
    wait_for(10, "stale marker reason", || {
        let (code, body) = readyz(&d);
        (code == 503 && body.contains("stale migration marker")).then_some(())
    });
    // A current marker, but the database lacks the last migration: still no release.
    let (status, out) = migrate(&t);
    assert!(status.success(), "{out}");
    wait_ready(&d);
    drop(d);
    t.sql(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{}'",
        migration::latest_version()
    ));
    let d = start_daemon("integramon-archiver", &t);
    wait_for(10, "pending migrations reason", || {
        let (code, body) = readyz(&d);
        (code == 503 && body.contains("pending migration")).then_some(())
    });
    let out = d.proc.output();
    assert!(
        out.contains("pending migration"),
        "the reason is logged:\n{out}"
    );
}

#[test]
fn a_stale_marker_or_pending_migration_does_not_release_daemons_sqlite() {
    stale_marker_and_pending(Target::sqlite());
}

#[test]
fn a_stale_marker_or_pending_migration_does_not_release_daemons_postgres() {
    stale_marker_and_pending(Target::postgres());
}

#[test]
fn every_daemon_waits_for_the_marker_then_works_and_stops_cleanly() {
    let t = Target::sqlite();
    let mut daemons: Vec<(&str, Daemon)> =
        DAEMONS.iter().map(|n| (*n, start_daemon(n, &t))).collect();
    for (name, d) in &daemons {
        let (code, body) = readyz(d);
        assert_eq!(code, 503, "{name} ready before migrate: {body}");
        assert!(body.contains("waiting for migrations"), "{name}: {body}");
    }
    let (status, out) = migrate(&t);
    assert!(status.success(), "{out}");
    for (_, d) in &daemons {
        wait_ready(d);
    }
    for (name, d) in &mut daemons {
        let out = d.proc.output();
        assert!(
            out.contains("database backend sqlite at file")
                && out.contains("chosen by environment"),
            "{name} logs its backend choice:\n{out}"
        );
        assert!(
            out.contains("schema is migrated; starting work"),
            "{name}:\n{out}"
        );
        d.proc.signal(Signal::SIGTERM);
        let status = d.proc.wait(20);
        assert!(
            status.success(),
            "{name} exit {status}:\n{}",
            d.proc.output()
        );
    }
}

#[test]
fn a_waiting_daemon_stops_cleanly_on_sigterm() {
    let t = Target::sqlite();
    let mut d = start_daemon("integramon-ingest-worker", &t);
    assert_eq!(readyz(&d).0, 503);
    d.proc.signal(Signal::SIGTERM);
    let status = d.proc.wait(20);
    assert!(status.success(), "exit {status}:\n{}", d.proc.output());
}

#[test]
fn a_running_daemon_reports_not_ready_once_the_schema_moves_past_it() {
    let t = Target::sqlite();
    let (status, out) = migrate(&t);
    assert!(status.success(), "{out}");
    let d = start_daemon("integramon-metrics", &t);
    wait_ready(&d);
    // What a newer migrate run leaves behind.
    let text = std::fs::read_to_string(t.marker()).unwrap();
    std::fs::write(
        t.marker(),
        text.replace(migration::latest_version(), "m29990101_000001_future"),
    )
    .unwrap();
    let (code, body) = readyz(&d);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("the schema is now m29990101_000001_future"),
        "{body}"
    );
}
