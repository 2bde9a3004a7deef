//! The start-up prelude every binary shares, written once: malloc arenas, settings (a bad one
//! exits 2 with one line before anything starts), the TLS crypto provider, logging, the line
//! naming the database, the tokio runtime, and how a failure reaches the operator. Daemons go
//! through [`crate::daemon::main`]; one-shot commands (migrate, `ingest-worker sync`, the
//! `integramon` CLI) through [`one_shot`].

use std::future::Future;
use std::process::ExitCode;

use crate::logging::LogGuard;
use crate::settings::Settings;

/// A one-shot command: the name its errors start with and the name its logs carry.
#[derive(Debug, Clone, Copy)]
pub struct OneShot {
    /// `integramon-migrate`, `integramon`, …: the prefix of the line a failure prints.
    pub bin: &'static str,
    /// The logging component (and log file name).
    pub component: &'static str,
    /// Also log a failure (for commands whose logs are collected, such as migrate in compose).
    pub log_failure: bool,
}

/// `bin: reason` on stderr, exit 2: a setting or argument is wrong, nothing was started.
pub fn refuse(bin: &str, reason: &str) -> ExitCode {
    eprintln!("{bin}: {reason}");
    ExitCode::from(2)
}

/// The first steps of every process: one malloc arena (before threads start, see
/// [`crate::memory`]) and the layered settings.
pub fn settings(bin: &str) -> Result<Settings, ExitCode> {
    crate::memory::limit_malloc_arenas();
    Settings::load().map_err(|e| refuse(bin, &e.to_string()))
}

/// Once the settings are checked: the TLS crypto provider, logging and the database line.
pub fn start_logging(settings: &Settings, component: &str) -> LogGuard {
    store::install_tls_provider();
    let log = crate::logging::init(settings, component);
    log_database_choice(settings);
    log
}

/// The async runtime every daemon and command runs on.
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// A one-shot command's whole life: settings, `check` (anything else that must hold before
/// anything starts; an error exits 2), logging, the runtime, `work`. A failure prints one line
/// and exits 1.
pub fn one_shot<T, C, W, F>(cmd: OneShot, check: C, work: W) -> ExitCode
where
    C: FnOnce(&Settings) -> anyhow::Result<T>,
    W: FnOnce(Settings, T) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let settings = match settings(cmd.bin) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let checked = match check(&settings) {
        Ok(t) => t,
        Err(e) => return refuse(cmd.bin, &crate::report::anyhow_line(&e)),
    };
    let _log = start_logging(&settings, cmd.component);
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: {e}", cmd.bin);
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(work(settings, checked)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = crate::report::anyhow_line(&e);
            if cmd.log_failure {
                tracing::error!("{line}");
            }
            eprintln!("{}: {line}", cmd.bin);
            ExitCode::FAILURE
        }
    }
}

/// The line every process logs at start: backend, target (never a password), and why; then
/// each setting that is probably not what was meant, loudly.
pub fn log_database_choice(settings: &Settings) {
    let db = &settings.db;
    tracing::info!(
        "database backend {} at {} (chosen by {})",
        db.backend.name(),
        db.target(),
        db.backend_source
    );
    for w in &settings.warnings {
        tracing::warn!("WARNING: {w}");
    }
}
