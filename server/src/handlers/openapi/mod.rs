//! OpenAPI documents: `/openapi/v2` (one Swagger 2.0 document, as JSON or
//! as gnostic protobuf) and `/openapi/v3` (one document per group/version),
//! computed from the cluster's registry and schemas.
//!
//! One model, two renderings: [`operations`] describes every path of every
//! served resource (built-in, CRD or bound), [`v3`] and [`v2`] render it,
//! and both take their definitions from the same store (built-in schemas
//! from k8s-openapi, the cluster's custom definitions, and the list kinds
//! made here by [`list_definitions`]); [`gnostic`] transcodes the v2 JSON to
//! protobuf. Definitions are keyed as kube keys them
//! (`io.k8s.api.core.v1.ConfigMap`, `com.example.stable.v1.CronTab`) and
//! carry `x-kubernetes-group-version-kind`.
//!
//! What clients rely on (see kubectl's `query_param_verifier.go`,
//! `query_param_verifier_v3.go` and `explain`): every resource has paths
//! whose operations carry `x-kubernetes-group-version-kind`; the PATCH
//! operation declares the `fieldValidation` query parameter at operation
//! level (kubectl then leaves validation to the server); the definitions
//! hold each kind's schema with its GVK list. kubectl up to 1.33 fetches
//! the protobuf v2 document whenever it validates (`--validate`, the
//! default) and for `explain --output=plaintext-openapiv2`; on 403, 404 or
//! 406 it retries the legacy `/swagger-2.0.0.pb-v1`, which kube-apiserver
//! no longer serves (404 there too), so the protobuf form is what matters.
//!
//! Caching: documents are built once per cluster state (`ClusterApis`)
//! and dropped with it. v3 documents are addressed by content hash, a stale
//! `?hash=` is redirected to the current one; the v2 document carries
//! kube's ETag (SHA-512 of the JSON, upper-case hex, the same for both
//! encodings) and answers a matching `If-None-Match` with 304.

pub mod gnostic;
pub mod operations;
pub mod v2;
pub mod v3;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use sha2::Digest;
use trellis_apis::Status;

use crate::error::ApiResult;
use crate::registry::Registry;
use crate::request::media;
use crate::response;

/// One group/version document and its hash.
#[derive(Clone, Debug)]
pub struct GvDoc {
    pub doc: Arc<Vec<u8>>,
    pub hash: String,
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn refs_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.insert(r.rsplit('/').next().unwrap_or(r).to_string());
                }
                refs_in(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

/// Looks a definition up by name.
pub type Lookup<'a> = dyn Fn(&str) -> Option<&'a Value> + 'a;

/// Definitions reachable from `roots`.
fn closure(defs: &Lookup<'_>, roots: impl IntoIterator<Item = String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = defs(&name) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        refs_in(schema, &mut refs);
        out.insert(name, schema.clone());
        todo.extend(refs);
    }
    out
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `/openapi/v3` of a set of documents (a cluster's, or a provider
/// endpoint's view).
pub fn v3_root(docs: &BTreeMap<String, GvDoc>, base: &str) -> ApiResult<Response> {
    let paths: Map<String, Value> = docs
        .iter()
        .map(|(p, d)| {
            (
                p.clone(),
                json!({"serverRelativeURL": format!("{base}/openapi/v3/{p}?hash={}", d.hash)}),
            )
        })
        .collect();
    Ok(response::json(StatusCode::OK, &json!({"paths": paths})))
}

pub fn v3_group_version(
    docs: &BTreeMap<String, GvDoc>,
    base: &str,
    gv: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Some(d) = docs.get(gv.trim_end_matches('/')) else {
        return Err(Status::path_not_found().into());
    };
    let asked = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned());
    let etag = format!("\"{}\"", d.hash);
    if let Some(h) = &asked
        && *h != d.hash
    {
        let mut r = response::raw(StatusCode::MOVED_PERMANENTLY, "text/plain", "");
        let loc = format!("{base}/openapi/v3/{gv}?hash={}", d.hash);
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&loc)
                .map_err(|e| crate::error::ApiError::internal("redirect", e))?,
        );
        return Ok(r);
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Ok(response::raw(
            StatusCode::NOT_MODIFIED,
            "application/json",
            "",
        ));
    }
    let mut r = response::raw(StatusCode::OK, "application/json", d.doc.as_ref().clone());
    r.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    if asked.is_some() {
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or(jiff::Timestamp::MAX);
        if let Ok(v) =
            HeaderValue::from_str(&expires.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
        {
            r.headers_mut().insert(header::EXPIRES, v);
        }
    } else {
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, private"),
        );
    }
    Ok(r)
}

