//! Server-side apply, after structured-merge-diff's `Updater.Apply`.
//!
//! Given the live object, an applied configuration and the managed-fields
//! entries, an apply:
//! 1. merges the configuration into the live object (configured values win;
//!    struct and map fields merge; lists merge by `x-kubernetes-list-type`:
//!    atomic lists are replaced, sets and map-lists merge item by item —
//!    live items keep their order, new items are appended in applied order);
//! 2. makes the applier own exactly the fields its configuration sets;
//! 3. removes fields the applier set last time but no longer sets and no
//!    other manager owns;
//! 4. reports conflicts — fields another manager owns whose value the apply
//!    would change — unless forced, in which case those managers lose them;
//! 5. drops removed fields from every manager.
//!
//! Field sets are computed on the object minus the fields no manager owns
//! (apiVersion, kind, and server-set metadata); callers pass stripped views
//! for set computations and full objects for the merge.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::fieldpath::{
    FieldSet, ListItems, Path, PathElement, compare, item_element, path_string, to_field_set,
};
use crate::schema::{ListType, Schema};

/// One managedFields entry: who, how, and which fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub subresource: String,
    pub api_version: String,
    pub time: Option<String>,
    pub fields: FieldSet,
}

impl Manager {
    fn same_identity(&self, other: &Manager) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
    }

    /// How upstream names a manager in conflict messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            match &self.time {
                Some(t) => s.push_str(&format!(" using {} at {t}", self.api_version)),
                None => s.push_str(&format!(" using {}", self.api_version)),
            }
        }
        s
    }
}

/// A field another manager owns that the apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager, described as in upstream messages.
    pub manager: String,
    pub path: Path,
}

impl Conflict {
    pub fn path_string(&self) -> String {
        path_string(&self.path)
    }
}

