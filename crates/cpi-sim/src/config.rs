//! Everything a simulated tenant can be told at start. `SimConfig::default()` is a small, quiet
//! tenant; the `with_*` helpers exist so tests read as one expression.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;

/// How `__next` links are written. Real tenants send absolute URLs; one client report mentions
/// bare relative ones, so clients must cope with both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NextLinkStyle {
    #[default]
    Absolute,
    /// `MessageProcessingLogs?...&$skiptoken=1000`, relative to the service root.
    Relative,
}

/// A role template a Basic user can lack, so connection tests can show missing roles (403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// MPLs, runtime artifacts, keystore.
    MonitoringDataRead,
    /// Payload downloads: message store entries, MPL attachments.
    MessagePayloadsRead,
    /// Packages and design-time artifacts.
    WorkspacePackagesRead,
}

impl Role {
    pub const ALL: [Role; 3] = [
        Role::MonitoringDataRead,
        Role::MessagePayloadsRead,
        Role::WorkspacePackagesRead,
    ];
}

/// An extra Basic-auth user with its own roles.
#[derive(Clone, Debug)]
pub struct SimUser {
    pub name: String,
    pub password: String,
    pub roles: Vec<Role>,
}

impl SimUser {
    pub fn new(name: impl Into<String>, password: impl Into<String>, roles: &[Role]) -> Self {
        SimUser {
            name: name.into(),
            password: password.into(),
            roles: roles.to_vec(),
        }
    }

    /// A user that may read monitoring data and content but not payloads.
    pub fn without_payload_role(name: impl Into<String>, password: impl Into<String>) -> Self {
        SimUser::new(
            name,
            password,
            &[Role::MonitoringDataRead, Role::WorkspacePackagesRead],
        )
    }
}

/// Relative weights of each message fate. Only the ratios matter.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusMix {
    /// Quick and successful.
    pub completed: u32,
    /// Quick failure, no retry.
    pub failed: u32,
    /// Errors, retried a few times; ends COMPLETED, FAILED or stays RETRY.
    pub retry: u32,
    /// Long-running: PROCESSING for a while, then COMPLETED (mostly) or FAILED.
    pub processing: u32,
    pub escalated: u32,
    pub discarded: u32,
    pub cancelled: u32,
    /// PROCESSING for a while, then ABANDONED.
    pub abandoned: u32,
}

impl Default for StatusMix {
    fn default() -> Self {
        StatusMix {
            completed: 860,
            failed: 50,
            retry: 25,
            processing: 40,
            escalated: 10,
            discarded: 5,
            cancelled: 5,
            abandoned: 5,
        }
    }
}

impl StatusMix {
    pub(crate) fn weights(&self) -> [u32; 8] {
        [
            self.completed,
            self.failed,
            self.retry,
            self.processing,
            self.escalated,
            self.discarded,
            self.cancelled,
            self.abandoned,
        ]
    }
}

/// The generated message traffic.
#[derive(Clone, Debug)]
pub struct TrafficConfig {
    /// Messages started per second (may be fractional, e.g. 0.2).
    pub rate_per_sec: f64,
    /// Number of integration flows (packages hold five each).
    pub iflows: usize,
    /// How far back history reaches from the start of the simulator.
    pub history: Duration,
    /// A fixed start of history instead of `start - history` (for runs that must agree exactly).
    pub history_start: Option<DateTime<Utc>>,
    pub status_mix: StatusMix,
    /// Custom header properties per message, inclusive range.
    pub headers_per_message: (u8, u8),
    /// Size in bytes of a message-store payload (each entry varies by up to +50 %).
    pub payload_size: usize,
    /// Size in bytes of an MPL attachment (varies by up to +50 %).
    pub attachment_size: usize,
    /// Share of messages, in per mille, that belong to a correlated group of four.
    pub correlated_permille: u32,
    /// Share of messages, in per mille, whose run has more than 500 steps (splitters).
    pub large_run_permille: u32,
    /// The longest a message stays non-final (PROCESSING or RETRY). Every status change of a
    /// message happens within this time after its LogStart.
    pub max_pending: Duration,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            rate_per_sec: 1.0,
            iflows: 20,
            history: Duration::from_secs(7 * 24 * 3600),
            history_start: None,
            status_mix: StatusMix::default(),
            headers_per_message: (0, 4),
            payload_size: 2048,
            attachment_size: 512,
            correlated_permille: 100,
            large_run_permille: 2,
            max_pending: Duration::from_secs(600),
        }
    }
}

