//! The SAP Cloud Integration (CPI) OData API client: the one place in IntegraMon that knows
//! the CPI API — its URLs, its JSON quirks, its limits and its roles.
//!
//! * [`config`]: tenant connection settings, service keys, secrets.
//! * [`client::CpiClient`]: the request engine (auth, limits, retries, typed errors).
//! * [`api`]: the calls IntegraMon makes, one method per entity.
//! * [`mpl`]: incremental MPL reading by LogEnd windows, as an async page stream.
//! * [`download`]: `$value` downloads with a size cap.
//! * [`conntest`]: the connection test a user runs when adding a tenant.
//! * [`odata`] and [`model`]: lenient parsing of the OData V2 JSON and the typed entities.
//! * [`outbound`]: which targets any outbound call may reach (redirects, `OUTBOUND_DENY_PRIVATE`).

pub mod api;
mod auth;
pub mod client;
pub mod config;
pub mod conntest;
pub mod download;
pub mod error;
mod http;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod mpl;
pub mod odata;
pub mod outbound;
pub mod retry;

pub use api::ErrorText;
pub use auth::{basic_header, refresh_after};
pub use client::{ClientStats, CpiClient, parse_ca_certs, resolve_next};
pub use config::{
    Auth, Secret, ServiceKey, TenantConfig, Timeouts, TlsConfig, USER_AGENT, normalize_api_url,
};
pub use conntest::{Check, CheckOutcome, CheckResult, ConnectionReport};
pub use download::{Collected, DownloadOutcome};
pub use error::{BadResponseKind, CpiError};
pub use limits::{ApiFamily, LimitsConfig, RateLimits};
pub use model::*;
pub use mpl::{MplPage, MplPager, MplQuery, Window, WindowOptions, next_window};
pub use odata::{Collection, ParseError};
pub use outbound::OutboundPolicy;
pub use retry::RetryPolicy;
