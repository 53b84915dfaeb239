//! `serviceaccounts/<name>/token`: TokenRequest, what `kubectl create
//! token` calls.
//!
//! Nothing is stored: the answer is the request with `status.token`, a JWT
//! signed by [`crate::auth::ServiceAccounts`] for the ServiceAccount as it
//! exists now (its uid goes into the token, so deleting the account revokes
//! the token). As upstream: audiences default to the server's, lifetime to
//! an hour, shorter than ten minutes or longer than 2^32 s is invalid, and a
//! configured maximum shortens longer requests with a warning. Bound object
//! references (pods, secrets) are not supported and are refused.
//!
//! kubectl sends protobuf and asks for protobuf; bodies are read in any of
//! JSON, YAML or protobuf and answered in the negotiated encoding.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use trellis_apis::{FieldError, GroupKind, Status};

use super::resource::Call;
use crate::auth::service_account::{
    DEFAULT_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS, Subject,
};
use crate::error::{ApiError, ApiResult};
use crate::request::body;
use crate::request::info::Verb;
use crate::request::media::{self, BodyFormat, Output, Shape};
use crate::response;

const API_VERSION: &str = "authentication.k8s.io/v1";

fn token_request_kind() -> GroupKind {
    GroupKind {
        group: "authentication.k8s.io".into(),
        kind: "TokenRequest".into(),
    }
}

/// The parts of a TokenRequest the server reads.
#[derive(Debug, PartialEq)]
struct Request {
    name: Option<String>,
    namespace: Option<String>,
    audiences: Vec<String>,
    expiration_seconds: i64,
}

fn parse(v: &Value) -> ApiResult<Request> {
    let bad = |m: &str| ApiError::bad_request(format!("TokenRequest: {m}"));
    if !v.is_object() {
        return Err(bad("the body is not an object"));
    }
    if let Some(kind) = v
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        && kind != "TokenRequest"
    {
        return Err(bad(&format!("expected kind TokenRequest, got {kind}")));
    }
    if let Some(av) = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        && av != API_VERSION
    {
        return Err(bad(&format!("expected apiVersion {API_VERSION}, got {av}")));
    }
    let meta_str = |field: &str| -> ApiResult<Option<String>> {
        match v.pointer(&format!("/metadata/{field}")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("metadata.{field} must be a string"))),
        }
    };
    let spec = match v.get("spec") {
        None | Some(Value::Null) => &Value::Null,
        Some(s @ Value::Object(_)) => s,
        Some(_) => return Err(bad("spec must be an object")),
    };
    let audiences = match spec.get("audiences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("spec.audiences must be a list of strings"))?,
        Some(_) => return Err(bad("spec.audiences must be a list of strings")),
    };
    let expiration_seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(n) => n
            .as_i64()
            .ok_or_else(|| bad("spec.expirationSeconds must be an integer"))?,
    };
    if spec.get("boundObjectRef").is_some_and(|b| !b.is_null()) {
        return Err(bad("spec.boundObjectRef is not supported"));
    }
    Ok(Request {
        name: meta_str("name")?,
        namespace: meta_str("namespace")?,
        audiences,
        expiration_seconds,
    })
}

