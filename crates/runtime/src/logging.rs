//! tracing set-up: human-readable lines by default, JSON with `LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (checked with the settings; default `info`), optionally mirrored to a daily file under `LOG_DIR`.
//!
//! Either format carries the fields of the spans a line is logged in: a job's `job_id`, `type`,
//! `tenant` and `attempt` (`runtime::runs`), a web request's method and route (`request_log`).

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::settings::{LogFormat, Settings};

/// Keeps the file writer flushing; hold it for the life of the process.
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

pub fn init(settings: &Settings, process: &str) -> LogGuard {
    // RUST_LOG was checked with the other settings, so a typo has already stopped start-up.
    let filter = || {
        settings
            .log_filter
            .as_deref()
            .and_then(|f| EnvFilter::builder().parse(f).ok())
            .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"))
    };
    let stdout = match settings.log_format {
        LogFormat::Text => fmt::layer().with_target(false).boxed(),
        LogFormat::Json => json_layer(std::io::stdout).boxed(),
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

/// The `LOG_FORMAT=json` line: the event's own fields at the top level, the fields of the span it
/// was logged in under `span`, and every span it is nested in (outermost first) under `spans`.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(writer)
}

/// Log output kept in memory, for tests that check what a line carries (and what it must not).
#[derive(Clone, Default)]
pub struct MemoryWriter(Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for MemoryWriter {
    type Writer = MemoryWriter;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_carries_the_fields_of_its_spans() {
        let out = MemoryWriter::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer", component = "metrics");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner", job_id = "j-1");
            let _inner = inner.enter();
            tracing::info!(rows = 3, "inside");
        });
        let line: serde_json::Value =
            serde_json::from_str(out.contents().trim()).expect("one JSON line");
        assert_eq!(line["message"], "inside");
        assert_eq!(line["rows"], 3);
        assert_eq!(line["span"]["job_id"], "j-1");
        assert_eq!(line["spans"][0]["component"], "metrics");
        assert_eq!(line["spans"][1]["job_id"], "j-1");
    }
}
