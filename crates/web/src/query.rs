//! The message monitor's query string, shared by the page and `GET /api/messages`: time range
//! (quick or absolute), filters, sort, cursor, page size. Every problem names its parameter.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use store::repo::monitor::{MessageFilter, Sort};

use crate::error::{self, AppError};

/// Parameters that may repeat (`status=FAILED&status=RETRY`, as a multi-select form sends
/// them); their values are joined with commas, the form the parser reads.
pub const MULTI: [&str; 2] = ["status", "tenant"];

/// A query string extractor like `web::Query` that also takes the [`MULTI`] parameters
/// repeated. Any other parameter given twice is refused, naming it.
pub struct MultiQuery<T>(pub T);

impl<T> std::ops::Deref for MultiQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> MultiQuery<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// `qs` with the [`MULTI`] parameters' repeats joined, read as `T`.
pub fn from_query_string<T: DeserializeOwned>(qs: &str) -> Result<T, AppError> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(qs.as_bytes()) {
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some((_, mv)) if MULTI.contains(&k.as_ref()) => {
                let v = v.trim();
                if !v.is_empty() {
                    if !mv.is_empty() {
                        mv.push(',');
                    }
                    mv.push_str(v);
                }
            }
            Some(_) => return Err(AppError::invalid(&k, "must be given once")),
            None => merged.push((k.into_owned(), v.into_owned())),
        }
    }
    let joined = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&merged)
        .finish();
    actix_web::web::Query::<T>::from_query(&joined)
        .map(actix_web::web::Query::into_inner)
        .map_err(|e| AppError::invalid("query", e.to_string()))
}

impl<T: DeserializeOwned> FromRequest for MultiQuery<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            from_query_string(req.query_string())
                .map(MultiQuery)
                .map_err(|e| error::for_request(req, e)),
        )
    }
}

/// Quick ranges offered by the UI, with their length.
pub const QUICK_RANGES: [(&str, i64); 6] = [
    ("15m", 15 * 60),
    ("1h", 3600),
    ("4h", 4 * 3600),
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
    ("30d", 30 * 24 * 3600),
];

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonitorQuery {
    /// Tenant ids, comma-separated or repeated (`tenant=1&tenant=2`; default: every tenant
    /// you may see).
    pub tenant: Option<String>,
    /// Quick range ending now: `15m`, `1h`, `4h`, `24h` (default), `7d`, `30d`. Ignored when
    /// `from` is given.
    pub range: Option<String>,
    /// Start (inclusive, on the message's LogEnd), RFC 3339.
    pub from: Option<String>,
    /// End (exclusive), RFC 3339; default now.
    pub to: Option<String>,
    /// Statuses, repeated (`status=FAILED&status=RETRY`) or comma-separated (`FAILED,RETRY`).
    pub status: Option<String>,
    /// iFlow id (exact).
    pub iflow: Option<String>,
    /// Package id (exact).
    pub package: Option<String>,
    /// Custom header name (exact).
    pub header_name: Option<String>,
    /// Custom header value: exact, or a prefix ending in `*`.
    pub header_value: Option<String>,
    /// Message id (`MessageGuid`).
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    /// Application message id.
    pub application_id: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// Error group id: the messages of that group.
    pub error_group: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
    /// The `next` cursor of the previous page: the page after it (older, newest first).
    pub after: Option<String>,
    /// The `prev` cursor of a page: the page before it (newer, newest first).
    pub before: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<u32>,
    /// Include facet counts (status, iFlow); default true.
    pub facets: Option<bool>,
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Tenants asked for (`None`: all visible).
    pub tenants: Option<Vec<i64>>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The quick range in effect, if any.
    pub range: Option<String>,
    pub filter: MessageFilter,
    pub sort: Sort,
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: u32,
    pub facets: bool,
    /// A message, correlation or application id is searched: the time range does not apply
    /// (an id is looked up in all time; `from`/`to` stay for display only).
    pub id_search: bool,
}

fn text(v: &Option<String>, field: &str) -> Result<Option<String>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > 500 => {
            Err(AppError::invalid(field, "must be at most 500 characters"))
        }
        Some(s) if s.contains('\0') => Err(AppError::invalid(field, "must not contain NUL")),
        Some(s) => Ok(Some(s.to_string())),
    }
}

fn time(v: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_time(s)
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "must be a time like 2026-11-26T08:00:00Z")),
    }
}

/// RFC 3339, or the `datetime-local` form browsers send (`2026-11-26T08:00`), read in the
/// request's zone (the user's on pages, UTC in the API; see `zone`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let zone = crate::zone::current();
    for fmt in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return zone.from_local(t);
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| zone.from_local(t))
}

impl Parsed {
    /// Neither `after` nor `before`: the page facets and the chart go with.
    pub fn first_page(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }
}

