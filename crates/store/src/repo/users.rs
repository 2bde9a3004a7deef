//! Users, browser sessions and API tokens. Passwords arrive hashed (PHC strings) and session
//! and token secrets arrive as hashes: the store never holds anything that logs someone in.

use chrono::{DateTime, Utc};
use domain::user::{Role, User};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder,
};

use super::clean;
use crate::connect::Db;
use crate::entity::{api_tokens, sessions, users};
use crate::error::StoreError;

fn to_user(r: users::Model) -> Result<User, DbErr> {
    let role = Role::parse(&r.role)
        .ok_or_else(|| DbErr::Type(format!("users {}: unknown role {:?}", r.id, r.role)))?;
    let groups = serde_json::from_str(&r.tags)
        .map_err(|e| DbErr::Json(format!("users {} tags: {e}", r.id)))?;
    Ok(User {
        id: r.id,
        username: r.username,
        email: r.email,
        role,
        groups,
        active: r.active,
        must_change_password: r.must_change_password,
        created_at: r.created_at,
        last_login_at: r.last_login_at,
        time_zone: r.time_zone,
    })
}

fn groups_json(groups: &[String]) -> String {
    let cleaned: Vec<String> = groups
        .iter()
        .map(|g| clean(g.trim()))
        .filter(|g| !g.is_empty())
        .collect();
    serde_json::to_string(&cleaned).unwrap_or_else(|_| "[]".into())
}

/// What a new user is made of.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub groups: Vec<String>,
    pub must_change_password: bool,
}

/// A taken user name fails with a unique violation ([`StoreError::is_unique_violation`]).
pub async fn create(db: &Db, new: &NewUser) -> Result<User, StoreError> {
    let now = Utc::now();
    let txn = db.begin_write().await?;
    let row = users::ActiveModel {
        username: Set(clean(new.username.trim())),
        email: Set(new.email.as_deref().map(|e| clean(e.trim()))),
        password_hash: Set(new.password_hash.clone()),
        role: Set(new.role.as_str().into()),
        tags: Set(groups_json(&new.groups)),
        active: Set(true),
        must_change_password: Set(new.must_change_password),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        time_zone: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(to_user(row)?)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<User>, StoreError> {
    let row = users::Entity::find_by_id(id).one(db.conn()).await?;
    Ok(row.map(to_user).transpose()?)
}

pub async fn list(db: &Db) -> Result<Vec<User>, StoreError> {
    let rows = users::Entity::find()
        .order_by_asc(users::Column::Username)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_user).collect::<Result<_, _>>()?)
}

pub async fn count(db: &Db) -> Result<u64, StoreError> {
    Ok(users::Entity::find().count(db.conn()).await?)
}

/// Active admins: the last one may not be demoted, deactivated or deleted.
pub async fn count_active_admins(db: &Db) -> Result<u64, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::Active.eq(true))
        .count(db.conn())
        .await?)
}

/// The user and their password hash, by name (for logging in).
pub async fn credentials(db: &Db, username: &str) -> Result<Option<(User, String)>, StoreError> {
    let row = users::Entity::find()
        .filter(users::Column::Username.eq(username.trim()))
        .one(db.conn())
        .await?;
    match row {
        Some(r) => {
            let hash = r.password_hash.clone();
            Ok(Some((to_user(r)?, hash)))
        }
        None => Ok(None),
    }
}

/// The password hash of a user (for a password change that asks for the current one).
pub async fn password_hash(db: &Db, id: i64) -> Result<Option<String>, StoreError> {
    let row = users::Entity::find_by_id(id).one(db.conn()).await?;
    Ok(row.map(|r| r.password_hash))
}

/// What an admin may change about a user.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub role: Role,
    pub groups: Vec<String>,
    pub active: bool,
}

pub async fn update(db: &Db, id: i64, u: &UserUpdate) -> Result<User, StoreError> {
    let txn = db.begin_write().await?;
    let Some(row) = users::Entity::find_by_id(id).one(&txn).await? else {
        return Err(DbErr::RecordNotFound(format!("user {id}")).into());
    };
    let mut am = row.into_active_model();
    am.email = Set(u.email.as_deref().map(|e| clean(e.trim())));
    am.role = Set(u.role.as_str().into());
    am.tags = Set(groups_json(&u.groups));
    am.active = Set(u.active);
    am.updated_at = Set(Utc::now());
    let row = am.update(&txn).await?;
    // Deactivation ends the user's sessions and revokes their tokens for good: reactivating
    // the user does not bring them back.
    if !u.active {
        sessions::Entity::delete_many()
            .filter(sessions::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
        revoke_all_tokens(&txn, id, Utc::now()).await?;
    }
    txn.commit().await?;
    Ok(to_user(row)?)
}

/// Replace the password hash. Every session of the user except `keep_session` ends; with
/// `revoke_tokens` (an admin's reset) every API token of the user is revoked too.
pub async fn set_password(
    db: &Db,
    id: i64,
    password_hash: &str,
    must_change: bool,
    keep_session: Option<&str>,
    revoke_tokens: bool,
) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    let Some(row) = users::Entity::find_by_id(id).one(&txn).await? else {
        return Err(DbErr::RecordNotFound(format!("user {id}")).into());
    };
    let mut am = row.into_active_model();
    am.password_hash = Set(password_hash.to_owned());
    am.must_change_password = Set(must_change);
    am.updated_at = Set(Utc::now());
    am.update(&txn).await?;
    let mut del = sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(id));
    if let Some(keep) = keep_session {
        del = del.filter(sessions::Column::Id.ne(keep));
    }
    del.exec(&txn).await?;
    if revoke_tokens {
        revoke_all_tokens(&txn, id, Utc::now()).await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn revoke_all_tokens(
    txn: &sea_orm::DatabaseTransaction,
    user_id: i64,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_tokens::Entity::update_many()
        .col_expr(
            api_tokens::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_tokens::Column::UserId.eq(user_id))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let n = users::Entity::delete_by_id(id)
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n > 0)
}

