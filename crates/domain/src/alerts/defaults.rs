//! The default rules every new tenant gets (the original product applied default alerts in
//! its wizard): failures per iFlow, certificates within 30 days, artifacts in error, tenant
//! unreachable.

use super::rule::RuleSpec;

/// The rules every new tenant gets, scoped to it by name. Their names start with `default-`.
pub fn default_rules(tenant: &str) -> Vec<RuleSpec> {
    let base = |name: &str, kind: &str| RuleSpec {
        name: format!("default-{name}-{tenant}"),
        kind: kind.to_string(),
        tenant: Some(tenant.to_string()),
        ..Default::default()
    };
    vec![
        RuleSpec {
            description: Some("Failed messages, one alert per iFlow".into()),
            severity: Some("high".into()),
            ..base("failures", "message_failures")
        },
        RuleSpec {
            description: Some("Certificates expiring within 30 days".into()),
            days: Some(30),
            ..base("certificates", "certificate_expiry")
        },
        RuleSpec {
            description: Some("Runtime artifacts in error".into()),
            on: vec!["error".into()],
            ..base("artifacts", "artifact_status")
        },
        RuleSpec {
            description: Some("The tenant cannot be reached".into()),
            on: vec!["unreachable".into()],
            severity: Some("high".into()),
            ..base("unreachable", "collection_health")
        },
    ]
}
