//! Politeness towards the tenant: a per-tenant cap on requests in flight (semaphore) and a
//! request-rate limit per API family (token bucket), using SAP's published per-user limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The API families IntegraMon calls. They differ in rate limit and in the role they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// MessageProcessingLogs and their metadata children (headers, runs, error info, …).
    MessageProcessingLogs,
    /// Payload bytes and their listings: message store, MPL attachments, traces.
    Payloads,
    /// IntegrationRuntimeArtifacts.
    RuntimeArtifacts,
    /// IntegrationPackages and design-time artifacts.
    DesigntimeArtifacts,
    /// KeystoreEntries and other security content.
    SecurityContent,
}

impl ApiFamily {
    pub const ALL: [ApiFamily; 5] = [
        Self::MessageProcessingLogs,
        Self::Payloads,
        Self::RuntimeArtifacts,
        Self::DesigntimeArtifacts,
        Self::SecurityContent,
    ];

    /// The SAP role template (Cloud Foundry) a 403 most likely means is missing.
    pub fn required_role(self) -> &'static str {
        match self {
            Self::MessageProcessingLogs | Self::RuntimeArtifacts | Self::SecurityContent => {
                "MonitoringDataRead"
            }
            Self::Payloads => "MessagePayloadsRead",
            Self::DesigntimeArtifacts => "WorkspacePackagesRead",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::MessageProcessingLogs => "message processing log",
            Self::Payloads => "message payload",
            Self::RuntimeArtifacts => "runtime artifact",
            Self::DesigntimeArtifacts => "design-time content",
            Self::SecurityContent => "security content",
        }
    }

    /// Index of the rate bucket. Payload calls belong to the MPL group of SAP's limits.
    fn bucket(self) -> usize {
        match self {
            Self::MessageProcessingLogs | Self::Payloads => 0,
            Self::RuntimeArtifacts => 1,
            Self::DesigntimeArtifacts => 2,
            Self::SecurityContent => 3,
        }
    }
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Requests per second per API group. SAP's per-user limits are the defaults; zero or a
/// non-finite value means "no limit" (tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// MPL APIs, including message store and attachments: SAP allows 100/s per user.
    pub message_processing_logs: f64,
    /// Runtime artifacts: 50/s per user.
    pub runtime_artifacts: f64,
    /// Design-time artifacts: 10/s per user.
    pub designtime_artifacts: f64,
    /// Security content: 10/s per user.
    pub security_content: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            message_processing_logs: 100.0,
            runtime_artifacts: 50.0,
            designtime_artifacts: 10.0,
            security_content: 10.0,
        }
    }
}

impl RateLimits {
    pub fn unlimited() -> Self {
        Self {
            message_processing_logs: 0.0,
            runtime_artifacts: 0.0,
            designtime_artifacts: 0.0,
            security_content: 0.0,
        }
    }
}

/// Limits for one tenant connection.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// Requests in flight at once (including reading their bodies). SAP's limits are per
    /// second (the token buckets below); at 150–200 ms a request it takes 20 in flight to use them.
    pub max_concurrent_requests: usize,
    pub rate: RateLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_requests: 20,
            rate: RateLimits::default(),
        }
    }
}

/// A token bucket that hands out send times instead of polling: each caller reserves the next
/// slot under the lock and sleeps outside it, so waiters are served in order.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second, bucket size `burst` (at least 1). A rate of zero or a
    /// non-finite rate never waits.
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    fn unlimited(&self) -> bool {
        !(self.rate.is_finite() && self.rate > 0.0)
    }

    /// How long the caller must wait before sending; the token is taken at once.
    pub async fn reserve(&self) -> Duration {
        if self.unlimited() {
            return Duration::ZERO;
        }
        let mut s = self.state.lock().await;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
        s.tokens -= 1.0;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate)
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve().await;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The limits of one tenant: a semaphore for requests in flight and a bucket per API group.
#[derive(Debug)]
pub struct Limiter {
    semaphore: Arc<Semaphore>,
    buckets: [TokenBucket; 4],
}

impl Limiter {
    pub fn new(config: &LimitsConfig) -> Self {
        let r = &config.rate;
        // Burst of one second's worth keeps short spikes smooth without exceeding the rate
        // over any one-second window by more than that.
        let bucket = |rate: f64| TokenBucket::new(rate, rate.max(1.0));
        Self {
            semaphore: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
            buckets: [
                bucket(r.message_processing_logs),
                bucket(r.runtime_artifacts),
                bucket(r.designtime_artifacts),
                bucket(r.security_content),
            ],
        }
    }

    /// Waits for the family's rate and for a free slot. Hold the permit until the response
    /// body has been read.
    pub async fn acquire(&self, family: ApiFamily) -> OwnedSemaphorePermit {
        self.buckets[family.bucket()].acquire().await;
        // Only a closed semaphore refuses, and this one is never closed.
        Arc::clone(&self.semaphore)
            .acquire_owned()
            .await
            .expect("the limiter never closes its semaphore")
    }

    /// Requests that could start right now.
    pub fn available_slots(&self) -> usize {
        self.semaphore.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_spaces_requests_at_the_configured_rate() {
        let b = TokenBucket::new(10.0, 1.0);
        let start = Instant::now();
        for _ in 0..21 {
            b.acquire().await;
        }
        // One token at once, then 20 more at 10/s.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_throttles() {
        let b = TokenBucket::new(100.0, 100.0);
        let start = Instant::now();
        for _ in 0..100 {
            b.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(5));
        for _ in 0..50 {
            b.acquire().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(495),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_means_unlimited() {
        let b = TokenBucket::new(0.0, 1.0);
        let start = Instant::now();
        for _ in 0..10_000 {
            b.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn semaphore_caps_requests_in_flight() {
        let l = Limiter::new(&LimitsConfig {
            max_concurrent_requests: 2,
            rate: RateLimits::unlimited(),
        });
        let a = l.acquire(ApiFamily::MessageProcessingLogs).await;
        let _b = l.acquire(ApiFamily::Payloads).await;
        assert_eq!(l.available_slots(), 0);
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            l.acquire(ApiFamily::RuntimeArtifacts),
        )
        .await;
        assert!(third.is_err(), "a third request must wait");
        drop(a);
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            l.acquire(ApiFamily::RuntimeArtifacts),
        )
        .await;
        assert!(third.is_ok());
    }

    #[test]
    fn roles_per_family() {
        assert_eq!(
            ApiFamily::MessageProcessingLogs.required_role(),
            "MonitoringDataRead"
        );
        assert_eq!(ApiFamily::Payloads.required_role(), "MessagePayloadsRead");
        assert_eq!(
            ApiFamily::DesigntimeArtifacts.required_role(),
            "WorkspacePackagesRead"
        );
        assert_eq!(
            ApiFamily::SecurityContent.required_role(),
            "MonitoringDataRead"
        );
    }
}
