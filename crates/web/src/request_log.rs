//! One log line per request, when its answer is ready, in a `request` span with the method, the
//! route pattern, the status and the duration in milliseconds; lines the handler logs carry the
//! method too. The route is the pattern the request matched (`/api/v1/tenants/{id}`), never the
//! address itself: a query string can hold a token (`?token=…`), and an id in a path says
//! nothing the pattern does not. No header and no cookie is read here.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The route of a request that matched none (a 404 from the default service).
const UNMATCHED: &str = "-";

/// The middleware (`actix_web::middleware::from_fn(request_log::log)`). Wrapped outermost, so
/// answers the guard gives itself (503 while migrating, 401) are logged too.
pub async fn log<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    // At error level on purpose: a span's level only decides whether it exists, and a handler's
    // warnings should carry the request however quiet `RUST_LOG` is.
    let span = tracing::error_span!(
        "request",
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let res = next.call(req).instrument(span.clone()).await;
    let (route, status) = match &res {
        Ok(res) => (res.request().match_pattern(), res.status()),
        Err(e) => (None, e.as_response_error().status_code()),
    };
    // Whole microseconds, in milliseconds: precise enough for a p95, short in the line.
    let micros = started.elapsed().as_micros() as f64;
    span.record("route", route.as_deref().unwrap_or(UNMATCHED));
    span.record("status", status.as_u16());
    span.record("duration_ms", micros / 1000.0);
    span.in_scope(|| tracing::info!("request handled"));
    res
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::Cookie;
    use actix_web::http::header::AUTHORIZATION;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};
    use runtime::logging::{MemoryWriter, json_layer};
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    async fn tenant() -> HttpResponse {
        tracing::info!("looking the tenant up");
        HttpResponse::Ok().body("{}")
    }

    /// The JSON lines logged while `requests` are answered by a small app behind the middleware.
    async fn logged(requests: Vec<test::TestRequest>) -> (String, Vec<Value>) {
        let out = MemoryWriter::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(out.clone()));
        let _default = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new().service(
                web::scope("/im")
                    .wrap(from_fn(log))
                    .route("/api/v1/tenants/{id}", web::get().to(tenant)),
            ),
        )
        .await;
        for req in requests {
            test::call_service(&app, req.to_request()).await;
        }
        let text = out.contents();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (text, lines)
    }

    fn handled(lines: &[Value]) -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["message"] == "request handled")
            .collect()
    }

    #[actix_web::test]
    async fn one_line_per_request_with_the_route_pattern_and_no_secret() {
        let req = test::TestRequest::get()
            .uri("/im/api/v1/tenants/SECRET-ID?token=SECRET-QUERY&x=1")
            .cookie(Cookie::new("im_session", "SECRET-COOKIE"))
            .insert_header((AUTHORIZATION, "Bearer SECRET-TOKEN"));
        let (text, lines) = logged(vec![req]).await;

        let handled = handled(&lines);
        assert_eq!(handled.len(), 1, "{text}");
        let span = &handled[0]["span"];
        assert_eq!(span["name"], "request");
        assert_eq!(span["method"], "GET");
        assert_eq!(span["route"], "/im/api/v1/tenants/{id}");
        assert_eq!(span["status"], 200);
        assert!(
            span["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
            "{text}"
        );
        // The handler's own line is in the request's span.
        let inner = lines
            .iter()
            .find(|l| l["message"] == "looking the tenant up")
            .expect("the handler's line");
        assert_eq!(inner["span"]["method"], "GET");
        for secret in ["SECRET", "token", "im_session", "Bearer"] {
            assert!(!text.contains(secret), "{secret:?} logged: {text}");
        }
    }

    #[actix_web::test]
    async fn an_unmatched_address_is_logged_without_its_path() {
        let req = test::TestRequest::post().uri("/im/nowhere/SECRET-PATH?token=SECRET");
        let (text, lines) = logged(vec![req]).await;

        let handled = handled(&lines);
        assert_eq!(handled.len(), 1, "{text}");
        let span = &handled[0]["span"];
        assert_eq!(span["method"], "POST");
        assert_eq!(span["route"], UNMATCHED);
        assert_eq!(span["status"], 404);
        assert!(!text.contains("SECRET"), "{text}");
    }
}
