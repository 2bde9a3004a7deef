//! Incremental MPL reading: a window on LogEnd, read in pages.
//!
//! Why LogEnd: LogStart never changes, but LogEnd moves whenever a message's status changes, so a
//! LogEnd window also catches updates of older messages. The window overlaps the previous one
//! and stays behind "now", because LogEnd is written asynchronously across worker nodes.
//! Records are upserted by MessageGuid downstream, so overlap costs only bandwidth.
//!
//! Paging: `__next` is followed (relative links resolved against the service root); without it,
//! `$top`/`$skip` continue while `__count` says more. When a window holds more than
//! `split_threshold` records, it is bisected instead of skipping deep (deep `$skip` over a moving
//! set skips or repeats rows and is costly for the tenant).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::Stream;
use url::Url;

use crate::client::CpiClient;
use crate::error::CpiError;
use crate::limits::ApiFamily;
use crate::model::MessageProcessingLog;
use crate::odata::{datetime_literal, string_literal};

/// A half-open time range `[from, to)` on LogEnd, at millisecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// `None` when the range is empty. Both ends are truncated to milliseconds, the resolution
    /// of the filter literal.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Self> {
        let from = truncate_ms(from);
        let to = truncate_ms(to);
        (from < to).then_some(Self { from, to })
    }

    pub fn width(&self) -> TimeDelta {
        self.to - self.from
    }

    /// `LogEnd ge datetime'…' and LogEnd lt datetime'…'`
    pub fn filter(&self) -> String {
        format!(
            "LogEnd ge {} and LogEnd lt {}",
            datetime_literal(self.from),
            datetime_literal(self.to)
        )
    }

    /// Two halves, or `None` when the window is narrower than `min_width` or than 2 ms.
    pub fn split(&self, min_width: Duration) -> Option<(Window, Window)> {
        let width = self.width();
        let min = TimeDelta::from_std(min_width).unwrap_or(TimeDelta::MAX);
        if width < TimeDelta::milliseconds(2) || width < min * 2 {
            return None;
        }
        let mid = truncate_ms(self.from + width / 2);
        Some((
            Window {
                from: self.from,
                to: mid,
            },
            Window {
                from: mid,
                to: self.to,
            },
        ))
    }
}

fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// How the next polling window is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOptions {
    /// Re-read this much before the watermark (late LogEnd writes, clock skew between nodes).
    pub overlap: Duration,
    /// Stay this far behind now (LogEnd is written asynchronously).
    pub lag: Duration,
    /// Where the first window starts when there is no watermark yet.
    pub initial_lookback: Duration,
    /// Cap on a window's width, so catching up after downtime happens in bounded steps.
    pub max_width: Option<Duration>,
}

impl Default for WindowOptions {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(180),
            lag: Duration::from_secs(45),
            initial_lookback: Duration::from_secs(24 * 3600),
            max_width: Some(Duration::from_secs(6 * 3600)),
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// The next window to read: from `watermark - overlap` (or `now - initial_lookback`) to
/// `now - lag`, at most `max_width` wide. `None` when there is nothing to read yet.
/// The watermark to store after reading is the window's `to` (or [`MplPage::safe_watermark`]).
pub fn next_window(
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    opts: &WindowOptions,
) -> Option<Window> {
    let to = now.checked_sub_signed(delta(opts.lag))?;
    let from = match watermark {
        Some(w) => w.checked_sub_signed(delta(opts.overlap))?,
        None => now.checked_sub_signed(delta(opts.initial_lookback))?,
    };
    let to = match opts.max_width {
        Some(max) => match from.checked_add_signed(delta(max)) {
            Some(capped) if capped < to => capped,
            _ => to,
        },
        None => to,
    };
    Window::new(from, to)
}

/// What to read in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct MplQuery {
    pub window: Window,
    /// `$select` columns; defaults to [`MessageProcessingLog::PORTABLE_COLUMNS`].
    pub select: Vec<String>,
    /// Only this artifact: `IntegrationArtifact/Id eq '…'`.
    pub artifact_id: Option<String>,
    /// A user's own `$filter`, ANDed in (parenthesised).
    pub extra_filter: Option<String>,
    /// SAP's non-standard `filterCustomHeaderProperties` value, e.g. `'po_number' eq '12345'`.
    pub custom_header_filter: Option<String>,
    /// `$expand=CustomHeaderProperties`.
    pub expand_custom_headers: bool,
    /// `$top` for `$skip` paging; the server pages at 1000.
    pub page_size: u32,
    /// A window whose `__count` exceeds this is bisected.
    pub split_threshold: u64,
    /// Windows are not split below this width; a narrower window is paged through instead.
    pub min_split_width: Duration,
}

