//! Which tenants a user sees and whether their payloads and header values are masked.

use domain::tenant::Tenant;
use domain::user::User;
use store::repo::tenants;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// The tenants this user may see, by name.
pub async fn visible_tenants(state: &AppState, p: &Principal) -> Result<Vec<Tenant>, AppError> {
    let all = tenants::list(&state.db).await?;
    Ok(all.into_iter().filter(|t| p.user.can_see(t)).collect())
}

/// One tenant, or 404 when it does not exist or the user may not see it (the same answer, so
/// ids cannot be probed).
pub async fn tenant(state: &AppState, p: &Principal, id: i64) -> Result<Tenant, AppError> {
    match tenants::get(&state.db, id).await? {
        Some(t) if p.user.can_see(&t) => Ok(t),
        _ => Err(AppError::not_found(format!("tenant {id}"))),
    }
}

pub fn masked(state: &AppState, user: &User, tenant: &Tenant) -> bool {
    state.cfg.mask.masks(user, tenant)
}
