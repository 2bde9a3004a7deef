//! The audit log's web side: handlers record a change in one line once it has succeeded,
//! `audit::record(&state, &req, &p, Change::tenant("tenant.deleted", &t)).await;`. The entry
//! gets the signed-in user, the time and the client's address (the TCP peer, the same address
//! sessions and the sign-in throttle use: IntegraMon trusts no `X-Forwarded-For`, which any
//! client could set). A [`Change`] names what changed and, for non-secret fields, the new value;
//! secrets (passwords, tenant credentials, tokens) appear only as the fact that they changed.
//! Recording never fails the request: the change is already made, so a failed write is logged.

use actix_web::HttpRequest;
use chrono::Utc;
use domain::tenant::{JobSettings, Tenant};
use domain::user::User;
use serde_json::{Map, Value, json};
use store::repo::archives::ArchiveRow;
use store::repo::{audit, tenants};

use crate::auth::Principal;
use crate::service::users::UserUpdateIn;
use crate::state::AppState;

/// One change to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub details: Value,
}

impl Change {
    /// `action` is `<object type>.<verb>`.
    pub fn new(action: &str, id: impl ToString, name: Option<&str>) -> Self {
        Self {
            object_type: action.split('.').next().unwrap_or(action).to_string(),
            action: action.to_string(),
            object_id: Some(id.to_string()),
            object_name: name.map(str::to_string),
            details: json!({}),
        }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn user(action: &str, u: &User) -> Self {
        Self::new(action, u.id, Some(&u.username))
    }

    /// A user deleted by id, the `{id}` of the request's path (the row is gone by now).
    pub fn user_deleted(req: &HttpRequest) -> Self {
        Self::new("user.deleted", req.match_info().query("id"), None)
    }

    pub fn token(action: &str, id: i64, name: Option<&str>) -> Self {
        Self::new(action, id, name)
    }

    pub fn tenant(action: &str, t: &Tenant) -> Self {
        Self::new(action, t.id, Some(&t.settings.name))
    }

    pub fn archive(action: &str, row: &ArchiveRow) -> Self {
        Self::new(action, row.id, Some(&row.file_name))
            .details(json!({"tenant_id": row.tenant_id, "day": row.day.to_string()}))
    }
}

/// The client's address: the TCP peer (see the module description).
pub fn source(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// Append `change` by the signed-in user of this request.
pub async fn record(state: &AppState, req: &HttpRequest, p: &Principal, change: Change) {
    record_all(state, req, p, vec![change]).await;
}

/// Append several changes made by one request, in order.
pub async fn record_all(state: &AppState, req: &HttpRequest, p: &Principal, changes: Vec<Change>) {
    let source = source(req);
    for c in changes {
        let entry = audit::NewEntry {
            at: Utc::now(),
            actor_id: Some(p.user.id),
            actor: p.user.username.clone(),
            source: source.clone(),
            action: c.action,
            object_type: c.object_type,
            object_id: c.object_id,
            object_name: c.object_name,
            details: c.details,
        };
        if let Err(e) = audit::append(&state.db, &entry).await {
            tracing::error!(action = %entry.action, by = %entry.actor, "cannot write the audit log: {e}");
        }
    }
}

/// An admin's change to a user: the values set (role, groups, active; whether an e-mail is
/// set, not the address), and a separate `user.password_reset` when a password was given.
pub fn user_updated(u: &User, body: &UserUpdateIn) -> Vec<Change> {
    let mut out = vec![Change::user("user.updated", u).details(json!({
        "role": body.role,
        "groups": body.groups,
        "active": body.active,
        "email_set": body.email.as_deref().is_some_and(|e| !e.trim().is_empty()),
    }))];
    if body.password.is_some() {
        out.push(Change::user("user.password_reset", u));
    }
    out
}

/// A tenant as it was before a save, to say afterwards what the save changed.
pub struct TenantBefore {
    tenant: Option<Tenant>,
    jobs: Vec<JobSettings>,
    secret_given: bool,
}

impl TenantBefore {
    /// Read before saving `existing` (`None` for a new tenant); `secret_given`: the save
    /// carries a new secret.
    pub async fn read(state: &AppState, existing: Option<&Tenant>, secret_given: bool) -> Self {
        let jobs = match existing {
            Some(t) => tenants::jobs(&state.db, t.id).await.unwrap_or_default(),
            None => Vec::new(),
        };
        Self {
            tenant: existing.cloned(),
            jobs,
            secret_given,
        }
    }

    /// Record the save that produced `after`.
    pub async fn saved(self, state: &AppState, req: &HttpRequest, p: &Principal, after: &Tenant) {
        let jobs = tenants::jobs(&state.db, after.id).await.unwrap_or_default();
        record_all(state, req, p, self.changes(after, &jobs)).await;
    }

    fn changes(&self, after: &Tenant, after_jobs: &[JobSettings]) -> Vec<Change> {
        let Some(before) = &self.tenant else {
            return vec![Change::tenant("tenant.created", after)];
        };
        let mut out = Vec::new();
        let fields = changed_paths(
            &serde_json::to_value(&before.settings).unwrap_or_default(),
            &serde_json::to_value(&after.settings).unwrap_or_default(),
        );
        if !fields.is_empty() {
            out.push(Change::tenant("tenant.updated", after).details(json!({ "fields": fields })));
        }
        if self.secret_given {
            out.push(Change::tenant("tenant.secret_changed", after));
        }
        let jobs = changed_jobs(&self.jobs, after_jobs);
        if !jobs.is_empty() {
            out.push(Change::tenant("tenant.jobs_changed", after).details(json!({
                "jobs": jobs.iter().map(|(kind, _)| kind).collect::<Vec<_>>(),
                "settings": jobs.into_iter().collect::<Map<String, Value>>(),
            })));
        }
        out
    }
}

/// Dotted paths of the object fields that differ between `a` and `b` (values are not kept:
/// a URL may carry credentials).
fn changed_paths(a: &Value, b: &Value) -> Vec<String> {
    fn walk(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &path,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

/// The job kinds whose settings differ, with their new settings (schedules, retention: no
/// secrets in them).
fn changed_jobs(before: &[JobSettings], after: &[JobSettings]) -> Vec<(String, Value)> {
    after
        .iter()
        .filter(|j| !before.contains(j))
        .map(|j| {
            (
                j.kind.as_str().to_string(),
                serde_json::to_value(j).unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_paths_name_fields_not_values() {
        let a = json!({"name": "x", "connection": {"api_url": "https://u:pw@a", "tls": true}});
        let b = json!({"name": "x", "connection": {"api_url": "https://u:pw2@a", "tls": true},
                       "tags": ["p"]});
        assert_eq!(changed_paths(&a, &b), ["connection.api_url", "tags"]);
        assert!(changed_paths(&a, &a).is_empty());
    }

    #[test]
    fn actions_name_their_object_type() {
        let c = Change::new("tenant.secret_changed", 3, Some("acme"));
        assert_eq!(c.object_type, "tenant");
        assert_eq!(c.object_id.as_deref(), Some("3"));
    }
}
