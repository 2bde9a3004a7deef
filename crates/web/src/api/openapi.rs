//! The OpenAPI document, generated from the handlers' annotations and the schema types.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::auth::Principal;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "IntegraMon API", description = "Everything the IntegraMon UI shows. Authenticate with `Authorization: Bearer <token>` (create tokens on the account page or with POST /api/tokens)."),
    paths(
        super::users::me, super::users::password, super::users::list_tokens,
        super::users::create_token, super::users::revoke_token, super::users::list_users,
        super::users::create_user, super::users::get_user, super::users::update_user,
        super::users::delete_user,
        super::tenants::list, super::tenants::get, super::tenants::create, super::tenants::update,
        super::tenants::delete, super::tenants::test_new, super::tenants::test_stored,
        super::tenants::sync, super::resources::get,
        super::messages::list, super::messages::detail, super::messages::payload,
        super::messages::attachment, super::messages::volume, super::messages::overview, super::messages::export,
        super::catalog::packages, super::catalog::list_artifacts, super::catalog::versions,
        super::catalog::keystore,
        super::jobs::runs, super::jobs::queues, super::jobs::submit, super::jobs::retry,
        super::jobs::requeue_dead,
        super::archives::list, super::archives::summary, super::archives::get,
        super::archives::download, super::archives::delete,
        super::storage::storage, super::storage::tenant_metrics,
        super::audit::list,
        super::error_groups::list, super::error_groups::detail, super::error_groups::resolve,
        super::error_groups::ignore, super::error_groups::reopen, super::error_groups::merge,
        super::error_groups::unmerge, super::error_groups::list_rules,
        super::error_groups::create_rule, super::error_groups::update_rule,
        super::error_groups::delete_rule, super::error_groups::move_rule,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldErrorBody)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The browser session; writes also need the X-CSRF-Token header.",
            ))),
        );
    }
}

/// The document, with the server URL under `APP_BASE_PATH`.
pub fn build(base: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    if !base.is_empty() {
        doc.servers = Some(vec![utoipa::openapi::Server::new(base)]);
    }
    doc
}

pub async fn document(state: web::Data<AppState>, _p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(build(&state.cfg.base))
}
