//! The CRD as upstream validation sees it: the *internal*
//! `apiextensions.CustomResourceDefinition`, decoded from v1 JSON.
//!
//! kube-apiserver never validates the v1 object. It converts it to the
//! internal version first, and that conversion changes what errors say:
//!
//! * when every version carries an identical `schema`, `subresources`,
//!   `additionalPrinterColumns` (or, with identical schemas, identical
//!   `selectableFields`), the value is hoisted to the top-level
//!   `spec.validation` / `spec.subresources` / ... and cleared per version,
//!   so a single-version CRD reports schema errors under
//!   `spec.validation.openAPIV3Schema`, not `spec.versions[0].schema...`;
//! * `spec.version` is set to the first version's name (and validated);
//! * `spec.conversion.webhook.{clientConfig,conversionReviewVersions}`
//!   become `spec.conversion.{webhookClientConfig,conversionReviewVersions}`;
//! * `spec.preserveUnknownFields` becomes a non-nil `*bool`.
//!
//! Decoding is lenient: a field of the wrong JSON type reads as absent,
//! `null` reads as absent everywhere (as Go's decoder leaves nil pointers).
//! Upstream rejects wrongly typed fields while decoding, before validation;
//! that is the caller's job.
//!
//! Equality (`PartialEq`) mirrors `apiequality.Semantic.DeepEqual`, which
//! hoisting and several rules use: Go slices are `Vec`s, so nil and empty
//! compare equal, and the borrowed raw JSON ([`Raw`]) never takes part.

use std::collections::BTreeMap;

use serde_json::Value;

/// A borrowed view of the original v1 JSON node, kept so hooks can be given
/// the schema as the user wrote it. It compares equal to any other `Raw`, so
/// deriving `PartialEq` on the owning struct compares decoded fields only.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a>(pub &'a Value);

impl PartialEq for Raw<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

fn string(v: &Value, k: &str) -> String {
    opt_string(v, k).unwrap_or_default()
}

fn opt_string(v: &Value, k: &str) -> Option<String> {
    field(v, k).and_then(Value::as_str).map(str::to_string)
}

fn boolean(v: &Value, k: &str) -> bool {
    opt_bool(v, k).unwrap_or(false)
}

fn opt_bool(v: &Value, k: &str) -> Option<bool> {
    field(v, k).and_then(Value::as_bool)
}

fn opt_f64(v: &Value, k: &str) -> Option<f64> {
    field(v, k).and_then(Value::as_f64)
}

fn opt_i64(v: &Value, k: &str) -> Option<i64> {
    field(v, k).and_then(Value::as_i64)
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    field(v, k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn array<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    field(v, k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn object<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    field(v, k).filter(|x| x.is_object())
}

/// `JSONSchemaProps`, one field per Go field (Go order), decoded leniently.
#[derive(Clone, Debug, PartialEq)]
pub struct Props<'a> {
    pub raw: Raw<'a>,
    pub id: String,
    /// `$schema`.
    pub schema: String,
    /// `$ref` (a `*string` upstream: `""` is set).
    pub ref_: Option<String>,
    pub description: String,
    pub type_: String,
    pub format: String,
    pub title: String,
    pub default: Option<&'a Value>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: String,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
    pub enum_: Vec<&'a Value>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub items: Option<Items<'a>>,
    pub all_of: Vec<Props<'a>>,
    pub one_of: Vec<Props<'a>>,
    pub any_of: Vec<Props<'a>>,
    pub not: Option<Box<Props<'a>>>,
    pub properties: BTreeMap<String, Props<'a>>,
    pub additional_properties: Option<PropsOrBool<'a>>,
    pub pattern_properties: BTreeMap<String, Props<'a>>,
    /// A map that is checked for presence (`!= nil`) in one place and for
    /// length in another, hence the `Option`.
    pub dependencies: Option<BTreeMap<String, PropsOrStrings<'a>>>,
    pub additional_items: Option<PropsOrBool<'a>>,
    pub definitions: BTreeMap<String, Props<'a>>,
    pub external_docs: Option<ExternalDocs>,
    pub example: Option<&'a Value>,
    pub nullable: bool,
    pub x_preserve_unknown_fields: Option<bool>,
    pub x_embedded_resource: bool,
    pub x_int_or_string: bool,
    pub x_list_map_keys: Vec<String>,
    pub x_list_type: Option<String>,
    pub x_map_type: Option<String>,
    pub x_validations: Vec<Rule>,
}

/// `JSONSchemaPropsOrArray`.
#[derive(Clone, Debug, PartialEq)]
pub enum Items<'a> {
    Schema(Box<Props<'a>>),
    Array(Vec<Props<'a>>),
}

impl<'a> Items<'a> {
    /// `Items.Schema`.
    pub fn schema(&self) -> Option<&Props<'a>> {
        match self {
            Items::Schema(s) => Some(s),
            Items::Array(_) => None,
        }
    }

    /// `Items.JSONSchemas`.
    pub fn array(&self) -> &[Props<'a>] {
        match self {
            Items::Schema(_) => &[],
            Items::Array(a) => a,
        }
    }
}

/// `JSONSchemaPropsOrBool`: `true`/`false`, or a schema (which allows).
#[derive(Clone, Debug, PartialEq)]
pub struct PropsOrBool<'a> {
    pub allows: bool,
    pub schema: Option<Box<Props<'a>>>,
}

