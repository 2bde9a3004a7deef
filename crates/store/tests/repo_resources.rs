//! Tenant resources (`repo::resources`) on SQLite and PostgreSQL: a run replaces the broker
//! snapshot and the data stores, twice the same run leaves the same rows, a tenant without JMS
//! is stored as such, tenants stay apart, and existing tenants got the job's default setting.

#[macro_use]
mod support;

use domain::resources::{DataStore, JmsBroker};
use domain::tenant::{JobKind, JobSettings};
use store::Db;
use store::repo::{resources, tenants};
use support::{Target, t, tenant};

fn broker(queues: i64) -> JmsBroker {
    JmsBroker {
        capacity: Some(794_616_135),
        max_capacity: Some(9_751_756_800),
        queue_count: Some(queues),
        max_queue_count: Some(30),
        queues_ok: Some(queues),
        queues_warning: Some(0),
        queues_error: Some(0),
        transacted_sessions_high: Some(false),
        consumers_high: None,
        producers_high: Some(true),
    }
}

fn store(name: &str, iflow: &str, overdue: Option<i64>) -> DataStore {
    DataStore {
        name: name.into(),
        iflow: iflow.into(),
        store_type: String::new(),
        visibility: Some(
            if iflow.is_empty() {
                "Global"
            } else {
                "Integration Flow"
            }
            .into(),
        ),
        messages: Some(10),
        overdue,
    }
}

async fn a_run_replaces_the_snapshot_and_the_data_stores(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    let b = tenant(&db, "B").await;
    assert_eq!(
        resources::get(&db, a).await.unwrap(),
        None,
        "before the first run"
    );

    let first = [store("s1", "flow", Some(2)), store("g", "", None)];
    resources::replace(&db, a, Some(&broker(16)), &first, t(0))
        .await
        .unwrap();
    resources::replace(&db, b, None, &[store("other", "x", Some(1))], t(0))
        .await
        .unwrap();
    let got = resources::get(&db, a).await.unwrap().expect("stored");
    assert_eq!(got.collected_at, t(0));
    assert_eq!(got.broker, Some(broker(16)));
    // Sorted by name.
    assert_eq!(got.data_stores, vec![first[1].clone(), first[0].clone()]);
    assert_eq!(
        got.overdue_stores()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["s1"]
    );

    // The next run: a store is gone, the broker changed; the same run twice changes nothing.
    let second = [store("s1", "flow", Some(0))];
    for _ in 0..2 {
        let out = resources::replace(&db, a, Some(&broker(17)), &second, t(300))
            .await
            .unwrap();
        assert_eq!(out.data_stores, 1);
    }
    let got = resources::get(&db, a).await.unwrap().unwrap();
    assert_eq!(got.collected_at, t(300));
    assert_eq!(got.broker.unwrap().queue_count, Some(17));
    assert_eq!(got.data_stores, second.to_vec());

    // The other tenant has no JMS, and kept its own store.
    let other = resources::get(&db, b).await.unwrap().unwrap();
    assert_eq!(other.broker, None);
    assert_eq!(other.data_stores.len(), 1);
}
on_both!(a_run_replaces_the_snapshot_and_the_data_stores);

async fn duplicate_keys_in_one_answer_are_stored_once(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    let list = [
        store("s", "flow", Some(1)),
        store("s", "flow", Some(4)),
        store("s", "other", None),
    ];
    let out = resources::replace(&db, a, None, &list, t(0)).await.unwrap();
    assert_eq!(out.data_stores, 2);
    let got = resources::get(&db, a).await.unwrap().unwrap();
    assert_eq!(got.data_stores[0].overdue, Some(4), "the last one wins");
}
on_both!(duplicate_keys_in_one_answer_are_stored_once);

async fn new_tenants_get_the_resources_job(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    let jobs = tenants::jobs(&db, a).await.unwrap();
    let job = jobs
        .iter()
        .find(|j| j.kind == JobKind::Resources)
        .expect("resources job");
    assert_eq!(job, &JobSettings::default_for(JobKind::Resources));
    assert_eq!(job.interval_secs, Some(300));
}
on_both!(new_tenants_get_the_resources_job);
