//! `meta/v1 Status`: the body of every error response.
//!
//! Constructors mirror `k8s.io/apimachinery/pkg/api/errors` (`NewNotFound`,
//! `NewConflict`, ...), including the message texts clients print and the
//! `details.kind` conventions (the plural resource for resource errors, the
//! Kind for validation errors).

use serde::{Deserialize, Serialize};

use crate::field_error::{FieldError, aggregate};

/// A group and resource (plural), as in `schema.GroupResource`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        GroupResource {
            group: group.into(),
            resource: resource.into(),
        }
    }
}

impl std::fmt::Display for GroupResource {
    /// `configmaps` for the core group, `leases.coordination.k8s.io` otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A group and kind, as in `schema.GroupKind`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl std::fmt::Display for GroupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct StatusCause {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub field: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub causes: Vec<StatusCause>,
    #[serde(
        rename = "retryAfterSeconds",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub retry_after_seconds: Option<i32>,
}

impl StatusDetails {
    fn is_empty(&self) -> bool {
        *self == StatusDetails::default()
    }
}

/// A `Status` object. `code` is the HTTP status code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub kind: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    #[serde(skip_serializing_if = "StatusDetails::is_empty", default)]
    pub details: StatusDetails,
    pub code: u16,
}

impl Status {
    /// A failure with the given code, reason and message.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: Default::default(),
            status: "Failure".into(),
            message: message.into(),
            reason: reason.into(),
            details: StatusDetails::default(),
            code,
        }
    }

    /// `{"status":"Success"}`, as returned by some deletes.
    pub fn success(details: StatusDetails) -> Self {
        Status {
            status: "Success".into(),
            code: 200,
            details,
            ..Status::failure(200, "", "")
        }
    }

    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = details;
        self
    }

    fn resource_details(gr: &GroupResource, name: &str) -> StatusDetails {
        StatusDetails {
            name: name.into(),
            group: gr.group.clone(),
            kind: gr.resource.clone(),
            ..Default::default()
        }
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::failure(404, "NotFound", format!("{gr} \"{name}\" not found"))
            .with_details(Self::resource_details(gr, name))
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::failure(
            409,
            "AlreadyExists",
            format!("{gr} \"{name}\" already exists"),
        )
        .with_details(Self::resource_details(gr, name))
    }

    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self::failure(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"),
        )
        .with_details(Self::resource_details(gr, name))
    }

    /// The standard optimistic-concurrency conflict message.
    pub fn modified_conflict(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(gk: &GroupKind, name: &str, errors: &[FieldError]) -> Self {
        let causes = errors
            .iter()
            .map(|e| StatusCause {
                reason: e.kind.cause_type().into(),
                message: e.body(),
                field: e.field.clone(),
            })
            .collect();
        Self::failure(
            422,
            "Invalid",
            format!("{gk} \"{name}\" is invalid: {}", aggregate(errors)),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: gk.group.clone(),
            kind: gk.kind.clone(),
            causes,
            ..Default::default()
        })
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failure(400, "BadRequest", message)
    }

    pub fn forbidden(gr: &GroupResource, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} \"{name}\" is forbidden: {why}")
        };
        Self::failure(403, "Forbidden", message).with_details(Self::resource_details(gr, name))
    }

    pub fn method_not_supported(gr: &GroupResource, action: &str) -> Self {
        Self::failure(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind \"{gr}\""),
        )
        .with_details(Self::resource_details(gr, ""))
    }

    /// A method no handler of the path serves (go-restful's 405, converted
    /// by kube's `serviceErrorHandler`).
    pub fn method_not_allowed() -> Self {
        Self::failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::failure(406, "NotAcceptable", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::failure(415, "UnsupportedMediaType", message)
    }

    /// 410 `Expired` (too old resource version, expired continue token).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::failure(410, "Expired", message)
    }

    pub fn timeout(message: impl Into<String>, retry_after_seconds: i32) -> Self {
        Self::failure(504, "Timeout", message).with_details(StatusDetails {
            retry_after_seconds: Some(retry_after_seconds),
            ..Default::default()
        })
    }

    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut s = Self::timeout(
            format!("Too large resource version: {requested}, current: {current}"),
            1,
        );
        s.details.causes.push(StatusCause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        });
        s
    }

    pub fn request_entity_too_large(message: impl Into<String>) -> Self {
        Self::failure(413, "RequestEntityTooLarge", message)
    }

    pub fn unauthorized() -> Self {
        Self::failure(401, "Unauthorized", "Unauthorized")
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i32) -> Self {
        Self::failure(429, "TooManyRequests", message).with_details(StatusDetails {
            retry_after_seconds: Some(retry_after_seconds),
            ..Default::default()
        })
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::failure(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                message: "an internal error occurred".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    /// The answer for paths no handler serves.
    pub fn path_not_found() -> Self {
        Self::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: "UnexpectedServerResponse".into(),
                message: "404 page not found".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("Status serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kubernetes() {
        let cm = GroupResource::new("", "configmaps");
        assert_eq!(
            Status::not_found(&cm, "x").message,
            "configmaps \"x\" not found"
        );
        let lease = GroupResource::new("coordination.k8s.io", "leases");
        let s = Status::already_exists(&lease, "l");
        assert_eq!(s.message, "leases.coordination.k8s.io \"l\" already exists");
        assert_eq!(s.code, 409);
        let j: serde_json::Value =
            serde_json::from_slice(&Status::not_found(&cm, "x").to_json()).unwrap();
        assert_eq!(
            j["details"],
            serde_json::json!({"name": "x", "kind": "configmaps"})
        );
        assert_eq!(j["metadata"], serde_json::json!({}));
        let inv = Status::invalid(
            &GroupKind {
                group: String::new(),
                kind: "ConfigMap".into(),
            },
            "Bad",
            &[FieldError::invalid("metadata.name", "Bad", "nope")],
        );
        assert_eq!(
            inv.message,
            "ConfigMap \"Bad\" is invalid: metadata.name: Invalid value: \"Bad\": nope"
        );
        assert_eq!(inv.details.causes[0].reason, "FieldValueInvalid");
        assert_eq!(
            inv.details.causes[0].message,
            "Invalid value: \"Bad\": nope"
        );
        assert_eq!(inv.details.causes[0].field, "metadata.name");
    }
}
