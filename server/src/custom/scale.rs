//! The `scale` subresource of custom resources: an `autoscaling/v1` Scale
//! view of the object, read through and written back to the paths the
//! definition names (`specReplicasPath`, `statusReplicasPath`,
//! `labelSelectorPath`).
//!
//! The paths are simple field paths (`.spec.replicas`), which validation of
//! the definition guarantees; an absent replicas value reads as 0, as
//! upstream's `scaleFromCustomResource` does.

use serde_json::{Map, Value, json};
use trellis_apis::FieldError;

use crate::registry::resource::ScaleSpec;

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect()
}

fn read<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).iter().try_fold(obj, |v, s| v.get(*s))
}

/// The Scale view of `obj` (served form).
pub fn to_scale(spec: &ScaleSpec, obj: &Value) -> Value {
    let replicas = |p: &str| read(obj, p).and_then(Value::as_i64).unwrap_or(0);
    let mut meta = Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
    let mut status = json!({"replicas": replicas(&spec.status_replicas_path)});
    if let Some(sel) = spec
        .label_selector_path
        .as_deref()
        .and_then(|p| read(obj, p))
        .and_then(Value::as_str)
    {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": replicas(&spec.spec_replicas_path)},
        "status": status,
    })
}

/// `spec.replicas` of a Scale body, validated as upstream's `ValidateScale`.
pub fn desired_replicas(scale: &Value) -> Result<i64, Vec<FieldError>> {
    let v = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    match v.as_i64() {
        Some(n) if n < 0 => Err(vec![FieldError::invalid(
            "spec.replicas",
            n,
            "must be greater than or equal to 0",
        )]),
        Some(n) if n > i64::from(i32::MAX) => Err(vec![FieldError::invalid(
            "spec.replicas",
            n,
            format!("must be less than or equal to {}", i32::MAX),
        )]),
        Some(n) => Ok(n),
        None => Err(vec![FieldError::invalid(
            "spec.replicas",
            v,
            "must be an integer",
        )]),
    }
}

/// Writes `replicas` at the spec replicas path, creating parents.
pub fn set_replicas(spec: &ScaleSpec, obj: &mut Value, replicas: i64) {
    let segs = segments(&spec.spec_replicas_path);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = obj;
    for s in parents {
        if !cur.get(*s).is_some_and(Value::is_object) {
            cur[*s] = json!({});
        }
        cur = &mut cur[*s];
    }
    cur[*last] = json!(replicas);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ScaleSpec {
        ScaleSpec {
            spec_replicas_path: ".spec.replicas".into(),
            status_replicas_path: ".status.replicas".into(),
            label_selector_path: Some(".status.selector".into()),
        }
    }

    #[test]
    fn scale_view_and_write_back() {
        let obj = json!({"metadata": {"name": "w", "namespace": "d", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}}, "spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "app=w"}});
        let s = to_scale(&spec(), &obj);
        assert_eq!(s["spec"]["replicas"], 2);
        assert_eq!(s["status"], json!({"replicas": 1, "selector": "app=w"}));
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        assert!(s["metadata"].get("labels").is_none());
        let mut empty = json!({"metadata": {"name": "w"}});
        assert_eq!(to_scale(&spec(), &empty)["spec"]["replicas"], 0);
        set_replicas(&spec(), &mut empty, 5);
        assert_eq!(empty["spec"]["replicas"], 5);
        assert_eq!(
            desired_replicas(&json!({"spec": {"replicas": -1}})).unwrap_err()[0].to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
    }
}
