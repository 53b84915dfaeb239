//! What a consumer cluster serves for its APIBindings.
//!
//! A bound resource is a custom resource like any other — the same
//! [`defs::build`] turns its APIResourceSchema into resource definitions,
//! so validation, pruning, defaulting, CEL, printer columns, OpenAPI and
//! `kubectl explain` are the CRD machinery's — with three differences:
//!
//! * its objects live in the keyspace `<group>/<resource>:<identityHash>`,
//!   so two exports of the same group/resource never share data, and a
//!   provider's cross-workspace view is one prefix scan;
//! * every version has the status subresource whatever the schema says:
//!   consumers own spec, the export's provider owns status;
//! * each definition carries [`BoundFrom`], which the request path uses to
//!   refuse status writes and to name the export in messages.
//!
//! Compiling a schema (validators, CEL programs) is the expensive part and
//! does not depend on the consumer, so [`Cache`] keeps one compiled copy per
//! schema UID and identity; a thousand workspaces binding the same export
//! share it and each only clones the definitions' handles.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use super::apiresourceschema::crd_shape;
use crate::custom::api::{CustomApi, Names, versions_from_spec};
use crate::custom::defs::{self, Built};
use crate::registry::{BoundFrom, ResourceDef};
use crate::schemas::Definitions;

/// The API an APIResourceSchema describes, stored under `identity`.
pub fn api_of(schema: &Value, identity: &str, terminating: bool) -> Option<CustomApi> {
    let spec = schema.get("spec")?;
    let shape = crd_shape(schema);
    let mut versions = versions_from_spec(shape.get("spec")?);
    for v in &mut versions {
        v.status = true;
    }
    let names = Names::from_json(spec.get("names")?);
    if names.plural.is_empty() || names.kind.is_empty() {
        return None;
    }
    Some(CustomApi {
        group: spec.get("group")?.as_str()?.to_string(),
        names,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        versions,
        terminating,
        identity: Some(identity.to_string()),
        conversion: crate::custom::api::ConversionWebhook::from_spec(shape.get("spec")?),
    })
}

type CacheKey = (String, String, bool);

/// Compiled bound APIs, shared by every cluster that binds them.
#[derive(Default)]
pub struct Cache {
    built: Mutex<HashMap<CacheKey, Arc<Built>>>,
}

impl Cache {
    /// The compiled form of `schema` under `identity`.
    pub fn get(
        &self,
        schema: &Value,
        identity: &str,
        terminating: bool,
        builtin: &Definitions,
        egress: &crate::webhook::egress::Shared,
    ) -> Result<Arc<Built>, String> {
        let uid = schema
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key = (uid, identity.to_string(), terminating);
        if let Some(b) = self.built.lock().get(&key) {
            return Ok(b.clone());
        }
        let api = api_of(schema, identity, terminating)
            .ok_or_else(|| "the schema has no names".to_string())?;
        let built = Arc::new(defs::build(&api, builtin, egress)?);
        self.built.lock().insert(key, built.clone());
        Ok(built)
    }

    /// Forgets compiled schemas no cluster uses any more.
    pub fn retain(&self, live: impl Fn(&str, &str) -> bool) {
        self.built.lock().retain(|(uid, id, _), _| live(uid, id));
    }
}

/// Adds one bound resource's definitions, marked with where they come
/// from, to `defs`/`definitions`.
pub fn add(
    built: &Built,
    from: &Arc<BoundFrom>,
    defs: &mut Vec<ResourceDef>,
    definitions: &mut BTreeMap<String, Value>,
) {
    for d in &built.defs {
        let mut d = d.clone();
        d.bound = Some(from.clone());
        defs.push(d);
    }
    definitions.extend(
        built
            .definitions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "metadata": {"name": "v1.widgets.example.io", "uid": "u1"},
            "spec": {
                "group": "example.io",
                "names": {"plural": "widgets", "kind": "Widget"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}],
            },
        })
    }

    #[test]
    fn bound_apis_always_have_status_and_an_identity_keyspace() {
        let api = api_of(&schema(), "abc", false).unwrap();
        assert!(api.versions.iter().all(|v| v.status));
        assert_eq!(api.names.list_kind, "WidgetList");
        let built = defs::build(
            &api,
            &crate::builtin::builtins().definitions,
            &Default::default(),
        )
        .unwrap();
        let d = &built.defs[0];
        assert!(d.status_subresource);
        assert_eq!(d.keyspace.as_str(), "example.io/widgets:abc");
    }

    #[test]
    fn compiled_schemas_are_shared() {
        let cache = Cache::default();
        let defs = crate::builtin::builtins().definitions;
        let a = cache
            .get(&schema(), "abc", false, &defs, &Default::default())
            .unwrap();
        let b = cache
            .get(&schema(), "abc", false, &defs, &Default::default())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache
            .get(&schema(), "other", false, &defs, &Default::default())
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        cache.retain(|_, id| id == "abc");
        assert_eq!(cache.built.lock().len(), 1);
    }
}
