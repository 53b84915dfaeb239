//! The default ClusterRoles and ClusterRoleBindings every workspace starts
//! with (upstream `bootstrappolicy.ClusterRoles()` /
//! `ClusterRoleBindings()`), cut down to what Trellis serves.
//!
//! Kept as upstream, so kubectl habits and tooling carry over:
//! - `cluster-admin`: every verb on every resource of every group and every
//!   URL; bound to group `system:masters`;
//! - `admin`, `edit`, `view`: empty roles with an `aggregationRule`
//!   selecting `rbac.authorization.k8s.io/aggregate-to-<role>: "true"`;
//!   `edit` carries `aggregate-to-admin` and `view` carries
//!   `aggregate-to-edit`, so admin ⊇ edit ⊇ view, and CRD authors extend
//!   them by labelling their own ClusterRoles;
//! - `system:aggregate-to-{admin,edit,view}` carry the actual rules;
//! - `system:discovery`, `system:basic-user` (bound to
//!   `system:authenticated`), `system:public-info-viewer` (bound to
//!   `system:authenticated` and `system:unauthenticated`) and
//!   `system:monitoring` (bound to group `system:monitoring`);
//! - `system:auth-delegator` (unbound: create TokenReviews and
//!   SubjectAccessReviews, for proxies that authenticate and authorize
//!   their callers through the server, such as kube-rbac-proxy);
//! - every object is labelled `kubernetes.io/bootstrapping: rbac-defaults`
//!   and annotated `rbac.authorization.kubernetes.io/autoupdate: "true"`.
//!
//! The aggregated rules keep upstream's choices for the resources Trellis
//! serves and drop the rest (pods, services, workloads, ...):
//! - view: read `configmaps`, `serviceaccounts`, `events`,
//!   `namespaces/status`, and `namespaces` (read access at namespace scope
//!   lets a user see the namespace they work in); never `secrets` (reading
//!   them would expose service account tokens);
//! - edit: view, plus read `secrets`, write `configmaps`, `secrets`,
//!   `serviceaccounts`, `events`, `impersonate` service accounts, create
//!   `serviceaccounts/token`, and read-write `coordination.k8s.io` leases;
//!   namespaces stay read-only;
//! - admin: edit, plus read-write `roles`/`rolebindings` and create
//!   `localsubjectaccessreviews`. CustomResourceDefinitions are cluster
//!   objects and in none of them, as upstream.
//!
//! The aggregating roles are returned with `rules: None`; the
//! [index](super::PolicyIndex) aggregates on the fly and
//! [`aggregate_cluster_roles`](super::aggregate_cluster_roles) computes what
//! to store.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::attributes::{ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, SYSTEM_MASTERS};
use super::rules::new_rule;

/// Label on every bootstrap object.
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
pub const BOOTSTRAPPING_VALUE: &str = "rbac-defaults";
/// Annotation asking the server to reconcile the object on start.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// Labels that feed the aggregated roles.
pub const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
pub const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
pub const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";
/// Group bound to `system:monitoring`.
pub const MONITORING_GROUP: &str = "system:monitoring";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut all: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert(BOOTSTRAPPING_LABEL.into(), BOOTSTRAPPING_VALUE.into());
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(all),
        annotations: Some([(AUTOUPDATE_ANNOTATION.to_string(), "true".to_string())].into()),
        ..Default::default()
    }
}

fn role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, labels),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

fn aggregated(name: &str, labels: &[(&str, &str)], select: &str) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, labels),
        rules: None,
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some([(select.to_string(), "true".to_string())].into()),
                match_expressions: None,
            }]),
        }),
    }
}

