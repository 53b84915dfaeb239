//! core/v1 (k8s.io/api/core/v1/types.go).

use k8s_pb::api::core::v1 as c;

use crate::proto::fields::message;
use crate::proto::types::list;

message!(c::Namespace {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});
list!(c::NamespaceList => c::Namespace);

message!(c::NamespaceSpec {
    "finalizers" => finalizers: strings,
});

message!(c::NamespaceStatus {
    "phase" => phase: string,
    "conditions" => conditions: objects,
});

message!(c::NamespaceCondition {
    "type" => r#type: string_keep,
    "status" => status: string_keep,
    "lastTransitionTime" => last_transition_time: time,
    "reason" => reason: string,
    "message" => message: string,
});

message!(c::ConfigMap {
    "metadata" => metadata: object,
    "immutable" => immutable: boolean_keep,
    "data" => data: string_map,
    "binaryData" => binary_data: bytes_map,
});
list!(c::ConfigMapList => c::ConfigMap);

message!(c::Secret {
    "metadata" => metadata: object,
    "immutable" => immutable: boolean_keep,
    "data" => data: bytes_map,
    "stringData" => string_data: string_map,
    "type" => r#type: string,
});
list!(c::SecretList => c::Secret);

message!(c::ServiceAccount {
    "metadata" => metadata: object,
    "secrets" => secrets: objects,
    "imagePullSecrets" => image_pull_secrets: objects,
    "automountServiceAccountToken" => automount_service_account_token: boolean_keep,
});
list!(c::ServiceAccountList => c::ServiceAccount);

message!(c::Event {
    "metadata" => metadata: object,
    "involvedObject" => involved_object: object,
    "reason" => reason: string,
    "message" => message: string,
    "source" => source: object,
    "firstTimestamp" => first_timestamp: time,
    "lastTimestamp" => last_timestamp: time,
    "count" => count: int32,
    "type" => r#type: string,
    "eventTime" => event_time: micro_time,
    "series" => series: object,
    "action" => action: string,
    "related" => related: object,
    // Go: `ReportingController string json:"reportingComponent"` (no omitempty).
    "reportingComponent" => reporting_component: string_keep,
    "reportingInstance" => reporting_instance: string_keep,
});
list!(c::EventList => c::Event);

message!(c::EventSource {
    "component" => component: string,
    "host" => host: string,
});

message!(c::EventSeries {
    "count" => count: int32,
    "lastObservedTime" => last_observed_time: micro_time,
});

message!(c::ObjectReference {
    "kind" => kind: string,
    "namespace" => namespace: string,
    "name" => name: string,
    "uid" => uid: string,
    "apiVersion" => api_version: string,
    "resourceVersion" => resource_version: string,
    "fieldPath" => field_path: string,
});

message!(c::LocalObjectReference {
    "name" => name: string,
});

message!(c::ResourceQuota {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});
list!(c::ResourceQuotaList => c::ResourceQuota);

message!(c::ResourceQuotaSpec {
    "hard" => hard: quantity_map,
    "scopes" => scopes: strings,
    "scopeSelector" => scope_selector: object,
});

message!(c::ResourceQuotaStatus {
    "hard" => hard: quantity_map,
    "used" => used: quantity_map,
});

message!(c::ScopeSelector {
    "matchExpressions" => match_expressions: objects,
});

message!(c::ScopedResourceSelectorRequirement {
    "scopeName" => scope_name: string_keep,
    "operator" => operator: string_keep,
    "values" => values: strings,
});

message!(c::LimitRange {
    "metadata" => metadata: object,
    "spec" => spec: object,
});
list!(c::LimitRangeList => c::LimitRange);

message!(c::LimitRangeSpec {
    "limits" => limits: objects_keep,
});

message!(c::LimitRangeItem {
    "type" => r#type: string_keep,
    "max" => max: quantity_map,
    "min" => min: quantity_map,
    "default" => default: quantity_map,
    "defaultRequest" => default_request: quantity_map,
    "maxLimitRequestRatio" => max_limit_request_ratio: quantity_map,
});
