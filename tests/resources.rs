//! The `resources` job end to end, on SQLite and PostgreSQL: a real ingest worker reads the
//! simulated tenant's JMS broker and data stores and stores them; after the simulator's admin
//! switch pushes them over the limits, the next run stores that; a repeated run leaves the same
//! rows; and a tenant without JMS is stored as such, not failed.

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use domain::resources::{LimitReason, TenantResources};
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, World, shared_amqp_url,
};
use serde_json::json;
use store::repo::job_runs::JobState;

fn run_resources_job(
    world: &World,
    tenant: i64,
    worker: &integramon_tests::collect::Worker,
) -> serde_json::Value {
    let job = JobEnvelope::new(
        JobType::Resources,
        TenantRef::Id(tenant),
        json!({}),
        Utc::now(),
    );
    world.publish(&job);
    let runs = world.wait_runs(std::slice::from_ref(&job.job_id), 120, &[worker]);
    assert_eq!(runs[0].state, JobState::Succeeded, "{:?}", runs[0]);
    runs[0].counts.clone().unwrap_or_default()
}

fn stored(world: &World, tenant: i64) -> TenantResources {
    world
        .rt
        .block_on(store::repo::resources::get(&world.db, tenant))
        .expect("reading resources")
        .expect("the job stored resources")
}

fn resources_job_stores_the_tenant_resources(database: Database) {
    let sim = Sim::start(&SimOptions::default());
    let world = World::new(database, &shared_amqp_url());
    let tenant = world.create_tenant("resources", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut workers = vec![world.worker(&[])];
    world.wait_consumers(&mut workers, 1);
    let worker = &workers[0];

    // Within the limits.
    let summary = run_resources_job(&world, tenant, worker);
    assert_eq!(summary["has_jms"], json!(true), "{summary}");
    let first = stored(&world, tenant);
    let broker = first.broker.clone().expect("the simulator has JMS");
    assert_eq!(
        (broker.queue_count, broker.max_queue_count),
        (Some(16), Some(30))
    );
    assert!(broker.limit_reasons().is_empty(), "{broker:?}");
    assert!(first.data_stores.len() >= 2, "{first:?}");
    assert_eq!(first.overdue_stores().count(), 0);

    // Over the limits.
    sim.admin(
        "POST",
        "/_sim/resources",
        Some(&json!({"mode": "over_limits"})),
    );
    let summary = run_resources_job(&world, tenant, worker);
    assert!(
        summary["data_stores_with_overdue"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let over = stored(&world, tenant);
    let reasons = over.broker.clone().expect("JMS").limit_reasons();
    for want in [
        LimitReason::CapacityError,
        LimitReason::Queues,
        LimitReason::TransactedSessions,
        LimitReason::Consumers,
        LimitReason::Producers,
    ] {
        assert!(reasons.contains(&want), "{want:?} missing from {reasons:?}");
    }
    assert!(over.overdue_stores().count() > 0, "{over:?}");
    assert!(over.collected_at > first.collected_at);

    // The same answers again: the same rows.
    run_resources_job(&world, tenant, worker);
    let again = stored(&world, tenant);
    assert_eq!(again.broker, over.broker);
    assert_eq!(again.data_stores, over.data_stores);

    // No JMS broker: stored as such, the run succeeds.
    sim.admin("POST", "/_sim/resources", Some(&json!({"mode": "no_jms"})));
    let summary = run_resources_job(&world, tenant, worker);
    assert_eq!(summary["has_jms"], json!(false), "{summary}");
    assert_eq!(stored(&world, tenant).broker, None);
}

#[test]
fn resources_job_stores_the_tenant_resources_sqlite() {
    resources_job_stores_the_tenant_resources(Database::sqlite());
}

#[test]
fn resources_job_stores_the_tenant_resources_postgres() {
    resources_job_stores_the_tenant_resources(Database::postgres());
}
