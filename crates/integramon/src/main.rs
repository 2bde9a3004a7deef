use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use integramon::admin;
use store::maintenance::MaintenanceOptions;

/// IntegraMon: monitoring for SAP Cloud Integration. `integramon up` runs everything in one
/// process on SQLite; the other commands administer an installation.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every daemon in this process (all-in-one mode).
    Up {
        /// Where the UI answers (default 127.0.0.1:8080, or WEB_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Database administration.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print the resolved settings (secrets masked).
    Config,
    /// Users of the web UI and API.
    #[command(subcommand)]
    User(UserCommand),
    /// Archive files: run an archive now, restore a file, read a file.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// The secrets of a compose installation.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Error groups.
    #[command(subcommand)]
    Errors(ErrorsCommand),
}

#[derive(Subcommand)]
enum ErrorsCommand {
    /// Group every stored message again with the current grouping version and custom rules
    /// (messages whose group changes move; counts follow). Safe to run while IntegraMon runs
    /// and to run again.
    Regroup,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Write the database and broker passwords (from the environment, else kept, else
    /// generated) and make the tenant-secret key: compose's one-shot `secrets` service.
    Init {
        /// Directory for `db_password` and `rabbitmq_password`.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Directory for RabbitMQ's conf.d file with its default user.
        #[arg(long, value_name = "DIR")]
        rabbitmq_conf_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Archive a tenant now: every day past its archive_older_than_days (or only --day), then
    /// retention and cleanup, printing what each day did.
    Run {
        #[arg(long)]
        tenant: String,
        /// Only this day (YYYY-MM-DD, in ARCHIVE_TIME_ZONE); it must be past the cut-off too.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: Option<chrono::NaiveDate>,
    },
    /// Import an archive file back into the database (checked first; messages already there,
    /// by GUID, are left as they are, so running it twice changes nothing).
    Restore {
        file: PathBuf,
        /// Restore into this tenant instead of the one named in the file.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print an archive file without importing it (checked completely first): every line as
    /// JSON Lines, one message, or a summary.
    Read {
        file: PathBuf,
        /// Only this message (by MessageGuid), as pretty JSON.
        #[arg(long, value_name = "GUID", conflicts_with = "summary")]
        message: Option<String>,
        /// Header, trailer, checksum and messages per status.
        #[arg(long)]
        summary: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Without --password-stdin a password is generated and printed once.
    Create {
        username: String,
        /// Make the user an admin (same as --role admin).
        #[arg(long)]
        admin: bool,
        /// user, manager or admin (default user).
        #[arg(long, value_name = "ROLE", conflicts_with = "admin")]
        role: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Backend, schema state, size and row counts.
    Status,
    /// Reclaim space and refresh statistics (SQLite: checkpoint + VACUUM; PostgreSQL: VACUUM ANALYZE).
    Maintain {
        /// PostgreSQL only: VACUUM FULL (takes an exclusive lock on each table while it runs).
        #[arg(long)]
        full: bool,
        /// PostgreSQL only: limit to these tables (repeatable).
        #[arg(long = "table", value_name = "TABLE")]
        tables: Vec<String>,
    },
    /// Consistent backup while IntegraMon runs (SQLite: VACUUM INTO; PostgreSQL: pg_dump), with
    /// the tenant-secret key; see docs/operations/database.md.
    Backup {
        /// New directory for the backup (default DATA_DIR/backups/integramon-<time>).
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
        /// Also copy the archive files (DATA_DIR/archives/).
        #[arg(long)]
        with_archives: bool,
        /// Also copy LOG_DIR.
        #[arg(long)]
        with_logs: bool,
        /// Leave the tenant-secret key (secret.key / SECRET_KEY) out of the backup: keep it
        /// elsewhere, a restore needs it.
        #[arg(long)]
        without_secret_key: bool,
        /// PostgreSQL: print the pg_dump command instead of running it.
        #[arg(long)]
        print: bool,
    },
    /// Fill a tenant with generated messages for benchmarks (created if missing), then
    /// rebuild its message counts. Deterministic for a given --seed.
    Seed {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        messages: u64,
        /// Spread over the last D days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, default_value_t = 4)]
        headers_per_message: u32,
        #[arg(long, default_value_t = 200)]
        iflows: u32,
        /// Share of FAILED messages (0..1).
        #[arg(long, default_value_t = 0.02)]
        failed_ratio: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Also make about this many error groups over the seeded iFlows, with an hourly
        /// history spread over the seeded days, and assign the failed messages to them.
        #[arg(long, default_value_t = 0)]
        error_groups: u64,
    },
    /// Restore a backup directory (database, tenant-secret key, archive files) into this
    /// installation and check it exactly; then run integramon-migrate.
    Restore {
        dir: PathBuf,
        /// SQLite: replace an existing database file (stop IntegraMon first).
        #[arg(long)]
        force: bool,
    },
}

const CLI: runtime::bootstrap::OneShot = runtime::bootstrap::OneShot {
    bin: "integramon",
    component: "integramon",
    log_failure: false,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Reading a file needs no settings, database, runtime or logging.
    if let Command::Archive(ArchiveCommand::Read {
        file,
        message,
        summary,
    }) = &cli.command
    {
        runtime::memory::limit_malloc_arenas();
        return match integramon::archive::read(file, message.as_deref(), *summary) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("integramon: {}", runtime::report::anyhow_line(&e));
                ExitCode::FAILURE
            }
        };
    }
    // Printing the settings and writing the secrets need the settings only.
    if matches!(cli.command, Command::Config | Command::Secrets(_)) {
        let settings = match runtime::bootstrap::settings(CLI.bin) {
            Ok(s) => s,
            Err(code) => return code,
        };
        return match cli.command {
            Command::Config => match integramon::settings::show(&settings) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => runtime::bootstrap::refuse(CLI.bin, &runtime::report::anyhow_line(&e)),
            },
            Command::Secrets(SecretsCommand::Init {
                dir,
                rabbitmq_conf_dir,
            }) => {
                let args = integramon::secrets::InitArgs {
                    dir,
                    rabbitmq_conf_dir,
                };
                match integramon::secrets::init(&settings, &args) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("integramon: secrets: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            }
            _ => unreachable!("matched above"),
        };
    }
    // `up` runs every daemon: all their settings are built before anything starts.
    let up_listen = match &cli.command {
        Command::Up { listen } => Some(listen.clone()),
        _ => None,
    };
    let check = |settings: &runtime::Settings| match &up_listen {
        Some(listen) => integramon::up::check(settings, listen.as_deref()).map(Some),
        None => Ok(None),
    };
    runtime::bootstrap::one_shot(CLI, check, |settings, up| run(cli, settings, up))
}

async fn run(
    cli: Cli,
    settings: runtime::Settings,
    up: Option<integramon::up::Checked>,
) -> anyhow::Result<()> {
    match cli.command {
        Command::Up { .. } => match up {
            Some(checked) => integramon::up::run(settings, checked).await,
            None => unreachable!("checked before the runtime started"),
        },
        Command::Db(DbCommand::Status) => admin::status(&settings).await,
        Command::Db(DbCommand::Maintain { full, tables }) => {
            admin::maintain(&settings, MaintenanceOptions { tables, full }).await
        }
        Command::Db(DbCommand::Backup {
            dest,
            with_archives,
            with_logs,
            without_secret_key,
            print,
        }) => {
            admin::backup(
                &settings,
                admin::BackupArgs {
                    dest,
                    with_archives,
                    with_logs,
                    without_secret_key,
                    print_only: print,
                },
            )
            .await
        }
        Command::Db(DbCommand::Seed {
            tenant,
            messages,
            days,
            headers_per_message,
            iflows,
            failed_ratio,
            seed,
            error_groups,
        }) => {
            integramon::seed::run(
                &settings,
                integramon::seed::SeedArgs {
                    tenant,
                    messages,
                    days,
                    headers_per_message,
                    iflows,
                    failed_ratio,
                    seed,
                    error_groups,
                },
            )
            .await
        }
        Command::Db(DbCommand::Restore { dir, force }) => {
            admin::restore(&settings, &dir, force).await
        }
        Command::User(UserCommand::Create {
            username,
            admin,
            role,
            password_stdin,
        }) => {
            let role = if admin {
                domain::user::Role::Admin
            } else {
                match role.as_deref() {
                    None => domain::user::Role::User,
                    Some(r) => domain::user::Role::parse(r).ok_or_else(|| {
                        anyhow::anyhow!("--role must be user, manager or admin, not {r:?}")
                    })?,
                }
            };
            integramon::users::create(&settings, &username, role, password_stdin).await
        }
        Command::Archive(ArchiveCommand::Run { tenant, day }) => {
            integramon::archive::run(&settings, &tenant, day).await
        }
        Command::Archive(ArchiveCommand::Restore { file, tenant }) => {
            integramon::archive::restore_file(&settings, &file, tenant.as_deref()).await
        }
        Command::Errors(ErrorsCommand::Regroup) => integramon::errors::regroup(&settings).await,
        Command::Config | Command::Secrets(_) | Command::Archive(ArchiveCommand::Read { .. }) => {
            Ok(())
        }
    }
}