impl Call<'_> {
    pub(super) async fn token(
        &self,
        verb: Verb,
        name: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> ApiResult<Response> {
        if verb != Verb::Create {
            let mut gr = self.def.group_resource();
            gr.resource.push_str("/token");
            return Err(Status::method_not_supported(&gr, verb.as_str()).into());
        }
        let Some(namespace) = self.namespace else {
            return Err(Status::path_not_found().into());
        };
        let format = match media::body_format(content_type) {
            Some(f @ (BodyFormat::Json | BodyFormat::Yaml | BodyFormat::Protobuf)) => f,
            _ => {
                return Err(Status::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: {}, {}, {}",
                    media::JSON,
                    media::YAML,
                    media::PROTOBUF
                ))
                .into());
            }
        };
        let bytes = body::read(body).await?;
        let mut req = parse(&body::parse_document(&bytes, format)?)?;
        let gk = token_request_kind();
        if let Some(n) = req.name.as_deref().filter(|n| *n != name) {
            return Err(Status::invalid(
                &gk,
                name,
                &[FieldError::invalid(
                    "metadata.name",
                    n,
                    "must match the service account name if specified",
                )],
            )
            .into());
        }
        if let Some(ns) = req.namespace.as_deref().filter(|ns| *ns != namespace) {
            return Err(Status::invalid(
                &gk,
                name,
                &[FieldError::invalid(
                    "metadata.namespace",
                    ns,
                    "must match the service account namespace if specified",
                )],
            )
            .into());
        }
        let issuer = self.state.auth.service_accounts().ok_or_else(|| {
            ApiError::internal("token request", "token issuing is not configured")
        })?;
        let rec = self
            .state
            .store
            .get(self.cluster, self.def, Some(namespace), name)
            .await?;
        let sa: Value = serde_json::from_slice(&rec.value)
            .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
        let uid = sa
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if req.audiences.is_empty() {
            req.audiences = issuer.audiences().to_vec();
        }
        let secs = req.expiration_seconds;
        let mut errs = Vec::new();
        if secs < MIN_EXPIRATION_SECONDS {
            errs.push(FieldError::invalid(
                "spec.expirationSeconds",
                secs,
                "may not specify a duration less than 10 minutes",
            ));
        }
        if secs > MAX_EXPIRATION_SECONDS {
            errs.push(FieldError::invalid(
                "spec.expirationSeconds",
                secs,
                "may not specify a duration larger than 2^32 seconds",
            ));
        }
        if !errs.is_empty() {
            return Err(Status::invalid(&gk, "", &errs).into());
        }
        let mut warnings = Vec::new();
        if let Some(max) = issuer.max_expiration().filter(|max| secs > *max) {
            warnings.push(format!(
                "requested expiration of {secs} seconds shortened to {max} seconds"
            ));
            req.expiration_seconds = max;
        }
        let now = jiff::Timestamp::now().as_second();
        let subject = Subject {
            cluster: self.cluster,
            namespace,
            name,
            uid,
        };
        let token = issuer
            .issue(&subject, &req.audiences, now, req.expiration_seconds)
            .map_err(|e| ApiError::internal("signing a service account token", e))?;
        let at = |s: i64| {
            jiff::Timestamp::from_second(s)
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        let out = json!({
            "kind": "TokenRequest",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": at(now),
            },
            "spec": {
                "audiences": req.audiences,
                "expirationSeconds": req.expiration_seconds,
            },
            "status": {
                "token": token,
                "expirationTimestamp": at(now + req.expiration_seconds),
            },
        });
        let output = Output {
            encoding: self.output.encoding,
            shape: Shape::Object,
        };
        let resp = response::object(
            self.def,
            output,
            self.include,
            StatusCode::CREATED,
            Bytes::from(out.to_string()),
        )?;
        Ok(response::with_warnings(resp, &warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_requests_with_upstream_defaults() {
        let r =
            parse(&json!({"apiVersion": API_VERSION, "kind": "TokenRequest", "spec": {}})).unwrap();
        assert_eq!(
            r,
            Request {
                name: None,
                namespace: None,
                audiences: vec![],
                expiration_seconds: 3600
            }
        );
        let r = parse(&json!({
            "metadata": {"name": "bot", "namespace": "default"},
            "spec": {"audiences": ["a", "b"], "expirationSeconds": 7200, "boundObjectRef": null}
        }))
        .unwrap();
        assert_eq!(r.name.as_deref(), Some("bot"));
        assert_eq!(r.audiences, ["a", "b"]);
        assert_eq!(r.expiration_seconds, 7200);
        // The protobuf decoder may leave out the spec entirely.
        assert_eq!(parse(&json!({})).unwrap().expiration_seconds, 3600);
    }

    #[test]
    fn malformed_token_requests_are_bad_requests() {
        for body in [
            json!([]),
            json!({"kind": "Pod"}),
            json!({"apiVersion": "v1"}),
            json!({"spec": {"audiences": "a"}}),
            json!({"spec": {"audiences": [1]}}),
            json!({"spec": {"expirationSeconds": "600"}}),
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "name": "p"}}}),
            json!({"metadata": {"name": 1}}),
        ] {
            assert_eq!(parse(&body).unwrap_err().code(), 400, "{body}");
        }
    }
}
