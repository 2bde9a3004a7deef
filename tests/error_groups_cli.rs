//! Error groups through the real binaries, on SQLite and PostgreSQL:
//! - `integramon errors regroup` after a custom rule was added moves the stored messages the
//!   rule matches into the rule's group (counted down in the old one), prints its progress and
//!   a summary, and moves nothing on a second run;
//! - `integramon db backup` / `db restore` carry every error-group table (groups, hours, days,
//!   windowed sums and their windows, history, rules): the manifest counts them, the restored
//!   database has the same rows, and the restored Errors list shows the same groups.

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, Utc};
use domain::MessageStatus;
use domain::errors::{FingerprintRule, ResolveMode};
use domain::message::{ErrorInfo, Message, MessageDetails};
use integramon_tests::proc::run;
use integramon_tests::{PgDb, Target, bin, temp_dir};
use store::Db;
use store::repo::error_groups::{self as groups, GroupQuery, GroupSort};
use store::repo::messages::{self, PageMessage};

/// Every table the error groups keep.
const TABLES: [&str; 7] = [
    "error_groups",
    "error_group_hours",
    "error_group_days",
    "error_group_sums",
    "error_group_sum_windows",
    "error_group_events",
    "error_rules",
];

fn unauthorized(n: usize) -> String {
    format!(
        "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal server \
         error occured: HTTP 401 Unauthorized calling https://erp.example.com/orders/{n}"
    )
}

const PARSE: &str = "org.xml.sax.SAXParseException: Content is not allowed in prolog";

fn migrate(t: &Target) {
    let (status, out) = run(&bin("integramon-migrate"), &[], &t.env(), 120);
    assert!(status.success(), "{out}");
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

fn tenant_settings(name: &str) -> domain::tenant::TenantSettings {
    domain::tenant::TenantSettings::new(
        name,
        "https://tenant.example.com",
        domain::tenant::Auth::Basic {
            username: "u".into(),
        },
    )
}

/// A failed message of `flow_a` ending at `end`, with its error text.
async fn failed(db: &Db, tid: i64, guid: &str, end: DateTime<Utc>, text: &str) -> i64 {
    let mut m = Message::new(guid, MessageStatus::Failed);
    m.log_start = Some(end - Duration::seconds(1));
    m.log_end = Some(end);
    m.iflow_id = Some("flow_a".into());
    m.package_id = Some("pkg".into());
    let out = messages::write_page(
        db,
        tid,
        &[PageMessage {
            message: m,
            headers: None,
        }],
    )
    .await
    .unwrap();
    let id = out.upsert.rows[0].id;
    let mut d = MessageDetails::empty(MessageStatus::Failed);
    d.error = Some(ErrorInfo {
        error_type: Some("text/plain".into()),
        last_error_model_step_id: None,
        text: Some(text.into()),
    });
    messages::write_details(db, id, &d, Utc::now())
        .await
        .unwrap();
    id
}

/// One tenant with 401 errors (four messages, over two days) and parse errors (two).
async fn seed_messages(db: &Db) -> i64 {
    let tid = store::repo::tenants::create(db, &tenant_settings("t"), None)
        .await
        .unwrap()
        .id;
    let now = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    for (i, age) in [1, 5, 30, 40].into_iter().enumerate() {
        failed(
            db,
            tid,
            &format!("A{i}"),
            now - Duration::hours(age),
            &unauthorized(i),
        )
        .await;
    }
    for (i, age) in [2, 50].into_iter().enumerate() {
        failed(db, tid, &format!("P{i}"), now - Duration::hours(age), PARSE).await;
    }
    tid
}

fn rule() -> FingerprintRule {
    FingerprintRule {
        id: 0,
        iflow: None,
        package: None,
        status: None,
        text_glob: Some("*401*".into()),
        text_regex: None,
        fingerprint: "erp-credentials".into(),
        title: Some("ERP rejects our credentials".into()),
    }
}

fn num(t: &Target, sql: &str) -> i64 {
    let out = t.sql(sql);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{sql}: {out}"))
}

fn regroup_moves_messages_into_a_new_rules_group(t: Target) {
    migrate(&t);
    let settings = t.store_settings();
    let rule_id = block_on(async move {
        let db = store::connect(&settings).unwrap();
        seed_messages(&db).await;
        // The rule comes after the messages were grouped: only a regroup applies it to them.
        let r = store::repo::error_rules::create_rule(&db, &rule(), "alice")
            .await
            .unwrap();
        db.close().await;
        r.id
    });
    let in_rule = format!(
        "SELECT COUNT(*) FROM message_logs m JOIN error_groups g ON g.id = m.error_group_id \
         WHERE g.rule_id = {rule_id}"
    );
    assert_eq!(num(&t, &in_rule), 0, "nothing in the rule's group yet");
    let old_group = num(
        &t,
        "SELECT error_group_id FROM message_logs WHERE message_guid = 'A0'",
    );

    let (status, out) = run(&bin("integramon"), &["errors", "regroup"], &t.env(), 120);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("regrouping: 6 messages looked at"),
        "progress: {out}"
    );
    assert!(
        out.contains("6 messages looked at, 4 moved"),
        "summary: {out}"
    );

    assert_eq!(
        num(&t, &in_rule),
        4,
        "the 401 messages are in the rule's group"
    );
    assert_eq!(
        t.sql(&format!(
            "SELECT title FROM error_groups WHERE rule_id = {rule_id}"
        )),
        "ERP rejects our credentials"
    );
    assert_eq!(
        num(
            &t,
            &format!("SELECT total_occurrences FROM error_groups WHERE rule_id = {rule_id}")
        ),
        4
    );
    assert_eq!(
        num(
            &t,
            &format!("SELECT total_occurrences FROM error_groups WHERE id = {old_group}")
        ),
        0,
        "counted down in the old group"
    );
    assert_eq!(
        num(
            &t,
            &format!(
                "SELECT COALESCE(SUM(h.count), 0) FROM error_group_hours h JOIN error_groups g \
                 ON g.id = h.group_id WHERE g.rule_id = {rule_id}"
            )
        ),
        4,
        "the rule's group has the messages' hours"
    );
    assert_eq!(
        num(
            &t,
            "SELECT COUNT(*) FROM message_logs m JOIN error_groups g ON g.id = m.error_group_id \
             WHERE g.rule_id IS NULL AND m.message_guid LIKE 'P%'"
        ),
        2,
        "the parse errors stay where they were"
    );

    // Idempotent: a second run looks at the same messages and moves none.
    let (status, out) = run(&bin("integramon"), &["errors", "regroup"], &t.env(), 120);
    assert!(status.success(), "{out}");
    assert!(out.contains("6 messages looked at, 0 moved"), "{out}");
}

