//! Grouping quality over the simulator's error corpus: with the default normalisation every
//! problem family lands in exactly one group per iFlow, and no group mixes two families. The
//! texts the API serves are the corpus' texts, and the truth names each message's family.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use cpi_sim::{ErrorFamily, ErrorSample};
use domain::errors::{ErrorContext, fingerprint, group_key, normalise};

/// Groups `samples` like the store does (per iFlow, by fingerprint) and checks the two
/// properties; returns the number of groups.
fn check_grouping(samples: &[ErrorSample]) -> usize {
    // (iFlow, family) → fingerprints; (iFlow, fingerprint) → families.
    let mut by_family: BTreeMap<(&str, ErrorFamily), BTreeSet<String>> = BTreeMap::new();
    let mut by_group: BTreeMap<(&str, String), BTreeSet<ErrorFamily>> = BTreeMap::new();
    let mut example: BTreeMap<(&str, ErrorFamily), Vec<String>> = BTreeMap::new();
    for s in samples {
        let key = group_key(
            &[],
            &ErrorContext {
                iflow: &s.integration_flow,
                package: None,
                status: s.status.as_str(),
                text: &s.text,
            },
        );
        by_family
            .entry((&s.integration_flow, s.family))
            .or_default()
            .insert(key.fingerprint.clone());
        by_group
            .entry((&s.integration_flow, key.fingerprint.clone()))
            .or_default()
            .insert(s.family);
        let ex = example.entry((&s.integration_flow, s.family)).or_default();
        if !ex.contains(&key.template) {
            ex.push(key.template);
        }
    }
    for ((iflow, family), fps) in &by_family {
        assert_eq!(
            fps.len(),
            1,
            "{family:?} of {iflow} split into {} groups; templates:\n{}",
            fps.len(),
            example[&(*iflow, *family)].join("\n---\n")
        );
    }
    for ((iflow, fp), families) in &by_group {
        assert_eq!(
            families.len(),
            1,
            "group {fp} of {iflow} mixes {families:?}"
        );
    }
    by_group.len()
}

#[tokio::test]
async fn every_family_is_one_group_per_iflow_and_no_group_mixes_families() {
    let (cfg, _clock) = manual_config(4.0, Duration::from_secs(6 * 3600));
    let sim = start(cfg.with_iflows(30)).await;
    let samples = sim.error_samples(usize::MAX);
    assert!(samples.len() > 2_000, "{} samples", samples.len());
    // Every family occurs, and several iFlows see more than one family (else the test is weak).
    let families: BTreeSet<ErrorFamily> = samples.iter().map(|s| s.family).collect();
    assert_eq!(families.len(), ErrorFamily::ALL.len(), "{families:?}");
    let groups = check_grouping(&samples);
    let pairs: BTreeSet<(&str, ErrorFamily)> = samples
        .iter()
        .map(|s| (s.integration_flow.as_str(), s.family))
        .collect();
    assert_eq!(groups, pairs.len());
    assert!(groups >= 30 * 3, "{groups} groups");
    sim.stop().await;
}

#[tokio::test]
async fn a_401_and_a_500_from_one_endpoint_are_two_groups() {
    let (cfg, _clock) = manual_config(4.0, Duration::from_secs(3 * 3600));
    let sim = start(cfg).await;
    let samples = sim.error_samples(usize::MAX);
    let flow_with_both = samples
        .iter()
        .filter(|s| s.family == ErrorFamily::Http401)
        .map(|s| &s.integration_flow)
        .find(|f| {
            samples
                .iter()
                .any(|s| &s.integration_flow == *f && s.family == ErrorFamily::Http500)
        })
        .expect("an iFlow with both 401 and 500");
    let normalised = |family| {
        let s = samples
            .iter()
            .find(|s| &s.integration_flow == flow_with_both && s.family == family)
            .unwrap();
        normalise(&s.text)
    };
    let (n401, n500) = (
        normalised(ErrorFamily::Http401),
        normalised(ErrorFamily::Http500),
    );
    // The titles (first lines, the long URL shortened to its host) show the status and differ
    // only by it; the fingerprints differ.
    assert!(n401.title.ends_with("statusCode: 401"), "{}", n401.title);
    assert!(n500.title.ends_with("statusCode: 500"), "{}", n500.title);
    assert!(n401.title.contains("https://erp"), "{}", n401.title);
    assert_eq!(n401.title.replace("401", "500"), n500.title);
    assert_ne!(fingerprint(&n401.template), fingerprint(&n500.template));
    sim.stop().await;
}

#[tokio::test]
async fn served_error_texts_are_the_corpus_and_truth_names_the_family() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let samples = sim.error_samples(40);
    assert_eq!(samples.len(), 40);
    let truth = sim.truth();
    for s in samples.iter().take(10) {
        let r = c
            .get(&format!(
                "MessageProcessingLogs('{}')/ErrorInformation/$value",
                s.message_guid
            ))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), s.text);
        let m = truth
            .messages
            .iter()
            .find(|m| m.message_guid == s.message_guid)
            .unwrap();
        assert_eq!(m.error_family, Some(s.family));
        assert_eq!(m.integration_flow, s.integration_flow);
    }
    // Messages without error information have no family.
    assert!(
        truth
            .messages
            .iter()
            .all(|m| m.has_error_information == m.error_family.is_some())
    );
    sim.stop().await;
}
