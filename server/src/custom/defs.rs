//! From a [`CustomApi`] to what a cluster serves: one [`ResourceDef`] per
//! served version, in preference order, plus each version's OpenAPI
//! definition.
//!
//! Three views of each version's `openAPIV3Schema` are derived here, once:
//! the *validator* (the schema as written), the *structural* schema that
//! drives pruning, defaulting and field ownership (with `apiVersion`,
//! `kind` and `metadata` filled in as ObjectMeta, because the server owns
//! those fields whatever the schema says), and the *published* definition
//! that OpenAPI documents and `kubectl explain` show.
//!
//! All versions share one keyspace; the `None` conversion strategy only
//! rewrites `apiVersion`, which a [`Converter`] does on the way in and out.
//! The same converter applies schema defaults to objects read from storage,
//! so a default added to a schema shows on objects written before it. The
//! `Webhook` strategy gives every version a remote converter
//! ([`super::conversion`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use trellis_apis::cel::Rules;
use trellis_apis::jsonpath::JsonPath;
use trellis_apis::schema::Schema;
use trellis_apis::schema::validate::Validator;
use trellis_storage::keys::Keyspace;

use super::api::{CustomApi, Version};
use super::columns::Columns;
use super::conversion::{Webhook, WebhookConverter};
use super::strategy::CustomStrategy;
use crate::registry::resource::{ALL_VERBS, ScaleSpec, storage_version_hash};
use crate::registry::{Conversion, Converter, ResourceDef};
use crate::schemas::Definitions;
use crate::webhook::egress::Shared;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// What a custom API adds to a cluster.
pub struct Built {
    pub defs: Vec<ResourceDef>,
    /// OpenAPI definitions by name.
    pub definitions: BTreeMap<String, Value>,
}

/// The OpenAPI definition name of a custom kind: the group reversed, as
/// upstream names them (`com.example.stable.v1.CronTab`).
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The schema with the fields the server owns made explicit.
fn with_object_fields(schema: &Value, meta: Value) -> Value {
    let mut s = schema.clone();
    if !s.is_object() {
        s = json!({"type": "object"});
    }
    if s.get("type").is_none() {
        s["type"] = json!("object");
    }
    if !s.get("properties").is_some_and(Value::is_object) {
        s["properties"] = json!({});
    }
    let props = s["properties"].as_object_mut().expect("object");
    props.insert(
        "apiVersion".into(),
        json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}),
    );
    props.insert(
        "kind".into(),
        json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}),
    );
    props.insert("metadata".into(), meta);
    s
}

/// Schema keywords the published OpenAPI drops (validation internals).
fn strip_for_publication(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("x-kubernetes-validations");
            for (_, child) in m.iter_mut() {
                strip_for_publication(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_for_publication),
        _ => {}
    }
}

/// Maps between the storage version and one served version.
struct VersionConverter {
    served: String,
    stored: String,
    /// Applies defaults (and prunes) on reads when the schema has defaults.
    normalize: Option<Arc<CustomStrategy>>,
}

impl Converter for VersionConverter {
    fn to_served(&self, mut obj: Value) -> Value {
        obj["apiVersion"] = Value::String(self.served.clone());
        if let Some(s) = &self.normalize {
            s.normalize(&mut obj);
        }
        obj
    }
    fn to_stored(&self, mut obj: Value) -> Value {
        obj["apiVersion"] = Value::String(self.stored.clone());
        obj
    }
}

fn has_defaults(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("default") || m.values().any(has_defaults),
        Value::Array(a) => a.iter().any(has_defaults),
        _ => false,
    }
}

