//! Who is asking, and for what: the inputs of every authorization decision.
//!
//! [`UserInfo`] mirrors `k8s.io/apiserver/pkg/authentication/user.Info` and
//! [`Attributes`] mirrors `authorizer.AttributesRecord`. Both are plain owned
//! data so the server can build them once per request and hand them to
//! [`PolicyIndex::authorize`](super::PolicyIndex::authorize), to
//! [`forbidden_message`](super::forbidden_message) and to audit logging
//! without lifetimes leaking into handler code.
//!
//! Invariants the rest of the module relies on (as upstream):
//! - `resource_request == false` means only `verb` and `path` matter;
//! - `namespace` is empty for cluster-scoped requests, except that requests
//!   on `namespaces/<name>` (and its subresources) carry `<name>` as their
//!   namespace, as upstream's `RequestInfoFactory` sets it; that is what lets
//!   a RoleBinding granting `get namespaces` expose the namespace itself;
//! - `subresource` is given without the resource (`log`, not `pods/log`).
//!
//! The authenticator, not RBAC, decides which groups a user has: a service
//! account's user carries `system:serviceaccounts` and
//! `system:serviceaccounts:<ns>`, every authenticated user carries
//! `system:authenticated`. RBAC only compares names, which is why bindings
//! to those groups "just work" through [`UserInfo::groups`].

use std::collections::BTreeMap;

/// Superuser group: upstream kube-apiserver allows every request of its
/// members before RBAC is even asked, and escalation checks let them grant
/// anything.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Group every authenticated user belongs to.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// Group of the anonymous user.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// User name of unauthenticated requests.
pub const ANONYMOUS: &str = "system:anonymous";
/// Group of every service account.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of service account user names:
/// `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_USERNAME_PREFIX: &str = "system:serviceaccount:";

/// The user name a service account authenticates as
/// (`serviceaccount.MakeUsername`).
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USERNAME_PREFIX}{namespace}:{name}")
}

/// The groups a service account's user carries besides
/// `system:authenticated` (`serviceaccount.MakeGroupNames`).
pub fn service_account_groups(namespace: &str) -> [String; 2] {
    [
        ALL_SERVICE_ACCOUNTS.to_string(),
        format!("{ALL_SERVICE_ACCOUNTS}:{namespace}"),
    ]
}

/// Splits `system:serviceaccount:<ns>:<name>` into `(ns, name)`; `None` for
/// any other user name. Like `serviceaccount.SplitUsername` it wants exactly
/// two non-empty `:`-separated parts; unlike it, it does not re-validate them
/// as DNS names (the authenticator only ever mints valid ones).
pub fn split_service_account_username(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_USERNAME_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    if namespace.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((namespace, name))
}

/// An authenticated identity (`user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with just a name.
    pub fn new(name: impl Into<String>) -> Self {
        UserInfo {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The same user with these groups.
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// One request, as the authorizer sees it (`authorizer.AttributesRecord`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`, or a special verb such as `bind`,
    /// `escalate`, `impersonate`) for resource requests; the lower-cased HTTP
    /// method for non-resource requests.
    pub verb: String,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The request path; only consulted for non-resource requests.
    pub path: String,
    pub resource_request: bool,
}

impl Attributes {
    /// A resource request. Pass `""` for the parts that do not apply
    /// (namespace of cluster-scoped resources, subresource, name of lists and
    /// creates).
    #[allow(clippy::too_many_arguments)] // mirrors AttributesRecord's fields one to one
    pub fn resource(
        user: UserInfo,
        verb: &str,
        namespace: &str,
        api_group: &str,
        api_version: &str,
        resource: &str,
        subresource: &str,
        name: &str,
    ) -> Self {
        Attributes {
            user,
            verb: verb.into(),
            namespace: namespace.into(),
            api_group: api_group.into(),
            api_version: api_version.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            path: String::new(),
            resource_request: true,
        }
    }

    /// A non-resource request (`/healthz`, `/version`, `/apis`, ...).
    pub fn non_resource(user: UserInfo, verb: &str, path: &str) -> Self {
        Attributes {
            user,
            verb: verb.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    /// `resource/subresource`, or just `resource`: the form rules name.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names() {
        assert_eq!(
            service_account_username("ns", "sa"),
            "system:serviceaccount:ns:sa"
        );
        assert_eq!(
            service_account_groups("ns"),
            [
                "system:serviceaccounts".to_string(),
                "system:serviceaccounts:ns".to_string()
            ]
        );
        assert_eq!(
            split_service_account_username("system:serviceaccount:ns:sa"),
            Some(("ns", "sa"))
        );
        for bad in [
            "system:serviceaccount:ns",
            "system:serviceaccount::sa",
            "system:serviceaccount:ns:",
            "system:serviceaccount:ns:a:b",
            "alice",
        ] {
            assert_eq!(split_service_account_username(bad), None, "{bad}");
        }
    }

    #[test]
    fn constructors() {
        let u = UserInfo::new("alice").with_groups(["a", "b"]);
        assert!(u.in_group("b"));
        assert!(!u.in_group("c"));
        let a = Attributes::resource(u.clone(), "get", "ns", "", "v1", "pods", "log", "p");
        assert!(a.resource_request);
        assert_eq!(a.combined_resource(), "pods/log");
        let n = Attributes::non_resource(u, "get", "/healthz");
        assert!(!n.resource_request);
        assert_eq!(n.path, "/healthz");
        assert_eq!(n.combined_resource(), "");
    }
}
