//! Sign-in and session security against the real web binaries: the login throttle counts
//! parallel guesses and is shared by web replicas on one database, password hashes are bounded,
//! a forced password change blocks everything else, `next` never leads to another site, API
//! tokens end with an admin's reset or a deactivation, a manager limited to some tenants
//! requeues only their dead letters, and smaller web fixes (401 before the body, the downloads'
//! own CSP, NUL in a path).

use std::time::Duration;

use integramon_tests::collect::Database;
use integramon_tests::web::{ADMIN, ADMIN_PASSWORD, Client, Web, csrf_of, url_encode};
use integramon_tests::{Proc, bin, free_port, http_get, wait_for};
use reqwest::Method;
use serde_json::json;

/// `integramon-web` on its own (as compose runs it) on a migrated `database`, with the admin
/// `admin` from `WEB_ADMIN_USER` and `extra` settings.
fn standalone(database: Database, extra: &[(&str, &str)]) -> Web {
    database.migrate();
    let mut env = database.env();
    for (k, v) in [
        ("WEB_ADMIN_USER", ADMIN),
        ("WEB_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .chain(extra)
    {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    let base = extra
        .iter()
        .find(|(k, _)| *k == "APP_BASE_PATH")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let addr = format!("127.0.0.1:{}", free_port());
    let proc = Proc::spawn(&bin("integramon-web"), &["--listen", &addr], &env);
    let web = Web::attach(proc, &addr, &base, database);
    wait_for(30, "the bootstrap admin", || {
        let n = web.database.sql("SELECT count(*) FROM users");
        (n.trim() != "0").then_some(())
    });
    web
}

/// A fresh anonymous client's login form token, then the form posted; returns the status and
/// the `Location` and `Retry-After` headers.
async fn login_attempt(
    url: &str,
    user: &str,
    password: &str,
    next: Option<&str>,
) -> (u16, Option<String>, Option<String>) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let page = http
        .get(format!("{url}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .unwrap_or_default();
    let csrf = csrf_of(&page).expect("csrf on the login page");
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("username", user),
        ("password", password),
    ];
    if let Some(n) = next {
        fields.push(("next", n));
    }
    let resp = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(url_encode(&fields))
        .send()
        .await
        .expect("login post");
    let header = |k: &str| {
        resp.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    (
        resp.status().as_u16(),
        header("location"),
        header("retry-after"),
    )
}

/// `n` sign-ins with a wrong password, all posted at once; their statuses (and whether every
/// refusal said when to retry).
fn parallel_wrong_logins(web: &Web, n: usize) -> Vec<(u16, bool)> {
    let url = web.url.clone();
    web.rt.block_on(async move {
        // Every client fetches its form first, one after the other; then all post at once.
        let mut ready = Vec::new();
        for i in 0..n {
            let http = reqwest::Client::builder()
                .cookie_store(true)
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client");
            let page = http
                .get(format!("{url}/login"))
                .send()
                .await
                .expect("login page")
                .text()
                .await
                .unwrap_or_default();
            let csrf = csrf_of(&page).expect("csrf");
            let password = format!("wrong guess {i}");
            let body = url_encode(&[
                ("csrf", &csrf),
                ("username", ADMIN),
                ("password", &password),
            ]);
            ready.push((http, body));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = Vec::new();
        for (http, body) in ready {
            let (url, barrier) = (url.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let resp = http
                    .post(format!("{url}/login"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .expect("login post");
                let status = resp.status().as_u16();
                (status, resp.headers().contains_key("retry-after"))
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    })
}

/// Peak resident memory of a process so far, in MiB.
fn peak_mib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb / 1024
}

fn count(statuses: &[(u16, bool)], code: u16) -> usize {
    statuses.iter().filter(|(s, _)| *s == code).count()
}

fn parallel_guesses_are_counted_before_verifying(database: Database) {
    // Enough hashing slots that only the throttle holds the guesses back.
    let web = standalone(
        database,
        &[
            ("DEMO", "false"),
            ("WEB_LOGIN_MAX_FAILURES", "5"),
            ("WEB_PASSWORD_HASHES", "64"),
        ],
    );
    let statuses = parallel_wrong_logins(&web, 40);
    let verified = count(&statuses, 401);
    assert!(
        verified <= 5,
        "at most WEB_LOGIN_MAX_FAILURES guesses may be verified: {statuses:?}"
    );
    assert!(count(&statuses, 429) >= 30, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(s, retry)| *s == 401 || ((*s == 429 || *s == 503) && *retry)),
        "only 401, or 429/503 with Retry-After: {statuses:?}"
    );
    // Refusals under contention are conservative (an attempt in flight counts), so fewer may
    // have been verified; one by one, the rest of the allowance goes, then even the right
    // password waits.
    let mut verified = verified;
    for _ in 0..6 {
        let (s, _, _) = web
            .rt
            .block_on(login_attempt(&web.url, ADMIN, "still wrong", None));
        if s == 429 {
            break;
        }
        assert_eq!(s, 401);
        verified += 1;
    }
    assert_eq!(
        verified, 5,
        "exactly WEB_LOGIN_MAX_FAILURES guesses verified in all"
    );
    let (s, _, retry) = web
        .rt
        .block_on(login_attempt(&web.url, ADMIN, ADMIN_PASSWORD, None));
    assert_eq!(s, 429);
    assert!(retry.is_some());
}

#[test]
fn parallel_wrong_passwords_get_429_on_sqlite() {
    parallel_guesses_are_counted_before_verifying(Database::sqlite());
}

#[test]
fn parallel_wrong_passwords_get_429_on_postgres() {
    parallel_guesses_are_counted_before_verifying(Database::postgres());
}

#[test]
fn concurrent_password_hashes_are_bounded() {
    // A high failure limit, so only the hashing slots hold the attempts back.
    let web = standalone(
        Database::sqlite(),
        &[
            ("DEMO", "false"),
            ("WEB_LOGIN_MAX_FAILURES", "1000"),
            ("WEB_PASSWORD_HASHES", "2"),
        ],
    );
    let before = peak_mib(web.proc.pid());
    let statuses = parallel_wrong_logins(&web, 80);
    let after = peak_mib(web.proc.pid());
    assert!(
        statuses
            .iter()
            .all(|(s, retry)| *s == 401 || (*s == 503 && *retry)),
        "only 401, or 503 with Retry-After: {statuses:?}"
    );
    assert!(
        count(&statuses, 503) >= 1,
        "80 guesses at once do not all get a hashing slot: {statuses:?}"
    );
    // argon2id holds 19 MiB per hash: 80 at once grew the process by more than 1 GiB.
    assert!(
        after.saturating_sub(before) < 200,
        "peak memory grew from {before} MiB to {after} MiB"
    );
    // The server is still there and answers.
    let (s, _, _) = web
        .rt
        .block_on(login_attempt(&web.url, ADMIN, ADMIN_PASSWORD, None));
    assert_eq!(s, 303, "{}", web.output());
}

#[test]
fn password_changes_are_throttled_like_sign_ins() {
    let web = standalone(
        Database::sqlite(),
        &[("DEMO", "false"), ("WEB_LOGIN_MAX_FAILURES", "3")],
    );
    let bob = web.user("bob", "user", &[]);
    let wrong = json!({"current": "not my password", "new_password": "a brand new password"});
    for _ in 0..3 {
        let (s, e) = bob.json(Method::POST, "/api/me/password", Some(wrong.clone()));
        assert_eq!(
            (s, e["fields"][0]["field"].as_str()),
            (422, Some("current"))
        );
    }
    let right = json!({"current": "bob password 123", "new_password": "a brand new password"});
    let (s, e) = bob.json(Method::POST, "/api/me/password", Some(right));
    assert_eq!(s, 429, "{e}");
    assert_eq!(e["error"], "too_many_requests");
}

/// Two web processes (as two replicas behind a load balancer) on one database.
fn replicas_share_the_throttle(database: Database) {
    database.migrate();
    let mut env = database.env();
    for (k, v) in [
        ("WEB_ADMIN_USER", ADMIN),
        ("WEB_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WEB_LOGIN_MAX_FAILURES", "4"),
        ("RUST_LOG", "info"),
    ] {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    let addr_a = format!("127.0.0.1:{}", free_port());
    let addr_b = format!("127.0.0.1:{}", free_port());
    let a = Proc::spawn(&bin("integramon-web"), &["--listen", &addr_a], &env);
    let mut b = Proc::spawn(&bin("integramon-web"), &["--listen", &addr_b], &env);
    let web = Web::attach(a, &addr_a, "", database);
    wait_for(120, "the second web process", || {
        assert!(b.is_running(), "replica B exited:\n{}", b.output());
        http_get(&addr_b, "/readyz").filter(|(code, _)| *code == 200)
    });
    wait_for(30, "the bootstrap admin", || {
        let n = web.database.sql("SELECT count(*) FROM users");
        (n.trim() != "0").then_some(())
    });
    let url_b = format!("http://{addr_b}");
    for url in [&web.url, &url_b, &web.url, &url_b] {
        let (s, _, _) = web
            .rt
            .block_on(login_attempt(url, ADMIN, "wrong password", None));
        assert_eq!(s, 401, "{url}");
    }
    // Four failures in all: each replica saw two, and both refuse now.
    for url in [&url_b, &web.url] {
        let (s, _, retry) = web
            .rt
            .block_on(login_attempt(url, ADMIN, ADMIN_PASSWORD, None));
        assert_eq!(s, 429, "{url}: the replicas share one count");
        assert!(retry.is_some());
    }
    let client_b = web.client().at(&url_b);
    assert!(client_b.try_login(ADMIN, ADMIN_PASSWORD).is_err());
}

#[test]
fn two_web_processes_share_the_throttle_on_sqlite() {
    replicas_share_the_throttle(Database::sqlite());
}

#[test]
fn two_web_processes_share_the_throttle_on_postgres() {
    replicas_share_the_throttle(Database::postgres());
}

#[test]
fn a_forced_password_change_blocks_everything_else() {
    let web = standalone(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    let (s, body) = admin.json(
        Method::POST,
        "/api/users",
        Some(json!({"username": "newbie", "password": "initial password 1", "role": "manager"})),
    );
    assert_eq!(
        (s, body["must_change_password"].as_bool()),
        (201, Some(true)),
        "{body}"
    );
    let newbie_id = body["id"].as_i64().unwrap();
    let (s, location, _) = web.rt.block_on(login_attempt(
        &web.url,
        "newbie",
        "initial password 1",
        None,
    ));
    assert_eq!(s, 303);
    assert_eq!(location.as_deref(), Some("/account?must_change=1"));
    let newbie = web.client().login("newbie", "initial password 1");
    let csrf = newbie.csrf.clone().unwrap();
    // The API refuses everything but the password change.
    for path in [
        "/api/me",
        "/api/tenants",
        "/api/messages",
        "/api/archives/1/download",
    ] {
        let (s, e) = newbie.get_json(path);
        assert_eq!(
            (s, e["error"].as_str()),
            (403, Some("forbidden")),
            "{path}: {e}"
        );
    }
    let (s, e) = newbie.json(Method::POST, "/api/tokens", Some(json!({"name": "sneaky"})));
    assert_eq!(s, 403, "{e}");
    let (s, e) = newbie.json(
        Method::POST,
        "/api/tenants",
        Some(json!({"name": "x", "api_url": "https://x.example"})),
    );
    assert_eq!(s, 403, "{e}");
    // Pages and form posts lead to the account page instead.
    for page in [
        "/",
        "/messages",
        "/tenants",
        "/archives/1/download",
        "/messages/1/payloads/1",
    ] {
        let (s, h, _) = newbie.get_full(page);
        assert_eq!(s, 303, "{page}");
        assert_eq!(h["location"], "/account?must_change=1", "{page}");
    }
    let (s, h, _) = newbie.send_form("/account/tokens", &[("csrf", &csrf), ("name", "sneaky")]);
    assert_eq!(
        (s, h.get("location").map(|l| l.to_str().unwrap())),
        (303, Some("/account?must_change=1"))
    );
    let (_, tokens) = admin.get_json(&format!("/api/tokens?user_id={newbie_id}"));
    assert_eq!(tokens, json!([]), "no token was made");
    // Signing out works before the change.
    let other = web.client().login("newbie", "initial password 1");
    let other_csrf = other.csrf.clone().unwrap();
    let (s, h, _) = other.send_form("/logout", &[("csrf", &other_csrf)]);
    assert_eq!((s, h["location"].to_str().unwrap()), (303, "/login"));
    // The account page itself works and offers no token form yet.
    let (s, page) = newbie.get_text("/account");
    assert_eq!(s, 200);
    assert!(page.contains("change-password"));
    assert!(
        !page.contains("create-token"),
        "no token form before the change"
    );
    // After the change everything opens.
    let (s, e) = newbie.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": "initial password 1", "new_password": "my own password 2"})),
    );
    assert_eq!(s, 204, "{e}");
    assert_eq!(newbie.get_json("/api/me").1["must_change_password"], false);
    assert_eq!(newbie.get_json("/api/tenants").0, 200);
    newbie.create_token("now allowed");
    assert_eq!(web.client().get_text("/static/app.css").0, 200);
}

/// Where `/login?next=…` sends a signed-in admin: the form's hidden field and the redirect.
fn next_target(web: &Web, next: &str) -> (String, String) {
    let c = web.client();
    let (s, page) = c.get_text(&format!("/login?{}", url_encode(&[("next", next)])));
    assert_eq!(s, 200, "{next:?}");
    let at = page.find("name=\"next\" value=\"").expect("next field") + 19;
    let field = page[at..][..page[at..].find('"').unwrap()].to_string();
    let (s, location, _) =
        web.rt
            .block_on(login_attempt(&web.url, ADMIN, ADMIN_PASSWORD, Some(next)));
    assert_eq!(s, 303, "{next:?}");
    (field, location.unwrap_or_default())
}

#[test]
fn login_next_stays_on_this_site() {
    let web = standalone(Database::sqlite(), &[("DEMO", "false")]);
    for evil in [
        "/\t/evil.example",
        "/\r\n/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "http:evil.example",
        "evil.example",
        " /x",
        "/login",
    ] {
        let (field, location) = next_target(&web, evil);
        assert_eq!(field, "/", "the form for {evil:?}");
        assert_eq!(location, "/", "the redirect for {evil:?}");
    }
    let (field, location) = next_target(&web, "/messages?status=FAILED");
    assert_eq!(
        (field.as_str(), location.as_str()),
        ("/messages?status=FAILED", "/messages?status=FAILED")
    );
}

#[test]
fn login_next_respects_the_base_path() {
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("APP_BASE_PATH", "/mon")],
    );
    for evil in [
        "/messages",
        "/monitor",
        "//evil.example",
        "/mon//evil.example",
        "/mon/\t/x",
    ] {
        let (_, location) = next_target(&web, evil);
        assert_eq!(location, "/mon/", "the redirect for {evil:?}");
    }
    let (_, location) = next_target(&web, "/mon/messages");
    assert_eq!(location, "/mon/messages");
}

fn revoked(web: &Web, token: &str) -> bool {
    web.client().with_token(token).get_json("/api/me").0 == 401
}

fn tokens_end_with_reset_and_deactivation(database: Database) {
    let web = standalone(database, &[("DEMO", "false")]);
    let admin = web.admin_token();
    let bob = web.user("bob", "user", &[]);
    let (_, me) = bob.get_json("/api/me");
    let id = me["id"].as_i64().unwrap();
    let user_path = format!("/api/users/{id}");
    let put = |active: bool, password: Option<&str>| {
        let mut body = json!({"role": "user", "groups": [], "active": active});
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        let (s, e) = admin.json(Method::PUT, &user_path, Some(body));
        assert_eq!(s, 200, "{e}");
    };
    // Bob's own password change keeps his tokens (documented in docs/web.md).
    let kept = bob.create_token("survives my own change");
    let (s, _) = bob.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": "bob password 123", "new_password": "bob second password"})),
    );
    assert_eq!(s, 204);
    assert!(!revoked(&web, &kept));
    // An admin's reset revokes them.
    let reset = bob.create_token("before the reset");
    put(true, Some("reset by the admin 1"));
    assert!(revoked(&web, &reset), "a reset revokes tokens");
    assert!(revoked(&web, &kept));
    // Deactivation revokes them for good: reactivation does not bring them back.
    let bob = web.client().login("bob", "reset by the admin 1");
    let (s, _) = bob.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": "reset by the admin 1", "new_password": "bob third password"})),
    );
    assert_eq!(s, 204);
    let later = bob.create_token("before deactivation");
    assert!(!revoked(&web, &later));
    put(false, None);
    put(true, None);
    assert!(revoked(&web, &later), "reactivation brought a token back");
    let (_, list) = admin.get_json(&format!("/api/tokens?user_id={id}"));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["revoked_at"].is_string()),
        "{list}"
    );
}

#[test]
fn tokens_are_revoked_by_reset_and_deactivation_on_sqlite() {
    tokens_end_with_reset_and_deactivation(Database::sqlite());
}

#[test]
fn tokens_are_revoked_by_reset_and_deactivation_on_postgres() {
    tokens_end_with_reset_and_deactivation(Database::postgres());
}

/// A dead letter of `tenant` put straight into the dead-letter queue of `prefix`.
async fn dead_letter(queue: &queue::AmqpQueue, prefix: &str, tenant: i64) {
    use lapin::types::{AMQPValue, FieldTable};
    let job = domain::job::JobEnvelope::new(
        domain::job::JobType::Keystore,
        domain::job::TenantRef::Id(tenant),
        json!({}),
        chrono::Utc::now(),
    );
    let mut headers = FieldTable::default();
    headers.insert(
        queue::topology::DEAD_ROUTING_KEY_HEADER.into(),
        AMQPValue::LongString(format!("{prefix}.keystore").into()),
    );
    headers.insert(
        queue::topology::DEAD_REASON_HEADER.into(),
        AMQPValue::LongString("test".into()),
    );
    queue
        .publish_raw(&format!("{prefix}.dead"), &job.to_json(), headers)
        .await
        .expect("dead letter");
}

#[test]
fn a_restricted_manager_requeues_only_their_tenants_dead_letters() {
    let prefix = format!(
        "imt-signin-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let amqp_url = integramon_tests::collect::shared_amqp_url();
    let web = standalone(
        Database::sqlite(),
        &[
            ("AMQP_URL", amqp_url.as_str()),
            ("AMQP_PREFIX", prefix.as_str()),
        ],
    );
    let admin = web.admin_token();
    let tenant = |name: &str, tag: &str| -> i64 {
        let (s, t) = admin.json(
            Method::POST,
            "/api/tenants",
            Some(json!({
                "name": name, "api_url": "https://tenant.example",
                "auth": {"kind": "basic", "username": "u"}, "secret": "s", "tags": [tag]
            })),
        );
        assert_eq!(s, 201, "{t}");
        t["id"].as_i64().unwrap()
    };
    let finance = tenant("finance", "finance");
    let ops = tenant("ops", "ops");
    let queue = queue::AmqpQueue::new(queue::QueueConfig {
        url: amqp_url.clone(),
        prefix: prefix.clone(),
        connection_name: "integramon-security-test".into(),
        ..queue::QueueConfig::default()
    })
    .expect("queue config");
    web.rt.block_on(async {
        use queue::JobQueue as _;
        queue.declare().await.expect("RabbitMQ");
        dead_letter(&queue, &prefix, finance).await;
        dead_letter(&queue, &prefix, ops).await;
        // Published with confirms; wait until both are in the queue.
        for _ in 0..50 {
            let depths = queue.depths().await.expect("depths");
            if depths
                .iter()
                .any(|d| d.queue.ends_with(".dead") && d.messages == 2)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let manager = web.user("fin", "manager", &["finance"]);
    let (s, out) = manager.json(Method::POST, "/api/jobs/dead/requeue", None);
    assert_eq!((s, out["requeued"].as_i64()), (200, Some(1)), "{out}");
    let left = web
        .rt
        .block_on(async {
            use queue::JobQueue as _;
            queue.take_dead(10).await
        })
        .expect("dead letters");
    assert_eq!(left.len(), 1, "{left:?}");
    let job: domain::job::JobEnvelope = serde_json::from_slice(&left[0].body).unwrap();
    assert_eq!(
        job.tenant,
        domain::job::TenantRef::Id(ops),
        "the other tenant's stays"
    );
    web.rt.block_on(queue.delete_topology()).ok();
}

fn small_fixes(web: &Web, admin: &Client<'_>) {
    // A bogus token is refused before the body is read, whatever the body.
    let bogus = web.client().with_token("imt_bogus");
    for (method, path) in [
        (Method::POST, "/api/tenants"),
        (Method::PUT, "/api/users/1"),
        (Method::POST, "/api/tokens"),
    ] {
        let r = bogus
            .http
            .request(method.clone(), format!("{}{path}", web.url))
            .bearer_auth("imt_bogus")
            .header("content-type", "application/json")
            .body("{not json");
        let (s, _, body) = bogus.send(r);
        assert_eq!(s, 401, "{method} {path}: {body}");
    }
    // A NUL in a path segment or the query is a bad request, not a database failure.
    for path in [
        "/api/jobs/a%00b/retry",
        "/api/tenants/1/artifacts/a%00b",
        "/api/messages?status=FAILED%00",
    ] {
        let method = if path.ends_with("retry") {
            Method::POST
        } else {
            Method::GET
        };
        let (s, body) = admin.json(method, path, None);
        assert!(s == 400 || s == 404, "{path}: {s} {body}");
    }
}

#[test]
fn bogus_tokens_and_nul_paths_on_postgres() {
    let web = standalone(Database::postgres(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    small_fixes(&web, &admin);
}

#[test]
fn downloads_keep_their_sandbox_csp_and_small_fixes_on_sqlite() {
    let web = Web::up(Database::sqlite(), &[]);
    let admin = web.admin_token();
    small_fixes(&web, &admin);
    let (_, detail) = admin.failed_with_payload();
    let payload = detail["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["has_content"] == true)
        .and_then(|p| p["id"].as_i64())
        .expect("payload id");
    let path = format!("/api/payloads/{payload}");
    let (s, h, _) = admin.get_bytes(&path);
    assert_eq!(s, 200, "{path}");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("sandbox"), "{path}: {csp}");
    assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
}
