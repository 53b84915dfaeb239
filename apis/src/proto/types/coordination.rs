//! coordination.k8s.io/v1 (k8s.io/api/coordination/v1/types.go). Every LeaseSpec field is
//! a Go pointer.

use k8s_pb::api::coordination::v1 as co;

use crate::proto::fields::message;
use crate::proto::types::list;

message!(co::Lease {
    "metadata" => metadata: object,
    "spec" => spec: object,
});
list!(co::LeaseList => co::Lease);

message!(co::LeaseSpec {
    "holderIdentity" => holder_identity: string_keep,
    "leaseDurationSeconds" => lease_duration_seconds: int32_keep,
    "acquireTime" => acquire_time: micro_time,
    "renewTime" => renew_time: micro_time,
    "leaseTransitions" => lease_transitions: int32_keep,
    "strategy" => strategy: string_keep,
    "preferredHolder" => preferred_holder: string_keep,
});
