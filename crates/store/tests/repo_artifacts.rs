//! Packages, artifacts, versions and keystore as whole sets, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use domain::artifact::{
    ArtifactVersion, DesignArtifact, DesignArtifactKind, Package, RuntimeArtifact, RuntimeStatus,
};
use domain::keystore::KeystoreEntry;
use store::Db;
use store::repo::artifacts::{self, ArtifactScope, SetOutcome};
use support::{Target, t, tenant};

fn package(id: &str, version: &str) -> Package {
    let mut p = Package::new(id);
    p.name = Some(format!("{id} name"));
    p.description = Some("<p>HTML <b>description</b></p>".into());
    p.version = Some(version.into());
    p.mode = Some("EDIT_ALLOWED".into());
    p.created_at = Some(t(-1000));
    p.modified_at = Some(t(-10));
    p
}

fn iflow(id: &str, package: &str, version: &str) -> DesignArtifact {
    let mut a = DesignArtifact::new(id, DesignArtifactKind::IntegrationFlow);
    a.package_id = Some(package.into());
    a.version = Some(version.into());
    a.name = Some(id.to_uppercase());
    a
}

fn outcome(inserted: u64, updated: u64, removed: u64) -> SetOutcome {
    SetOutcome {
        inserted,
        updated,
        removed,
    }
}

async fn sets_replace_and_versions_accumulate(db: Db, _: Target) {
    let tid = tenant(&db, "a").await;
    let other = tenant(&db, "b").await;

    let out = artifacts::replace_packages(
        &db,
        tid,
        &[package("P1", "1.0"), package("P2", "1.0")],
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(out, outcome(2, 0, 0));
    artifacts::replace_packages(&db, other, &[package("P1", "9.9")], t(0))
        .await
        .unwrap();
    let out = artifacts::replace_design_artifacts(
        &db,
        tid,
        ArtifactScope::Tenant,
        &[
            iflow("F1", "P1", "1.0.0"),
            iflow("F2", "P1", "1.0.0"),
            iflow("F3", "P2", "2.0.0"),
        ],
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(out, outcome(3, 0, 0));

    // Deep sync hashes F1: a new content, then the same again, then an unversioned edit.
    let v = |hash: &str, version: &str| ArtifactVersion {
        artifact_id: "F1".into(),
        kind: DesignArtifactKind::IntegrationFlow,
        version: version.into(),
        content_hash: hash.into(),
        content_size: Some(1234),
    };
    let first = artifacts::record_artifact_version(&db, tid, &v("h1", "1.0.0"), t(1))
        .await
        .unwrap();
    assert!(first.new_content);
    assert_eq!(first.previous_hash, None);
    assert!(!first.changed("h1"));
    let same = artifacts::record_artifact_version(&db, tid, &v("h1", "1.0.0"), t(2))
        .await
        .unwrap();
    assert!(!same.new_content);
    assert!(!same.changed("h1"));
    let edited = artifacts::record_artifact_version(&db, tid, &v("h2", "1.0.0"), t(3))
        .await
        .unwrap();
    assert!(edited.new_content && edited.changed("h2"));
    assert_eq!(edited.previous_hash.as_deref(), Some("h1"));

    // P1's listing alone: F2 is gone from it, F1 keeps its hash, P2's F3 is untouched.
    let out = artifacts::replace_design_artifacts(
        &db,
        tid,
        ArtifactScope::Package("P1"),
        &[iflow("F1", "P1", "1.0.1"), iflow("F1", "P1", "1.0.1")],
        t(10),
    )
    .await
    .unwrap();
    assert_eq!(out, outcome(0, 1, 1));
    let list = artifacts::list_design_artifacts(&db, tid).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|a| a.artifact.artifact_id.as_str())
            .collect::<Vec<_>>(),
        ["F1", "F3"]
    );
    assert_eq!(list[0].artifact, iflow("F1", "P1", "1.0.1"));
    assert_eq!(list[0].content_hash.as_deref(), Some("h2"));
    assert_eq!(list[0].hashed_at, Some(t(3)));

    // P2 disappears: its package row and its artifacts go; the version history stays.
    let out = artifacts::replace_packages(&db, tid, &[package("P1", "1.1")], t(20))
        .await
        .unwrap();
    assert_eq!(out, outcome(0, 1, 1));
    assert_eq!(
        artifacts::list_packages(&db, tid).await.unwrap(),
        [package("P1", "1.1")]
    );
    assert_eq!(
        artifacts::list_design_artifacts(&db, tid)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        artifacts::list_packages(&db, other).await.unwrap(),
        [package("P1", "9.9")],
        "other tenants are untouched"
    );
    let history =
        artifacts::artifact_versions(&db, tid, &DesignArtifactKind::IntegrationFlow, "F1")
            .await
            .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| h.content_hash.as_str())
            .collect::<Vec<_>>(),
        ["h1", "h2"]
    );
    // An empty set empties.
    assert_eq!(
        artifacts::replace_packages(&db, tid, &[], t(30))
            .await
            .unwrap(),
        outcome(0, 0, 1)
    );
    assert!(
        artifacts::list_design_artifacts(&db, tid)
            .await
            .unwrap()
            .is_empty()
    );
}
on_both!(sets_replace_and_versions_accumulate);

