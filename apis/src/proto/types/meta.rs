//! meta/v1 (k8s.io/apimachinery/pkg/apis/meta/v1/types.go).

use k8s_pb::apimachinery::pkg::apis::meta::v1 as m;

use crate::proto::fields::message;

message!(m::ObjectMeta {
    "name" => name: string,
    "generateName" => generate_name: string,
    "namespace" => namespace: string,
    "selfLink" => self_link: string,
    "uid" => uid: string,
    "resourceVersion" => resource_version: string,
    "generation" => generation: int64,
    "creationTimestamp" => creation_timestamp: time,
    "deletionTimestamp" => deletion_timestamp: time,
    "deletionGracePeriodSeconds" => deletion_grace_period_seconds: int64_keep,
    "labels" => labels: string_map,
    "annotations" => annotations: string_map,
    "ownerReferences" => owner_references: objects,
    "finalizers" => finalizers: strings,
    "managedFields" => managed_fields: objects,
});

message!(m::OwnerReference {
    "apiVersion" => api_version: string_keep,
    "kind" => kind: string_keep,
    "name" => name: string_keep,
    "uid" => uid: string_keep,
    "controller" => controller: boolean_keep,
    "blockOwnerDeletion" => block_owner_deletion: boolean_keep,
});

message!(m::ManagedFieldsEntry {
    "manager" => manager: string,
    "operation" => operation: string,
    "apiVersion" => api_version: string,
    "time" => time: time,
    "fieldsType" => fields_type: string,
    "fieldsV1" => fields_v1: fields_v1,
    "subresource" => subresource: string,
});

message!(m::ListMeta {
    "selfLink" => self_link: string,
    "resourceVersion" => resource_version: string,
    "continue" => r#continue: string,
    "remainingItemCount" => remaining_item_count: int64_keep,
});

message!(m::Status {
    "metadata" => metadata: object,
    "status" => status: string,
    "message" => message: string,
    "reason" => reason: string,
    "details" => details: object,
    "code" => code: int32,
});

message!(m::StatusDetails {
    "name" => name: string,
    "group" => group: string,
    "kind" => kind: string,
    "uid" => uid: string,
    "causes" => causes: objects,
    "retryAfterSeconds" => retry_after_seconds: int32,
});

// Go: `Type CauseType json:"reason,omitempty"`.
message!(m::StatusCause {
    "reason" => reason: string,
    "message" => message: string,
    "field" => field: string,
});

message!(m::DeleteOptions {
    "gracePeriodSeconds" => grace_period_seconds: int64_keep,
    "preconditions" => preconditions: object,
    "orphanDependents" => orphan_dependents: boolean_keep,
    "propagationPolicy" => propagation_policy: string_keep,
    "dryRun" => dry_run: strings,
    "ignoreStoreReadErrorWithClusterBreakingPotential" =>
        ignore_store_read_error_with_cluster_breaking_potential: boolean_keep,
});

message!(m::Preconditions {
    "uid" => uid: string_keep,
    "resourceVersion" => resource_version: string_keep,
});

message!(m::WatchEvent {
    "type" => r#type: string_keep,
    "object" => object: raw_extension,
});

message!(m::LabelSelector {
    "matchLabels" => match_labels: string_map,
    "matchExpressions" => match_expressions: objects,
});

message!(m::LabelSelectorRequirement {
    "key" => key: string_keep,
    "operator" => operator: string_keep,
    "values" => values: strings,
});

message!(m::FieldSelectorRequirement {
    "key" => key: string_keep,
    "operator" => operator: string_keep,
    "values" => values: strings,
});

// Go: `Type`, `Status`, `Reason`, `Message` without omitempty;
// `ObservedGeneration int64 omitempty`; `LastTransitionTime metav1.Time`.
message!(m::Condition {
    "type" => r#type: string_keep,
    "status" => status: string_keep,
    "observedGeneration" => observed_generation: int64,
    "lastTransitionTime" => last_transition_time: time,
    "reason" => reason: string_keep,
    "message" => message: string_keep,
});
