//! A simulated SAP Cloud Integration tenant: the public OData API under `/api/v1` with the
//! tenant's JSON shapes and quirks, HTTP Basic and OAuth2 client-credentials auth, generated
//! message traffic (deterministic from a seed), injectable faults, and ground truth for tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cpi_sim::SimError> {
//! let sim = cpi_sim::Sim::start(cpi_sim::SimConfig::default(), "127.0.0.1:0").await?;
//! println!("tenant at {}", sim.api_url());
//! sim.inject(cpi_sim::Fault::Throttle { count: 2, retry_after_secs: 1 });
//! sim.stop().await;
//! # Ok(()) }
//! ```

mod auth;
mod catalog;
pub mod cli;
mod clock;
mod config;
mod details;
mod faults;
pub mod filter;
mod generate;
mod odata;
mod plan;
pub mod problems;
mod query;
mod reply;
mod resources;
mod results;
mod routes;
mod server;
mod stats;
mod tenant;
mod truth;

pub use clock::{Clock, ManualClock};
pub use config::{NextLinkStyle, Role, SimConfig, SimUser, StatusMix, TrafficConfig};
pub use faults::{Fault, FaultSpec};
pub use problems::ErrorFamily;
pub use reply::{ApiError, Reply};
pub use resources::ResourceMode;
pub use server::{Sim, SimError, SimHandle};
pub use stats::SimStats;
pub use tenant::{RequestCtx, Tenant};
pub use truth::{ErrorSample, TimeField, Truth, TruthMessage};