/// The whole configuration of a simulated tenant.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Every generated value is a pure function of this seed (and the message's index).
    pub seed: u64,
    /// Basic-auth user with every role.
    pub user: String,
    pub password: String,
    /// Further Basic-auth users, e.g. one without the payload role.
    pub extra_users: Vec<SimUser>,
    /// OAuth client-credentials client (token endpoint `POST /oauth/token`).
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    pub traffic: TrafficConfig,
    /// Largest server page of a collection (CPI: 1000).
    pub page_size: usize,
    /// Largest server page of run steps (clients page these at 500).
    pub run_steps_page_size: usize,
    pub next_link: NextLinkStyle,
    /// Added to every API request before it is answered.
    pub latency: Duration,
    pub clock: Clock,
    /// HTTP worker threads.
    pub workers: usize,
    /// Base URL written into links instead of the request's Host (e.g. behind a proxy).
    pub public_url: Option<String>,
    /// Serve `/_sim/...` (faults, truth, stats). Never behind auth.
    pub admin: bool,
    /// Tenant name used in component names and UI links.
    pub tenant: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            user: "sim".into(),
            password: "sim".into(),
            extra_users: Vec::new(),
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            token_ttl: Duration::from_secs(3600),
            traffic: TrafficConfig::default(),
            page_size: 1000,
            run_steps_page_size: 500,
            next_link: NextLinkStyle::Absolute,
            latency: Duration::ZERO,
            clock: Clock::System,
            workers: 1,
            public_url: None,
            admin: true,
            tenant: "simtenant".into(),
        }
    }
}

impl SimConfig {
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_basic(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = user.into();
        self.password = password.into();
        self
    }

    pub fn with_user(mut self, user: SimUser) -> Self {
        self.extra_users.push(user);
        self
    }

    pub fn with_oauth(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        token_ttl: Duration,
    ) -> Self {
        self.client_id = client_id.into();
        self.client_secret = client_secret.into();
        self.token_ttl = token_ttl;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_rate(mut self, per_sec: f64) -> Self {
        self.traffic.rate_per_sec = per_sec;
        self
    }

    pub fn with_history(mut self, history: Duration) -> Self {
        self.traffic.history = history;
        self
    }

    pub fn with_iflows(mut self, iflows: usize) -> Self {
        self.traffic.iflows = iflows;
        self
    }

    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    pub fn with_next_link(mut self, style: NextLinkStyle) -> Self {
        self.next_link = style;
        self
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Checks values that would make the simulator meaningless; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.traffic;
        if !(t.rate_per_sec.is_finite() && t.rate_per_sec > 0.0 && t.rate_per_sec <= 1_000_000.0) {
            return Err(format!(
                "traffic rate must be > 0 and <= 1000000 messages per second, got {}",
                t.rate_per_sec
            ));
        }
        if t.iflows == 0 || t.iflows > 10_000 {
            return Err(format!("iflows must be 1..=10000, got {}", t.iflows));
        }
        if t.status_mix.weights().iter().all(|w| *w == 0) {
            return Err("status mix has no positive weight".into());
        }
        if t.headers_per_message.0 > t.headers_per_message.1 || t.headers_per_message.1 > 32 {
            return Err("headers per message must be a range within 0..=32".into());
        }
        if t.max_pending < Duration::from_secs(10) {
            return Err("max_pending must be at least 10 s".into());
        }
        if t.payload_size > 64 * 1024 * 1024 || t.attachment_size > 64 * 1024 * 1024 {
            return Err("payload and attachment sizes must be at most 64 MiB".into());
        }
        if t.correlated_permille > 1000 || t.large_run_permille > 1000 {
            return Err("per-mille shares must be within 0..=1000".into());
        }
        if self.page_size == 0 || self.run_steps_page_size == 0 {
            return Err("page sizes must be positive".into());
        }
        if self.workers == 0 {
            return Err("workers must be at least 1".into());
        }
        if self.user.is_empty() && self.client_id.is_empty() {
            return Err("configure a Basic user or an OAuth client".into());
        }
        if self.token_ttl.is_zero() {
            return Err("token TTL must be positive".into());
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "public URL must start with http:// or https://: {url}"
            ));
        }
        Ok(())
    }
}
