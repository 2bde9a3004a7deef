//! The Errors list's query string, shared by the page and `GET /api/error-groups`: tenant,
//! iFlow, package, state, range (quick or absolute), text, sort, page size and cursor. Every
//! problem names its parameter.

use chrono::{DateTime, Duration, Utc};
use domain::errors::lifecycle::GroupState;
use serde::{Deserialize, Serialize};
use store::repo::error_groups::GroupSort;
use utoipa::IntoParams;

use crate::error::AppError;
use crate::query::{QUICK_RANGES, parse_time};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// The states a filter accepts, as the API spells them.
pub const STATES: [&str; 6] = [
    "new",
    "ongoing",
    "escalating",
    "regressed",
    "resolved",
    "ignored",
];

#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupsQuery {
    /// One tenant id (default: every tenant you may see).
    pub tenant: Option<String>,
    /// iFlow id (exact).
    pub iflow: Option<String>,
    /// Package id (exact).
    pub package: Option<String>,
    /// `new`, `ongoing`, `escalating`, `regressed`, `resolved` or `ignored`.
    pub state: Option<String>,
    /// Quick range ending now for the occurrence counts: `15m`, `1h`, `4h`, `24h` (default),
    /// `7d`, `30d`. Ignored when `from` is given.
    pub range: Option<String>,
    /// Start of the range (inclusive), RFC 3339.
    pub from: Option<String>,
    /// End of the range (exclusive), RFC 3339; default now.
    pub to: Option<String>,
    /// Text in the title or the iFlow (case-insensitive).
    pub q: Option<String>,
    /// `last_seen` (default), `occurrences` (in the range) or `first_seen`; newest or most first.
    pub sort: Option<String>,
    /// Groups per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// A parsed [`GroupsQuery`]: the store's query without the tenants (added per user).
#[derive(Debug, Clone)]
pub struct ParsedGroups {
    pub tenant: Option<i64>,
    pub iflow: Option<String>,
    pub package: Option<String>,
    pub state: Option<GroupState>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The quick range in effect, if any.
    pub range: Option<String>,
    pub q: Option<String>,
    pub sort: GroupSort,
    pub limit: u64,
    pub after: Option<String>,
}

pub(super) fn text(
    v: &Option<String>,
    field: &str,
    max: usize,
) -> Result<Option<String>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max => Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(s) if s.contains('\0') => Err(AppError::invalid(field, "must not contain NUL")),
        Some(s) => Ok(Some(s.to_string())),
    }
}

pub(super) fn time(v: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match text(v, field, 100)? {
        None => Ok(None),
        Some(s) => parse_time(&s)
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "must be a time like 2026-11-26T08:00:00Z")),
    }
}

pub fn parse_state(v: &str, field: &str) -> Result<GroupState, AppError> {
    v.trim()
        .parse::<GroupState>()
        .map_err(|_| AppError::invalid(field, format!("must be one of {}", STATES.join(", "))))
}

pub fn sort_name(s: GroupSort) -> &'static str {
    match s {
        GroupSort::LastSeen => "last_seen",
        GroupSort::Occurrences => "occurrences",
        GroupSort::FirstSeen => "first_seen",
    }
}

