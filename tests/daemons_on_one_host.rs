//! Daemons started on one host the way the README's "without containers" block starts them:
//! `integramon-ingest-worker &  # start as many workers as you need`, no `--listen`. The second
//! worker finds the default health port (127.0.0.1:9101) taken; it must pick a free port, say
//! which in its log, and run. An explicit `--listen` on a taken port still fails.

use std::time::Duration;

use integramon_tests::collect::Database;
use integramon_tests::{Proc, bin, http_get, wait_for};

/// The address a daemon logged it serves HTTP on (`serving HTTP … listen=ADDR`).
fn served_on(output: &str) -> Option<String> {
    let plain = strip_ansi(output);
    let line = plain.lines().find(|l| l.contains("serving HTTP"))?;
    let at = line.find("listen=")? + "listen=".len();
    Some(
        line[at..]
            .split_whitespace()
            .next()?
            .trim_matches('"')
            .to_string(),
    )
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The README's environment: the database settings and nothing about ports.
fn readme_env(database: &Database, prefix: &str) -> Vec<(String, String)> {
    let mut env = database.env();
    env.push(("AMQP_PREFIX".into(), prefix.into()));
    env
}

#[test]
fn two_workers_started_as_the_readme_says_both_run_on_ports_of_their_own() {
    let database = Database::postgres();
    database.migrate();
    let prefix = format!(
        "imt-host-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let env = readme_env(&database, &prefix);
    let worker = bin("integramon-ingest-worker");

    let mut first = Proc::spawn(&worker, &[], &env);
    let first_addr = wait_for(60, "the first worker to serve HTTP", || {
        assert!(
            first.is_running(),
            "first worker exited:\n{}",
            first.output()
        );
        served_on(&first.output())
    });
    let mut second = Proc::spawn(&worker, &[], &env);
    let second_addr = wait_for(60, "the second worker to serve HTTP", || {
        assert!(
            second.is_running(),
            "the second worker exited:\n{}",
            second.output()
        );
        served_on(&second.output())
    });
    assert_ne!(first_addr, second_addr, "two workers on one port");
    // At least one of them did not get the default port (the first may have, if it was free)
    // and said so.
    let moved: Vec<&Proc> = [&first, &second]
        .into_iter()
        .filter(|p| p.output().contains("is taken"))
        .collect();
    assert!(
        !moved.is_empty(),
        "no worker logged that the default port was taken:\n{}\n{}",
        first.output(),
        second.output()
    );

    for (p, addr) in [(&mut first, &first_addr), (&mut second, &second_addr)] {
        wait_for(60, &format!("{addr} to be ready"), || {
            assert!(p.is_running(), "a worker exited:\n{}", p.output());
            http_get(addr, "/readyz").filter(|(s, _)| *s == 200)
        });
        // It is the worker's own endpoint (its component, not some other daemon's).
        let (_, body) = http_get(addr, "/readyz").expect("readyz");
        assert!(body.contains("ingest-worker"), "{addr}: {body}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(first.is_running() && second.is_running());

    // An explicit --listen is a promise: on a taken port the daemon exits with the reason.
    let mut pinned = Proc::spawn(&worker, &["--listen", &first_addr], &env);
    let status = pinned.wait(60);
    assert!(!status.success(), "--listen {first_addr} twice succeeded");
    assert!(
        pinned.output().contains("cannot listen on"),
        "{}",
        pinned.output()
    );
    drop(first);
    drop(second);
    cleanup_queues(&env);
}

/// The test's queues go when it ends.
fn cleanup_queues(env: &[(String, String)]) {
    let map: std::collections::HashMap<String, String> = env.iter().cloned().collect();
    let Ok(config) = queue::QueueConfig::from_lookup(|k| map.get(k).cloned()) else {
        return;
    };
    let Ok(q) = queue::AmqpQueue::new(config) else {
        return;
    };
    if let Ok(rt) = tokio::runtime::Runtime::new() {
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(15), q.delete_topology()).await;
            q.close().await;
        });
    }
}
