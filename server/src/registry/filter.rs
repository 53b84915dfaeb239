//! Label and field selectors applied to objects (lists, watches, deletes).

use serde_json::Value;
use trellis_apis::{fields, labels};

use super::ResourceDef;
use crate::error::{ApiError, ApiResult};

/// What a list or watch is restricted to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub labels: Option<labels::Selector>,
    pub fields: Option<fields::FieldSelector>,
}

impl Filter {
    /// Parses and checks selectors against what `def` can select on.
    pub fn parse(
        def: &ResourceDef,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> ApiResult<Self> {
        let labels = match label_selector.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(labels::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
        };
        let fields = match field_selector.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let sel = fields::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                for r in sel.requirements() {
                    if r.field != "metadata.name"
                        && r.field != "metadata.namespace"
                        && !def.strategy.is_selectable(&r.field)
                    {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {}",
                            r.field
                        )));
                    }
                    // Selectors are matched on the stored form, which a
                    // conversion webhook may shape differently: only the
                    // identity fields mean the same in every version.
                    if def.converts_remotely()
                        && r.field != "metadata.name"
                        && r.field != "metadata.namespace"
                    {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {}: {} {} is converted by a webhook; only metadata.name and metadata.namespace can be selected in this version",
                            r.field,
                            def.api_version(),
                            def.kind
                        )));
                    }
                }
                Some(sel)
            }
        };
        Ok(Filter { labels, fields })
    }

    /// Whether every object passes (no parsing needed).
    pub fn is_trivial(&self) -> bool {
        self.labels.as_ref().is_none_or(|l| l.is_empty())
            && self.fields.as_ref().is_none_or(|f| f.is_empty())
    }

    /// `metadata.name=<x>` if the field selector pins one name.
    pub fn single_name(&self) -> Option<&str> {
        self.fields
            .as_ref()
            .and_then(|f| f.single_equality("metadata.name"))
    }

    pub fn matches(&self, def: &ResourceDef, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            let empty = serde_json::Map::new();
            let labels = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            if !l.matches(labels) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            let get = |field: &str| -> Option<String> {
                match field {
                    "metadata.name" => obj
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    "metadata.namespace" => obj
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    other => def.strategy.field_value(obj, other),
                }
            };
            if !f.matches(get) {
                return false;
            }
        }
        true
    }
}
