//! `LogicalCluster` objects: one per workspace, always named `cluster`.
//!
//! The object is the workspace seen from inside: its phase, its owner (the
//! `Workspace` in the parent) and the initializers that still have to run.
//! Initializers remove themselves from `status.initializers` through the
//! status subresource; the workspace controller notices and completes the
//! workspace once none is left.

use serde_json::Value;
use trellis_apis::FieldError;

use crate::meta;
use crate::registry::hooked::Hooks;

pub struct LogicalClusterHooks;

impl Hooks for LogicalClusterHooks {
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let name = meta::name(obj);
        if name != super::LOGICAL_CLUSTER {
            return vec![FieldError::invalid(
                "metadata.name",
                Value::String(name.to_string()),
                "must be \"cluster\"",
            )];
        }
        Vec::new()
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // Initializers only ever shrink: a workspace cannot be sent back
        // into initialization.
        let list = |v: &Value| -> Vec<String> {
            v.pointer("/status/initializers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        if old.pointer("/status/phase").is_none() {
            // Initialization has not started: the controller sets them.
            return Vec::new();
        }
        let (n, o) = (list(new), list(old));
        match n.iter().find(|i| !o.contains(i)) {
            Some(added) => vec![FieldError::invalid(
                "status.initializers",
                Value::String(added.clone()),
                "initializers can only be removed",
            )],
            None => Vec::new(),
        }
    }
}
