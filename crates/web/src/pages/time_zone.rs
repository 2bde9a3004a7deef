//! The account's time zone: the panel on `/account` and its form's POST.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use store::repo::users;

use super::layout::{self, field_error};
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::users as users_service;
use crate::state::AppState;

/// The panel: every IANA zone, or the browser's (the default).
pub fn panel(state: &AppState, p: &Principal, errors: &[domain::tenant::FieldError]) -> Markup {
    let base = &state.cfg.base;
    let chosen = p.user.time_zone.as_deref().unwrap_or("");
    let now = crate::zone::current();
    html! {
        div.panel id="time-zone-panel" {
            h2 id="time-zone" { "Time zone" }
            p.muted { "Every time in IntegraMon is shown in this zone, and times you type into filters are read in it. Now: " strong { (now.name()) } "." }
            form method="post" action={ (base) "/account/time-zone" } class="filters" {
                input type="hidden" name="csrf" value=(p.csrf());
                label { "Time zone"
                    select name="time_zone" id="f-time-zone" {
                        option value="" selected[chosen.is_empty()] { "The browser's" }
                        @for tz in chrono_tz::TZ_VARIANTS {
                            option value=(tz.name()) selected[chosen == tz.name()] { (tz.name()) }
                        }
                    }
                    (field_error(errors, "time_zone"))
                }
                button type="submit" id="save-time-zone" { "Save" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ZoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    time_zone: String,
}

pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<ZoneForm>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    match users_service::set_time_zone(&state, &p, &form.time_zone).await {
        Ok(()) => {
            audit::record(
                &state,
                &req,
                &p,
                Change::user("user.time_zone_changed", &p.user),
            )
            .await;
            Ok(layout::see_other(
                state.cfg.url("/account?time_zone_saved=1#time-zone"),
            ))
        }
        Err(AppError::Invalid { fields, .. }) => {
            let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
            Ok(super::login::unprocessable(super::login::account_page(
                &state, &p, &tokens, None, &fields, false,
            )))
        }
        Err(e) => Err(e.into()),
    }
}
