//! The lifecycle actions on a group (resolve, ignore, reopen, merge, unmerge): managers only,
//! on groups of tenants they may see, each recorded in the audit log by the group's id.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use domain::errors::lifecycle::{IgnoreUntil, ResolveMode};
use domain::tenant::Tenant;
use domain::user::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::repo::error_groups::{self as groups, GroupDetail};
use utoipa::ToSchema;

use super::query::{text, time};
use super::{GroupDetailOut, detail_out, resolve_mode_name, texts_masked, visible_group};
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Longest comment on an action.
pub const MAX_COMMENT: usize = 2000;
/// Groups merged in one request.
pub const MAX_MERGE: usize = 100;

/// How a group is ignored, as the API reads and answers it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnoreIn {
    /// `forever`, `until` (a date), `occurrences` (N more) or `rate` (N within W minutes).
    pub mode: String,
    /// For `until`: RFC 3339, in the future.
    #[serde(default)]
    pub until: Option<String>,
    /// For `occurrences` and `rate`: 1–1,000,000,000.
    #[serde(default)]
    pub count: Option<u64>,
    /// For `rate`: 1–10,080 (a week).
    #[serde(default)]
    pub window_minutes: Option<u32>,
    #[serde(default)]
    #[schema(nullable)]
    pub comment: Option<String>,
}

impl IgnoreIn {
    pub fn from_until(u: &IgnoreUntil) -> Self {
        let mut out = Self::default();
        match u {
            IgnoreUntil::Forever => out.mode = "forever".into(),
            IgnoreUntil::Date(d) => {
                out.mode = "until".into();
                out.until = Some(d.to_rfc3339());
            }
            IgnoreUntil::Occurrences(n) => {
                out.mode = "occurrences".into();
                out.count = Some(*n);
            }
            IgnoreUntil::Rate {
                count,
                window_minutes,
            } => {
                out.mode = "rate".into();
                out.count = Some(*count);
                out.window_minutes = Some(*window_minutes);
            }
        }
        out
    }

