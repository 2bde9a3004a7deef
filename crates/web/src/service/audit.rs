//! The audit log's filtered page, for `api::audit` and `pages::audit`.

use chrono::{DateTime, Utc};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use store::repo::audit::{self, Entry, Filter};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Entries per page when no `limit` is given, and the most that may be asked for.
pub const DEFAULT_LIMIT: u64 = 100;

pub const MAX_LIMIT: u64 = 1000;

#[derive(Serialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who made the change (their name at the time).
    pub actor: String,
    pub actor_id: Option<i64>,
    /// The client's address as the web server saw it (the TCP peer).
    pub source: Option<String>,
    /// `<object type>.<verb>`: `user.created`, `user.updated`, `user.password_reset`,
    /// `user.password_changed`, `user.time_zone_changed`, `user.deleted`, `token.created`, `token.revoked`,
    /// `tenant.created`, `tenant.updated`, `tenant.secret_changed`, `tenant.jobs_changed`,
    /// `tenant.deleted`, `archive.deleted`.
    pub action: String,
    /// `user`, `token`, `tenant`, `archive`.
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    /// What changed: field names, and new values of fields that are not secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<Entry> for AuditEntryOut {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_id: e.actor_id,
            source: e.source,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            object_name: e.object_name,
            details: e.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPageOut {
    pub items: Vec<AuditEntryOut>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
pub struct AuditQuery {
    /// 1–1000 (default 100).
    pub limit: Option<String>,
    /// Entries older than this id (the previous page's `next_before`).
    pub before: Option<String>,
    /// A user name.
    pub actor: Option<String>,
    /// An action, e.g. `tenant.secret_changed`.
    pub action: Option<String>,
    /// `user`, `token`, `tenant` or `archive`.
    pub object_type: Option<String>,
    /// The object's id (with `object_type`).
    pub object_id: Option<String>,
    /// RFC 3339: entries at or after this time.
    pub since: Option<String>,
    /// RFC 3339: entries before this time.
    pub until: Option<String>,
}

fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn text(field: &str, s: Option<&str>) -> Result<Option<String>, AppError> {
    match given(s) {
        None => Ok(None),
        Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => {
            Err(AppError::invalid(field, "is not a valid value"))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

fn time(field: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, AppError> {
    given(s)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| AppError::invalid(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

impl AuditQuery {
    /// The checked filter and page size.
    pub fn parse(&self) -> Result<(Filter, u64), AppError> {
        let limit = match given(self.limit.as_deref()) {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<u64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(AppError::invalid(
                        "limit",
                        format!("must be between 1 and {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let before = match given(self.before.as_deref()) {
            None => None,
            Some(b) => Some(
                b.parse::<i64>()
                    .map_err(|_| AppError::invalid("before", "must be an entry id"))?,
            ),
        };
        Ok((
            Filter {
                before,
                actor: text("actor", self.actor.as_deref())?,
                action: text("action", self.action.as_deref())?,
                object_type: text("object_type", self.object_type.as_deref())?,
                object_id: text("object_id", self.object_id.as_deref())?,
                since: time("since", self.since.as_deref())?,
                until: time("until", self.until.as_deref())?,
            },
            limit,
        ))
    }
}

/// One page of entries for an admin; the service the page and the API share.
pub async fn load(
    state: &AppState,
    p: &Principal,
    q: &AuditQuery,
) -> Result<AuditPageOut, AppError> {
    p.require(Role::Admin)?;
    let (filter, limit) = q.parse()?;
    // One more than asked tells whether an older page exists.
    let mut rows = audit::list(&state.db, &filter, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more {
        rows.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPageOut {
        items: rows.into_iter().map(AuditEntryOut::from).collect(),
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_the_bad_field() {
        let ok = AuditQuery {
            limit: Some("5".into()),
            before: Some("99".into()),
            action: Some(" tenant.deleted ".into()),
            since: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        let (f, limit) = ok.parse().unwrap();
        assert_eq!(limit, 5);
        assert_eq!(f.before, Some(99));
        assert_eq!(f.action.as_deref(), Some("tenant.deleted"));
        assert!(f.since.is_some());
        for (q, field) in [
            (
                AuditQuery {
                    limit: Some("0".into()),
                    ..Default::default()
                },
                "limit",
            ),
            (
                AuditQuery {
                    before: Some("x".into()),
                    ..Default::default()
                },
                "before",
            ),
            (
                AuditQuery {
                    until: Some("yesterday".into()),
                    ..Default::default()
                },
                "until",
            ),
            (
                AuditQuery {
                    actor: Some("a\u{0}b".into()),
                    ..Default::default()
                },
                "actor",
            ),
        ] {
            assert_eq!(q.parse().unwrap_err().fields()[0].field, field);
        }
    }
}