impl MplQuery {
    pub fn new(window: Window) -> Self {
        Self {
            window,
            select: MessageProcessingLog::PORTABLE_COLUMNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            artifact_id: None,
            extra_filter: None,
            custom_header_filter: None,
            expand_custom_headers: false,
            page_size: 1000,
            split_threshold: 5000,
            min_split_width: Duration::from_secs(1),
        }
    }

    /// Refuses a user filter that could escape its parentheses or add query options (a filter
    /// stored before validation existed, or set by a caller that skipped it).
    pub fn check(&self) -> Result<(), CpiError> {
        match self.extra_filter.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() => domain::tenant::check_message_filter(f)
                .map_err(|e| CpiError::Config(format!("the tenant's message filter {e}"))),
            _ => Ok(()),
        }
    }

    /// The `$filter` for one (sub-)window. The user's filter is always parenthesised, so it
    /// narrows the window and cannot widen it.
    pub fn filter_for(&self, window: &Window) -> String {
        let mut f = window.filter();
        if let Some(id) = &self.artifact_id {
            f.push_str(" and IntegrationArtifact/Id eq ");
            f.push_str(&string_literal(id));
        }
        if let Some(extra) = self.extra_filter.as_deref().map(str::trim)
            && !extra.is_empty()
        {
            f.push_str(" and (");
            f.push_str(extra);
            f.push(')');
        }
        f
    }

    /// Query parameters for one (sub-)window; `skip` adds `$top`/`$skip` paging.
    pub fn params_for(&self, window: &Window, skip: Option<u64>) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("$filter", self.filter_for(window)),
            ("$orderby", "LogEnd".to_string()),
            ("$inlinecount", "allpages".to_string()),
        ];
        let mut select = self.select.clone();
        if self.expand_custom_headers {
            if !select.is_empty() && !select.iter().any(|s| s == "CustomHeaderProperties") {
                select.push("CustomHeaderProperties".into());
            }
            p.push(("$expand", "CustomHeaderProperties".into()));
        }
        if !select.is_empty() {
            p.push(("$select", select.join(",")));
        }
        if let Some(h) = &self.custom_header_filter {
            p.push(("filterCustomHeaderProperties", h.clone()));
        }
        if let Some(skip) = skip {
            p.push(("$top", self.page_size.to_string()));
            if skip > 0 {
                p.push(("$skip", skip.to_string()));
            }
        }
        p
    }
}

/// One page of MPLs.
#[derive(Debug, Clone, PartialEq)]
pub struct MplPage {
    pub records: Vec<MessageProcessingLog>,
    /// The (sub-)window this page belongs to.
    pub window: Window,
    /// `__count` of that window.
    pub window_total: Option<u64>,
    /// True on the last page of the (sub-)window.
    pub window_complete: bool,
    /// Everything before this instant has been read completely (sub-windows are read in
    /// ascending order): the watermark a caller may store after committing this page.
    pub safe_watermark: Option<DateTime<Utc>>,
    /// The URL this page came from.
    pub url: String,
}

#[derive(Debug)]
struct Cursor {
    window: Window,
    url: Url,
    first: bool,
    received: u64,
    count: Option<u64>,
    pages: usize,
}

