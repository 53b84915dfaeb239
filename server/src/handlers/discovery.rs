//! Discovery: `/api`, `/apis`, `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`, in
//! the legacy format and in aggregated discovery (apidiscovery.k8s.io/v2),
//! which kubectl and controller-runtime ask for first. Everything is
//! computed from the logical cluster's registry, so each workspace sees its
//! own resources.

use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use trellis_apis::Status;

use crate::error::ApiResult;
use crate::registry::{Registry, ResourceDef};
use crate::response;
use crate::state::AppState;

const AGGREGATED_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client prefers aggregated discovery v2 (the first matching
/// entry of its Accept header decides).
fn wants_aggregated(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let essence = params.first().copied().unwrap_or("");
        let has = |p: &str| params.contains(&p);
        if essence == "application/json"
            && has("g=apidiscovery.k8s.io")
            && has("as=APIGroupDiscoveryList")
        {
            if has("v=v2") {
                return true;
            }
            continue;
        }
        if matches!(essence, "application/json" | "*/*" | "application/*")
            && !params.iter().any(|p| p.starts_with("as="))
        {
            return false;
        }
    }
    false
}

fn subresource_verbs(name: &str) -> Vec<&'static str> {
    match name {
        "finalize" => vec!["update"],
        "token" => vec!["create"],
        _ => vec!["get", "patch", "update"],
    }
}

fn subresources(def: &ResourceDef) -> Vec<&'static str> {
    let mut out = Vec::new();
    if def.status_subresource {
        out.push("status");
    }
    if def.scale.is_some() {
        out.push("scale");
    }
    out.extend(def.extra_subresources.iter().copied());
    out
}

fn legacy_resources(defs: &[&ResourceDef]) -> Vec<Value> {
    let mut out = Vec::new();
    for d in defs {
        let mut r = json!({
            "name": d.resource,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs,
            "storageVersionHash": d.storage_version_hash,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        out.push(r);
        for sub in subresources(d) {
            let mut s = json!({
                "name": format!("{}/{sub}", d.resource),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": subresource_verbs(sub),
            });
            if sub == "scale" {
                s["group"] = json!("autoscaling");
                s["version"] = json!("v1");
                s["kind"] = json!("Scale");
            }
            out.push(s);
        }
    }
    out
}

fn aggregated_version(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = registry
        .resources(group, version)
        .map(|d| {
            let mut r = json!({
                "resource": d.resource,
                "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": d.singular,
                "verbs": d.verbs,
            });
            if !d.short_names.is_empty() {
                r["shortNames"] = json!(d.short_names);
            }
            if !d.categories.is_empty() {
                r["categories"] = json!(d.categories);
            }
            let subs: Vec<Value> = subresources(d)
                .into_iter()
                .map(|sub| {
                    let kind = if sub == "scale" {
                        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
                    } else {
                        json!({"group": d.group, "version": d.version, "kind": d.kind})
                    };
                    json!({"subresource": sub, "responseKind": kind, "verbs": subresource_verbs(sub)})
                })
                .collect();
            if !subs.is_empty() {
                r["subresources"] = json!(subs);
            }
            r
        })
        .collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn aggregated(registry: &Registry, core: bool) -> Response {
    let items: Vec<Value> = registry
        .groups()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            json!({
                "metadata": {"name": g},
                "versions": versions.iter().map(|v| aggregated_version(registry, g, v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut resp = response::json(
        StatusCode::OK,
        &json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}),
    );
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(AGGREGATED_TYPE),
    );
    resp.headers_mut()
        .insert(http::header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
}

pub fn core_versions(state: &AppState, registry: &Registry, accept: Option<&str>) -> Response {
    if wants_aggregated(accept) {
        return aggregated(registry, true);
    }
    response::json(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.config.external_address}],
        }),
    )
}

pub fn groups(registry: &Registry, accept: Option<&str>) -> ApiResult<Response> {
    if wants_aggregated(accept) {
        return Ok(aggregated(registry, false));
    }
    let groups: Vec<Value> = registry
        .groups()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_json(g, v))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    ))
}

pub fn group(registry: &Registry, group: &str) -> ApiResult<Response> {
    let Some(versions) = registry.versions_of(group).filter(|_| !group.is_empty()) else {
        return Err(Status::path_not_found().into());
    };
    let mut g = group_json(group, versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Ok(response::json(StatusCode::OK, &g))
}

pub fn resource_list(registry: &Registry, group: &str, version: &str) -> ApiResult<Response> {
    let defs: Vec<&ResourceDef> = registry.resources(group, version).map(|d| &**d).collect();
    // `/api` always lists v1 (kube's legacy root does), so `/api/v1`
    // answers even where no core resource is served — a provider endpoint
    // without claimed core resources — instead of contradicting `/api`
    // with a 404 that fails discovery clients.
    let core_v1 = group.is_empty() && version == "v1";
    if defs.is_empty() && !core_v1 {
        return Err(Status::path_not_found().into());
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(response::json(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": legacy_resources(&defs)}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(Some(kubectl)));
        assert!(!wants_aggregated(Some("application/json, */*")));
        assert!(!wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(None));
    }
}
