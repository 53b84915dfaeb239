//! `apiextensions.k8s.io/v1` CustomResourceDefinitions: defaulting,
//! validation and the naming controller's decisions, as kube-apiserver 1.33
//! does them, on `serde_json::Value`.
//!
//! How a request flows through this module:
//!
//! 1. decode, then [`set_defaults`] (v1 defaulting);
//! 2. [`prepare_for_create`] / [`prepare_for_update`] /
//!    [`prepare_for_status_update`] (the registry strategy's resets of
//!    status, spec, generation and `status.storedVersions`);
//! 3. [`validate_create`] / [`validate_update`] / [`validate_status_update`];
//!    the generic metadata rules (labels, annotations, finalizers, immutable
//!    metadata on update) stay with the caller's common metadata validation,
//!    except `metadata.name`/`generateName`, whose CRD-specific rule is
//!    checked here (use [`name_errors`] if the caller needs it separately).
//!
//! Error messages and field paths are byte-for-byte upstream's. Because
//! upstream validates the *internal* object, paths follow the v1 → internal
//! conversion (see `model`): a schema shared by all versions is reported
//! under `spec.validation.openAPIV3Schema`, webhook settings under
//! `spec.conversion.webhookClientConfig` and
//! `spec.conversion.conversionReviewVersions`. Go values that JSON cannot
//! express are rendered like Go's `%#v` (see `gofmt`).
//!
//! Two checks need machinery other modules own and are reached through
//! [`Hooks`]: validating each schema `default` against its schema, and
//! compiling `x-kubernetes-validations` CEL rules. Without hooks those checks
//! are skipped and everything else still runs.
//!
//! Files: `model` (internal model and hoisting), `validation` (the CRD
//! rules), `openapi` (per-node schema rules), `structural` (structural
//! schema rules), `schema_defaults` (defaults in schemas, pruning),
//! `jsonpath`, `re2` (Go RE2 syntax check), `webhook` (URLs, services, CA
//! bundles), `gofmt` (Go value rendering), `path`, `defaults` (v1 defaulting
//! and strategy resets), `names` (naming controller and conditions).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::field_error::FieldError;

mod defaults;
mod gofmt;
mod jsonpath;
mod model;
mod names;
mod openapi;
mod path;
mod re2;
mod schema_defaults;
mod structural;
mod validation;
mod webhook;

#[cfg(test)]
mod tests;

pub use defaults::{
    CLEANUP_FINALIZER, prepare_for_create, prepare_for_status_update, prepare_for_update,
    set_defaults, storage_version,
};
pub use model::API_APPROVED_ANNOTATION;
pub use names::{
    Condition, Naming, ReservedNames, calculate as calculate_names, established_condition,
    find_condition, instances_deleted_condition, invalid_ca_bundle_condition, is_condition_true,
    never_established_condition, remove_condition, set_condition, sync as sync_names,
    terminating_condition, terminating_pending_condition,
};
pub use validation::{MAX_SELECTABLE_FIELDS, is_protected_group};

/// A `default` found in a structural schema, handed to
/// [`Hooks::check_default`].
///
/// The hook should do what upstream's `ValidateDefaults` does beyond
/// pruning (which this module checks): if `inside_meta`, wrap the default
/// into an object of `resource_schema` at its position and check that it
/// yields valid TypeMeta/ObjectMeta (`Invalid value: ...: must result in
/// valid metadata: ...`); otherwise validate `default` against `schema`
/// (OpenAPI value validation, embedded ObjectMeta, then CEL rules) and
/// report errors under `path`.
#[derive(Clone, Copy, Debug)]
pub struct DefaultSite<'a> {
    /// The schema node carrying the default (v1 JSON, as written).
    pub schema: &'a Value,
    /// The default value.
    pub default: &'a Value,
    /// Field path of the `default` keyword, e.g.
    /// `spec.validation.openAPIV3Schema.properties[spec].properties[x].default`.
    pub path: &'a str,
    /// The default applies to `apiVersion`, `kind` or `metadata` (or
    /// below) of the enclosing resource.
    pub inside_meta: bool,
    /// Schema of the enclosing resource: the root, or the nearest
    /// `x-kubernetes-embedded-resource` node.
    pub resource_schema: &'a Value,
    /// `resource_schema` is the root of the custom resource.
    pub resource_is_root: bool,
    /// Steps from `resource_schema` to the node carrying the default, e.g.
    /// `[Field("metadata"), Field("labels")]`; what upstream's
    /// `SurroundingObjectFunc` uses to place a metadata default into an
    /// otherwise empty object.
    pub location: &'a [Step],
}

