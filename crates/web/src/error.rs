//! Errors of the UI and the API. API errors are JSON (`{"error", "message", "fields"}`); page
//! errors are a small HTML page. Internal causes are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use domain::tenant::{FieldError, InvalidSettings};
use serde::Serialize;
use store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Invalid {
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {0} s")]
    TooMany(u64),
    #[error("{0}")]
    Unavailable(String),
    /// Every password-hashing slot is busy; retry after this many seconds.
    #[error("too many sign-ins at once; try again in {0} s")]
    Busy(u64),
    /// Logged in full where it happens; the user sees only that something failed.
    #[error("internal error")]
    Internal,
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Invalid {
            message: format!("{field}: {message}"),
            fields: vec![FieldError {
                field: field.into(),
                message,
            }],
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::Forbidden(why.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Invalid { .. } => "invalid",
            Self::Conflict(_) => "conflict",
            Self::TooMany(_) => "too_many_requests",
            Self::Unavailable(_) | Self::Busy(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        match self {
            Self::Invalid { fields, .. } => fields,
            _ => &[],
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_not_found() {
            return Self::NotFound(e.to_string());
        }
        if e.is_unique_violation() {
            return Self::Conflict("that name is taken".into());
        }
        if let StoreError::InvalidArgument { field, reason } = &e {
            return Self::invalid(field, reason.clone());
        }
        tracing::error!("database: {e}");
        Self::Unavailable("the database did not answer; try again".into())
    }
}

impl From<InvalidSettings> for AppError {
    fn from(e: InvalidSettings) -> Self {
        Self::Invalid {
            message: e.to_string(),
            fields: e.0,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `too_many_requests`, `unavailable`, `internal`.
    pub error: &'static str,
    pub message: String,
    /// For `invalid`: every field with its problem (`connection.api_url`, `limit`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldErrorBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

/// An error answered as JSON.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.0.status());
        if matches!(self.0, AppError::Unauthorized) {
            r.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let AppError::TooMany(secs) | AppError::Busy(secs) = self.0 {
            r.insert_header(("Retry-After", secs.to_string()));
        }
        r.json(ErrorBody {
            error: self.0.code(),
            message: self.0.to_string(),
            fields: self
                .0
                .fields()
                .iter()
                .map(|f| FieldErrorBody {
                    field: f.field.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        })
    }
}

/// An error answered as an HTML page.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.0.status();
        let body = crate::html::error_page(status, &self.0.to_string());
        let mut r = HttpResponse::build(status);
        if let AppError::TooMany(secs) | AppError::Busy(secs) = self.0 {
            r.insert_header(("Retry-After", secs.to_string()));
        }
        r.content_type("text/html; charset=utf-8").body(body)
    }
}

/// `e` answered the way the request expects: JSON under `/api/`, an HTML page elsewhere (for
/// extractor failures, which run before any handler chose).
pub fn for_request(req: &actix_web::HttpRequest, e: AppError) -> actix_web::Error {
    if is_api_path(req.path()) {
        ApiError(e).into()
    } else {
        PageError(e).into()
    }
}

/// Whether a request path is the JSON API's (under any `APP_BASE_PATH`).
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path.contains("/api/") || path.ends_with("/api")
}

pub type ApiResult<T> = Result<T, ApiError>;
pub type PageResult<T> = Result<T, PageError>;
