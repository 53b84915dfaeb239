//! Validation of custom resources against a CRD version's `openAPIV3Schema`,
//! with Kubernetes' semantics and Kubernetes' exact messages.
//!
//! Upstream validates with kube-openapi's port of go-openapi
//! (`apiextensions-apiserver/pkg/apiserver/validation`), then maps its
//! errors to `field.Error`s (`kubeOpenAPIResultToFieldErrors`), then checks
//! embedded resources and list types on the structural schema. We compile
//! the schema once into a [`jsonschema`] validator and map that crate's
//! structured error kinds the same way; its English messages are never
//! used.
//!
//! # Translation
//!
//! The CRD dialect (OpenAPI 3.0 plus `x-kubernetes-*`) is rewritten into
//! draft 7 JSON Schema that makes the jsonschema crate behave like
//! kube-openapi:
//!
//! - `type`, `nullable`, `x-kubernetes-int-or-string` and `format` become one
//!   custom keyword (`x-k8s-type`) implementing kube-openapi's type validator,
//!   whose rules JSON Schema cannot express: `1.0` is an integer, null passes
//!   only when nullable, a formatted field reports the format instead of the
//!   type (`must be of type date-time: "int64"`).
//! - `format` keeps only the formats upstream supports, each with a check
//!   written after Go's (see [`formats`]); numeric formats are dropped, as
//!   upstream blanks them.
//! - `pattern` is a custom keyword using the `regex` crate (RE2 syntax, like
//!   Go) with `\d`, `\w`, `\s` narrowed to ASCII as in Go, instead of the
//!   crate's ECMA-262 dialect.
//! - Boolean `exclusiveMaximum`/`exclusiveMinimum` become the numeric draft 7
//!   keywords.
//! - kube-openapi skips `allOf`/`anyOf`/`oneOf`/`not` for null values, so they
//!   move under `if: {type: null}, else: {...}`. Each `allOf` branch is
//!   wrapped in a one-branch `anyOf` so that a failing branch is reported as
//!   a unit: upstream adds `"x" must validate all the schemas (allOf)` and
//!   needs to know how many branches failed.
//! - The root `metadata` node keeps only `name` and `generateName`:
//!   upstream only lets a CRD constrain those, and the rest of the object
//!   metadata is validated elsewhere.
//! - Everything else (descriptions, defaults, `x-kubernetes-*`, `$ref`,
//!   `patternProperties`, array-form `items`) is dropped: structural schemas
//!   forbid or ignore it.
//!
//! The translator records, by JSON pointer into the translated schema, what
//! each custom keyword and allOf wrapper means, so the error mapping can
//! recover the original constraint from an error's keyword location.
//!
//! # Invariants
//!
//! - The compiled validator is immutable and shared; [`Validator::validate`]
//!   never clones the object. A valid object costs one `is_valid` pass plus,
//!   only when the schema has list types or embedded resources, a walk of
//!   the branches that carry them.
//! - Error paths are rooted at the object (`spec.ports[0].name`), exactly as
//!   upstream builds them: OpenAPI errors use kube-openapi's dotted names
//!   (map keys as `.key`), structural checks use `field.Path` (`[key]`).
//! - Errors upstream reports without a path (`anyOf`/`oneOf`/`allOf`/`not`
//!   summaries) carry an empty field, as `field.Invalid(nil, "", …)` does.

mod formats;
mod structural;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::Location;
use jsonschema::{Keyword, ValidationError};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::Schema;
use crate::field_error::{ErrorType, FieldError};
use formats::{go_float, go_quote};

const TYPE_KEYWORD: &str = "x-k8s-type";
const PATTERN_KEYWORD: &str = "x-k8s-pattern";

