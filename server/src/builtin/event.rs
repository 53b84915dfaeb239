//! Events, served as `v1` and as `events.k8s.io/v1` from one keyspace.
//!
//! Like Kubernetes, events are stored in the core/v1 shape; the
//! events.k8s.io/v1 representation renames a few fields (`regarding`,
//! `note`, `reportingController`, the `deprecated*` legacy fields), and the
//! converter maps between the two on every read and write of that version.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as EventsV1;
use serde_json::{Map, Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::registry::{Converter, Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, Column};

/// (core/v1 name, events.k8s.io/v1 name) of renamed fields.
const RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(obj: Value, api_version: &str, from_core: bool) -> Value {
    let Value::Object(m) = obj else { return obj };
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let renamed = RENAMES
            .iter()
            .find(|(core, v1)| if from_core { core == &k } else { v1 == &k })
            .map(|(core, v1)| if from_core { *v1 } else { *core })
            .unwrap_or(&k)
            .to_string();
        out.insert(renamed, v);
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    Value::Object(out)
}

pub struct EventsV1Converter;

impl Converter for EventsV1Converter {
    fn to_served(&self, obj: Value) -> Value {
        rename(obj, "events.k8s.io/v1", true)
    }
    fn to_stored(&self, obj: Value) -> Value {
        rename(obj, "v1", false)
    }
}

pub struct EventStrategy;

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

impl Strategy for EventStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<CoreEvent>(body, "Event", "v1")
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let ns = s(obj, "/metadata/namespace");
        let involved_ns = s(obj, "/involvedObject/namespace");
        if !involved_ns.is_empty() && involved_ns != ns {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            ));
        }
        // Events written through events.k8s.io carry eventTime and must say
        // who reported them.
        if obj.get("eventTime").is_some_and(|t| !t.is_null()) {
            for (ptr, field) in [
                ("/reportingComponent", "reportingController"),
                ("/reportingInstance", "reportingInstance"),
                ("/action", "action"),
                ("/reason", "reason"),
            ] {
                if s(obj, ptr).is_empty() {
                    errs.push(FieldError::required(field, ""));
                }
            }
        }
        errs
    }

    fn selectable_fields(&self) -> &[&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        if field == "source" {
            return Some(s(obj, "/source/component").to_string());
        }
        table::json_path_str(obj, field)
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Last Seen",
                "string",
                "Time when last occurrence of this event was recorded.",
            ),
            Column::new(
                "Type",
                "string",
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            Column::new(
                "Reason",
                "string",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            Column::new("Object", "string", "The object this Event is about."),
            Column::new("Subobject", "string", "The subobject this Event is about.").wide(),
            Column::new("Source", "string", "The component reporting this event.").wide(),
            Column::new(
                "Message",
                "string",
                "A human-readable description of the status of this operation.",
            ),
            Column::new(
                "First Seen",
                "string",
                "The time at which the event was first recorded.",
            )
            .wide(),
            Column::new(
                "Count",
                "integer",
                "The number of times this event has occurred.",
            )
            .wide(),
            Column::formatted("Name", "string", "name", "Name of the event.").wide(),
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let ts = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        };
        let first = match ts("/firstTimestamp") {
            Some(t) => table::age(Some(t), now),
            None => table::age(ts("/eventTime"), now),
        };
        let mut last = match ts("/lastTimestamp") {
            Some(t) => table::age(Some(t), now),
            None => first.clone(),
        };
        let mut count = obj.get("count").and_then(Value::as_i64).unwrap_or(0);
        if obj.get("series").is_some_and(Value::is_object) {
            last = table::age(ts("/series/lastObservedTime"), now);
            count = obj
                .pointer("/series/count")
                .and_then(Value::as_i64)
                .unwrap_or(0);
        } else if count == 0 {
            count = 1;
        }
        let kind = s(obj, "/involvedObject/kind").to_lowercase();
        let name = s(obj, "/involvedObject/name");
        let target = if name.is_empty() {
            kind
        } else {
            format!("{kind}/{name}")
        };
        let component = [s(obj, "/source/component"), s(obj, "/reportingComponent")]
            .into_iter()
            .find(|v| !v.is_empty())
            .unwrap_or("");
        let host = [s(obj, "/source/host"), s(obj, "/reportingInstance")]
            .into_iter()
            .find(|v| !v.is_empty())
            .unwrap_or("");
        let source = if host.is_empty() {
            component.to_string()
        } else {
            format!("{component}, {host}")
        };
        vec![
            json!(last),
            json!(s(obj, "/type")),
            json!(s(obj, "/reason")),
            json!(target),
            json!(s(obj, "/involvedObject/fieldPath")),
            json!(source),
            json!(s(obj, "/message").trim()),
            json!(first),
            json!(count),
            table::name_cell(obj),
        ]
    }
}

/// events.k8s.io/v1: decodes its own shape, then behaves as the core
/// strategy on the stored (core) shape.
pub struct EventsV1Strategy;

impl Strategy for EventsV1Strategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<EventsV1>(body, "Event", "events.k8s.io/v1")
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        EventStrategy.validate(obj)
    }
    /// Upstream's field labels for events.k8s.io/v1 (its field label
    /// conversion): the v1 names, matched against the stored core shape.
    /// The core spellings (`involvedObject.*`) are not accepted here.
    fn selectable_fields(&self) -> &[&'static str] {
        &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "source",
            "type",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let core = match field {
            "reportingController" => "reportingComponent".to_string(),
            f => match f.strip_prefix("regarding.") {
                Some(rest) => format!("involvedObject.{rest}"),
                None => f.to_string(),
            },
        };
        EventStrategy.field_value(obj, &core)
    }
    fn table_columns(&self) -> Vec<Column> {
        EventStrategy.table_columns()
    }
    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        EventStrategy.table_cells(obj, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                          "message": "hi", "reportingComponent": "ctl", "count": 2});
        let v1 = EventsV1Converter.to_served(core.clone());
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "hi");
        assert_eq!(v1["reportingController"], "ctl");
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(EventsV1Converter.to_stored(v1), core);
    }

    #[test]
    fn table_row_like_kubectl() {
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let e = json!({"metadata": {"name": "e1"}, "type": "Normal", "reason": "Started", "message": " ok ",
                       "involvedObject": {"kind": "Pod", "name": "p"}, "firstTimestamp": "2026-01-01T00:00:00Z",
                       "lastTimestamp": "2026-01-01T00:05:00Z", "source": {"component": "kubelet", "host": "n1"}});
        let cells = EventStrategy.table_cells(&e, now);
        assert_eq!(
            cells,
            vec![
                json!("5m"),
                json!("Normal"),
                json!("Started"),
                json!("pod/p"),
                json!(""),
                json!("kubelet, n1"),
                json!("ok"),
                json!("10m"),
                json!(1),
                json!("e1")
            ]
        );
    }
}
