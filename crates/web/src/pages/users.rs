//! `/users` (admins): list users, create one, change role, groups and active flag, reset a
//! password, delete. The checks are the service's (`crate::service::users`), shared with the API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Secret;
use domain::tenant::FieldError;
use domain::user::{self, Role, User};
use maud::{Markup, html};
use serde::Deserialize;
use store::repo::users;

use super::layout::{self, Nav, opt, time};
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::users::{
    UserIn, UserUpdateIn, create_user_checked, delete_user_checked, update_user_checked,
};
use crate::state::AppState;

/// `a, b ,c` as `["a", "b", "c"]`.
pub fn split_groups(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Deserialize, Default, Clone, Debug)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Secret,
    #[serde(default)]
    role: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    must_change: Option<String>,
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    active: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: Secret,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    done: Option<String>,
}

/// What the page shows besides the list.
#[derive(Default)]
struct View {
    notice: Option<Markup>,
    /// Problems of the create form, and what was entered (never the password).
    create_errors: Vec<FieldError>,
    create: Option<CreateForm>,
    /// Problems of one user's edit or password reset.
    edit_errors: Option<(i64, Vec<FieldError>)>,
}

fn role_select(id: &str, current: Role) -> Markup {
    html! {
        select name="role" id=(id) {
            @for r in Role::ALL {
                option value=(r.as_str()) selected[r == current] { (r.as_str()) }
            }
        }
    }
}

fn edit_panel(base: &str, p: &Principal, u: &User, errors: Option<&[FieldError]>) -> Markup {
    let errors = errors.unwrap_or(&[]);
    html! {
        details open[!errors.is_empty()] {
            summary { "Edit" }
            (layout::alert_errors(errors))
            form.form-grid method="post" action={ (base) "/users/" (u.id) } {
                input type="hidden" name="csrf" value=(p.csrf());
                label for={ "email-" (u.id) } { "E-mail" }
                input type="email" id={ "email-" (u.id) } name="email" value=(u.email.as_deref().unwrap_or(""));
                (layout::field_error(errors, "email"))
                label for={ "role-" (u.id) } { "Role" }
                (role_select(&format!("role-{}", u.id), u.role))
                (layout::field_error(errors, "role"))
                label for={ "groups-" (u.id) } { "Access groups" }
                input id={ "groups-" (u.id) } name="groups" value=(u.groups.join(", ")) placeholder="comma-separated; empty: every tenant";
                (layout::field_error(errors, "groups"))
                label for={ "active-" (u.id) } { "Active" }
                input type="checkbox" id={ "active-" (u.id) } name="active" value="1" checked[u.active];
                span {}
                div { button type="submit" { "Save" } }
            }
            form.form-grid method="post" action={ (base) "/users/" (u.id) "/password" } {
                input type="hidden" name="csrf" value=(p.csrf());
                label for={ "password-" (u.id) } { "New password" }
                input type="password" id={ "password-" (u.id) } name="password" autocomplete="new-password" required minlength=(user::MIN_PASSWORD_CHARS);
                (layout::field_error(errors, "password"))
                span {}
                div { button.secondary type="submit" { "Reset password" } }
                span {}
                div.muted { "The user must choose a new password at the next sign-in." }
            }
            @if u.id != p.user.id {
                form.inline method="post" action={ (base) "/users/" (u.id) "/delete" }
                    data-confirm={ "Delete user " (u.username) " with their sessions and API tokens?" } {
                    input type="hidden" name="csrf" value=(p.csrf());
                    button.danger type="submit" { "Delete user" }
                }
            }
        }
    }
}

fn render(
    state: &AppState,
    p: &Principal,
    list: &[User],
    view: View,
    status: StatusCode,
) -> HttpResponse {
    let base = &state.cfg.base;
    let create = view.create.clone().unwrap_or_default();
    let errors = &view.create_errors;
    let create_role = Role::parse(&create.role).unwrap_or(Role::User);
    let must_change = view.create.as_ref().is_none_or(|c| c.must_change.is_some());
    let body = html! {
        h1 { "Users" }
        @if let Some(n) = view.notice { (n) }
        table id="users" {
            thead { tr {
                th { "User" } th { "E-mail" } th { "Role" } th { "Access groups" } th { "State" }
                th { "Last sign-in" } th { "Created" } th {}
            } }
            tbody {
                @for u in list {
                    tr id={ "user-" (u.id) } {
                        td { (u.username) @if u.id == p.user.id { " " span.muted { "(you)" } } }
                        td { (opt(u.email.as_deref())) }
                        td { (u.role.as_str()) }
                        td { @if u.groups.is_empty() { span.muted { "every tenant" } } @else { (u.groups.join(", ")) } }
                        td {
                            @if u.active { span.badge.s-ok { "active" } } @else { span.badge.s-failed { "inactive" } }
                            @if u.must_change_password { " " span.badge.s-warn { "must change password" } }
                        }
                        td { (time(u.last_login_at)) }
                        td { (time(Some(u.created_at))) }
                        td {
                            @let errs = view.edit_errors.as_ref().filter(|(id, _)| *id == u.id).map(|(_, e)| e.as_slice());
                            (edit_panel(base, p, u, errs))
                        }
                    }
                }
            }
        }
        div.panel id="create-user" {
            h2 { "Create a user" }
            (layout::alert_errors(errors))
            form.form-grid method="post" action={ (base) "/users" } {
                input type="hidden" name="csrf" value=(p.csrf());
                label for="new-username" { "User name" }
                input id="new-username" name="username" value=(create.username) required maxlength="64" autocomplete="off";
                (layout::field_error(errors, "username"))
                label for="new-email" { "E-mail" }
                input type="email" id="new-email" name="email" value=(create.email);
                (layout::field_error(errors, "email"))
                label for="new-password" { "Initial password" }
                input type="password" id="new-password" name="password" required minlength=(user::MIN_PASSWORD_CHARS) autocomplete="new-password";
                (layout::field_error(errors, "password"))
                label for="new-role" { "Role" }
                (role_select("new-role", create_role))
                (layout::field_error(errors, "role"))
                label for="new-groups" { "Access groups" }
                input id="new-groups" name="groups" value=(create.groups) placeholder="comma-separated; empty: every tenant";
                (layout::field_error(errors, "groups"))
                label for="new-must-change" { "Must change password" }
                input type="checkbox" id="new-must-change" name="must_change" value="1" checked[must_change];
                span {}
                div { button type="submit" id="create-user-submit" { "Create user" } }
            }
        }
    };
    let mut res = layout::page(state, p, Nav::Users, "Users", body);
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

fn done_notice(done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "created" => "The user was created.",
        "updated" => "The user was changed.",
        "password" => "The password was reset; the user must change it at the next sign-in.",
        "deleted" => "The user was deleted.",
        _ => return None,
    };
    Some(html! { div.alert.ok role="status" { (text) } })
}

