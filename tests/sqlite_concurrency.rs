//! Several processes writing one SQLite file at once, as web, workers, controller, archiver and
//! metrics do: 4 writer processes and 1 reader for `SQLITE_LOAD_SECS` seconds (60 by default, as
//! the database runtime promises) with SQLITE_TIMEOUT=20 must see zero lock errors.

use integramon_tests::proc::run;
use integramon_tests::{Proc, Target, bin};

#[test]
fn four_writer_processes_and_a_reader_see_no_lock_errors() {
    let secs: u64 = std::env::var("SQLITE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let t = Target::sqlite();
    let (status, out) = run(&bin("integramon-migrate"), &[], &t.env(), 60);
    assert!(status.success(), "{out}");
    let env = t.env_with(&[("SQLITE_TIMEOUT", "20"), ("RUST_LOG", "warn")]);
    let load = bin("integramon-sqlite-load");
    let secs_arg = secs.to_string();
    let mut procs: Vec<Proc> = (0..4)
        .map(|i| {
            let id = i.to_string();
            Proc::spawn(
                &load,
                &["--role", "writer", "--id", &id, "--secs", &secs_arg],
                &env,
            )
        })
        .collect();
    procs.push(Proc::spawn(
        &load,
        &["--role", "reader", "--secs", &secs_arg],
        &env,
    ));
    let mut total_writes = 0u64;
    let mut report = Vec::new();
    for p in &mut procs {
        let status = p.wait(secs + 120);
        let out = p.output();
        assert!(status.success(), "{out}");
        let line = out
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("a JSON result line");
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["errors"], 0, "errors in {line}");
        assert_eq!(r["lock_errors"], 0, "lock errors in {line}");
        assert!(r["ops"].as_u64().unwrap() > 0, "no progress: {line}");
        if r["role"] == "writer" {
            total_writes += r["ops"].as_u64().unwrap();
        }
        report.push(line.to_string());
    }
    // Everything committed is there and consistent: 5 headers per message.
    let messages: u64 = t.sql("SELECT COUNT(*) FROM message_logs").parse().unwrap();
    let headers: u64 = t
        .sql("SELECT COUNT(*) FROM custom_header_properties")
        .parse()
        .unwrap();
    assert!(messages > 0);
    assert_eq!(
        headers,
        messages * 5,
        "headers stay consistent with messages"
    );
    assert_eq!(t.sql("PRAGMA integrity_check"), "ok");
    println!(
        "{secs}s, 4 writers + 1 reader: {total_writes} write transactions ({:.1}/s), {messages} messages",
        total_writes as f64 / secs as f64
    );
    for line in report {
        println!("{line}");
    }
}
