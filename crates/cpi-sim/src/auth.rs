//! HTTP Basic users and the OAuth2 client-credentials token endpoint. Tokens are self-contained
//! and signed (no token table, no lock per request); "expire every token" bumps a generation
//! counter that every token carries.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::config::{Role, SimConfig};
use crate::reply::Reply;

/// A set of roles as bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Roles(u8);

impl Roles {
    pub(crate) fn all() -> Roles {
        Roles::of(&Role::ALL)
    }

    pub(crate) fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |acc, r| acc | Roles::bit(*r)))
    }

    fn bit(r: Role) -> u8 {
        match r {
            Role::MonitoringDataRead => 1,
            Role::MessagePayloadsRead => 2,
            Role::WorkspacePackagesRead => 4,
        }
    }

    pub(crate) fn has(self, r: Role) -> bool {
        self.0 & Roles::bit(r) != 0
    }
}

struct BasicUser {
    /// The whole expected header value, so the common case is one string compare.
    header: String,
    name: String,
    password: String,
    roles: Roles,
}

pub(crate) enum AuthResult {
    Ok {
        roles: Roles,
    },
    /// 401, with the challenge for `WWW-Authenticate`.
    Denied(&'static str),
}

pub(crate) struct Auth {
    users: Vec<BasicUser>,
    client_id: String,
    client_secret: String,
    ttl_secs: u64,
    key: [u8; 32],
    generation: AtomicU64,
    nonce: AtomicU64,
}

const BASIC_CHALLENGE: &str = "Basic realm=\"SAP Cloud Integration (simulated)\"";
const BEARER_CHALLENGE: &str = "Bearer error=\"invalid_token\"";

impl Auth {
    pub(crate) fn new(cfg: &SimConfig, start_ms: i64) -> Auth {
        let mut users = Vec::new();
        if !cfg.user.is_empty() {
            users.push((cfg.user.clone(), cfg.password.clone(), Roles::all()));
        }
        for u in &cfg.extra_users {
            users.push((u.name.clone(), u.password.clone(), Roles::of(&u.roles)));
        }
        let users = users
            .into_iter()
            .map(|(name, password, roles)| BasicUser {
                header: format!("Basic {}", STANDARD.encode(format!("{name}:{password}"))),
                name,
                password,
                roles,
            })
            .collect();
        // Tokens from an earlier run of the simulator must not validate in this one.
        let key: [u8; 32] = Sha256::digest(
            format!(
                "cpi-sim-token-key:{}:{}:{}",
                cfg.seed, cfg.client_secret, start_ms
            )
            .as_bytes(),
        )
        .into();
        Auth {
            users,
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            ttl_secs: cfg.token_ttl.as_secs().max(1),
            key,
            generation: AtomicU64::new(0),
            nonce: AtomicU64::new(0),
        }
    }

    pub(crate) fn oauth_enabled(&self) -> bool {
        !self.client_id.is_empty()
    }

    pub(crate) fn basic_user(&self) -> Option<&str> {
        self.users.first().map(|u| u.name.as_str())
    }

    /// Checks an `Authorization` header for an API request.
    pub(crate) fn check(&self, header: Option<&str>, now_ms: i64) -> AuthResult {
        let Some(h) = header else {
            return AuthResult::Denied(BASIC_CHALLENGE);
        };
        if let Some(u) = self.users.iter().find(|u| u.header == h) {
            return AuthResult::Ok { roles: u.roles };
        }
        if let Some((user, pass)) = decode_basic(h) {
            // Same credentials, differently encoded (e.g. no padding): still fine.
            if let Some(u) = self
                .users
                .iter()
                .find(|u| u.name == user && u.password == pass)
            {
                return AuthResult::Ok { roles: u.roles };
            }
            return AuthResult::Denied(BASIC_CHALLENGE);
        }
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "));
        match token {
            Some(tok) if self.oauth_enabled() && self.token_valid(tok.trim(), now_ms) => {
                AuthResult::Ok {
                    roles: Roles::all(),
                }
            }
            Some(_) => AuthResult::Denied(BEARER_CHALLENGE),
            None => AuthResult::Denied(BASIC_CHALLENGE),
        }
    }

    fn sign(&self, payload: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(payload);
        hex::encode(&h.finalize()[..16])
    }

    /// A fresh token valid for the configured TTL from `now_ms`.
    pub(crate) fn issue(&self, now_ms: i64) -> (String, u64) {
        let generation = self.generation.load(Ordering::SeqCst);
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let expires = now_ms + (self.ttl_secs as i64) * 1000;
        let payload = format!("{generation}.{expires}.{nonce}");
        let body = URL_SAFE_NO_PAD.encode(payload.as_bytes());
        let sig = self.sign(body.as_bytes());
        (format!("{body}.{sig}"), self.ttl_secs)
    }