/// `JSONSchemaPropsOrStringArray`.
#[derive(Clone, Debug, PartialEq)]
pub struct PropsOrStrings<'a> {
    pub schema: Option<Box<Props<'a>>>,
    pub property: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExternalDocs {
    pub description: String,
    pub url: String,
}

/// One `x-kubernetes-validations` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    pub reason: Option<String>,
    pub field_path: String,
    pub optional_old_self: Option<bool>,
}

fn props_or_bool(v: &Value) -> Option<PropsOrBool<'_>> {
    match v {
        Value::Bool(b) => Some(PropsOrBool {
            allows: *b,
            schema: None,
        }),
        Value::Object(_) => Some(PropsOrBool {
            allows: true,
            schema: Some(Box::new(Props::parse(v))),
        }),
        _ => None,
    }
}

fn props_map<'a>(v: &'a Value, k: &str) -> BTreeMap<String, Props<'a>> {
    field(v, k)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, s)| s.is_object())
                .map(|(name, s)| (name.clone(), Props::parse(s)))
                .collect()
        })
        .unwrap_or_default()
}

fn props_list<'a>(v: &'a Value, k: &str) -> Vec<Props<'a>> {
    array(v, k)
        .iter()
        .filter(|s| s.is_object())
        .map(Props::parse)
        .collect()
}

