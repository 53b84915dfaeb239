//! The review APIs: "may this user do X?" and "who am I?", answered and
//! never stored.
//!
//! `authorization.k8s.io/v1` SelfSubjectAccessReview, SubjectAccessReview,
//! LocalSubjectAccessReview and SelfSubjectRulesReview, and
//! `authentication.k8s.io/v1` SelfSubjectReview and TokenReview behave as
//! upstream's `pkg/registry/authorization/*` and `pkg/registry/
//! authentication/{selfsubjectreview,tokenreview}` REST storages: a POST decodes the body, validates it
//! as `pkg/apis/authorization/validation` does, asks the same authorizer
//! chain that guards every request ([`crate::authz::Authorizer`]) and
//! answers 201 with the object and its status. Using that one chain is the
//! point: `kubectl auth can-i` must predict exactly what the server will
//! then decide, workspace access included.
//!
//! The dispatcher sends these requests here before the generic store
//! ([`handles`]); the registry still holds their definitions
//! (`builtin::review`) so discovery, OpenAPI and protobuf negotiation treat
//! them like any built-in, and bodies go through the same typed decoding
//! (`Store::decode`: apiVersion/kind checks, unknown fields under
//! `fieldValidation`). Only a collection POST exists, as upstream: other
//! methods on the collection are 405, item and subresource paths 404.
//! Nothing is written, so `dryRun` changes nothing.
//!
//! Fidelity notes: the permission to create these objects is checked by
//! the generic authorization before this handler runs (upstream grants the
//! self reviews to everyone through `system:basic-user`). Responses carry no
//! managedFields (upstream's field manager would add some, which no client
//! reads). Field selectors and label selectors in resourceAttributes are
//! accepted and ignored, as RBAC ignores them. Invalid values that are whole
//! objects are rendered as JSON where Go prints `%#v`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use k8s_openapi::api::authentication::v1::{
    TokenReview, TokenReviewStatus, UserInfo as AuthnUserInfo,
};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview,
    SelfSubjectRulesReview, SubjectAccessReview, SubjectAccessReviewSpec,
    SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use trellis_apis::rbac::{Attributes, Decision, RulesReview};
use trellis_apis::{FieldError, GroupKind, Status};

use crate::auth::UserInfo;
use crate::builtin::review::{AUTHENTICATION_GROUP, AUTHORIZATION_GROUP};
use crate::cluster::LogicalCluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::registry::store::Store;
use crate::request::body;
use crate::request::info::{ResourceRequest, Verb};
use crate::request::media::{self, BodyFormat};
use crate::request::params::Params;
use crate::response;
use crate::state::AppState;
use crate::table::IncludeObject;

/// The review resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Review {
    /// SelfSubjectReview (`kubectl auth whoami`).
    WhoAmI,
    /// TokenReview: who a bearer token stands for.
    Token,
    /// SelfSubjectAccessReview (`kubectl auth can-i`).
    SelfAccess,
    /// SelfSubjectRulesReview (`kubectl auth can-i --list`).
    SelfRules,
    /// SubjectAccessReview.
    SubjectAccess,
    /// LocalSubjectAccessReview.
    LocalAccess,
}

impl Review {
    fn of(group: &str, resource: &str) -> Option<Review> {
        Some(match (group, resource) {
            (AUTHENTICATION_GROUP, "selfsubjectreviews") => Review::WhoAmI,
            (AUTHENTICATION_GROUP, "tokenreviews") => Review::Token,
            (AUTHORIZATION_GROUP, "selfsubjectaccessreviews") => Review::SelfAccess,
            (AUTHORIZATION_GROUP, "selfsubjectrulesreviews") => Review::SelfRules,
            (AUTHORIZATION_GROUP, "subjectaccessreviews") => Review::SubjectAccess,
            (AUTHORIZATION_GROUP, "localsubjectaccessreviews") => Review::LocalAccess,
            _ => return None,
        })
    }
}

/// Whether `req` addresses a review resource (in any version: versions
/// that are not served get their 404 here).
pub fn handles(req: &ResourceRequest) -> bool {
    Review::of(&req.group, &req.resource).is_some()
}