pub async fn record_login(db: &Db, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    users::Entity::update_many()
        .col_expr(
            users::Column::LastLoginAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(users::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Set the user's time zone (an IANA name the caller checked; `None`: the browser's).
pub async fn set_time_zone(db: &Db, id: i64, zone: Option<&str>) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let n = users::Entity::update_many()
        .col_expr(
            users::Column::TimeZone,
            sea_orm::sea_query::Expr::value(zone.map(str::to_owned)),
        )
        .filter(users::Column::Id.eq(id))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n > 0)
}

/// A browser session; `id` is the hash of the cookie's secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

fn to_session(r: sessions::Model) -> Session {
    Session {
        id: r.id,
        user_id: r.user_id,
        csrf_token: r.csrf_token,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_seen_at: r.last_seen_at,
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn create_session(db: &Db, new: &NewSession) -> Result<Session, StoreError> {
    let now = Utc::now();
    let txn = db.begin_write().await?;
    let row = sessions::ActiveModel {
        id: Set(new.id.clone()),
        user_id: Set(new.user_id),
        csrf_token: Set(new.csrf_token.clone()),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_seen_at: Set(now),
        ip: Set(new.ip.as_deref().map(clean)),
        user_agent: Set(new.user_agent.as_deref().map(|s| clean(&truncate(s, 512)))),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(to_session(row))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The live session with this id and its (active) user.
pub async fn find_session(
    db: &Db,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Session, User)>, StoreError> {
    let row = sessions::Entity::find_by_id(id.to_owned())
        .find_also_related(users::Entity)
        .filter(sessions::Column::ExpiresAt.gt(now))
        .one(db.conn())
        .await?;
    match row {
        Some((s, Some(u))) if u.active => Ok(Some((to_session(s), to_user(u)?))),
        _ => Ok(None),
    }
}

/// Note that the session was used (callers throttle this to avoid a write per request).
pub async fn touch_session(db: &Db, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    sessions::Entity::update_many()
        .col_expr(
            sessions::Column::LastSeenAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(sessions::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn delete_session(db: &Db, id: &str) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    sessions::Entity::delete_by_id(id.to_owned())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Remove expired sessions; returns how many.
pub async fn purge_sessions(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let txn = db.begin_write().await?;
    let n = sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n)
}

/// An API token as its owner and admins see it (never the secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn to_token(r: api_tokens::Model) -> ApiToken {
    ApiToken {
        id: r.id,
        user_id: r.user_id,
        name: r.name,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
    }
}

pub async fn create_token(
    db: &Db,
    user_id: i64,
    name: &str,
    token_hash: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ApiToken, StoreError> {
    let txn = db.begin_write().await?;
    let row = api_tokens::ActiveModel {
        user_id: Set(user_id),
        name: Set(clean(name.trim())),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(to_token(row))
}

/// The live (not revoked, not expired) token with this hash and its active user.
pub async fn find_token(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ApiToken, User)>, StoreError> {
    let row = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.eq(token_hash))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .find_also_related(users::Entity)
        .one(db.conn())
        .await?;
    match row {
        Some((t, Some(u))) if u.active && t.expires_at.is_none_or(|e| e > now) => {
            Ok(Some((to_token(t), to_user(u)?)))
        }
        _ => Ok(None),
    }
}

pub async fn list_tokens(db: &Db, user_id: Option<i64>) -> Result<Vec<ApiToken>, StoreError> {
    let mut q = api_tokens::Entity::find();
    if let Some(u) = user_id {
        q = q.filter(api_tokens::Column::UserId.eq(u));
    }
    let rows = q
        .order_by_desc(api_tokens::Column::CreatedAt)
        .order_by_desc(api_tokens::Column::Id)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_token).collect())
}

pub async fn get_token(db: &Db, id: i64) -> Result<Option<ApiToken>, StoreError> {
    Ok(api_tokens::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .map(to_token))
}

/// Revoke a token; returns whether it was live.
pub async fn revoke_token(db: &Db, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let n = api_tokens::Entity::update_many()
        .col_expr(
            api_tokens::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_tokens::Column::Id.eq(id))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n > 0)
}

pub async fn touch_token(db: &Db, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    api_tokens::Entity::update_many()
        .col_expr(
            api_tokens::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_tokens::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
