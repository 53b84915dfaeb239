//! APIResourceSchemas: a provider's API definition, shaped like a CRD's
//! spec, that APIExports reference by name.
//!
//! A schema is immutable (the CEL rule `self == oldSelf` on `spec`, as kcp
//! has it): bindings pin the schema they bound by name and UID, so a schema
//! that changed under them would silently change a served API. Hence the
//! checks here run on create only; an update can only touch metadata.
//!
//! What is checked is kcp's admission (`ValidateAPIResourceSchema`):
//!
//! * the name is `<prefix>.<plural>.<group>` (`core` for the core group),
//!   which is how exports refer to it ([`trellis_apis::kcp::schema_name`]);
//! * the group is a DNS subdomain with a dot, the core group or one of
//!   Kubernetes' single-segment groups;
//! * everything else — names, scope, versions, each version's
//!   `openAPIV3Schema` (structural, defaults, CEL rules compiled), printer
//!   columns, subresources, selectable fields, conversion — is the CRD
//!   validation, run on a CRD built from the spec. Its error paths are
//!   mapped back onto the schema's fields (a schema shared by all versions
//!   is reported on the first version, as the CRD validation hoists it);
//!   its rules for the CRD's name, group and status do not apply.
//!
//! Refusals are 422 (kcp's admission answers 403 with the same messages).
//! Deletion protection while an APIExport references the schema belongs to
//! the binding controller's work and is not done here.

use serde_json::{Map, Value, json};
use trellis_apis::FieldError;
use trellis_apis::kcp::schema_name::{group_error, name_error};

use crate::meta;
use crate::meta::str_at;
use crate::registry::hooked::Hooks;

pub struct SchemaHooks;

impl Hooks for SchemaHooks {
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }
}

/// The group the CRD validation sees: the core group and single-segment
/// groups are fine for a schema but not for a CRD, so they stand in as a
/// dotted name (the group's own rules are checked separately).
fn crd_group(group: &str) -> String {
    match group {
        "" => "core.invalid".into(),
        g if !g.contains('.') => format!("{g}.invalid"),
        g => g.into(),
    }
}

/// The CRD an APIResourceSchema describes, for validation.
pub fn crd_shape(obj: &Value) -> Value {
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let group = crd_group(str_at(&spec, "/group"));
    let plural = str_at(&spec, "/names/plural");
    let versions: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    let mut out: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
                    match out.remove("schema") {
                        Some(s) if s.is_object() => {
                            out.insert("schema".into(), json!({"openAPIV3Schema": s}));
                        }
                        _ => {}
                    }
                    Value::Object(out)
                })
                .collect()
        })
        .unwrap_or_default();
    let stored: Vec<Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut crd_spec = json!({
        "group": group,
        "names": spec.get("names").cloned().unwrap_or_else(|| json!({})),
        "scope": spec.get("scope").cloned().unwrap_or(Value::Null),
        "versions": versions,
        "conversion": spec.get("conversion").cloned().filter(Value::is_object)
            .unwrap_or_else(|| json!({"strategy": "None"})),
    });
    if crd_spec["scope"].is_null() {
        crd_spec.as_object_mut().expect("object").remove("scope");
    }
    let mut metadata = json!({"name": format!("{plural}.{group}")});
    if let Some(a) = obj.pointer("/metadata/annotations") {
        metadata["annotations"] = a.clone();
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": crd_spec,
        "status": {"storedVersions": stored, "acceptedNames": {"plural": "", "kind": ""}},
    })
}

/// `rest` when `path` is `prefix` or continues it with `.` or `[`.
fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')).then_some(rest)
}

/// Maps a CRD validation path onto the schema; `None` for rules that do
/// not apply to schemas.
fn map_path(path: &str) -> Option<String> {
    for dropped in [
        "metadata.name",
        "metadata.generateName",
        "status",
        "spec.group",
        "spec.version",
        "spec.preserveUnknownFields",
    ] {
        if under(path, dropped).is_some() {
            return None;
        }
    }
    for (from, to) in [
        ("spec.validation", "spec.versions[0].schema"),
        ("spec.subresources", "spec.versions[0].subresources"),
        (
            "spec.additionalPrinterColumns",
            "spec.versions[0].additionalPrinterColumns",
        ),
        ("spec.selectableFields", "spec.versions[0].selectableFields"),
        (
            "spec.conversion.webhookClientConfig",
            "spec.conversion.webhook.clientConfig",
        ),
        (
            "spec.conversion.conversionReviewVersions",
            "spec.conversion.webhook.conversionReviewVersions",
        ),
    ] {
        if let Some(rest) = under(path, from) {
            return Some(format!("{to}{rest}"));
        }
    }
    Some(path.to_string())
}

