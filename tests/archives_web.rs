//! Archives in the web UI and API, against `integramon up` on SQLite with a real archive file
//! written by `integramon archive run`: listed and summarised for those who may see the tenant,
//! downloaded byte for byte (refused when masked), deleted by managers only, the row kept.

use std::process::Command;

use chrono::{Duration, Utc};
use integramon_tests::bin;
use integramon_tests::collect::Database;
use integramon_tests::proc::run;
use integramon_tests::web::{Web, csrf_of};
use reqwest::Method;
use serde_json::Value;

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("download");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&file).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn archives_are_listed_downloaded_and_deleted_with_access_control() {
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("WEB_MASK_ROLES", "user")],
    );
    let env = web.database.env();
    // 400 messages over 40 days: the days past the default 30 can be archived.
    let (status, out) = run(
        &bin("integramon"),
        &[
            "db",
            "seed",
            "--tenant",
            "arch",
            "--messages",
            "400",
            "--days",
            "40",
        ],
        &env,
        120,
    );
    assert!(status.success(), "seeding failed:\n{out}");
    let day = (Utc::now() - Duration::days(35)).date_naive().to_string();
    let other_day = (Utc::now() - Duration::days(37)).date_naive().to_string();
    for d in [&day, &other_day] {
        let (status, out) = run(
            &bin("integramon"),
            &["archive", "run", "--tenant", "arch", "--day", d],
            &env,
            120,
        );
        assert!(status.success(), "archive run failed:\n{out}");
    }

    let admin = web.admin_token();
    let (s, list) = admin.get_json(&format!("/api/archives?from={day}"));
    assert_eq!(s, 200, "{list}");
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    let a = &rows[0];
    assert_eq!(a["tenant"], "arch");
    assert_eq!(a["day"], day.as_str());
    assert_eq!(a["status"], "archived");
    let count = a["message_count"].as_i64().unwrap();
    assert!(count > 0, "{a}");
    assert!(a.get("path").is_none(), "server paths are not shown: {a}");
    let id = a["id"].as_i64().unwrap();
    let (s, one) = admin.get_json(&format!("/api/archives/{id}"));
    assert_eq!((s, &one["id"]), (200, &a["id"]));
    let (s, sums) = admin.get_json("/api/archives/summary");
    assert_eq!(s, 200, "{sums}");
    assert_eq!(sums[0]["archived_files"], 2);
    assert!(sums[0]["archived_messages"].as_i64().unwrap() > count);
    let (s, bad) = admin.get_json("/api/archives?status=gone&from=yesterday");
    assert_eq!(s, 422);
    let fields: Vec<&str> = bad["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["status"], "the first bad field is named: {bad}");

    // The download is the file, byte for byte: its SHA-256 is the recorded checksum.
    let (s, headers, body) = admin.get_bytes(&format!("/api/archives/{id}/download"));
    assert_eq!(s, 200);
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip");
    assert_eq!(sha256_hex(&body), a["checksum"].as_str().unwrap());
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );

    // A masked role sees the row but may not download; another group sees nothing.
    let viewer = web.user("viewer", "user", &[]);
    assert_eq!(
        viewer.get_json("/api/archives").1.as_array().unwrap().len(),
        2
    );
    let (s, e) = viewer.get_json(&format!("/api/archives/{id}/download"));
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")), "{e}");
    let stranger = web.user("stranger", "manager", &["elsewhere"]);
    assert_eq!(stranger.get_json("/api/archives").1, Value::Array(vec![]));
    assert_eq!(stranger.get_json(&format!("/api/archives/{id}")).0, 404);
    assert_eq!(
        stranger
            .json(Method::DELETE, &format!("/api/archives/{id}"), None)
            .0,
        404
    );
    // Only managers delete.
    assert_eq!(
        viewer
            .json(Method::DELETE, &format!("/api/archives/{id}"), None)
            .0,
        403
    );

    // The page lists it; a manager deletes it with the page's form.
    let manager = web.user("keeper", "manager", &[]);
    let (s, html) = manager.get_text("/archives");
    assert_eq!(s, 200);
    assert!(html.contains(&day) && html.contains("Download"), "{html}");
    let file = web
        .database
        .sql(&format!("SELECT path FROM archives WHERE id = {id}"));
    assert!(std::path::Path::new(file.trim()).is_file(), "{file}");
    let csrf = csrf_of(&html).expect("a csrf field");
    let (s, headers, _) = manager.send_form(
        &format!("/archives/{id}/delete"),
        &[("csrf", csrf.as_str())],
    );
    assert_eq!(s, 303);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .contains(&format!("deleted={day}"))
    );
    assert!(!std::path::Path::new(file.trim()).exists(), "file removed");
    let (_, gone) = admin.get_json(&format!("/api/archives/{id}"));
    assert_eq!(gone["status"], "deleted");
    assert!(gone["deleted_at"].is_string());
    assert_eq!(gone["message_count"], count, "the row stays as a record");
    let (s, e) = admin.get_json(&format!("/api/archives/{id}/download"));
    assert_eq!(s, 409, "{e}");
    assert_eq!(
        admin
            .json(Method::DELETE, &format!("/api/archives/{id}"), None)
            .0,
        409
    );
    let (_, sums) = admin.get_json("/api/archives/summary");
    assert_eq!(sums[0]["archived_files"], 1);
    assert_eq!(sums[0]["deleted_files"], 1);

    // A file removed by hand: the download says so, a delete only marks the row.
    let (_, list) = admin.get_json(&format!("/api/archives?to={other_day}"));
    let other = list[0]["id"].as_i64().unwrap();
    let path = web
        .database
        .sql(&format!("SELECT path FROM archives WHERE id = {other}"));
    std::fs::remove_file(path.trim()).unwrap();
    assert_eq!(
        admin.get_json(&format!("/api/archives/{other}/download")).0,
        404
    );
    let (s, body) = manager.json(Method::DELETE, &format!("/api/archives/{other}"), None);
    assert_eq!(s, 204, "{body}");
    let (_, gone) = admin.get_json(&format!("/api/archives/{other}"));
    assert_eq!(gone["status"], "deleted");
}

