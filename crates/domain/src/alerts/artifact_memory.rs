//! What the evaluator remembers about deployed artifacts between evaluations, so undeployments
//! and redeployments (which the stored set, replaced as a whole, cannot show) become events.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::eval::ArtifactFact;

/// What the evaluator remembers about artifacts between evaluations (the evaluation cursor):
/// the deployed set last seen, and undeployments/redeployments seen since, with when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactMemory {
    /// Deployed artifact → (name, deployed_at) as last seen.
    #[serde(default)]
    pub deployed: BTreeMap<String, (Option<String>, Option<DateTime<Utc>>)>,
    #[serde(default)]
    pub undeployed: BTreeMap<String, (Option<String>, DateTime<Utc>)>,
    #[serde(default)]
    pub redeployed: BTreeMap<String, (Option<String>, DateTime<Utc>)>,
    /// Whether `deployed` was ever filled (the first look sees no changes).
    #[serde(default)]
    pub primed: bool,
}

impl ArtifactMemory {
    /// The memory after seeing `current` at `now`; events older than `keep` are forgotten.
    pub fn advance(&self, current: &[ArtifactFact], now: DateTime<Utc>, keep: Duration) -> Self {
        let mut next = self.clone();
        let cutoff = now - chrono::Duration::from_std(keep).unwrap_or_default();
        let now_deployed: BTreeMap<_, _> = current
            .iter()
            .map(|a| (a.id.clone(), (a.name.clone(), a.deployed_at)))
            .collect();
        if self.primed {
            for (id, (name, _)) in &self.deployed {
                if !now_deployed.contains_key(id) {
                    next.undeployed.insert(id.clone(), (name.clone(), now));
                }
            }
            for (id, (name, at)) in &now_deployed {
                match self.deployed.get(id) {
                    Some((_, before)) if before != at => {
                        next.redeployed
                            .insert(id.clone(), (name.clone(), at.unwrap_or(now)));
                    }
                    _ => {}
                }
            }
        }
        next.undeployed
            .retain(|id, (_, at)| !now_deployed.contains_key(id) && *at >= cutoff);
        next.redeployed.retain(|_, (_, at)| *at >= cutoff);
        next.deployed = now_deployed;
        next.primed = true;
        next
    }
}
