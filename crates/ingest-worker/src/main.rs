use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use integramon_ingest_worker::{ABOUT, IngestSettings, SPEC, run, sync_cmd};

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
    Sync(sync_cmd::SyncArgs),
}

const SYNC: runtime::bootstrap::OneShot = runtime::bootstrap::OneShot {
    bin: "integramon-ingest-worker",
    component: "ingest-worker",
    log_failure: false,
};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("sync") {
        let SyncCommand::Sync(args) = SyncCli::parse().command;
        return runtime::bootstrap::one_shot(
            SYNC,
            IngestSettings::from_settings,
            |s, config| async move { sync_cmd::run(&s, config, args).await },
        );
    }
    // The daemon's --help lists `sync` too.
    let sync = SyncCli::command().get_subcommands().cloned().collect();
    runtime::daemon::main_with(SPEC, ABOUT, sync, run)
}
