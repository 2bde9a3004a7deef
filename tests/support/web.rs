//! The web UI and API under test: `integramon up` (every daemon in one process, the in-process
//! queue, optionally the simulated tenant "demo") on a test database, and HTTP clients that sign
//! in with a session (cookie + CSRF token) or an API token.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::collect::Database;
use crate::{Proc, bin, free_port, http_get, wait_for};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin password for tests";

/// A running `integramon up`.
pub struct Web {
    pub proc: Proc,
    pub addr: String,
    /// `http://addr` plus `APP_BASE_PATH`.
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    // Last: the database outlives the process using it.
    pub database: Database,
}

impl Web {
    /// Start `integramon up` on `database` with `extra` settings (e.g. `DEMO=false`,
    /// `WEB_MASK_ROLES=user`). The admin `admin` is created from `WEB_ADMIN_USER`.
    pub fn up(database: Database, extra: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = database.env();
        let base = extra
            .iter()
            .find(|(k, _)| *k == "APP_BASE_PATH")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let ours = [
            ("WEB_ADMIN_USER", ADMIN),
            ("WEB_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("DEMO_LISTEN", "127.0.0.1:0"),
            ("CPI_RATE_LIMITS", "off"),
            ("CONTROLLER_TICK", "1"),
            ("RUST_LOG", "info"),
        ];
        for (k, v) in ours.iter().chain(extra) {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut proc = Proc::spawn(&bin("integramon"), &["up", "--listen", &addr], &env);
        wait_for(120, "integramon up to be ready", || {
            assert!(
                proc.is_running(),
                "integramon up exited:\n{}",
                proc.output()
            );
            http_get(&addr, "/readyz").filter(|(code, _)| *code == 200)
        });
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let url = format!("http://{addr}{base}");
        let web = Self {
            proc,
            addr,
            url,
            rt,
            database,
        };
        // The bootstrap admin is created by the web's start-up work, just after readiness. Asked
        // of the database, not by signing in: failed sign-ins would count towards throttling.
        wait_for(30, "the bootstrap admin", || {
            let n = web.database.sql("SELECT count(*) FROM users");
            (n.trim() != "0").then_some(())
        });
        web
    }

    /// Wrap a web process the test started itself (e.g. `integramon-web` as compose.yaml runs
    /// it) that listens on `addr` and serves under `base_path`; waits for its `/readyz`. No admin
    /// is assumed: sign in with [`Client::login`] as whoever the process was told to create.
    pub fn attach(mut proc: Proc, addr: &str, base_path: &str, database: Database) -> Self {
        let ready = format!("{base_path}/readyz");
        wait_for(120, "the web process to be ready", || {
            assert!(
                proc.is_running(),
                "{} exited:\n{}",
                proc.name,
                proc.output()
            );
            http_get(addr, &ready)
                .or_else(|| http_get(addr, "/readyz"))
                .filter(|(code, _)| *code == 200)
        });
        Self {
            proc,
            addr: addr.to_string(),
            url: format!("http://{addr}{base_path}"),
            rt: tokio::runtime::Runtime::new().expect("runtime"),
            database,
        }
    }

    pub fn client(&self) -> Client<'_> {
        Client {
            web: self,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            token: None,
            csrf: None,
            url: self.url.clone(),
        }
    }

    /// A session of the admin.
    pub fn admin(&self) -> Client<'_> {
        self.client().login(ADMIN, ADMIN_PASSWORD)
    }

    /// An API token client of the admin.
    pub fn admin_token(&self) -> Client<'_> {
        let token = self.admin().create_token("tests");
        self.client().with_token(&token)
    }

    /// Create a user (role `user`, `manager` or `admin`) and return a session of theirs.
    pub fn user(&self, name: &str, role: &str, groups: &[&str]) -> Client<'_> {
        let password = format!("{name} password 123");
        let (status, body) = self.admin().json(
            Method::POST,
            "/api/users",
            Some(serde_json::json!({
                "username": name, "password": password, "role": role,
                "groups": groups, "must_change_password": false
            })),
        );
        assert_eq!(status, 201, "creating {name}: {body}");
        self.client().login(name, &password)
    }

    pub fn output(&self) -> String {
        self.proc.output()
    }
}

