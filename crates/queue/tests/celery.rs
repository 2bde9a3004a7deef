//! Interop with the real `celery` package (installed into a venv by `tests/celery/setup-venv.sh`;
//! the test fails if it cannot be): Python's `send_task` reaches our consumer, `AsyncResult.get()`
//! returns the handler's result, `eta` holds a task back, a task past its `expires` is not run but reported revoked.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use domain::job::{JobOutcome, JobType, TenantRef};
use queue::JobQueue;
use queue::Shutdown;
use serde_json::{Value, json};
use support::{Cleanup, Recorder, amqp_queue, test_config};

fn venv_python() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = here
        .join("../..")
        .canonicalize()
        .expect("the repository root");
    let venv = std::env::var_os("CELERY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/celery-venv"));
    let out = Command::new("bash")
        .arg(here.join("tests/celery/setup-venv.sh"))
        .arg(&venv)
        .output()
        .expect("running setup-venv.sh");
    assert!(
        out.status.success(),
        "could not install celery into {}:\n{}\n{}",
        venv.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    venv.join("bin/python")
}

#[tokio::test]
async fn celery_send_task_runs_and_async_result_get_returns() {
    let python = tokio::task::spawn_blocking(venv_python).await.unwrap();
    let config = test_config("celery");
    let q = amqp_queue(&config).await;
    // Celery declares an exchange named after each queue it sends to.
    let _clean = Cleanup::new(&config).also_exchanges(q.topology().family_queues());

    let rec = Recorder::default();
    let shutdown = Shutdown::new();
    let consumer = {
        let (q, s) = (q.clone(), shutdown.clone());
        let h = rec.handler(0, |job| {
            if job.tenant == TenantRef::Name("expire-me".into()) {
                return JobOutcome::retry("busy until it expires");
            }
            JobOutcome::done(json!({
                "type": job.job_type.to_string(),
                "tenant": job.tenant,
                "params": job.params,
                "attempt": job.attempt,
            }))
        });
        tokio::spawn(async move {
            q.consume(
                &[
                    JobType::MessagesHot,
                    JobType::MessageDetails,
                    JobType::Keystore,
                ],
                1,
                h,
                s,
            )
            .await
        })
    };

    let client = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/celery/client.py");
    let run = tokio::process::Command::new(&python)
        .arg(client)
        .arg(&config.url)
        .arg(&config.prefix)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the Celery client finishes")
        .expect("running the Celery client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Celery client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"] == name)
            .unwrap_or_else(|| panic!("no {name} case in {stdout}"))
            .clone()
    };

    let kwargs = case("kwargs");
    assert_eq!(kwargs["status"], "SUCCESS");
    assert_eq!(
        kwargs["result"],
        json!({"type": "messages_hot", "tenant": "acme", "params": {"from": "2025-01-01T00:00:00Z"}, "attempt": 1})
    );
    let args = case("args");
    assert_eq!(args["result"]["tenant"], json!(7));
    assert_eq!(args["result"]["params"], json!({"message_guid": "AGV1"}));

    let eta = case("eta");
    assert_eq!(eta["result"]["tenant"], json!(7));
    let eta_id = eta["task_id"].as_str().unwrap();
    let eta_at = eta["eta"].as_f64().unwrap();
    let seen = rec.all();
    let ran = seen
        .iter()
        .find(|s| s.job.job_id == eta_id)
        .expect("the eta task ran");
    assert_eq!(ran.job.tenant, TenantRef::Id(7));
    assert_eq!(
        ran.delivery.celery_task.as_deref(),
        Some("integramon.keystore")
    );
    let wall = |s: &support::Seen| {
        let at = chrono::Utc::now() - chrono::Duration::from_std(s.at.elapsed()).unwrap();
        at.timestamp_millis() as f64 / 1000.0
    };
    let ran_at = wall(ran);
    assert!(ran_at >= eta_at - 0.3, "ran at {ran_at}, eta {eta_at}");
    assert!(eta["waited"].as_f64().unwrap() >= 2.5, "{eta}");

    let expired = case("expired");
    assert!(
        expired["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("TaskRevokedError"),
        "{expired}"
    );
    let expired_id = expired["task_id"].as_str().unwrap();
    let expires_at = expired["expires"].as_f64().unwrap();
    let tries: Vec<f64> = seen
        .iter()
        .filter(|s| s.job.job_id == expired_id)
        .map(wall)
        .collect();
    assert!(!tries.is_empty(), "the task ran before it expired");
    assert!(
        tries.iter().all(|&at| at <= expires_at + 0.3),
        "an expired task is not run: tries at {tries:?}, expires {expires_at}"
    );

    let invalid = case("invalid");
    let err = invalid["error"].as_str().unwrap_or("");
    assert!(err.starts_with("RuntimeError"), "{invalid}");
    assert!(err.contains("params.message_guid"), "{invalid}");

    shutdown.cancel();
    consumer.await.unwrap().unwrap();
    // Both refusals are in the dead-letter queue with their reasons.
    let dead = q.take_dead(10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|d| d.job_id.as_deref() == Some(expired_id) && d.reason.contains("expired at"))
    );
    assert!(
        dead.iter()
            .any(|d| d.reason.contains("params.message_guid"))
    );
    assert!(seen.iter().all(|s| s.delivery.celery_task.is_some()));
    q.close().await;
}
