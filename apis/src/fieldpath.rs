//! Field sets for `metadata.managedFields` (FieldsV1), after
//! structured-merge-diff.
//!
//! A [`FieldSet`] is a tree of path elements: `f:<field>` for struct fields
//! and map keys, `k:{...}` for items of map-lists (by their keys, sorted),
//! `v:<json>` for items of set-lists, `i:<n>` for positions. A node that is
//! itself a member and also has children serialises with a `"."` entry.
//!
//! [`to_field_set`] follows upstream `ToFieldSet`: scalars, atomic
//! lists/maps, map entries and list items are members; struct fields and
//! non-atomic containers are only members if they are leaves.
//! [`compare`] follows upstream `Compare`, which additionally marks a
//! container as added when it did not exist before — except structs, which
//! in Go always exist as zero values, so upstream never marks them.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::schema::{ListType, Schema};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElement {
    Field(String),
    /// Key fields of a map-list item, sorted by name.
    Key(Vec<(String, Value)>),
    /// A set-list item.
    Value(Value),
    Index(usize),
}

fn rank(pe: &PathElement) -> u8 {
    match pe {
        PathElement::Field(_) => 0,
        PathElement::Key(_) => 1,
        PathElement::Value(_) => 2,
        PathElement::Index(_) => 3,
    }
}

impl Ord for PathElement {
    /// Keys and values are ordered by their encoding. They are encoded into
    /// two reused buffers rather than fresh strings: sets of list items are
    /// as large as request bodies allow, and allocating and formatting two
    /// strings per comparison made one write of a 200,000-item set take
    /// seconds.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ if rank(self) != rank(other) => rank(self).cmp(&rank(other)),
            // Same tag, so the JSON after it decides.
            _ => {
                thread_local! {
                    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = Default::default();
                }
                BUFFERS.with_borrow_mut(|(a, b)| {
                    a.clear();
                    b.clear();
                    self.write_json(a);
                    other.write_json(b);
                    a.as_slice().cmp(b.as_slice())
                })
            }
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PathElement {
    /// The FieldsV1 key: `f:name`, `k:{"a":1}`, `v:"x"`, `i:0`.
    pub fn encode(&self) -> String {
        let tag = match self {
            PathElement::Field(_) => "f:",
            PathElement::Key(_) => "k:",
            PathElement::Value(_) => "v:",
            PathElement::Index(_) => "i:",
        };
        let mut out = tag.as_bytes().to_vec();
        self.write_json(&mut out);
        String::from_utf8(out).expect("JSON and field names are UTF-8")
    }

    /// What follows the tag in [`PathElement::encode`]: the field name, the
    /// key fields as a JSON object, the value as JSON, the index.
    fn write_json(&self, out: &mut Vec<u8>) {
        fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
            serde_json::to_writer(out, v).expect("strings and JSON values serialise");
        }
        match self {
            PathElement::Field(f) => out.extend_from_slice(f.as_bytes()),
            // Sorted distinct names (as `item_element` and `decode` make
            // them) are written as the JSON object they stand for.
            PathElement::Key(kv) if kv.windows(2).all(|w| w[0].0 < w[1].0) => {
                out.push(b'{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json(out, k);
                    out.push(b':');
                    json(out, v);
                }
                out.push(b'}');
            }
            PathElement::Key(kv) => {
                let m: Map<String, Value> = kv.iter().cloned().collect();
                json(out, &Value::Object(m));
            }
            PathElement::Value(v) => json(out, v),
            PathElement::Index(i) => out.extend_from_slice(i.to_string().as_bytes()),
        }
    }

    pub fn decode(s: &str) -> Result<Self, String> {
        let (tag, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid path element {s:?}"))?;
        match tag {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(PathElement::Key(m.into_iter().collect())),
                _ => Err(format!("invalid key path element {s:?}")),
            },
            "v" => serde_json::from_str(rest)
                .map(PathElement::Value)
                .map_err(|_| format!("invalid value path element {s:?}")),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("invalid index path element {s:?}")),
            _ => Err(format!("unknown path element type {tag:?}")),
        }
    }
}

impl std::fmt::Display for PathElement {
    /// The form used in conflict messages (`.spec.x`, `[name="a"]`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

pub type Path = Vec<PathElement>;

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// The subtree under `pe`, if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    fn prune(&mut self) {
        self.children.retain(|_, c| {
            c.prune();
            !c.is_empty()
        });
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), d);
        }
        out.prune();
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                out.children.insert(pe.clone(), c.intersection(o));
            }
        }
        out.prune();
        out
    }

    /// Every member path, depth first in element order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(c) = self.children.get(pe) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// FieldsV1 JSON.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            let mut inner = match self.children.get(pe) {
                Some(c) if !c.is_empty() => match c.to_fields_v1() {
                    Value::Object(o) => o,
                    _ => Map::new(),
                },
                _ => Map::new(),
            };
            if self.members.contains(pe) && !inner.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(pe.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut out = FieldSet::default();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::decode(k)?;
            let Value::Object(cm) = child else {
                return Err(format!("fieldsV1 entry {k:?} must be an object"));
            };
            if cm.is_empty() || cm.contains_key(".") {
                out.members.insert(pe.clone());
            }
            if cm.keys().any(|k| k != ".") {
                out.children.insert(pe, FieldSet::from_fields_v1(child)?);
            }
        }
        Ok(out)
    }
}