/// An HTTP client of the app: anonymous, a session, or a token.
pub struct Client<'a> {
    pub web: &'a Web,
    pub http: reqwest::Client,
    pub token: Option<String>,
    /// The session's CSRF token, for API writes with the session cookie.
    pub csrf: Option<String>,
    /// Where requests go: the web's URL, or another replica's ([`Client::at`]).
    pub url: String,
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

impl<'a> Client<'a> {
    /// Send this client's requests to another web process on the same database (a replica).
    pub fn at(mut self, url: &str) -> Self {
        self.url = url.to_string();
        self
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Sign in through the login form; panics when it fails.
    pub fn login(mut self, user: &str, password: &str) -> Self {
        match self.try_login(user, password) {
            Ok(csrf) => self.csrf = Some(csrf),
            Err(e) => panic!("signing in as {user}: {e}\n{}", self.web.output()),
        }
        self
    }

    /// Sign in; returns the session's CSRF token.
    pub fn try_login(&self, user: &str, password: &str) -> Result<String, String> {
        let (_, page) = self.get_text("/login");
        let csrf = csrf_of(&page).ok_or("no csrf field on the login page")?;
        let (status, headers, body) = self.send_form(
            "/login",
            &[("csrf", &csrf), ("username", user), ("password", password)],
        );
        if status != 303 {
            return Err(format!("login answered {status}: {body}"));
        }
        let _ = headers;
        let (_, account) = self.get_text("/account");
        csrf_of(&account).ok_or_else(|| "no csrf on the account page".to_string())
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if method != Method::GET
            && let Some(c) = &self.csrf
        {
            r = r.header("X-CSRF-Token", c);
        }
        r
    }

    /// Send any request; returns status, headers and body text.
    pub fn send(&self, r: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, String) {
        self.web.rt.block_on(async {
            let resp = r.send().await.expect("request");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            (status, headers, body)
        })
    }

    /// A GET whose body is kept as bytes (downloads).
    pub fn get_bytes(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.request(Method::GET, path);
        self.web.rt.block_on(async {
            let resp = r.send().await.expect("request");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            (status, headers, body)
        })
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let (s, _, b) = self.send(self.request(Method::GET, path));
        (s, b)
    }

    pub fn get_full(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        self.send(self.request(Method::GET, path))
    }

    /// A JSON API call; the body is parsed when it is JSON (`Value::Null` otherwise).
    pub fn json(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (s, _, text) = self.send(r);
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn get_json(&self, path: &str) -> (u16, Value) {
        self.json(Method::GET, path, None)
    }

    /// A form POST (as a browser sends it).
    pub fn send_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let body = url_encode(fields);
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(r)
    }

    /// Create an API token through the API with this session; returns the secret.
    pub fn create_token(&self, name: &str) -> String {
        let (status, body) = self.json(
            Method::POST,
            "/api/tokens",
            Some(serde_json::json!({ "name": name })),
        );
        assert_eq!(status, 201, "creating a token: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Wait until `GET path` answers 200 with JSON for which `f` is `Some`.
    pub fn wait_json<T>(
        &self,
        secs: u64,
        what: &str,
        path: &str,
        mut f: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (s, v) = self.get_json(path);
            if s == 200
                && let Some(found) = f(&v)
            {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after {secs}s waiting for {what}; GET {path} last answered {s} {v}\n{}",
                self.web.proc.tail(80)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Client<'_> {
    /// A failed message with its error text and a downloaded payload, once collection has them
    /// (not every failed message has a payload: only those whose iFlow persists one).
    pub fn failed_with_payload(&self) -> (i64, Value) {
        self.wait_json(
            240,
            "a failed message with its error text and a downloaded payload",
            "/api/messages?range=24h&status=FAILED&limit=100&facets=false",
            |list| {
                let ids: Vec<i64> = list["items"]
                    .as_array()?
                    .iter()
                    .filter_map(|m| m["id"].as_i64())
                    .collect();
                ids.into_iter().find_map(|id| {
                    let (s, d) = self.get_json(&format!("/api/messages/{id}"));
                    let has_payload = d["payloads"]
                        .as_array()?
                        .iter()
                        .any(|p| p["has_content"] == true);
                    (s == 200 && d["error"]["text"].is_string() && has_payload).then_some((id, d))
                })
            },
        )
    }
}

pub fn url_encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&enc(k));
        out.push('=');
        out.push_str(&enc(v));
    }
    out
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
