//! Shared by the worker's integration tests (per-test databases come from `store::testing`).

use std::time::Duration;

use cpi::{Auth, CpiClient, RateLimits, RetryPolicy, Secret, TenantConfig};

/// A client of the tenant at `api_url` (user and password `sim`) that retries a failed call
/// quickly: the tests wait for no backoff.
pub fn client(api_url: &str) -> CpiClient {
    let mut config = TenantConfig::new(
        api_url,
        Auth::Basic {
            username: "sim".into(),
            password: Secret::new("sim"),
        },
    )
    .expect("config");
    config.limits.rate = RateLimits::unlimited();
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    CpiClient::new(config).expect("client")
}
