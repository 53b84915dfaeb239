//! A strategy with resource-specific rules layered over a generic one.
//!
//! The server's own API types (Workspaces, LogicalClusters, later APIExports
//! and APIBindings) are declared as CRDs so the schema machinery validates,
//! prunes, defaults and prints them exactly as it does custom resources.
//! What is special about each type — server-owned fields, immutability,
//! deletion behaviour — is a small [`Hooks`] implementation; [`Hooked`]
//! runs the generic strategy first and the hooks after it.

use std::sync::Arc;

use serde_json::Value;
use trellis_apis::FieldError;

use super::{Decoded, NameRule, Strategy};
use crate::error::ApiResult;
use crate::request::params::FieldValidation;
use crate::table::Column;

/// Type-specific rules; every method defaults to "nothing extra".
pub trait Hooks: Send + Sync + 'static {
    fn name_rule(&self) -> Option<NameRule> {
        None
    }
    fn prepare_for_create(&self, _obj: &mut Value) {}
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
    fn validate_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }
    fn deletion_blocked(&self, _obj: &Value) -> bool {
        false
    }
    fn begin_deletion(&self, _obj: &mut Value) {}
}

pub struct Hooked {
    pub base: Arc<dyn Strategy>,
    pub hooks: Arc<dyn Hooks>,
}

impl Strategy for Hooked {
    fn decode(&self, body: Value, validation: FieldValidation) -> ApiResult<Decoded> {
        self.base.decode(body, validation)
    }
    fn name_rule(&self) -> NameRule {
        self.hooks
            .name_rule()
            .unwrap_or_else(|| self.base.name_rule())
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        self.base.prepare_for_create(obj);
        self.hooks.prepare_for_create(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.base.prepare_for_update(new, old);
        self.hooks.prepare_for_update(new, old);
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = self.base.validate(obj);
        errs.extend(self.hooks.validate(obj));
        errs
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.base.validate_update(new, old);
        errs.extend(self.hooks.validate_update(new, old));
        errs
    }
    fn allow_create_on_update(&self) -> bool {
        self.base.allow_create_on_update()
    }
    fn allow_unconditional_update(&self) -> bool {
        self.base.allow_unconditional_update()
    }
    fn deletion_blocked(&self, obj: &Value) -> bool {
        self.base.deletion_blocked(obj) || self.hooks.deletion_blocked(obj)
    }
    fn begin_deletion(&self, obj: &mut Value) {
        self.base.begin_deletion(obj);
        self.hooks.begin_deletion(obj);
    }
    fn tracks_generation(&self) -> bool {
        self.base.tracks_generation()
    }
    fn selectable_fields(&self) -> &[&'static str] {
        self.base.selectable_fields()
    }
    fn is_selectable(&self, field: &str) -> bool {
        self.base.is_selectable(field)
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        self.base.field_value(obj, field)
    }
    fn table_columns(&self) -> Vec<Column> {
        self.base.table_columns()
    }
    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        self.base.table_cells(obj, now)
    }
}
