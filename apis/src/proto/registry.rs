//! The table of supported (apiVersion, kind) pairs and their message types.

use k8s_pb::api::{
    admissionregistration::v1 as admission, authentication::v1 as authn,
    authorization::v1 as authz, certificates::v1 as certs, coordination::v1 as coord,
    core::v1 as core, events::v1 as events, rbac::v1 as rbac,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::Value;

use crate::proto::error::{Path, ProtoError};
use crate::proto::fields::{Conv, Result};
use crate::proto::types::ListOf;

/// Matches any apiVersion: meta/v1 kinds (Status, DeleteOptions, WatchEvent) are
/// registered into every group version, so a client may send e.g.
/// `rbac.authorization.k8s.io/v1` `DeleteOptions`.
const ANY_VERSION: &str = "*";

pub(crate) type EncodeList = fn(&Value, &[Value], &str) -> Result<Vec<u8>>;

pub(crate) struct Entry {
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    /// JSON object -> serialized message (no envelope).
    pub(crate) encode: fn(&Value, &str) -> Result<Vec<u8>>,
    /// Serialized message (no envelope) -> JSON object without apiVersion/kind.
    pub(crate) decode: fn(&[u8], &str) -> Result<Value>,
    /// For list kinds: (listMeta, items) -> serialized list message.
    pub(crate) encode_list: Option<EncodeList>,
    /// The JSON key order of the message (`crate::proto::order`).
    pub(crate) fields: fn() -> Option<&'static crate::proto::order::Fields>,
}

fn encode_msg<T: Conv + Message>(value: &Value, kind: &str) -> Result<Vec<u8>> {
    Ok(T::from_json(value, &Path::Root(kind))?.encode_to_vec())
}

fn decode_msg<T: Conv + Message + Default>(bytes: &[u8], kind: &str) -> Result<Value> {
    let msg = T::decode(bytes).map_err(|e| ProtoError::decode(kind, e))?;
    msg.to_json(&Path::Root(kind))
}

fn encode_list_msg<L: ListOf>(list_meta: &Value, items: &[Value], kind: &str) -> Result<Vec<u8>> {
    let root = Path::Root(kind);
    let meta_path = root.key("metadata");
    let metadata = if list_meta.is_null() {
        None
    } else {
        Some(meta::ListMeta::from_json(list_meta, &meta_path)?)
    };
    let items_path = root.key("items");
    let items = items
        .iter()
        .enumerate()
        .map(|(i, item)| L::Item::from_json(item, &items_path.index(i)))
        .collect::<Result<Vec<_>>>()?;
    Ok(L::assemble(metadata, items).encode_to_vec())
}

macro_rules! registry {
    (
        objects { $( $av:literal $kind:literal => $ty:ty; )* }
        lists { $( $lav:literal $lkind:literal => $lty:ty; )* }
    ) => {
        pub(crate) static ENTRIES: &[Entry] = &[
            $( Entry {
                api_version: $av,
                kind: $kind,
                encode: encode_msg::<$ty>,
                decode: decode_msg::<$ty>,
                encode_list: None,
                fields: <$ty as Conv>::fields,
            }, )*
            $( Entry {
                api_version: $lav,
                kind: $lkind,
                encode: encode_msg::<$lty>,
                decode: decode_msg::<$lty>,
                encode_list: Some(encode_list_msg::<$lty>),
                fields: <$lty as Conv>::fields,
            }, )*
        ];
    };
}

registry! {
    objects {
        "v1" "Namespace" => core::Namespace;
        "v1" "ConfigMap" => core::ConfigMap;
        "v1" "Secret" => core::Secret;
        "v1" "ServiceAccount" => core::ServiceAccount;
        "v1" "Event" => core::Event;
        "v1" "ResourceQuota" => core::ResourceQuota;
        "v1" "LimitRange" => core::LimitRange;
        "events.k8s.io/v1" "Event" => events::Event;
        "coordination.k8s.io/v1" "Lease" => coord::Lease;
        "certificates.k8s.io/v1" "CertificateSigningRequest" => certs::CertificateSigningRequest;
        "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicy" => admission::ValidatingAdmissionPolicy;
        "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicyBinding" => admission::ValidatingAdmissionPolicyBinding;
        "admissionregistration.k8s.io/v1" "ValidatingWebhookConfiguration" => admission::ValidatingWebhookConfiguration;
        "admissionregistration.k8s.io/v1" "MutatingWebhookConfiguration" => admission::MutatingWebhookConfiguration;
        "authentication.k8s.io/v1" "TokenRequest" => authn::TokenRequest;
        "authentication.k8s.io/v1" "SelfSubjectReview" => authn::SelfSubjectReview;
        "authorization.k8s.io/v1" "SubjectAccessReview" => authz::SubjectAccessReview;
        "authorization.k8s.io/v1" "SelfSubjectAccessReview" => authz::SelfSubjectAccessReview;
        "authorization.k8s.io/v1" "LocalSubjectAccessReview" => authz::LocalSubjectAccessReview;
        "authorization.k8s.io/v1" "SelfSubjectRulesReview" => authz::SelfSubjectRulesReview;
        "rbac.authorization.k8s.io/v1" "Role" => rbac::Role;
        "rbac.authorization.k8s.io/v1" "ClusterRole" => rbac::ClusterRole;
        "rbac.authorization.k8s.io/v1" "RoleBinding" => rbac::RoleBinding;
        "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => rbac::ClusterRoleBinding;
        "*" "Status" => meta::Status;
        "*" "DeleteOptions" => meta::DeleteOptions;
        "*" "WatchEvent" => meta::WatchEvent;
    }
    lists {
        "v1" "NamespaceList" => core::NamespaceList;
        "v1" "ConfigMapList" => core::ConfigMapList;
        "v1" "SecretList" => core::SecretList;
        "v1" "ServiceAccountList" => core::ServiceAccountList;
        "v1" "EventList" => core::EventList;
        "v1" "ResourceQuotaList" => core::ResourceQuotaList;
        "v1" "LimitRangeList" => core::LimitRangeList;
        "events.k8s.io/v1" "EventList" => events::EventList;
        "coordination.k8s.io/v1" "LeaseList" => coord::LeaseList;
        "certificates.k8s.io/v1" "CertificateSigningRequestList" => certs::CertificateSigningRequestList;
        "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicyList" => admission::ValidatingAdmissionPolicyList;
        "admissionregistration.k8s.io/v1" "ValidatingAdmissionPolicyBindingList" => admission::ValidatingAdmissionPolicyBindingList;
        "admissionregistration.k8s.io/v1" "ValidatingWebhookConfigurationList" => admission::ValidatingWebhookConfigurationList;
        "admissionregistration.k8s.io/v1" "MutatingWebhookConfigurationList" => admission::MutatingWebhookConfigurationList;
        "rbac.authorization.k8s.io/v1" "RoleList" => rbac::RoleList;
        "rbac.authorization.k8s.io/v1" "ClusterRoleList" => rbac::ClusterRoleList;
        "rbac.authorization.k8s.io/v1" "RoleBindingList" => rbac::RoleBindingList;
        "rbac.authorization.k8s.io/v1" "ClusterRoleBindingList" => rbac::ClusterRoleBindingList;
    }
}

pub(crate) fn lookup(api_version: &str, kind: &str) -> Option<&'static Entry> {
    ENTRIES
        .iter()
        .find(|e| e.kind == kind && e.api_version == api_version)
        .or_else(|| {
            ENTRIES
                .iter()
                .find(|e| e.kind == kind && e.api_version == ANY_VERSION)
        })
}

/// Every registered (apiVersion, kind); `"*"` stands for any apiVersion.
pub(crate) fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENTRIES.iter().map(|e| (e.api_version, e.kind))
}
