//! `ValidateCustomResourceDefinition`, `...Update` and `...Status`
//! (`apiextensions/validation/validation.go`) over the internal model.
//!
//! The functions follow upstream's order of checks exactly, since clients
//! see the error list in that order. Update validation differs from create
//! validation only through [`Opts`]: most tightened rules are relaxed when
//! the stored (old) object already violates them ("ratcheting"), so that a
//! CRD accepted by an older release stays updatable.

use std::collections::BTreeSet;

use crate::field_error::{ErrorType, FieldError};
use crate::validation as names_validation;

use super::gofmt;
use super::jsonpath;
use super::model::{
    API_APPROVED_ANNOTATION, Column, Conversion, Crd, Names, Props, SelectableField, Spec,
    Subresources, Validation, Version,
};
use super::openapi::{self, SchemaOpts};
use super::path::{child, index, key};
use super::schema_defaults;
use super::structural;
use super::webhook;
use super::{Hooks, RulesSite};

/// `MaxSelectableFields`.
pub const MAX_SELECTABLE_FIELDS: usize = 8;

const PRINTER_COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const PRINTER_COLUMN_FORMATS: &str = "byte,date,date-time,double,float,int32,int64,password";
const ACCEPTED_REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
const ALLOWED_AT_ROOT_WITH_STATUS: [&str; 22] = [
    "Description",
    "Type",
    "Format",
    "Title",
    "Maximum",
    "ExclusiveMaximum",
    "Minimum",
    "ExclusiveMinimum",
    "MaxLength",
    "MinLength",
    "Pattern",
    "MaxItems",
    "MinItems",
    "UniqueItems",
    "MultipleOf",
    "Required",
    "Items",
    "Properties",
    "ExternalDocs",
    "Example",
    "XPreserveUnknownFields",
    "XValidations",
];

/// Upstream `validationOptions` (minus the CEL environment).
#[derive(Clone, Debug)]
pub struct Opts {
    pub allow_defaults: bool,
    pub require_recognized_conversion_review_version: bool,
    pub require_immutable_names: bool,
    pub require_open_api_schema: bool,
    pub require_valid_property_type: bool,
    pub require_structural_schema: bool,
    pub require_pruned_defaults: bool,
    pub require_atomic_set_type: bool,
    pub require_map_list_keys_map_set_validation: bool,
    pub allow_invalid_ca_bundle: bool,
    /// Version names (`""` for the top level) allowed to keep more than
    /// [`MAX_SELECTABLE_FIELDS`] selectable fields.
    pub allow_too_many_selectable_fields: BTreeSet<String>,
    pub versions_with_unchanged_schemas: BTreeSet<String>,
    pub preexisting_rules: BTreeSet<String>,
    pub preexisting_message_expressions: BTreeSet<String>,
}

impl Opts {
    /// The options `ValidateCustomResourceDefinition` uses.
    pub fn create() -> Opts {
        Opts {
            allow_defaults: true,
            require_recognized_conversion_review_version: true,
            require_immutable_names: false,
            require_open_api_schema: true,
            require_valid_property_type: true,
            require_structural_schema: true,
            require_pruned_defaults: true,
            require_atomic_set_type: true,
            require_map_list_keys_map_set_validation: true,
            allow_invalid_ca_bundle: true,
            allow_too_many_selectable_fields: BTreeSet::new(),
            versions_with_unchanged_schemas: BTreeSet::new(),
            preexisting_rules: BTreeSet::new(),
            preexisting_message_expressions: BTreeSet::new(),
        }
    }

