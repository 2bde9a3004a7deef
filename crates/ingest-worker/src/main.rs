use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `integramon-ingest-worker sync …` runs a one-shot sync; anything else is the daemon.
#[derive(Parser)]
#[command(name = "integramon-ingest-worker", version)]
struct SyncCli {
    #[command(subcommand)]
    command: SyncCommand,
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Sync one tenant's messages for a time range into the configured database, without RabbitMQ.
    Sync(integramon_ingest_worker::sync_cmd::SyncArgs),
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("sync") {
        runtime::memory::limit_malloc_arenas();
        return sync();
    }
    runtime::daemon::main(
        integramon_ingest_worker::SPEC,
        integramon_ingest_worker::ABOUT,
        integramon_ingest_worker::run,
    )
}

fn sync() -> ExitCode {
    let SyncCommand::Sync(args) = SyncCli::parse().command;
    let settings = match runtime::Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("integramon-ingest-worker: {e}");
            return ExitCode::from(2);
        }
    };
    store::install_tls_provider();
    let _log = runtime::logging::init(&settings, "ingest-worker");
    runtime::daemon::log_database_choice(&settings);
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(integramon_ingest_worker::sync_cmd::run(&settings, args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("integramon-ingest-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