/// `info` of every document.
fn info() -> Value {
    json!({"title": "Kubernetes", "version": format!("v{}.{}.0", super::system::KUBE_MAJOR, super::system::KUBE_MINOR)})
}

/// The list kinds of a registry's resources (`ConfigMapList`,
/// `CronTabList`), which list operations answer with, merged over every
/// resource that shares a list name.
fn list_definitions(registry: &Registry) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for def in registry.all() {
        let name = operations::list_name(def);
        let fresh = operations::list_definition(def);
        match out.get_mut(&name) {
            None => {
                out.insert(name, fresh);
            }
            Some(existing) => {
                if let (Some(Value::Array(have)), Some(Value::Array(more))) = (
                    existing.get_mut("x-kubernetes-group-version-kind"),
                    fresh.get("x-kubernetes-group-version-kind"),
                ) {
                    for g in more {
                        if !have.contains(g) {
                            have.push(g.clone());
                        }
                    }
                }
            }
        }
    }
    out
}

/// All v3 documents of a registry. Definitions are looked up in `defs`,
/// then in the registry's list kinds (a list kind a definition store
/// already has is not replaced).
pub fn build_v3(registry: &Registry, defs: &Lookup<'_>) -> BTreeMap<String, GvDoc> {
    let lists = list_definitions(registry);
    v3::build(registry, &|name| defs(name).or_else(|| lists.get(name)))
}

/// The v2 document of a cluster in both encodings.
#[derive(Debug)]
pub struct V2Doc {
    pub json: Vec<u8>,
    pub protobuf: Vec<u8>,
    /// kube's ETag: SHA-512 of the JSON document, upper-case hex (unquoted).
    pub etag: String,
}

/// The v2 document of a registry (definitions looked up as for
/// [`build_v3`]).
pub fn build_v2(registry: &Registry, defs: &Lookup<'_>) -> V2Doc {
    use prost::Message;
    let lists = list_definitions(registry);
    let doc = v2::build(registry, &|name| defs(name).or_else(|| lists.get(name)));
    let json = serde_json::to_vec(&doc).expect("document serialises");
    let protobuf = gnostic::from_json(&doc).encode_to_vec();
    let etag = hex_upper(&sha2::Sha512::digest(&json));
    V2Doc {
        json,
        protobuf,
        etag,
    }
}

/// The media types `/openapi/v2` is offered in: the JSON document, or the
/// gnostic protobuf under either of its names (the `@` form is the one
/// client-go sends; kube answers both with the `.` form).
const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const PROTOBUF_V2_DEPRECATED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// `/openapi/v2`: content negotiation and ETag handling as kube-openapi's
/// handler does them.
pub fn v2(doc: &V2Doc, headers: &HeaderMap) -> ApiResult<Response> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or("*/*");
    let protobuf = media::parse_ranges(accept)
        .into_iter()
        .filter(|r| r.q > 0.0)
        .find_map(|r| match r.essence.as_str() {
            "application/json" | "application/*" | "*/*" => Some(false),
            PROTOBUF_V2 | PROTOBUF_V2_DEPRECATED => Some(true),
            _ => None,
        });
    let Some(protobuf) = protobuf else {
        return Err(Status::not_acceptable(format!(
            "only the following media types are accepted: application/json, {PROTOBUF_V2}"
        ))
        .into());
    };
    let etag = format!("\"{}\"", doc.etag);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag);
    let mut r = if matches {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if protobuf {
        response::raw(StatusCode::OK, PROTOBUF_V2, doc.protobuf.clone())
    } else {
        response::raw(StatusCode::OK, "application/json", doc.json.clone())
    };
    let h = r.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(r)
}
