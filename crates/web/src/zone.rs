//! The time zone pages show times in: the user's account setting, else the browser's (the
//! script reports it in the `im_tz` cookie), else UTC. Set per request by [`scoped`] (pages
//! only: the JSON API speaks RFC 3339 in UTC) and read where times are formatted, so no
//! handler has to pass it along.

use actix_web::FromRequest;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::auth::Principal;

/// The cookie the script sets to the browser's zone (an IANA name).
pub const COOKIE: &str = "im_tz";

/// Where the zone in effect came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Account,
    Browser,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Account => "account",
            Source::Browser => "browser",
            Source::Default => "default",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub tz: Tz,
    pub source: Source,
}

impl Zone {
    pub const UTC: Zone = Zone {
        tz: Tz::UTC,
        source: Source::Default,
    };

    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// `t` as a wall-clock time in this zone, formatted.
    pub fn format(&self, t: DateTime<Utc>, fmt: &str) -> String {
        t.with_timezone(&self.tz).format(fmt).to_string()
    }

    /// A wall-clock time in this zone as UTC (the earlier of two in a repeated hour; a time in
    /// a skipped hour is read one hour later).
    pub fn from_local(&self, t: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&t)
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(t + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }
}

tokio::task_local! {
    static ZONE: Zone;
}

/// The zone of the request being handled (UTC outside one).
pub fn current() -> Zone {
    ZONE.try_with(|z| *z).unwrap_or(Zone::UTC)
}

/// An IANA zone name (`Europe/Berlin`), as the account form and the cookie give it.
pub fn parse(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    name.parse::<Tz>().ok()
}

/// Middleware (inside the guard, which has resolved the principal): run the request with its
/// zone in scope.
pub async fn scoped(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let zone = if crate::error::is_api_path(req.path()) {
        Zone::UTC
    } else {
        let account = Principal::from_request(req.request(), &mut actix_web::dev::Payload::None)
            .await
            .ok()
            .and_then(|p| p.user.time_zone.as_deref().and_then(parse));
        let browser = req.cookie(COOKIE).and_then(|c| parse(c.value()));
        match (account, browser) {
            (Some(tz), _) => Zone {
                tz,
                source: Source::Account,
            },
            (None, Some(tz)) => Zone {
                tz,
                source: Source::Browser,
            },
            (None, None) => Zone::UTC,
        }
    };
    ZONE.scope(zone, next.call(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_convert_both_ways() {
        assert_eq!(parse("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(parse("Mars/Olympus"), None);
        assert_eq!(parse(""), None);
        let z = Zone {
            tz: Tz::Europe__Berlin,
            source: Source::Account,
        };
        let t: DateTime<Utc> = "2026-12-08T10:00:00Z".parse().unwrap();
        assert_eq!(z.format(t, "%H:%M %Z"), "11:00 CET");
        let local = NaiveDateTime::parse_from_str("2026-12-08T11:00", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(z.from_local(local), Some(t));
        assert_eq!(current(), Zone::UTC);
    }
}