pub async fn handle(
    state: &AppState,
    cluster: &LogicalCluster,
    user: &UserInfo,
    req: ResourceRequest,
    parts: http::request::Parts,
    body: Body,
) -> ApiResult<Response> {
    // Read the whole body before anything can fail: an HTTP/2 answer sent
    // while the client is still uploading ends in a stream reset.
    let bytes = match req.verb {
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection => {
            body::read(body).await?
        }
        _ => Bytes::new(),
    };
    let Some(review) = Review::of(&req.group, &req.resource) else {
        return Err(Status::path_not_found().into());
    };
    let registry = state.clusters.registry(cluster);
    let Some(def) = registry
        .get(&req.group, &req.version, &req.resource)
        .cloned()
    else {
        return Err(Status::path_not_found().into());
    };
    // Upstream registers one route per review: POST on the collection.
    if req.name.is_some()
        || req.subresource.is_some()
        || (!def.namespaced && req.namespace.is_some())
    {
        return Err(Status::path_not_found().into());
    }
    if req.verb != Verb::Create {
        return Err(Status::method_not_supported(&def.group_resource(), req.verb.as_str()).into());
    }
    let Some(namespace) = req.namespace.as_deref().or((!def.namespaced).then_some("")) else {
        return Err(Status::path_not_found().into());
    };
    let params = Params::parse(parts.uri.query())?;
    let header = |name: http::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let output = media::negotiate(
        header(http::header::ACCEPT).as_deref(),
        def.speaks_protobuf(),
    )?;
    let include =
        IncludeObject::parse(params.include_object.as_deref()).map_err(ApiError::bad_request)?;
    let format = match media::body_format(header(http::header::CONTENT_TYPE).as_deref()) {
        Some(BodyFormat::Protobuf) if !def.speaks_protobuf() => None,
        Some(f) if f.is_patch() => None,
        f => f,
    }
    .ok_or_else(|| {
        ApiError::from(Status::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {}, {}, {}",
            media::JSON,
            media::YAML,
            media::PROTOBUF
        )))
    })?;
    let value = body::parse_document(&bytes, format)?;
    let (obj, warnings) = Store::decode(&def, value, params.field_validation())?;
    let authz = &state.authz;
    let answer = match review {
        Review::WhoAmI => self_subject_review(user),
        Review::Token => {
            let mut r: TokenReview = typed(obj)?;
            wipe_system_fields(&mut r.metadata);
            let token = r.spec.token.as_deref().unwrap_or_default();
            if token.is_empty() {
                return Err(ApiError::bad_request(
                    "token is required for TokenReview in authentication",
                ));
            }
            let audiences = r.spec.audiences.as_deref().unwrap_or_default();
            let reviewed = state.auth.review_token(token, audiences).await;
            r.status = Some(token_status(reviewed));
            with_null_creation(to_json(&r)?)
        }
        Review::SelfAccess => {
            let mut r: SelfSubjectAccessReview = typed(obj)?;
            wipe_system_fields(&mut r.metadata);
            r.metadata.namespace = None;
            invalid_unless_empty(&def, self_sar_errors(&r))?;
            let attrs = attributes(
                user.clone(),
                r.spec.resource_attributes.as_ref(),
                r.spec.non_resource_attributes.as_ref(),
            );
            r.status = Some(access_status(
                &authz.authorize(&cluster.name, &attrs).await?,
            ));
            with_null_creation(to_json(&r)?)
        }
        Review::SubjectAccess => {
            let mut r: SubjectAccessReview = typed(obj)?;
            wipe_system_fields(&mut r.metadata);
            r.metadata.namespace = None;
            invalid_unless_empty(&def, sar_errors(&r))?;
            let attrs = attributes(
                subject(&r.spec),
                r.spec.resource_attributes.as_ref(),
                r.spec.non_resource_attributes.as_ref(),
            );
            r.status = Some(access_status(
                &authz.authorize(&cluster.name, &attrs).await?,
            ));
            with_null_creation(to_json(&r)?)
        }
        Review::LocalAccess => {
            let mut r: LocalSubjectAccessReview = typed(obj)?;
            wipe_system_fields(&mut r.metadata);
            // Upstream's create handler defaults the object's namespace to
            // the request's and refuses a different one, before the
            // review's own validation.
            match r.metadata.namespace.as_deref() {
                None | Some("") => r.metadata.namespace = Some(namespace.to_string()),
                Some(ns) if ns == namespace => {}
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
            invalid_unless_empty(&def, local_sar_errors(&r))?;
            let attrs = attributes(subject(&r.spec), r.spec.resource_attributes.as_ref(), None);
            r.status = Some(access_status(
                &authz.authorize(&cluster.name, &attrs).await?,
            ));
            with_null_creation(to_json(&r)?)
        }
        Review::SelfRules => {
            let r: SelfSubjectRulesReview = typed(obj)?;
            let ns = r.spec.namespace.as_deref().unwrap_or("");
            if ns.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            let rules = authz.rules_review(&cluster.name, user, ns).await?;
            rules_review_answer(rules)
        }
    };
    let resp = response::object(
        &def,
        output,
        include,
        StatusCode::CREATED,
        Bytes::from(trellis_apis::proto::order::to_vec(&answer)),
    )?;
    Ok(response::with_warnings(resp, &warnings))
}

/// The decoded body (canonical JSON of `T`) as `T`.
fn typed<T: DeserializeOwned>(obj: Value) -> ApiResult<T> {
    serde_json::from_value(obj).map_err(|e| ApiError::internal("re-decoding a review", e))
}

fn to_json<T: Serialize>(obj: &T) -> ApiResult<Value> {
    serde_json::to_value(obj).map_err(|e| ApiError::internal("encoding a review", e))
}

/// Go's zero `metav1.Time` encodes as `"creationTimestamp": null`, which is
/// what upstream's echoed reviews carry.
fn with_null_creation(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("creationTimestamp").or_insert(Value::Null);
    }
    obj
}

/// `rest.WipeObjectMetaSystemFields`: what the create handler clears
/// before the review's validation sees the object.
fn wipe_system_fields(meta: &mut ObjectMeta) {
    meta.creation_timestamp = None;
    meta.uid = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.self_link = None;
}

fn invalid_unless_empty(def: &ResourceDef, errs: Vec<FieldError>) -> ApiResult<()> {
    if errs.is_empty() {
        return Ok(());
    }
    // Upstream names the internal object's kind, which decoding clears:
    // `.authorization.k8s.io "" is invalid: ...`.
    let gk = GroupKind {
        group: def.group.clone(),
        kind: String::new(),
    };
    Err(Status::invalid(&gk, "", &errs).into())
}