impl MonitorQuery {
    pub fn parse(&self, now: DateTime<Utc>) -> Result<Parsed, AppError> {
        let tenants = match text(&self.tenant, "tenant")? {
            None => None,
            Some(s) => Some(
                s.split(',')
                    .map(|t| t.trim().parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        AppError::invalid("tenant", "must be tenant ids, comma-separated")
                    })?,
            ),
        };
        let from = time(&self.from, "from")?;
        let to = time(&self.to, "to")?.unwrap_or(now);
        let (from, range) = match from {
            Some(f) => (f, None),
            None => {
                let r = text(&self.range, "range")?.unwrap_or_else(|| "24h".into());
                let secs = QUICK_RANGES
                    .iter()
                    .find(|(name, _)| *name == r)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| {
                        AppError::invalid("range", "must be one of 15m, 1h, 4h, 24h, 7d, 30d")
                    })?;
                (to - Duration::seconds(secs), Some(r))
            }
        };
        if from >= to {
            return Err(AppError::invalid("from", "must be before to"));
        }
        let statuses = text(&self.status, "status")?
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_ascii_uppercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") | Some("newest") => Sort::NewestFirst,
            Some("oldest") => Sort::OldestFirst,
            Some(_) => return Err(AppError::invalid("sort", "must be newest or oldest")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let error_group = text(&self.error_group, "error_group")?
            .map(|s| s.parse::<i64>())
            .transpose()
            .map_err(|_| AppError::invalid("error_group", "must be an error group id"))?;
        let header_value = text(&self.header_value, "header_value")?;
        let header_name = text(&self.header_name, "header_name")?;
        if header_value.is_some() && header_name.is_none() {
            return Err(AppError::invalid(
                "header_name",
                "is required when filtering by a header value",
            ));
        }
        let after = text(&self.after, "after")?;
        let before = text(&self.before, "before")?;
        if after.is_some() && before.is_some() {
            return Err(AppError::invalid("before", "must not be given with after"));
        }
        let message_guid = text(&self.message_id, "message_id")?;
        let correlation_id = text(&self.correlation_id, "correlation_id")?;
        let application_id = text(&self.application_id, "application_id")?;
        let id_search =
            message_guid.is_some() || correlation_id.is_some() || application_id.is_some();
        // An id names its messages wherever they are in time: a 24-hour-old id must not vanish
        // behind `range=15m`.
        let (filter_from, filter_to) = if id_search {
            (None, None)
        } else {
            (Some(from), Some(to))
        };
        Ok(Parsed {
            tenants,
            from,
            to,
            range,
            id_search,
            filter: MessageFilter {
                tenant_ids: Vec::new(),
                from: filter_from,
                to: filter_to,
                statuses,
                iflow_id: text(&self.iflow, "iflow")?,
                package_id: text(&self.package, "package")?,
                header_name,
                header_value,
                message_guid,
                correlation_id,
                application_id,
                sender: text(&self.sender, "sender")?,
                receiver: text(&self.receiver, "receiver")?,
                error_group,
            },
            sort,
            after,
            before,
            limit,
            facets: self.facets.unwrap_or(true),
        })
    }

    /// This query as a query string, with some parameters replaced (for links: facets, paging).
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut q = self.clone();
        for (k, v) in changes {
            let v = v.map(str::to_string);
            match *k {
                "tenant" => q.tenant = v,
                "range" => q.range = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "status" => q.status = v,
                "iflow" => q.iflow = v,
                "package" => q.package = v,
                "header_name" => q.header_name = v,
                "header_value" => q.header_value = v,
                "message_id" => q.message_id = v,
                "correlation_id" => q.correlation_id = v,
                "application_id" => q.application_id = v,
                "sender" => q.sender = v,
                "receiver" => q.receiver = v,
                "error_group" => q.error_group = v,
                "sort" => q.sort = v,
                "after" => q.after = v,
                "before" => q.before = v,
                "limit" => q.limit = v.and_then(|l| l.parse().ok()),
                _ => {}
            }
        }
        serde_urlencoded_pairs(&q)
    }
}

