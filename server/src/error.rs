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

/// Failures of the pure API logic (patches, protobuf). A protobuf failure
/// reaching here is a request body the server could not decode; encoding
/// failures are server faults and are reported with [`ApiError::internal`]
/// where they happen.
impl From<trellis_apis::Error> for ApiError {
    fn from(e: trellis_apis::Error) -> Self {
        use trellis_apis::Error as E;
        use trellis_apis::patch::PatchError;
        match e {
            E::Patch(PatchError::Malformed(m)) => ApiError::bad_request(m),
            E::Patch(e @ PatchError::TooManyOperations(_)) => {
                Status::request_entity_too_large(e.to_string()).into()
            }
            // Upstream wraps a patch that does not apply in a generic 422.
            E::Patch(PatchError::Inapplicable(m)) => {
                let mut s = Status::failure(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                );
                s.details.causes.push(trellis_apis::StatusCause {
                    reason: "UnexpectedServerResponse".into(),
                    message: m,
                    field: String::new(),
                });
                s.into()
            }
            // Upstream answers some malformed directives (an unknown
            // `$patch`, a missing merge key) with a 500 through
            // `ErrorToAPIStatus`; they are the client's fault, so a 400 here.
            E::StrategicMerge(e) => {
                let (code, reason) = match e.http_code() {
                    500 => (400, "BadRequest"),
                    c => (c, e.status_reason()),
                };
                Status::failure(code, reason, e.status_message()).into()
            }
            E::Protobuf(e) => ApiError::bad_request(format!("protobuf decoding error: {e}")),
        }
    }
}

impl From<trellis_apis::patch::PatchError> for ApiError {
    fn from(e: trellis_apis::patch::PatchError) -> Self {
        trellis_apis::Error::from(e).into()
    }
}

impl From<trellis_apis::smp::SmpError> for ApiError {
    fn from(e: trellis_apis::smp::SmpError) -> Self {
        trellis_apis::Error::from(e).into()
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
