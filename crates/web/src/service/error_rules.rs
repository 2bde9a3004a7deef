//! Custom fingerprint rules, for `api::error_groups` (under `/api/error-rules`) and
//! `pages::errors` (`/errors/rules`): first match wins, so their order matters. Everyone reads
//! them; managers change them. A bad glob or regex is refused naming its field.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use domain::errors::rules::{FingerprintRule, RuleError};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::repo::error_rules::{self, StoredRule};
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleOut {
    pub id: i64,
    /// Position in the evaluation order (1 = first).
    pub position: usize,
    /// iFlow id glob (`*` and `?`).
    pub iflow: Option<String>,
    /// Package id glob.
    pub package: Option<String>,
    /// Status glob, case-insensitive (`FAILED`, `*`).
    pub status: Option<String>,
    /// Glob over the error text.
    pub text_glob: Option<String>,
    /// Regular expression over the error text (linear-time syntax: no look-around or
    /// back-references).
    pub text_regex: Option<String>,
    /// The fingerprint every matching message gets (one group per tenant and iFlow).
    pub fingerprint: String,
    /// The group's title instead of the normalised first line.
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    #[serde(default)]
    pub iflow: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub text_glob: Option<String>,
    #[serde(default)]
    pub text_regex: Option<String>,
    /// 1–200 characters.
    pub fingerprint: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveIn {
    /// The new position, 1 = first.
    pub position: u32,
}

fn out(position: usize, r: StoredRule) -> RuleOut {
    RuleOut {
        id: r.id,
        position,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        iflow: r.iflow,
        package: r.package,
        status: r.status,
        text_glob: r.text_glob,
        text_regex: r.text_regex,
        fingerprint: r.fingerprint,
        title: r.title,
    }
}

fn field(v: &Option<String>, name: &str, max: usize) -> Result<Option<String>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max => Err(AppError::invalid(
            name,
            format!("must be at most {max} characters"),
        )),
        Some(s) if s.contains('\0') => Err(AppError::invalid(name, "must not contain NUL")),
        Some(s) => Ok(Some(s.to_string())),
    }
}

impl RuleIn {
    /// The rule, checked: lengths, at least one matcher, and the domain's glob/regex check.
    pub fn to_rule(&self, id: i64) -> Result<FingerprintRule, AppError> {
        let fingerprint = field(&Some(self.fingerprint.clone()), "fingerprint", 200)?
            .ok_or_else(|| AppError::invalid("fingerprint", "is required"))?;
        let rule = FingerprintRule {
            id,
            iflow: field(&self.iflow, "iflow", 500)?,
            package: field(&self.package, "package", 500)?,
            status: field(&self.status, "status", 50)?,
            text_glob: field(&self.text_glob, "text_glob", 2000)?,
            text_regex: field(&self.text_regex, "text_regex", 2000)?,
            fingerprint,
            title: field(&self.title, "title", 200)?,
        };
        if rule.iflow.is_none()
            && rule.package.is_none()
            && rule.status.is_none()
            && rule.text_glob.is_none()
            && rule.text_regex.is_none()
        {
            return Err(AppError::invalid(
                "iflow",
                "give at least one matcher (iflow, package, status, text_glob or text_regex)",
            ));
        }
        rule.validate().map_err(rule_error)?;
        Ok(rule)
    }
}

/// The API's field name for what the domain refused.
fn rule_error(e: RuleError) -> AppError {
    let field = match &e {
        RuleError::BadGlob { field, .. } => match *field {
            "iFlow" => "iflow",
            "package" => "package",
            "status" => "status",
            _ => "text_glob",
        },
        RuleError::BadRegex { .. } => "text_regex",
        RuleError::EmptyFingerprint { .. } => "fingerprint",
        RuleError::TooLong { field, .. } => field,
        RuleError::NoCondition { .. } => "iflow",
    };
    // The domain's message names the rule by id, which means nothing for a rule being typed.
    let message = e.to_string();
    let message = message
        .split_once(": ")
        .map_or(message.as_str(), |(_, m)| m)
        .to_string();
    AppError::invalid(field, message)
}

pub async fn list(state: &AppState) -> Result<Vec<RuleOut>, AppError> {
    let rules = error_rules::list_rules(&state.db).await?;
    Ok(rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| out(i + 1, r))
        .collect())
}

async fn find(state: &AppState, id: i64) -> Result<RuleOut, AppError> {
    list(state)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AppError::not_found(format!("error rule {id}")))
}

pub async fn create(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    input: &RuleIn,
) -> Result<RuleOut, AppError> {
    p.require(Role::Manager)?;
    let rule = input.to_rule(0)?;
    let saved = error_rules::create_rule(&state.db, &rule, &p.user.username).await?;
    audit::record(
        state,
        req,
        p,
        Change::new("error_rule.created", saved.id, Some(&saved.fingerprint))
            .details(json!({"iflow": saved.iflow, "text_regex": saved.text_regex, "text_glob": saved.text_glob})),
    )
    .await;
    find(state, saved.id).await
}

pub async fn update(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &RuleIn,
) -> Result<RuleOut, AppError> {
    p.require(Role::Manager)?;
    let rule = input.to_rule(id)?;
    find(state, id).await?;
    error_rules::update_rule(&state.db, &rule, &p.user.username).await?;
    audit::record(
        state,
        req,
        p,
        Change::new("error_rule.updated", id, Some(&rule.fingerprint)),
    )
    .await;
    find(state, id).await
}

pub async fn delete(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
) -> Result<(), AppError> {
    p.require(Role::Manager)?;
    let r = find(state, id).await?;
    error_rules::delete_rule(&state.db, id).await?;
    audit::record(
        state,
        req,
        p,
        Change::new("error_rule.deleted", id, Some(&r.fingerprint)),
    )
    .await;
    Ok(())
}

pub async fn move_to(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    id: i64,
    input: &MoveIn,
) -> Result<Vec<RuleOut>, AppError> {
    p.require(Role::Manager)?;
    let all = list(state).await?;
    if !all.iter().any(|r| r.id == id) {
        return Err(AppError::not_found(format!("error rule {id}")));
    }
    if input.position == 0 || input.position as usize > all.len() {
        return Err(AppError::invalid(
            "position",
            format!("must be between 1 and {}", all.len()),
        ));
    }
    // The store counts from 0.
    error_rules::move_rule(&state.db, id, input.position as usize - 1).await?;
    audit::record(
        state,
        req,
        p,
        Change::new("error_rule.moved", id, None).details(json!({"position": input.position})),
    )
    .await;
    list(state).await
}
