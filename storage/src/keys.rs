//! The key layout every caller of the store shares.
//!
//! An object lives under a key of five `/`-separated segments:
//!
//! ```text
//! <group>/<resource>[:<identity>]/<cluster>/<namespace>/<name>
//! ```
//!
//! * `group` is the API group, `core` for the legacy core group (`""`).
//! * `resource` is the plural resource name; a resource bound from an
//!   APIExport carries the export's identity hash after a `:`, so two
//!   providers exporting the same group/resource never share a keyspace.
//! * `cluster` is the logical cluster (workspace) name.
//! * `namespace` is empty for cluster-scoped resources (`…/root//name`).
//!
//! The order is chosen for the scans the server needs:
//!
//! | scan                                     | prefix                    |
//! |------------------------------------------|---------------------------|
//! | one object                               | `g/r/c/ns/name` (exact)   |
//! | one resource in one namespace            | `g/r/c/ns/`               |
//! | one resource in one workspace            | `g/r/c/`                  |
//! | one resource across all workspaces       | `g/r/`                    |
//!
//! Listing one resource in one workspace never touches another workspace or
//! another resource, and the provider's cross-workspace view of a resource
//! never touches other resources. Segments can never contain `/` (Kubernetes
//! names, groups and cluster names cannot), and a trailing `/` on every
//! prefix keeps `root` from matching `root2`.

use bytes::Bytes;

use crate::{Error, Result};

/// The group segment used for the legacy core API group (`""`).
pub const CORE_GROUP_SEGMENT: &str = "core";

/// The keyspace of one resource (group/resource, optionally with an APIExport
/// identity). Builds keys and scan prefixes for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyspace {
    /// `group/resource[:identity]/`, always ending in `/`.
    prefix: String,
}

fn check_segment(what: &str, s: &str, allow_empty: bool) -> Result<()> {
    if (!allow_empty && s.is_empty()) || s.contains('/') || s.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "invalid {what} segment {s:?} in storage key"
        )));
    }
    Ok(())
}

impl Keyspace {
    /// The keyspace of `group`/`resource`; `identity` is the APIExport
    /// identity hash for bound resources.
    pub fn new(group: &str, resource: &str, identity: Option<&str>) -> Result<Self> {
        let group = if group.is_empty() {
            CORE_GROUP_SEGMENT
        } else {
            group
        };
        check_segment("group", group, false)?;
        check_segment("resource", resource, false)?;
        if resource.contains(':') {
            return Err(Error::InvalidArgument(format!(
                "invalid resource segment {resource:?}"
            )));
        }
        let prefix = match identity {
            Some(id) => {
                check_segment("identity", id, false)?;
                format!("{group}/{resource}:{id}/")
            }
            None => format!("{group}/{resource}/"),
        };
        Ok(Keyspace { prefix })
    }

    /// Prefix covering this resource in every workspace.
    pub fn all_clusters(&self) -> Bytes {
        Bytes::from(self.prefix.clone())
    }

    /// Prefix covering this resource in one workspace.
    pub fn cluster(&self, cluster: &str) -> Result<Bytes> {
        check_segment("cluster", cluster, false)?;
        Ok(Bytes::from(format!("{}{cluster}/", self.prefix)))
    }

    /// Prefix covering one namespace of one workspace.
    pub fn namespace(&self, cluster: &str, namespace: &str) -> Result<Bytes> {
        check_segment("cluster", cluster, false)?;
        check_segment("namespace", namespace, true)?;
        Ok(Bytes::from(format!(
            "{}{cluster}/{namespace}/",
            self.prefix
        )))
    }

    /// The key of one object; `namespace` is `""` for cluster-scoped objects.
    pub fn object(&self, cluster: &str, namespace: &str, name: &str) -> Result<Bytes> {
        check_segment("cluster", cluster, false)?;
        check_segment("namespace", namespace, true)?;
        check_segment("name", name, false)?;
        Ok(Bytes::from(format!(
            "{}{cluster}/{namespace}/{name}",
            self.prefix
        )))
    }

