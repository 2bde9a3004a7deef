//! What a request handler produces before it becomes an HTTP response: a status, a content type,
//! a body and a few headers. Kept free of actix types so the same dispatch code serves HTTP and
//! in-process callers (benchmarks, tests).

use crate::odata;

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// MPL records in the body (for the served-records counter).
    pub mpl_records: usize,
}

impl Reply {
    pub(crate) fn json(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type: odata::JSON.into(),
            body,
            headers: Vec::new(),
            mpl_records: 0,
        }
    }

    pub(crate) fn bytes(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type: content_type.into(),
            body,
            headers: Vec::new(),
            mpl_records: 0,
        }
    }

    pub(crate) fn text(body: String) -> Reply {
        Reply::bytes("text/plain", body.into_bytes())
    }

    /// A 401 without an OData body, as the tenant's gateway answers.
    pub(crate) fn unauthorized(challenge: &str) -> Reply {
        Reply {
            status: 401,
            content_type: "text/plain".into(),
            body: Vec::new(),
            headers: vec![("WWW-Authenticate", challenge.to_string())],
            mpl_records: 0,
        }
    }
}

/// An error the API reports with the OData error envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }

    pub(crate) fn into_reply(self) -> Reply {
        Reply {
            status: self.status,
            content_type: odata::JSON.into(),
            body: odata::error_body(self.status, &self.message),
            headers: Vec::new(),
            mpl_records: 0,
        }
    }
}

impl From<crate::filter::FilterError> for ApiError {
    fn from(e: crate::filter::FilterError) -> Self {
        ApiError::bad_request(e.0)
    }
}
