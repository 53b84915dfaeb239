//! `metadata.managedFields`: which manager set which fields.
//!
//! Every write records, per field manager, the fields it owns (FieldsV1).
//! For `Update` operations (create, update, JSON/merge patches) upstream's
//! rules apply: the writer takes ownership of every field it added or
//! changed, other managers lose those fields (updates always "force"), and
//! removed fields leave every set. Entries whose set becomes empty disappear;
//! entries are ordered as upstream orders them (operation, time, manager).
//! Server-side apply (operation `Apply`) builds on the same sets.

use serde_json::{Map, Value, json};
use trellis_apis::fieldpath::{FieldSet, compare};
use trellis_apis::schema::Schema;

/// Fields no manager owns (upstream's stripped fields).
const STRIPPED_META: [&str; 8] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// One managedFields entry with its decoded set.
pub use trellis_apis::ssa::Manager as Entry;

/// Which part of the object a write may own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (no status subresource).
    Whole,
    /// Everything but `status` (main endpoint of a resource with /status).
    Main,
    /// Only `status` (the /status endpoint).
    Status,
}

/// The object reduced to what managers can own.
pub fn strip(obj: &Value, scope: Scope) -> Value {
    let Value::Object(m) = obj else {
        return json!({});
    };
    let mut out = Map::new();
    for (k, v) in m {
        let keep = match k.as_str() {
            "apiVersion" | "kind" => false,
            "metadata" => {
                if scope != Scope::Status
                    && let Value::Object(meta) = v
                {
                    let kept: Map<String, Value> = meta
                        .iter()
                        .filter(|(k, _)| !STRIPPED_META.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if !kept.is_empty() {
                        out.insert(k.clone(), Value::Object(kept));
                    }
                }
                false
            }
            "status" => scope != Scope::Main,
            _ => scope != Scope::Status,
        };
        if keep {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

pub fn decode(obj: &Value) -> Vec<Entry> {
    let Some(Value::Array(entries)) = obj.pointer("/metadata/managedFields") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Some(Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
                subresource: s("subresource"),
                fields: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({}))).ok()?,
            })
        })
        .collect()
}

pub fn encode(entries: &mut [Entry]) -> Value {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| p.time.cmp(&q.time))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(e.manager));
                m.insert("operation".into(), json!(e.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.fields.to_fields_v1());
                if !e.subresource.is_empty() {
                    m.insert("subresource".into(), json!(e.subresource));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// Where to put the result.
pub fn store(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    let meta = crate::meta::meta_mut(obj);
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), encode(&mut entries));
    }
}

/// The entries a write starts from: the client's if it explicitly changed
/// them (kubectl's client-side-apply migration does), else the old object's.
pub fn baseline(old: Option<&Value>, new: &Value) -> Vec<Entry> {
    let old_mf = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_mf = new.pointer("/metadata/managedFields");
    match (old_mf, new_mf) {
        (_, Some(n)) if Some(n) != old_mf => decode(new),
        (Some(_), _) => decode(old.expect("old present")),
        _ => Vec::new(),
    }
}

/// Records an `Update` by `manager` that turned `old` into `new`.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    schema: &Schema,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
    now: &str,
) {
    let mut entries = baseline(old, new);
    let subresource = if scope == Scope::Status { "status" } else { "" };
    let before = old.map(|o| strip(o, scope)).unwrap_or_else(|| json!({}));
    let after = strip(new, scope);
    let c = compare(schema, &before, &after);
    let changed = c.added.union(&c.modified);
    for e in entries.iter_mut() {
        let is_me = e.manager == manager && e.operation == "Update" && e.subresource == subresource;
        if !is_me {
            e.fields = e.fields.difference(&changed).difference(&c.removed);
        }
    }
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == subresource)
    {
        Some(e) => {
            let updated = e.fields.union(&changed).difference(&c.removed);
            if updated != e.fields || !changed.is_empty() {
                e.fields = updated;
                e.time = Some(now.to_string());
                e.api_version = api_version.to_string();
            }
        }
        None if !changed.is_empty() => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: subresource.to_string(),
            fields: changed,
        }),
        None => {}
    }
    store(new, entries);
}

/// The default manager name: the User-Agent up to its first `/`, at most
/// 128 bytes (upstream `prefixFromUserAgent`).
pub fn manager_from_user_agent(ua: Option<&str>) -> String {
    let ua = ua.unwrap_or("unknown");
    let mut m = ua.split('/').next().unwrap_or("").to_string();
    if m.len() > 128 {
        let mut cut = 128;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::from_openapi(
            &json!({"type": "object", "properties": {
                "data": {"type": "object", "additionalProperties": {"type": "string"}},
                "metadata": {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
            }}),
            &Default::default(),
        )
    }

    #[test]
    fn ownership_moves_with_updates() {
        let s = schema();
        let mut v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "1"}});
        record_update(&s, None, &mut v1, "creator", "v1", Scope::Whole, "t1");
        let e = decode(&v1);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].fields.to_fields_v1(),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        let mut v2 = v1.clone();
        v2["data"]["k"] = json!("2");
        v2["metadata"]["labels"]["b"] = json!("x");
        record_update(&s, Some(&v1), &mut v2, "editor", "v1", Scope::Whole, "t2");
        let e = decode(&v2);
        assert_eq!(e.len(), 2);
        let creator = e.iter().find(|e| e.manager == "creator").unwrap();
        let editor = e.iter().find(|e| e.manager == "editor").unwrap();
        assert_eq!(
            creator.fields.to_fields_v1(),
            json!({"f:data": {}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        assert_eq!(
            editor.fields.to_fields_v1(),
            json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:b": {}}}})
        );
        // A no-op leaves timestamps alone.
        let mut v3 = v2.clone();
        record_update(&s, Some(&v2), &mut v3, "editor", "v1", Scope::Whole, "t3");
        assert_eq!(v3, v2);
        assert_eq!(
            manager_from_user_agent(Some("kubectl/v1.33.1 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
    }
}