    /// The options `ValidateCustomResourceDefinitionUpdate` derives from the
    /// stored object.
    pub fn update(new: &Crd<'_>, old: &Crd<'_>) -> Opts {
        let old_spec = &old.spec;
        let mut rules = BTreeSet::new();
        let mut messages = BTreeSet::new();
        for s in old_spec.schemas() {
            s.any(&mut |n| {
                for r in &n.x_validations {
                    rules.insert(r.rule.clone());
                    if !r.message_expression.is_empty() {
                        messages.insert(r.message_expression.clone());
                    }
                }
                false
            });
        }
        let unchanged = new
            .spec
            .versions
            .iter()
            .filter(|v| {
                old_spec
                    .version_schema(&v.name)
                    .is_some_and(|old_schema| old_schema == v.schema.as_ref())
            })
            .map(|v| v.name.clone())
            .collect();
        let mut too_many = BTreeSet::new();
        if old_spec.selectable_fields.len() > MAX_SELECTABLE_FIELDS
            && new.spec.selectable_fields == old_spec.selectable_fields
        {
            too_many.insert(String::new());
        }
        for v in &new.spec.versions {
            if let Some(ov) = old_spec.versions.iter().find(|o| o.name == v.name)
                && ov.selectable_fields.len() > MAX_SELECTABLE_FIELDS
                && v.selectable_fields == ov.selectable_fields
            {
                too_many.insert(v.name.clone());
            }
        }
        Opts {
            allow_defaults: true,
            require_recognized_conversion_review_version: old_spec
                .conversion
                .as_ref()
                .is_none_or(|c| has_valid_review_version_or_empty(&c.conversion_review_versions)),
            require_immutable_names: old.status.condition_true("Established"),
            require_open_api_schema: all_versions_specify_schema(old_spec),
            require_valid_property_type: !old_spec.has_schema_with(&mut |s| {
                s.any(&mut |n| !n.type_.is_empty() && !is_openapi_type(&n.type_))
            }),
            require_structural_schema: !old_spec.schemas().any(|s| !structural::is_structural(s)),
            require_pruned_defaults: !old_spec
                .schemas()
                .any(|s| structural::is_structural(s) && schema_defaults::has_unpruned_defaults(s)),
            require_atomic_set_type: !old_spec
                .has_schema_with(&mut |s| s.any(&mut has_non_atomic_set_type)),
            require_map_list_keys_map_set_validation: !old_spec.has_schema_with(&mut |s| {
                s.any(&mut |n| {
                    let mut errs = Vec::new();
                    openapi::map_list_keys_map_set(n, "", &mut errs);
                    !errs.is_empty()
                })
            }),
            allow_invalid_ca_bundle: allow_invalid_ca_bundle(old),
            allow_too_many_selectable_fields: too_many,
            versions_with_unchanged_schemas: unchanged,
            preexisting_rules: rules,
            preexisting_message_expressions: messages,
        }
    }

    fn schema_opts(&self) -> SchemaOpts {
        SchemaOpts {
            require_valid_property_type: self.require_valid_property_type,
            require_atomic_set_type: self.require_atomic_set_type,
            require_map_list_keys_map_set_validation: self.require_map_list_keys_map_set_validation,
        }
    }
}

fn is_openapi_type(t: &str) -> bool {
    ["string", "number", "integer", "boolean", "array", "object"].contains(&t)
}

fn has_non_atomic_set_type(s: &Props<'_>) -> bool {
    if s.x_list_type.as_deref() != Some("set") {
        return false;
    }
    let Some(is) = s.items.as_ref().and_then(|i| i.schema()) else {
        return false;
    };
    match is.type_.as_str() {
        "array" => is.x_list_type.as_deref().is_some_and(|t| t != "atomic"),
        "object" => is.x_map_type.as_deref() != Some("atomic"),
        _ => false,
    }
}

fn all_versions_specify_schema(spec: &Spec<'_>) -> bool {
    Validation::schema(&spec.validation).is_some()
        || spec
            .versions
            .iter()
            .all(|v| Validation::schema(&v.schema).is_some())
}

fn has_valid_review_version_or_empty(versions: &[String]) -> bool {
    versions.is_empty()
        || versions
            .iter()
            .any(|v| ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str()))
}

fn allow_invalid_ca_bundle(old: &Crd<'_>) -> bool {
    if !old.status.condition_true("Established") {
        return true;
    }
    let cc = old
        .spec
        .conversion
        .as_ref()
        .and_then(|c| c.webhook_client_config.as_ref());
    webhook::has_invalid_ca_bundle(cc)
}

fn join(errs: Vec<String>) -> String {
    errs.join(",")
}

/// The name rule of CRDs (`nameValidationFn`): a DNS subdomain equal to
/// `<spec.names.plural>.<spec.group>`.
pub fn name_errors(crd: &Crd<'_>, name: &str, prefix: bool) -> Vec<String> {
    let mut errs = names_validation::name_is_dns_subdomain(name, prefix);
    if name != format!("{}.{}", crd.spec.names.plural, crd.spec.group) {
        errs.push("must be spec.names.plural+\".\"+spec.group".into());
    }
    errs
}

/// The `metadata.name`/`metadata.generateName` part of `ValidateObjectMeta`.
fn object_meta_name(crd: &Crd<'_>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !crd.generate_name.is_empty() {
        for msg in name_errors(crd, &crd.generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                crd.generate_name.as_str(),
                msg,
            ));
        }
    }
    if crd.name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_errors(crd, &crd.name, false) {
            errs.push(FieldError::invalid("metadata.name", crd.name.as_str(), msg));
        }
    }
    errs
}

/// `ValidateCustomResourceDefinition` (object metadata limited to the name).
pub fn validate_create(crd: &Crd<'_>, hooks: &Hooks<'_>) -> Vec<FieldError> {
    let opts = Opts::create();
    let mut errs = object_meta_name(crd);
    errs.extend(spec(&crd.spec, &opts, "spec", hooks));
    errs.extend(status(crd));
    errs.extend(stored_versions(
        &crd.status.stored_versions,
        &crd.spec.versions,
        "status.storedVersions",
    ));
    errs.extend(api_approval(crd, None));
    errs.extend(preserve_unknown_fields(crd, None));
    errs
}

