//! The `cpi-sim` command line: `cpi-sim --listen ADDR [--user U --password P] [...]`. Parses
//! arguments into a `SimConfig`, starts the simulator and serves until SIGINT/SIGTERM. Bad
//! arguments end the process with a one-line reason and a non-zero exit code.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::config::{NextLinkStyle, SimConfig, SimUser};
use crate::server::Sim;

/// A simulated SAP Cloud Integration tenant (OData API under /api/v1).
#[derive(Debug, Parser)]
#[command(name = "cpi-sim", version, about, long_about = None)]
pub struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8090 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,

    // ---- Basic auth ----
    /// Basic-auth user (all roles).
    #[arg(
        long,
        value_name = "U",
        default_value = "sim",
        env = "CPI_SIM_USER",
        help_heading = "Basic auth"
    )]
    pub user: String,
    /// Basic-auth password.
    #[arg(
        long,
        value_name = "P",
        default_value = "sim",
        env = "CPI_SIM_PASSWORD",
        hide_env_values = true,
        help_heading = "Basic auth"
    )]
    pub password: String,
    /// An extra user without the payload role (403 on payload downloads), as NAME:PASSWORD.
    #[arg(long, value_name = "NAME:PASSWORD", help_heading = "Basic auth")]
    pub no_payload_user: Option<String>,

    // ---- OAuth ----
    /// OAuth2 client id for POST /oauth/token (grant_type=client_credentials).
    #[arg(
        long,
        value_name = "ID",
        default_value = "sim-client",
        help_heading = "OAuth"
    )]
    pub client_id: String,
    /// OAuth2 client secret.
    #[arg(
        long,
        value_name = "SECRET",
        default_value = "sim-secret",
        env = "CPI_SIM_CLIENT_SECRET",
        hide_env_values = true,
        help_heading = "OAuth"
    )]
    pub client_secret: String,
    /// Lifetime of issued tokens (e.g. 3600, 90s, 15m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "OAuth")]
    pub token_ttl: Duration,

    // ---- Traffic ----
    /// Seed of all generated data: the same seed gives the same messages.
    #[arg(long, default_value_t = 1, help_heading = "Traffic")]
    pub seed: u64,
    /// Messages started per second (fractions allowed).
    #[arg(
        long,
        value_name = "MSG_PER_SEC",
        default_value_t = 1.0,
        help_heading = "Traffic"
    )]
    pub rate: f64,
    /// Number of integration flows (five per package).
    #[arg(long, default_value_t = 20, help_heading = "Traffic")]
    pub iflows: usize,
    /// History present at start (e.g. 7d, 12h, 30m).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration, help_heading = "Traffic")]
    pub history: Duration,
    /// Message-store payload size in bytes (each varies up to +50 %).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 2048,
        help_heading = "Traffic"
    )]
    pub payload_size: usize,
    /// MPL attachment size in bytes (each varies up to +50 %).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 512,
        help_heading = "Traffic"
    )]
    pub attachment_size: usize,
    /// Longest time a message stays PROCESSING or RETRY before its final status.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration, help_heading = "Traffic")]
    pub max_pending: Duration,

    // ---- Paging ----
    /// Largest server page of a collection.
    #[arg(long, default_value_t = 1000, help_heading = "Paging")]
    pub page_size: usize,
    /// Write __next links relative to the service root instead of absolute.
    #[arg(long, help_heading = "Paging")]
    pub relative_next: bool,

    // ---- Faults and admin ----
    /// Latency added to every API request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, help_heading = "Faults")]
    pub latency_ms: u64,
    /// Do not serve the admin endpoints (/_sim/faults, /_sim/latency, /_sim/truth, /_sim/stats).
    /// Faults are injected at run time with POST /_sim/faults, e.g.
    /// {"kind":"throttle","count":3,"retry_after_secs":2}.
    #[arg(long, help_heading = "Faults")]
    pub no_admin: bool,

    // ---- Server ----
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2, help_heading = "Server")]
    pub workers: usize,
    /// Base URL written into links instead of the request's Host (e.g. behind a proxy).
    #[arg(long, value_name = "URL", help_heading = "Server")]
    pub public_url: Option<String>,
    /// Tenant name used in component names and UI links.
    #[arg(long, default_value = "simtenant", help_heading = "Server")]
    pub tenant: String,
}

