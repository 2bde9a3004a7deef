//! Built-in inhibition: alerts that would only repeat a known cause are muted and shown as
//! "inhibited by …". A tenant that is unreachable or whose collection is stale mutes that
//! tenant's `no_messages` and `error_rate` alerts (there is no data to judge them by); an
//! undeployed iFlow mutes its `no_messages` alert (no messages is what undeploying means).

use std::collections::HashSet;

use super::Labels;

/// What inhibits, per tenant, at one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inhibitors {
    pub tenant_unreachable: bool,
    /// Why collection is stale (stuck, or lagging beyond the limit), if it is.
    pub collection_stale: Option<String>,
    /// iFlows known to be undeployed lately.
    pub undeployed_iflows: HashSet<String>,
}

/// Why an alert of rule kind `kind` with `labels` is inhibited, if it is.
pub fn inhibited_by(kind: &str, labels: &Labels, inh: &Inhibitors) -> Option<String> {
    if matches!(kind, "no_messages" | "error_rate") {
        if inh.tenant_unreachable {
            return Some(format!(
                "inhibited by tenant {} unreachable",
                labels.value_of("tenant")
            ));
        }
        if let Some(why) = &inh.collection_stale {
            return Some(format!("inhibited by stale collection: {why}"));
        }
    }
    if kind == "no_messages"
        && let Some(iflow) = labels.get("iflow")
        && inh.undeployed_iflows.contains(iflow)
    {
        return Some(format!("inhibited by iFlow {iflow} undeployed"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::new()
            .with("tenant", "demo")
            .unwrap()
            .with("iflow", "A")
            .unwrap()
    }

    #[test]
    fn unreachable_mutes_rate_and_no_messages_only() {
        let inh = Inhibitors {
            tenant_unreachable: true,
            ..Default::default()
        };
        assert_eq!(
            inhibited_by("error_rate", &labels(), &inh).as_deref(),
            Some("inhibited by tenant demo unreachable")
        );
        assert!(inhibited_by("no_messages", &labels(), &inh).is_some());
        assert_eq!(inhibited_by("message_failures", &labels(), &inh), None);
    }

    #[test]
    fn stale_collection_mutes_too() {
        let inh = Inhibitors {
            collection_stale: Some("30m behind".into()),
            ..Default::default()
        };
        assert_eq!(
            inhibited_by("error_rate", &labels(), &inh).as_deref(),
            Some("inhibited by stale collection: 30m behind")
        );
    }

    #[test]
    fn undeployed_iflow_mutes_its_no_messages_alert() {
        let inh = Inhibitors {
            undeployed_iflows: ["A".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(
            inhibited_by("no_messages", &labels(), &inh).as_deref(),
            Some("inhibited by iFlow A undeployed")
        );
        assert_eq!(inhibited_by("error_rate", &labels(), &inh), None);
        let other = labels().with("iflow", "B").unwrap();
        assert_eq!(inhibited_by("no_messages", &other, &inh), None);
    }
}