/// `ValidateCustomResourceDefinitionUpdate` (without the generic
/// `ValidateObjectMetaUpdate`).
pub fn validate_update(new: &Crd<'_>, old: &Crd<'_>, hooks: &Hooks<'_>) -> Vec<FieldError> {
    let opts = Opts::update(new, old);
    let mut errs = spec(&new.spec, &opts, "spec", hooks);
    if opts.require_immutable_names {
        errs.extend(immutable(&new.spec.scope, &old.spec.scope, "spec.scope"));
        errs.extend(immutable(
            &new.spec.names.kind,
            &old.spec.names.kind,
            "spec.names.kind",
        ));
    }
    errs.extend(immutable(&new.spec.group, &old.spec.group, "spec.group"));
    errs.extend(immutable(
        &new.spec.names.plural,
        &old.spec.names.plural,
        "spec.names.plural",
    ));
    errs.extend(status(new));
    errs.extend(stored_versions(
        &new.status.stored_versions,
        &new.spec.versions,
        "status.storedVersions",
    ));
    errs.extend(api_approval(new, Some(old)));
    errs.extend(preserve_unknown_fields(new, Some(old)));
    errs
}

/// `ValidateUpdateCustomResourceDefinitionStatus` (without the generic
/// metadata update checks): only the accepted names are checked.
pub fn validate_status_update(new: &Crd<'_>) -> Vec<FieldError> {
    status(new)
}

/// `ValidateImmutableField`.
fn immutable(new: &str, old: &str, path: &str) -> Vec<FieldError> {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, new, "field is immutable")]
    }
}

fn status(crd: &Crd<'_>) -> Vec<FieldError> {
    names(&crd.status.accepted_names, "status.acceptedNames")
}

