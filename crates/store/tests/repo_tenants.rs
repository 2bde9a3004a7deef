//! Tenants, their job settings and their secrets, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use domain::secret::{self, SecretKey};
use domain::tenant::{
    Auth, JobKind, JobSettings, PayloadStrategy, PlanTime, TenantSettings, TenantStatus,
};
use store::Db;
use store::repo::{messages, tenants};
use support::{Target, t};

fn settings(name: &str) -> TenantSettings {
    let mut s = TenantSettings::new(
        name,
        "https://acme.it-cpi018.cfapps.eu10-003.hana.ondemand.com",
        Auth::OAuth2 {
            client_id: "sb-abc!b1|it!b2".into(),
            token_url: "https://acme.authentication.eu10.hana.ondemand.com/oauth/token".into(),
        },
    );
    s.access_groups = vec!["ops".into()];
    s.connection.ui_url =
        Some("https://acme.integrationsuite.cfapps.eu10.hana.ondemand.com".into());
    s.connection.tls_verify = false;
    s.connection.ca_cert =
        Some("-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n".into());
    s.collection.tags = vec!["prod".into(), "eu".into()];
    s.collection.message_filter = Some("Status ne 'DISCARDED'".into());
    s.collection.collect_from = Some(t(-86_400));
    s.collection.hot_window_secs = 7200;
    s.collection.payload_strategy = PayloadStrategy::All;
    s.collection.payload_max_bytes = 5_000_000;
    s.collection.attachments = true;
    s
}