/// Reads a window page by page. Use [`MplPager::next_page`] or [`MplPager::into_stream`].
#[derive(Debug)]
pub struct MplPager {
    client: CpiClient,
    query: MplQuery,
    /// Windows still to read; the last one is read next (earliest first).
    pending: Vec<Window>,
    current: Option<Cursor>,
    safe_watermark: Option<DateTime<Utc>>,
    splits: u32,
    failed: bool,
}

const MAX_PAGES_PER_WINDOW: usize = 100_000;

impl MplPager {
    pub fn new(client: CpiClient, query: MplQuery) -> Self {
        let pending = vec![query.window];
        Self {
            client,
            query,
            pending,
            current: None,
            safe_watermark: None,
            splits: 0,
            failed: false,
        }
    }

    /// How many times a window was bisected so far.
    pub fn splits(&self) -> u32 {
        self.splits
    }

    /// The next page, `Ok(None)` when the whole window has been read. After an error the pager
    /// is finished (the caller retries the window later from its stored watermark).
    pub async fn next_page(&mut self) -> Result<Option<MplPage>, CpiError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.advance().await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn advance(&mut self) -> Result<Option<MplPage>, CpiError> {
        loop {
            let mut cursor = match self.current.take() {
                Some(c) => c,
                None => {
                    let Some(window) = self.pending.pop() else {
                        return Ok(None);
                    };
                    self.query.check()?;
                    let url = self.client.url(
                        "MessageProcessingLogs",
                        &self.query.params_for(&window, None),
                    )?;
                    Cursor {
                        window,
                        url,
                        first: true,
                        received: 0,
                        count: None,
                        pages: 0,
                    }
                }
            };
            let page = self
                .client
                .get_collection::<MessageProcessingLog>(
                    ApiFamily::MessageProcessingLogs,
                    &cursor.url,
                )
                .await?;
            if page.count.is_some() {
                cursor.count = page.count;
            }
            if cursor.first {
                cursor.first = false;
                if let Some(count) = page.count
                    && count > self.query.split_threshold
                    && let Some((early, late)) = cursor.window.split(self.query.min_split_width)
                {
                    tracing::debug!(
                        count,
                        from = %cursor.window.from,
                        to = %cursor.window.to,
                        "MPL window too full, bisecting"
                    );
                    self.splits += 1;
                    self.pending.push(late);
                    self.pending.push(early);
                    continue;
                }
            }
            cursor.pages += 1;
            let n = page.results.len() as u64;
            cursor.received += n;
            let page_url = cursor.url.to_string();
            let next = if let Some(link) = page.next.as_deref() {
                let next = self.client.next_url(link, &cursor.url)?;
                if next == cursor.url {
                    return Err(self
                        .client
                        .paging_error(&cursor.url, "the next link repeats itself"));
                }
                Some(next)
            } else if n > 0 && cursor.count.is_some_and(|c| cursor.received < c) {
                Some(self.client.url(
                    "MessageProcessingLogs",
                    &self.query.params_for(&cursor.window, Some(cursor.received)),
                )?)
            } else {
                None
            };
            if cursor.pages > MAX_PAGES_PER_WINDOW {
                return Err(self
                    .client
                    .paging_error(&cursor.url, "too many pages in one window"));
            }
            let window = cursor.window;
            let window_total = cursor.count;
            let complete = next.is_none() || n == 0;
            if complete {
                self.safe_watermark = Some(window.to);
            } else if let Some(next) = next {
                cursor.url = next;
                self.current = Some(cursor);
            }
            return Ok(Some(MplPage {
                records: page.results,
                window,
                window_total,
                window_complete: complete,
                safe_watermark: self.safe_watermark,
                url: page_url,
            }));
        }
    }

    /// The pages as a stream; it ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<MplPage, CpiError>> + Send {
        futures::stream::unfold(self, |mut pager| async move {
            match pager.next_page().await {
                Ok(Some(page)) => Some((Ok(page), pager)),
                Ok(None) => None,
                Err(e) => Some((Err(e), pager)),
            }
        })
    }
}

