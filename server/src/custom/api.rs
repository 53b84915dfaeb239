//! The description of a custom API, independent of where it was defined.
//!
//! Read from a CustomResourceDefinition (already validated and defaulted by
//! its own strategy, so absent optional fields simply mean "none"); an
//! APIResourceSchema has the same spec shape. The names served are the
//! *accepted* names (`status.acceptedNames`), which the naming logic only
//! grants when they conflict with nothing else in the cluster.

use serde_json::Value;

/// `spec.names` / `status.acceptedNames`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

impl Names {
    pub fn from_json(v: &Value) -> Names {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let kind = s("kind");
        let mut names = Names {
            plural: s("plural"),
            singular: s("singular"),
            list_kind: s("listKind"),
            kind,
            short_names: list("shortNames"),
            categories: list("categories"),
        };
        if names.singular.is_empty() {
            names.singular = names.kind.to_lowercase();
        }
        if names.list_kind.is_empty() && !names.kind.is_empty() {
            names.list_kind = format!("{}List", names.kind);
        }
        names
    }
}

/// `subresources.scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One printer column (`additionalPrinterColumns[*]`).
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    pub json_path: String,
}

/// One version of the API.
#[derive(Clone, Debug)]
pub struct Version {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    /// `schema.openAPIV3Schema`.
    pub schema: Value,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    pub columns: Vec<PrinterColumn>,
    /// `selectableFields[*].jsonPath`.
    pub selectable_fields: Vec<String>,
}

/// A custom API as a cluster serves it.
#[derive(Clone, Debug)]
pub struct CustomApi {
    pub group: String,
    pub names: Names,
    pub namespaced: bool,
    pub versions: Vec<Version>,
    /// Creates are refused while the definition is being deleted.
    pub terminating: bool,
    /// Where the objects are stored (`None`: plain `group/resource`; the
    /// export identity for bound APIs).
    pub identity: Option<String>,
    /// `spec.conversion` with strategy `Webhook`.
    pub conversion: Option<ConversionWebhook>,
}

/// A conversion webhook as a CRD (or an APIResourceSchema, same shape)
/// names it; checked by the definition's validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionWebhook {
    pub url: Option<String>,
    /// `namespace/name` of a service reference.
    pub service: Option<String>,
    /// PEM, decoded from `caBundle` (empty: the host's roots); an error
    /// when it is not base64 (kept by an older definition), so the
    /// webhook fails rather than trust the host's roots instead.
    pub ca_bundle: Result<Vec<u8>, String>,
    pub review_versions: Vec<String>,
}

impl ConversionWebhook {
    /// From a CRD-shaped `spec`; `None` unless the strategy is `Webhook`.
    pub fn from_spec(spec: &Value) -> Option<ConversionWebhook> {
        use base64::Engine;
        let c = spec.get("conversion")?;
        if c.get("strategy").and_then(Value::as_str) != Some("Webhook") {
            return None;
        }
        let cc = c.pointer("/webhook/clientConfig");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Some(ConversionWebhook {
            url: text(cc.and_then(|c| c.get("url"))),
            service: cc
                .and_then(|c| c.get("service"))
                .map(|s| format!("{}/{}", str_of(s, "namespace"), str_of(s, "name"))),
            ca_bundle: match text(cc.and_then(|c| c.get("caBundle"))) {
                None => Ok(Vec::new()),
                Some(b) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| format!("clientConfig.caBundle is not base64: {e}")),
            },
            review_versions: crate::meta::strings_at(c, "/webhook/conversionReviewVersions"),
        })
    }
}

impl CustomApi {
    /// The API a CRD defines, served under its accepted names. `None` when
    /// no names were accepted yet.
    pub fn from_crd(crd: &Value) -> Option<CustomApi> {
        let spec = crd.get("spec")?;
        let accepted = Names::from_json(crd.pointer("/status/acceptedNames")?);
        if accepted.plural.is_empty() || accepted.kind.is_empty() {
            return None;
        }
        let terminating = crd
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        Some(CustomApi {
            group: spec.get("group")?.as_str()?.to_string(),
            names: accepted,
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            versions: versions_from_spec(spec),
            terminating,
            identity: None,
            conversion: ConversionWebhook::from_spec(spec),
        })
    }

    /// The storage version's name.
    pub fn storage_version(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.as_str())
    }
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The versions of a CRD-shaped spec (`spec.versions`).
pub fn versions_from_spec(spec: &Value) -> Vec<Version> {
    let Some(versions) = spec.get("versions").and_then(Value::as_array) else {
        return Vec::new();
    };
    versions
        .iter()
        .map(|v| {
            let subs = v.get("subresources");
            let scale = subs.and_then(|s| s.get("scale")).map(|s| ScalePaths {
                spec_replicas: str_of(s, "specReplicasPath"),
                status_replicas: str_of(s, "statusReplicasPath"),
                label_selector: s
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            });
            let columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: str_of(c, "name"),
                            kind: str_of(c, "type"),
                            format: str_of(c, "format"),
                            description: str_of(c, "description"),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0)
                                as i32,
                            json_path: str_of(c, "jsonPath"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let selectable_fields = v
                .get("selectableFields")
                .and_then(Value::as_array)
                .map(|fs| fs.iter().map(|f| str_of(f, "jsonPath")).collect())
                .unwrap_or_default();
            Version {
                name: str_of(v, "name"),
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                deprecated: v.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
                deprecation_warning: v
                    .get("deprecationWarning")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                schema: v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})),
                status: subs.and_then(|s| s.get("status")).is_some(),
                scale,
                columns,
                selectable_fields,
            }
        })
        .collect()
}
