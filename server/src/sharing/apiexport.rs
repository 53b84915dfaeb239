//! APIExports: a provider's offer of APIResourceSchemas (and claims on
//! other resources) for other workspaces to bind.
//!
//! Stored as `v1alpha2` (`spec.resources`) and served as `v1alpha1`
//! (`spec.latestResourceSchemas`) through kcp's conversion (see
//! [`super::conversion`] and `trellis_apis::kcp::apiexport`). Everything
//! else is the schema: the status is server-owned through the status
//! subresource, which is all this groundwork enforces.
//!
//! Extension points, left to the controllers that give exports meaning:
//! the identity (a Secret in `kcp-system` named after the export, its hash
//! in `status.identityHash`, immutable once set — a hook's
//! `validate_update` on status), the default APIExportEndpointSlice named
//! after the export, and kcp's admission rule that claims on non-built-in
//! resources name an `identityHash`.

use trellis_apis::kcp::apiexport;

use super::conversion::Conversion;

/// `v1alpha1` ⇄ `v1alpha2`.
pub const CONVERSION: Conversion = Conversion {
    to_served: apiexport::to_v1alpha1,
    to_stored: apiexport::to_v1alpha2,
};
