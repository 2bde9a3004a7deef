//! HTTP Basic, the OAuth2 client-credentials token endpoint, token expiry and revocation, and 403
//! for a user without the payload role.

mod common;

use std::time::Duration;

use common::*;
use cpi_sim::{Fault, SimUser};

async fn token(sim: &cpi_sim::SimHandle, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    request(
        sim.local_addr(),
        "POST",
        "/oauth/token",
        &h,
        body.as_bytes(),
    )
    .await
    .resp()
}

#[tokio::test]
async fn basic_auth_accepts_only_the_configured_user() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(600));
    let sim = start(cfg.with_basic("alice", "s3cret")).await;
    let ok = Client::basic(&sim, "alice", "s3cret")
        .get("MessageProcessingLogs?$top=1")
        .await;
    assert_eq!(ok.status, 200);
    for auth in [
        basic("alice", "wrong"),
        basic("bob", "s3cret"),
        "Bearer nonsense".to_string(),
    ] {
        let r = request(
            sim.local_addr(),
            "GET",
            "/api/v1/MessageProcessingLogs",
            &[("Authorization", &auth)],
            b"",
        )
        .await
        .resp();
        assert_eq!(r.status, 401, "{auth}");
        assert!(r.body.is_empty(), "401 carries no OData body");
        assert!(r.header("www-authenticate").is_some());
    }
    let r = request(
        sim.local_addr(),
        "GET",
        "/api/v1/MessageProcessingLogs",
        &[],
        b"",
    )
    .await
    .resp();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let stats = sim.stats();
    assert_eq!(stats.unauthorized, 4);
    sim.stop().await;
}

#[tokio::test]
async fn oauth_tokens_work_until_they_expire_or_are_revoked() {
    let (cfg, clock) = manual_config(1.0, Duration::from_secs(600));
    let sim = start(cfg.with_oauth("cid", "csecret", Duration::from_secs(60))).await;

    // Client credentials via HTTP Basic, grant type in the form.
    let r = token(
        &sim,
        &[("Authorization", &basic("cid", "csecret"))],
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 60);
    let tok = v["access_token"].as_str().unwrap().to_string();
    let bearer = Client {
        addr: sim.local_addr(),
        auth: format!("Bearer {tok}"),
    };
    assert_eq!(bearer.get("MessageProcessingLogs?$top=1").await.status, 200);

    // Expired after the TTL (manual clock).
    clock.advance(Duration::from_secs(59));
    assert_eq!(bearer.get("MessageProcessingLogs?$top=1").await.status, 200);
    clock.advance(Duration::from_secs(2));
    let r = bearer.get("MessageProcessingLogs?$top=1").await;
    assert_eq!(r.status, 401);
    assert!(r.body.is_empty());
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));

    // Client credentials in the form; grant type in the query string (Piper's style).
    let r = request(
        sim.local_addr(),
        "POST",
        "/oauth/token?grant_type=client_credentials",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"client_id=cid&client_secret=csecret",
    )
    .await
    .resp();
    assert_eq!(r.status, 200);
    let fresh = Client {
        addr: sim.local_addr(),
        auth: format!("Bearer {}", r.json()["access_token"].as_str().unwrap()),
    };
    assert_eq!(fresh.get("MessageProcessingLogs?$top=1").await.status, 200);

    // Revoking every token.
    sim.inject(Fault::ExpireTokens);
    assert_eq!(fresh.get("MessageProcessingLogs?$top=1").await.status, 401);

    // Wrong secret, wrong grant type.
    let r = token(
        &sim,
        &[("Authorization", &basic("cid", "nope"))],
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    let r = token(
        &sim,
        &[("Authorization", &basic("cid", "csecret"))],
        "grant_type=password",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(sim.stats().tokens_issued, 2);
    sim.stop().await;
}

#[tokio::test]
async fn a_user_without_the_payload_role_gets_403_on_payloads_only() {
    let (mut cfg, _clock) = manual_config(2.0, Duration::from_secs(3600));
    cfg.traffic.iflows = 8;
    let sim = start(cfg.with_user(SimUser::without_payload_role("viewer", "v"))).await;
    let admin = Client::default_for(&sim);
    let viewer = Client::basic(&sim, "viewer", "v");
    let with_store = sim
        .truth()
        .messages
        .into_iter()
        .find(|m| m.store_entries > 0)
        .unwrap();
    let entries = admin
        .json(&format!(
            "MessageProcessingLogs('{}')/MessageStoreEntries",
            with_store.message_guid
        ))
        .await;
    let id = entries["d"]["results"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let value_path = format!("MessageStoreEntries('{}')/$value", enc(&id));
    assert_eq!(admin.get(&value_path).await.status, 200);
    let r = viewer.get(&value_path).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "Forbidden");
    assert_eq!(viewer.get("MessageProcessingLogs?$top=1").await.status, 200);
    assert_eq!(viewer.get("IntegrationPackages").await.status, 200);
    assert_eq!(sim.stats().forbidden, 1);
    sim.stop().await;
}
