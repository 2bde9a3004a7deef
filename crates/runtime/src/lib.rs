//! What every IntegraMon daemon shares: settings, logging, shutdown, the migration gate, and the
//! health/readiness endpoint. No business logic lives here.

pub mod bootstrap;
pub mod daemon;
pub mod gate;
pub mod health;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod report;
pub mod runs;
pub mod settings;
pub mod shutdown;

pub use daemon::{Context, HttpApp, Routes, Shell, Spec};
pub use health::Health;
pub use settings::Settings;
pub use shutdown::Shutdown;