async fn runtime_artifacts_and_keystore_replace(db: Db, _: Target) {
    let tid = tenant(&db, "r").await;
    let mut started = RuntimeArtifact::new("flow_a");
    started.version = Some("1.0.0".into());
    started.status = Some(RuntimeStatus::Started);
    started.deployed_by = Some("dev@acme.com".into());
    started.deployed_at = Some(t(-100));
    let mut broken = RuntimeArtifact::new("flow_b");
    broken.status = Some(RuntimeStatus::Error);
    broken.error_text = Some(r#"{"message": "No credentials for 'smtp' found"}"#.into());
    let mut odd = RuntimeArtifact::new("flow_c");
    odd.status = Some(RuntimeStatus::Other("PAUSED".into()));
    let out = artifacts::replace_runtime_artifacts(
        &db,
        tid,
        &[started.clone(), broken.clone(), odd.clone()],
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(out, outcome(3, 0, 0));
    assert_eq!(
        artifacts::list_runtime_artifacts(&db, tid).await.unwrap(),
        [started.clone(), broken.clone(), odd]
    );
    // flow_b fixed, flow_c undeployed.
    broken.status = Some(RuntimeStatus::Started);
    broken.error_text = None;
    let out =
        artifacts::replace_runtime_artifacts(&db, tid, &[started.clone(), broken.clone()], t(1))
            .await
            .unwrap();
    assert_eq!(out, outcome(0, 2, 1));
    assert_eq!(
        artifacts::list_runtime_artifacts(&db, tid).await.unwrap(),
        [started, broken]
    );

    let mut cert = KeystoreEntry::new("sap_cloud_root", "7361705F636C6F75645F726F6F74");
    cert.entry_type = Some("Certificate".into());
    cert.owner = Some("SAP".into());
    cert.key_type = Some("RSA".into());
    cert.key_size = Some(4096);
    cert.valid_not_before = Some(t(-86_400 * 365));
    cert.valid_not_after = Some(t(86_400 * 10));
    cert.subject_dn = Some("CN=Root, O=SAP".into());
    let mut pair = KeystoreEntry::new("my_key", "6D795F6B6579");
    pair.entry_type = Some("Key Pair".into());
    let out = artifacts::replace_keystore(&db, tid, &[cert.clone(), pair], t(0))
        .await
        .unwrap();
    assert_eq!(out, outcome(2, 0, 0));
    let out = artifacts::replace_keystore(&db, tid, &[cert.clone()], t(1))
        .await
        .unwrap();
    assert_eq!(out, outcome(0, 1, 1));
    let stored = artifacts::list_keystore(&db, tid).await.unwrap();
    assert_eq!(stored, [cert]);
    assert!(stored[0].expires_within(30, t(0)));
}
on_both!(runtime_artifacts_and_keystore_replace);