/// The bootstrap ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    vec![
        role(
            "cluster-admin",
            &[],
            vec![
                new_rule(&["*"]).groups(&["*"]).resources(&["*"]).build(),
                new_rule(&["*"]).urls(&["*"]).build(),
            ],
        ),
        role(
            "system:discovery",
            &[],
            vec![
                new_rule(&["get"])
                    .urls(&[
                        "/livez",
                        "/readyz",
                        "/healthz",
                        "/version",
                        "/version/",
                        "/openapi",
                        "/openapi/*",
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                    ])
                    .build(),
            ],
        ),
        role(
            "system:monitoring",
            &[],
            vec![
                new_rule(&["get"])
                    .urls(&[
                        "/metrics",
                        "/metrics/slis",
                        "/livez",
                        "/readyz",
                        "/healthz",
                        "/livez/*",
                        "/readyz/*",
                        "/healthz/*",
                    ])
                    .build(),
            ],
        ),
        role(
            "system:basic-user",
            &[],
            vec![
                new_rule(&["create"])
                    .groups(&["authorization.k8s.io"])
                    .resources(&["selfsubjectaccessreviews", "selfsubjectrulesreviews"])
                    .build(),
                new_rule(&["create"])
                    .groups(&["authentication.k8s.io"])
                    .resources(&["selfsubjectreviews"])
                    .build(),
            ],
        ),
        role(
            "system:auth-delegator",
            &[],
            vec![
                new_rule(&["create"])
                    .groups(&["authentication.k8s.io"])
                    .resources(&["tokenreviews"])
                    .build(),
                new_rule(&["create"])
                    .groups(&["authorization.k8s.io"])
                    .resources(&["subjectaccessreviews"])
                    .build(),
            ],
        ),
        role(
            "system:public-info-viewer",
            &[],
            vec![
                new_rule(&["get"])
                    .urls(&["/livez", "/readyz", "/healthz", "/version", "/version/"])
                    .build(),
            ],
        ),
        aggregated("admin", &[], AGGREGATE_TO_ADMIN),
        aggregated("edit", &[(AGGREGATE_TO_ADMIN, "true")], AGGREGATE_TO_EDIT),
        aggregated("view", &[(AGGREGATE_TO_EDIT, "true")], AGGREGATE_TO_VIEW),
        role(
            "system:aggregate-to-admin",
            &[(AGGREGATE_TO_ADMIN, "true")],
            vec![
                new_rule(&["create"])
                    .groups(&["authorization.k8s.io"])
                    .resources(&["localsubjectaccessreviews"])
                    .build(),
                new_rule(READ_WRITE)
                    .groups(&[RBAC_GROUP])
                    .resources(&["roles", "rolebindings"])
                    .build(),
            ],
        ),
        role(
            "system:aggregate-to-edit",
            &[(AGGREGATE_TO_EDIT, "true")],
            vec![
                // Reading secrets is edit-level: they hold credentials.
                new_rule(READ).groups(&[""]).resources(&["secrets"]).build(),
                new_rule(&["impersonate"])
                    .groups(&[""])
                    .resources(&["serviceaccounts"])
                    .build(),
                new_rule(WRITE)
                    .groups(&[""])
                    .resources(&["serviceaccounts", "configmaps", "secrets", "events"])
                    .build(),
                new_rule(&["create"])
                    .groups(&[""])
                    .resources(&["serviceaccounts/token"])
                    .build(),
                new_rule(READ_WRITE)
                    .groups(&["coordination.k8s.io"])
                    .resources(&["leases"])
                    .build(),
            ],
        ),
        role(
            "system:aggregate-to-view",
            &[(AGGREGATE_TO_VIEW, "true")],
            vec![
                new_rule(READ)
                    .groups(&[""])
                    .resources(&["serviceaccounts", "configmaps"])
                    .build(),
                new_rule(READ)
                    .groups(&[""])
                    .resources(&["events", "namespaces/status"])
                    .build(),
                new_rule(READ)
                    .groups(&[""])
                    .resources(&["namespaces"])
                    .build(),
            ],
        ),
    ]
}

fn binding(role: &str, groups: &[&str]) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(role, &[]),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(
            groups
                .iter()
                .map(|g| Subject {
                    api_group: Some(RBAC_GROUP.into()),
                    kind: "Group".into(),
                    name: g.to_string(),
                    namespace: None,
                })
                .collect(),
        ),
    }
}

