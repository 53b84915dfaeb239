//! authentication.k8s.io/v1 (k8s.io/api/authentication/v1/types.go).

use k8s_pb::api::authentication::v1 as a;

use crate::proto::fields::message;

message!(a::TokenRequest {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});

// Go: `Audiences []string json:"audiences"`, `ExpirationSeconds *int64`,
// `BoundObjectRef *BoundObjectReference`.
message!(a::TokenRequestSpec {
    "audiences" => audiences: strings,
    "expirationSeconds" => expiration_seconds: int64_keep,
    "boundObjectRef" => bound_object_ref: object,
});

// Go: `Token string json:"token"` (no omitempty).
message!(a::TokenRequestStatus {
    "token" => token: string_keep,
    "expirationTimestamp" => expiration_timestamp: time,
});

message!(a::BoundObjectReference {
    "kind" => kind: string,
    "apiVersion" => api_version: string,
    "name" => name: string,
    "uid" => u_id: string,
});

message!(a::SelfSubjectReview {
    "metadata" => metadata: object,
    "status" => status: object,
});

message!(a::SelfSubjectReviewStatus {
    "userInfo" => user_info: object,
});

message!(a::UserInfo {
    "username" => username: string,
    "uid" => uid: string,
    "groups" => groups: strings,
    "extra" => extra: object_map,
});

crate::proto::types::extra_value!(a::ExtraValue);