impl<'a> Props<'a> {
    /// Decodes one v1 schema node.
    pub fn parse(v: &'a Value) -> Props<'a> {
        let items = match field(v, "items") {
            Some(x @ Value::Object(_)) => Some(Items::Schema(Box::new(Props::parse(x)))),
            Some(Value::Array(a)) => Some(Items::Array(
                a.iter()
                    .filter(|s| s.is_object())
                    .map(Props::parse)
                    .collect(),
            )),
            _ => None,
        };
        let dependencies = field(v, "dependencies")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, d)| {
                        let dep = match d {
                            Value::Object(_) => PropsOrStrings {
                                schema: Some(Box::new(Props::parse(d))),
                                property: Vec::new(),
                            },
                            Value::Array(a) => PropsOrStrings {
                                schema: None,
                                property: a
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect(),
                            },
                            _ => return None,
                        };
                        Some((k.clone(), dep))
                    })
                    .collect()
            });
        Props {
            raw: Raw(v),
            id: string(v, "id"),
            schema: string(v, "$schema"),
            ref_: opt_string(v, "$ref"),
            description: string(v, "description"),
            type_: string(v, "type"),
            format: string(v, "format"),
            title: string(v, "title"),
            default: field(v, "default"),
            maximum: opt_f64(v, "maximum"),
            exclusive_maximum: boolean(v, "exclusiveMaximum"),
            minimum: opt_f64(v, "minimum"),
            exclusive_minimum: boolean(v, "exclusiveMinimum"),
            max_length: opt_i64(v, "maxLength"),
            min_length: opt_i64(v, "minLength"),
            pattern: string(v, "pattern"),
            max_items: opt_i64(v, "maxItems"),
            min_items: opt_i64(v, "minItems"),
            unique_items: boolean(v, "uniqueItems"),
            multiple_of: opt_f64(v, "multipleOf"),
            enum_: array(v, "enum").iter().collect(),
            max_properties: opt_i64(v, "maxProperties"),
            min_properties: opt_i64(v, "minProperties"),
            required: strings(v, "required"),
            items,
            all_of: props_list(v, "allOf"),
            one_of: props_list(v, "oneOf"),
            any_of: props_list(v, "anyOf"),
            not: object(v, "not").map(|n| Box::new(Props::parse(n))),
            properties: props_map(v, "properties"),
            additional_properties: field(v, "additionalProperties").and_then(props_or_bool),
            pattern_properties: props_map(v, "patternProperties"),
            dependencies,
            additional_items: field(v, "additionalItems").and_then(props_or_bool),
            definitions: props_map(v, "definitions"),
            external_docs: object(v, "externalDocs").map(|d| ExternalDocs {
                description: string(d, "description"),
                url: string(d, "url"),
            }),
            example: field(v, "example"),
            nullable: boolean(v, "nullable"),
            x_preserve_unknown_fields: opt_bool(v, "x-kubernetes-preserve-unknown-fields"),
            x_embedded_resource: boolean(v, "x-kubernetes-embedded-resource"),
            x_int_or_string: boolean(v, "x-kubernetes-int-or-string"),
            x_list_map_keys: strings(v, "x-kubernetes-list-map-keys"),
            x_list_type: opt_string(v, "x-kubernetes-list-type"),
            x_map_type: opt_string(v, "x-kubernetes-map-type"),
            x_validations: array(v, "x-kubernetes-validations")
                .iter()
                .filter(|r| r.is_object())
                .map(|r| Rule {
                    rule: string(r, "rule"),
                    message: string(r, "message"),
                    message_expression: string(r, "messageExpression"),
                    reason: opt_string(r, "reason"),
                    field_path: string(r, "fieldPath"),
                    optional_old_self: opt_bool(r, "optionalOldSelf"),
                })
                .collect(),
        }
    }

    /// Structural `XPreserveUnknownFields` (true only when set to true).
    pub fn preserves_unknown(&self) -> bool {
        self.x_preserve_unknown_fields == Some(true)
    }

    /// The Go names of the fields holding a non-zero value, in Go field
    /// order (the order `reflect` walks the struct in).
    pub fn non_zero_go_fields(&self) -> Vec<&'static str> {
        let checks: [(&'static str, bool); 44] = [
            ("ID", !self.id.is_empty()),
            ("Schema", !self.schema.is_empty()),
            ("Ref", self.ref_.is_some()),
            ("Description", !self.description.is_empty()),
            ("Type", !self.type_.is_empty()),
            ("Format", !self.format.is_empty()),
            ("Title", !self.title.is_empty()),
            ("Default", self.default.is_some()),
            ("Maximum", self.maximum.is_some()),
            ("ExclusiveMaximum", self.exclusive_maximum),
            ("Minimum", self.minimum.is_some()),
            ("ExclusiveMinimum", self.exclusive_minimum),
            ("MaxLength", self.max_length.is_some()),
            ("MinLength", self.min_length.is_some()),
            ("Pattern", !self.pattern.is_empty()),
            ("MaxItems", self.max_items.is_some()),
            ("MinItems", self.min_items.is_some()),
            ("UniqueItems", self.unique_items),
            ("MultipleOf", self.multiple_of.is_some()),
            ("Enum", !self.enum_.is_empty()),
            ("MaxProperties", self.max_properties.is_some()),
            ("MinProperties", self.min_properties.is_some()),
            ("Required", !self.required.is_empty()),
            ("Items", self.items.is_some()),
            ("AllOf", !self.all_of.is_empty()),
            ("OneOf", !self.one_of.is_empty()),
            ("AnyOf", !self.any_of.is_empty()),
            ("Not", self.not.is_some()),
            ("Properties", !self.properties.is_empty()),
            ("AdditionalProperties", self.additional_properties.is_some()),
            ("PatternProperties", !self.pattern_properties.is_empty()),
            (
                "Dependencies",
                self.dependencies.as_ref().is_some_and(|d| !d.is_empty()),
            ),
            ("AdditionalItems", self.additional_items.is_some()),
            ("Definitions", !self.definitions.is_empty()),
            ("ExternalDocs", self.external_docs.is_some()),
            ("Example", self.example.is_some()),
            ("Nullable", self.nullable),
            (
                "XPreserveUnknownFields",
                self.x_preserve_unknown_fields.is_some(),
            ),
            ("XEmbeddedResource", self.x_embedded_resource),
            ("XIntOrString", self.x_int_or_string),
            ("XListMapKeys", !self.x_list_map_keys.is_empty()),
            ("XListType", self.x_list_type.is_some()),
            ("XMapType", self.x_map_type.is_some()),
            ("XValidations", !self.x_validations.is_empty()),
        ];
        checks
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }

    /// Every schema node reachable the way upstream's `SchemaHas` walks
    /// (items, junctors, properties, additionalProperties, patternProperties,
    /// additionalItems, definitions, dependencies), self first.
    pub fn any(&self, pred: &mut dyn FnMut(&Props<'a>) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        if let Some(items) = &self.items {
            if let Some(s) = items.schema()
                && s.any(pred)
            {
                return true;
            }
            for s in items.array() {
                if s.any(pred) {
                    return true;
                }
            }
        }
        for s in self.all_of.iter().chain(&self.any_of).chain(&self.one_of) {
            if s.any(pred) {
                return true;
            }
        }
        if let Some(n) = &self.not
            && n.any(pred)
        {
            return true;
        }
        for s in self.properties.values() {
            if s.any(pred) {
                return true;
            }
        }
        if let Some(s) = self
            .additional_properties
            .as_ref()
            .and_then(|a| a.schema.as_deref())
            && s.any(pred)
        {
            return true;
        }
        for s in self.pattern_properties.values() {
            if s.any(pred) {
                return true;
            }
        }
        if let Some(s) = self
            .additional_items
            .as_ref()
            .and_then(|a| a.schema.as_deref())
            && s.any(pred)
        {
            return true;
        }
        for s in self.definitions.values() {
            if s.any(pred) {
                return true;
            }
        }
        if let Some(deps) = &self.dependencies {
            for d in deps.values() {
                if let Some(s) = &d.schema
                    && s.any(pred)
                {
                    return true;
                }
            }
        }
        false
    }
}