/// Whether a JSON value is Go's zero value (nil and empty collections
/// compare equal under `apiequality.Semantic`).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Whether metadata is empty apart from `managedFields` and `except`.
fn meta_is_empty(meta: &ObjectMeta, except: &[&str]) -> bool {
    match serde_json::to_value(meta) {
        Ok(Value::Object(m)) => m
            .iter()
            .filter(|(k, _)| *k != "managedFields" && !except.contains(&k.as_str()))
            .all(|(_, v)| is_zero(v)),
        _ => true,
    }
}

fn meta_value(meta: &ObjectMeta) -> Value {
    serde_json::to_value(meta).unwrap_or(Value::Null)
}

fn non_resource_value(n: &NonResourceAttributes) -> Value {
    serde_json::to_value(n).unwrap_or(Value::Null)
}

/// `ValidateSelfSubjectAccessReviewSpec` (the union of the two attribute
/// kinds).
fn attribute_errors(
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (resource, non_resource) {
        (Some(_), Some(n)) => errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            non_resource_value(n),
            "cannot be specified in combination with resourceAttributes",
        )),
        // Go passes the nil nonResourceAttributes, printed as "null".
        (None, None) => errs.push(FieldError::invalid(
            "spec.resourceAttributes",
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    errs
}

/// `ValidateSubjectAccessReviewSpec`: the union, and someone to ask about.
fn sar_spec_errors(spec: &SubjectAccessReviewSpec) -> Vec<FieldError> {
    let mut errs = attribute_errors(
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
    );
    let user = spec.user.as_deref().unwrap_or("");
    if user.is_empty() && spec.groups.as_ref().is_none_or(Vec::is_empty) {
        errs.push(FieldError::invalid(
            "spec.user",
            user,
            "at least one of user or group must be specified",
        ));
    }
    errs
}

/// `ValidateSelfSubjectAccessReview`.
fn self_sar_errors(r: &SelfSubjectAccessReview) -> Vec<FieldError> {
    let mut errs = attribute_errors(
        r.spec.resource_attributes.as_ref(),
        r.spec.non_resource_attributes.as_ref(),
    );
    if !meta_is_empty(&r.metadata, &[]) {
        errs.push(FieldError::invalid(
            "metadata",
            meta_value(&r.metadata),
            "must be empty",
        ));
    }
    errs
}

/// `ValidateSubjectAccessReview`.
fn sar_errors(r: &SubjectAccessReview) -> Vec<FieldError> {
    let mut errs = sar_spec_errors(&r.spec);
    if !meta_is_empty(&r.metadata, &[]) {
        errs.push(FieldError::invalid(
            "metadata",
            meta_value(&r.metadata),
            "must be empty",
        ));
    }
    errs
}

/// `ValidateLocalSubjectAccessReview`: the namespace is the object's, and
/// only resource attributes make sense in it.
fn local_sar_errors(r: &LocalSubjectAccessReview) -> Vec<FieldError> {
    let mut errs = sar_spec_errors(&r.spec);
    if !meta_is_empty(&r.metadata, &["namespace"]) {
        errs.push(FieldError::invalid(
            "metadata",
            meta_value(&r.metadata),
            "must be empty except for namespace",
        ));
    }
    let meta_ns = r.metadata.namespace.as_deref().unwrap_or("");
    if let Some(ra) = &r.spec.resource_attributes {
        let ns = ra.namespace.as_deref().unwrap_or("");
        if ns != meta_ns {
            errs.push(FieldError::invalid(
                "spec.resourceAttributes.namespace",
                ns,
                "must match metadata.namespace",
            ));
        }
    }
    if let Some(n) = &r.spec.non_resource_attributes {
        errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            non_resource_value(n),
            "disallowed on this kind of request",
        ));
    }
    errs
}

/// The user a SubjectAccessReview asks about (`AuthorizationAttributesFrom`).
fn subject(spec: &SubjectAccessReviewSpec) -> UserInfo {
    UserInfo {
        name: spec.user.clone().unwrap_or_default(),
        uid: spec.uid.clone().unwrap_or_default(),
        groups: spec.groups.clone().unwrap_or_default(),
        extra: spec.extra.clone().unwrap_or_default(),
    }
}

/// `ResourceAttributesFrom` / `NonResourceAttributesFrom`. Validation has
/// made sure one of them is set; an empty version means every version.
fn attributes(
    user: UserInfo,
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
) -> Attributes {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    match (resource, non_resource) {
        (Some(ra), _) => {
            let version = match ra.version.as_deref() {
                None | Some("") => "*".to_string(),
                Some(v) => v.to_string(),
            };
            Attributes {
                user,
                verb: s(&ra.verb),
                namespace: s(&ra.namespace),
                api_group: s(&ra.group),
                api_version: version,
                resource: s(&ra.resource),
                subresource: s(&ra.subresource),
                name: s(&ra.name),
                path: String::new(),
                resource_request: true,
            }
        }
        (None, Some(n)) => Attributes::non_resource(user, &s(&n.verb), &s(&n.path)),
        (None, None) => Attributes::non_resource(user, "", ""),
    }
}

/// RBAC allows or has no opinion; it never denies, so `denied` stays unset.
fn access_status(d: &Decision) -> SubjectAccessReviewStatus {
    SubjectAccessReviewStatus {
        allowed: d.is_allowed(),
        denied: None,
        evaluation_error: None,
        reason: Some(d.reason().to_string()).filter(|r| !r.is_empty()),
    }
}

