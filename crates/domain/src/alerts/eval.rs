//! Rule evaluation, pure: a tenant's facts (read incrementally by the store) and a rule in,
//! observations out. An observation is one alert identity for which the condition holds now:
//! its key labels (always `tenant`, plus `iflow`, `error_group`, `alias`, `artifact`,
//! `condition`…), the labels of what it is about, the value, the severity after ladders, a
//! summary and a JSON description of what it is about. The lifecycle
//! ([`super::lifecycle::step`]) turns observations (and their absence) into transitions.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

pub use super::artifact_memory::ArtifactMemory;
use super::rule::{ArtifactTrigger, GroupTrigger, HealthTrigger, Per, Rule, RuleKind};
use super::{Labels, Matcher, Severity, format_duration};
use crate::MessageStatus;
use crate::tenant::TenantStatus;

/// Messages of one iFlow and status in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct IflowCount {
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub package_id: String,
    pub status: MessageStatus,
    pub count: u64,
}

/// An error group with the state changes a rule can fire on.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFact {
    pub id: i64,
    pub iflow_id: String,
    pub package_id: Option<String>,
    pub title: String,
    /// The group's current state (`new`, `ongoing`, … `resolved`, `ignored`).
    pub state: String,
    /// When it entered each of these states lately (creation counts as `new`).
    pub triggers: Vec<(GroupTrigger, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactFact {
    pub id: String,
    pub name: Option<String>,
    pub artifact_type: Option<String>,
    pub status: Option<String>,
    pub error_text: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertFact {
    pub alias: String,
    pub entry_type: Option<String>,
    pub subject_dn: Option<String>,
    pub valid_not_after: DateTime<Utc>,
}

/// A tenant's facts for one evaluation.
#[derive(Debug, Clone, Default)]
pub struct TenantFacts {
    pub tenant: String,
    /// The tenant's own labels (object labels and `key=value` tags).
    pub labels: Labels,
    pub iflow_labels: HashMap<String, Labels>,
    pub package_labels: HashMap<String, Labels>,
    pub status: Option<TenantStatus>,
    pub status_message: Option<String>,
    /// How far message collection has read (the hot job's watermark).
    pub collected_until: Option<DateTime<Utc>>,
    /// Per window length in seconds: messages per iFlow and status in `[now - window, now]`.
    pub counts: HashMap<u64, Vec<IflowCount>>,
    pub groups: Vec<GroupFact>,
    pub artifacts: Vec<ArtifactFact>,
    pub artifact_memory: ArtifactMemory,
    pub certificates: Vec<CertFact>,
    /// When jobs of this tenant were dead-lettered lately, with their type.
    pub dead_letters: Vec<(DateTime<Utc>, String)>,
}

/// One alert identity for which the condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The identity's labels.
    pub key: Labels,
    /// The key plus the labels of what it is about (tenant, package, iFlow labels).
    pub labels: Labels,
    pub value: f64,
    pub severity: Severity,
    pub summary: String,
    pub about: serde_json::Value,
    /// What was seen, so repeats of the same thing are not counted twice (concurrent
    /// evaluations see the same key).
    pub seen_key: String,
}

/// An evaluation's result for one rule and tenant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluated {
    pub observations: Vec<Observation>,
    /// Why the rule was not evaluated (a kind of a later version).
    pub skipped: Option<String>,
}

struct Ctx<'a> {
    rule: &'a Rule,
    facts: &'a TenantFacts,
    out: Vec<Observation>,
}

impl Ctx<'_> {
    fn base(&self) -> Labels {
        let mut key = Labels::new();
        // Label values are checked for length only; a tenant name is short.
        let _ = key.set("tenant", self.facts.tenant.clone());
        key
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        key: Labels,
        extra: &[&Labels],
        value: f64,
        severity: Severity,
        summary: String,
        about: serde_json::Value,
        seen_key: String,
    ) {
        let mut labels = key.clone();
        for l in extra {
            labels = labels.merged_under(l);
        }
        labels = labels.merged_under(&self.facts.labels);
        if !Matcher::all_match(&self.rule.scope.labels, &labels) {
            return;
        }
        self.out.push(Observation {
            key,
            labels,
            value,
            severity,
            summary,
            about,
            seen_key,
        });
    }

    fn labels_of(map: &HashMap<String, Labels>, id: &str) -> Labels {
        map.get(id).cloned().unwrap_or_default()
    }

    fn in_scope(&self, package: &str, iflow: &str, iflow_name: Option<&str>) -> bool {
        self.rule.scope.covers_package(package, None)
            && self.rule.scope.covers_iflow(iflow, iflow_name)
    }
}