async fn tenants_round_trip_and_secrets_stay_sealed(db: Db, _: Target) {
    let key = SecretKey::generate().unwrap();
    let sealed = secret::seal(&key, "client-secret-1").unwrap();
    let s = settings("prod-eu");
    s.validate().unwrap();
    let created = tenants::create(&db, &s, Some(&sealed)).await.unwrap();
    assert_eq!(created.settings, s, "every setting round-trips");
    assert!(created.has_secret);
    assert_eq!(created.status, TenantStatus::Unknown);
    let shown = format!("{created:?}");
    assert!(
        !shown.contains(&sealed) && !shown.contains("client-secret-1"),
        "{shown}"
    );

    let got = tenants::get(&db, created.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(
        tenants::get_by_name(&db, "prod-eu")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    let stored = tenants::sealed_secret(&db, created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored, sealed,
        "the store keeps the sealed text, never plaintext"
    );
    assert_eq!(secret::open(&key, &stored).unwrap(), "client-secret-1");

    // An update without a secret keeps the stored one.
    let mut s2 = s.clone();
    s2.connection.auth = Auth::Basic {
        username: "api-user".into(),
    };
    s2.collection.enabled = false;
    s2.collection.tags = vec![];
    let updated = tenants::update_settings(&db, created.id, &s2, None)
        .await
        .unwrap();
    assert_eq!(updated.settings, s2);
    assert!(updated.has_secret);
    assert_eq!(updated.created_at, created.created_at);
    let kept = tenants::sealed_secret(&db, created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret::open(&key, &kept).unwrap(), "client-secret-1");
    // With a secret it replaces it.
    let sealed2 = secret::seal(&key, "password-2").unwrap();
    tenants::update_settings(&db, created.id, &s2, Some(&sealed2))
        .await
        .unwrap();
    let replaced = tenants::sealed_secret(&db, created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret::open(&key, &replaced).unwrap(), "password-2");
    assert!(secret::open(&SecretKey::generate().unwrap(), &replaced).is_err());

    // Listing, enabled filter.
    let other = tenants::create(&db, &settings("another"), None)
        .await
        .unwrap();
    assert!(!other.has_secret);
    let names: Vec<String> = tenants::list(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.settings.name)
        .collect();
    assert_eq!(names, ["another", "prod-eu"]);
    let enabled: Vec<i64> = tenants::list_enabled(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(enabled, [other.id]);

    // Names are unique.
    let dup = tenants::create(&db, &settings("another"), None).await;
    assert!(dup.unwrap_err().is_unique_violation());

    // Status.
    tenants::set_status(
        &db,
        created.id,
        TenantStatus::Unreachable,
        Some("TLS: certificate has expired"),
        t(5),
    )
    .await
    .unwrap();
    let got = tenants::get(&db, created.id).await.unwrap().unwrap();
    assert_eq!(got.status, TenantStatus::Unreachable);
    assert_eq!(
        got.status_message.as_deref(),
        Some("TLS: certificate has expired")
    );
    assert_eq!(got.status_at, Some(t(5)));
    tenants::set_status(&db, created.id, TenantStatus::Ok, None, t(6))
        .await
        .unwrap();
    assert_eq!(
        tenants::get(&db, created.id)
            .await
            .unwrap()
            .unwrap()
            .status_message,
        None
    );
    assert!(
        tenants::set_status(&db, 999, TenantStatus::Ok, None, t(6))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        tenants::update_settings(&db, 999, &s, None)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Delete takes the tenant's data with it.
    messages::upsert_messages(
        &db,
        created.id,
        &[domain::message::Message::new(
            "G",
            domain::MessageStatus::Completed,
        )],
    )
    .await
    .unwrap();
    assert!(tenants::delete(&db, created.id).await.unwrap());
    assert!(!tenants::delete(&db, created.id).await.unwrap());
    assert!(tenants::get(&db, created.id).await.unwrap().is_none());
    assert!(
        messages::find_message(&db, created.id, "G")
            .await
            .unwrap()
            .is_none()
    );
    assert!(tenants::jobs(&db, created.id).await.unwrap().is_empty());
}
on_both!(tenants_round_trip_and_secrets_stay_sealed);

async fn job_settings_default_and_upsert(db: Db, _: Target) {
    let id = tenants::create(&db, &settings("t"), None).await.unwrap().id;
    let jobs = tenants::jobs(&db, id).await.unwrap();
    assert_eq!(jobs, JobSettings::defaults(), "defaults inserted on create");

    let mut archive = JobSettings::default_for(JobKind::Archive);
    archive.plan_time = PlanTime::new(3, 30);
    archive.retention.archive_older_than_days = Some(14);
    archive.retention.delete_older_than_days = Some(90);
    archive.validate().unwrap();
    tenants::upsert_job(&db, id, &archive).await.unwrap();
    let mut hot = JobSettings::default_for(JobKind::MessagesHot);
    hot.enabled = false;
    hot.interval_secs = Some(120);
    tenants::upsert_job(&db, id, &hot).await.unwrap();
    // A kind this version does not know is kept.
    let mut custom = JobSettings::default_for(JobKind::Other("edge_sync".into()));
    custom.enabled = true;
    tenants::upsert_job(&db, id, &custom).await.unwrap();

    let jobs = tenants::jobs(&db, id).await.unwrap();
    assert_eq!(jobs.len(), JobKind::ALL.len() + 1);
    assert_eq!(
        jobs.iter().find(|j| j.kind == JobKind::Archive),
        Some(&archive)
    );
    assert_eq!(
        jobs.iter().find(|j| j.kind == JobKind::MessagesHot),
        Some(&hot)
    );
    assert_eq!(jobs.last(), Some(&custom));

    // The controller's view: only tenants with collection enabled.
    let mut off = settings("off");
    off.collection.enabled = false;
    let off_id = tenants::create(&db, &off, None).await.unwrap().id;
    let all = tenants::enabled_jobs(&db).await.unwrap();
    assert!(all.iter().all(|(tid, _)| *tid == id), "{all:?}");
    assert!(all.iter().any(|(_, j)| *j == archive));
    assert!(!tenants::jobs(&db, off_id).await.unwrap().is_empty());
}
on_both!(job_settings_default_and_upsert);

/// A trigger that refuses one job kind, so the test can make exactly the job-settings write
/// fail (the store itself accepts any kind).
async fn refuse_job_kind(db: &Db, kind: &str) {
    use sea_orm::ConnectionTrait;
    let statements = match db.db_backend() {
        sea_orm::DbBackend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_job BEFORE INSERT ON tenant_jobs WHEN NEW.job_type = '{kind}' \
             BEGIN SELECT RAISE(ABORT, 'job kind refused'); END"
        )],
        _ => vec![
            format!(
                "CREATE FUNCTION refuse_job() RETURNS trigger AS $$ BEGIN \
                 IF NEW.job_type = '{kind}' THEN RAISE EXCEPTION 'job kind refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_job BEFORE INSERT ON tenant_jobs FOR EACH ROW \
             EXECUTE FUNCTION refuse_job()"
                .to_owned(),
        ],
    };
    for sql in statements {
        db.conn().execute_unprepared(&sql).await.unwrap();
    }
}

async fn save_commits_tenant_secret_and_jobs_together(db: Db, _: Target) {
    let key = SecretKey::generate().unwrap();
    let secret = domain::Secret::new("client-secret-1");
    let mut hot = JobSettings::default_for(JobKind::MessagesHot);
    hot.interval_secs = Some(120);
    let created = tenants::save(
        &db,
        &key,
        None,
        &settings("t"),
        Some(&secret),
        &[hot.clone()],
    )
    .await
    .unwrap();
    let jobs = tenants::jobs(&db, created.id).await.unwrap();
    assert_eq!(jobs.len(), JobKind::ALL.len(), "defaults plus the override");
    assert_eq!(jobs.iter().find(|j| j.kind == hot.kind), Some(&hot));
    let opened = tenants::secret(&db, &key, created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.expose(), "client-secret-1");
    assert_eq!(format!("{opened:?}"), "***");
    let other_key = SecretKey::generate().unwrap();
    assert!(matches!(
        tenants::secret(&db, &other_key, created.id).await,
        Err(tenants::CredentialError::Key(_))
    ));

    // A failing job write on create leaves no tenant behind.
    refuse_job_kind(&db, "refused").await;
    let refused = JobSettings::default_for(JobKind::Other("refused".into()));
    let failed = tenants::save(
        &db,
        &key,
        None,
        &settings("half"),
        Some(&secret),
        &[hot.clone(), refused.clone()],
    )
    .await;
    assert!(
        matches!(failed, Err(tenants::CredentialError::Store(_))),
        "{failed:?}"
    );
    assert!(tenants::get_by_name(&db, "half").await.unwrap().is_none());
    assert_eq!(tenants::list(&db).await.unwrap().len(), 1);

    // … and on update, neither the new settings nor the new secret nor earlier jobs stick.
    let mut changed = settings("t");
    changed.collection.tags = vec!["changed".into()];
    let mut cold = JobSettings::default_for(JobKind::MessagesCold);
    cold.enabled = false;
    let failed = tenants::save(
        &db,
        &key,
        Some(created.id),
        &changed,
        Some(&domain::Secret::new("other")),
        &[cold.clone(), refused],
    )
    .await;
    assert!(failed.is_err());
    let kept = tenants::get(&db, created.id).await.unwrap().unwrap();
    assert_eq!(kept.settings, settings("t"));
    assert_eq!(tenants::jobs(&db, created.id).await.unwrap(), jobs);
    let opened = tenants::secret(&db, &key, created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.expose(), "client-secret-1");
}
on_both!(save_commits_tenant_secret_and_jobs_together);