/// `CustomResourceValidation`.
#[derive(Clone, Debug, PartialEq)]
pub struct Validation<'a> {
    pub open_api_v3_schema: Option<Props<'a>>,
}

impl<'a> Validation<'a> {
    fn parse(v: &'a Value) -> Validation<'a> {
        Validation {
            open_api_v3_schema: object(v, "openAPIV3Schema").map(Props::parse),
        }
    }

    /// The schema, if both the wrapper and the schema are set.
    pub fn schema<'v>(v: &'v Option<Validation<'a>>) -> Option<&'v Props<'a>> {
        v.as_ref().and_then(|v| v.open_api_v3_schema.as_ref())
    }
}

/// `CustomResourceSubresources`.
#[derive(Clone, Debug, PartialEq)]
pub struct Subresources {
    pub status: bool,
    pub scale: Option<Scale>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

impl Subresources {
    fn parse(v: &Value) -> Subresources {
        Subresources {
            status: object(v, "status").is_some(),
            scale: object(v, "scale").map(|s| Scale {
                spec_replicas_path: string(s, "specReplicasPath"),
                status_replicas_path: string(s, "statusReplicasPath"),
                label_selector_path: opt_string(s, "labelSelectorPath"),
            }),
        }
    }
}

/// `CustomResourceColumnDefinition`.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

impl Column {
    fn parse(v: &Value) -> Column {
        Column {
            name: string(v, "name"),
            type_: string(v, "type"),
            format: string(v, "format"),
            description: string(v, "description"),
            priority: opt_i64(v, "priority").unwrap_or(0),
            json_path: string(v, "jsonPath"),
        }
    }
}

/// `SelectableField`.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectableField {
    pub json_path: String,
}

fn selectable_fields(v: &Value, k: &str) -> Vec<SelectableField> {
    array(v, k)
        .iter()
        .map(|f| SelectableField {
            json_path: string(f, "jsonPath"),
        })
        .collect()
}

fn columns(v: &Value, k: &str) -> Vec<Column> {
    array(v, k).iter().map(Column::parse).collect()
}

/// `CustomResourceDefinitionVersion` (internal).
#[derive(Clone, Debug, PartialEq)]
pub struct Version<'a> {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    pub schema: Option<Validation<'a>>,
    pub subresources: Option<Subresources>,
    pub columns: Vec<Column>,
    pub selectable_fields: Vec<SelectableField>,
}