/// `90`, `90s`, `500ms`, `15m`, `2h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (use e.g. 90s, 15m, 2h, 7d)"))?;
    let ms = match unit {
        "" | "s" => n.checked_mul(1000),
        "ms" => Some(n),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
    .ok_or_else(|| format!("invalid duration '{s}' (use e.g. 90s, 15m, 2h, 7d)"))?;
    Ok(Duration::from_millis(ms))
}

impl Args {
    pub fn into_config(self) -> Result<SimConfig, String> {
        let mut cfg = SimConfig::default()
            .with_seed(self.seed)
            .with_basic(self.user, self.password)
            .with_oauth(self.client_id, self.client_secret, self.token_ttl)
            .with_rate(self.rate)
            .with_iflows(self.iflows)
            .with_history(self.history)
            .with_page_size(self.page_size)
            .with_latency(Duration::from_millis(self.latency_ms))
            .with_workers(self.workers);
        if let Some(extra) = self.no_payload_user {
            let (name, pass) = extra
                .split_once(':')
                .ok_or("--no-payload-user must be NAME:PASSWORD")?;
            cfg = cfg.with_user(SimUser::without_payload_role(name, pass));
        }
        cfg.traffic.payload_size = self.payload_size;
        cfg.traffic.attachment_size = self.attachment_size;
        cfg.traffic.max_pending = self.max_pending;
        cfg.next_link = if self.relative_next {
            NextLinkStyle::Relative
        } else {
            NextLinkStyle::Absolute
        };
        cfg.public_url = self.public_url;
        cfg.admin = !self.no_admin;
        cfg.tenant = self.tenant;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn fail(reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("cpi-sim: {reason}");
    ExitCode::from(2)
}

/// The whole program; `main.rs` only calls this.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // clap's message spans several lines (reason, usage, hints); keep the reason, on
            // one line.
            let text = e.to_string();
            let reason: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| {
                    !l.starts_with("Usage:") && !l.starts_with("tip:") && !l.starts_with("For more")
                })
                .filter(|l| !l.is_empty())
                .collect();
            let line = reason.join(" ");
            let line = line.trim_start_matches("error: ");
            return fail(if line.is_empty() {
                "invalid arguments"
            } else {
                line
            });
        }
    };
    let listen = args.listen.clone();
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // actix-server announces itself too; one start line is enough.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async move {
        let user = cfg.user.clone();
        let client = cfg.client_id.clone();
        let sim = match Sim::start(cfg, listen.as_str()).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        tracing::info!(
            "cpi-sim listening on {} (auth: Basic user \"{user}\", OAuth client \"{client}\" via POST {}; admin: {}/_sim/)",
            sim.api_url(),
            sim.token_url(),
            sim.base_url()
        );
        wait_for_shutdown().await;
        tracing::info!("cpi-sim stopping");
        sim.stop().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("7 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn arguments_become_a_config() {
        let args = Args::try_parse_from([
            "cpi-sim",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "u",
            "--password",
            "p",
            "--rate",
            "5",
            "--history",
            "2h",
            "--relative-next",
            "--no-payload-user",
            "viewer:v",
        ])
        .unwrap();
        let cfg = args.into_config().unwrap();
        assert_eq!(cfg.user, "u");
        assert_eq!(cfg.traffic.rate_per_sec, 5.0);
        assert_eq!(cfg.traffic.history, Duration::from_secs(7200));
        assert_eq!(cfg.next_link, NextLinkStyle::Relative);
        assert_eq!(cfg.extra_users.len(), 1);
        let bad = Args::try_parse_from(["cpi-sim", "--listen", "x", "--rate", "0"]).unwrap();
        assert!(bad.into_config().unwrap_err().contains("rate"));
    }
}
