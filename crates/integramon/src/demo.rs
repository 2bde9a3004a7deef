//! The simulated tenant of the all-in-one mode: a `cpi-sim` served in this process, configured as
//! the tenant "demo" so the UI fills with messages, failures, artifacts and certificates at once.
//! Pointing IntegraMon at a real tenant is a settings change (`DEMO=false`, then add the tenant).

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use cpi_sim::{Sim, SimConfig, SimHandle};
use domain::secret::{self, SecretKey};
use domain::tenant::{Auth, TenantSettings};
use store::Db;
use store::repo::tenants;

pub const TENANT: &str = "demo";
const USER: &str = "demo";

/// Start the simulator and make the "demo" tenant point at it (its port changes per start).
/// `listen` is `DEMO_LISTEN` ([`crate::settings::Demo`]).
pub async fn start(listen: &str, db: &Db, key: &SecretKey) -> anyhow::Result<SimHandle> {
    // A password per start: the simulator only lives as long as this process.
    let password = SecretKey::generate()?.to_base64();
    let config = SimConfig::default()
        .with_basic(USER, password.clone())
        .with_rate(0.5)
        .with_history(Duration::from_secs(24 * 3600));
    let sim = Sim::start(config, listen)
        .await
        .with_context(|| format!("starting the simulated tenant on {listen}"))?;
    let sealed = secret::seal(key, &password)?;
    let mut wanted = TenantSettings::new(
        TENANT,
        sim.api_url(),
        Auth::Basic {
            username: USER.into(),
        },
    );
    wanted.collection.collect_from = Some(Utc::now() - chrono::Duration::hours(24));
    wanted.collection.payload_strategy = domain::tenant::PayloadStrategy::All;
    match tenants::get_by_name(db, TENANT).await? {
        Some(existing) => {
            // Keep what the operator changed; only the connection follows the simulator.
            let mut settings = existing.settings.clone();
            settings.connection = wanted.connection;
            tenants::update_settings(db, existing.id, &settings, Some(&sealed)).await?;
        }
        None => {
            tenants::create(db, &wanted, Some(&sealed)).await?;
        }
    }
    tracing::info!(url = %sim.api_url(), "simulated tenant \"demo\" is running");
    Ok(sim)
}
