//! Server-owned state that no tenant may write, whatever RBAC grants.
//!
//! A workspace's `cluster-admin` holds `*` on `*` inside it, which would
//! include writing what the server alone decides: an APIExport's identity
//! hash (which names the keyspace its consumers' objects live in), a
//! binding's bound resources, endpoint URLs, a workspace's phase, and the
//! `LogicalCluster` whose annotations say where the workspace sits in the
//! tree and which type it has. kcp refuses these with its system-CRD
//! authorizer (`apiexports/status`, `apibindings/status`) and its tenancy
//! maximal-permission policy (workspace and type status read-only); the
//! same rule here covers the rest of what Trellis serves that way.
//!
//! Only `system:masters` (checked before this) may write them; the server's
//! own controllers write through the store, not through authorization.
//! Initializers remove themselves from `logicalclusters/status`, which
//! stays open to RBAC (its admission allows nothing but that removal).

use trellis_apis::rbac::Attributes;

/// The reason a refusal gives: kcp's anonymised `access denied`.
pub const REASON: &str = "access denied";

const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// Whether `attrs` writes server-owned state.
pub fn protected(attrs: &Attributes) -> bool {
    if !attrs.resource_request || !WRITES.contains(&attrs.verb.as_str()) {
        return false;
    }
    let (group, resource, sub) = (
        attrs.api_group.as_str(),
        attrs.resource.as_str(),
        attrs.subresource.as_str(),
    );
    match (group, sub) {
        (trellis_apis::kcp::GROUP, "status") => matches!(
            resource,
            "apiexports" | "apibindings" | "apiexportendpointslices"
        ),
        ("tenancy.kcp.io", "status") => matches!(resource, "workspaces" | "workspacetypes"),
        ("core.kcp.io", "") => resource == "logicalclusters",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_apis::rbac::UserInfo;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str) -> Attributes {
        Attributes::resource(UserInfo::new("u"), verb, "", group, "", resource, sub, "x")
    }

    #[test]
    fn server_owned_writes_only() {
        for (verb, g, r, s) in [
            ("update", "apis.kcp.io", "apiexports", "status"),
            ("patch", "apis.kcp.io", "apibindings", "status"),
            ("update", "apis.kcp.io", "apiexportendpointslices", "status"),
            ("patch", "tenancy.kcp.io", "workspaces", "status"),
            ("update", "tenancy.kcp.io", "workspacetypes", "status"),
            ("delete", "core.kcp.io", "logicalclusters", ""),
            ("create", "core.kcp.io", "logicalclusters", ""),
            ("patch", "core.kcp.io", "logicalclusters", ""),
        ] {
            assert!(protected(&attrs(verb, g, r, s)), "{verb} {r}/{s}");
        }
        for (verb, g, r, s) in [
            ("get", "apis.kcp.io", "apiexports", "status"),
            ("update", "apis.kcp.io", "apiexports", ""),
            ("create", "apis.kcp.io", "apibindings", ""),
            ("update", "tenancy.kcp.io", "workspaces", ""),
            ("update", "core.kcp.io", "logicalclusters", "status"),
            ("list", "core.kcp.io", "logicalclusters", ""),
            ("update", "example.com", "widgets", "status"),
        ] {
            assert!(!protected(&attrs(verb, g, r, s)), "{verb} {r}/{s}");
        }
    }
}