impl CpiClient {
    /// Reads MPLs of a window page by page (see the module docs).
    pub fn mpl_pages(&self, query: MplQuery) -> MplPager {
        MplPager::new(self.clone(), query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, h, m, s).unwrap()
    }

    #[test]
    fn window_filter_uses_utc_millis_literals() {
        let w = Window::new(t(10, 0, 0), t(11, 0, 0)).unwrap();
        assert_eq!(
            w.filter(),
            "LogEnd ge datetime'2024-03-01T10:00:00.000' and LogEnd lt datetime'2024-03-01T11:00:00.000'"
        );
    }

    #[test]
    fn next_window_applies_overlap_lag_and_max_width() {
        let opts = WindowOptions {
            overlap: Duration::from_secs(120),
            lag: Duration::from_secs(30),
            initial_lookback: Duration::from_secs(3600),
            max_width: Some(Duration::from_secs(1800)),
        };
        let now = t(12, 0, 0);
        let w = next_window(Some(t(11, 50, 0)), now, &opts).unwrap();
        assert_eq!((w.from, w.to), (t(11, 48, 0), t(11, 59, 30)));
        let first = next_window(None, now, &opts).unwrap();
        assert_eq!((first.from, first.to), (t(11, 0, 0), t(11, 30, 0)));
        // Watermark already at now - lag + overlap: nothing new? Overlap still re-reads.
        assert!(next_window(Some(t(11, 59, 30)), now, &opts).is_some());
        // Watermark in the future (clock skew): nothing to read.
        assert!(next_window(Some(t(12, 10, 0)), now, &opts).is_none());
    }

    #[test]
    fn windows_split_into_adjacent_halves_down_to_the_minimum() {
        let w = Window::new(t(10, 0, 0), t(10, 0, 4)).unwrap();
        let (a, b) = w.split(Duration::from_secs(1)).unwrap();
        assert_eq!(
            (a.from, a.to, b.from, b.to),
            (t(10, 0, 0), t(10, 0, 2), t(10, 0, 2), t(10, 0, 4))
        );
        let (c, _) = a.split(Duration::from_secs(1)).unwrap();
        assert!(c.split(Duration::from_secs(1)).is_none());
        let tiny = Window::new(t(10, 0, 0), t(10, 0, 0) + TimeDelta::milliseconds(1)).unwrap();
        assert!(tiny.split(Duration::ZERO).is_none());
        assert!(Window::new(t(10, 0, 0), t(10, 0, 0)).is_none());
    }

    #[test]
    fn query_parameters_combine_window_artifact_and_user_filter() {
        let mut q = MplQuery::new(Window::new(t(10, 0, 0), t(11, 0, 0)).unwrap());
        q.artifact_id = Some("Flow'1".into());
        q.extra_filter = Some("Status eq 'FAILED' or Status eq 'RETRY'".into());
        q.custom_header_filter = Some("'po_number' eq '12345'".into());
        q.select = vec!["MessageGuid".into(), "LogEnd".into()];
        q.expand_custom_headers = true;
        let p = q.params_for(&q.window.clone(), Some(2000));
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("$filter"),
            Some(
                "LogEnd ge datetime'2024-03-01T10:00:00.000' and LogEnd lt datetime'2024-03-01T11:00:00.000' and IntegrationArtifact/Id eq 'Flow''1' and (Status eq 'FAILED' or Status eq 'RETRY')"
            )
        );
        assert_eq!(get("$orderby"), Some("LogEnd"));
        assert_eq!(get("$inlinecount"), Some("allpages"));
        assert_eq!(
            get("$select"),
            Some("MessageGuid,LogEnd,CustomHeaderProperties")
        );
        assert_eq!(get("$expand"), Some("CustomHeaderProperties"));
        assert_eq!(
            get("filterCustomHeaderProperties"),
            Some("'po_number' eq '12345'")
        );
        assert_eq!(get("$top"), Some("1000"));
        assert_eq!(get("$skip"), Some("2000"));
    }
}
