//! Per-resource behaviour plugged into the one generic store.
//!
//! Like `k8s.io/apiserver`'s `rest.RESTCreateStrategy` & co: everything that
//! differs between resources — decoding a body into the canonical form,
//! clearing fields on create, carrying fields over on update, validation,
//! field selectors, table columns — is a strategy method; the store itself
//! (create/update/patch/delete/list/watch) is written once.

use serde_json::Value;
use trellis_apis::FieldError;
pub use trellis_apis::validation::NameRule;

use crate::error::ApiResult;
use crate::request::params::FieldValidation;
use crate::table::Column;

/// A request body decoded into the canonical stored form.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub object: Value,
    /// Paths of fields the schema does not know (pruned from `object`).
    pub unknown_fields: Vec<String>,
}

pub trait Strategy: Send + Sync + 'static {
    /// Turns a request body (whose apiVersion/kind were already checked)
    /// into the canonical form, pruning and reporting unknown fields.
    /// Malformed field types are a 400.
    fn decode(&self, body: Value, validation: FieldValidation) -> ApiResult<Decoded>;

    /// Which names the resource accepts (DNS subdomains for most).
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    /// Adjusts a new object before validation (clears server-owned fields).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Carries server-owned fields over from `old` before validation.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Validation of everything but the generic metadata rules.
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate(new)
    }

    /// Validation of a write through `/status` (only status changed). Kube
    /// validates what such a write can change; an object stored with a
    /// spec today's rules refuse must still take status updates (a CRD
    /// that cannot be served is marked so through its status).
    fn validate_status_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        self.validate_update(new, old)
    }

    /// Whether a PUT of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// Whether a PUT without `metadata.resourceVersion` is allowed.
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// Whether deletion must wait beyond `metadata.finalizers` (namespaces
    /// wait for their spec finalizers).
    fn deletion_blocked(&self, _obj: &Value) -> bool {
        false
    }

    /// Marks an object whose deletion has begun (e.g. namespace phase).
    fn begin_deletion(&self, _obj: &mut Value) {}

    /// Whether `metadata.generation` is bumped when anything outside
    /// `metadata` (and `status`) changes.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Field-selector fields beyond `metadata.name`/`metadata.namespace`.
    fn selectable_fields(&self) -> &[&'static str] {
        &[]
    }

    /// Whether a field selector may name `field` (beyond `metadata.name`
    /// and `metadata.namespace`). Custom resources decide at run time.
    fn is_selectable(&self, field: &str) -> bool {
        self.selectable_fields().contains(&field)
    }

    /// The value of a selectable field (absent fields compare as "").
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        crate::table::json_path_str(obj, field)
    }

    /// Table columns and how to fill them.
    fn table_columns(&self) -> Vec<Column> {
        crate::table::default_columns()
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        crate::table::default_cells(obj, now)
    }
}
