//! Settings every daemon's shell reads (queue, listen address, HTTP workers, worker name), typed
//! here so the bootstrap and `integramon up` read them the same way.

use std::net::{SocketAddr, ToSocketAddrs};

use domain::setting;
use queue::QueueConfig;

use super::{Settings, SettingsError};

/// `WEB_WORKERS` bounds.
const MAX_WEB_WORKERS: usize = 256;

impl Settings {
    /// The queue settings (`AMQP_*`). The bootstrap builds them once and hands them over on the
    /// daemon's context.
    pub fn queue(&self) -> Result<QueueConfig, SettingsError> {
        QueueConfig::from_lookup(|k| self.raw(k)).map_err(|e| SettingsError::Queue(e.to_string()))
    }

    /// The listen address: `--listen` (`flag`), then the variable `env`, then `default`.
    pub fn listen_addr(
        &self,
        flag: Option<&str>,
        env: &str,
        default: &str,
    ) -> Result<SocketAddr, SettingsError> {
        let (raw, from) = match (flag, self.raw(env)) {
            (Some(f), _) => (f.to_string(), "--listen"),
            (None, Some(v)) => (v, env),
            (None, None) => (default.to_string(), "default"),
        };
        raw.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| super::invalid(from, raw, "a host:port address"))
    }

    /// Whether neither `--listen` nor `env` chose the address.
    pub fn listen_is_default(&self, flag: Option<&str>, env: &str) -> bool {
        flag.is_none() && self.raw(env).is_none()
    }

    /// HTTP worker threads: `WEB_WORKERS` (default: one per CPU) where the UI is served, one
    /// where only health and metrics are.
    pub fn http_workers(&self, serves_ui: bool) -> Result<usize, SettingsError> {
        if !serves_ui {
            return Ok(1);
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        self.parsed("WEB_WORKERS", cpus, |k, v| {
            setting::whole_in(k, v, 1, MAX_WEB_WORKERS)
        })
    }

    /// A consumer's name in the job runs and the broker: `HOSTNAME-pid` (`fallback-pid` without
    /// a host name). Only the process environment is asked: a file cannot know the host.
    pub fn worker_name(&self, fallback: &str) -> String {
        let host = self.env.get("HOSTNAME").map_or(fallback, String::as_str);
        format!("{host}-{}", std::process::id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn listen_comes_from_the_flag_then_the_variable_then_the_default() {
        let s = load(&[("X_LISTEN", "127.0.0.1:7001")]);
        let addr = |flag| s.listen_addr(flag, "X_LISTEN", "127.0.0.1:7000").unwrap();
        assert_eq!(addr(Some("127.0.0.1:7002")).port(), 7002);
        assert_eq!(addr(None).port(), 7001);
        assert!(!s.listen_is_default(None, "X_LISTEN"));
        let s = load(&[]);
        assert_eq!(
            s.listen_addr(None, "X_LISTEN", "127.0.0.1:7000")
                .unwrap()
                .port(),
            7000
        );
        assert!(s.listen_is_default(None, "X_LISTEN"));
        let e = s
            .listen_addr(Some("nowhere"), "X_LISTEN", "127.0.0.1:7000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--listen=\"nowhere\""), "{e}");
    }

    #[test]
    fn web_workers_are_bounded_and_only_count_where_the_ui_is_served() {
        assert_eq!(load(&[("WEB_WORKERS", "3")]).http_workers(true).unwrap(), 3);
        assert_eq!(
            load(&[("WEB_WORKERS", "3")]).http_workers(false).unwrap(),
            1
        );
        let e = load(&[("WEB_WORKERS", "0")])
            .http_workers(true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("WEB_WORKERS=\"0\""), "{e}");
    }

    #[test]
    fn queue_settings_name_a_bad_variable() {
        assert_eq!(load(&[]).queue().unwrap().prefix, "integramon");
        let e = load(&[("AMQP_PREFETCH", "many")])
            .queue()
            .unwrap_err()
            .to_string();
        assert!(e.contains("AMQP_PREFETCH=\"many\""), "{e}");
    }

    #[test]
    fn the_worker_name_is_the_host_and_the_process() {
        let pid = std::process::id();
        assert_eq!(
            load(&[("HOSTNAME", "box")]).worker_name("w"),
            format!("box-{pid}")
        );
        assert_eq!(load(&[]).worker_name("w"), format!("w-{pid}"));
    }
}
