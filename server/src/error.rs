//! The one place where failures become HTTP responses.
//!
//! Handlers return `ApiError`; it always renders as a Kubernetes `Status`
//! object with `Content-Type: application/json`. Storage errors are mapped
//! here (with the resource and name they concern); internal failures are
//! logged with their detail and answered with a generic 500 that reveals
//! nothing about the server's internals.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use trellis_apis::{GroupResource, Status};
use trellis_storage::Error as StorageError;

/// A request failure, already in the form the client will see.
#[derive(Debug, Clone)]
pub struct ApiError(pub Box<Status>);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> &Status {
        &self.0
    }

    pub fn code(&self) -> u16 {
        self.0.code
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Status::bad_request(msg).into()
    }

    /// A 500 whose detail goes to the log only.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Status::internal(context.to_string()).into()
    }

    /// Maps a storage failure on `gr`/`name` to the Kubernetes answer.
    pub fn from_storage(e: StorageError, gr: &GroupResource, name: &str) -> Self {
        match e {
            StorageError::NotFound => Status::not_found(gr, name).into(),
            StorageError::AlreadyExists => Status::already_exists(gr, name).into(),
            StorageError::Conflict { .. } => Status::modified_conflict(gr, name).into(),
            StorageError::UidMismatch { expected, current } => Status::conflict(
                gr,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {expected}, UID in object meta: {current}"
                ),
            )
            .into(),
            StorageError::Expired { requested, .. } => {
                Status::expired(format!("too old resource version: {requested}")).into()
            }
            StorageError::FutureRevision { requested, current } => Status::too_large_resource_version(requested, current).into(),
            StorageError::WatcherTooSlow => Status::expired("watch fell too far behind; restart it").into(),
            StorageError::Closed => Status::failure(503, "ServiceUnavailable", "the server is shutting down").into(),
            StorageError::InvalidArgument(detail) => Self::internal("invalid storage request", detail),
            StorageError::Engine(detail) => Self::internal("storage failure", detail),
        }
    }
}

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        ApiError(Box::new(s))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.0.code, self.0.reason, self.0.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, self.0.to_json()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.0.details.retry_after_seconds {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