fn serde_urlencoded_pairs(q: &MonitorQuery) -> String {
    let pairs: [(&str, &Option<String>); 18] = [
        ("tenant", &q.tenant),
        ("range", &q.range),
        ("from", &q.from),
        ("to", &q.to),
        ("status", &q.status),
        ("iflow", &q.iflow),
        ("package", &q.package),
        ("header_name", &q.header_name),
        ("header_value", &q.header_value),
        ("message_id", &q.message_id),
        ("correlation_id", &q.correlation_id),
        ("application_id", &q.application_id),
        ("sender", &q.sender),
        ("receiver", &q.receiver),
        ("error_group", &q.error_group),
        ("sort", &q.sort),
        ("after", &q.after),
        ("before", &q.before),
    ];
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if MULTI.contains(&k) {
            // Repeated, as the form's checkboxes send them.
            for one in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                out.append_pair(k, one);
            }
        } else {
            out.append_pair(k, v);
        }
    }
    if let Some(l) = q.limit {
        out.append_pair("limit", &l.to_string());
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_to_the_last_24_hours_newest_first() {
        let p = MonitorQuery::default().parse(now()).unwrap();
        assert_eq!(p.to, now());
        assert_eq!(p.from, now() - Duration::hours(24));
        assert_eq!(p.range.as_deref(), Some("24h"));
        assert_eq!(p.limit, DEFAULT_LIMIT);
        assert!(p.facets);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let bad = |q: MonitorQuery, field: &str| {
            let e = q.parse(now()).unwrap_err();
            assert_eq!(e.fields()[0].field, field, "{e}");
        };
        bad(
            MonitorQuery {
                range: Some("2y".into()),
                ..Default::default()
            },
            "range",
        );
        bad(
            MonitorQuery {
                from: Some("yesterday".into()),
                ..Default::default()
            },
            "from",
        );
        bad(
            MonitorQuery {
                limit: Some(0),
                ..Default::default()
            },
            "limit",
        );
        bad(
            MonitorQuery {
                limit: Some(501),
                ..Default::default()
            },
            "limit",
        );
        bad(
            MonitorQuery {
                sort: Some("random".into()),
                ..Default::default()
            },
            "sort",
        );
        bad(
            MonitorQuery {
                tenant: Some("1,x".into()),
                ..Default::default()
            },
            "tenant",
        );
        bad(
            MonitorQuery {
                header_value: Some("v".into()),
                ..Default::default()
            },
            "header_name",
        );
        bad(
            MonitorQuery {
                error_group: Some("G1".into()),
                ..Default::default()
            },
            "error_group",
        );
        bad(
            MonitorQuery {
                from: Some("2026-11-27T00:00:00Z".into()),
                ..Default::default()
            },
            "from",
        );
    }

    #[test]
    fn an_id_search_ignores_the_time_range() {
        for q in [
            MonitorQuery {
                message_id: Some("AGl2".into()),
                range: Some("15m".into()),
                ..Default::default()
            },
            MonitorQuery {
                correlation_id: Some("c-1".into()),
                ..Default::default()
            },
            MonitorQuery {
                application_id: Some("PO-7".into()),
                from: Some("2026-11-26T08:00:00Z".into()),
                ..Default::default()
            },
        ] {
            let p = q.parse(now()).unwrap();
            assert!(p.id_search);
            assert_eq!((p.filter.from, p.filter.to), (None, None), "{q:?}");
        }
        let p = MonitorQuery {
            range: Some("15m".into()),
            ..Default::default()
        }
        .parse(now())
        .unwrap();
        assert!(!p.id_search);
        assert_eq!(p.filter.from, Some(now() - Duration::minutes(15)));
    }

    #[test]
    fn absolute_ranges_accept_browser_datetime_local() {
        let q = MonitorQuery {
            from: Some("2026-11-26T08:00".into()),
            to: Some("2026-11-26T09:30:00Z".into()),
            status: Some("failed, retry".into()),
            ..Default::default()
        };
        let p = q.parse(now()).unwrap();
        assert_eq!(p.from.to_rfc3339(), "2026-11-26T08:00:00+00:00");
        assert_eq!(p.filter.statuses, vec!["FAILED", "RETRY"]);
        assert!(p.range.is_none());
    }

    #[test]
    fn repeated_statuses_and_tenants_are_one_filter() {
        let q: MonitorQuery =
            from_query_string("status=FAILED&status=retry&tenant=1&tenant=2&range=1h").unwrap();
        assert_eq!(q.status.as_deref(), Some("FAILED,retry"));
        let p = q.parse(now()).unwrap();
        assert_eq!(p.filter.statuses, vec!["FAILED", "RETRY"]);
        assert_eq!(p.tenants, Some(vec![1, 2]));
        // Links send them repeated again.
        let s = q.with(&[]);
        assert!(s.contains("status=FAILED&status=retry"), "{s}");
        assert!(s.contains("tenant=1&tenant=2"), "{s}");
        let e = from_query_string::<MonitorQuery>("range=1h&range=4h").unwrap_err();
        assert_eq!(e.fields()[0].field, "range");
        let e = MonitorQuery {
            after: Some("a".into()),
            before: Some("b".into()),
            ..Default::default()
        }
        .parse(now())
        .unwrap_err();
        assert_eq!(e.fields()[0].field, "before");
    }

    #[test]
    fn links_keep_filters_and_replace_what_changes() {
        let q = MonitorQuery {
            status: Some("FAILED".into()),
            header_value: Some("a&b=c".into()),
            header_name: Some("Order".into()),
            after: Some("cur".into()),
            ..Default::default()
        };
        let s = q.with(&[("after", None), ("iflow", Some("Flow 1"))]);
        assert!(s.contains("status=FAILED"));
        assert!(s.contains("header_value=a%26b%3Dc"));
        assert!(s.contains("iflow=Flow+1"));
        assert!(!s.contains("after="));
    }
}