fn back(state: &AppState, done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("{}?done={done}", state.cfg.url("/users")),
        ))
        .finish()
}

/// Answer a failed change on the page: field problems and conflicts are shown with the list,
/// other errors as an error page.
async fn failed(
    state: &AppState,
    p: &Principal,
    e: AppError,
    mut view: View,
    user_id: Option<i64>,
) -> PageResult<HttpResponse> {
    let status = e.status();
    match e {
        AppError::Invalid { fields, .. } => match user_id {
            Some(id) => view.edit_errors = Some((id, fields)),
            None => view.create_errors = fields,
        },
        AppError::Conflict(msg) => {
            view.notice = Some(html! { div.alert.error role="alert" { (msg) } });
        }
        other => return Err(other.into()),
    }
    let list = users::list(&state.db).await?;
    Ok(render(state, p, &list, view, status))
}

pub async fn users_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<UsersQuery>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    let list = users::list(&state.db).await?;
    let view = View {
        notice: done_notice(q.done.as_deref()),
        ..View::default()
    };
    Ok(render(&state, &p, &list, view, StatusCode::OK))
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<CreateForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let body = UserIn {
        username: form.username.clone(),
        email: Some(form.email.clone()).filter(|e| !e.trim().is_empty()),
        password: form.password.clone(),
        role: Some(form.role.clone()).filter(|r| !r.trim().is_empty()),
        groups: split_groups(&form.groups),
        must_change_password: Some(form.must_change.is_some()),
    };
    match create_user_checked(&state, &body).await {
        Ok(u) => {
            audit::record(&state, &req, &p, Change::user("user.created", &u)).await;
            tracing::info!(by = %p.user.username, user = %u.username, role = %u.role, "user created");
            Ok(back(&state, "created"))
        }
        Err(e) => {
            let mut entered = form.into_inner();
            entered.password = Secret::default();
            let view = View {
                create: Some(entered),
                ..View::default()
            };
            failed(&state, &p, e, view, None).await
        }
    }
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<EditForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let id = path.into_inner();
    let body = UserUpdateIn {
        email: Some(form.email.clone()).filter(|e| !e.trim().is_empty()),
        role: form.role.clone(),
        groups: split_groups(&form.groups),
        active: form.active.is_some(),
        password: None,
    };
    match update_user_checked(&state, &p, id, &body).await {
        Ok(u) => {
            audit::record_all(&state, &req, &p, audit::user_updated(&u, &body)).await;
            Ok(back(&state, "updated"))
        }
        Err(e) => failed(&state, &p, e, View::default(), Some(id)).await,
    }
}

pub async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<ResetForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let id = path.into_inner();
    let Some(current) = users::get(&state.db, id).await? else {
        return Err(AppError::not_found(format!("user {id}")).into());
    };
    let body = UserUpdateIn {
        email: current.email.clone(),
        role: current.role.as_str().into(),
        groups: current.groups.clone(),
        active: current.active,
        password: Some(form.password.clone()),
    };
    match update_user_checked(&state, &p, id, &body).await {
        Ok(u) => {
            audit::record_all(&state, &req, &p, audit::user_updated(&u, &body)).await;
            Ok(back(&state, "password"))
        }
        Err(e) => failed(&state, &p, e, View::default(), Some(id)).await,
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<DeleteForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    match delete_user_checked(&state, &p, path.into_inner()).await {
        Ok(()) => {
            audit::record(&state, &req, &p, Change::user_deleted(&req)).await;
            Ok(back(&state, "deleted"))
        }
        Err(e) => failed(&state, &p, e, View::default(), None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_with_a_password_print_no_password_in_debug() {
        let create: CreateForm = serde_json::from_value(
            serde_json::json!({"username": "amy", "password": "hunter2hunter2"}),
        )
        .unwrap();
        let reset: ResetForm =
            serde_json::from_value(serde_json::json!({"password": "hunter2hunter2"})).unwrap();
        let shown = format!("{create:?} {reset:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(create.password.expose(), "hunter2hunter2");
    }

    #[test]
    fn groups_split_on_commas() {
        assert_eq!(split_groups(" ops, , finance ,"), ["ops", "finance"]);
        assert!(split_groups("").is_empty());
    }

    #[test]
    fn only_known_outcomes_are_announced() {
        assert!(done_notice(Some("created")).is_some());
        assert!(done_notice(Some("<b>")).is_none());
        assert!(done_notice(None).is_none());
    }
}
