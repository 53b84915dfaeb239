//! rbac.authorization.k8s.io/v1 (k8s.io/api/rbac/v1/types.go).

use k8s_pb::api::rbac::v1 as r;

use crate::proto::fields::message;
use crate::proto::types::list;

message!(r::Role {
    "metadata" => metadata: object,
    "rules" => rules: objects,
});
list!(r::RoleList => r::Role);

message!(r::ClusterRole {
    "metadata" => metadata: object,
    "rules" => rules: objects,
    "aggregationRule" => aggregation_rule: object,
});
list!(r::ClusterRoleList => r::ClusterRole);

message!(r::RoleBinding {
    "metadata" => metadata: object,
    "subjects" => subjects: objects,
    "roleRef" => role_ref: object,
});
list!(r::RoleBindingList => r::RoleBinding);

message!(r::ClusterRoleBinding {
    "metadata" => metadata: object,
    "subjects" => subjects: objects,
    "roleRef" => role_ref: object,
});
list!(r::ClusterRoleBindingList => r::ClusterRoleBinding);

message!(r::PolicyRule {
    "verbs" => verbs: strings,
    "apiGroups" => api_groups: strings,
    "resources" => resources: strings,
    "resourceNames" => resource_names: strings,
    "nonResourceURLs" => non_resource_ur_ls: strings,
});

message!(r::AggregationRule {
    "clusterRoleSelectors" => cluster_role_selectors: objects,
});

// Go: `Kind string json:"kind"`, `Name string json:"name"` (no omitempty).
message!(r::Subject {
    "kind" => kind: string_keep,
    "apiGroup" => api_group: string,
    "name" => name: string_keep,
    "namespace" => namespace: string,
});

// Go: all three fields without omitempty.
message!(r::RoleRef {
    "apiGroup" => api_group: string_keep,
    "kind" => kind: string_keep,
    "name" => name: string_keep,
});