    /// `group/resource[:identity]` without the trailing slash.
    pub fn as_str(&self) -> &str {
        &self.prefix[..self.prefix.len() - 1]
    }
}

/// Prefix covering every resource of API `group` in every workspace (the
/// server's caches follow a whole group, e.g. RBAC, with one watch).
pub fn group_prefix(group: &str) -> Result<Bytes> {
    let group = if group.is_empty() {
        CORE_GROUP_SEGMENT
    } else {
        group
    };
    check_segment("group", group, false)?;
    Ok(Bytes::from(format!("{group}/")))
}

/// The parts of an object key, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// `group/resource[:identity]`.
    pub keyspace: &'a str,
    pub cluster: &'a str,
    /// Empty for cluster-scoped objects.
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Splits an object key into its parts; `None` if it is not a well-formed key.
pub fn parse(key: &[u8]) -> Option<KeyParts<'_>> {
    let s = std::str::from_utf8(key).ok()?;
    let mut it = s.splitn(5, '/');
    let group = it.next()?;
    let resource = it.next()?;
    let cluster = it.next()?;
    let namespace = it.next()?;
    let name = it.next()?;
    if group.is_empty()
        || resource.is_empty()
        || cluster.is_empty()
        || name.is_empty()
        || name.contains('/')
    {
        return None;
    }
    Some(KeyParts {
        keyspace: &s[..group.len() + 1 + resource.len()],
        cluster,
        namespace,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let ks = Keyspace::new("", "configmaps", None).unwrap();
        assert_eq!(ks.all_clusters(), "core/configmaps/");
        assert_eq!(ks.cluster("root").unwrap(), "core/configmaps/root/");
        assert_eq!(
            ks.namespace("root", "default").unwrap(),
            "core/configmaps/root/default/"
        );
        let key = ks.object("root", "default", "cm").unwrap();
        assert_eq!(key, "core/configmaps/root/default/cm");
        let p = parse(&key).unwrap();
        assert_eq!(
            (p.keyspace, p.cluster, p.namespace, p.name),
            ("core/configmaps", "root", "default", "cm")
        );

        assert_eq!(group_prefix("").unwrap(), "core/");
        let rbac = group_prefix("rbac.authorization.k8s.io").unwrap();
        let role = Keyspace::new("rbac.authorization.k8s.io", "roles", None).unwrap();
        assert!(role.all_clusters().starts_with(&rbac));
        assert!(group_prefix("a/b").is_err());

        let ns = Keyspace::new("", "namespaces", None).unwrap();
        let key = ns.object("root", "", "default").unwrap();
        assert_eq!(key, "core/namespaces/root//default");
        assert_eq!(parse(&key).unwrap().namespace, "");

        let bound = Keyspace::new("example.io", "widgets", Some("abc123")).unwrap();
        assert_eq!(bound.as_str(), "example.io/widgets:abc123");
        assert_eq!(
            parse(&bound.object("c1", "ns", "w").unwrap())
                .unwrap()
                .keyspace,
            "example.io/widgets:abc123"
        );
    }

    #[test]
    fn prefixes_do_not_bleed_into_siblings() {
        let ks = Keyspace::new("", "configmaps", None).unwrap();
        let root = ks.cluster("root").unwrap();
        let other = ks.object("root2", "default", "x").unwrap();
        assert!(!other.starts_with(&root));
    }

    #[test]
    fn rejects_separators_in_segments() {
        assert!(Keyspace::new("a/b", "r", None).is_err());
        let ks = Keyspace::new("g.io", "r", None).unwrap();
        assert!(ks.object("root", "ns", "a/b").is_err());
        assert!(ks.object("root", "ns", "").is_err());
        assert!(ks.cluster("").is_err());
        assert!(Keyspace::new("g.io", "r:x", None).is_err());
    }
}
