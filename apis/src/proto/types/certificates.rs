//! certificates.k8s.io/v1 (k8s.io/api/certificates/v1/types.go).

use k8s_pb::api::certificates::v1 as c;

use crate::proto::fields::message;
use crate::proto::types::list;

message!(c::CertificateSigningRequest {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});
list!(c::CertificateSigningRequestList => c::CertificateSigningRequest);

// Go: `Request []byte json:"request"`, `SignerName string json:"signerName"`,
// `ExpirationSeconds *int32`, the rest `omitempty`.
message!(c::CertificateSigningRequestSpec {
    "request" => request: bytes_keep,
    "signerName" => signer_name: string_keep,
    "expirationSeconds" => expiration_seconds: int32_keep,
    "usages" => usages: strings,
    "username" => username: string,
    "uid" => uid: string,
    "groups" => groups: strings,
    "extra" => extra: object_map,
});

crate::proto::types::extra_value!(c::ExtraValue);

message!(c::CertificateSigningRequestStatus {
    "conditions" => conditions: objects,
    "certificate" => certificate: bytes,
});

message!(c::CertificateSigningRequestCondition {
    "type" => r#type: string_keep,
    "status" => status: string_keep,
    "reason" => reason: string,
    "message" => message: string,
    "lastUpdateTime" => last_update_time: time,
    "lastTransitionTime" => last_transition_time: time,
});
