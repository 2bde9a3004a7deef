//! `/errors/rules` (managers): the custom fingerprint rules in their order (first match wins):
//! add (a bad glob or regex is shown on the form with 422), move, delete. The checks are the
//! service's (`crate::service::error_rules`), shared with `/api/error-rules`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::tenant::FieldError;
use domain::user::Role;
use maud::{Markup, html};
use serde::Deserialize;

use super::errors::{csrf_field, form_number, opt_text, with_status};
use super::layout::{self, Nav, see_other};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::error_rules::{self, MoveIn, RuleIn, RuleOut};
use crate::state::AppState;

#[derive(Deserialize, Default, Clone)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    iflow: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    text_glob: String,
    #[serde(default)]
    text_regex: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    position: String,
}

impl RuleForm {
    fn rule_in(&self) -> RuleIn {
        RuleIn {
            iflow: opt_text(&self.iflow),
            package: opt_text(&self.package),
            status: opt_text(&self.status),
            text_glob: opt_text(&self.text_glob),
            text_regex: opt_text(&self.text_regex),
            fingerprint: self.fingerprint.clone(),
            title: opt_text(&self.title),
        }
    }
}

fn render_rules(
    state: &AppState,
    p: &Principal,
    rules: &[RuleOut],
    notice: Option<Markup>,
    errors: &[FieldError],
    entered: &RuleForm,
) -> HttpResponse {
    let base = &state.cfg.base;
    let body = html! {
        h1 { "Fingerprint rules" }
        p.muted {
            "A message whose error matches a rule is grouped under the rule's fingerprint (per tenant and iFlow) instead of its normalised text. "
            "The first matching rule wins. A rule applies to errors stored after it is saved; "
            code { "integramon errors regroup" } " applies the rules to stored messages."
        }
        @if let Some(n) = notice { (n) }
        @if rules.is_empty() { div.panel id="no-rules" { "No rules: every error is grouped by its normalised text." } } @else {
            table id="error-rules" {
                thead { tr {
                    th.num { "#" } th { "iFlow" } th { "Package" } th { "Status" } th { "Text glob" } th { "Text regex" }
                    th { "Fingerprint" } th { "Title" } th {}
                } }
                tbody { @for r in rules { tr data-rule=(r.id) {
                    td.num { (r.position) }
                    td.mono { (layout::opt(r.iflow.as_deref())) }
                    td.mono { (layout::opt(r.package.as_deref())) }
                    td { (layout::opt(r.status.as_deref())) }
                    td.mono.trunc { (layout::opt(r.text_glob.as_deref())) }
                    td.mono.trunc { (layout::opt(r.text_regex.as_deref())) }
                    td.mono { (r.fingerprint) }
                    td { (layout::opt(r.title.as_deref())) }
                    td.nowrap {
                        form.inline method="post" action={ (base) "/errors/rules/" (r.id) "/move" } {
                            (csrf_field(p))
                            input type="number" name="position" min="1" max=(rules.len()) value=(r.position) aria-label="position";
                            " " button.secondary type="submit" { "Move" }
                        }
                        " "
                        form.inline method="post" action={ (base) "/errors/rules/" (r.id) "/delete" }
                            data-confirm="Delete this rule? Errors stored afterwards are grouped without it." {
                            (csrf_field(p))
                            button.danger type="submit" { "Delete" }
                        }
                    }
                } } }
            }
        }
        div.panel id="create-rule" {
            h2 { "Add a rule" }
            (layout::alert_errors(errors))
            form.form-grid method="post" action={ (base) "/errors/rules" } {
                (csrf_field(p))
                label for="rule-iflow" { "iFlow id (glob)" }
                input id="rule-iflow" name="iflow" value=(entered.iflow) placeholder="e.g. Orders_*";
                (layout::field_error(errors, "iflow"))
                label for="rule-package" { "Package id (glob)" }
                input id="rule-package" name="package" value=(entered.package);
                (layout::field_error(errors, "package"))
                label for="rule-status" { "Status" }
                input id="rule-status" name="status" value=(entered.status) placeholder="e.g. FAILED";
                (layout::field_error(errors, "status"))
                label for="rule-glob" { "Error text (glob)" }
                input id="rule-glob" name="text_glob" value=(entered.text_glob) placeholder="*HTTP 401*";
                (layout::field_error(errors, "text_glob"))
                label for="rule-regex" { "Error text (regex)" }
                input id="rule-regex" name="text_regex" value=(entered.text_regex);
                (layout::field_error(errors, "text_regex"))
                label for="rule-fingerprint" { "Fingerprint" }
                input id="rule-fingerprint" name="fingerprint" value=(entered.fingerprint) required maxlength="200";
                (layout::field_error(errors, "fingerprint"))
                label for="rule-title" { "Title" }
                input id="rule-title" name="title" value=(entered.title) maxlength="200" placeholder="optional";
                (layout::field_error(errors, "title"))
                span {}
                div { button type="submit" id="create-rule-submit" { "Add rule" } }
            }
        }
    };
    layout::page(state, p, Nav::Errors, "Fingerprint rules", body)
}

#[derive(Deserialize, Default)]
pub struct RulesQuery {
    done: Option<String>,
}

pub async fn rules_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<RulesQuery>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    let rules = error_rules::list(&state).await?;
    let notice = match q.done.as_deref() {
        Some("created") => Some("The rule was added."),
        Some("deleted") => Some("The rule was deleted."),
        Some("moved") => Some("The rule was moved."),
        _ => None,
    }
    .map(|t| html! { div.alert.ok role="status" id="done" { (t) } });
    Ok(render_rules(
        &state,
        &p,
        &rules,
        notice,
        &[],
        &RuleForm::default(),
    ))
}

pub async fn rule_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<RuleForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    match error_rules::create(&state, &req, &p, &form.rule_in()).await {
        Ok(_) => Ok(see_other(format!(
            "{}/errors/rules?done=created",
            state.cfg.base
        ))),
        Err(AppError::Invalid { fields, .. }) => {
            let rules = error_rules::list(&state).await?;
            Ok(with_status(
                render_rules(&state, &p, &rules, None, &fields, &form),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn rule_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<(i64, String)>,
    form: web::Form<RuleForm>,
) -> PageResult<HttpResponse> {
    let (id, verb) = path.into_inner();
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let done = match verb.as_str() {
        "delete" => {
            error_rules::delete(&state, &req, &p, id).await?;
            "deleted"
        }
        "move" => {
            let position = form_number::<u32>(&form.position, "position")?
                .ok_or_else(|| AppError::invalid("position", "is required"))?;
            error_rules::move_to(&state, &req, &p, id, &MoveIn { position }).await?;
            "moved"
        }
        _ => return Err(AppError::not_found("no such action").into()),
    };
    Ok(see_other(format!(
        "{}/errors/rules?done={done}",
        state.cfg.base
    )))
}
