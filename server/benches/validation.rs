//! Per-create cost of the schema work for a custom resource: what a create
//! request pays between parsing the body and writing to storage.
//!
//! The resource is realistic: a spec of about 50 fields (patterns, enums,
//! bounds, formats, a list-type map, a string map, int-or-string, nested
//! objects, defaults) and, in the second run, three CEL rules. The work is
//! measured through the real custom-resource strategy built from a CRD, so it
//! includes metadata decoding, pruning, defaulting, OpenAPI validation and
//! CEL evaluation exactly as the server runs them.
//!
//! Run: `cargo bench -p trellis-server --bench validation` (set
//! `BENCH_ITERATIONS` to change the 20 000 iterations per measurement).
//! `cargo test` (no `--bench`) or `BENCH_QUICK=1` runs 500.

// The schema literal nests deeper than `json!`'s default recursion allows.
#![recursion_limit = "512"]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use serde_json::{Value, json};
use trellis_server::custom::api::CustomApi;
use trellis_server::custom::defs;
use trellis_server::request::params::FieldValidation;

fn schema() -> Value {
    let name =
        json!({"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"});
    let port = json!({"type": "object", "required": ["name", "port"], "properties": {
        "name": name,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "targetPort": {"x-kubernetes-int-or-string": true},
        "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"], "default": "TCP"},
        "appProtocol": {"type": "string"},
    }});
    json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["image", "replicas"], "properties": {
            "image": {"type": "string", "minLength": 1, "maxLength": 512},
            "imagePullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"], "default": "IfNotPresent"},
            "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000},
            "paused": {"type": "boolean", "default": false},
            "serviceAccountName": name,
            "priorityClassName": {"type": "string"},
            "schedulerName": {"type": "string", "default": "default-scheduler"},
            "minReadySeconds": {"type": "integer", "minimum": 0},
            "revisionHistoryLimit": {"type": "integer", "default": 10},
            "progressDeadlineSeconds": {"type": "integer", "minimum": 1, "default": 600},
            "command": {"type": "array", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1024}},
            "ports": {"type": "array", "maxItems": 64, "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name"], "items": port},
            "env": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                        "value": {"type": "string"},
                    }}},
            "resources": {"type": "object", "properties": {
                "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
                "requests": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
            }},
            "strategy": {"type": "object", "default": {"type": "RollingUpdate"}, "properties": {
                "type": {"type": "string", "enum": ["RollingUpdate", "Recreate"]},
                "maxSurge": {"x-kubernetes-int-or-string": true, "default": "25%"},
                "maxUnavailable": {"x-kubernetes-int-or-string": true, "default": "25%"},
            }},
            "probe": {"type": "object", "properties": {
                "path": {"type": "string", "pattern": "^/"},
                "port": {"x-kubernetes-int-or-string": true},
                "initialDelaySeconds": {"type": "integer", "minimum": 0},
                "periodSeconds": {"type": "integer", "minimum": 1, "default": 10},
                "timeoutSeconds": {"type": "integer", "minimum": 1, "default": 1},
                "failureThreshold": {"type": "integer", "minimum": 1, "default": 3},
            }},
            "security": {"type": "object", "properties": {
                "runAsUser": {"type": "integer", "minimum": 0},
                "runAsGroup": {"type": "integer", "minimum": 0},
                "runAsNonRoot": {"type": "boolean"},
                "readOnlyRootFilesystem": {"type": "boolean", "default": true},
                "capabilities": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            }},
            "schedule": {"type": "object", "properties": {
                "start": {"type": "string", "format": "date-time"},
                "timezone": {"type": "string"},
                "window": {"type": "string", "format": "duration"},
            }},
            "owner": {"type": "object", "properties": {
                "email": {"type": "string", "format": "email"},
                "team": {"type": "string", "maxLength": 64},
                "id": {"type": "string", "format": "uuid"},
            }},
            "tolerations": {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"},
                "operator": {"type": "string", "enum": ["Exists", "Equal"]},
                "value": {"type": "string"},
                "effect": {"type": "string"},
            }}},
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }})
}

