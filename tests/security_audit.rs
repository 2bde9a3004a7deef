//! The audit log: every change to users, tokens, tenants (their secrets without the values),
//! job settings and archives is recorded with who, when and from where, listed to admins at
//! `/api/audit` and on the `/audit` page, and refused to everyone else. Against `integramon up`
//! on SQLite and PostgreSQL.

use chrono::{DateTime, NaiveDate, Utc};
use integramon_tests::collect::Database;
use integramon_tests::web::{ADMIN, Web};
use reqwest::Method;
use serde_json::{Value, json};

const TENANT_SECRET: &str = "first-tenant-secret-9f3a";
const TENANT_SECRET_2: &str = "second-tenant-secret-7c21";
const USER_PASSWORD: &str = "carol initial password 1";
const USER_PASSWORD_2: &str = "carol reset password 22";

/// Every entry of the log, newest first, walking the pages of `limit` entries.
fn all_entries(admin: &integramon_tests::web::Client<'_>, query: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut path = format!("/api/audit?limit={limit}{query}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let (s, page) = admin.get_json(&path);
        assert_eq!(s, 200, "{path}: {page}");
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit as usize, "{page}");
        out.extend(items);
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => return out,
        }
    }
}

fn audit_records_every_kind_of_change(database: Database) {
    let web = Web::up(database, &[("DEMO", "false")]);
    let started: DateTime<Utc> = Utc::now() - chrono::Duration::seconds(1);
    let admin = web.admin();

    // Users.
    let (s, carol) = admin.json(
        Method::POST,
        "/api/users",
        Some(
            json!({"username": "carol", "password": USER_PASSWORD, "role": "user",
                    "must_change_password": false}),
        ),
    );
    assert_eq!(s, 201, "{carol}");
    let carol_id = carol["id"].as_i64().unwrap();
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/users/{carol_id}"),
        Some(json!({"role": "manager", "active": true})),
    );
    assert_eq!(s, 200, "{e}");
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/users/{carol_id}"),
        Some(json!({"role": "manager", "active": true, "password": USER_PASSWORD_2})),
    );
    assert_eq!(s, 200, "{e}");

    // Tokens.
    let (s, tok) = admin.json(Method::POST, "/api/tokens", Some(json!({"name": "ci"})));
    assert_eq!(s, 201, "{tok}");
    let token_secret = tok["token"].as_str().unwrap().to_string();
    let token_id = tok["id"].as_i64().unwrap();
    let (s, e) = admin.json(Method::DELETE, &format!("/api/tokens/{token_id}"), None);
    assert!(s == 204 || s == 200, "{s} {e}");

    // Tenants, their secret and their job settings.
    let body = json!({
        "name": "audited", "api_url": "http://127.0.0.1:9",
        "auth": {"kind": "basic", "username": "u"}, "secret": TENANT_SECRET,
        "jobs": [{"kind": "messages_hot", "enabled": false, "interval_secs": 60}]
    });
    let (s, t) = admin.json(Method::POST, "/api/tenants", Some(body.clone()));
    assert_eq!(s, 201, "{t}");
    let tenant_id = t["id"].as_i64().unwrap();
    let mut changed = body.clone();
    changed["secret"] = json!(TENANT_SECRET_2);
    changed["tags"] = json!(["prod"]);
    changed["jobs"] = json!([{"kind": "messages_hot", "enabled": false, "interval_secs": 120}]);
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/tenants/{tenant_id}"),
        Some(changed),
    );
    assert_eq!(s, 200, "{e}");

    // Archives: a row as the archiver leaves it (its file is gone already), deleted.
    let db = web
        .rt
        .block_on(async { store::connect(&web.database.store_settings()) })
        .expect("connecting");
    let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
    let archive_id = web.rt.block_on(async {
        let row = store::repo::archives::begin_day(
            &db,
            tenant_id,
            day,
            "audited_2026_01_02.archive",
            "audited/archive/audited_2026_01_02.archive",
            Utc::now(),
        )
        .await
        .unwrap();
        store::repo::archives::mark_archived(
            &db,
            row.id,
            "audited/archive/audited_2026_01_02.archive",
            10,
            1,
            "0000",
            Utc::now(),
        )
        .await
        .unwrap();
        row.id
    });
    // The all-in-one's archiver may be running over the tenant just now; the delete is refused
    // (409) until that run ends, which is the product's rule, so ask again until it is not.
    let (s, e) = integramon_tests::wait_for(120, "the tenant's archive run to end", || {
        let (s, e) = admin.json(Method::DELETE, &format!("/api/archives/{archive_id}"), None);
        (s != 409).then_some((s, e))
    });
    assert_eq!(s, 204, "{e}");

    let (s, e) = admin.json(Method::DELETE, &format!("/api/tenants/{tenant_id}"), None);
    assert_eq!(s, 204, "{e}");
    let (s, e) = admin.json(Method::DELETE, &format!("/api/users/{carol_id}"), None);
    assert!(s == 204 || s == 200, "{s} {e}");

    // Everything is there, with actor, time and source address, newest first, in pages.
    let entries = all_entries(&admin, "", 3);
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [
        TENANT_SECRET,
        TENANT_SECRET_2,
        USER_PASSWORD,
        USER_PASSWORD_2,
        token_secret.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "a secret value is in the log: {text}"
        );
    }
    let find = |action: &str, object_id: i64| -> Value {
        let id = object_id.to_string();
        entries
            .iter()
            .find(|e| e["action"] == action && e["object_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no {action} of {object_id} in {text}"))
            .clone()
    };
    for (action, id) in [
        ("user.created", carol_id),
        ("user.updated", carol_id),
        ("user.password_reset", carol_id),
        ("user.deleted", carol_id),
        ("token.created", token_id),
        ("token.revoked", token_id),
        ("tenant.created", tenant_id),
        ("tenant.updated", tenant_id),
        ("tenant.secret_changed", tenant_id),
        ("tenant.jobs_changed", tenant_id),
        ("tenant.deleted", tenant_id),
        ("archive.deleted", archive_id),
    ] {
        let e = find(action, id);
        assert_eq!(e["actor"], ADMIN, "{e}");
        assert_eq!(e["source"], "127.0.0.1", "{e}");
        let at: DateTime<Utc> = e["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= started && at <= Utc::now(), "{e}");
    }
    // What changed is named, never its value.
    let updated = find("tenant.updated", tenant_id);
    assert!(updated["details"].to_string().contains("tags"), "{updated}");
    let jobs = find("tenant.jobs_changed", tenant_id);
    assert!(
        jobs["details"].to_string().contains("messages_hot"),
        "{jobs}"
    );
    let role = find("user.updated", carol_id);
    assert!(role["details"].to_string().contains("role"), "{role}");
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, no repeats across pages");

    // Filters.
    let only = all_entries(&admin, "&object_type=tenant&action=tenant.deleted", 50);
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0]["object_name"], "audited");
    let (s, e) = admin.get_json("/api/audit?limit=0");
    assert_eq!(s, 422, "{e}");

    // The page shows it to admins.
    let (s, html) = admin.get_text("/audit");
    assert_eq!(s, 200);
    assert!(html.contains("tenant.secret_changed") && html.contains("127.0.0.1"));
    assert!(!html.contains(TENANT_SECRET_2));

    // Nobody else sees it.
    let manager = web.user("mona", "manager", &[]);
    assert_eq!(manager.get_json("/api/audit").0, 403);
    assert_eq!(manager.get_text("/audit").0, 403);
    let user = web.user("ulf", "user", &[]);
    assert_eq!(user.get_json("/api/audit").0, 403);
    // The OpenAPI document describes it.
    let (_, doc) = admin.get_json("/api/openapi.json");
    assert!(
        doc["paths"]["/api/audit"]["get"].is_object(),
        "not documented"
    );
}

#[test]
fn audit_records_every_kind_of_change_on_sqlite() {
    audit_records_every_kind_of_change(Database::sqlite());
}

#[test]
fn audit_records_every_kind_of_change_on_postgres() {
    audit_records_every_kind_of_change(Database::postgres());
}