/// A CRD version's schema, compiled once and used for every request.
pub struct Validator {
    compiled: jsonschema::Validator,
    /// What the custom keywords and allOf wrappers at each keyword location
    /// stand for.
    roles: HashMap<String, Role>,
    /// List-type and embedded-resource checks, if the schema has any.
    walk: Option<structural::Node>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("roles", &self.roles.len())
            .field("walk", &self.walk)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Compiles the `openAPIV3Schema` of a CRD version. Fails only on a
    /// schema the CRD validation would have rejected (e.g. a bad pattern).
    pub fn new(schema: &Value) -> Result<Validator, String> {
        Self::compile(&restrict_root_metadata(schema))
    }

    fn compile(schema: &Value) -> Result<Validator, String> {
        let mut t = Translator::default();
        let translated = t.node(schema, "");
        let mut opts = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .with_keyword(TYPE_KEYWORD, type_keyword)
            .with_keyword(PATTERN_KEYWORD, pattern_keyword);
        for f in &t.formats {
            if let Some(check) = formats::checker(f) {
                opts = opts.with_format(f.clone(), check);
            }
        }
        let compiled = opts.build(&translated).map_err(|e| e.to_string())?;
        let structural = Schema::from_openapi(schema, &BTreeMap::new());
        Ok(Validator {
            compiled,
            roles: t.roles,
            walk: structural::build(&structural),
        })
    }

    /// Validates a whole custom resource (`apiVersion`, `kind`, `metadata`,
    /// `spec`, `status`, …): the OpenAPI errors, then embedded-resource
    /// errors, then list-type errors, as upstream concatenates them. The
    /// object's own metadata is not checked here beyond what the schema
    /// says about `name`/`generateName`.
    pub fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.schema_errors(obj, "", &mut errs);
        if let Some(walk) = &self.walk {
            let mut lists = Vec::new();
            structural::check(obj, walk, &mut String::new(), &mut errs, &mut lists);
            errs.extend(lists);
        }
        errs
    }

    /// The OpenAPI errors for `obj`, with field paths under `prefix`.
    fn schema_errors(&self, obj: &Value, prefix: &str, out: &mut Vec<FieldError>) {
        if self.compiled.is_valid(obj) {
            return;
        }
        let errors: Vec<ValidationError<'_>> = self.compiled.iter_errors(obj).collect();
        let refs: Vec<&ValidationError<'_>> = errors.iter().collect();
        Mapper {
            root: obj,
            roles: &self.roles,
            prefix,
        }
        .map(&refs, out);
    }
}

/// Checks one `default` of a CRD schema node, as upstream's
/// `defaulting.ValidateDefaults` does for each node that has one: the
/// default must survive pruning unchanged (`must not have unknown fields`),
/// form valid embedded resources, and validate against the node's own
/// schema. `path` is the node's path in the CRD (e.g.
/// `spec.versions[0].schema.openAPIV3Schema.properties[spec]`); errors are
/// reported under `<path>.default`.
pub fn check_default(schema_node: &Value, default: &Value, path: &str) -> Vec<FieldError> {
    let field = join(path, "default");
    let mut errs = Vec::new();
    let structural = Schema::from_openapi(schema_node, &BTreeMap::new());
    let mut pruned = default.clone();
    if !super::prune(&mut pruned, &structural).is_empty() {
        errs.push(FieldError::invalid(
            field.clone(),
            default.clone(),
            "must not have unknown fields",
        ));
    }
    let validator = match Validator::compile(schema_node) {
        Ok(v) => v,
        Err(e) => {
            errs.push(FieldError::invalid(field, "", e));
            return errs;
        }
    };
    let mut meta = Vec::new();
    if let Some(walk) = &validator.walk {
        structural::check(
            default,
            walk,
            &mut field.clone(),
            &mut meta,
            &mut Vec::new(),
        );
    }
    if meta.is_empty() {
        validator.schema_errors(default, &field, &mut errs);
    } else {
        errs.extend(meta);
    }
    errs
}

/// Runs [`check_default`] on every default in a CRD schema, following
/// `properties` and `items` but not `additionalProperties` (where defaults
/// are forbidden), with upstream's paths (`<path>.properties[spec].items`).
/// Defaults inside an embedded resource's `metadata`, `apiVersion` or `kind`
/// are checked like any other (upstream checks them within a surrounding
/// object).
pub fn validate_defaults(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk_defaults(schema, path, &mut errs);
    errs
}