#[test]
fn sqlite_regroup_moves_messages_into_a_new_rules_group() {
    regroup_moves_messages_into_a_new_rules_group(Target::sqlite());
}

#[test]
fn postgres_regroup_moves_messages_into_a_new_rules_group() {
    regroup_moves_messages_into_a_new_rules_group(Target::postgres());
}

/// The Errors list by occurrences in the last 24 hours and 7 days (read from the windowed
/// sums), as (group, occurrences, title).
async fn errors_list(db: &Db) -> Vec<(i64, i64, String)> {
    let tenants: Vec<i64> = store::repo::tenants::list(db)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    let mut out = Vec::new();
    for days in [1, 7] {
        let to = Utc::now();
        let q = GroupQuery {
            tenants: tenants.clone(),
            tenant: None,
            iflow: None,
            package: None,
            state: None,
            from: to - Duration::days(days),
            to,
            q: None,
            sort: GroupSort::Occurrences,
            limit: 100,
            after: None,
        };
        let page = groups::list(db, &q).await.unwrap();
        out.extend(
            page.items
                .into_iter()
                .map(|i| (i.id, i.occurrences, i.title)),
        );
    }
    out
}

fn counts(t: &Target) -> Vec<(String, i64)> {
    TABLES
        .iter()
        .map(|table| {
            (
                table.to_string(),
                num(t, &format!("SELECT COUNT(*) FROM {table}")),
            )
        })
        .collect()
}

/// Error groups of every kind in `t`: groups with hours and days, windowed sums, a resolved
/// group (history), a rule. Returns the Errors list as it reads.
fn seed_error_groups(t: &Target) -> Vec<(i64, i64, String)> {
    let settings = t.store_settings();
    block_on(async move {
        let db = store::connect(&settings).unwrap();
        seed_messages(&db).await;
        store::repo::error_rules::create_rule(&db, &rule(), "alice")
            .await
            .unwrap();
        let list = errors_list(&db).await;
        groups::resolve(&db, list[0].0, "alice", ResolveMode::Now, Some("fixed"))
            .await
            .unwrap();
        let list = errors_list(&db).await;
        db.close().await;
        list
    })
}

fn backup(t: &Target) -> (std::path::PathBuf, serde_json::Value) {
    let dest = temp_dir().keep().join("backup");
    let (status, out) = run(
        &bin("integramon"),
        &["db", "backup", "--dest", dest.to_str().unwrap()],
        &t.env(),
        120,
    );
    assert!(status.success(), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    (dest, manifest)
}

fn check_restored(
    original: &[(String, i64)],
    manifest: &serde_json::Value,
    restored: &[(String, i64)],
) {
    for (table, n) in original {
        assert!(*n > 0, "{table} was seeded");
        assert_eq!(
            manifest["row_counts"][table].as_i64(),
            Some(*n),
            "{table}: the backup's manifest counts it"
        );
    }
    assert_eq!(restored, original, "every error-group table came back");
}

#[test]
fn sqlite_backup_and_restore_carry_the_error_group_tables() {
    let t = Target::sqlite();
    migrate(&t);
    let list = seed_error_groups(&t);
    let original = counts(&t);
    let (dest, manifest) = backup(&t);

    let fresh = Target::sqlite();
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env(),
        120,
    );
    assert!(status.success(), "{out}");
    check_restored(&original, &manifest, &counts(&fresh));
    let settings = fresh.store_settings();
    let restored = block_on(async move {
        let db = store::connect(&settings).unwrap();
        let l = errors_list(&db).await;
        db.close().await;
        l
    });
    assert_eq!(restored, list, "the restored Errors list");
}

#[test]
fn postgres_backup_and_restore_carry_the_error_group_tables() {
    let t = Target::postgres();
    migrate(&t);
    let list = seed_error_groups(&t);
    let original = counts(&t);
    let (dest, manifest) = backup(&t);

    let empty = PgDb::create();
    let mut env = t.env();
    env.retain(|(k, _)| k != "DB_NAME");
    env.push(("DB_NAME".into(), empty.name.clone()));
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &env,
        120,
    );
    assert!(status.success(), "{out}");
    let restored_counts: Vec<(String, i64)> = TABLES
        .iter()
        .map(|table| {
            let n = empty.sql(&format!("SELECT COUNT(*) FROM {table}"));
            (table.to_string(), n.trim().parse().unwrap())
        })
        .collect();
    check_restored(&original, &manifest, &restored_counts);
    let settings = empty.settings();
    let restored = block_on(async move {
        let db = store::connect(&settings).unwrap();
        let l = errors_list(&db).await;
        db.close().await;
        l
    });
    assert_eq!(restored, list, "the restored Errors list");
}
