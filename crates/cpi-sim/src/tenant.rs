//! The simulated tenant without HTTP: generated traffic, static content and the query engine.
//! `Tenant::get` answers a GET on a resource path exactly as the server does (minus auth and
//! faults), so benchmarks and tests can call it in-process.

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::config::{NextLinkStyle, SimConfig};
use crate::generate::Generator;
use crate::query;
use crate::reply::{ApiError, Reply};
use crate::resources::Resources;
use crate::results::Engine;
use crate::routes::{self, Route};
use crate::truth::{self, ErrorSample};

/// Per-request facts the answer depends on.
pub struct RequestCtx<'a> {
    /// The absolute service root, e.g. `http://127.0.0.1:8080/api/v1`.
    pub root: &'a str,
    /// The instant the request is answered at (epoch ms).
    pub now_ms: i64,
    pub next_link: NextLinkStyle,
}

impl RequestCtx<'_> {
    /// The prefix of `__next` links: the root for absolute links, nothing for relative ones.
    pub(crate) fn next_root(&self) -> Option<&str> {
        match self.next_link {
            NextLinkStyle::Absolute => Some(self.root),
            NextLinkStyle::Relative => None,
        }
    }
}

pub struct Tenant {
    pub(crate) traffic: Generator,
    pub(crate) catalog: Catalog,
    /// JMS broker and data stores; their mode changes at run time (admin switch).
    pub(crate) resources: Resources,
    pub(crate) engine: Engine,
    pub(crate) page_size: usize,
    pub(crate) run_steps_page_size: usize,
    /// `CPI_<tenant>`, the component names in every MPL.
    pub(crate) component: String,
    /// The UI deep link up to the message guid.
    pub(crate) weblink_prefix: String,
}

impl Tenant {
    /// Builds the tenant as it is at `start_ms` (the start of the simulator).
    pub fn new(cfg: &SimConfig, start_ms: i64) -> Result<Tenant, String> {
        cfg.validate()?;
        let traffic = Generator::new(cfg, start_ms);
        let history_ms = traffic.start_ms(traffic.visible_from);
        let catalog = Catalog::new(cfg.seed, cfg.traffic.iflows, start_ms, history_ms);
        Ok(Tenant {
            traffic,
            catalog,
            resources: Resources::new(),
            engine: Engine::new(),
            page_size: cfg.page_size,
            run_steps_page_size: cfg.run_steps_page_size,
            component: format!("CPI_{}", cfg.tenant),
            weblink_prefix: format!(
                "https://{}.integrationsuite.cfapps.sim.hana.ondemand.com/shell/monitoring/Messages/%7B%22identifier%22%3A%22",
                cfg.tenant
            ),
        })
    }

    /// Answers `GET <root>/<path_and_query>`; `path_and_query` is relative to the service root,
    /// e.g. `MessageProcessingLogs?$top=10`.
    pub fn get(&self, path_and_query: &str, ctx: &RequestCtx<'_>) -> Reply {
        let (path, raw_query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        match parse_route(path).and_then(|r| self.serve(&r, raw_query, ctx)) {
            Ok(reply) => reply,
            Err(e) => e.into_reply(),
        }
    }

    /// The error texts of the newest `limit` messages with error information at `now`, with
    /// their problem family (ground truth).
    pub fn error_samples(&self, now: DateTime<Utc>, limit: usize) -> Vec<ErrorSample> {
        truth::error_samples(self, now.timestamp_millis(), limit)
    }

    pub(crate) fn serve(
        &self,
        route: &Route,
        raw_query: &str,
        ctx: &RequestCtx<'_>,
    ) -> Result<Reply, ApiError> {
        let q = query::parse(raw_query)?;
        routes::dispatch(self, route, &q, ctx)
    }
}

pub(crate) fn parse_route(path: &str) -> Result<Route, ApiError> {
    routes::parse_route(path)
}