    /// The condition, every problem naming its field.
    pub fn to_until(&self, now: DateTime<Utc>) -> Result<IgnoreUntil, AppError> {
        let count = || match self.count {
            None => Err(AppError::invalid("count", "is required for this mode")),
            Some(n) if (1..=1_000_000_000).contains(&n) => Ok(n),
            Some(_) => Err(AppError::invalid(
                "count",
                "must be between 1 and 1000000000",
            )),
        };
        match self.mode.trim() {
            "forever" => Ok(IgnoreUntil::Forever),
            "until" => {
                let t = time(&self.until, "until")?
                    .ok_or_else(|| AppError::invalid("until", "is required for mode until"))?;
                if t <= now {
                    return Err(AppError::invalid("until", "must be in the future"));
                }
                Ok(IgnoreUntil::Date(t))
            }
            "occurrences" => Ok(IgnoreUntil::Occurrences(count()?)),
            "rate" => {
                let count = count()?;
                let window_minutes = match self.window_minutes {
                    None => {
                        return Err(AppError::invalid(
                            "window_minutes",
                            "is required for mode rate",
                        ));
                    }
                    Some(w) if (1..=10_080).contains(&w) => w,
                    Some(_) => {
                        return Err(AppError::invalid(
                            "window_minutes",
                            "must be between 1 and 10080",
                        ));
                    }
                };
                Ok(IgnoreUntil::Rate {
                    count,
                    window_minutes,
                })
            }
            _ => Err(AppError::invalid(
                "mode",
                "must be forever, until, occurrences or rate",
            )),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// `now` (default: any later occurrence regresses it) or `next_deployment` (fixed by the
    /// iFlow's next deployment; only messages started after it regress it).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentIn {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    /// Ids of the groups to merge into this one (same tenant).
    pub from: Vec<i64>,
}

pub fn comment(c: &Option<String>) -> Result<Option<String>, AppError> {
    text(c, "comment", MAX_COMMENT)
}

pub fn parse_resolve_mode(v: Option<&str>) -> Result<ResolveMode, AppError> {
    match v.map(str::trim) {
        None | Some("") | Some("now") => Ok(ResolveMode::Now),
        Some("next_deployment") => Ok(ResolveMode::NextDeployment),
        Some(_) => Err(AppError::invalid("mode", "must be now or next_deployment")),
    }
}

/// Lifecycle actions need a manager.
fn may_act(p: &Principal) -> Result<(), AppError> {
    p.require(Role::Manager)
}

async fn after_action(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    action: &str,
    d: GroupDetail,
    t: &Tenant,
    details: serde_json::Value,
) -> GroupDetailOut {
    // The audit entry names the group by id only: its title may be masked for some readers.
    audit::record(
        state,
        req,
        p,
        Change::new(action, d.summary.id, None).details(details),
    )
    .await;
    detail_out(d, t, texts_masked(state, p, t))
}

pub async fn resolve(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &ResolveIn,
) -> Result<GroupDetailOut, AppError> {
    may_act(p)?;
    let mode = parse_resolve_mode(input.mode.as_deref())?;
    let comment = comment(&input.comment)?;
    let (_, t) = visible_group(state, p, id).await?;
    let d = groups::resolve(&state.db, id, &p.user.username, mode, comment.as_deref()).await?;
    let details = json!({"mode": resolve_mode_name(mode), "comment": comment});
    Ok(after_action(state, req, p, "error_group.resolved", d, &t, details).await)
}

pub async fn ignore(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &IgnoreIn,
) -> Result<GroupDetailOut, AppError> {
    may_act(p)?;
    let until = input.to_until(Utc::now())?;
    let comment = comment(&input.comment)?;
    let (_, t) = visible_group(state, p, id).await?;
    let d = groups::ignore(&state.db, id, &p.user.username, until, comment.as_deref()).await?;
    let details = json!({"until": IgnoreIn::from_until(&until).mode, "comment": comment});
    Ok(after_action(state, req, p, "error_group.ignored", d, &t, details).await)
}

pub async fn reopen(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &CommentIn,
) -> Result<GroupDetailOut, AppError> {
    may_act(p)?;
    let comment = comment(&input.comment)?;
    let (_, t) = visible_group(state, p, id).await?;
    let d = groups::reopen(&state.db, id, &p.user.username, comment.as_deref()).await?;
    let details = json!({"comment": comment});
    Ok(after_action(state, req, p, "error_group.reopened", d, &t, details).await)
}

/// Merge `from` into `id`: every group must be visible and of the same tenant.
pub async fn merge(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &MergeIn,
) -> Result<GroupDetailOut, AppError> {
    may_act(p)?;
    let mut from: Vec<i64> = input.from.clone();
    from.sort_unstable();
    from.dedup();
    if from.is_empty() {
        return Err(AppError::invalid(
            "from",
            "name at least one group to merge",
        ));
    }
    if from.len() > MAX_MERGE {
        return Err(AppError::invalid(
            "from",
            format!("at most {MAX_MERGE} groups at once"),
        ));
    }
    if from.contains(&id) {
        return Err(AppError::invalid(
            "from",
            "a group cannot be merged into itself",
        ));
    }
    let (_, t) = visible_group(state, p, id).await?;
    for other in &from {
        let (d, _) = visible_group(state, p, *other)
            .await
            .map_err(|_| AppError::invalid("from", format!("no error group {other}")))?;
        if d.summary.tenant_id != t.id {
            return Err(AppError::invalid(
                "from",
                format!("group {other} belongs to another tenant"),
            ));
        }
    }
    let d = groups::merge(&state.db, id, &from, &p.user.username).await?;
    let details = json!({"from": from});
    Ok(after_action(state, req, p, "error_group.merged", d, &t, details).await)
}

/// Take `id` back out of the group it was merged into.
pub async fn unmerge(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
) -> Result<GroupDetailOut, AppError> {
    may_act(p)?;
    let (d, t) = visible_group(state, p, id).await?;
    let Some(into) = d.merged_into else {
        return Err(AppError::Conflict(format!(
            "error group {id} is not merged into another group"
        )));
    };
    let d = groups::unmerge(&state.db, id, &p.user.username).await?;
    Ok(after_action(
        state,
        req,
        p,
        "error_group.unmerged",
        d,
        &t,
        json!({"from": into}),
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-08T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn ignore_conditions_name_their_fields() {
        let bad = |i: IgnoreIn, field: &str| {
            let e = i.to_until(now()).unwrap_err();
            assert_eq!(e.fields()[0].field, field, "{e}");
        };
        let mode = |m: &str| IgnoreIn {
            mode: m.into(),
            ..Default::default()
        };
        bad(mode("snooze"), "mode");
        bad(mode("until"), "until");
        bad(
            IgnoreIn {
                until: Some("2026-12-01T00:00:00Z".into()),
                ..mode("until")
            },
            "until",
        );
        bad(mode("occurrences"), "count");
        bad(
            IgnoreIn {
                count: Some(0),
                ..mode("occurrences")
            },
            "count",
        );
        bad(
            IgnoreIn {
                count: Some(5),
                ..mode("rate")
            },
            "window_minutes",
        );
        assert!(matches!(
            mode("forever").to_until(now()).unwrap(),
            IgnoreUntil::Forever
        ));
        let rate = IgnoreIn {
            count: Some(5),
            window_minutes: Some(60),
            ..mode("rate")
        };
        let u = rate.to_until(now()).unwrap();
        let back = IgnoreIn::from_until(&u);
        assert_eq!(
            (back.mode.as_str(), back.count, back.window_minutes),
            ("rate", Some(5), Some(60))
        );
    }
}
