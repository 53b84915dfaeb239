//! What a request asks to do, in authorizer terms (upstream's
//! `RequestInfoFactory` feeding `authorizer.AttributesRecord`).
//!
//! Computed once per request, before routing, from the path within the
//! workspace: resource requests get the verb, group, resource, subresource,
//! namespace and name of [`info::parse`]; everything else (discovery,
//! OpenAPI, `/version`, unknown paths) is a non-resource request whose verb
//! is the lower-cased HTTP method, as upstream. Authorizing before routing
//! means a caller without permission learns nothing from the difference
//! between an existing and a missing path.

use http::Method;
use trellis_apis::rbac::{Attributes, UserInfo};

use crate::request::info::{self, Target};

/// The attributes of a request for `path` (cluster prefix removed) with
/// this `query`.
pub fn attributes(user: &UserInfo, method: &Method, path: &str, query: Option<&str>) -> Attributes {
    let watch = query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            // Upstream's RequestInfo: lower-cased "true" or "1".
            .any(|(k, v)| k == "watch" && (v == "1" || v.eq_ignore_ascii_case("true")))
    });
    match info::parse(method, path, watch) {
        Some(Target::Resource(mut r)) => {
            if r.name.is_none() && matches!(r.verb.as_str(), "list" | "watch") {
                r.name = query.and_then(selected_name);
            }
            // Upstream files requests on a namespace itself under that
            // namespace, so that namespaced grants can expose it.
            let namespace = match (&r.namespace, r.resource.as_str(), &r.name) {
                (Some(ns), _, _) => ns.clone(),
                (None, "namespaces", Some(name)) if r.group.is_empty() => name.clone(),
                _ => String::new(),
            };
            Attributes::resource(
                user.clone(),
                r.verb.as_str(),
                &namespace,
                &r.group,
                &r.version,
                &r.resource,
                r.subresource.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            )
        }
        _ => Attributes::non_resource(user.clone(), &method.as_str().to_ascii_lowercase(), path),
    }
}

/// The name a list or watch is restricted to by its field selector, as
/// upstream's `RequestInfoFactory`: a `metadata.name=<x>` (or `==`) term
/// among the selector's terms, when `x` is a valid path segment. A
/// `resourceNames` grant then allows `kubectl get x --watch`, informers on
/// one object and api-syncagent's single-object watches. A selector that
/// does not parse restricts nothing.
fn selected_name(query: &str) -> Option<String> {
    let selector = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fieldSelector")?
        .1;
    let parsed = trellis_apis::fields::parse(&selector).ok()?;
    let name = parsed
        .requirements()
        .iter()
        .find(|t| t.field == "metadata.name" && t.op == trellis_apis::fields::FieldOp::Equals)?
        .value
        .clone();
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%']);
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_and_non_resource() {
        let u = UserInfo::new("alice");
        let a = attributes(&u, &Method::GET, "/api/v1/namespaces/ns/configmaps", None);
        assert!(a.resource_request);
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("list", "ns"));
        let a = attributes(
            &u,
            &Method::GET,
            "/api/v1/namespaces/ns/configmaps",
            Some("watch=true&resourceVersion=1"),
        );
        assert_eq!(a.verb, "watch");
        // Upstream's RequestInfo lower-cases the value; "t" is a list there.
        for (q, verb) in [
            ("watch=True", "watch"),
            ("watch=TRUE", "watch"),
            ("watch=1", "watch"),
            ("watch=t", "list"),
            ("watch=false", "list"),
        ] {
            let a = attributes(
                &u,
                &Method::GET,
                "/api/v1/namespaces/ns/configmaps",
                Some(q),
            );
            assert_eq!(a.verb, verb, "{q}");
        }
        // A list or watch of one name carries that name, for resourceNames.
        for (q, name) in [
            ("watch=true&fieldSelector=metadata.name%3Dx", "x"),
            ("fieldSelector=metadata.name%3D%3Dx,data.a%3Db", "x"),
            ("fieldSelector=data.a%3Db,metadata.name%3Dx", "x"),
            ("fieldSelector=metadata.name%21%3Dx", ""),
            ("fieldSelector=metadata.namespace%3Dx", ""),
            ("fieldSelector=metadata.name%3D..", ""),
            ("fieldSelector=metadata.name%3Da%2Fb", ""),
            ("fieldSelector=metadata.name%3Dx%3D", ""),
            ("labelSelector=metadata.name%3Dx", ""),
        ] {
            let a = attributes(
                &u,
                &Method::GET,
                "/api/v1/namespaces/ns/configmaps",
                Some(q),
            );
            assert_eq!(a.name, name, "{q}");
        }
        let a = attributes(&u, &Method::DELETE, "/api/v1/namespaces/foo", None);
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("delete", "foo", "foo")
        );
        let a = attributes(
            &u,
            &Method::PUT,
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            None,
        );
        assert_eq!(
            (a.api_group.as_str(), a.subresource.as_str()),
            ("apps", "scale")
        );
        let a = attributes(&u, &Method::GET, "/apis", None);
        assert!(!a.resource_request);
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", "/apis"));
        let a = attributes(&u, &Method::POST, "/nowhere", None);
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("post", "/nowhere"));
    }
}
