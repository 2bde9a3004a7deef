//! `/jobs`: recent runs, failures, dead runs (with retry), queue depths and the broker status,
//! requeueing dead letters and "sync now" per tenant.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use domain::job::JobType;
use domain::user::Role;
use maud::{Markup, html};
use serde::Deserialize;
use store::repo::job_runs::{JobRun, JobState};

use super::catalog::enc;
use super::layout::{self, CsrfOnly, Nav, opt, see_other, status_badge, time};
use crate::access;
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::jobs::{
    DEFAULT_REQUEUE, Runs, RunsQuery, counts_summary, duration_ms, load_queues, requeue, retry_run,
    runs_among,
};
use crate::service::tenants::{SYNC_JOBS, sync_now};
use crate::state::AppState;

/// Failures and dead runs shown at most.
const FAILURES: u64 = 20;
const DEAD: u64 = 50;

#[derive(Deserialize, Default)]
pub struct JobsQuery {
    pub tenant: Option<String>,
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub state: Option<String>,
    /// Set by the redirect after a submission: the new job's id.
    pub submitted: Option<String>,
    /// Set by the redirect after requeueing dead letters: how many.
    pub requeued: Option<String>,
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

fn tenant_cell(r: &JobRun, names: &HashMap<i64, String>) -> Markup {
    match r.tenant_id {
        Some(t) => html! { (names.get(&t).map_or_else(|| format!("#{t}"), Clone::clone)) },
        None => html! { span.muted { "—" } },
    }
}

fn job_cell(r: &JobRun) -> Markup {
    html! { code title=(r.job_id) { (short_id(&r.job_id)) } }
}

fn runs_table(runs: &[JobRun], names: &HashMap<i64, String>) -> Markup {
    html! {
        table id="runs" {
            thead { tr {
                th { "Job" } th { "Tenant" } th { "Type" } th { "State" } th.num { "Attempt" }
                th { "Queued" } th { "Started" } th { "Finished" } th.num { "Took" }
                th { "Counts" } th { "Worker" } th { "Error" }
            } }
            tbody {
                @for r in runs {
                    tr {
                        td { (job_cell(r)) }
                        td { (tenant_cell(r, names)) }
                        td { (r.job_type) }
                        td { (status_badge(Some(r.state.as_str()))) }
                        td.num { (r.attempt) }
                        td { (time(Some(r.queued_at))) }
                        td { (time(r.started_at)) }
                        td { (time(r.finished_at)) }
                        td.num.nowrap { (layout::duration_ms(duration_ms(r))) }
                        td { @if let Some(c) = &r.counts { div.counts title=(c.to_string()) { (counts_summary(c)) } } @else { span.muted { "—" } } }
                        td { (opt(r.worker.as_deref())) }
                        td { @if let Some(e) = &r.error { div.trunc title=(e) { (e) } } @else { span.muted { "—" } } }
                    }
                }
            }
        }
    }
}

fn csrf_field(p: &Principal) -> Markup {
    html! { input type="hidden" name="csrf" value=(p.csrf()); }
}

pub async fn jobs_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<JobsQuery>,
) -> PageResult<HttpResponse> {
    let runs_q = RunsQuery {
        tenant: q.tenant.clone(),
        job_type: q.job_type.clone(),
        state: q.state.clone(),
        limit: None,
    }
    .parse()?;
    let visible = access::visible_tenants(&state, &p).await?;
    let failed_q = Runs {
        state: Some(JobState::Failed),
        limit: FAILURES,
        ..runs_q.clone()
    };
    let dead_q = Runs {
        state: Some(JobState::Dead),
        limit: DEAD,
        ..runs_q.clone()
    };
    let (runs, failed, dead) = futures::try_join!(
        runs_among(&state, &p, &visible, &runs_q),
        runs_among(&state, &p, &visible, &failed_q),
        runs_among(&state, &p, &visible, &dead_q),
    )?;
    let broker = state.queue.status();
    let depths = load_queues(&state).await;
    let names = crate::service::messages::tenant_names(&visible);
    let manager = p.user.role.allows(Role::Manager);
    let base = &state.cfg.base;
    let body = html! {
        h1 { "Jobs" }
        @if let Some(id) = q.submitted.as_deref().filter(|s| !s.is_empty()) {
            div.alert.ok role="status" { "Job " code { (id) } " was submitted." }
        }
        @if let Some(n) = q.requeued.as_deref().filter(|s| !s.is_empty()) {
            div.alert.ok role="status" { (n) " dead letters were moved back to their queues." }
        }
        form.filters.panel method="get" action={ (base) "/jobs" } {
            label { "Tenant"
                select name="tenant" id="tenant" {
                    option value="" { "All tenants" }
                    @for t in &visible {
                        option value=(t.id) selected[runs_q.tenant == Some(t.id)] { (t.settings.name) }
                    }
                }
            }
            label { "Type"
                select name="type" id="type" {
                    option value="" { "All types" }
                    @for jt in JobType::KNOWN {
                        option value=(jt.as_str()) selected[runs_q.job_type.as_deref() == Some(jt.as_str())] { (jt.as_str()) }
                    }
                    @if let Some(other) = runs_q.job_type.as_deref().filter(|t| !JobType::parse(t).is_known()) {
                        option value=(other) selected { (other) }
                    }
                }
            }
            label { "State"
                select name="state" id="state" {
                    option value="" { "All states" }
                    @for s in [JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Retried, JobState::Dead] {
                        option value=(s.as_str()) selected[runs_q.state == Some(s)] { (s.as_str()) }
                    }
                }
            }
            button type="submit" { "Apply" }
        }

        div.panel id="queues" {
            h2 { "Queues" }
            p {
                "Broker: "
                @if broker.is_up() { span.badge.s-ok { "up" } } @else { span.badge.s-failed { "down" } }
                " " span.muted { (broker.to_string()) }
            }
            @match &depths {
                Err(e) => div.alert.error role="alert" { "The queue depths could not be read: " (e) },
                Ok(list) if list.is_empty() => p.muted { "No queues exist yet." },
                Ok(list) => table {
                    thead { tr { th { "Queue" } th.num { "Messages" } th.num { "Consumers" } } }
                    tbody {
                        @for d in list {
                            tr {
                                td { code { (d.queue) } }
                                td.num { (layout::count(i64::from(d.messages))) }
                                td.num { (layout::count(i64::from(d.consumers))) }
                            }
                        }
                    }
                },
            }
            @if manager {
                form.filters method="post" action={ (base) "/jobs/dead/requeue" }
                    data-confirm="Move dead letters back to their queues? They run again." {
                    (csrf_field(&p))
                    label { "At most" input type="number" name="max" min="1" max="10000" value=(DEFAULT_REQUEUE); }
                    button.secondary type="submit" id="requeue-dead" { "Requeue dead letters" }
                }
            }
        }

        @if manager && !visible.is_empty() {
            div.panel id="sync-now" {
                h2 { "Sync now" }
                table {
                    thead { tr { th { "Tenant" } th { "Job" } } }
                    tbody {
                        @for t in &visible {
                            tr {
                                td { (t.settings.name) }
                                td {
                                    form.inline method="post" action={ (base) "/tenants/" (t.id) "/sync-now" } {
                                        (csrf_field(&p))
                                        select name="job" aria-label="Job type" {
                                            @for j in SYNC_JOBS { option value=(j) { (j) } }
                                        }
                                        " "
                                        button type="submit" { "Sync now" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        h2 { "Dead runs" }
        @if dead.is_empty() {
            p.muted { "No dead-lettered runs." }
        } @else {
            p.muted { "Retry resubmits a run's type, tenant and parameters as a new job. Requeueing the dead letters as well would run it twice." }
            table id="dead-runs" {
                thead { tr { th { "Job" } th { "Tenant" } th { "Type" } th.num { "Attempts" } th { "Dead since" } th { "Reason" } th {} } }
                tbody {
                    @for r in &dead {
                        tr {
                            td { (job_cell(r)) }
                            td { (tenant_cell(r, &names)) }
                            td { (r.job_type) }
                            td.num { (r.attempt) }
                            td { (time(r.finished_at)) }
                            td { (opt(r.error.as_deref())) }
                            td { @if manager { (retry_form(base, &p, r)) } }
                        }
                    }
                }
            }
        }

        h2 { "Failures" }
        @if failed.is_empty() {
            p.muted { "No failed runs." }
        } @else {
            table id="failures" {
                thead { tr { th { "Job" } th { "Tenant" } th { "Type" } th { "Failed at" } th { "Error" } th {} } }
                tbody {
                    @for r in &failed {
                        tr {
                            td { (job_cell(r)) }
                            td { (tenant_cell(r, &names)) }
                            td { (r.job_type) }
                            td { (time(r.finished_at)) }
                            td { (opt(r.error.as_deref())) }
                            td { @if manager { (retry_form(base, &p, r)) } }
                        }
                    }
                }
            }
        }

        h2 { "Recent runs" }
        @if runs.is_empty() {
            p.muted { "No runs match." }
        } @else {
            (runs_table(&runs, &names))
        }
    };
    Ok(layout::page(&state, &p, Nav::Jobs, "Jobs", body))
}

fn retry_form(base: &str, p: &Principal, r: &JobRun) -> Markup {
    html! {
        @if r.tenant_id.is_some() {
            form.inline method="post" action={ (base) "/jobs/" (enc(&r.job_id)) "/retry" } {
                (csrf_field(p))
                button.secondary type="submit" { "Retry" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct SyncForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    job: String,
}

/// "Sync now" for one tenant (managers).
pub async fn sync_now_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<SyncForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let out = sync_now(&state, &p, &t, form.job.trim(), None).await?;
    Ok(see_other(format!(
        "{}?tenant={}&submitted={}",
        state.cfg.url("/jobs"),
        t.id,
        enc(&out.job_id)
    )))
}

/// Retry a failed or dead run as a new job (managers).
pub async fn retry_form_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let out = retry_run(&state, &p, &path.into_inner()).await?;
    Ok(see_other(format!(
        "{}?submitted={}",
        state.cfg.url("/jobs"),
        enc(&out.job.job_id)
    )))
}

#[derive(Deserialize)]
pub struct RequeueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    max: Option<String>,
}

/// Move dead letters back to their queues (managers).
pub async fn requeue_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<RequeueForm>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let max = match form.max.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(
            m.parse::<usize>()
                .map_err(|_| AppError::invalid("max", "must be a whole number"))?,
        ),
    };
    let n = requeue(&state, &p, max).await?;
    Ok(see_other(format!(
        "{}?requeued={n}",
        state.cfg.url("/jobs")
    )))
}
