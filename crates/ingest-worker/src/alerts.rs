//! The `alerts` job: evaluate a tenant's rules once. Rules are read and validated, the facts
//! they need are read incrementally (`store::repo::alerts::facts`), each rule is evaluated
//! (`domain::alerts::eval`), and every identity's step is applied in its own transaction
//! (`store::repo::alerts::instances::apply`), so two evaluators of one tenant at once never
//! open an alert twice nor record a transition twice. Silences and built-in inhibition mark
//! alerts as muted; the Watchdog alert is seen on every evaluation.
//!
//! The first evaluation of a tenant creates its default rules (`default-…-<tenant>`), once: a
//! deleted default rule stays deleted.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::alerts::eval::{self, ArtifactMemory, TenantFacts};
use domain::alerts::inhibit::{self, Inhibitors};
use domain::alerts::lifecycle::Timing;
use domain::alerts::rule::{self, Rule, RuleKind};
use domain::alerts::{Labels, Severity, format_duration};
use domain::tenant::{Tenant, TenantStatus};
use serde::Serialize;
use store::repo::alerts::instances::{self, Sighting, Target};
use store::repo::alerts::{evaluations, facts, rules, silences};
use store::repo::{labels, sync_state};
use store::{Db, StoreError};

/// Labels of the Watchdog alert (no tenant: there is one per installation).
pub const WATCHDOG_IDENTITY: &str = r#"alertname="Watchdog""#;

/// What one evaluation did, the job run's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    pub rules: usize,
    pub observations: usize,
    pub opened: usize,
    pub transitions: usize,
    /// Rules not evaluated, with the reason (a kind of a later version, an invalid spec).
    pub skipped: Vec<String>,
    pub defaults_created: usize,
    pub duration_ms: u64,
}