/// Builds what `api` serves; a conversion webhook is called under
/// `egress`. Errors name the version whose schema could not be compiled
/// (validation of the definition should have refused it).
pub fn build(api: &CustomApi, builtin: &Definitions, egress: &Shared) -> Result<Built, String> {
    let storage = api
        .storage_version()
        .ok_or_else(|| "no storage version".to_string())?
        .to_string();
    let meta_ref = json!({"$ref": format!("#/components/schemas/{OBJECT_META}")});
    // With a webhook, every version (the storage version too: objects
    // written before it became the storage version are in another one)
    // converts through it.
    let webhook = api.conversion.as_ref().map(|spec| {
        let name = format!("{}.{}", api.names.plural, api.group);
        let hook = Arc::new(Webhook::new(&name, &api.names.kind, spec, egress.clone()));
        let stored_schema = api
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| {
                Arc::new(Schema::from_openapi(
                    &with_object_fields(&v.schema, meta_ref.clone()),
                    &builtin.schemas,
                ))
            })
            .unwrap_or_default();
        (hook, stored_schema)
    });
    let keyspace = Keyspace::new(&api.group, &api.names.plural, api.identity.as_deref())
        .map_err(|e| e.to_string())?;
    let svh = storage_version_hash(&api.group, &storage, &api.names.kind);
    let mut served: Vec<&Version> = api.versions.iter().filter(|v| v.served).collect();
    served.sort_by(|a, b| super::version::preference(&a.name, &b.name));
    let mut out = Built {
        defs: Vec::new(),
        definitions: BTreeMap::new(),
    };
    for v in served {
        let api_version = format!("{}/{}", api.group, v.name);
        let name = definition_name(&api.group, &v.name, &api.names.kind);
        let structural_json = with_object_fields(&v.schema, meta_ref.clone());
        let structural = Arc::new(Schema::from_openapi(&structural_json, &builtin.schemas));
        let validator =
            Validator::new(&v.schema).map_err(|e| format!("version {}: schema: {e}", v.name))?;
        let rules = Rules::compile(&v.schema, "").map_err(|errs| {
            let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            format!("version {}: rules: {}", v.name, msgs.join("; "))
        })?;
        let selectable = v
            .selectable_fields
            .iter()
            .filter_map(|p| {
                JsonPath::parse(p)
                    .ok()
                    .map(|jp| (p.trim_start_matches('.').to_string(), jp))
            })
            .collect();
        let strategy = Arc::new(CustomStrategy {
            kind: api.names.kind.clone(),
            version: v.name.clone(),
            structural: structural.clone(),
            validator,
            rules,
            columns: Columns::new(&v.columns),
            selectable,
            scale: v.scale.clone(),
        });
        let defaults = has_defaults(&v.schema);
        let converter = match &webhook {
            Some((hook, stored_schema)) => Some(Conversion::Remote(Arc::new(WebhookConverter {
                webhook: hook.clone(),
                served: api_version.clone(),
                served_schema: structural.clone(),
                stored: format!("{}/{storage}", api.group),
                stored_schema: stored_schema.clone(),
            }))),
            None => (v.name != storage || defaults).then(|| {
                Conversion::Local(Arc::new(VersionConverter {
                    served: api_version.clone(),
                    stored: format!("{}/{storage}", api.group),
                    normalize: defaults.then(|| strategy.clone()),
                }))
            }),
        };

        let mut published = with_object_fields(
            &v.schema,
            json!({"allOf": [meta_ref], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        );
        strip_for_publication(&mut published);
        published["x-kubernetes-group-version-kind"] =
            json!([{"group": api.group, "version": v.name, "kind": api.names.kind}]);
        out.definitions.insert(name.clone(), published);

        out.defs.push(ResourceDef {
            group: api.group.clone(),
            version: v.name.clone(),
            resource: api.names.plural.clone(),
            singular: api.names.singular.clone(),
            kind: api.names.kind.clone(),
            list_kind: api.names.list_kind.clone(),
            namespaced: api.namespaced,
            short_names: api.names.short_names.clone(),
            categories: api.names.categories.clone(),
            verbs: ALL_VERBS.to_vec(),
            status_subresource: v.status,
            scale: v.scale.as_ref().map(|s| ScaleSpec {
                spec_replicas_path: s.spec_replicas.clone(),
                status_replicas_path: s.status_replicas.clone(),
                label_selector_path: s.label_selector.clone(),
            }),
            extra_subresources: Vec::new(),
            keyspace: keyspace.clone(),
            converter,
            strategy,
            schema: structural,
            openapi_name: name,
            strategic_merge: false,
            protobuf: false,
            storage_version_hash: svh.clone(),
            terminating: api.terminating,
            deprecation: v.deprecated.then(|| {
                v.deprecation_warning.clone().unwrap_or_else(|| {
                    format!("{}/{} {} is deprecated", api.group, v.name, api.names.kind)
                })
            }),
            admission: None,
            bound: None,
            annotate_cluster: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names_reverse_the_group() {
        assert_eq!(
            definition_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
    }
}