/// upstream `getConflictMessage`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager,
            c.path_string()
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(&c.manager)
            .or_default()
            .push(c.path_string());
    }
    let mut lines = Vec::new();
    for (m, paths) in by_manager {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(paths.into_iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// An apply's outcome.
#[derive(Debug)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
    /// The configuration contradicts itself (duplicate list keys): 422.
    Invalid(String),
}

fn child_schema(schema: &Schema, key: &str) -> Arc<Schema> {
    schema.field(key).unwrap_or_else(|| Arc::new(Schema::any()))
}

fn item_schema(schema: &Schema) -> Arc<Schema> {
    schema
        .items
        .clone()
        .unwrap_or_else(|| Arc::new(Schema::any()))
}

/// upstream `TypedValue.Merge`: `applied` values win.
pub fn merge(schema: &Schema, live: &Value, applied: &Value) -> Result<Value, String> {
    match (live, applied) {
        (Value::Object(l), Value::Object(a))
            if !(schema.map_atomic || l.is_empty() && a.is_empty()) =>
        {
            let mut out = Map::new();
            for (k, lv) in l {
                let v = match a.get(k) {
                    Some(av) => merge(&child_schema(schema, k), lv, av)?,
                    None => lv.clone(),
                };
                out.insert(k.clone(), v);
            }
            for (k, av) in a {
                if !l.contains_key(k) {
                    out.insert(k.clone(), av.clone());
                }
            }
            Ok(Value::Object(out))
        }
        (Value::Array(l), Value::Array(a))
            if schema.effective_list_type() != ListType::Atomic
                && !(l.is_empty() && a.is_empty()) =>
        {
            let lt = schema.effective_list_type();
            let is = item_schema(schema);
            let applied_items = ListItems::new(&lt, a);
            if let Some(pe) = &applied_items.first_duplicate {
                return Err(format!(
                    "duplicate entries for key {}",
                    pe.to_string().trim_start_matches('[').trim_end_matches(']')
                ));
            }
            // Live duplicates (which only old objects can hold) keep their
            // first occurrence.
            let live_items = ListItems::new(&lt, l);
            let mut out = Vec::with_capacity(l.len() + a.len());
            for (pe, item) in live_items.iter() {
                out.push(match applied_items.get(pe) {
                    Some(av) => merge(&is, item, av)?,
                    None => item.clone(),
                });
            }
            for (pe, av) in applied_items.iter() {
                if live_items.get(pe).is_none() {
                    out.push(av.clone());
                }
            }
            Ok(Value::Array(out))
        }
        (_, a) => Ok(a.clone()),
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Removes `remove` from `obj`, except what `keep` (others' fields) still
/// needs: a container another manager owns something in stays.
fn remove_paths(schema: &Schema, obj: &mut Value, remove: &FieldSet, keep: &FieldSet) {
    match obj {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let pe = PathElement::Field(k.clone());
                let cs = child_schema(schema, &k);
                let kept_below =
                    keep.child(&pe).is_some_and(|c| !c.is_empty()) || keep.has_member(&pe);
                if remove.has_member(&pe) && !kept_below {
                    m.remove(&k);
                    continue;
                }
                if let (Some(sub), Some(v)) = (remove.child(&pe), m.get_mut(&k)) {
                    let empty = FieldSet::default();
                    let was_empty = is_empty_container(v);
                    remove_paths(&cs, v, sub, keep.child(&pe).unwrap_or(&empty));
                    // Like upstream, removal never leaves an empty container.
                    if !was_empty && is_empty_container(v) {
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            let lt = schema.effective_list_type();
            let is = item_schema(schema);
            let mut out = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                let pe = item_element(&lt, i, &item);
                let kept_below =
                    keep.child(&pe).is_some_and(|c| !c.is_empty()) || keep.has_member(&pe);
                if remove.has_member(&pe) && !kept_below {
                    continue;
                }
                if let Some(sub) = remove.child(&pe) {
                    let empty = FieldSet::default();
                    let was_empty = is_empty_container(&item);
                    remove_paths(&is, &mut item, sub, keep.child(&pe).unwrap_or(&empty));
                    if !was_empty && is_empty_container(&item) {
                        continue;
                    }
                }
                out.push(item);
            }
            *items = out;
        }
        _ => {}
    }
}

/// Inputs of one apply.
pub struct Apply<'a> {
    pub schema: &'a Schema,
    /// The live object (full), or `{}`-like for a create.
    pub live: &'a Value,
    /// The applied configuration (full, including apiVersion/kind/name).
    pub applied: &'a Value,
    /// Reduces an object to the fields managers can own.
    pub strip: &'a dyn Fn(&Value) -> Value,
    pub manager: Manager,
    pub force: bool,
}

/// Runs an apply; returns the new object and the new managers.
pub fn apply(
    a: Apply<'_>,
    mut managers: Vec<Manager>,
) -> Result<(Value, Vec<Manager>), ApplyError> {
    let merged = merge(a.schema, a.live, a.applied).map_err(ApplyError::Invalid)?;
    let applied_set = to_field_set(a.schema, &(a.strip)(a.applied));
    let last_set = managers
        .iter()
        .find(|m| m.same_identity(&a.manager))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    // Prune what this manager stopped applying and nobody else owns.
    let mut others = FieldSet::default();
    for m in &managers {
        if !m.same_identity(&a.manager) {
            others = others.union(&m.fields);
        }
    }
    let keep = others.union(&applied_set);
    let to_remove = last_set.difference(&keep);
    let mut new_obj = merged;
    if !to_remove.is_empty() {
        remove_paths(a.schema, &mut new_obj, &to_remove, &keep);
    }
    // Conflicts: others' fields whose value changes.
    let cmp = compare(a.schema, &(a.strip)(a.live), &(a.strip)(&new_obj));
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for m in &mut managers {
        if m.same_identity(&a.manager) {
            continue;
        }
        let c = m.fields.intersection(&changed);
        if c.is_empty() {
            continue;
        }
        if a.force {
            m.fields = m.fields.difference(&c);
        } else {
            let who = m.describe();
            conflicts.extend(c.paths().into_iter().map(|p| Conflict {
                manager: who.clone(),
                path: p,
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let mut mine = a.manager;
    mine.fields = applied_set;
    match managers.iter_mut().find(|m| m.same_identity(&mine)) {
        Some(m) => *m = mine,
        None => managers.push(mine),
    }
    for m in &mut managers {
        m.fields = m.fields.difference(&cmp.removed);
    }
    managers.retain(|m| !m.fields.is_empty());
    Ok((new_obj, managers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_openapi(
            &json!({"type": "object", "properties": {
                "metadata": {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "image": {"type": "string"},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                              "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
                }}
            }}),
            &Default::default(),
        )
    }

    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        v
    }

    fn mgr(name: &str, op: &str) -> Manager {
        Manager {
            manager: name.into(),
            operation: op.into(),
            subresource: String::new(),
            api_version: "v1".into(),
            time: None,
            fields: FieldSet::default(),
        }
    }

    fn run(
        live: &Value,
        applied: &Value,
        managers: Vec<Manager>,
        who: &str,
        force: bool,
    ) -> Result<(Value, Vec<Manager>), ApplyError> {
        let s = schema();
        apply(
            Apply {
                schema: &s,
                live,
                applied,
                strip: &strip,
                manager: mgr(who, "Apply"),
                force,
            },
            managers,
        )
    }

    #[test]
    fn merges_lists_by_type() {
        let s = schema();
        let live = json!({"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "args": ["x"], "tags": ["t1"]}});
        let applied = json!({"spec": {"ports": [{"name": "c", "port": 3}, {"name": "a", "port": 9}], "args": ["y"], "tags": ["t2"]}});
        let m = merge(&s, &live, &applied).unwrap();
        assert_eq!(
            m["spec"]["ports"],
            json!([{"name": "a", "port": 9}, {"name": "b", "port": 2}, {"name": "c", "port": 3}])
        );
        assert_eq!(m["spec"]["args"], json!(["y"]));
        assert_eq!(m["spec"]["tags"], json!(["t1", "t2"]));
        assert!(
            merge(
                &s,
                &live,
                &json!({"spec": {"ports": [{"name": "a"}, {"name": "a"}]}})
            )
            .is_err()
        );
    }

    #[test]
    fn two_managers_conflict_and_force() {
        let (obj, managers) = run(
            &json!({}),
            &json!({"spec": {"replicas": 1, "image": "a"}}),
            vec![],
            "alice",
            false,
        )
        .unwrap();
        // Bob sets the same value: shared ownership, no conflict.
        let (obj, managers) = run(
            &obj,
            &json!({"spec": {"replicas": 1}}),
            managers,
            "bob",
            false,
        )
        .unwrap();
        assert_eq!(managers.len(), 2);
        // Bob changes a field Alice owns: conflict.
        match run(
            &obj,
            &json!({"spec": {"replicas": 3}}),
            managers.clone(),
            "bob",
            false,
        ) {
            Err(ApplyError::Conflicts(c)) => {
                assert_eq!(c.len(), 1);
                assert_eq!(
                    conflict_message(&c),
                    "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
                );
            }
            other => panic!("{other:?}"),
        }
        // Forced: Bob takes the field.
        let (obj, managers) = run(
            &obj,
            &json!({"spec": {"replicas": 3}}),
            managers,
            "bob",
            true,
        )
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], 3);
        let alice = managers.iter().find(|m| m.manager == "alice").unwrap();
        assert_eq!(
            alice.fields.to_fields_v1(),
            json!({"f:spec": {"f:image": {}}})
        );
        let bob = managers.iter().find(|m| m.manager == "bob").unwrap();
        assert_eq!(
            bob.fields.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn dropping_a_field_removes_it_unless_someone_else_owns_it() {
        let (obj, managers) = run(&json!({}), &json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"ports": [{"name": "p", "port": 1}]}}), vec![], "alice", false).unwrap();
        let (obj, managers) = run(
            &obj,
            &json!({"metadata": {"labels": {"b": "2"}}}),
            managers,
            "bob",
            false,
        )
        .unwrap();
        // Alice stops applying both labels and the port.
        let (obj, managers) = run(&obj, &json!({"spec": {}}), managers, "alice", false).unwrap();
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"b": "2"}),
            "a removed; b kept for bob"
        );
        assert_eq!(obj["spec"].get("ports"), None, "port item removed");
        assert!(
            !managers.iter().any(|m| m.manager == "alice"),
            "alice owns nothing now"
        );
    }

    #[test]
    fn long_lists_merge_without_quadratic_scans() {
        // A 3 MiB apply body holds a set of a few hundred thousand items;
        // looking each one up by scanning the other list took minutes.
        // (Found with large server_side_apply inputs.)
        let s = schema();
        let n = 200_000;
        let tags =
            |from: usize| -> Vec<String> { (from..from + n).map(|i| format!("t{i}")).collect() };
        let live = json!({"spec": {"tags": tags(0)}});
        let applied = json!({"spec": {"tags": tags(n / 2)}});
        let start = std::time::Instant::now();
        let merged = merge(&s, &live, &applied).unwrap();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "merging took {:?}",
            start.elapsed()
        );
        let merged = merged["spec"]["tags"].as_array().unwrap();
        assert_eq!(merged.len(), n + n / 2);
        assert_eq!(
            (merged[0].as_str(), merged[n].as_str()),
            (Some("t0"), Some("t200000"))
        );
    }

    #[test]
    fn conflict_messages_like_upstream() {
        let c = vec![
            Conflict {
                manager: "\"b\" using v1".into(),
                path: vec![
                    PathElement::Field("spec".into()),
                    PathElement::Field("x".into()),
                ],
            },
            Conflict {
                manager: "\"a\"".into(),
                path: vec![
                    PathElement::Field("spec".into()),
                    PathElement::Field("y".into()),
                ],
            },
        ];
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.y\nconflicts with \"b\" using v1:\n- .spec.x"
        );
        let mut m = mgr("kubectl", "Update");
        m.time = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(m.describe(), "\"kubectl\" using v1 at 2026-01-01T00:00:00Z");
    }
}