fn object() -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "widget-1", "namespace": "default",
                     "labels": {"app": "widget", "tier": "backend"},
                     "annotations": {"example.com/owner": "team-a"}},
        "spec": {
            "image": "registry.example.com/widget:1.2.3",
            "replicas": 3,
            "serviceAccountName": "widget",
            "priorityClassName": "high",
            "minReadySeconds": 5,
            "command": ["/bin/widget"],
            "args": ["--port=8080", "--verbose"],
            "nodeSelector": {"kubernetes.io/os": "linux", "zone": "a"},
            "annotations": {"a": "1", "b": "2"},
            "ports": [
                {"name": "http", "port": 8080, "targetPort": "http", "appProtocol": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
            ],
            "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "REGION", "value": "eu"}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                          "requests": {"cpu": "100m", "memory": "128Mi"}},
            "probe": {"path": "/healthz", "port": 8080, "initialDelaySeconds": 3},
            "security": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": true,
                         "capabilities": ["NET_BIND_SERVICE"]},
            "schedule": {"start": "2024-05-01T08:00:00Z", "timezone": "UTC", "window": "2h"},
            "owner": {"email": "team-a@example.com", "team": "a",
                      "id": "123e4567-e89b-12d3-a456-426614174000"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "widget", "effect": "NoSchedule"}],
            "unknownField": "pruned",
        },
    })
}

fn crd(schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": schema}}],
        },
        "status": {"acceptedNames": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}},
    })
}

fn measure(label: &str, schema: Value, iterations: u32) -> f64 {
    let has_rules = schema["properties"]["spec"]
        .get("x-kubernetes-validations")
        .is_some();
    let builtins = trellis_server::builtin::builtins();
    let api = CustomApi::from_crd(&crd(schema)).expect("served");
    let compile = Instant::now();
    let built = defs::build(&api, &builtins.definitions, &Default::default()).expect("builds");
    let compiled_us = compile.elapsed().as_secs_f64() * 1e6;
    let def = &built.defs[0];
    let obj = object();
    let create = |o: Value| {
        let decoded = def
            .strategy
            .decode(o, FieldValidation::Warn)
            .expect("decodes");
        let errs = def.strategy.validate(&decoded.object);
        assert!(errs.is_empty(), "{errs:?}");
        decoded
    };
    // The work really happens: the unknown field is pruned, defaults are
    // set, and a rule-breaking object is refused.
    let decoded = create(obj.clone());
    assert!(
        decoded
            .unknown_fields
            .iter()
            .any(|f| f.ends_with("unknownField")),
        "{:?}",
        decoded.unknown_fields
    );
    let spec = &decoded.object["spec"];
    assert!(spec.get("unknownField").is_none(), "pruned");
    assert_eq!(spec["imagePullPolicy"], "IfNotPresent", "defaulted");
    let mut bad = obj.clone();
    bad["spec"]["replicas"] = json!(2000);
    bad["spec"]["image"] = json!("elsewhere.example.com/widget:1");
    let refused = def
        .strategy
        .decode(bad, FieldValidation::Warn)
        .map(|d| def.strategy.validate(&d.object).len())
        .unwrap_or(1);
    assert!(refused > 0, "an invalid object is refused");
    if has_rules {
        // Valid for the OpenAPI schema, refused by a rule.
        let mut off = obj.clone();
        off["spec"]["image"] = json!("elsewhere.example.com/widget:1");
        let off = def
            .strategy
            .decode(off, FieldValidation::Warn)
            .expect("decodes");
        let errs = def.strategy.validate(&off.object);
        assert!(!errs.is_empty(), "the CEL rules run");
    }
    // The request body is parsed fresh for every request; cloning stands in
    // for that and is measured separately so it can be subtracted.
    for _ in 0..iterations / 10 {
        black_box(create(obj.clone()));
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(obj.clone());
    }
    let clone_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(create(black_box(obj.clone())));
    }
    let total_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations) - clone_us;
    println!(
        "{label:<40} {total_us:>7.2} µs/create   (compile once: {:.0} µs; body clone {clone_us:.2} µs excluded)",
        compiled_us
    );
    total_us
}

fn main() {
    let iterations = common::env_or("BENCH_ITERATIONS", 20_000, 500) as u32;
    measure("50-field spec, OpenAPI schema only", schema(), iterations);
    let mut with_rules = schema();
    with_rules["properties"]["spec"]["x-kubernetes-validations"] = json!([
        {"rule": "self.replicas <= 100 || self.paused", "message": "more than 100 replicas must be paused"},
        {"rule": "!has(self.ports) || self.ports.all(p, p.port != 22)", "message": "port 22 is reserved"},
        {"rule": "self.image.startsWith('registry.example.com/')", "messageExpression": "'image ' + self.image + ' is not from the registry'"},
    ]);
    measure("50-field spec + 3 CEL rules", with_rules, iterations);
}
