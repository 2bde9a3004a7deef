//! Job parameters are bounded. A collection window must lie within the tenant's collection (from
//! its `collect_from`, or the 30 days CPI keeps, up to now): the API answers 422 naming the
//! field, and such a job arriving over AMQP is dead-lettered with the reason without calling the
//! tenant. `not_before` and `expires` may lie at most the documented horizon (7 days) ahead:
//! a job held back for year 9999 used to hop through the retry queues for ever.

use std::time::{Duration, Instant};

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, World, serial, shared_amqp_url,
};
use integramon_tests::web::Web;
use lapin::types::FieldTable;
use queue::JobQueue;
use reqwest::Method;
use serde_json::{Value, json};
use store::repo::job_runs::JobState;

fn api_refuses_windows_outside_the_collection(database: Database) {
    let web = Web::up(database, &[("DEMO", "false")]);
    let admin = web.admin_token();
    let collect_from = Utc::now() - chrono::Duration::days(3);
    let (s, t) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(json!({
            "name": "bounded", "api_url": "http://127.0.0.1:9",
            "auth": {"kind": "basic", "username": "u"}, "secret": "p",
            "collect_from": collect_from.to_rfc3339(),
            "jobs": [{"kind": "messages_hot", "enabled": false, "interval_secs": 60}]
        })),
    );
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_i64().unwrap();
    let submit = |params: Value| {
        admin.json(
            Method::POST,
            "/api/jobs",
            Some(json!({"type": "messages_hot", "tenant": id, "params": params})),
        )
    };
    let now = Utc::now();
    for (params, field, words) in [
        (
            json!({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}),
            "params.from",
            "collection starts",
        ),
        (
            json!({"from": (collect_from - chrono::Duration::days(2)).to_rfc3339()}),
            "params.from",
            "collection starts",
        ),
        (
            json!({"from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                   "to": "9999-12-31T00:00:00Z"}),
            "params.to",
            "in the future",
        ),
    ] {
        let (s, e) = submit(params.clone());
        assert_eq!(s, 422, "{params}: {e}");
        assert_eq!(e["fields"][0]["field"], field, "{e}");
        assert!(
            e["fields"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{params}: {e}"
        );
    }
    // A window inside the collection is accepted.
    let (s, e) = submit(
        json!({"from": (now - chrono::Duration::hours(2)).to_rfc3339(),
                               "to": now.to_rfc3339()}),
    );
    assert_eq!(s, 202, "{e}");
}

#[test]
fn api_refuses_job_windows_outside_the_collection_on_sqlite() {
    api_refuses_windows_outside_the_collection(Database::sqlite());
}

#[test]
fn api_refuses_job_windows_outside_the_collection_on_postgres() {
    api_refuses_windows_outside_the_collection(Database::postgres());
}

/// Wait for a dead letter of `job_id`; its reason.
fn dead_reason(world: &World, job_id: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let dead = world
            .rt
            .block_on(world.queue.take_dead(100))
            .expect("reading dead letters");
        if let Some(d) = dead.iter().find(|d| d.job_id.as_deref() == Some(job_id)) {
            return d.reason.clone();
        }
        assert!(
            Instant::now() < deadline,
            "job {job_id} was not dead-lettered within {secs}s (run: {:?})",
            world.run(job_id)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_amqp_job_with_an_unbounded_window_is_dead_lettered_not_run() {
    let _turn = serial();
    let sim = Sim::start(&SimOptions {
        seed: 91,
        rate: 0.5,
        history: "10m",
        ..SimOptions::default()
    });
    let world = World::new(Database::sqlite(), &shared_amqp_url());
    let tenant = world.create_tenant("bounded", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut worker = world.worker(&[]);
    world.wait_consumers(std::slice::from_mut(&mut worker), 1);
    let before = sim.stats()["by_route"].to_string();

    let job = JobEnvelope::new(
        JobType::MessagesHot,
        TenantRef::Id(tenant),
        json!({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}),
        Utc::now(),
    );
    world.publish(&job);
    let reason = dead_reason(&world, &job.job_id, 30);
    assert!(
        reason.contains("params.from") && reason.contains("collection starts"),
        "{reason}"
    );
    let run = world.run(&job.job_id).expect("the run is recorded");
    assert_eq!(run.state, JobState::Dead, "{run:?}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("params.from"),
        "{run:?}"
    );
    // Refused before any call to the tenant.
    let after = sim.stats()["by_route"].to_string();
    assert_eq!(before, after, "the tenant was called");
}

#[test]
fn not_before_beyond_the_horizon_is_refused_and_dead_lettered() {
    let _turn = serial();
    let world = World::new(Database::sqlite(), &shared_amqp_url());
    let tenant = world.create_tenant("later", "http://127.0.0.1:9", "u", "p");
    let mut worker = world.worker(&[]);
    world.wait_consumers(std::slice::from_mut(&mut worker), 1);

    let mut job = JobEnvelope::new(
        JobType::Keystore,
        TenantRef::Id(tenant),
        json!({}),
        Utc::now(),
    );
    job.not_before = Some("9999-01-01T00:00:00Z".parse().unwrap());
    // Our own publisher refuses it, naming the field.
    let err = world
        .rt
        .block_on(world.queue.publish(&job))
        .expect_err("a job held back to 9999 must not be published");
    assert!(err.to_string().contains("not_before"), "{err}");
    // Published by someone else, it is dead-lettered at once instead of circling through the
    // retry queues.
    world
        .rt
        .block_on(world.queue.publish_raw(
            &world.queue_name(&JobType::Keystore),
            &job.to_json(),
            FieldTable::default(),
        ))
        .expect("publishing raw");
    let reason = dead_reason(&world, &job.job_id, 20);
    assert!(
        reason.contains("not_before") && reason.contains("7 days"),
        "{reason}"
    );

    // The same for `expires`.
    let mut late = JobEnvelope::new(
        JobType::Keystore,
        TenantRef::Id(tenant),
        json!({}),
        Utc::now(),
    );
    late.expires = Some(Utc::now() + chrono::Duration::days(400));
    assert!(world.rt.block_on(world.queue.publish(&late)).is_err());
    world
        .rt
        .block_on(world.queue.publish_raw(
            &world.queue_name(&JobType::Keystore),
            &late.to_json(),
            FieldTable::default(),
        ))
        .expect("publishing raw");
    let reason = dead_reason(&world, &late.job_id, 20);
    assert!(reason.contains("expires"), "{reason}");
}