/// One step from a schema node to a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `properties[<name>]`.
    Field(String),
    /// `items`.
    Item,
}

/// One `openAPIV3Schema` whose `x-kubernetes-validations` rules upstream
/// would compile, handed to [`Hooks::check_rules`]. Only called when the
/// schema is structural and its defaults are valid, as upstream.
#[derive(Clone, Copy, Debug)]
pub struct RulesSite<'a> {
    /// The whole `openAPIV3Schema` (v1 JSON).
    pub schema: &'a Value,
    /// Its field path, e.g. `spec.validation.openAPIV3Schema` or
    /// `spec.versions[1].schema.openAPIV3Schema`. Rule errors go under
    /// `<node path>.x-kubernetes-validations[i].rule` (or `.messageExpression`).
    pub path: &'a str,
    /// Node paths (same form) whose rules must not be compiled because
    /// schema errors were reported at or below them.
    pub skip: &'a BTreeSet<String>,
    /// The version's schema is unchanged by this update: per-expression
    /// cost limits are not enforced (upstream `suppressPerExpressionCost`).
    pub unchanged: bool,
    /// Rules and message expressions already present in the stored CRD
    /// (compiled with the "stored expressions" CEL environment); empty on
    /// create.
    pub preexisting_rules: &'a BTreeSet<String>,
    pub preexisting_message_expressions: &'a BTreeSet<String>,
}

/// The callback validating one schema default.
pub type CheckDefault<'a> = &'a dyn Fn(&DefaultSite<'_>) -> Vec<FieldError>;

/// The callback compiling the CEL rules of one schema.
pub type CheckRules<'a> = &'a dyn Fn(&RulesSite<'_>) -> Vec<FieldError>;

/// Checks delegated to other modules. Both are optional.
#[derive(Clone, Copy, Default)]
pub struct Hooks<'a> {
    /// Validate one schema default (see [`DefaultSite`]).
    pub check_default: Option<CheckDefault<'a>>,
    /// Compile the CEL rules of one schema and check their costs (see
    /// [`RulesSite`]); errors are appended after all schema errors of that
    /// schema, as upstream does.
    pub check_rules: Option<CheckRules<'a>>,
}

/// `ValidateCustomResourceDefinition` on a defaulted, prepared v1 object,
/// without hooks.
pub fn validate_create(crd: &Value) -> Vec<FieldError> {
    validate_create_with(crd, &Hooks::default())
}

/// [`validate_create`] with hooks.
pub fn validate_create_with(crd: &Value, hooks: &Hooks<'_>) -> Vec<FieldError> {
    validation::validate_create(&model::Crd::parse(crd), hooks)
}

/// `ValidateCustomResourceDefinitionUpdate` (minus generic metadata update
/// rules), without hooks.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_update_with(new, old, &Hooks::default())
}

/// [`validate_update`] with hooks.
pub fn validate_update_with(new: &Value, old: &Value, hooks: &Hooks<'_>) -> Vec<FieldError> {
    validation::validate_update(&model::Crd::parse(new), &model::Crd::parse(old), hooks)
}

/// `ValidateUpdateCustomResourceDefinitionStatus` (minus generic metadata
/// update rules): `status.acceptedNames` must be valid names. `old` is not
/// consulted by upstream beyond metadata; it is taken for symmetry.
pub fn validate_status_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validation::validate_status_update(&model::Crd::parse(new))
}

/// The CRD name rule (upstream's `nameValidationFn`) for `name` (or a
/// `generateName` prefix when `prefix`): DNS subdomain problems, then
/// `must be spec.names.plural+"."+spec.group` if it does not match.
pub fn name_errors(crd: &Value, name: &str, prefix: bool) -> Vec<String> {
    validation::name_errors(&model::Crd::parse(crd), name, prefix)
}