/// The bootstrap ClusterRoleBindings, each named after its role.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    vec![
        binding("cluster-admin", &[SYSTEM_MASTERS]),
        binding("system:monitoring", &[MONITORING_GROUP]),
        binding("system:discovery", &[ALL_AUTHENTICATED]),
        binding("system:basic-user", &[ALL_AUTHENTICATED]),
        binding(
            "system:public-info-viewer",
            &[ALL_AUTHENTICATED, ALL_UNAUTHENTICATED],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::aggregation::aggregate_cluster_roles;
    use crate::rbac::attributes::{Attributes, UserInfo};
    use crate::rbac::index::{PolicyIndex, USER_KIND};
    use k8s_openapi::api::rbac::v1::RoleBinding;

    fn index_with(role_bindings: &[RoleBinding]) -> PolicyIndex {
        PolicyIndex::build(
            [],
            &cluster_roles(),
            role_bindings,
            &cluster_role_bindings(),
        )
    }

    fn bind(ns: &str, role: &str, user: &str) -> RoleBinding {
        RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("{user}-{role}")),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: RBAC_GROUP.into(),
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects: Some(vec![Subject {
                kind: USER_KIND.into(),
                name: user.into(),
                ..Default::default()
            }]),
        }
    }

    fn can(
        idx: &PolicyIndex,
        user: &UserInfo,
        verb: &str,
        ns: &str,
        group: &str,
        res: &str,
    ) -> bool {
        let (resource, sub) = res.split_once('/').unwrap_or((res, ""));
        let name = if matches!(verb, "get" | "update" | "patch" | "delete") || !sub.is_empty() {
            "obj"
        } else {
            ""
        };
        idx.authorize(&Attributes::resource(
            user.clone(),
            verb,
            ns,
            group,
            "v1",
            resource,
            sub,
            name,
        ))
        .is_allowed()
    }

    #[test]
    fn metadata_is_upstreams() {
        for r in cluster_roles() {
            let m = &r.metadata;
            assert_eq!(
                m.labels.as_ref().unwrap()[BOOTSTRAPPING_LABEL],
                "rbac-defaults"
            );
            assert_eq!(
                m.annotations.as_ref().unwrap()[AUTOUPDATE_ANNOTATION],
                "true"
            );
        }
        for b in cluster_role_bindings() {
            assert_eq!(
                b.metadata.labels.as_ref().unwrap()[BOOTSTRAPPING_LABEL],
                "rbac-defaults"
            );
            assert_eq!(
                b.metadata.annotations.as_ref().unwrap()[AUTOUPDATE_ANNOTATION],
                "true"
            );
        }
        let json = serde_json::to_value(&cluster_roles()[0]).unwrap();
        assert_eq!(json["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(json["kind"], "ClusterRole");
        assert_eq!(
            json["rules"],
            serde_json::json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]}
            ])
        );
        let b = serde_json::to_value(&cluster_role_bindings()[0]).unwrap();
        assert_eq!(
            b["subjects"],
            serde_json::json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}])
        );
    }

    #[test]
    fn aggregation_nests_view_in_edit_in_admin() {
        let agg = aggregate_cluster_roles(&cluster_roles());
        assert_eq!(agg.len(), 3);
        let view = &agg["view"];
        let edit = &agg["edit"];
        let admin = &agg["admin"];
        assert_eq!(view.len(), 3);
        assert!(view.iter().all(|r| edit.contains(r)));
        assert!(edit.iter().all(|r| admin.contains(r)));
        assert_eq!(edit.len(), 8);
        assert_eq!(admin.len(), 10);
    }

    #[test]
    fn default_roles_grant_what_upstream_does() {
        let idx = index_with(&[
            bind("ns", "view", "viewer"),
            bind("ns", "edit", "editor"),
            bind("ns", "admin", "boss"),
        ]);
        let viewer = UserInfo::new("viewer");
        let editor = UserInfo::new("editor");
        let boss = UserInfo::new("boss");

        for u in [&viewer, &editor, &boss] {
            assert!(can(&idx, u, "list", "ns", "", "configmaps"));
            assert!(can(&idx, u, "get", "ns", "", "namespaces"));
            assert!(!can(&idx, u, "delete", "ns", "", "namespaces"));
            assert!(!can(&idx, u, "update", "ns", "", "namespaces"));
            assert!(!can(&idx, u, "list", "other", "", "configmaps"));
            assert!(!can(
                &idx,
                u,
                "list",
                "ns",
                "apiextensions.k8s.io",
                "customresourcedefinitions"
            ));
            assert!(!can(
                &idx,
                u,
                "create",
                "",
                "apiextensions.k8s.io",
                "customresourcedefinitions"
            ));
        }
        assert!(!can(&idx, &viewer, "get", "ns", "", "secrets"));
        assert!(!can(&idx, &viewer, "create", "ns", "", "configmaps"));
        assert!(!can(
            &idx,
            &viewer,
            "get",
            "ns",
            "coordination.k8s.io",
            "leases"
        ));
        assert!(can(&idx, &viewer, "watch", "ns", "", "events"));

        for u in [&editor, &boss] {
            assert!(can(&idx, u, "get", "ns", "", "secrets"));
            assert!(can(&idx, u, "deletecollection", "ns", "", "secrets"));
            assert!(can(&idx, u, "create", "ns", "", "serviceaccounts/token"));
            assert!(can(
                &idx,
                u,
                "update",
                "ns",
                "coordination.k8s.io",
                "leases"
            ));
            assert!(can(&idx, u, "patch", "ns", "", "configmaps"));
            assert!(can(&idx, u, "impersonate", "ns", "", "serviceaccounts"));
        }
        assert!(!can(
            &idx,
            &editor,
            "create",
            "ns",
            RBAC_GROUP,
            "rolebindings"
        ));
        assert!(can(&idx, &boss, "create", "ns", RBAC_GROUP, "rolebindings"));
        assert!(can(&idx, &boss, "list", "ns", RBAC_GROUP, "roles"));
        assert!(!can(&idx, &boss, "list", "ns", RBAC_GROUP, "clusterroles"));
    }

    #[test]
    fn default_bindings() {
        let idx = index_with(&[]);
        let root = UserInfo::new("root").with_groups([SYSTEM_MASTERS]);
        assert!(can(
            &idx,
            &root,
            "delete",
            "",
            "apiextensions.k8s.io",
            "customresourcedefinitions"
        ));
        assert!(can(&idx, &root, "escalate", "", RBAC_GROUP, "clusterroles"));
        let anyone = Attributes::non_resource(root.clone(), "post", "/anything");
        assert!(idx.authorize(&anyone).is_allowed());

        let user = UserInfo::new("u").with_groups([ALL_AUTHENTICATED]);
        for path in [
            "/api",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3",
            "/healthz",
        ] {
            assert!(
                idx.authorize(&Attributes::non_resource(user.clone(), "get", path))
                    .is_allowed(),
                "{path}"
            );
        }
        assert!(
            !idx.authorize(&Attributes::non_resource(user.clone(), "get", "/metrics"))
                .is_allowed()
        );
        assert!(can(
            &idx,
            &user,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
        ));
        assert!(can(
            &idx,
            &user,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectrulesreviews"
        ));
        assert!(can(
            &idx,
            &user,
            "create",
            "",
            "authentication.k8s.io",
            "selfsubjectreviews"
        ));
        assert!(!can(&idx, &user, "list", "default", "", "configmaps"));

        let anon = UserInfo::new("system:anonymous").with_groups([ALL_UNAUTHENTICATED]);
        assert!(
            idx.authorize(&Attributes::non_resource(anon.clone(), "get", "/version"))
                .is_allowed()
        );
        assert!(
            idx.authorize(&Attributes::non_resource(anon.clone(), "get", "/livez"))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&Attributes::non_resource(anon.clone(), "get", "/apis"))
                .is_allowed()
        );
        assert!(!can(
            &idx,
            &anon,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
        ));

        let mon = UserInfo::new("prom").with_groups([MONITORING_GROUP]);
        assert!(
            idx.authorize(&Attributes::non_resource(mon, "get", "/readyz/etcd"))
                .is_allowed()
        );
    }
}