/// Renders a path for messages: `.metadata.labels.app`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// The path element of a list item under `list_type`.
pub fn item_element(list_type: &ListType, index: usize, item: &Value) -> PathElement {
    match list_type {
        ListType::Atomic => PathElement::Index(index),
        ListType::Set => PathElement::Value(item.clone()),
        ListType::Map(keys) => {
            let mut kv: Vec<(String, Value)> = keys
                .iter()
                .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            if kv.is_empty() {
                return PathElement::Index(index);
            }
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            PathElement::Key(kv)
        }
    }
}

/// The items of a set or map list by path element: the first item of each
/// element, in list order, found through a hash of the element's encoding.
/// Lists come from request bodies, which hold hundreds of thousands of
/// items: scanning the list for each item made a merge or comparison take
/// minutes (upstream indexes them too).
pub(crate) struct ListItems<'v> {
    items: Vec<(PathElement, &'v Value)>,
    by_element: HashMap<String, usize>,
    /// The first element that occurs more than once.
    pub(crate) first_duplicate: Option<PathElement>,
}

impl<'v> ListItems<'v> {
    pub(crate) fn new(list_type: &ListType, list: &'v [Value]) -> Self {
        let mut out = ListItems {
            items: Vec::with_capacity(list.len()),
            by_element: HashMap::with_capacity(list.len()),
            first_duplicate: None,
        };
        for (i, item) in list.iter().enumerate() {
            let pe = item_element(list_type, i, item);
            // `encode` is canonical: equal elements encode alike.
            match out.by_element.entry(pe.encode()) {
                Entry::Occupied(_) => {
                    out.first_duplicate.get_or_insert(pe);
                }
                Entry::Vacant(e) => {
                    e.insert(out.items.len());
                    out.items.push((pe, item));
                }
            }
        }
        out
    }

    /// The item at `pe`, if the list has one.
    pub(crate) fn get(&self, pe: &PathElement) -> Option<&'v Value> {
        self.by_element.get(&pe.encode()).map(|&i| self.items[i].1)
    }

    /// Every (first) item with its element, in list order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PathElement, &'v Value)> + '_ {
        self.items.iter().map(|(pe, v)| (pe, *v))
    }
}

fn field_schema(schema: &Schema, name: &str) -> (Arc<Schema>, bool) {
    match schema.properties.get(name) {
        Some(s) => (s.clone(), true),
        None => (
            schema
                .field(name)
                .unwrap_or_else(|| Arc::new(Schema::any())),
            false,
        ),
    }
}

fn is_atomic_map(schema: &Schema) -> bool {
    schema.map_atomic
}

/// Upstream `ToFieldSet`: the fields a value sets.
pub fn to_field_set(schema: &Schema, value: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    walk_to_set(schema, value, &mut Vec::new(), &mut set);
    set
}

