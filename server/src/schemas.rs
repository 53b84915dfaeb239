//! OpenAPI schemas of the built-in types, from a maintained source.
//!
//! Bodies come from k8s-openapi's schemars implementations (generated from
//! Kubernetes' own OpenAPI spec). Those carry descriptions and types but not
//! the `x-kubernetes-*` list and patch extensions, which k8s-openapi encodes
//! in its `DeepMerge` code instead; [`OVERLAY`] adds them for the fields of
//! the types we serve, as upstream's markers declare them (`+listType`,
//! `+patchStrategy`, `+patchMergeKey`, `+structType=atomic`). A unit test
//! checks each overlay entry against k8s-openapi's `DeepMerge` behaviour.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

/// Extra extensions for a field (`definition`, `field`, extensions), or for
/// the definition itself when `field` is empty.
pub const OVERLAY: &[(&str, &str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        r#"{"x-kubernetes-list-type":"set","x-kubernetes-patch-strategy":"merge"}"#,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        r#"{"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["uid"],"x-kubernetes-patch-merge-key":"uid","x-kubernetes-patch-strategy":"merge"}"#,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "managedFields",
        r#"{"x-kubernetes-list-type":"atomic"}"#,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
        "",
        r#"{"x-kubernetes-map-type":"atomic"}"#,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        "",
        r#"{"x-kubernetes-map-type":"atomic"}"#,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        "matchExpressions",
        r#"{"x-kubernetes-list-type":"atomic"}"#,
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        r#"{"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],"x-kubernetes-patch-merge-key":"name","x-kubernetes-patch-strategy":"merge"}"#,
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "imagePullSecrets",
        r#"{"x-kubernetes-list-type":"atomic"}"#,
    ),
    (
        "io.k8s.api.core.v1.ObjectReference",
        "",
        r#"{"x-kubernetes-map-type":"atomic"}"#,
    ),
    (
        "io.k8s.api.core.v1.LocalObjectReference",
        "",
        r#"{"x-kubernetes-map-type":"atomic"}"#,
    ),
    (
        "io.k8s.api.core.v1.NamespaceSpec",
        "finalizers",
        r#"{"x-kubernetes-list-type":"atomic"}"#,
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        r#"{"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],"x-kubernetes-patch-merge-key":"type","x-kubernetes-patch-strategy":"merge"}"#,
    ),
];

/// A set of OpenAPI v3 component schemas, keyed by definition name.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    pub schemas: BTreeMap<String, Value>,
}

impl Definitions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `T` and everything it references; returns `T`'s definition name.
    pub fn add<T: JsonSchema>(&mut self) -> String {
        let mut generator: SchemaGenerator = SchemaSettings::openapi3()
            .with(|s| s.meta_schema = None)
            .into_generator();
        let root = generator.subschema_for::<T>();
        for (k, v) in generator.take_definitions(true) {
            self.schemas.entry(k).or_insert(v);
        }
        let name = T::schema_name().to_string();
        if !self.schemas.contains_key(&name) {
            self.schemas.insert(name.clone(), root.to_value());
        }
        name
    }

    /// The types API operations take and answer besides the resources
    /// (`Status`, `DeleteOptions`, `Patch`, `autoscaling/v1` `Scale`), which
    /// the OpenAPI documents refer to.
    pub fn add_operation_types(&mut self) {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        self.add::<meta::Status>();
        self.add::<meta::DeleteOptions>();
        self.add::<k8s_openapi::api::autoscaling::v1::Scale>();
        // k8s-openapi models Patch as a Rust enum; kube publishes it as an
        // opaque object.
        self.schemas
            .entry("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into())
            .or_insert_with(|| {
                json!({
                    "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
                    "type": "object",
                })
            });
    }

    /// Applies [`OVERLAY`], and drops `metadata` from every `required`:
    /// k8s-openapi's schemas require it because its Rust field is not an
    /// `Option`, but kube's never do (kubectl's client-side validation,
    /// which runs for kinds without a PATCH operation such as
    /// SubjectAccessReview, would refuse a manifest without metadata).
    pub fn apply_overlay(&mut self) {
        for schema in self.schemas.values_mut() {
            if let Some(Value::Array(req)) = schema.get_mut("required") {
                req.retain(|r| r != "metadata");
                if req.is_empty()
                    && let Some(m) = schema.as_object_mut()
                {
                    m.remove("required");
                }
            }
        }
        for (def, field, ext) in OVERLAY {
            let ext: Value = serde_json::from_str(ext).expect("overlay entries are valid JSON");
            let Some(schema) = self.schemas.get_mut(*def) else {
                continue;
            };
            let target = if field.is_empty() {
                Some(schema)
            } else {
                schema.get_mut("properties").and_then(|p| p.get_mut(*field))
            };
            if let (Some(Value::Object(t)), Value::Object(e)) = (target, ext) {
                t.extend(e);
            }
        }
    }

    /// Marks a definition as the schema of a served group/version/kind.
    pub fn set_gvk(&mut self, name: &str, group: &str, version: &str, kind: &str) {
        if let Some(Value::Object(s)) = self.schemas.get_mut(name) {
            let entry = json!({"group": group, "version": version, "kind": kind});
            let list = s
                .entry("x-kubernetes-group-version-kind")
                .or_insert_with(|| json!([]));
            if let Value::Array(a) = list
                && !a.contains(&entry)
            {
                a.push(entry);
            }
        }
    }

    /// The structural schema of a definition.
    pub fn structural(&self, name: &str) -> trellis_apis::schema::Schema {
        trellis_apis::schema::Schema::from_openapi(
            &json!({"$ref": format!("#/components/schemas/{name}")}),
            &self.schemas,
        )
    }
}

