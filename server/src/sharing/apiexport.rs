//! APIExports: a provider's offer of APIResourceSchemas (and claims on
//! other resources) for other workspaces to bind.
//!
//! Stored as `v1alpha2` (`spec.resources`) and served as `v1alpha1`
//! (`spec.latestResourceSchemas`) through kcp's conversion (see
//! [`super::conversion`] and `trellis_apis::kcp::apiexport`). Everything
//! else is the schema: the status is server-owned through the status
//! subresource, which is all this groundwork enforces.
//!
//! The identity (a Secret, by default `kcp-system/<export>`, hashed into
//! `status.identityHash`) and the default APIExportEndpointSlice are the
//! APIExport controller's (`controllers::apiexport`). The hash is
//! immutable once set: bound objects are stored under it, so changing it
//! would orphan them — [`ExportHooks`] refuses that on every write.
//!
//! Not done: kcp's admission rule that claims on non-built-in resources
//! name an `identityHash`.

use serde_json::Value;
use trellis_apis::FieldError;
use trellis_apis::kcp::apiexport;

use super::conversion::Conversion;
use crate::registry::hooked::Hooks;

pub struct ExportHooks;

impl Hooks for ExportHooks {
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let hash = |o: &Value| {
            o.pointer("/status/identityHash")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (was, is) = (hash(old), hash(new));
        if !was.is_empty() && was != is {
            return vec![FieldError::invalid(
                "status.identityHash",
                Value::String(is),
                "field is immutable",
            )];
        }
        Vec::new()
    }
}

/// `v1alpha1` ⇄ `v1alpha2`.
pub const CONVERSION: Conversion = Conversion {
    to_served: apiexport::to_v1alpha1,
    to_stored: apiexport::to_v1alpha2,
};
