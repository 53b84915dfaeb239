//! `/scale` of custom resources: read, replace and patch an
//! `autoscaling/v1` Scale that reads through to the object.
//!
//! A write turns into a read-modify-write of the object itself (the Scale's
//! replicas land at the spec replicas path), so it goes through the same
//! store, validation, generation and managedFields as any update, and races
//! are retried like any other. A Scale that carries a resourceVersion makes
//! it a precondition, as upstream's `scaleUpdatedObjectInfo` does.

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use trellis_apis::{GroupKind, Status, patch};

use super::resource::{Call, decode_patched};
use crate::custom::scale::{desired_replicas, set_replicas, to_scale};
use crate::error::{ApiError, ApiResult};
use crate::registry::store::{Mutation, Store};
use crate::request::body;
use crate::request::info::Verb;
use crate::request::media::{self, BodyFormat};
use crate::request::params::FieldValidation;
use crate::response;

/// How a write describes the new Scale.
enum Change {
    Replace(Value),
    JsonPatch(Vec<patch::RawOperation>),
    Merge(Value),
}

fn scale_kind() -> GroupKind {
    GroupKind {
        group: "autoscaling".into(),
        kind: "Scale".into(),
    }
}

impl Call<'_> {
    pub(super) async fn scale(
        &self,
        verb: Verb,
        name: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> ApiResult<Response> {
        let spec = self
            .def
            .scale
            .clone()
            .ok_or_else(|| ApiError::from(Status::path_not_found()))?;
        let change = match verb {
            Verb::Get => {
                let rec = self
                    .state
                    .store
                    .get(self.cluster, self.def, self.namespace, name)
                    .await?;
                let obj: Value =
                    serde_json::from_slice(&Store::served(self.def, &rec.value).await?)
                        .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
                return Ok(response::json(StatusCode::OK, &to_scale(&spec, &obj)));
            }
            Verb::Update => {
                let format = media::body_format(content_type)
                    .filter(|f| matches!(f, BodyFormat::Json | BodyFormat::Yaml))
                    .ok_or_else(|| {
                        ApiError::from(Status::unsupported_media_type(
                            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
                        ))
                    })?;
                let bytes = body::read(body).await?;
                Change::Replace(body::parse_document(&bytes, format)?)
            }
            Verb::Patch => {
                let bytes = body::read(body).await?;
                match media::body_format(content_type) {
                    Some(BodyFormat::JsonPatch) => {
                        Change::JsonPatch(patch::parse_json_patch(&bytes)?)
                    }
                    // Scale has no lists, so a strategic merge is a merge.
                    Some(BodyFormat::MergePatch | BodyFormat::StrategicMergePatch) => {
                        Change::Merge(serde_json::from_slice(&bytes).map_err(|e| {
                            ApiError::bad_request(format!("error decoding patch: {e}"))
                        })?)
                    }
                    _ => {
                        return Err(Status::unsupported_media_type(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
                        )
                        .into());
                    }
                }
            }
            _ => {
                return Err(Status::method_not_supported(
                    &self.def.group_resource(),
                    verb.as_str(),
                )
                .into());
            }
        };
        let def = self.def;
        let ctx = self.ctx(None);
        let res = self
            .state
            .store
            .update_with(&ctx, name, |cur| {
                let Some(cur) = cur else {
                    return Err(Status::not_found(&def.group_resource(), name).into());
                };
                let current = to_scale(&spec, &cur);
                let new = match &change {
                    Change::Replace(v) => v.clone(),
                    Change::JsonPatch(ops) => patch::apply_json_patch(&current, ops)?,
                    Change::Merge(m) => patch::apply_merge_patch(&current, m)?,
                };
                let replicas = desired_replicas(&new)
                    .map_err(|errs| ApiError::from(Status::invalid(&scale_kind(), name, &errs)))?;
                let cur_rv = current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let pinned_rv = new
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .filter(|rv| {
                        !rv.is_empty() && (matches!(change, Change::Replace(_)) || *rv != cur_rv)
                    })
                    .map(str::to_string);
                let mut obj = cur;
                set_replicas(&spec, &mut obj, replicas);
                let (body, warnings) = decode_patched(def, obj, FieldValidation::Ignore)?;
                Ok(Mutation::Update {
                    body,
                    pinned_rv,
                    warnings,
                })
            })
            .await?;
        let obj: Value = serde_json::from_slice(&res.object)
            .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
        Ok(response::json(StatusCode::OK, &to_scale(&spec, &obj)))
    }
}