fn walk_to_set(schema: &Schema, value: &Value, path: &mut Path, set: &mut FieldSet) {
    match value {
        Value::Object(m) => {
            if is_atomic_map(schema) {
                set.insert(path);
                return;
            }
            for (k, v) in m {
                let (child, declared) = field_schema(schema, k);
                path.push(PathElement::Field(k.clone()));
                walk_to_set(&child, v, path, set);
                if !declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let lt = schema.effective_list_type();
            if lt == ListType::Atomic {
                set.insert(path);
                return;
            }
            let item_schema = schema
                .items
                .clone()
                .unwrap_or_else(|| Arc::new(Schema::any()));
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(&lt, i, item));
                walk_to_set(&item_schema, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// What changed between two values of one type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Upstream `Compare` (see the module docs for container marking).
pub fn compare(schema: &Schema, old: &Value, new: &Value) -> Comparison {
    let mut c = Comparison::default();
    cmp_walk(schema, Some(old), Some(new), &mut Vec::new(), &mut c, true);
    c
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn leaf(path: &Path, old: Option<&Value>, new: Option<&Value>, c: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(a), Some(b)) if a != b => c.modified.insert(path),
        _ => {}
    }
}

fn cmp_walk<'a>(
    schema: &Schema,
    old: Option<&'a Value>,
    new: Option<&'a Value>,
    path: &mut Path,
    c: &mut Comparison,
    root: bool,
) {
    let sample = new.or(old);
    match sample {
        Some(Value::Object(_))
            if !matches!(old, Some(v) if !v.is_object())
                && !matches!(new, Some(v) if !v.is_object()) =>
        {
            if is_atomic_map(schema) || (is_empty_container(old) && is_empty_container(new)) {
                leaf(path, old, new, c);
                return;
            }
            let empty = Map::new();
            let om = old.and_then(Value::as_object).unwrap_or(&empty);
            let nm = new.and_then(Value::as_object).unwrap_or(&empty);
            let keys: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
            for k in keys {
                let (child, _) = field_schema(schema, k);
                path.push(PathElement::Field(k.clone()));
                cmp_walk(&child, om.get(k), nm.get(k), path, c, false);
                path.pop();
            }
            // Containers appearing or disappearing are changes of their own;
            // structs are exempt (see module docs).
            if !root && !schema.is_struct() {
                match (old, new) {
                    (None, Some(_)) => c.added.insert(path),
                    (Some(_), None) => c.removed.insert(path),
                    _ => {}
                }
            }
        }
        Some(Value::Array(_))
            if !matches!(old, Some(v) if !v.is_array())
                && !matches!(new, Some(v) if !v.is_array()) =>
        {
            let lt = schema.effective_list_type();
            if lt == ListType::Atomic || (is_empty_container(old) && is_empty_container(new)) {
                leaf(path, old, new, c);
                return;
            }
            let item_schema = schema
                .items
                .clone()
                .unwrap_or_else(|| Arc::new(Schema::any()));
            let items = |v: Option<&'a Value>| {
                let list = v.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                ListItems::new(&lt, list)
            };
            let oi = items(old);
            let ni = items(new);
            for (pe, nv) in ni.iter() {
                let ov = oi.get(pe);
                path.push(pe.clone());
                cmp_walk(&item_schema, ov, Some(nv), path, c, false);
                if ov.is_none() {
                    c.added.insert(path);
                }
                path.pop();
            }
            for (pe, ov) in oi.iter() {
                if ni.get(pe).is_some() {
                    continue;
                }
                path.push(pe.clone());
                cmp_walk(&item_schema, Some(ov), None, path, c, false);
                c.removed.insert(path);
                path.pop();
            }
            if !root {
                match (old, new) {
                    (None, Some(_)) => c.added.insert(path),
                    (Some(_), None) => c.removed.insert(path),
                    _ => {}
                }
            }
        }
        _ => leaf(path, old, new, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm_schema() -> Schema {
        let defs = BTreeMap::new();
        Schema::from_openapi(
            &json!({"type": "object", "properties": {
                "apiVersion": {"type": "string"},
                "data": {"type": "object", "additionalProperties": {"type": "string"}},
                "metadata": {"type": "object", "properties": {
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
                }},
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}, "name": {"type": "string"}}}},
                    "args": {"type": "array", "items": {"type": "string"}}
                }}
            }}),
            &defs,
        )
    }

    #[test]
    fn fields_v1_round_trip_and_dot_entries() {
        let s = cm_schema();
        let obj = json!({"data": {"a": "1"}, "metadata": {"labels": {"app": "x"}, "finalizers": ["f1"]},
                         "spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "http"}], "args": ["a"]}});
        let c = compare(&s, &json!({}), &obj);
        let v1 = c.added.to_fields_v1();
        assert_eq!(
            v1,
            json!({
                "f:data": {".": {}, "f:a": {}},
                "f:metadata": {"f:finalizers": {".": {}, "v:\"f1\"": {}}, "f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:args": {}, "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v1).unwrap(), c.added);
        // ToFieldSet (what an apply owns) has no container entries.
        let applied = to_field_set(&s, &obj).to_fields_v1();
        assert_eq!(applied["f:data"], json!({"f:a": {}}));
        assert_eq!(
            applied["f:spec"]["f:ports"],
            json!({"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}})
        );
    }

    #[test]
    fn long_lists_compare_without_quadratic_scans() {
        // Every write compares the old and new object; with a set of a
        // hundred thousand finalizers (they fit in a 3 MiB body) finding
        // each item by scanning the other list took minutes.
        let s = cm_schema();
        let n = 100_000;
        let set =
            |from: usize| -> Vec<String> { (from..from + n).map(|i| format!("f{i}")).collect() };
        let old = json!({"metadata": {"finalizers": set(0)}});
        let new = json!({"metadata": {"finalizers": set(n - 1)}});
        let start = std::time::Instant::now();
        let c = compare(&s, &old, &new);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "comparing took {:?}",
            start.elapsed()
        );
        let count = |f: &FieldSet| f.paths().len();
        assert_eq!((count(&c.added), count(&c.removed)), (n - 1, n - 1));
    }

    #[test]
    fn compare_reports_changes() {
        let s = cm_schema();
        let old = json!({"data": {"a": "1", "b": "2"}});
        let new = json!({"data": {"a": "9", "c": "3"}});
        let c = compare(&s, &old, &new);
        assert_eq!(c.modified.to_fields_v1(), json!({"f:data": {"f:a": {}}}));
        assert_eq!(c.added.to_fields_v1(), json!({"f:data": {"f:c": {}}}));
        assert_eq!(c.removed.to_fields_v1(), json!({"f:data": {"f:b": {}}}));
        let mut owned = FieldSet::default();
        owned.insert(&[
            PathElement::Field("data".into()),
            PathElement::Field("b".into()),
        ]);
        owned.insert(&[
            PathElement::Field("data".into()),
            PathElement::Field("a".into()),
        ]);
        assert_eq!(
            owned.difference(&c.removed).to_fields_v1(),
            json!({"f:data": {"f:a": {}}})
        );
        assert_eq!(path_string(&owned.paths()[0]), ".data.a");
    }
}