impl GroupsQuery {
    pub fn parse(&self, now: DateTime<Utc>) -> Result<ParsedGroups, AppError> {
        let tenant = text(&self.tenant, "tenant", 20)?
            .map(|s| s.parse::<i64>())
            .transpose()
            .map_err(|_| AppError::invalid("tenant", "must be a tenant id"))?;
        let state = text(&self.state, "state", 20)?
            .map(|s| parse_state(&s, "state"))
            .transpose()?;
        let from = time(&self.from, "from")?;
        let to = time(&self.to, "to")?.unwrap_or(now);
        let (from, range) = match from {
            Some(f) => (f, None),
            None => {
                let r = text(&self.range, "range", 10)?.unwrap_or_else(|| "24h".into());
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
        if to - from > Duration::days(400) {
            return Err(AppError::invalid(
                "from",
                "the range may span at most 400 days",
            ));
        }
        let sort = match text(&self.sort, "sort", 20)?.as_deref() {
            None | Some("last_seen") => GroupSort::LastSeen,
            Some("occurrences") => GroupSort::Occurrences,
            Some("first_seen") => GroupSort::FirstSeen,
            Some(_) => {
                return Err(AppError::invalid(
                    "sort",
                    "must be last_seen, occurrences or first_seen",
                ));
            }
        };
        let limit = match text(&self.limit, "limit", 10)? {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    AppError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}"))
                })?,
        };
        Ok(ParsedGroups {
            tenant,
            iflow: text(&self.iflow, "iflow", 500)?,
            package: text(&self.package, "package", 500)?,
            state,
            from,
            to,
            range,
            q: text(&self.q, "q", 500)?,
            sort,
            limit,
            after: text(&self.after, "after", 1000)?,
        })
    }

    /// This query as a query string, with some parameters replaced (for links: sorting, paging).
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut q = self.clone();
        for (k, v) in changes {
            let v = v.map(str::to_string);
            match *k {
                "tenant" => q.tenant = v,
                "iflow" => q.iflow = v,
                "package" => q.package = v,
                "state" => q.state = v,
                "range" => q.range = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "q" => q.q = v,
                "sort" => q.sort = v,
                "limit" => q.limit = v,
                "after" => q.after = v,
                _ => {}
            }
        }
        let pairs = [
            ("tenant", &q.tenant),
            ("iflow", &q.iflow),
            ("package", &q.package),
            ("state", &q.state),
            ("range", &q.range),
            ("from", &q.from),
            ("to", &q.to),
            ("q", &q.q),
            ("sort", &q.sort),
            ("limit", &q.limit),
            ("after", &q.after),
        ];
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-08T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_to_the_last_24_hours_by_last_seen() {
        let p = GroupsQuery::default().parse(now()).unwrap();
        assert_eq!(p.from, now() - Duration::hours(24));
        assert_eq!(p.sort, GroupSort::LastSeen);
        assert_eq!(p.limit, DEFAULT_LIMIT);
        assert!(p.state.is_none() && p.tenant.is_none());
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let bad = |q: GroupsQuery, field: &str| {
            let e = q.parse(now()).unwrap_err();
            assert_eq!(e.fields()[0].field, field, "{e}");
        };
        let q = GroupsQuery::default;
        bad(
            GroupsQuery {
                tenant: Some("x".into()),
                ..q()
            },
            "tenant",
        );
        bad(
            GroupsQuery {
                state: Some("open".into()),
                ..q()
            },
            "state",
        );
        bad(
            GroupsQuery {
                range: Some("2y".into()),
                ..q()
            },
            "range",
        );
        bad(
            GroupsQuery {
                from: Some("yesterday".into()),
                ..q()
            },
            "from",
        );
        bad(
            GroupsQuery {
                to: Some("soon".into()),
                ..q()
            },
            "to",
        );
        bad(
            GroupsQuery {
                sort: Some("title".into()),
                ..q()
            },
            "sort",
        );
        bad(
            GroupsQuery {
                limit: Some("0".into()),
                ..q()
            },
            "limit",
        );
        bad(
            GroupsQuery {
                limit: Some("501".into()),
                ..q()
            },
            "limit",
        );
        bad(
            GroupsQuery {
                q: Some("a\0b".into()),
                ..q()
            },
            "q",
        );
        bad(
            GroupsQuery {
                q: Some("x".repeat(501)),
                ..q()
            },
            "q",
        );
    }

    #[test]
    fn sorts_and_states_parse() {
        for (s, want) in [
            ("occurrences", GroupSort::Occurrences),
            ("first_seen", GroupSort::FirstSeen),
        ] {
            let p = GroupsQuery {
                sort: Some(s.into()),
                ..Default::default()
            }
            .parse(now())
            .unwrap();
            assert_eq!(p.sort, want);
        }
        for s in STATES {
            assert_eq!(parse_state(s, "state").unwrap().as_str(), s);
        }
    }

    #[test]
    fn links_keep_filters_and_replace_what_changes() {
        let q = GroupsQuery {
            state: Some("new".into()),
            q: Some("a&b".into()),
            after: Some("cur".into()),
            ..Default::default()
        };
        let s = q.with(&[("after", None), ("sort", Some("occurrences"))]);
        assert!(s.contains("state=new"));
        assert!(s.contains("q=a%26b"));
        assert!(s.contains("sort=occurrences"));
        assert!(!s.contains("after="));
    }
}