/// Upstream's TokenReview status: `authenticated` only when true, the
/// error of a recognised but invalid token, and `user` always present (Go
/// encodes the empty struct as `{}`); audiences only with a user.
fn token_status(r: crate::auth::TokenReviewed) -> TokenReviewStatus {
    let authenticated = r.user.is_some();
    let (user, audiences) = match r.user {
        Some(u) => (
            AuthnUserInfo {
                username: Some(u.name).filter(|n| !n.is_empty()),
                uid: Some(u.uid).filter(|n| !n.is_empty()),
                groups: Some(u.groups).filter(|g| !g.is_empty()),
                extra: Some(u.extra).filter(|e| !e.is_empty()),
            },
            Some(r.audiences).filter(|a| !a.is_empty()),
        ),
        None => (AuthnUserInfo::default(), None),
    };
    TokenReviewStatus {
        authenticated: authenticated.then_some(true),
        audiences,
        error: r.error,
        user: Some(user),
    }
}

/// Upstream's SelfSubjectReview: the caller as authenticated (or
/// impersonated), stamped with the time of asking.
fn self_subject_review(user: &UserInfo) -> Value {
    let mut info = Map::new();
    if !user.name.is_empty() {
        info.insert("username".into(), json!(user.name));
    }
    if !user.uid.is_empty() {
        info.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        info.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        info.insert("extra".into(), json!(user.extra));
    }
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("{AUTHENTICATION_GROUP}/v1"),
        "metadata": {"creationTimestamp": crate::meta::now_rfc3339()},
        "status": {"userInfo": info},
    })
}