/// Tenants whose names are the same once made file-safe ("col lide", "col_lide") archived on
/// the same day keep one file each, and each downloads its own; a file that no longer has the
/// checksum its row records is neither downloaded nor deleted.
#[test]
fn colliding_tenant_names_download_their_own_archives_and_tampered_files_are_refused() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let env = web.database.env();
    let day = (Utc::now() - Duration::days(35)).date_naive().to_string();
    for (name, seed) in [("col lide", "1"), ("col_lide", "2")] {
        let (status, out) = run(
            &bin("integramon"),
            &[
                "db",
                "seed",
                "--tenant",
                name,
                "--messages",
                "400",
                "--days",
                "40",
                "--seed",
                seed,
            ],
            &env,
            120,
        );
        assert!(status.success(), "seeding {name} failed:\n{out}");
        let (status, out) = run(
            &bin("integramon"),
            &["archive", "run", "--tenant", name, "--day", &day],
            &env,
            120,
        );
        assert!(status.success(), "archive run of {name} failed:\n{out}");
    }
    let admin = web.admin_token();
    let (s, list) = admin.get_json(&format!("/api/archives?from={day}&to={day}"));
    assert_eq!(s, 200, "{list}");
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2, "one archive per tenant: {list}");
    let mut checksums = Vec::new();
    for a in rows {
        let id = a["id"].as_i64().unwrap();
        let (s, _, body) = admin.get_bytes(&format!("/api/archives/{id}/download"));
        assert_eq!(s, 200);
        // Its own file: the recorded checksum, and the header names its own tenant.
        assert_eq!(sha256_hex(&body), a["checksum"].as_str().unwrap(), "{a}");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["tenant"], a["tenant"], "{a}");
        assert_eq!(header["tenant_id"], a["tenant_id"], "{a}");
        checksums.push(a["checksum"].as_str().unwrap().to_string());
    }
    assert_ne!(checksums[0], checksums[1]);

    // One file replaced by the other's (what the shared file name did): refused.
    let (first, second) = (
        rows[0]["id"].as_i64().unwrap(),
        rows[1]["id"].as_i64().unwrap(),
    );
    let path_of = |id: i64| {
        web.database
            .sql(&format!("SELECT path FROM archives WHERE id = {id}"))
            .trim()
            .to_string()
    };
    std::fs::copy(path_of(second), path_of(first)).unwrap();
    let (s, e) = admin.get_json(&format!("/api/archives/{first}/download"));
    assert_eq!(s, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not match the checksum")),
        "{e}"
    );
    let manager = web.user("keeper", "manager", &[]);
    let (s, e) = manager.json(Method::DELETE, &format!("/api/archives/{first}"), None);
    assert_eq!(s, 409, "{e}");
    assert!(
        std::path::Path::new(&path_of(first)).exists(),
        "not deleted"
    );
    // The other one is untouched and still served.
    assert_eq!(
        admin
            .get_bytes(&format!("/api/archives/{second}/download"))
            .0,
        200
    );
}
