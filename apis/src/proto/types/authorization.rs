//! authorization.k8s.io/v1 (k8s.io/api/authorization/v1/types.go).

use k8s_pb::api::authorization::v1 as z;

use crate::proto::fields::message;

message!(z::SubjectAccessReview {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});

message!(z::LocalSubjectAccessReview {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});

message!(z::SelfSubjectAccessReview {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});

message!(z::SubjectAccessReviewSpec {
    "resourceAttributes" => resource_attributes: object,
    "nonResourceAttributes" => non_resource_attributes: object,
    "user" => user: string,
    "groups" => groups: strings,
    "extra" => extra: object_map,
    "uid" => uid: string,
});

message!(z::SelfSubjectAccessReviewSpec {
    "resourceAttributes" => resource_attributes: object,
    "nonResourceAttributes" => non_resource_attributes: object,
});

message!(z::ResourceAttributes {
    "namespace" => namespace: string,
    "verb" => verb: string,
    "group" => group: string,
    "version" => version: string,
    "resource" => resource: string,
    "subresource" => subresource: string,
    "name" => name: string,
    "fieldSelector" => field_selector: object,
    "labelSelector" => label_selector: object,
});

message!(z::FieldSelectorAttributes {
    "rawSelector" => raw_selector: string,
    "requirements" => requirements: objects,
});

message!(z::LabelSelectorAttributes {
    "rawSelector" => raw_selector: string,
    "requirements" => requirements: objects,
});

message!(z::NonResourceAttributes {
    "path" => path: string,
    "verb" => verb: string,
});

// Go: `Allowed bool json:"allowed"` (no omitempty), `Denied bool json:"denied,omitempty"`.
message!(z::SubjectAccessReviewStatus {
    "allowed" => allowed: boolean_keep,
    "denied" => denied: boolean,
    "reason" => reason: string,
    "evaluationError" => evaluation_error: string,
});

message!(z::SelfSubjectRulesReview {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});

message!(z::SelfSubjectRulesReviewSpec {
    "namespace" => namespace: string,
});

// Go: `Incomplete bool json:"incomplete"` (no omitempty).
message!(z::SubjectRulesReviewStatus {
    "resourceRules" => resource_rules: objects,
    "nonResourceRules" => non_resource_rules: objects,
    "incomplete" => incomplete: boolean_keep,
    "evaluationError" => evaluation_error: string,
});

message!(z::ResourceRule {
    "verbs" => verbs: strings,
    "apiGroups" => api_groups: strings,
    "resources" => resources: strings,
    "resourceNames" => resource_names: strings,
});

message!(z::NonResourceRule {
    "verbs" => verbs: strings,
    "nonResourceURLs" => non_resource_ur_ls: strings,
});

crate::proto::types::extra_value!(z::ExtraValue);