/// `ValidateCustomResourceDefinitionStoredVersions`.
pub fn stored_versions(stored: &[String], versions: &[Version<'_>], path: &str) -> Vec<FieldError> {
    if stored.is_empty() {
        return vec![gofmt::invalid_raw(
            path,
            &gofmt::string_slice(stored),
            "must have at least one stored version",
        )];
    }
    let mut errs = Vec::new();
    // Later duplicates win, as with upstream's map.
    let mut remaining: Vec<(usize, &String)> = Vec::new();
    for (i, v) in stored.iter().enumerate() {
        remaining.retain(|(_, s)| *s != v);
        remaining.push((i, v));
    }
    for v in versions {
        let found = remaining.iter().any(|(_, s)| **s == v.name);
        if v.storage && !found {
            errs.push(gofmt::invalid_raw(
                path,
                &gofmt::string_slice(stored),
                format!("must have the storage version {}", v.name),
            ));
        }
        remaining.retain(|(_, s)| **s != v.name);
    }
    remaining.sort();
    for (i, v) in remaining {
        errs.push(FieldError::invalid(
            index(path, i),
            v.as_str(),
            format!(
                "missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {v} and removes {v} from status.storedVersions"
            ),
        ));
    }
    errs
}

/// `validateEnumStrings`.
fn enum_string(path: &str, value: &str, accepted: &[&str], required: bool) -> Vec<FieldError> {
    if value.is_empty() {
        return if required {
            vec![FieldError::required(path, "")]
        } else {
            Vec::new()
        };
    }
    if accepted.contains(&value) {
        return Vec::new();
    }
    vec![FieldError::not_supported(path, value, accepted)]
}

/// `validateCustomResourceDefinitionSpec`.
fn spec(spec: &Spec<'_>, opts: &Opts, path: &str, hooks: &Hooks<'_>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut opts = opts.clone();
    let group_path = child(path, "group");
    if spec.group.is_empty() {
        errs.push(FieldError::required(group_path, ""));
    } else {
        let problems = names_validation::is_dns1123_subdomain(&spec.group);
        if !problems.is_empty() {
            errs.push(FieldError::invalid(
                group_path,
                spec.group.as_str(),
                join(problems),
            ));
        } else if spec.group.split('.').count() < 2 {
            errs.push(FieldError::invalid(
                group_path,
                spec.group.as_str(),
                "should be a domain with at least one dot",
            ));
        }
    }
    errs.extend(enum_string(
        &child(path, "scope"),
        &spec.scope,
        &["Cluster", "Namespaced"],
        true,
    ));

    let puf = spec.preserve_unknown_fields;
    if puf != Some(true) {
        opts.require_structural_schema = true;
    }
    let versions_path = child(path, "versions");
    if opts.require_open_api_schema {
        if Validation::schema(&spec.validation).is_none() {
            for (i, v) in spec.versions.iter().enumerate() {
                if Validation::schema(&v.schema).is_none() {
                    errs.push(FieldError::required(
                        child(
                            &child(&index(&versions_path, i), "schema"),
                            "openAPIV3Schema",
                        ),
                        "",
                    ));
                }
            }
        }
    } else if puf != Some(true) && Validation::schema(&spec.validation).is_none() {
        for (i, v) in spec.versions.iter().enumerate() {
            if v.served && Validation::schema(&v.schema).is_none() {
                errs.push(FieldError::required(
                    child(
                        &child(&index(&versions_path, i), "schema"),
                        "openAPIV3Schema",
                    ),
                    "because otherwise all fields are pruned",
                ));
            }
        }
    }
    if opts.allow_defaults && spec.has_schema_with(&mut |s| s.any(&mut |n| n.default.is_some())) {
        opts.require_structural_schema = true;
        if puf != Some(false) {
            errs.push(FieldError::invalid(
                child(path, "preserveUnknownFields"),
                true,
                "must be false in order to use defaults in the schema",
            ));
        }
    }
    if spec.has_schema_with(&mut |s| s.any(&mut has_kubernetes_extensions)) {
        opts.require_structural_schema = true;
    }

    let mut storage_count = 0;
    let mut seen = BTreeSet::new();
    let mut unique = true;
    for (i, v) in spec.versions.iter().enumerate() {
        if v.storage {
            storage_count += 1;
        }
        if !seen.insert(v.name.as_str()) {
            unique = false;
        }
        let problems = names_validation::is_dns1035_label(&v.name);
        if !problems.is_empty() {
            errs.push(FieldError::invalid(
                child(&index(&versions_path, i), "name"),
                v.name.as_str(),
                join(problems),
            ));
        }
        let status_enabled = spec.subresources_for(&v.name).is_some_and(|s| s.status);
        errs.extend(version(
            v,
            &index(&versions_path, i),
            status_enabled,
            &opts,
            hooks,
        ));
    }

    if spec.validation.is_some() && spec.versions.iter().any(|v| v.schema.is_some()) {
        errs.push(FieldError::forbidden(
            child(path, "validation"),
            "top-level and per-version schemas are mutually exclusive",
        ));
    }
    if spec.subresources.is_some() && spec.versions.iter().any(|v| v.subresources.is_some()) {
        errs.push(FieldError::forbidden(
            child(path, "subresources"),
            "top-level and per-version subresources are mutually exclusive",
        ));
    }
    if !spec.columns.is_empty() && spec.versions.iter().any(|v| !v.columns.is_empty()) {
        errs.push(FieldError::forbidden(
            child(path, "additionalPrinterColumns"),
            "top-level and per-version additionalPrinterColumns are mutually exclusive",
        ));
    }
    let rendered = || gofmt::versions(&spec.versions);
    let identical = |f: &dyn Fn(&Version<'_>) -> bool,
                     same: &dyn Fn(&Version<'_>, &Version<'_>) -> bool| {
        spec.versions
            .first()
            .is_some_and(|first| spec.versions.iter().all(|v| f(v) && same(v, first)))
    };
    if identical(&|v| v.schema.is_some(), &|a, b| a.schema == b.schema) {
        errs.push(gofmt::invalid_raw(
            versions_path.clone(),
            &rendered(),
            "per-version schemas may not all be set to identical values (top-level validation should be used instead)",
        ));
    }
    if identical(&|v| v.subresources.is_some(), &|a, b| {
        a.subresources == b.subresources
    }) {
        errs.push(gofmt::invalid_raw(
            versions_path.clone(),
            &rendered(),
            "per-version subresources may not all be set to identical values (top-level subresources should be used instead)",
        ));
    }
    if identical(&|v| !v.columns.is_empty(), &|a, b| a.columns == b.columns) {
        errs.push(gofmt::invalid_raw(
            versions_path.clone(),
            &rendered(),
            "per-version additionalPrinterColumns may not all be set to identical values (top-level additionalPrinterColumns should be used instead)",
        ));
    }
    if !unique {
        errs.push(gofmt::invalid_raw(
            versions_path.clone(),
            &rendered(),
            "must contain unique version names",
        ));
    }
    if storage_count != 1 {
        errs.push(gofmt::invalid_raw(
            versions_path.clone(),
            &rendered(),
            "must have exactly one version marked as storage version",
        ));
    }
    if !spec.version.is_empty() {
        let version_path = child(path, "version");
        let problems = names_validation::is_dns1035_label(&spec.version);
        if !problems.is_empty() {
            errs.push(FieldError::invalid(
                version_path.clone(),
                spec.version.as_str(),
                join(problems),
            ));
        }
        if spec
            .versions
            .first()
            .is_some_and(|v| v.name != spec.version)
        {
            errs.push(FieldError::invalid(
                version_path,
                spec.version.as_str(),
                "must match the first version in spec.versions",
            ));
        }
    }

    let names_path = child(path, "names");
    for (field, value) in [
        ("plural", &spec.names.plural),
        ("singular", &spec.names.singular),
        ("kind", &spec.names.kind),
        ("listKind", &spec.names.list_kind),
    ] {
        if value.is_empty() {
            errs.push(FieldError::required(child(&names_path, field), ""));
        }
    }
    errs.extend(names(&spec.names, &names_path));

    let top_unchanged = opts.versions_with_unchanged_schemas.contains(&spec.version);
    errs.extend(custom_resource_validation(
        spec.validation.as_ref(),
        spec.subresources.as_ref().is_some_and(|s| s.status)
            || spec
                .versions
                .iter()
                .any(|v| v.subresources.as_ref().is_some_and(|s| s.status)),
        &opts,
        &child(path, "validation"),
        top_unchanged,
        hooks,
    ));
    errs.extend(subresources(
        spec.subresources.as_ref(),
        &child(path, "subresources"),
    ));
    for (i, c) in spec.columns.iter().enumerate() {
        errs.extend(column(
            c,
            &index(&child(path, "additionalPrinterColumns"), i),
        ));
    }
    if !spec.selectable_fields.is_empty() {
        let sf_path = child(path, "selectableFields");
        match &spec.validation {
            None => errs.push(FieldError::invalid(
                sf_path,
                "",
                "may only be set when validations.schema is included",
            )),
            Some(v) => {
                let schema = v.open_api_v3_schema.as_ref();
                if let Some(e) = schema.and_then(structural::init_error) {
                    errs.push(FieldError::invalid(
                        child(path, "schema.openAPIV3Schema"),
                        "",
                        e,
                    ));
                }
                errs.extend(selectable_fields(
                    &spec.selectable_fields,
                    schema,
                    &sf_path,
                    &opts,
                    "",
                ));
            }
        }
    }

    if let Some(c) = &spec.conversion
        && c.strategy != "None"
        && puf != Some(false)
    {
        errs.push(FieldError::invalid(
            child(&child(path, "conversion"), "strategy"),
            c.strategy.as_str(),
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    errs.extend(conversion(
        spec.conversion.as_ref(),
        opts.require_recognized_conversion_review_version,
        &child(path, "conversion"),
        &opts,
    ));
    errs
}

fn has_kubernetes_extensions(s: &Props<'_>) -> bool {
    s.x_embedded_resource
        || s.x_preserve_unknown_fields.is_some()
        || s.x_int_or_string
        || !s.x_list_map_keys.is_empty()
        || s.x_list_type.is_some()
        || !s.x_validations.is_empty()
}

/// `validateCustomResourceDefinitionVersion`.
fn version(
    v: &Version<'_>,
    path: &str,
    status_enabled: bool,
    opts: &Opts,
    hooks: &Hooks<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for e in deprecation_warning(v.deprecated, v.deprecation_warning.as_deref()) {
        errs.push(FieldError::invalid(
            child(path, "deprecationWarning"),
            v.deprecation_warning.as_deref().unwrap_or_default(),
            e,
        ));
    }
    errs.extend(custom_resource_validation(
        v.schema.as_ref(),
        status_enabled,
        opts,
        &child(path, "schema"),
        opts.versions_with_unchanged_schemas.contains(&v.name),
        hooks,
    ));
    errs.extend(subresources(
        v.subresources.as_ref(),
        &child(path, "subresources"),
    ));
    for (i, c) in v.columns.iter().enumerate() {
        errs.extend(column(
            c,
            &index(&child(path, "additionalPrinterColumns"), i),
        ));
    }
    if !v.selectable_fields.is_empty() {
        let sf_path = child(path, "selectableFields");
        match Validation::schema(&v.schema) {
            None => errs.push(FieldError::invalid(
                sf_path,
                "",
                "may only be set when `version.schema.openAPIV3Schema` is not included",
            )),
            Some(schema) => {
                if let Some(e) = structural::init_error(schema) {
                    errs.push(FieldError::invalid(
                        child(path, "schema.openAPIV3Schema"),
                        "",
                        e,
                    ));
                }
                errs.extend(selectable_fields(
                    &v.selectable_fields,
                    Some(schema),
                    &sf_path,
                    opts,
                    &v.name,
                ));
            }
        }
    }
    errs
}

/// Go's `unicode.IsPrint`, approximated: printable means not a control,
/// format, separator (other than U+0020) or private-use character.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F);
    !format_or_private
}

/// `validateDeprecationWarning`.
fn deprecation_warning(deprecated: bool, warning: Option<&str>) -> Vec<String> {
    if !deprecated && warning.is_some() {
        return vec!["can only be set for deprecated versions".into()];
    }
    let Some(w) = warning else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if w.len() > 256 {
        errs.push("must be <= 256 characters long".into());
    }
    if w.is_empty() {
        errs.push("must not be an empty string".into());
    }
    if let Some((i, _)) = w.char_indices().find(|(_, c)| !is_print(*c)) {
        errs.push(format!(
            "must only contain printable UTF-8 characters; non-printable character found at index {i}"
        ));
    }
    errs
}

/// `validateCustomResourceDefinitionValidation`.
fn custom_resource_validation(
    validation: Option<&Validation<'_>>,
    status_enabled: bool,
    opts: &Opts,
    path: &str,
    unchanged: bool,
    hooks: &Hooks<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(schema) = validation.and_then(|v| v.open_api_v3_schema.as_ref()) else {
        return errs;
    };
    let schema_path = child(path, "openAPIV3Schema");
    if status_enabled {
        for f in schema.non_zero_go_fields() {
            if f == "Type" {
                if schema.type_ != "object" {
                    errs.push(FieldError::invalid(
                        child(path, "openAPIV3Schema.type"),
                        schema.type_.as_str(),
                        "only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
                    ));
                    break;
                }
                continue;
            }
            if !ALLOWED_AT_ROOT_WITH_STATUS.contains(&f) {
                errs.push(FieldError::invalid(
                    schema_path.clone(),
                    schema.raw.0.clone(),
                    format!(
                        "only [{}] fields are allowed at the root of the schema if the status subresource is enabled",
                        ALLOWED_AT_ROOT_WITH_STATUS.join(" ")
                    ),
                ));
                break;
            }
        }
    }
    if schema.nullable {
        errs.push(FieldError::forbidden(
            child(path, "openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let mut rules_ok = false;
    let mut init_errs = Vec::new();
    if opts.require_structural_schema {
        if let Some(e) = structural::init_error(schema) {
            init_errs.push(FieldError::invalid(schema_path.clone(), "", e));
        } else {
            let structural_errs = structural::validate(&schema_path, schema);
            if !structural_errs.is_empty() {
                errs.extend(structural_errs);
            } else {
                let default_errs = schema_defaults::validate(
                    &schema_path,
                    schema,
                    opts.require_pruned_defaults,
                    hooks,
                );
                if default_errs.is_empty() {
                    rules_ok = true;
                } else {
                    errs.extend(default_errs);
                }
            }
        }
    }
    let check = openapi::validate(&schema_path, schema, opts.schema_opts());
    errs.extend(check.errors);
    if rules_ok && let Some(hook) = hooks.check_rules {
        errs.extend(hook(&RulesSite {
            schema: schema.raw.0,
            path: &schema_path,
            skip: &check.skip_rules,
            unchanged,
            preexisting_rules: &opts.preexisting_rules,
            preexisting_message_expressions: &opts.preexisting_message_expressions,
        }));
    }
    if errs.is_empty() {
        errs.extend(init_errs);
    }
    errs
}

/// `ValidateCustomResourceDefinitionNames`.
pub fn names(n: &Names, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let dns = names_validation::is_dns1035_label;
    const MIXED: &str = "may have mixed case, but should otherwise match: ";
    if !n.plural.is_empty() {
        let p = dns(&n.plural);
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "plural"),
                n.plural.as_str(),
                join(p),
            ));
        }
    }
    if !n.singular.is_empty() {
        let p = dns(&n.singular);
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "singular"),
                n.singular.as_str(),
                join(p),
            ));
        }
    }
    if !n.kind.is_empty() {
        let p = dns(&n.kind.to_lowercase());
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                n.kind.as_str(),
                format!("{MIXED}{}", join(p)),
            ));
        }
    }
    if !n.list_kind.is_empty() {
        let p = dns(&n.list_kind.to_lowercase());
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "listKind"),
                n.list_kind.as_str(),
                format!("{MIXED}{}", join(p)),
            ));
        }
    }
    for (i, s) in n.short_names.iter().enumerate() {
        let p = dns(s);
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                index(&child(path, "shortNames"), i),
                s.as_str(),
                join(p),
            ));
        }
    }
    if !n.kind.is_empty() && n.kind == n.list_kind {
        errs.push(FieldError::invalid(
            child(path, "listKind"),
            n.list_kind.as_str(),
            "kind and listKind may not be the same",
        ));
    }
    for (i, c) in n.categories.iter().enumerate() {
        let p = dns(c);
        if !p.is_empty() {
            errs.push(FieldError::invalid(
                index(&child(path, "categories"), i),
                c.as_str(),
                join(p),
            ));
        }
    }
    errs
}

