//! Message tables: one `message!` per k8s-pb struct, listing every field as
//! `"jsonName" => rust_field: kind` (kinds are documented in `crate::proto::fields`).
//!
//! The kind of each scalar follows the Go type in `k8s.io/api`: `*_keep` for pointer fields
//! and for value fields without `omitempty`, the plain kind for value fields with
//! `omitempty`.

pub(crate) mod admissionregistration;
pub(crate) mod authentication;
pub(crate) mod authorization;
pub(crate) mod certificates;
pub(crate) mod coordination;
pub(crate) mod core;
pub(crate) mod events;
pub(crate) mod meta;
pub(crate) mod rbac;

use crate::proto::fields::Conv;
use k8s_pb::apimachinery::pkg::apis::meta::v1::ListMeta;

/// A `FooList` message: `metadata` (ListMeta) + `items` (repeated Foo).
pub(crate) trait ListOf: Conv + prost::Message + Default {
    type Item: Conv;
    fn assemble(metadata: Option<ListMeta>, items: Vec<Self::Item>) -> Self;
}

/// Declares the JSON mapping of a `FooList` message. `items` is always emitted (as `[]`
/// when empty), as kube-apiserver does.
macro_rules! list {
    ($list:ty => $item:ty) => {
        $crate::proto::fields::message!($list {
            "metadata" => metadata: object,
            "items" => items: objects_keep,
        });
        impl $crate::proto::types::ListOf for $list {
            type Item = $item;
            fn assemble(
                metadata: Option<k8s_pb::apimachinery::pkg::apis::meta::v1::ListMeta>,
                items: Vec<$item>,
            ) -> Self {
                Self { metadata, items }
            }
        }
    };
}
pub(crate) use list;

/// `ExtraValue` (a Go `[]string` wrapped for protobuf): a JSON array of strings.
macro_rules! extra_value {
    ($ty:ty) => {
        impl $crate::proto::fields::Conv for $ty {
            fn to_json(
                &self,
                _: &$crate::proto::error::Path<'_>,
            ) -> $crate::proto::fields::Result<::serde_json::Value> {
                Ok(::serde_json::Value::Array(
                    self.items
                        .iter()
                        .cloned()
                        .map(::serde_json::Value::String)
                        .collect(),
                ))
            }

            fn from_json(
                value: &::serde_json::Value,
                path: &$crate::proto::error::Path<'_>,
            ) -> $crate::proto::fields::Result<Self> {
                Ok(Self {
                    items: $crate::proto::fields::strings::from_json(Some(value), path)?,
                })
            }
        }
    };
}
pub(crate) use extra_value;