fn walk_defaults(node: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(s) = node.as_object() else {
        return;
    };
    if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
        errs.extend(check_default(node, d, path));
    }
    if let Some(items) = s.get("items") {
        walk_defaults(items, &join(path, "items"), errs);
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        let base = join(path, "properties");
        for (k, v) in props {
            walk_defaults(v, &format!("{base}[{k}]"), errs);
        }
    }
}

fn join(path: &str, name: &str) -> String {
    match (path.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => path.to_string(),
        _ => format!("{path}.{name}"),
    }
}

/// The root `metadata` schema reduced to what a CRD may constrain.
fn restrict_root_metadata(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(Value::Object(meta)) = schema.pointer_mut("/properties/metadata") {
        let mut reduced = Map::new();
        if let Some(t) = meta.get("type") {
            reduced.insert("type".into(), t.clone());
        }
        if let Some(Value::Object(props)) = meta.get("properties") {
            let kept: Map<String, Value> = props
                .iter()
                .filter(|(k, _)| *k == "name" || *k == "generateName")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !kept.is_empty() {
                reduced.insert("properties".into(), Value::Object(kept));
            }
        }
        *meta = reduced;
    }
    schema
}

// ---------------------------------------------------------------------------
// Translation.

/// What a keyword location in the translated schema stands for.
#[derive(Debug)]
enum Role {
    Type(TypeSpec),
    Pattern(String),
    /// The one-branch `anyOf` wrapping one branch of the `allOf` of the
    /// schema node at `node`, which has `count` branches.
    AllOfBranch {
        node: String,
        count: usize,
    },
}

#[derive(Default)]
struct Translator {
    roles: HashMap<String, Role>,
    /// Format names in use, each registered with its check.
    formats: BTreeSet<String>,
}