fn window_counts(facts: &TenantFacts, window: Duration) -> &[IflowCount] {
    facts
        .counts
        .get(&window.as_secs())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The windows (seconds) whose counts `rules` need.
pub fn windows_needed<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<u64> {
    let mut w: Vec<u64> = rules
        .into_iter()
        .filter(|r| r.enabled)
        .filter_map(|r| match &r.kind {
            RuleKind::MessageFailures { window, .. } | RuleKind::ErrorRate { window, .. } => {
                Some(window.as_secs())
            }
            _ => None,
        })
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// Per iFlow (or one for the rule): (failed, total, name, package).
type Tally = BTreeMap<String, (u64, u64, Option<String>, String)>;

fn tally(ctx: &Ctx<'_>, counts: &[IflowCount], statuses: &[MessageStatus], per: Per) -> Tally {
    let mut t = Tally::new();
    for c in counts {
        if !ctx.in_scope(&c.package_id, &c.iflow_id, c.iflow_name.as_deref()) {
            continue;
        }
        let key = match per {
            Per::Iflow => c.iflow_id.clone(),
            Per::Rule => String::new(),
        };
        let e = t
            .entry(key)
            .or_insert((0, 0, c.iflow_name.clone(), c.package_id.clone()));
        if statuses.contains(&c.status) {
            e.0 += c.count;
        }
        e.1 += c.count;
    }
    t
}

fn status_list(statuses: &[MessageStatus]) -> String {
    statuses
        .iter()
        .map(MessageStatus::as_str)
        .collect::<Vec<_>>()
        .join("/")
}

/// Evaluate `rule` over `facts` at `now`.
pub fn evaluate(rule: &Rule, facts: &TenantFacts, now: DateTime<Utc>) -> Evaluated {
    let mut ctx = Ctx {
        rule,
        facts,
        out: Vec::new(),
    };
    match &rule.kind {
        RuleKind::MessageFailures {
            statuses,
            threshold,
            window,
            per,
        } => {
            let t = tally(&ctx, window_counts(facts, *window), statuses, *per);
            for (iflow, (failed, _, name, package)) in t {
                if failed < *threshold {
                    continue;
                }
                let mut key = ctx.base();
                let mut extra = Vec::new();
                if *per == Per::Iflow {
                    let _ = key.set("iflow", iflow.clone());
                    extra.push(Ctx::labels_of(&facts.iflow_labels, &iflow));
                    extra.push(Ctx::labels_of(&facts.package_labels, &package));
                }
                let refs: Vec<&Labels> = extra.iter().collect();
                let summary = format!(
                    "{failed} {} message(s) in {}{}",
                    status_list(statuses),
                    format_duration(*window),
                    if *per == Per::Iflow {
                        format!(" on {}", name.as_deref().unwrap_or(&iflow))
                    } else {
                        String::new()
                    }
                );
                let about = json!({
                    "iflow": (*per == Per::Iflow).then_some(&iflow),
                    "iflow_name": name, "statuses": status_list(statuses),
                    "window": format_duration(*window),
                    "since": now - chrono::Duration::from_std(*window).unwrap_or_default(),
                });
                // A new count is a new sighting; the same count seen twice is not.
                ctx.push(
                    key,
                    &refs,
                    failed as f64,
                    rule.severity,
                    summary,
                    about,
                    failed.to_string(),
                );
            }
        }
        RuleKind::ErrorRate {
            statuses,
            percent,
            window,
            min_messages,
            per,
        } => {
            let t = tally(&ctx, window_counts(facts, *window), statuses, *per);
            for (iflow, (failed, total, name, package)) in t {
                if total < *min_messages || total == 0 {
                    continue;
                }
                let rate = failed as f64 * 100.0 / total as f64;
                if rate < *percent {
                    continue;
                }
                let mut key = ctx.base();
                let mut extra = Vec::new();
                if *per == Per::Iflow {
                    let _ = key.set("iflow", iflow.clone());
                    extra.push(Ctx::labels_of(&facts.iflow_labels, &iflow));
                    extra.push(Ctx::labels_of(&facts.package_labels, &package));
                }
                let refs: Vec<&Labels> = extra.iter().collect();
                let summary = format!(
                    "{rate:.1}% {} ({failed} of {total}) in {}",
                    status_list(statuses),
                    format_duration(*window)
                );
                let about = json!({
                    "iflow": (*per == Per::Iflow).then_some(&iflow), "iflow_name": name,
                    "failed": failed, "total": total, "window": format_duration(*window),
                });
                ctx.push(
                    key,
                    &refs,
                    rate,
                    rule.severity,
                    summary,
                    about,
                    format!("{failed}/{total}"),
                );
            }
        }
        RuleKind::ErrorGroup { on, resolve_after } => {
            let since = now - chrono::Duration::from_std(*resolve_after).unwrap_or_default();
            for g in &facts.groups {
                if matches!(g.state.as_str(), "resolved" | "ignored")
                    || !ctx.in_scope(g.package_id.as_deref().unwrap_or(""), &g.iflow_id, None)
                {
                    continue;
                }
                let Some((trigger, at)) = g
                    .triggers
                    .iter()
                    .filter(|(t, at)| on.contains(t) && *at >= since)
                    .max_by_key(|(_, at)| *at)
                else {
                    continue;
                };
                let mut key = ctx.base();
                let _ = key.set("iflow", g.iflow_id.clone());
                let _ = key.set("error_group", g.id.to_string());
                let extra = [
                    Ctx::labels_of(&facts.iflow_labels, &g.iflow_id),
                    Ctx::labels_of(&facts.package_labels, g.package_id.as_deref().unwrap_or("")),
                ];
                let summary = format!("error group {} {}: {}", g.id, trigger.as_str(), g.title);
                let about = json!({
                    "error_group": g.id, "title": g.title, "state": g.state,
                    "trigger": trigger.as_str(), "at": at,
                });
                ctx.push(
                    key,
                    &[&extra[0], &extra[1]],
                    1.0,
                    rule.severity,
                    summary,
                    about,
                    format!("{}@{}", trigger.as_str(), at.to_rfc3339()),
                );
            }
        }
        RuleKind::ArtifactStatus { on, resolve_after } => {
            let memory = facts
                .artifact_memory
                .advance(&facts.artifacts, now, *resolve_after);
            let mut seen: Vec<(ArtifactTrigger, String, Option<String>, String, String)> =
                Vec::new();
            if on.contains(&ArtifactTrigger::Error) {
                for a in &facts.artifacts {
                    if a.status
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("ERROR"))
                    {
                        let detail = a.error_text.clone().unwrap_or_default();
                        let since = a.deployed_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                        seen.push((
                            ArtifactTrigger::Error,
                            a.id.clone(),
                            a.name.clone(),
                            detail,
                            since,
                        ));
                    }
                }
            }
            if on.contains(&ArtifactTrigger::Undeployed) {
                for (id, (name, at)) in &memory.undeployed {
                    seen.push((
                        ArtifactTrigger::Undeployed,
                        id.clone(),
                        name.clone(),
                        String::new(),
                        at.to_rfc3339(),
                    ));
                }
            }
            if on.contains(&ArtifactTrigger::Redeployed) {
                for (id, (name, at)) in &memory.redeployed {
                    seen.push((
                        ArtifactTrigger::Redeployed,
                        id.clone(),
                        name.clone(),
                        String::new(),
                        at.to_rfc3339(),
                    ));
                }
            }
            for (trigger, id, name, detail, at) in seen {
                if !rule.scope.covers_iflow(&id, name.as_deref()) {
                    continue;
                }
                let mut key = ctx.base();
                let _ = key.set("artifact", id.clone());
                let _ = key.set("condition", trigger.as_str());
                let extra = Ctx::labels_of(&facts.iflow_labels, &id);
                let summary = format!(
                    "artifact {} {}{}",
                    name.as_deref().unwrap_or(&id),
                    match trigger {
                        ArtifactTrigger::Error => "is in ERROR",
                        ArtifactTrigger::Undeployed => "was undeployed",
                        ArtifactTrigger::Redeployed => "was redeployed",
                    },
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    }
                );
                let about = json!({"artifact": id, "name": name, "condition": trigger.as_str(), "at": at, "error": detail});
                ctx.push(key, &[&extra], 1.0, rule.severity, summary, about, at);
            }
        }
        RuleKind::CertificateExpiry { days, ladder } => {
            for c in &facts.certificates {
                let left = c.valid_not_after - now;
                if left > chrono::Duration::days(i64::from(*days)) {
                    continue;
                }
                let days_left = left.num_seconds() as f64 / 86_400.0;
                let severity = if left <= chrono::Duration::zero() {
                    Severity::High
                } else {
                    let steps = ladder
                        .iter()
                        .filter(|d| left <= chrono::Duration::days(i64::from(**d)))
                        .count();
                    raise(rule.severity, steps)
                };
                let mut key = ctx.base();
                let _ = key.set("alias", c.alias.clone());
                let summary = if left <= chrono::Duration::zero() {
                    format!(
                        "certificate {} expired on {}",
                        c.alias,
                        c.valid_not_after.date_naive()
                    )
                } else {
                    format!(
                        "certificate {} expires on {} ({} day(s) left)",
                        c.alias,
                        c.valid_not_after.date_naive(),
                        left.num_days()
                    )
                };
                let about = json!({"alias": c.alias, "type": c.entry_type, "subject": c.subject_dn, "valid_not_after": c.valid_not_after});
                ctx.push(
                    key,
                    &[],
                    days_left,
                    severity,
                    summary,
                    about,
                    c.valid_not_after.to_rfc3339(),
                );
            }
        }
        RuleKind::CollectionHealth { on, lag, window } => {
            let mut found: Vec<(HealthTrigger, f64, String)> = Vec::new();
            let why = facts.status_message.clone().unwrap_or_default();
            if on.contains(&HealthTrigger::Unreachable)
                && facts.status == Some(TenantStatus::Unreachable)
            {
                found.push((
                    HealthTrigger::Unreachable,
                    1.0,
                    format!("tenant unreachable: {why}"),
                ));
            }
            if on.contains(&HealthTrigger::Stuck) && facts.status == Some(TenantStatus::Stuck) {
                found.push((
                    HealthTrigger::Stuck,
                    1.0,
                    format!("collection stuck: {why}"),
                ));
            }
            if on.contains(&HealthTrigger::Lag)
                && let Some(until) = facts.collected_until
            {
                let behind = (now - until).to_std().unwrap_or_default();
                if behind > *lag {
                    found.push((
                        HealthTrigger::Lag,
                        behind.as_secs() as f64,
                        format!(
                            "collection is {} behind (limit {})",
                            format_duration(Duration::from_secs(behind.as_secs())),
                            format_duration(*lag)
                        ),
                    ));
                }
            }
            if on.contains(&HealthTrigger::DeadLetters) {
                let since = now - chrono::Duration::from_std(*window).unwrap_or_default();
                let dead: Vec<&(DateTime<Utc>, String)> = facts
                    .dead_letters
                    .iter()
                    .filter(|(at, _)| *at >= since)
                    .collect();
                if !dead.is_empty() {
                    found.push((
                        HealthTrigger::DeadLetters,
                        dead.len() as f64,
                        format!(
                            "{} job(s) dead-lettered in {}",
                            dead.len(),
                            format_duration(*window)
                        ),
                    ));
                }
            }
            for (trigger, value, summary) in found {
                let mut key = ctx.base();
                let _ = key.set("condition", trigger.as_str());
                let about = json!({"condition": trigger.as_str(), "status": facts.status.map(|s| s.as_str()), "message": facts.status_message});
                let seen = if trigger == HealthTrigger::DeadLetters {
                    value.to_string()
                } else {
                    trigger.as_str().to_string()
                };
                ctx.push(key, &[], value, rule.severity, summary, about, seen);
            }
        }
        RuleKind::NotEvaluatedYet(kind) => {
            return Evaluated {
                observations: Vec::new(),
                skipped: Some(format!(
                    "rule kind {kind} is not evaluated yet by this version"
                )),
            };
        }
    }
    Evaluated {
        observations: ctx.out,
        skipped: None,
    }
}

fn raise(s: Severity, steps: usize) -> Severity {
    let i = Severity::ALL.iter().position(|x| *x == s).unwrap_or(0);
    Severity::ALL[(i + steps).min(Severity::ALL.len() - 1)]
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
