//! What every handler shares.

use std::sync::Arc;

use domain::secret::SecretKey;
use queue::JobQueue;
use runtime::{Context, Health};
use store::Db;
use store::repo::monitor::ClosedHours;

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
    /// Facet counts of closed hours, shared between requests for `WEB_FACET_CACHE_SECS`.
    pub facet_cache: Arc<ClosedHours>,
    /// `DATA_DIR`: archive files are served and deleted only from inside it.
    pub data_dir: std::path::PathBuf,
}

impl AppState {
    pub fn from_context(ctx: &Context<WebConfig>) -> anyhow::Result<Self> {
        let cfg = ctx.config.clone();
        let queue_prefix = ctx.queue_config.prefix.clone();
        Ok(Self {
            db: ctx.db.clone(),
            queue: ctx.queue.clone(),
            health: ctx.health.clone(),
            throttle: Throttle::new(
                cfg.login_max_failures,
                cfg.login_window,
                cfg.password_hashes,
            ),
            key: ctx.settings.secret_key()?,
            facet_cache: Arc::new(ClosedHours::new(cfg.facet_cache)),
            data_dir: ctx.settings.data_dir.clone(),
            cfg,
            queue_prefix,
        })
    }
}