/// `CustomResourceDefinitionNames`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Names {
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub kind: String,
    pub list_kind: String,
    pub categories: Vec<String>,
}

impl Names {
    pub fn parse(v: Option<&Value>) -> Names {
        let Some(v) = v else {
            return Names::default();
        };
        Names {
            plural: string(v, "plural"),
            singular: string(v, "singular"),
            short_names: strings(v, "shortNames"),
            kind: string(v, "kind"),
            list_kind: string(v, "listKind"),
            categories: strings(v, "categories"),
        }
    }
}

/// `ServiceReference` (port already defaulted to 443 by v1 defaulting;
/// an absent port converts to 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub path: Option<String>,
    pub port: i64,
}

/// `WebhookClientConfig`; `ca_bundle` is the base64 text of the v1 JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub url: Option<String>,
    pub service: Option<Service>,
    pub ca_bundle: String,
}

/// `CustomResourceConversion` (internal shape).
#[derive(Clone, Debug, PartialEq)]
pub struct Conversion {
    pub strategy: String,
    pub webhook_client_config: Option<ClientConfig>,
    pub conversion_review_versions: Vec<String>,
}

impl Conversion {
    fn parse(v: &Value) -> Conversion {
        let webhook = object(v, "webhook");
        Conversion {
            strategy: string(v, "strategy"),
            webhook_client_config: webhook.and_then(|w| object(w, "clientConfig")).map(|c| {
                ClientConfig {
                    url: opt_string(c, "url"),
                    service: object(c, "service").map(|s| Service {
                        namespace: string(s, "namespace"),
                        name: string(s, "name"),
                        path: opt_string(s, "path"),
                        port: opt_i64(s, "port").unwrap_or(0),
                    }),
                    ca_bundle: string(c, "caBundle"),
                }
            }),
            conversion_review_versions: webhook
                .map(|w| strings(w, "conversionReviewVersions"))
                .unwrap_or_default(),
        }
    }
}

/// `CustomResourceDefinitionSpec` (internal, after hoisting).
#[derive(Clone, Debug, PartialEq)]
pub struct Spec<'a> {
    pub group: String,
    /// The deprecated internal `spec.version`: the first version's name.
    pub version: String,
    pub names: Names,
    pub scope: String,
    pub validation: Option<Validation<'a>>,
    pub subresources: Option<Subresources>,
    pub versions: Vec<Version<'a>>,
    pub columns: Vec<Column>,
    pub selectable_fields: Vec<SelectableField>,
    pub conversion: Option<Conversion>,
    pub preserve_unknown_fields: Option<bool>,
}