/// JSON pointer escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Translator {
    /// Translates the schema node found at keyword location `loc`.
    fn node(&mut self, schema: &Value, loc: &str) -> Value {
        let Some(s) = schema.as_object() else {
            return json!({});
        };
        let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
        let mut out = Map::new();

        let types: Vec<String> = if flag("x-kubernetes-int-or-string") {
            vec!["integer".into(), "string".into()]
        } else {
            match s.get("type") {
                Some(Value::String(t)) if !t.is_empty() => vec![t.clone()],
                _ => Vec::new(),
            }
        };
        let format = s
            .get("format")
            .and_then(Value::as_str)
            .filter(|f| formats::checker(f).is_some());
        if !types.is_empty() || format.is_some() {
            let spec = TypeSpec {
                types,
                nullable: flag("nullable"),
                format: format.map(str::to_owned),
            };
            out.insert(TYPE_KEYWORD.into(), spec.to_json());
            self.roles
                .insert(format!("{loc}/{TYPE_KEYWORD}"), Role::Type(spec));
        }
        if let Some(f) = format {
            out.insert("format".into(), f.into());
            self.formats.insert(f.to_owned());
        }

        for (bound, exclusive) in [
            ("maximum", "exclusiveMaximum"),
            ("minimum", "exclusiveMinimum"),
        ] {
            if let Some(n) = s.get(bound).filter(|v| v.is_number()) {
                let key = if flag(exclusive) { exclusive } else { bound };
                out.insert(key.into(), n.clone());
            }
        }
        if let Some(m) = s
            .get("multipleOf")
            .filter(|v| v.as_f64().is_some_and(|f| f > 0.0))
        {
            out.insert("multipleOf".into(), m.clone());
        }
        for k in [
            "maxLength",
            "minLength",
            "maxItems",
            "minItems",
            "maxProperties",
            "minProperties",
        ] {
            if let Some(v) = s.get(k).filter(|v| v.is_u64()) {
                out.insert(k.into(), v.clone());
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            out.insert(PATTERN_KEYWORD.into(), p.into());
            self.roles
                .insert(format!("{loc}/{PATTERN_KEYWORD}"), Role::Pattern(p.into()));
        }
        if let Some(Value::Array(e)) = s.get("enum")
            && !e.is_empty()
        {
            out.insert("enum".into(), Value::Array(e.clone()));
        }
        if let Some(Value::Array(r)) = s.get("required") {
            let names: Vec<Value> = r.iter().filter(|v| v.is_string()).cloned().collect();
            if !names.is_empty() {
                out.insert("required".into(), Value::Array(names));
            }
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            out.insert("uniqueItems".into(), Value::Bool(true));
        }

        if let Some(Value::Object(props)) = s.get("properties") {
            let mut translated = Map::new();
            for (k, v) in props {
                let child = self.node(v, &format!("{loc}/properties/{}", escape(k)));
                translated.insert(k.clone(), child);
            }
            out.insert("properties".into(), Value::Object(translated));
        }
        match s.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => {
                let child = self.node(ap, &format!("{loc}/additionalProperties"));
                out.insert("additionalProperties".into(), child);
            }
            Some(Value::Bool(b)) => {
                out.insert("additionalProperties".into(), Value::Bool(*b));
            }
            _ => {}
        }
        if let Some(items @ Value::Object(_)) = s.get("items") {
            let child = self.node(items, &format!("{loc}/items"));
            out.insert("items".into(), child);
        }

        let logic_loc = format!("{loc}/else");
        let mut logic = Map::new();
        if let Some(Value::Array(branches)) = s.get("allOf")
            && !branches.is_empty()
        {
            let mut wrapped = Vec::with_capacity(branches.len());
            for (i, b) in branches.iter().enumerate() {
                let wrapper = format!("{logic_loc}/allOf/{i}/anyOf");
                let branch = self.node(b, &format!("{wrapper}/0"));
                self.roles.insert(
                    wrapper,
                    Role::AllOfBranch {
                        node: loc.to_owned(),
                        count: branches.len(),
                    },
                );
                wrapped.push(json!({ "anyOf": [branch] }));
            }
            logic.insert("allOf".into(), Value::Array(wrapped));
        }
        for k in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = s.get(k)
                && !branches.is_empty()
            {
                let translated = branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| self.node(b, &format!("{logic_loc}/{k}/{i}")))
                    .collect();
                logic.insert(k.into(), Value::Array(translated));
            }
        }
        if let Some(n @ Value::Object(_)) = s.get("not") {
            let child = self.node(n, &format!("{logic_loc}/not"));
            logic.insert("not".into(), child);
        }
        if !logic.is_empty() {
            out.insert("if".into(), json!({ "type": "null" }));
            out.insert("else".into(), Value::Object(logic));
        }
        Value::Object(out)
    }
}

// ---------------------------------------------------------------------------
// Custom keywords.

/// kube-openapi's `typeValidator` for one schema node.
#[derive(Clone, Debug)]
struct TypeSpec {
    /// Empty when the node has only a format.
    types: Vec<String>,
    nullable: bool,
    /// A supported format, as written in the schema.
    format: Option<String>,
}