    fn token_valid(&self, token: &str, now_ms: i64) -> bool {
        let Some((body, sig)) = token.split_once('.') else {
            return false;
        };
        if self.sign(body.as_bytes()) != sig {
            return false;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(body) else {
            return false;
        };
        let Ok(text) = String::from_utf8(raw) else {
            return false;
        };
        let mut parts = text.split('.');
        let generation: Option<u64> = parts.next().and_then(|p| p.parse().ok());
        let expires: Option<i64> = parts.next().and_then(|p| p.parse().ok());
        matches!((generation, expires), (Some(g), Some(e))
            if g == self.generation.load(Ordering::SeqCst) && now_ms < e)
    }

    /// Invalidates every token issued so far.
    pub(crate) fn expire_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// `POST /oauth/token`: client credentials via HTTP Basic or form fields; `grant_type` in
    /// the form or the query string.
    pub(crate) fn token_endpoint(
        &self,
        header: Option<&str>,
        query: &str,
        form: &[u8],
        now_ms: i64,
    ) -> Reply {
        let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        fields.extend(url::form_urlencoded::parse(form).into_owned());
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (id, secret) = match header.and_then(decode_basic) {
            Some(pair) => pair,
            None => (
                field("client_id").unwrap_or_default(),
                field("client_secret").unwrap_or_default(),
            ),
        };
        if !self.oauth_enabled() || id != self.client_id || secret != self.client_secret {
            return oauth_error(401, "invalid_client", "Bad credentials");
        }
        match field("grant_type").as_deref() {
            Some("client_credentials") => {}
            Some(other) => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type: {other}"),
                );
            }
            None => return oauth_error(400, "invalid_request", "Missing grant type"),
        }
        let (token, ttl) = self.issue(now_ms);
        let body = serde_json::json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl,
            "scope": "it!b1234.ESBMessagingMonitoring uaa.resource",
            "jti": hex::encode(&Sha256::digest(token.as_bytes())[..16]),
        });
        Reply::json(body.to_string().into_bytes())
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    let mut r = Reply::json(
        serde_json::json!({ "error": error, "error_description": description })
            .to_string()
            .into_bytes(),
    );
    r.status = status;
    r
}

fn decode_basic(h: &str) -> Option<(String, String)> {
    let b64 = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let raw = STANDARD
        .decode(b64.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim()))
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimUser;
    use std::time::Duration;

    fn auth() -> Auth {
        let cfg = SimConfig::default()
            .with_basic("u", "p")
            .with_oauth("cid", "csecret", Duration::from_secs(60))
            .with_user(SimUser::without_payload_role("viewer", "v"));
        Auth::new(&cfg, 1_000)
    }

    fn ok(r: AuthResult) -> Option<Roles> {
        match r {
            AuthResult::Ok { roles } => Some(roles),
            AuthResult::Denied(_) => None,
        }
    }

    #[test]
    fn basic_users_and_roles() {
        let a = auth();
        let h = format!("Basic {}", STANDARD.encode("u:p"));
        assert_eq!(ok(a.check(Some(&h), 0)), Some(Roles::all()));
        let bad = format!("Basic {}", STANDARD.encode("u:wrong"));
        assert!(ok(a.check(Some(&bad), 0)).is_none());
        assert!(ok(a.check(None, 0)).is_none());
        let v = format!("Basic {}", STANDARD.encode("viewer:v"));
        let roles = ok(a.check(Some(&v), 0)).unwrap();
        assert!(roles.has(Role::MonitoringDataRead));
        assert!(!roles.has(Role::MessagePayloadsRead));
    }

    #[test]
    fn tokens_expire_and_can_be_revoked() {
        let a = auth();
        let (tok, ttl) = a.issue(10_000);
        assert_eq!(ttl, 60);
        let h = format!("Bearer {tok}");
        assert!(ok(a.check(Some(&h), 10_000 + 59_000)).is_some());
        assert!(ok(a.check(Some(&h), 10_000 + 60_000)).is_none());
        let forged = format!("Bearer {}x", tok);
        assert!(ok(a.check(Some(&forged), 10_000)).is_none());
        a.expire_all();
        assert!(ok(a.check(Some(&h), 10_000)).is_none());
        let (fresh, _) = a.issue(10_000);
        assert!(ok(a.check(Some(&format!("Bearer {fresh}")), 10_000)).is_some());
    }

    #[test]
    fn token_endpoint_accepts_basic_or_form_credentials() {
        let a = auth();
        let basic = format!("Basic {}", STANDARD.encode("cid:csecret"));
        let r = a.token_endpoint(Some(&basic), "grant_type=client_credentials", b"", 0);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["token_type"], "bearer");
        assert_eq!(v["expires_in"], 60);
        let r = a.token_endpoint(
            None,
            "",
            b"grant_type=client_credentials&client_id=cid&client_secret=csecret",
            0,
        );
        assert_eq!(r.status, 200);
        let r = a.token_endpoint(
            None,
            "",
            b"grant_type=client_credentials&client_id=cid&client_secret=no",
            0,
        );
        assert_eq!(r.status, 401);
        let r = a.token_endpoint(Some(&basic), "grant_type=password", b"", 0);
        assert_eq!(r.status, 400);
    }
}
