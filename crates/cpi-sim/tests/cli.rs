//! The `cpi-sim` binary: `--help`, one-line failures on bad arguments, and a real start that logs
//! its URL (never the password) and answers Basic auth.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cpi-sim");

/// Kills the child when the test ends, also when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_lists_the_auth_traffic_paging_and_fault_options() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--listen",
        "--user",
        "--password",
        "--client-id",
        "--client-secret",
        "--token-ttl",
        "--seed",
        "--rate",
        "--iflows",
        "--history",
        "--payload-size",
        "--page-size",
        "--relative-next",
        "--latency-ms",
        "/_sim/faults",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
    }
}

#[test]
fn bad_arguments_exit_non_zero_with_one_line() {
    let cases: [&[&str]; 6] = [
        &[],
        &["--listen", "127.0.0.1:0", "--rate", "fast"],
        &["--listen", "127.0.0.1:0", "--history", "7weeks"],
        &["--listen", "127.0.0.1:0", "--rate", "0"],
        &["--listen", "127.0.0.1:0", "--no-payload-user", "nocolon"],
        &["--listen", "not-an-address"],
    ];
    for args in cases {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line expected, got {err:?}");
        assert!(lines[0].starts_with("cpi-sim: "), "{args:?}: {err:?}");
    }
}

#[test]
fn it_serves_basic_auth_and_logs_its_url_without_the_password() {
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--user",
                "alice",
                "--password",
                "pa55-word-xyz",
                "--history",
                "10m",
                "--workers",
                "1",
            ])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("start line");
        if l.contains("cpi-sim listening on") {
            break l;
        }
    };
    assert!(
        !line.contains("pa55-word-xyz"),
        "the password is never logged: {line}"
    );
    assert!(
        line.contains("alice"),
        "the auth mode names the user: {line}"
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/api/v1"))
        .expect("the API URL is in the start line")
        .to_string();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ok, denied) = rt.block_on(async {
        let ok = common::request(
            addr,
            "GET",
            "/api/v1/MessageProcessingLogs?$top=1",
            &[("Authorization", &common::basic("alice", "pa55-word-xyz"))],
            b"",
        )
        .await
        .resp();
        let denied = common::request(addr, "GET", "/api/v1/MessageProcessingLogs", &[], b"")
            .await
            .resp();
        (ok, denied)
    });
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["d"]["results"].as_array().unwrap().len(), 1);
    assert_eq!(denied.status, 401);
    drop(child);
}