/// Why a value fails [`TypeSpec`]: the Go type or format name of the value
/// reported against the declared types, or against the declared format.
enum Mismatch {
    Type(&'static str),
    Format(&'static str),
}

impl TypeSpec {
    fn to_json(&self) -> Value {
        json!({ "types": self.types, "nullable": self.nullable, "format": self.format })
    }

    fn from_json(v: &Value) -> TypeSpec {
        TypeSpec {
            types: v["types"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            nullable: v["nullable"].as_bool().unwrap_or(false),
            format: v["format"].as_str().map(str::to_owned),
        }
    }

    fn has(&self, t: &str) -> bool {
        self.types.iter().any(|x| x == t)
    }

    /// The upstream algorithm: JSON type and Go format of the value first;
    /// integral floats count as integers and integers as numbers; with a
    /// format, a non-string value must match the type or the format, and a
    /// string or array value is left to the format check unless the type
    /// is numeric.
    fn mismatch(&self, v: &Value) -> Option<Mismatch> {
        let (json_type, go_format) = match v {
            Value::Null => {
                return (!self.types.is_empty() && !self.nullable)
                    .then_some(Mismatch::Type("null"));
            }
            Value::Bool(_) => ("boolean", ""),
            Value::String(_) => ("string", ""),
            Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", "int64"),
            Value::Number(_) => ("number", "float64"),
            Value::Array(_) => ("array", ""),
            Value::Object(_) => ("object", ""),
        };
        let float_int = json_type == "number"
            && v.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            && self.has("integer");
        let int_float = json_type == "integer" && self.has("number");
        let matches_type = self.has(json_type) || float_int || int_float;
        if let Some(f) = &self.format {
            let stringish = v.is_string() || v.is_array();
            if !(stringish || matches_type || go_format == f) {
                return Some(Mismatch::Format(go_format));
            }
            if stringish && !(self.has("number") || self.has("integer")) {
                return None;
            }
        }
        (!matches_type).then_some(Mismatch::Type(json_type))
    }

    /// `(expected, got)` for a message.
    fn describe(&self, m: &Mismatch) -> (String, &'static str) {
        match m {
            Mismatch::Type(got) => (self.types.join(","), got),
            Mismatch::Format(got) => (self.format.clone().unwrap_or_default(), got),
        }
    }
}

struct TypeKeyword(TypeSpec);

impl<'i> Keyword<'i> for TypeKeyword {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match self.0.mismatch(instance) {
            None => Ok(()),
            // The mapping recomputes the details from the recorded TypeSpec.
            Some(_) => Err(ValidationError::custom(TYPE_KEYWORD)),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.0.mismatch(instance).is_none()
    }
}

fn type_keyword<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _location: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    Ok(Box::new(TypeKeyword(TypeSpec::from_json(value))))
}

struct PatternKeyword(Regex);

impl<'i> Keyword<'i> for PatternKeyword {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(ValidationError::custom(PATTERN_KEYWORD))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        instance.as_str().is_none_or(|s| self.0.is_match(s))
    }
}

fn pattern_keyword<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _location: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    let pattern = value.as_str().unwrap_or_default();
    let re = Regex::new(&go_regex(pattern))
        .map_err(|e| ValidationError::schema(format!("invalid pattern {pattern:?}: {e}")))?;
    Ok(Box::new(PatternKeyword(re)))
}

/// Rewrites a Go (RE2) pattern for the `regex` crate: `\d`, `\w`, `\s` and
/// their negations are ASCII in Go but Unicode in Rust, and `[`, `&`, `~`
/// inside a class are literal in Go but class syntax in Rust.
fn go_regex(pattern: &str) -> String {
    fn class(c: char) -> &'static str {
        match c {
            'd' => "0-9",
            'w' => "0-9A-Za-z_",
            _ => r"\t\n\x0C\r ",
        }
    }
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('d' | 'w' | 's')) if in_class => out.push_str(class(e)),
                Some(e @ ('d' | 'w' | 's')) => {
                    out.push('[');
                    out.push_str(class(e));
                    out.push(']');
                }
                Some(e @ ('D' | 'W' | 'S')) if !in_class => {
                    out.push_str("[^");
                    out.push_str(class(e.to_ascii_lowercase()));
                    out.push(']');
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A leading `]` is a literal member in both dialects.
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // POSIX class such as `[:alpha:]`, the same in both.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Error mapping (`kubeOpenAPIResultToFieldErrors`).

struct Mapper<'a> {
    /// The validated value, to tell array indices from map keys in paths.
    root: &'a Value,
    roles: &'a HashMap<String, Role>,
    /// The field path the validated value sits at ("" for a resource).
    prefix: &'a str,
}

/// The `allOf` failures seen for one node and instance.
struct AllOfGroup {
    node: String,
    instance: String,
    name: String,
    count: usize,
    failed: usize,
}