impl<'a> Spec<'a> {
    /// Decodes a v1 `spec` and applies the v1 → internal conversion.
    pub fn parse(spec: Option<&'a Value>) -> Spec<'a> {
        static EMPTY: Value = Value::Null;
        let v = spec.unwrap_or(&EMPTY);
        let versions: Vec<Version<'a>> = array(v, "versions")
            .iter()
            .map(|ver| Version {
                name: string(ver, "name"),
                served: boolean(ver, "served"),
                storage: boolean(ver, "storage"),
                deprecated: boolean(ver, "deprecated"),
                deprecation_warning: opt_string(ver, "deprecationWarning"),
                schema: object(ver, "schema").map(Validation::parse),
                subresources: object(ver, "subresources").map(Subresources::parse),
                columns: columns(ver, "additionalPrinterColumns"),
                selectable_fields: selectable_fields(ver, "selectableFields"),
            })
            .collect();
        let mut spec = Spec {
            group: string(v, "group"),
            version: String::new(),
            names: Names::parse(field(v, "names")),
            scope: string(v, "scope"),
            validation: None,
            subresources: None,
            versions,
            columns: Vec::new(),
            selectable_fields: Vec::new(),
            conversion: object(v, "conversion").map(Conversion::parse),
            // v1 has a plain bool; conversion always yields a pointer.
            preserve_unknown_fields: Some(boolean(v, "preserveUnknownFields")),
        };
        spec.hoist();
        spec
    }

    /// `Convert_v1_CustomResourceDefinitionSpec_To_apiextensions_...`: move
    /// per-version fields identical across all versions to the top level.
    fn hoist(&mut self) {
        let Some(first) = self.versions.first().cloned() else {
            return;
        };
        self.version = first.name.clone();
        let all = |f: &dyn Fn(&Version<'a>) -> bool| self.versions.iter().all(f);
        let same_subresources = all(&|v| v.subresources == first.subresources);
        let same_schema = all(&|v| v.schema == first.schema);
        let same_columns = all(&|v| v.columns == first.columns);
        let same_selectable = all(&|v| v.selectable_fields == first.selectable_fields);
        if same_subresources {
            self.subresources = first.subresources.clone();
        }
        if same_schema {
            self.validation = first.schema.clone();
        }
        if same_columns {
            self.columns = first.columns.clone();
        }
        let hoist_selectable = same_schema && same_selectable;
        if hoist_selectable {
            self.selectable_fields = first.selectable_fields.clone();
        }
        for v in &mut self.versions {
            if same_subresources {
                v.subresources = None;
            }
            if same_schema {
                v.schema = None;
            }
            if same_columns {
                v.columns.clear();
            }
            if hoist_selectable {
                v.selectable_fields.clear();
            }
        }
    }

    /// Every schema of the spec, top-level first.
    pub fn schemas(&self) -> impl Iterator<Item = &Props<'a>> {
        Validation::schema(&self.validation).into_iter().chain(
            self.versions
                .iter()
                .filter_map(|v| Validation::schema(&v.schema)),
        )
    }

    /// Upstream `HasSchemaWith`.
    pub fn has_schema_with(&self, pred: &mut dyn FnMut(&Props<'a>) -> bool) -> bool {
        self.schemas().any(pred)
    }

    /// The subresources that apply to `version` (`getSubresourcesForVersion`).
    pub fn subresources_for(&self, version: &str) -> Option<&Subresources> {
        if !self.versions.iter().any(|v| v.subresources.is_some()) {
            return self.subresources.as_ref();
        }
        self.versions
            .iter()
            .find(|v| v.name == version)
            .and_then(|v| v.subresources.as_ref())
    }

    /// The schema that applies to `version` (`GetSchemaForVersion` on the
    /// internal object: the per-version schema only).
    pub fn version_schema(&self, version: &str) -> Option<Option<&Validation<'a>>> {
        self.versions
            .iter()
            .find(|v| v.name == version)
            .map(|v| v.schema.as_ref())
    }
}

/// One status condition (the fields validation and controllers read).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
}

/// The parts of `CustomResourceDefinitionStatus` validation reads.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    pub accepted_names: Names,
    pub stored_versions: Vec<String>,
    pub conditions: Vec<Condition>,
}

impl Status {
    fn parse(v: Option<&Value>) -> Status {
        let Some(v) = v else {
            return Status::default();
        };
        Status {
            accepted_names: Names::parse(field(v, "acceptedNames")),
            stored_versions: strings(v, "storedVersions"),
            conditions: array(v, "conditions")
                .iter()
                .map(|c| Condition {
                    type_: string(c, "type"),
                    status: string(c, "status"),
                })
                .collect(),
        }
    }

    /// `IsCRDConditionTrue`: the first condition of that type is `True`.
    pub fn condition_true(&self, type_: &str) -> bool {
        self.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .is_some_and(|c| c.status == "True")
    }
}

/// The whole object, as validation needs it.
#[derive(Clone, Debug)]
pub struct Crd<'a> {
    pub name: String,
    pub generate_name: String,
    /// `annotations["api-approved.kubernetes.io"]` (`""` when absent).
    pub approval: String,
    pub spec: Spec<'a>,
    pub status: Status,
}

/// The API approval annotation.
pub const API_APPROVED_ANNOTATION: &str = "api-approved.kubernetes.io";

impl<'a> Crd<'a> {
    pub fn parse(v: &'a Value) -> Crd<'a> {
        let meta = field(v, "metadata");
        Crd {
            name: meta.map(|m| string(m, "name")).unwrap_or_default(),
            generate_name: meta.map(|m| string(m, "generateName")).unwrap_or_default(),
            approval: meta
                .and_then(|m| field(m, "annotations"))
                .map(|a| string(a, API_APPROVED_ANNOTATION))
                .unwrap_or_default(),
            spec: Spec::parse(field(v, "spec")),
            status: Status::parse(field(v, "status")),
        }
    }
}
