//! What a request path asks for, as Kubernetes' `RequestInfoFactory` reads it.
//!
//! The cluster prefix (`/clusters/<name>`) has already been stripped; this
//! parses the rest: discovery documents, or a resource request with optional
//! namespace, name and subresource. `namespaces/<n>/status` and
//! `namespaces/<n>/finalize` are subresources of the namespace itself, not
//! resources inside it.

use http::Method;

/// The Kubernetes verb of a request (`get`, `list`, `watch`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    pub fn is_read(self) -> bool {
        matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}

/// A request for a resource (or one of its subresources).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRequest {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub verb: Verb,
}

/// What the path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    Resource(ResourceRequest),
}

const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Parses an API path (starting with `/api` or `/apis`). `None` when the
/// path is not an API path at all.
pub fn parse(method: &Method, path: &str, watch_param: bool) -> Option<Target> {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["apis", g] => return Some(Target::Group((*g).to_string())),
        ["api", v] => {
            return Some(Target::ResourceList {
                group: String::new(),
                version: (*v).to_string(),
            });
        }
        ["apis", g, v] => {
            return Some(Target::ResourceList {
                group: (*g).to_string(),
                version: (*v).to_string(),
            });
        }
        ["api", v, rest @ ..] => (String::new(), (*v).to_string(), rest),
        ["apis", g, v, rest @ ..] => ((*g).to_string(), (*v).to_string(), rest),
        _ => return None,
    };
    let mut rest = rest;
    let mut watch = watch_param;
    // Deprecated `/api/v1/watch/...` form.
    if rest.first() == Some(&"watch") {
        watch = true;
        rest = &rest[1..];
    }
    if rest.is_empty() {
        return None;
    }
    let mut namespace = None;
    let mut parts = rest;
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            parts = &rest[2..];
        }
    }
    let (resource, name, subresource) = match parts {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
        _ => return None,
    };
    // `/api/v1/namespaces/foo` is the namespace `foo`, not a list inside it.
    if resource == "namespaces" && parts.len() == rest.len() {
        namespace = None;
    }
    let verb = match *method {
        Method::GET | Method::HEAD => match (name.is_some(), watch) {
            (_, true) => Verb::Watch,
            (true, false) => Verb::Get,
            (false, false) => Verb::List,
        },
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE => {
            if name.is_some() {
                Verb::Delete
            } else {
                Verb::DeleteCollection
            }
        }
        _ => return None,
    };
    Some(Target::Resource(ResourceRequest {
        group,
        version,
        namespace,
        resource: resource.to_string(),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
        verb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(method: Method, path: &str) -> ResourceRequest {
        match parse(&method, path, false) {
            Some(Target::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(
            parse(&Method::GET, "/api", false),
            Some(Target::CoreVersions)
        );
        assert_eq!(parse(&Method::GET, "/apis/", false), Some(Target::Groups));
        assert_eq!(
            parse(&Method::GET, "/apis/coordination.k8s.io", false),
            Some(Target::Group("coordination.k8s.io".into()))
        );
        assert_eq!(
            parse(&Method::GET, "/api/v1", false),
            Some(Target::ResourceList {
                group: String::new(),
                version: "v1".into()
            })
        );
        assert_eq!(parse(&Method::GET, "/healthz", false), None);
    }

    #[test]
    fn resource_paths() {
        let r = res(Method::GET, "/api/v1/namespaces/default/configmaps/cm");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref(),
                r.verb
            ),
            (Some("default"), "configmaps", Some("cm"), Verb::Get)
        );
        let r = res(Method::GET, "/api/v1/namespaces/default/configmaps");
        assert_eq!(r.verb, Verb::List);
        let r = res(Method::GET, "/api/v1/configmaps");
        assert_eq!((r.namespace, r.verb), (None, Verb::List));
        let r = res(Method::GET, "/api/v1/namespaces/foo");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("foo"))
        );
        let r = res(Method::PUT, "/api/v1/namespaces/foo/finalize");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("foo"), Some("finalize"))
        );
        let r = res(
            Method::PATCH,
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
        );
        assert_eq!(
            (r.group.as_str(), r.subresource.as_deref(), r.verb),
            ("apps", Some("scale"), Verb::Patch)
        );
        let r = res(Method::DELETE, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(r.verb, Verb::DeleteCollection);
        let r = res(Method::GET, "/api/v1/watch/namespaces/ns/configmaps");
        assert_eq!((r.verb, r.namespace.as_deref()), (Verb::Watch, Some("ns")));
        assert_eq!(
            parse(
                &Method::GET,
                "/api/v1/namespaces/ns/configmaps/a/b/c",
                false
            ),
            None
        );
    }
}
