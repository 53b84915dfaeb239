//! OpenAPI documents: `/openapi/v2` and `/openapi/v3` with one document per
//! group/version, computed from the cluster's registry and schemas.
//!
//! What clients rely on (see kubectl's `query_param_verifier_v3.go` and
//! `explain`): every resource has paths whose operations carry
//! `x-kubernetes-group-version-kind`; the PATCH operation declares the
//! `fieldValidation` query parameter at operation level (kubectl then leaves
//! validation to the server); `components.schemas` holds each kind's schema
//! with its GVK list. Documents are cached by content hash; a stale
//! `?hash=` is redirected to the current one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use sha2::Digest;
use trellis_apis::Status;

use crate::cluster::LogicalCluster;
use crate::error::ApiResult;
use crate::registry::{Registry, ResourceDef};
use crate::response;
use crate::schemas::rewrite_refs;
use crate::state::AppState;

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

fn param(name: &str, location: &str, required: bool, description: &str) -> Value {
    json!({"name": name, "in": location, "required": required, "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "query",
            false,
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "fieldManager",
            "query",
            false,
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "query",
            false,
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.",
        ),
    ]
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

fn operations(def: &ResourceDef, schema_ref: &Value) -> Vec<(String, Value)> {
    let gvk = json!({"group": def.group, "version": def.version, "kind": def.kind});
    let base = if def.group.is_empty() {
        format!("/api/{}", def.version)
    } else {
        format!("/apis/{}/{}", def.group, def.version)
    };
    let (collection, item) = if def.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", def.resource),
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", def.resource),
        )
    } else {
        (
            format!("{base}/{}", def.resource),
            format!("{base}/{}/{{name}}", def.resource),
        )
    };
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}, "401": {"description": "Unauthorized"}});
    let created = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}, "201": {"description": "Created", "content": {"application/json": {"schema": schema_ref}}}, "401": {"description": "Unauthorized"}});
    let body = json!({"required": true, "content": {"*/*": {"schema": schema_ref}}});
    let mut patch_types = Map::new();
    for t in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ] {
        if t.starts_with("application/strategic") && !def.strategic_merge {
            continue;
        }
        patch_types.insert(t.to_string(), json!({"schema": {"type": "object"}}));
    }
    let op = |action: &str, id: &str, extra: Value| -> Value {
        let mut o = json!({
            "operationId": format!("{id}{}", def.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": ok,
        });
        if let Value::Object(e) = extra {
            o.as_object_mut().expect("object").extend(e);
        }
        o
    };
    let mut patch_params = write_params();
    patch_params.push(param(
        "force",
        "query",
        false,
        "Force is going to \"force\" Apply requests.",
    ));
    let mut out = Vec::new();
    let mut coll = Map::new();
    if def.supports("list") {
        coll.insert("get".into(), op("list", "list", json!({"parameters": [param("labelSelector", "query", false, ""), param("fieldSelector", "query", false, "")]})));
    }
    if def.supports("create") {
        coll.insert(
            "post".into(),
            op(
                "post",
                "create",
                json!({"parameters": write_params(), "requestBody": body, "responses": created}),
            ),
        );
    }
    if def.supports("deletecollection") {
        coll.insert(
            "delete".into(),
            op("deletecollection", "deleteCollection", json!({})),
        );
    }
    out.push((collection, Value::Object(coll)));
    let mut one = Map::new();
    one.insert(
        "parameters".into(),
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]),
    );
    if def.supports("get") {
        one.insert("get".into(), op("get", "read", json!({})));
    }
    if def.supports("update") {
        one.insert(
            "put".into(),
            op(
                "put",
                "replace",
                json!({"parameters": write_params(), "requestBody": body, "responses": created}),
            ),
        );
    }
    if def.supports("patch") {
        one.insert("patch".into(), op("patch", "patch", json!({"parameters": patch_params, "requestBody": {"required": true, "content": patch_types}})));
    }
    if def.supports("delete") {
        one.insert("delete".into(), op("delete", "delete", json!({})));
    }
    out.push((item.clone(), Value::Object(one)));
    if def.status_subresource {
        let mut st = Map::new();
        st.insert("get".into(), op("get", "readStatus", json!({})));
        st.insert(
            "put".into(),
            op(
                "put",
                "replaceStatus",
                json!({"parameters": write_params(), "requestBody": body}),
            ),
        );
        st.insert("patch".into(), op("patch", "patchStatus", json!({"parameters": write_params(), "requestBody": {"required": true, "content": patch_types}})));
        out.push((format!("{item}/status"), Value::Object(st)));
    }
    out
}

/// All v3 documents of a registry.
pub fn build_v3(registry: &Registry, defs: &Lookup<'_>) -> BTreeMap<String, GvDoc> {
    let mut out = BTreeMap::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let mut paths = Map::new();
            let mut roots = Vec::new();
            for def in registry.resources(group, version) {
                let schema_ref =
                    json!({"$ref": format!("#/components/schemas/{}", def.openapi_name)});
                roots.push(def.openapi_name.clone());
                for (p, v) in operations(def, &schema_ref) {
                    paths.insert(p, v);
                }
            }
            let schemas = closure(defs, roots);
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", super::system::KUBE_MAJOR, super::system::KUBE_MINOR)},
                "paths": paths,
                "components": {"schemas": schemas},
            });
            let bytes = serde_json::to_vec(&doc).expect("document serialises");
            let hash = hex_upper(&sha2::Sha512::digest(&bytes)[..32]);
            out.insert(
                gv_path(group, version),
                GvDoc {
                    doc: Arc::new(bytes),
                    hash,
                },
            );
        }
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

/// Swagger 2.0 (JSON only; the protobuf form kubectl falls back to is not
/// offered, and kubectl only falls back when v3 fails).
pub fn v2(state: &AppState, cluster: &LogicalCluster, headers: &HeaderMap) -> ApiResult<Response> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.is_empty()
        && !accept.split(',').any(|a| {
            let e = a.split(';').next().unwrap_or("").trim();
            matches!(e, "application/json" | "*/*" | "application/*")
        })
    {
        return Err(Status::not_acceptable(
            "only the following media types are accepted: application/json",
        )
        .into());
    }
    let apis = state.clusters.apis(cluster);
    let roots: Vec<String> = apis
        .registry
        .all()
        .map(|d| d.openapi_name.clone())
        .collect();
    let defs = closure(&|name| apis.definition(&state.definitions, name), roots);
    let definitions: Map<String, Value> = defs
        .into_iter()
        .map(|(k, v)| (k, rewrite_refs(&v, "#/definitions/")))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", super::system::KUBE_MAJOR, super::system::KUBE_MINOR)}, "paths": {}, "definitions": definitions}),
    ))
}