/// Evaluate `tenant`'s rules at `now`, recording the evaluation's start, end and error.
pub async fn evaluate_tenant(
    db: &Db,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<EvalReport, StoreError> {
    let started = Instant::now();
    let state = evaluations::start(db, tenant.id, now).await?;
    let mut report = EvalReport::default();
    if !state.defaults_applied {
        report.defaults_created = apply_defaults(db, tenant, now).await?;
    }
    let result = run(db, tenant, &state.cursor, now, &mut report).await;
    report.duration_ms = started.elapsed().as_millis() as u64;
    let finished = Utc::now();
    match result {
        Ok(cursor) => {
            evaluations::finish(
                db,
                tenant.id,
                finished,
                report.duration_ms as i64,
                None,
                Some(&cursor),
            )
            .await?;
            Ok(report)
        }
        Err(e) => {
            let error = e.to_string();
            let _ = evaluations::finish(
                db,
                tenant.id,
                finished,
                report.duration_ms as i64,
                Some(&error),
                None,
            )
            .await;
            Err(e)
        }
    }
}

async fn apply_defaults(db: &Db, tenant: &Tenant, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let txn = db.begin_write().await?;
    let mut created = 0;
    if evaluations::claim_defaults(&txn, tenant.id).await? {
        for spec in rule::default_rules(&tenant.settings.name) {
            if rules::create_missing_in(&txn, &spec, "system", now).await? {
                created += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(created)
}

/// The tenant's labels: object labels, and tags written `name=value`.
fn tenant_labels(tenant: &Tenant, object: &Labels) -> Labels {
    let mut l = object.clone();
    for tag in &tenant.settings.collection.tags {
        if let Some((k, v)) = tag.split_once('=')
            && l.get(k.trim()).is_none()
        {
            let _ = l.set(k.trim(), v.trim());
        }
    }
    l
}

fn max_duration<'a>(
    rules: &[&'a Rule],
    f: impl Fn(&'a RuleKind) -> Option<Duration>,
) -> Option<Duration> {
    rules.iter().filter_map(|r| f(&r.kind)).max()
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_default()
}

/// Read the facts the rules need; the artifact memory comes from the cursor.
async fn read_facts(
    db: &Db,
    tenant: &Tenant,
    object: labels::TenantLabels,
    rules: &[&Rule],
    cursor: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<TenantFacts, StoreError> {
    let mut f = TenantFacts {
        tenant: tenant.settings.name.clone(),
        labels: tenant_labels(tenant, &object.tenant),
        iflow_labels: object.iflows,
        package_labels: object.packages,
        status: Some(tenant.status),
        status_message: tenant.status_message.clone(),
        collected_until: sync_state::get(db, tenant.id, "messages_hot")
            .await?
            .and_then(|s| s.watermark),
        artifact_memory: cursor
            .get("artifacts")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        ..Default::default()
    };
    for secs in eval::windows_needed(rules.iter().copied()) {
        let since = now - chrono::Duration::seconds(secs as i64);
        f.counts
            .insert(secs, facts::window_counts(db, tenant.id, since).await?);
    }
    if let Some(keep) = max_duration(rules, |k| match k {
        RuleKind::ErrorGroup { resolve_after, .. } => Some(*resolve_after),
        _ => None,
    }) {
        f.groups = facts::error_groups(db, tenant.id, now - chrono(keep)).await?;
    }
    if rules
        .iter()
        .any(|r| matches!(r.kind, RuleKind::ArtifactStatus { .. }))
    {
        f.artifacts = facts::artifacts(db, tenant.id).await?;
    }
    if let Some(days) = rules
        .iter()
        .filter_map(|r| match r.kind {
            RuleKind::CertificateExpiry { days, .. } => Some(days),
            _ => None,
        })
        .max()
    {
        let until = now + chrono::Duration::days(i64::from(days));
        f.certificates = facts::certificates(db, tenant.id, until).await?;
    }
    if let Some(window) = max_duration(rules, |k| match k {
        RuleKind::CollectionHealth { window, .. } => Some(*window),
        _ => None,
    }) {
        f.dead_letters = facts::dead_letters(db, tenant.id, now - chrono(window)).await?;
    }
    Ok(f)
}

fn inhibitors(f: &TenantFacts, memory: &ArtifactMemory, now: DateTime<Utc>) -> Inhibitors {
    let stale = match (f.status, f.collected_until) {
        (Some(TenantStatus::Stuck), _) => Some(format!(
            "collection stuck: {}",
            f.status_message.clone().unwrap_or_default()
        )),
        (_, Some(until)) if (now - until) > chrono(rule::DEFAULT_LAG) => Some(format!(
            "collection is {} behind",
            format_duration(Duration::from_secs(
                (now - until).num_seconds().max(0) as u64
            ))
        )),
        _ => None,
    };
    Inhibitors {
        tenant_unreachable: f.status == Some(TenantStatus::Unreachable),
        collection_stale: stale,
        undeployed_iflows: memory.undeployed.keys().cloned().collect(),
    }
}

struct Mutes<'a> {
    silences: &'a [silences::StoredSilence],
    inhibitors: Inhibitors,
    now: DateTime<Utc>,
    /// Silences that muted something in this evaluation.
    used: HashSet<i64>,
}

impl Mutes<'_> {
    fn of(&mut self, kind: &str, labels: &Labels) -> Option<String> {
        if let Some(s) = self
            .silences
            .iter()
            .find(|s| s.silence.mutes(labels, self.now))
        {
            self.used.insert(s.id);
            return Some(format!("silenced by {}", s.silence.name));
        }
        inhibit::inhibited_by(kind, labels, &self.inhibitors)
    }
}

async fn run(
    db: &Db,
    tenant: &Tenant,
    cursor: &serde_json::Value,
    now: DateTime<Utc>,
    report: &mut EvalReport,
) -> Result<serde_json::Value, StoreError> {
    let stored = rules::for_tenant(db, &tenant.settings.name).await?;
    let mut valid: Vec<(i64, Rule)> = Vec::new();
    for s in stored.into_iter().filter(|s| s.enabled) {
        match s.spec.validate() {
            Ok(r) => valid.push((s.id, r)),
            Err(e) => report.skipped.push(format!("{}: invalid: {e}", s.name)),
        }
    }
    let object = labels::of_tenant(db, tenant.id).await?;
    let tlabels = tenant_labels(tenant, &object.tenant);
    valid.retain(|(_, r)| r.scope.covers_tenant(&tenant.settings.name, &tlabels));
    let refs: Vec<&Rule> = valid.iter().map(|(_, r)| r).collect();
    let facts = read_facts(db, tenant, object, &refs, cursor, now).await?;
    let keep = max_duration(&refs, |k| match k {
        RuleKind::ArtifactStatus { resolve_after, .. } => Some(*resolve_after),
        _ => None,
    });
    let memory = match keep {
        Some(keep) => facts.artifact_memory.advance(&facts.artifacts, now, keep),
        None => facts.artifact_memory.clone(),
    };
    let current = silences::current(db, now).await?;
    let mut mutes = Mutes {
        silences: &current,
        inhibitors: inhibitors(&facts, &memory, now),
        now,
        used: HashSet::new(),
    };
    for (rule_id, rule) in &valid {
        let evaluated = eval::evaluate(rule, &facts, now);
        if let Some(why) = evaluated.skipped {
            // Its alerts are left alone: not evaluating is not "the condition is false".
            report.skipped.push(format!("{}: {why}", rule.name));
            continue;
        }
        report.rules += 1;
        report.observations += evaluated.observations.len();
        let timing = Timing {
            for_: rule.for_,
            keep_firing_for: rule.keep_firing_for,
        };
        let kind = rule.kind.name().to_string();
        let mut seen: HashMap<String, ()> = HashMap::new();
        for o in &evaluated.observations {
            let identity = o.key.identity();
            let muted = mutes.of(&kind, &o.labels);
            let target = Target {
                rule_id: *rule_id,
                tenant_id: Some(tenant.id),
                identity: &identity,
                timing,
            };
            let sighting = Sighting {
                labels: &o.labels,
                severity: o.severity,
                summary: &o.summary,
                value: o.value,
                about: &o.about,
                seen_key: &o.seen_key,
            };
            let applied =
                instances::apply(db, target, Some(sighting), muted.as_deref(), now).await?;
            count(report, &applied);
            seen.insert(identity, ());
        }
        for (identity, labels, _) in instances::open_of_rule(db, *rule_id, Some(tenant.id)).await? {
            if seen.contains_key(&identity) {
                continue;
            }
            let muted = mutes.of(&kind, &labels);
            let target = Target {
                rule_id: *rule_id,
                tenant_id: Some(tenant.id),
                identity: &identity,
                timing,
            };
            let applied = instances::apply(db, target, None, muted.as_deref(), now).await?;
            count(report, &applied);
        }
    }
    watchdog(db, now).await?;
    let used: Vec<i64> = mutes.used.iter().copied().collect();
    silences::mark_muted(db, &used).await?;
    for s in &current {
        let muted_any = s.muted_any || mutes.used.contains(&s.id);
        if s.silence.expire_on_resolve && muted_any {
            let open =
                instances::count_open_muted_by(db, &format!("silenced by {}", s.silence.name))
                    .await?;
            if s.silence.ends_on_resolve(muted_any, open > 0) {
                silences::expire(db, s.id, now).await?;
            }
        }
    }
    let mut next = cursor.clone();
    if !next.is_object() {
        next = serde_json::json!({});
    }
    if keep.is_some() {
        next["artifacts"] = serde_json::to_value(&memory).unwrap_or_default();
    }
    Ok(next)
}

fn count(report: &mut EvalReport, applied: &instances::Applied) {
    if let Some((from, _)) = applied.moved {
        report.transitions += 1;
        if from.is_none() {
            report.opened += 1;
        }
    }
}

/// The Watchdog: one alert that fires while evaluation runs, for an external dead-man's switch.
async fn watchdog(db: &Db, now: DateTime<Utc>) -> Result<(), StoreError> {
    let rule_id = rules::watchdog(db, now).await?;
    let labels = Labels::new()
        .with("alertname", "Watchdog")
        .expect("a valid label");
    let about = serde_json::json!({"watchdog": true});
    let target = Target {
        rule_id,
        tenant_id: None,
        identity: WATCHDOG_IDENTITY,
        timing: Timing {
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
        },
    };
    let sighting = Sighting {
        labels: &labels,
        severity: Severity::Low,
        summary: "alert evaluation is running",
        value: 1.0,
        about: &about,
        // Not counted per evaluation: one sighting for as long as it fires.
        seen_key: "running",
    };
    instances::apply(db, target, Some(sighting), None, now).await?;
    Ok(())
}

/// Where the hot messages job asks for an evaluation after storing new problem messages.
#[derive(Clone)]
pub struct Trigger {
    pub queue: std::sync::Arc<dyn queue::JobQueue>,
    /// `AMQP_PREFIX`, for the queue name recorded with the run.
    pub prefix: String,
}

/// Queue an evaluation of the tenant unless one is queued or running: true when queued. Like
/// the controller, it records the run first and looks for another one second, so of two
/// requesters at the same moment at least one withdraws.
pub async fn request_evaluation(
    db: &Db,
    trigger: &Trigger,
    tenant_id: i64,
) -> Result<bool, StoreError> {
    use domain::job::{JobEnvelope, JobType, TenantRef};
    use store::repo::job_runs::{self, NewJobRun};
    const KIND: &str = "alerts";
    if job_runs::active_run_exists(db, tenant_id, KIND).await? {
        return Ok(false);
    }
    let now = Utc::now();
    let envelope = JobEnvelope::new(
        JobType::Alerts,
        TenantRef::Id(tenant_id),
        serde_json::json!({}),
        now,
    );
    let run = NewJobRun {
        job_id: envelope.job_id.clone(),
        tenant_id: Some(tenant_id),
        job_type: KIND.into(),
        queue: JobType::Alerts
            .queue_name(&trigger.prefix)
            .unwrap_or_default(),
        attempt: 1,
        params: envelope.params.clone(),
    };
    job_runs::record_queued(db, &run, now).await?;
    let others = job_runs::list_recent(db, Some(tenant_id), Some(KIND), 20).await?;
    if let Some(other) = others
        .iter()
        .find(|r| r.job_id != envelope.job_id && r.state.is_active())
    {
        let why = format!(
            "not published: evaluation {} of this tenant was queued at the same moment",
            other.job_id
        );
        job_runs::mark_failed(db, &envelope.job_id, &why, Utc::now()).await?;
        return Ok(false);
    }
    if let Err(e) = trigger.queue.publish(&envelope).await {
        job_runs::mark_failed(
            db,
            &envelope.job_id,
            &format!("not published: {e}"),
            Utc::now(),
        )
        .await?;
        return Ok(false);
    }
    Ok(true)
}