/// Upstream answers a SelfSubjectRulesReview with a fresh object: empty
/// spec, and rule lists that are always present.
fn rules_review_answer(r: RulesReview) -> Value {
    let status = SubjectRulesReviewStatus {
        resource_rules: r.resource_rules,
        non_resource_rules: r.non_resource_rules,
        incomplete: r.incomplete,
        evaluation_error: Some(r.evaluation_error).filter(|e| !e.is_empty()),
    };
    let mut status = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
    if let Some(s) = status.as_object_mut() {
        for key in ["resourceRules", "nonResourceRules"] {
            s.entry(key).or_insert_with(|| json!([]));
        }
    }
    json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": format!("{AUTHORIZATION_GROUP}/v1"),
        "metadata": {"creationTimestamp": null},
        "spec": {},
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use http::{Method, Request};
    use trellis_storage::keys::Keyspace;

    use super::*;
    use crate::cluster::ROOT;
    use crate::request::info::{self, Target};
    use crate::testing::{Answer, Fixture, send};

    const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    const SAR: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    const SSRR: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
    const SSR: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

    fn lsar(ns: &str) -> String {
        format!("/apis/authorization.k8s.io/v1/namespaces/{ns}/localsubjectaccessreviews")
    }

    // ---- pure logic ----------------------------------------------------

    fn ssar(spec: Value) -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": spec})).unwrap()
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn review_validation_matches_upstream() {
        assert_eq!(
            messages(&self_sar_errors(&ssar(json!({})))),
            [
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
            ]
        );
        let both = ssar(json!({
            "resourceAttributes": {"verb": "get"},
            "nonResourceAttributes": {"path": "/x", "verb": "get"},
        }));
        assert_eq!(
            messages(&self_sar_errors(&both)),
            [
                "spec.nonResourceAttributes: Invalid value: {\"path\":\"/x\",\"verb\":\"get\"}: cannot be specified in combination with resourceAttributes"
            ]
        );
        assert!(self_sar_errors(&ssar(json!({"resourceAttributes": {}}))).is_empty());
        // Metadata must be empty, managedFields aside.
        let mut named = ssar(json!({"nonResourceAttributes": {}}));
        named.metadata.managed_fields = Some(vec![Default::default()]);
        assert!(self_sar_errors(&named).is_empty());
        named.metadata.name = Some("x".into());
        assert_eq!(
            messages(&self_sar_errors(&named))[0],
            "metadata: Invalid value: {\"managedFields\":[{}],\"name\":\"x\"}: must be empty"
        );
        // Labels that are present but empty are Go's nil map.
        let mut labelled = ssar(json!({"nonResourceAttributes": {}}));
        labelled.metadata.labels = Some(Default::default());
        assert!(self_sar_errors(&labelled).is_empty());

        let sar: SubjectAccessReview =
            serde_json::from_value(json!({"spec": {"resourceAttributes": {}}})).unwrap();
        assert_eq!(
            messages(&sar_errors(&sar)),
            ["spec.user: Invalid value: \"\": at least one of user or group must be specified"]
        );
        let sar: SubjectAccessReview =
            serde_json::from_value(json!({"spec": {"resourceAttributes": {}, "groups": ["g"]}}))
                .unwrap();
        assert!(sar_errors(&sar).is_empty());

        let local: LocalSubjectAccessReview = serde_json::from_value(json!({
            "metadata": {"namespace": "a"},
            "spec": {"user": "u", "resourceAttributes": {"namespace": "b"}, "nonResourceAttributes": {}},
        }))
        .unwrap();
        assert_eq!(
            messages(&local_sar_errors(&local)),
            [
                "spec.nonResourceAttributes: Invalid value: {}: cannot be specified in combination with resourceAttributes",
                "spec.resourceAttributes.namespace: Invalid value: \"b\": must match metadata.namespace",
                "spec.nonResourceAttributes: Invalid value: {}: disallowed on this kind of request",
            ]
        );
        let local: LocalSubjectAccessReview = serde_json::from_value(json!({
            "metadata": {"namespace": "a"},
            "spec": {"user": "u", "resourceAttributes": {"namespace": "a"}},
        }))
        .unwrap();
        assert!(local_sar_errors(&local).is_empty());
    }

    #[test]
    fn review_attributes_from_spec() {
        let u = UserInfo::new("u");
        let ra: ResourceAttributes = serde_json::from_value(json!({
            "namespace": "ns", "verb": "get", "group": "apps", "resource": "deployments",
            "subresource": "scale", "name": "d",
            "fieldSelector": {"rawSelector": "a=b"}, "labelSelector": {"rawSelector": "c"},
        }))
        .unwrap();
        let a = attributes(u.clone(), Some(&ra), None);
        assert_eq!(
            a,
            Attributes::resource(
                u.clone(),
                "get",
                "ns",
                "apps",
                "*",
                "deployments",
                "scale",
                "d"
            )
        );
        let mut versioned = ra.clone();
        versioned.version = Some("v1".into());
        assert_eq!(
            attributes(u.clone(), Some(&versioned), None).api_version,
            "v1"
        );
        let n = NonResourceAttributes {
            path: Some("/healthz".into()),
            verb: Some("get".into()),
        };
        assert_eq!(
            attributes(u.clone(), None, Some(&n)),
            Attributes::non_resource(u, "get", "/healthz")
        );
        let spec: SubjectAccessReviewSpec = serde_json::from_value(json!({
            "user": "bob", "uid": "1", "groups": ["g"], "extra": {"k": ["v"]},
        }))
        .unwrap();
        let s = subject(&spec);
        assert_eq!(
            (s.name.as_str(), s.uid.as_str(), s.groups.as_slice()),
            ("bob", "1", ["g".to_string()].as_slice())
        );
        assert_eq!(s.extra["k"], ["v"]);
    }

    #[test]
    fn review_statuses() {
        let allow = Decision::Allow {
            reason: Arc::from(""),
        };
        assert_eq!(
            serde_json::to_value(access_status(&allow)).unwrap(),
            json!({"allowed": true})
        );
        let no = Decision::NoOpinion {
            reason: "RBAC: x".into(),
        };
        assert_eq!(
            serde_json::to_value(access_status(&no)).unwrap(),
            json!({"allowed": false, "reason": "RBAC: x"})
        );
        let rr = rules_review_answer(RulesReview::default());
        assert_eq!(
            rr,
            json!({
                "kind": "SelfSubjectRulesReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": {"resourceRules": [], "nonResourceRules": [], "incomplete": false},
            })
        );
        let who = self_subject_review(&UserInfo::new("u").with_groups(["g"]));
        assert_eq!(
            who["status"],
            json!({"userInfo": {"username": "u", "groups": ["g"]}})
        );
        assert!(who["metadata"]["creationTimestamp"].as_str().is_some());
        // Both answers encode as protobuf (where empty lists are absent).
        let back = |v: &Value| {
            trellis_apis::proto::decode(&trellis_apis::proto::encode(v).unwrap()).unwrap()
        };
        assert_eq!(back(&rr)["status"], json!({"incomplete": false}));
        assert_eq!(back(&who)["status"], who["status"]);
    }

    // ---- through the router, without a socket ---------------------------

    fn fixture() -> Fixture {
        Fixture::new()
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
        }
    }

    async fn post(state: &AppState, path: &str, body: Value) -> Answer {
        send(
            state,
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    #[tokio::test]
    async fn token_reviews_answer_as_upstream() {
        const TR: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
        let f = fixture();
        let s = &f.state;
        s.auth.add_token(
            "t-carol",
            UserInfo {
                name: "carol".into(),
                uid: "u-carol".into(),
                groups: vec!["team".into()],
                extra: Default::default(),
            },
        );
        let review = |token: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
        let r = post(s, TR, review("t-carol")).await;
        assert_eq!(r.code, 201, "{}", String::from_utf8_lossy(&r.body));
        let r = r.json();
        assert_eq!(
            r["status"],
            json!({"authenticated": true, "user": {"username": "carol", "uid": "u-carol", "groups": ["team", "system:authenticated"]}})
        );
        assert_eq!(r["spec"], json!({"token": "t-carol"}));
        assert_eq!(r["metadata"], json!({"creationTimestamp": null}));
        // Unknown: no user, no error.
        let r = post(s, TR, review("t-nobody")).await;
        assert_eq!(r.code, 201);
        assert_eq!(r.json()["status"], json!({"user": {}}));
        // A JWT from an issuer nobody trusts is unknown too.
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V2aWwifQ.c2ln";
        assert_eq!(
            post(s, TR, review(jwt)).await.json()["status"],
            json!({"user": {}})
        );
        // Hostile tokens: a megabyte of JWT-shaped text, and a payload
        // nested far beyond any JSON parser's depth, are simply unknown.
        let huge = format!("{}.{}.c2ln", "a".repeat(1 << 20), "b".repeat(1 << 19));
        use base64::Engine;
        let nested = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ));
        for token in [huge, format!("eyJhbGciOiJFUzI1NiJ9.{nested}.c2ln")] {
            let r = post(s, TR, review(&token)).await;
            assert_eq!(r.code, 201);
            assert_eq!(r.json()["status"], json!({"user": {}}));
        }
        // No token.
        let r = post(s, TR, review("")).await;
        assert_eq!(r.code, 400);
        assert_eq!(
            r.json()["message"],
            "token is required for TokenReview in authentication"
        );
        // Only POST on the collection.
        let r = send(s, Method::GET, TR, &[], String::new()).await;
        assert_eq!(r.code, 405);
        let r = send(
            s,
            Method::POST,
            &format!("{TR}/x"),
            &[("content-type", "application/json")],
            review("t").to_string(),
        )
        .await;
        assert_eq!(r.code, 404);
    }

    #[tokio::test]
    async fn review_admin_answers() {
        let f = fixture();
        let s = &f.state;
        let who = post(
            s,
            SSR,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await;
        assert_eq!(who.code, 201);
        let who = who.json();
        assert_eq!(who["kind"], "SelfSubjectReview");
        assert_eq!(who["status"]["userInfo"]["username"], "admin");
        assert_eq!(
            who["status"]["userInfo"]["groups"],
            json!(["system:masters", "system:authenticated"])
        );

        let body = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "configmaps"}},
        });
        let r = post(s, SSAR, body.clone()).await;
        assert_eq!(r.code, 201, "{}", String::from_utf8_lossy(&r.body));
        let r = r.json();
        assert_eq!(r["status"], json!({"allowed": true}));
        assert_eq!(r["spec"], body["spec"]);
        assert_eq!(r["metadata"], json!({"creationTimestamp": null}));
        // dryRun is harmless; the kind and apiVersion may be left out.
        let r = post(
            s,
            &format!("{SSAR}?dryRun=All"),
            json!({"spec": body["spec"].clone()}),
        )
        .await;
        assert_eq!(
            (r.code, r.json()["status"]["allowed"].clone()),
            (201, json!(true))
        );

        let rules = post(s, SSRR, json!({"spec": {"namespace": "default"}})).await;
        assert_eq!(rules.code, 201);
        let rules = rules.json();
        assert_eq!(rules["spec"], json!({}));
        assert_eq!(
            rules["status"]["resourceRules"],
            json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}])
        );
        assert_eq!(
            rules["status"]["nonResourceRules"],
            json!([{"verbs": ["*"], "nonResourceURLs": ["*"]}])
        );
        assert_eq!(rules["status"]["incomplete"], false);
        let r = post(s, SSRR, json!({"spec": {}})).await;
        assert_eq!(
            (r.code, r.json()["message"].clone()),
            (400, json!("no namespace on request"))
        );
    }

    #[tokio::test]
    async fn review_subject_access_reviews() {
        let f = fixture();
        let s = &f.state;
        let sar = |user: &str| {
            json!({
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "configmaps"}},
            })
        };
        let r = post(s, SAR, sar("nobody")).await;
        assert_eq!(r.code, 201);
        assert_eq!(
            r.json()["status"],
            json!({"allowed": false, "reason": crate::authz::cache::ACCESS_DENIED})
        );
        // Groups and extra count: a ServiceAccount of this workspace is in
        // without a grant, and every authenticated user may review itself.
        let sa = json!({
            "spec": {
                "user": "system:serviceaccount:default:sa",
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "extra": {crate::authz::cache::CLUSTER_NAME_EXTRA: [ROOT]},
                "resourceAttributes": {"verb": "create", "group": "authorization.k8s.io", "resource": "selfsubjectaccessreviews"},
            },
        });
        let r = post(s, SAR, sa.clone()).await;
        assert_eq!(r.code, 201);
        let status = &r.json()["status"];
        assert_eq!(status["allowed"], true, "{status}");
        assert!(
            status["reason"]
                .as_str()
                .unwrap()
                .contains("system:basic-user"),
            "{status}"
        );
        let mut no_groups = sa;
        no_groups["spec"]["groups"] = json!([]);
        let r = post(s, SAR, no_groups).await;
        assert_eq!(r.json()["status"]["allowed"], false);
        // A SubjectAccessReview needs someone to ask about.
        let r = post(
            s,
            SAR,
            json!({"spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}}),
        )
        .await;
        assert_eq!(r.code, 422);
        let st = r.json();
        assert_eq!(st["reason"], "Invalid");
        assert_eq!(
            st["message"],
            ".authorization.k8s.io \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified"
        );
        assert_eq!(st["details"]["causes"][0]["field"], "spec.user");
    }

    #[tokio::test]
    async fn review_local_subject_access_reviews() {
        let f = fixture();
        let s = &f.state;
        let spec = json!({"user": "nobody", "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods"}});
        let r = post(s, &lsar("team"), json!({"spec": spec})).await;
        assert_eq!(r.code, 201, "{}", String::from_utf8_lossy(&r.body));
        let r = r.json();
        assert_eq!(r["kind"], "LocalSubjectAccessReview");
        assert_eq!(r["metadata"]["namespace"], "team");
        assert_eq!(r["status"]["allowed"], false);
        // The object's namespace must be the request's...
        let r = post(
            s,
            &lsar("other"),
            json!({"metadata": {"namespace": "team"}, "spec": spec}),
        )
        .await;
        assert_eq!(r.code, 400);
        assert_eq!(
            r.json()["message"],
            "the namespace of the provided object does not match the namespace sent on the request"
        );
        // ...and the attributes' namespace the object's.
        let r = post(s, &lsar("other"), json!({"spec": spec})).await;
        assert_eq!(r.code, 422);
        assert_eq!(
            r.json()["message"],
            ".authorization.k8s.io \"\" is invalid: spec.resourceAttributes.namespace: Invalid value: \"team\": must match metadata.namespace"
        );
        let r = post(
            s,
            &lsar("team"),
            json!({"spec": {"user": "u", "nonResourceAttributes": {"path": "/", "verb": "get"}}}),
        )
        .await;
        assert_eq!(r.code, 422);
        assert_eq!(
            r.json()["details"]["causes"][0]["field"],
            "spec.nonResourceAttributes"
        );
        // Namespaced only.
        let r = post(
            s,
            "/apis/authorization.k8s.io/v1/localsubjectaccessreviews",
            json!({"spec": spec}),
        )
        .await;
        assert_eq!(r.code, 404);
    }

    #[tokio::test]
    async fn review_only_create_exists() {
        let f = fixture();
        let s = &f.state;
        for (method, path) in [
            (Method::GET, SSAR.to_string()),
            (Method::GET, format!("{SSAR}?watch=true")),
            (Method::DELETE, SSR.to_string()),
            (Method::PUT, SAR.to_string()),
            (Method::GET, lsar("default")),
        ] {
            let r = send(s, method.clone(), &path, &[], Body::empty()).await;
            assert_eq!(r.code, 405, "{method} {path}");
            let st = r.json();
            assert_eq!(st["reason"], "MethodNotAllowed");
        }
        let r = send(s, Method::GET, SSAR, &[], Body::empty()).await;
        assert_eq!(
            r.json()["message"],
            "list is not supported on resources of kind \"selfsubjectaccessreviews.authorization.k8s.io\""
        );
        for (method, path) in [
            (Method::GET, format!("{SSAR}/x")),
            (Method::POST, format!("{SSAR}/x")),
            (Method::POST, format!("{SSAR}/x/status")),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/namespaces/default/selfsubjectaccessreviews"
                    .to_string(),
            ),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1beta1/selfsubjectaccessreviews".to_string(),
            ),
        ] {
            let r = send(s, method.clone(), &path, &[], Body::empty()).await;
            assert_eq!(r.code, 404, "{method} {path}");
        }
    }

    #[tokio::test]
    async fn review_bad_bodies() {
        let f = fixture();
        let s = &f.state;
        let r = send(
            s,
            Method::POST,
            SSAR,
            &[("content-type", "application/json")],
            "{",
        )
        .await;
        assert_eq!(r.code, 400);
        let r = post(s, SSAR, json!({"apiVersion": "v1", "kind": "ConfigMap"})).await;
        assert_eq!(r.code, 400);
        assert_eq!(
            r.json()["message"],
            "the API version in the data (v1) does not match the expected API version (authorization.k8s.io/v1)"
        );
        let r = post(s, SSAR, json!({"kind": "SubjectAccessReview"})).await;
        assert_eq!(r.code, 400);
        let r = post(s, SSAR, json!({"spec": {"resourceAttributes": "x"}})).await;
        assert_eq!(r.code, 400);
        let r = post(s, SSAR, json!({"spec": {}})).await;
        assert_eq!(r.code, 422);
        assert_eq!(
            r.json()["message"],
            ".authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
        );
        let r = send(
            s,
            Method::POST,
            SSAR,
            &[("content-type", "application/merge-patch+json")],
            "{}",
        )
        .await;
        assert_eq!(r.code, 415);
        // Unknown fields: dropped with a warning, refused when strict.
        let body =
            json!({"spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}, "bogus": 1});
        let r = post(s, SSAR, body.clone()).await;
        assert_eq!(r.code, 201);
        assert!(r.json().get("bogus").is_none());
        let r = post(s, &format!("{SSAR}?fieldValidation=Strict"), body).await;
        assert_eq!(r.code, 400);
        // YAML bodies, YAML answers.
        let r = send(
            s,
            Method::POST,
            SSAR,
            &[
                ("content-type", "application/yaml"),
                ("accept", "application/yaml"),
            ],
            "spec:\n  nonResourceAttributes: {path: /healthz, verb: get}\n",
        )
        .await;
        assert_eq!((r.code, r.content_type.as_str()), (201, "application/yaml"));
        assert!(String::from_utf8_lossy(&r.body).contains("allowed: true"));
    }

    #[tokio::test]
    async fn review_protobuf() {
        let f = fixture();
        let s = &f.state;
        let body = trellis_apis::proto::encode(&json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "secrets"}},
        }))
        .unwrap();
        let pb = "application/vnd.kubernetes.protobuf";
        let r = send(
            s,
            Method::POST,
            SSAR,
            &[
                ("content-type", pb),
                ("accept", &format!("{pb}, application/json")),
            ],
            body,
        )
        .await;
        assert_eq!((r.code, r.content_type.as_str()), (201, pb));
        let back = trellis_apis::proto::decode(&r.body).unwrap();
        assert_eq!(back["status"]["allowed"], true);
        assert_eq!(back["spec"]["resourceAttributes"]["resource"], "secrets");
        let who = trellis_apis::proto::encode(
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .unwrap();
        let r = send(
            s,
            Method::POST,
            SSR,
            &[("content-type", pb), ("accept", pb)],
            who,
        )
        .await;
        assert_eq!(r.code, 201);
        let back = trellis_apis::proto::decode(&r.body).unwrap();
        assert_eq!(back["status"]["userInfo"]["username"], "admin");
        let rules = trellis_apis::proto::encode(&json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": "default"},
        }))
        .unwrap();
        let r = send(
            s,
            Method::POST,
            SSRR,
            &[("content-type", pb), ("accept", pb)],
            rules,
        )
        .await;
        assert_eq!(r.code, 201);
        let back = trellis_apis::proto::decode(&r.body).unwrap();
        assert_eq!(back["status"]["resourceRules"][0]["verbs"], json!(["*"]));
        // Garbage protobuf is a 400.
        let r = send(s, Method::POST, SSAR, &[("content-type", pb)], "k8s\0junk").await;
        assert_eq!(r.code, 400);
    }

    #[tokio::test]
    async fn review_discovery_and_openapi() {
        let f = fixture();
        let s = &f.state;
        let r = send(
            s,
            Method::GET,
            "/apis/authorization.k8s.io/v1",
            &[],
            Body::empty(),
        )
        .await;
        assert_eq!(r.code, 200);
        let list = r.json();
        let names: Vec<(String, Value, bool)> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["verbs"].clone(),
                    r["namespaced"].as_bool().unwrap(),
                )
            })
            .collect();
        for (name, namespaced) in [
            ("localsubjectaccessreviews", true),
            ("selfsubjectaccessreviews", false),
            ("selfsubjectrulesreviews", false),
            ("subjectaccessreviews", false),
        ] {
            assert!(
                names.contains(&(name.to_string(), json!(["create"]), namespaced)),
                "{name}: {names:?}"
            );
        }
        let r = send(
            s,
            Method::GET,
            "/apis/authentication.k8s.io/v1",
            &[],
            Body::empty(),
        )
        .await;
        assert!(
            r.json()["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "selfsubjectreviews" && r["verbs"] == json!(["create"]))
        );
        let r = send(
            s,
            Method::GET,
            "/openapi/v3/apis/authorization.k8s.io/v1",
            &[],
            Body::empty(),
        )
        .await;
        assert_eq!(r.code, 200);
        let doc = r.json();
        assert!(doc["paths"][SSAR]["post"].is_object(), "{}", doc["paths"]);
        assert!(
            doc["components"]["schemas"]
                .get("io.k8s.api.authorization.v1.SelfSubjectAccessReview")
                .is_some()
        );
    }

    // ---- a user's own view, bypassing the router's gate ------------------

    async fn bind(state: &AppState, name: &str, role: &str, user: &str) {
        let key = Keyspace::new("rbac.authorization.k8s.io", "clusterrolebindings", None)
            .unwrap()
            .object(ROOT, "", name)
            .unwrap();
        let crb = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        });
        state
            .store
            .storage
            .create(
                key,
                trellis_storage::Value::verbatim(serde_json::to_vec(&crb).unwrap()),
                None,
            )
            .await
            .unwrap();
    }

    async fn ask(state: &AppState, user: &UserInfo, path: &str, body: Value) -> Value {
        let Some(Target::Resource(req)) = info::parse(&Method::POST, path, false) else {
            panic!("{path}");
        };
        assert!(handles(&req));
        let (parts, body) = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
            .into_parts();
        let cluster = state.clusters.resolve(ROOT).await.unwrap();
        let resp = handle(state, &cluster, user, req, parts, body)
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn review_self_reviews_of_ordinary_users() {
        let f = fixture();
        let s = &f.state;
        let alice = UserInfo::new("alice").with_groups(["system:authenticated"]);
        let can = |verb: &str| json!({"spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": "configmaps"}}});
        // Not even in the workspace yet.
        let r = ask(s, &alice, SSAR, can("get")).await;
        assert_eq!(
            r["status"],
            json!({"allowed": false, "reason": crate::authz::cache::ACCESS_DENIED})
        );
        let r = ask(s, &alice, SSRR, json!({"spec": {"namespace": "default"}})).await;
        assert_eq!(r["status"]["resourceRules"], json!([]));

        bind(
            s,
            "alice-access",
            crate::authz::bootstrap::WORKSPACE_ACCESS_ROLE,
            "alice",
        )
        .await;
        bind(s, "alice-view", "view", "alice").await;
        let r = ask(s, &alice, SSAR, can("get")).await;
        assert_eq!(r["status"]["allowed"], true, "{r}");
        assert!(
            r["status"]["reason"]
                .as_str()
                .unwrap()
                .contains("alice-view"),
            "{r}"
        );
        let r = ask(s, &alice, SSAR, can("create")).await;
        assert_eq!(r["status"], json!({"allowed": false}));
        let r = ask(
            s,
            &alice,
            SSAR,
            json!({"spec": {"nonResourceAttributes": {"path": "/", "verb": "access"}}}),
        )
        .await;
        assert_eq!(r["status"]["allowed"], true);

        let r = ask(s, &alice, SSRR, json!({"spec": {"namespace": "default"}})).await;
        let rules = r["status"]["resourceRules"].as_array().unwrap();
        assert!(
            rules.iter().any(|r| r["resources"]
                .as_array()
                .is_some_and(|l| l.contains(&json!("configmaps")))
                && r["verbs"].as_array().unwrap().contains(&json!("get"))),
            "{r}"
        );
        assert!(!rules.iter().any(|r| r["verbs"] == json!(["*"])), "{r}");
        assert_eq!(r["status"]["incomplete"], false);

        // A binding to a missing role shows up as the reason and the
        // evaluation error.
        bind(s, "alice-missing", "no-such-role", "alice").await;
        let r = ask(s, &alice, SSAR, can("create")).await;
        assert_eq!(
            r["status"]["reason"],
            "RBAC: clusterrole.rbac.authorization.k8s.io \"no-such-role\" not found"
        );
        let r = ask(s, &alice, SSRR, json!({"spec": {"namespace": "default"}})).await;
        assert_eq!(
            r["status"]["evaluationError"],
            "clusterrole.rbac.authorization.k8s.io \"no-such-role\" not found"
        );

        let who = ask(s, &alice, SSR, json!({})).await;
        assert_eq!(
            who["status"]["userInfo"],
            json!({"username": "alice", "groups": ["system:authenticated"]})
        );
    }
}
