//! tracing set-up: human-readable lines by default, JSON with `LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`), optionally mirrored to a daily file under `LOG_DIR`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::settings::{LogFormat, Settings};

/// Keeps the file writer flushing; hold it for the life of the process.
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

pub fn init(settings: &Settings, process: &str) -> LogGuard {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
        })
    };
    let stdout = match settings.log_format {
        LogFormat::Text => fmt::layer().with_target(false).boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).boxed(),
    };
    let (file_layer, guard) =
        if settings.log_to_file && std::fs::create_dir_all(&settings.log_dir).is_ok() {
            let appender =
                tracing_appender::rolling::daily(&settings.log_dir, format!("{process}.log"));
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(
                    fmt::layer()
                        .json()
                        .with_writer(writer)
                        .with_filter(filter())
                        .boxed(),
                ),
                Some(guard),
            )
        } else {
            (None, None)
        };
    // A second init (tests, the all-in-one mode) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(stdout.with_filter(filter()))
        .with(file_layer)
        .try_init();
    LogGuard(guard)
}
