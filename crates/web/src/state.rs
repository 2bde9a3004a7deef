//! What every handler shares.

use std::sync::Arc;

use domain::secret::SecretKey;
use queue::JobQueue;
use runtime::{Context, Health};
use store::Db;

use crate::config::WebConfig;
use crate::throttle::Throttle;

pub struct AppState {
    pub db: Db,
    pub queue: Arc<dyn JobQueue>,
    pub health: Health,
    pub cfg: WebConfig,
    /// Seals tenant secrets; never leaves the process.
    pub key: SecretKey,
    pub throttle: Throttle,
    /// Queue names are `<prefix>.<family>`.
    pub queue_prefix: String,
}

impl AppState {
    pub fn from_context(ctx: &Context) -> anyhow::Result<Self> {
        let cfg = WebConfig::from_settings(&ctx.settings).map_err(anyhow::Error::msg)?;
        let queue_prefix = runtime::daemon::queue_config(&ctx.settings)
            .map_err(anyhow::Error::msg)?
            .prefix;
        Ok(Self {
            db: ctx.db.clone(),
            queue: ctx.queue.clone(),
            health: ctx.health.clone(),
            throttle: Throttle::new(cfg.login_max_failures, cfg.login_window),
            key: ctx.settings.secret_key()?,
            cfg,
            queue_prefix,
        })
    }
}