/// `ValidateCustomResourceColumnDefinition`.
fn column(c: &Column, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if c.name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    }
    let types_detail = format!("must be one of {PRINTER_COLUMN_TYPES}");
    if c.type_.is_empty() {
        errs.push(FieldError::required(child(path, "type"), types_detail));
    } else if !PRINTER_COLUMN_TYPES.split(',').any(|t| t == c.type_) {
        errs.push(FieldError::invalid(
            child(path, "type"),
            c.type_.as_str(),
            types_detail,
        ));
    }
    if !c.format.is_empty() && !PRINTER_COLUMN_FORMATS.split(',').any(|f| f == c.format) {
        errs.push(FieldError::invalid(
            child(path, "format"),
            c.format.as_str(),
            format!("must be one of {PRINTER_COLUMN_FORMATS}"),
        ));
    }
    let jp = child(path, "JSONPath");
    if c.json_path.is_empty() {
        errs.push(FieldError::required(jp, ""));
    } else {
        errs.extend(jsonpath::validate_simple(&c.json_path, &jp));
    }
    errs
}

/// `ValidateCustomResourceDefinitionSubresources`.
fn subresources(s: Option<&Subresources>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(scale) = s.and_then(|s| s.scale.as_ref()) else {
        return errs;
    };
    let under =
        |errs: &mut Vec<FieldError>, value: &str, field: &str, prefix: &str, detail: &str| {
            let p = child(path, field);
            if value.is_empty() {
                errs.push(FieldError::required(p, ""));
                return;
            }
            let e = jsonpath::validate_simple(value, &p);
            if !e.is_empty() {
                errs.extend(e);
            } else if !value.starts_with(prefix) {
                errs.push(FieldError::invalid(p, value, detail));
            }
        };
    under(
        &mut errs,
        &scale.spec_replicas_path,
        "scale.specReplicasPath",
        ".spec.",
        "should be a json path under .spec",
    );
    under(
        &mut errs,
        &scale.status_replicas_path,
        "scale.statusReplicasPath",
        ".status.",
        "should be a json path under .status",
    );
    if let Some(lsp) = scale
        .label_selector_path
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let p = child(path, "scale.labelSelectorPath");
        let e = jsonpath::validate_simple(lsp, &p);
        if !e.is_empty() {
            errs.extend(e);
        } else if !lsp.starts_with(".spec.") && !lsp.starts_with(".status.") {
            errs.push(FieldError::invalid(
                p,
                lsp,
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errs
}

/// `ValidateCustomResourceSelectableFields`.
fn selectable_fields(
    fields: &[SelectableField],
    schema: Option<&Props<'_>>,
    path: &str,
    opts: &Opts,
    version: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut unique = BTreeSet::new();
    for (i, f) in fields.iter().enumerate() {
        let jp = child(&index(path, i), "jsonPath");
        if f.json_path.is_empty() {
            errs.push(FieldError::required(jp, ""));
            continue;
        }
        let resolved = match schema {
            Some(s) => jsonpath::valid_field_path(&f.json_path, s, false),
            None => Err("does not refer to a valid field".to_string()),
        };
        let r = match resolved {
            Ok(r) => r,
            Err(e) => {
                errs.push(FieldError::invalid(
                    jp,
                    f.json_path.as_str(),
                    format!("is an invalid path: {e}"),
                ));
                continue;
            }
        };
        if r.root == "metadata" {
            errs.push(FieldError::invalid(
                jp.clone(),
                f.json_path.as_str(),
                "must not point to fields in metadata",
            ));
        }
        let allowed = r
            .schema
            .is_some_and(|s| matches!(s.type_.as_str(), "string" | "boolean" | "integer"));
        if !allowed {
            errs.push(FieldError::invalid(
                jp.clone(),
                f.json_path.as_str(),
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        if !unique.insert(r.path) {
            errs.push(FieldError::duplicate(jp, f.json_path.as_str()));
        }
    }
    if unique.len() > MAX_SELECTABLE_FIELDS
        && !opts.allow_too_many_selectable_fields.contains(version)
    {
        errs.push(FieldError::new(
            ErrorType::TooMany,
            path,
            Some(unique.len().into()),
            format!("must have at most {MAX_SELECTABLE_FIELDS} items"),
        ));
    }
    errs
}

/// `validateCustomResourceConversion`.
fn conversion(
    c: Option<&Conversion>,
    require_recognized: bool,
    path: &str,
    opts: &Opts,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(c) = c else {
        return errs;
    };
    errs.extend(enum_string(
        &child(path, "strategy"),
        &c.strategy,
        &["None", "Webhook"],
        true,
    ));
    let cc_path = child(path, "webhookClientConfig");
    let crv_path = child(path, "conversionReviewVersions");
    if c.strategy == "Webhook" {
        match &c.webhook_client_config {
            None => errs.push(FieldError::required(
                cc_path,
                "required when strategy is set to Webhook",
            )),
            Some(cc) => {
                match (&cc.url, &cc.service) {
                    (Some(url), None) => {
                        errs.extend(webhook::validate_url(&child(&cc_path, "url"), url))
                    }
                    (None, Some(svc)) => {
                        errs.extend(webhook::validate_service(&child(&cc_path, "service"), svc))
                    }
                    _ => errs.push(FieldError::required(
                        cc_path.clone(),
                        "exactly one of url or service is required",
                    )),
                }
                if !cc.ca_bundle.is_empty() && !opts.allow_invalid_ca_bundle {
                    errs.extend(webhook::validate_ca_bundle(
                        &child(&cc_path, "caBundle"),
                        &cc.ca_bundle,
                    ));
                }
            }
        }
        errs.extend(review_versions(
            &c.conversion_review_versions,
            require_recognized,
            &crv_path,
        ));
    } else {
        if c.webhook_client_config.is_some() {
            errs.push(FieldError::forbidden(
                cc_path,
                "should not be set when strategy is not set to Webhook",
            ));
        }
        if !c.conversion_review_versions.is_empty() {
            errs.push(FieldError::forbidden(
                crv_path,
                "should not be set when strategy is not set to Webhook",
            ));
        }
    }
    errs
}

/// `validateConversionReviewVersions`.
fn review_versions(versions: &[String], require_recognized: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if versions.is_empty() {
        errs.push(FieldError::required(path, ""));
        return errs;
    }
    let mut seen = BTreeSet::new();
    let mut has_accepted = false;
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.as_str()) {
            errs.push(FieldError::invalid(
                index(path, i),
                v.as_str(),
                "duplicate version",
            ));
            continue;
        }
        for e in names_validation::is_dns1035_label(v) {
            errs.push(FieldError::invalid(index(path, i), v.as_str(), e));
        }
        if ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str()) {
            has_accepted = true;
        }
    }
    if require_recognized && !has_accepted {
        errs.push(gofmt::invalid_raw(
            path,
            &gofmt::string_slice(versions),
            format!(
                "must include at least one of {}",
                ACCEPTED_REVIEW_VERSIONS.join(", ")
            ),
        ));
    }
    errs
}

/// Whether a group needs the API approval annotation
/// (`IsProtectedCommunityGroup`).
pub fn is_protected_group(group: &str) -> bool {
    group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Approval {
    Invalid,
    Approved,
    Bypassed,
    Missing,
}

/// `GetAPIApprovalState`.
fn approval_state(annotation: &str) -> (Approval, String) {
    let quoted = gofmt::quote(API_APPROVED_ANNOTATION);
    if annotation.is_empty() {
        return (
            Approval::Missing,
            format!(
                "protected groups must have approval annotation {quoted}, see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        );
    }
    if annotation.starts_with("unapproved") {
        return (
            Approval::Bypassed,
            format!("not approved: {}", gofmt::quote(annotation)),
        );
    }
    match webhook::parse_request_uri(annotation) {
        Ok(u) if !u.host.is_empty() && !u.scheme.is_empty() => {
            (Approval::Approved, format!("approved in {annotation}"))
        }
        _ => (
            Approval::Invalid,
            format!(
                "protected groups must have approval annotation {quoted} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        ),
    }
}

/// `validateAPIApproval`.
fn api_approval(new: &Crd<'_>, old: Option<&Crd<'_>>) -> Vec<FieldError> {
    if !is_protected_group(&new.spec.group) {
        return Vec::new();
    }
    let (state, reason) = approval_state(&new.approval);
    if let Some(old) = old
        && approval_state(&old.approval).0 == state
    {
        return Vec::new();
    }
    let path = key("metadata.annotations", API_APPROVED_ANNOTATION);
    match state {
        Approval::Approved | Approval::Bypassed => Vec::new(),
        Approval::Missing => vec![FieldError::required(path, reason)],
        Approval::Invalid => vec![FieldError::invalid(path, new.approval.as_str(), reason)],
    }
}

/// `validatePreserveUnknownFields`.
fn preserve_unknown_fields(new: &Crd<'_>, old: Option<&Crd<'_>>) -> Vec<FieldError> {
    if old.is_some_and(|o| o.spec.preserve_unknown_fields == Some(true)) {
        return Vec::new();
    }
    if new.spec.preserve_unknown_fields == Some(true) {
        return vec![FieldError::invalid(
            "spec.preserveUnknownFields",
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        )];
    }
    Vec::new()
}