fn too_many(field: String, actual: usize, max: u64) -> FieldError {
    let unit = if max == 1 { "item" } else { "items" };
    FieldError::new(
        ErrorType::TooMany,
        field,
        Some(actual.into()),
        format!("must have at most {max} {unit}"),
    )
}

fn too_long(field: String, value: Value, max: u64) -> FieldError {
    let unit = if max == 1 { "byte" } else { "bytes" };
    FieldError::new(
        ErrorType::TooLong,
        field,
        Some(value),
        format!("may not be more than {max} {unit}"),
    )
}

/// A bound as kube-openapi prints it: for an integer value it compares
/// against (and prints) the bound truncated to int64, otherwise float64.
fn bound(limit: &Value, data: &Value) -> String {
    let int_data = data.as_number().is_some_and(|n| n.is_i64() || n.is_u64());
    match limit.as_f64() {
        Some(f) if int_data => format!("{}", f.trunc() as i64),
        Some(f) => go_float(f),
        None => limit.to_string(),
    }
}

/// One step of an error's position in upstream's traversal.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Keyword(u8),
    Name(String),
    Index(usize),
}

/// The order kube-openapi's `SchemaValidator` runs its validators in: type;
/// anyOf, oneOf, allOf, not; string; format; number; slice (items first);
/// enum; object (additional properties, properties, then required).
fn keyword_rank(keyword: &str) -> u8 {
    match keyword {
        TYPE_KEYWORD => 0,
        "anyOf" => 1,
        "oneOf" => 2,
        "allOf" => 3,
        "not" => 4,
        "maxLength" => 5,
        "minLength" => 6,
        PATTERN_KEYWORD => 7,
        "format" => 8,
        "multipleOf" => 9,
        "maximum" | "exclusiveMaximum" => 10,
        "minimum" | "exclusiveMinimum" => 11,
        "items" => 12,
        "minItems" => 13,
        "maxItems" => 14,
        "uniqueItems" => 15,
        "enum" => 16,
        "minProperties" => 17,
        "maxProperties" => 18,
        "additionalProperties" => 19,
        "properties" => 20,
        "required" => 21,
        _ => 22,
    }
}

/// A sort key placing errors in the order upstream produces them: by node,
/// validators in [`keyword_rank`] order, array items by index, properties
/// by name (Go's map order is random; sorted is as good and stable).
fn upstream_order(e: &ValidationError<'_>) -> Vec<Step> {
    let mut key = Vec::new();
    let mut instance = e.instance_path().as_str().split('/').skip(1);
    let mut schema = e.schema_path().as_str().split('/').skip(1);
    while let Some(kw) = schema.next() {
        match kw {
            "else" => {}
            "properties" => {
                key.push(Step::Keyword(keyword_rank(kw)));
                key.push(Step::Name(schema.next().unwrap_or_default().to_owned()));
                instance.next();
            }
            "additionalProperties" | "items" => {
                key.push(Step::Keyword(keyword_rank(kw)));
                match instance.next() {
                    Some(seg) if kw == "items" => {
                        key.push(Step::Index(seg.parse().unwrap_or(usize::MAX)))
                    }
                    seg => key.push(Step::Name(seg.unwrap_or_default().to_owned())),
                }
            }
            "anyOf" | "oneOf" | "allOf" => {
                key.push(Step::Keyword(keyword_rank(kw)));
                if let Some(i) = schema.next() {
                    key.push(Step::Index(i.parse().unwrap_or(usize::MAX)));
                }
            }
            other => key.push(Step::Keyword(keyword_rank(other))),
        }
    }
    key
}

