use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IntegraMon migrate: waits for the database, applies pending migrations under a lock, and
/// writes the marker that releases the other daemons.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations and write the marker (the default).
    Apply,
    /// List applied and pending migrations.
    Status,
    /// Only make sure the internal PostgreSQL runs (DB_LOCAL=true), then exit.
    PgLocal,
}

const MIGRATE: runtime::bootstrap::OneShot = runtime::bootstrap::OneShot {
    bin: "integramon-migrate",
    component: "migrate",
    log_failure: true,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    runtime::bootstrap::one_shot(
        MIGRATE,
        |_| Ok(()),
        |settings, ()| async move {
            match cli.command.unwrap_or(Command::Apply) {
                Command::Apply => integramon_migrate::apply(&settings).await.map(|_| ()),
                Command::PgLocal => integramon_migrate::ensure_local_cluster(&settings).await,
                Command::Status => integramon_migrate::status(&settings).await.map(|rows| {
                    let pending = rows.iter().filter(|r| !r.applied).count();
                    for r in &rows {
                        println!(
                            "{} {}",
                            if r.applied { "applied" } else { "pending" },
                            r.name
                        );
                    }
                    println!("{} applied, {pending} pending", rows.len() - pending);
                }),
            }
        },
    )
}