/// References in a schema rewritten from `#/components/schemas/` to another
/// prefix (OpenAPI v2 uses `#/definitions/`).
pub fn rewrite_refs(v: &Value, to_prefix: &str) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if k == "$ref"
                        && let Some(r) = v.as_str()
                    {
                        let name = r.rsplit('/').next().unwrap_or(r);
                        return (k.clone(), Value::String(format!("{to_prefix}{name}")));
                    }
                    (k.clone(), rewrite_refs(v, to_prefix))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| rewrite_refs(v, to_prefix)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::DeepMerge;
    use k8s_openapi::api::core::v1::{ObjectReference, ServiceAccount};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use trellis_apis::schema::ListType;

    fn defs() -> Definitions {
        let mut d = Definitions::new();
        d.add::<ServiceAccount>();
        d.add::<k8s_openapi::api::core::v1::Namespace>();
        d.add::<k8s_openapi::api::core::v1::Event>();
        d.apply_overlay();
        d
    }

    #[test]
    fn overlay_lands_on_schemas() {
        let d = defs();
        let sa = d.structural("io.k8s.api.core.v1.ServiceAccount");
        assert_eq!(
            sa.field("secrets").unwrap().effective_list_type(),
            ListType::Map(vec!["name".into()])
        );
        let meta = sa.field("metadata").unwrap();
        assert_eq!(
            meta.field("finalizers").unwrap().effective_list_type(),
            ListType::Set
        );
        assert_eq!(
            meta.field("ownerReferences").unwrap().effective_list_type(),
            ListType::Map(vec!["uid".into()])
        );
        assert!(meta.field("labels").unwrap().is_map());
        let ev = d.structural("io.k8s.api.core.v1.Event");
        assert!(ev.field("involvedObject").unwrap().map_atomic);
        // Every overlay target exists (catches typos and renamed fields).
        for (def, field, _) in OVERLAY {
            let Some(s) = d.schemas.get(*def) else {
                continue;
            };
            if !field.is_empty() {
                assert!(
                    s["properties"].get(*field).is_some(),
                    "{def}.{field} missing"
                );
            }
        }
    }

    /// The overlay agrees with k8s-openapi's DeepMerge, which encodes the
    /// same upstream markers as code.
    #[test]
    fn overlay_matches_deep_merge() {
        // finalizers: set semantics (union, no duplicates).
        let mut a = ObjectMeta {
            finalizers: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        };
        a.merge_from(ObjectMeta {
            finalizers: Some(vec!["b".into(), "c".into()]),
            ..Default::default()
        });
        assert_eq!(a.finalizers.unwrap(), vec!["a", "b", "c"]);
        // ownerReferences: map keyed by uid.
        let owner = |uid: &str, name: &str| OwnerReference {
            uid: uid.into(),
            name: name.into(),
            ..Default::default()
        };
        let mut m = ObjectMeta {
            owner_references: Some(vec![owner("1", "x")]),
            ..Default::default()
        };
        m.merge_from(ObjectMeta {
            owner_references: Some(vec![owner("1", "y"), owner("2", "z")]),
            ..Default::default()
        });
        let refs = m.owner_references.unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].name, "y");
        // ServiceAccount secrets: map keyed by name; imagePullSecrets atomic.
        let r = |n: &str, ns: &str| ObjectReference {
            name: Some(n.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        };
        let mut sa = ServiceAccount {
            secrets: Some(vec![r("s1", "a")]),
            ..Default::default()
        };
        sa.merge_from(ServiceAccount {
            secrets: Some(vec![r("s1", "b"), r("s2", "c")]),
            ..Default::default()
        });
        assert_eq!(sa.secrets.as_ref().unwrap().len(), 2);
        let lor = |n: &str| k8s_openapi::api::core::v1::LocalObjectReference { name: n.into() };
        let mut sa2 = ServiceAccount {
            image_pull_secrets: Some(vec![lor("a")]),
            ..Default::default()
        };
        sa2.merge_from(ServiceAccount {
            image_pull_secrets: Some(vec![lor("b")]),
            ..Default::default()
        });
        assert_eq!(
            sa2.image_pull_secrets.unwrap().len(),
            1,
            "atomic list replaced"
        );
    }
}
