//! The one place where service errors become DALI error documents (a VOTable with
//! `QUERY_STATUS=ERROR`, DALI §4.2 and §4.4.2): HTTP 4xx for the client's errors, 5xx for
//! ours, whose details go to the log and never to the response.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::engine::QueryError;

/// An error answered to a TAP client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A bad or missing parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is larger than the configured limit.
    #[error("request too large: the limit is {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The resource is in a state that does not allow the request (a UWS phase): 403.
    #[error("{0}")]
    Conflict(String),
    /// The result cannot be served in the format the client accepts: 406.
    #[error("{0}")]
    NotAcceptable(String),
    /// A per-user limit is reached: 403, as UWS answers a rejected job.
    #[error("{0}")]
    Limit(String),
    /// Credentials were given and did not verify.
    #[error("{message}")]
    Unauthorized {
        /// Why.
        message: String,
        /// The `WWW-Authenticate` challenge.
        challenge: String,
    },
    /// An UPLOAD could not be used.
    #[error(transparent)]
    Upload(#[from] crate::upload::UploadError),
    /// Admission control refused a sync query: 503 with `Retry-After`.
    #[error(transparent)]
    Busy(crate::ops::Busy),
}

impl ServiceError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            // UWS 1.1 §2.2: a request illegal in the current state, or a rejected job, is 403.
            ServiceError::Conflict(_) | ServiceError::Limit(_) => StatusCode::FORBIDDEN,
            ServiceError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ServiceError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Upload(e) if e.is_limit() => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::Upload(_) => StatusCode::BAD_REQUEST,
            ServiceError::Query(QueryError::Resource(_) | QueryError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServiceError::Query(q) if q.is_user_error() => StatusCode::BAD_REQUEST,
            ServiceError::Query(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown to the client.
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Query(QueryError::Internal(detail)) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error in the service; the operators have the details in their log"
                    .to_string()
            }
            ServiceError::Query(q @ QueryError::Bug(_)) => {
                tracing::error!(error = %q, "bug");
                q.to_string()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        if status.is_client_error() {
            tracing::info!(status = status.as_u16(), %message, "request refused");
        }
        let challenge = match &self {
            ServiceError::Unauthorized { challenge, .. } => Some(challenge.clone()),
            _ => None,
        };
        let retry_after = match &self {
            ServiceError::Busy(b) => Some(b.retry_after),
            _ => None,
        };
        let query_id = crate::ops::current_query_id();
        let infos: Vec<(&str, &str)> = query_id
            .as_deref()
            .map(|q| ("query_id", q))
            .into_iter()
            .collect();
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/x-votable+xml")],
            parallax_formats::votable_error_document_with(&message, &infos),
        )
            .into_response();
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        if let Some(c) = challenge
            && let Ok(v) = header::HeaderValue::from_str(&c)
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}