/// kcp's `ValidateAPIResourceSchema`.
pub fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let group = str_at(&spec, "/group");
    let plural = str_at(&spec, "/names/plural");
    let mut errs = Vec::new();
    let name = meta::name(obj);
    if !name.is_empty()
        && let Some(msg) = name_error(name, group, plural)
    {
        errs.push(FieldError::invalid("metadata.name", name, msg));
    }
    if let Some(msg) = group_error(group) {
        errs.push(FieldError::invalid("spec.group", group, msg));
    }
    for mut e in crate::custom::checks::validate_crd(&crd_shape(obj), None) {
        if let Some(p) = map_path(&e.field) {
            e.field = p;
            if !errs.contains(&e) {
                errs.push(e);
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
               "metadata": {"name": name}, "spec": spec})
    }

    fn widgets() -> Value {
        json!({
            "group": "example.io",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"color": {"type": "string"}}}}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Color", "type": "string", "jsonPath": ".spec.color"}],
            }],
        })
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_good_schema_passes() {
        assert_eq!(
            fields(&validate(&schema("v1.widgets.example.io", widgets()))),
            Vec::<String>::new()
        );
        let mut core = widgets();
        core["group"] = json!("");
        assert_eq!(
            fields(&validate(&schema("v1.widgets.core", core))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_name_must_end_in_plural_and_group() {
        let errs = validate(&schema("widgets.example.io", widgets()));
        assert_eq!(
            fields(&errs),
            vec![
                "metadata.name: Invalid value: \"widgets.example.io\": must end in .widgets.example.io"
            ]
        );
    }

    #[test]
    fn crd_rules_apply_at_schema_paths() {
        let mut spec = widgets();
        spec["versions"][0]["schema"]["properties"]["spec"]["type"] = json!("bogus");
        spec["versions"][0]["additionalPrinterColumns"][0]["type"] = json!("nope");
        spec["names"]["listKind"] = json!("");
        spec["group"] = json!("core");
        let errs = fields(&validate(&schema("v1.widgets.core", spec)));
        assert!(
            errs.iter()
                .any(|e| e
                    .starts_with("spec.versions[0].schema.openAPIV3Schema.properties[spec].type")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.versions[0].additionalPrinterColumns[0].type")),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"spec.names.listKind: Required value".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(
                &"spec.group: Invalid value: \"core\": must be empty string for the core group"
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(!errs.iter().any(|e| e.starts_with("status")), "{errs:?}");
    }

    #[test]
    fn cel_rules_in_schemas_are_compiled() {
        let mut spec = widgets();
        spec["versions"][0]["schema"]["properties"]["spec"]["x-kubernetes-validations"] =
            json!([{"rule": "self.color ==", "message": "x"}]);
        let errs = fields(&validate(&schema("v1.widgets.example.io", spec)));
        assert!(
            errs.iter().any(|e| e.starts_with(
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
            )),
            "{errs:?}"
        );
    }

    #[test]
    fn versions_with_different_schemas_report_their_own_paths() {
        let mut spec = widgets();
        let mut v2 = spec["versions"][0].clone();
        v2["name"] = json!("v2");
        v2["storage"] = json!(false);
        v2["schema"]["properties"]["spec"]["type"] = json!("bogus");
        spec["versions"] = json!([spec["versions"][0].clone(), v2]);
        spec["conversion"] = json!({"strategy": "None"});
        let errs = fields(&validate(&schema("v1.widgets.example.io", spec)));
        assert!(
            errs.iter()
                .any(|e| e
                    .starts_with("spec.versions[1].schema.openAPIV3Schema.properties[spec].type")),
            "{errs:?}"
        );
    }

    #[test]
    fn paths_map() {
        assert_eq!(map_path("status.storedVersions"), None);
        assert_eq!(map_path("spec.version"), None);
        assert_eq!(
            map_path("spec.versions[0].name").as_deref(),
            Some("spec.versions[0].name")
        );
        assert_eq!(
            map_path("spec.validation.openAPIV3Schema.type").as_deref(),
            Some("spec.versions[0].schema.openAPIV3Schema.type")
        );
        assert_eq!(
            map_path("spec.conversion.webhookClientConfig.url").as_deref(),
            Some("spec.conversion.webhook.clientConfig.url")
        );
    }
}
