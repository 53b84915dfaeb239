//! Review resources (placeholder until implemented).

use axum::body::Body;
use axum::response::Response;
use trellis_apis::Status;

use crate::auth::UserInfo;
use crate::cluster::LogicalCluster;
use crate::error::ApiResult;
use crate::request::info::ResourceRequest;
use crate::state::AppState;

/// Whether `req` addresses a review resource.
pub fn handles(_req: &ResourceRequest) -> bool {
    false
}

pub async fn handle(
    _state: &AppState,
    _cluster: &LogicalCluster,
    _user: &UserInfo,
    _req: ResourceRequest,
    _parts: http::request::Parts,
    _body: Body,
) -> ApiResult<Response> {
    Err(Status::path_not_found().into())
}