/// Whether `ptr` is `base` or below it.
fn under(ptr: &str, base: &str) -> bool {
    ptr.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Mapper<'_> {
    /// kube-openapi's name for an instance location: properties and map
    /// keys joined with `.`, array indices as `[i]`.
    fn name(&self, ptr: &Location) -> String {
        let mut name = String::new();
        let mut cur = Some(self.root);
        for raw in ptr.as_str().split('/').skip(1) {
            let seg = raw.replace("~1", "/").replace("~0", "~");
            if let Some(Value::Array(items)) = cur {
                name.push('[');
                name.push_str(&seg);
                name.push(']');
                cur = seg.parse::<usize>().ok().and_then(|i| items.get(i));
            } else {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&seg);
                cur = cur.and_then(|v| v.get(&seg));
            }
        }
        name
    }

    /// An error upstream reports without a field (`field.Invalid(fldPath,
    /// "", msg)` for non-`Validation` errors).
    fn composite(&self, msg: String) -> FieldError {
        FieldError::invalid(self.prefix, "", msg)
    }

    fn map(&self, errors: &[&ValidationError<'_>], out: &mut Vec<FieldError>) {
        // A failing minProperties/maxProperties makes kube-openapi's object
        // validator return before it looks at properties and required.
        let cut: Vec<(&str, &str)> = errors
            .iter()
            .filter(|e| {
                matches!(
                    e.kind(),
                    ValidationErrorKind::MinProperties { .. }
                        | ValidationErrorKind::MaxProperties { .. }
                )
            })
            .map(|e| {
                let kw = e.schema_path().as_str();
                (
                    e.instance_path().as_str(),
                    kw.rsplit_once('/').map_or("", |(node, _)| node),
                )
            })
            .collect();
        let mut errors = errors.to_vec();
        errors.sort_by_cached_key(|e| upstream_order(e));
        let mut all_of = Vec::new();
        for e in errors {
            let skip = cut.iter().any(|(instance, node)| {
                let kw = e.schema_path().as_str();
                under(e.instance_path().as_str(), instance)
                    && kw.strip_prefix(node).is_some_and(|rest| {
                        rest.starts_with("/properties/")
                            || rest.starts_with("/additionalProperties")
                            || rest == "/required"
                    })
            });
            if !skip {
                self.one(e, out, &mut all_of);
            }
        }
        for g in all_of {
            let none = if g.failed == g.count {
                ". None validated"
            } else {
                ""
            };
            out.push(self.composite(format!(
                "{} must validate all the schemas (allOf){none}",
                go_quote(&g.name)
            )));
        }
    }

    /// Maps the errors of the branch upstream would report: the one with
    /// the best match, approximated as the fewest errors (first on ties).
    fn best_branch(&self, context: &[Vec<ValidationError<'static>>], out: &mut Vec<FieldError>) {
        if let Some(branch) = context.iter().min_by_key(|b| b.len()) {
            self.map(&branch.iter().collect::<Vec<_>>(), out);
        }
    }

    fn one(
        &self,
        e: &ValidationError<'_>,
        out: &mut Vec<FieldError>,
        all_of: &mut Vec<AllOfGroup>,
    ) {
        use ValidationErrorKind as K;
        let name = self.name(e.instance_path());
        let field = join(self.prefix, &name);
        let data: &Value = e.instance();
        let invalid =
            |value: Value, detail: String| FieldError::invalid(field.clone(), value, detail);
        match e.kind() {
            K::Custom { keyword, .. } => match self.roles.get(e.schema_path().as_str()) {
                Some(Role::Type(spec)) => {
                    if let Some(m) = spec.mismatch(data) {
                        let (expected, got) = spec.describe(&m);
                        out.push(FieldError::new(
                            ErrorType::TypeInvalid,
                            field,
                            Some(got.into()),
                            format!("{name} in body must be of type {expected}: \"{got}\""),
                        ));
                    }
                }
                Some(Role::Pattern(p)) => out.push(invalid(
                    data.clone(),
                    format!("{name} in body should match '{p}'"),
                )),
                _ => out.push(invalid("".into(), keyword.clone())),
            },
            K::Format { format } => out.push(FieldError::new(
                ErrorType::TypeInvalid,
                field,
                Some(data.clone()),
                format!(
                    "{name} in body must be of type {format}: {}",
                    go_quote(data.as_str().unwrap_or_default())
                ),
            )),
            K::MaxLength { limit } => out.push(too_long(field, data.clone(), *limit)),
            K::MinLength { limit } => out.push(invalid(
                data.clone(),
                format!("{name} in body should be at least {limit} chars long"),
            )),
            K::Maximum { limit } => out.push(invalid(
                data.clone(),
                format!(
                    "{name} in body should be less than or equal to {}",
                    bound(limit, data)
                ),
            )),
            K::ExclusiveMaximum { limit } => out.push(invalid(
                data.clone(),
                format!("{name} in body should be less than {}", bound(limit, data)),
            )),
            K::Minimum { limit } => out.push(invalid(
                data.clone(),
                format!(
                    "{name} in body should be greater than or equal to {}",
                    bound(limit, data)
                ),
            )),
            K::ExclusiveMinimum { limit } => out.push(invalid(
                data.clone(),
                format!(
                    "{name} in body should be greater than {}",
                    bound(limit, data)
                ),
            )),
            K::MultipleOf { multiple_of } => out.push(invalid(
                data.clone(),
                format!(
                    "{name} in body should be a multiple of {}",
                    bound(&json!(multiple_of), data)
                ),
            )),
            K::MinItems { limit } => {
                let n = data.as_array().map_or(0, Vec::len);
                out.push(invalid(
                    n.into(),
                    format!("{name} in body should have at least {limit} items"),
                ));
            }
            K::MaxItems { limit } => {
                out.push(too_many(field, data.as_array().map_or(0, Vec::len), *limit))
            }
            K::MinProperties { limit } => {
                let n = data.as_object().map_or(0, Map::len);
                out.push(invalid(
                    n.into(),
                    format!("{name} in body should have at least {limit} properties"),
                ));
            }
            K::MaxProperties { limit } => out.push(too_many(
                field,
                data.as_object().map_or(0, Map::len),
                *limit,
            )),
            K::UniqueItems => out.push(invalid(
                "".into(),
                format!("{name} in body shouldn't contain duplicates"),
            )),
            K::Required { property } => out.push(FieldError::required(
                join(&field, property.as_str().unwrap_or_default()),
                "",
            )),
            K::Enum { options } => {
                let values: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .map(|v| match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                out.push(FieldError::not_supported(field, data.clone(), &refs));
            }
            K::AdditionalProperties { unexpected } => {
                for k in unexpected {
                    out.push(invalid(
                        k.as_str().into(),
                        format!("{name}.{k} in body is a forbidden property"),
                    ));
                }
            }
            K::AnyOf { context } => {
                if let Some(Role::AllOfBranch { node, count }) =
                    self.roles.get(e.schema_path().as_str())
                {
                    let instance = e.instance_path().as_str();
                    match all_of
                        .iter_mut()
                        .find(|g: &&mut AllOfGroup| g.node == *node && g.instance == instance)
                    {
                        Some(g) => g.failed += 1,
                        None => all_of.push(AllOfGroup {
                            node: node.clone(),
                            instance: instance.to_owned(),
                            name,
                            count: *count,
                            failed: 1,
                        }),
                    }
                    if let Some(branch) = context.first() {
                        self.map(&branch.iter().collect::<Vec<_>>(), out);
                    }
                } else {
                    out.push(self.composite(format!(
                        "{} must validate at least one schema (anyOf)",
                        go_quote(&name)
                    )));
                    self.best_branch(context, out);
                }
            }
            K::OneOfNotValid { context } => {
                out.push(self.composite(format!(
                    "{} must validate one and only one schema (oneOf). Found none valid",
                    go_quote(&name)
                )));
                self.best_branch(context, out);
            }
            K::OneOfMultipleValid { context } => {
                let valid = context.iter().filter(|b| b.is_empty()).count();
                out.push(self.composite(format!(
                    "{} must validate one and only one schema (oneOf). Found {valid} valid alternatives",
                    go_quote(&name)
                )));
            }
            K::Not { .. } => out.push(self.composite(format!(
                "{} must not validate the schema (not)",
                go_quote(&name)
            ))),
            other => out.push(invalid("".into(), other.keyword().to_string())),
        }
    }
}
