//! Serving `v1alpha1` APIExports and APIBindings from `v1alpha2` storage.
//!
//! The CRD machinery already serves every version of a multi-version CRD
//! from one keyspace, but its `None` conversion only rewrites `apiVersion`.
//! Here the `v1alpha1` definitions it builds are post-processed, nothing
//! else changes: their [`Converter`] runs kcp's conversions
//! (`trellis_apis::kcp`) around the generated one, and their strategy
//! ([`ConvertedStrategy`]) knows which form each store step sees.
//!
//! The generic store decodes a body with the served version's strategy,
//! converts it to the stored form, and from then on (prepare, validate,
//! field selectors) works on the stored form; tables are built from the
//! served form. So:
//!
//! * decoding prunes and defaults with the `v1alpha1` schema, then checks
//!   that the object converts (a bad `latestResourceSchemas` entry is a 422
//!   here, never a failure later);
//! * the converted object is normalized (pruned, defaulted) with the
//!   `v1alpha2` schema before it is stored, so stored objects look the same
//!   whichever version wrote them;
//! * validation checks the `v1alpha1` form first — what the client wrote,
//!   errors at the paths it knows, CEL transition rules against the old
//!   object in the same version — and, when that passes, the stored form,
//!   so nothing invalid for `v1alpha2` is ever stored;
//! * status stays server-owned: the status subresource logic runs on the
//!   stored form exactly as for `v1alpha2`.
//!
//! Known approximation: `managedFields` of writes through `v1alpha1` are
//! computed on the stored form with the `v1alpha1` schema (as for Events'
//! second group), so field ownership of renamed fields is coarse.

use std::sync::Arc;

use serde_json::Value;
use trellis_apis::kcp::ConversionError;
use trellis_apis::{FieldError, GroupKind, Status};

use crate::error::ApiResult;
use crate::meta;
use crate::registry::{Converter, Decoded, NameRule, ResourceDef, Strategy};
use crate::request::params::FieldValidation;
use crate::table::Column;

/// A pair of kcp conversion functions for one kind.
#[derive(Clone, Copy)]
pub struct Conversion {
    /// Stored (`v1alpha2`) → served (`v1alpha1`).
    pub to_served: fn(&Value) -> Value,
    /// Served (`v1alpha1`) → stored (`v1alpha2`).
    pub to_stored: fn(&Value) -> Result<Value, ConversionError>,
}

/// Runs kcp's conversion around the converter `defs::build` generated
/// (which sets `apiVersion` and applies the served schema's defaults).
pub struct KcpConverter {
    conversion: Conversion,
    generated: Arc<dyn Converter>,
    /// The storage version's own strategy, to normalize converted objects.
    stored: Arc<dyn Strategy>,
}

impl KcpConverter {
    /// The stored form, pruned and defaulted by the storage schema.
    fn stored_form(&self, served: &Value) -> Result<Value, ConversionError> {
        let converted = (self.conversion.to_stored)(served)?;
        Ok(
            match self
                .stored
                .decode(converted.clone(), FieldValidation::Ignore)
            {
                Ok(d) => d.object,
                Err(_) => converted,
            },
        )
    }
}

impl Converter for KcpConverter {
    fn to_served(&self, obj: Value) -> Value {
        self.generated.to_served((self.conversion.to_served)(&obj))
    }

    fn to_stored(&self, obj: Value) -> Value {
        match self.stored_form(&obj) {
            Ok(v) => v,
            Err(e) => {
                // Decoding checked the conversion, so this is a bug; keep
                // the object rather than lose it.
                tracing::error!(field = %e.field, detail = %e.detail, "apis.kcp.io conversion failed after decoding");
                self.generated.to_stored(obj)
            }
        }
    }
}

/// The strategy of a converted (served, not stored) version.
pub struct ConvertedStrategy {
    served: Arc<dyn Strategy>,
    stored: Arc<dyn Strategy>,
    converter: Arc<KcpConverter>,
    group_kind: GroupKind,
}

impl ConvertedStrategy {
    fn served_form(&self, stored: &Value) -> Value {
        self.converter.to_served(stored.clone())
    }
}

impl Strategy for ConvertedStrategy {
    fn decode(&self, body: Value, validation: FieldValidation) -> ApiResult<Decoded> {
        let decoded = self.served.decode(body, validation)?;
        if let Err(e) = (self.converter.conversion.to_stored)(&decoded.object) {
            let name = meta::name(&decoded.object).to_string();
            return Err(Status::invalid(&self.group_kind, &name, &[e.to_field_error()]).into());
        }
        Ok(decoded)
    }
    fn name_rule(&self) -> NameRule {
        self.served.name_rule()
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        self.stored.prepare_for_create(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.stored.prepare_for_update(new, old);
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let errs = self.served.validate(&self.served_form(obj));
        if !errs.is_empty() {
            return errs;
        }
        self.stored.validate(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let errs = self
            .served
            .validate_update(&self.served_form(new), &self.served_form(old));
        if !errs.is_empty() {
            return errs;
        }
        self.stored.validate_update(new, old)
    }
    fn allow_create_on_update(&self) -> bool {
        self.served.allow_create_on_update()
    }
    fn allow_unconditional_update(&self) -> bool {
        self.served.allow_unconditional_update()
    }
    fn deletion_blocked(&self, obj: &Value) -> bool {
        self.stored.deletion_blocked(obj)
    }
    fn begin_deletion(&self, obj: &mut Value) {
        self.stored.begin_deletion(obj);
    }
    fn tracks_generation(&self) -> bool {
        self.stored.tracks_generation()
    }
    fn selectable_fields(&self) -> &[&'static str] {
        self.stored.selectable_fields()
    }
    fn is_selectable(&self, field: &str) -> bool {
        self.stored.is_selectable(field)
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        self.stored.field_value(obj, field)
    }
    fn table_columns(&self) -> Vec<Column> {
        self.served.table_columns()
    }
    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        self.served.table_cells(obj, now)
    }
}

/// Makes `def` (a served version other than the storage version, built
/// by `defs::build`, which always gives those a converter) convert with
/// `conversion`; `stored` is the storage version's strategy.
pub fn apply(def: &mut ResourceDef, conversion: Conversion, stored: Arc<dyn Strategy>) {
    let Some(crate::registry::Conversion::Local(generated)) = def.converter.clone() else {
        return;
    };
    let converter = Arc::new(KcpConverter {
        conversion,
        generated,
        stored: stored.clone(),
    });
    def.strategy = Arc::new(ConvertedStrategy {
        served: def.strategy.clone(),
        stored,
        converter: converter.clone(),
        group_kind: def.group_kind(),
    });
    def.converter = Some(crate::registry::Conversion::Local(converter));
}
