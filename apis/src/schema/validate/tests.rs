//! Message-exact tests of [`Validator`]; the expected strings follow
//! upstream's `validation_test.go` cases and kube-openapi's templates.

use serde_json::{Value, json};

use super::*;

/// A CRD root schema whose `spec` has the given properties.
fn root(spec: Value) -> Value {
    json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }})
}

fn spec_props(props: Value) -> Value {
    root(json!({"type": "object", "properties": props}))
}

fn cr(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": "w", "namespace": "default", "labels": {"a": "b"}},
           "spec": spec})
}

fn errors(schema: &Value, obj: &Value) -> Vec<String> {
    Validator::new(schema)
        .expect("schema compiles")
        .validate(obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn type_mismatch() {
    let s = spec_props(
        json!({"replicas": {"type": "integer"}, "ratio": {"type": "number"},
                              "on": {"type": "boolean"}, "opt": {"type": "object"}}),
    );
    assert_eq!(
        errors(&s, &cr(json!({"replicas": "3"}))),
        [
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"replicas": 1.5, "on": 1, "opt": []}))),
        [
            r#"spec.on: Invalid value: "integer": spec.on in body must be of type boolean: "integer""#,
            r#"spec.opt: Invalid value: "array": spec.opt in body must be of type object: "array""#,
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#,
        ]
    );
    // Integral floats are integers and integers are numbers, as in Go.
    assert!(errors(&s, &cr(json!({"replicas": 2.0, "ratio": 3}))).is_empty());
}

#[test]
fn required() {
    let s = root(json!({"type": "object", "required": ["name", "size"],
                        "properties": {"name": {"type": "string"}}}));
    assert_eq!(
        errors(&s, &cr(json!({"name": null}))),
        [
            r#"spec.name: Invalid value: "null": spec.name in body must be of type string: "null""#,
            "spec.size: Required value",
        ]
    );
    let top =
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}});
    assert_eq!(
        errors(&top, &json!({"apiVersion": "a/v1", "kind": "K"})),
        ["spec: Required value"]
    );
}

#[test]
fn enums_report_type_and_value() {
    let s = spec_props(json!({
        "mode": {"type": "string", "enum": ["a", "b"]},
        "level": {"type": "integer", "enum": [1, 2]},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"mode": "c", "level": 3}))),
        [
            r#"spec.level: Unsupported value: 3: supported values: "1", "2""#,
            r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#,
        ]
    );
    // Upstream reports both the type error and the enum error.
    assert_eq!(
        errors(&s, &cr(json!({"level": "x"}))),
        [
            r#"spec.level: Invalid value: "string": spec.level in body must be of type integer: "string""#,
            r#"spec.level: Unsupported value: "x": supported values: "1", "2""#,
        ]
    );
}

#[test]
fn minimum_and_maximum() {
    let s = spec_props(json!({
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "maximum": 1.5},
        "big": {"type": "number", "maximum": 1000000},
        "step": {"type": "integer", "multipleOf": 5},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"replicas": 20}))),
        [
            "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"
        ]
    );
    assert_eq!(
        errors(
            &s,
            &cr(json!({"replicas": 0, "ratio": 2.5, "big": 2000000.5, "step": 7}))
        ),
        [
            // Go prints a float64 bound with %v, switching to exponent form at 1e6.
            "spec.big: Invalid value: 2000000.5: spec.big in body should be less than or equal to 1e+06",
            "spec.ratio: Invalid value: 2.5: spec.ratio in body should be less than or equal to 1.5",
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5",
        ]
    );
}

#[test]
fn exclusive_bounds() {
    let s = spec_props(json!({
        "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true,
              "maximum": 10, "exclusiveMaximum": true},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"n": 10}))),
        ["spec.n: Invalid value: 10: spec.n in body should be less than 10"]
    );
    assert_eq!(
        errors(&s, &cr(json!({"n": 0}))),
        ["spec.n: Invalid value: 0: spec.n in body should be greater than 0"]
    );
    assert!(errors(&s, &cr(json!({"n": 5}))).is_empty());
}

#[test]
fn pattern() {
    let s = spec_props(json!({
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "digits": {"type": "string", "pattern": r"^\d+$"},
        "flags": {"type": "string", "pattern": "(?i)^abc$"},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"name": "AB"}))),
        [r#"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"#]
    );
    // Go's \d is ASCII; Go's inline flags work.
    assert_eq!(
        errors(&s, &cr(json!({"digits": "١٢", "flags": "ABC"}))),
        [r#"spec.digits: Invalid value: "١٢": spec.digits in body should match '^\d+$'"#]
    );
    assert!(
        Validator::new(&spec_props(
            json!({"x": {"type": "string", "pattern": "+"}})
        ))
        .is_err()
    );
}

#[test]
fn go_regex_rewrites() {
    assert_eq!(go_regex(r"^\d+\w\s$"), r"^[0-9]+[0-9A-Za-z_][\t\n\x0C\r ]$");
    assert_eq!(go_regex(r"[\d.-]\D"), r"[0-9.-][^0-9]");
    assert_eq!(go_regex(r"[]a[&~]"), r"[\]a\[\&\~]");
    assert_eq!(go_regex(r"[[:alpha:]]+"), r"[[:alpha:]]+");
}

#[test]
fn string_lengths_count_runes() {
    let s = spec_props(json!({
        "name": {"type": "string", "minLength": 2, "maxLength": 3},
        "code": {"type": "string", "maxLength": 1},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"name": "abcd", "code": "xy"}))),
        [
            "spec.code: Too long: may not be more than 1 byte",
            "spec.name: Too long: may not be more than 3 bytes",
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"name": "a"}))),
        [r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#]
    );
    // Three runes, six bytes: within maxLength 3.
    assert!(errors(&s, &cr(json!({"name": "ééé"}))).is_empty());
}

#[test]
fn item_and_property_counts() {
    let s = spec_props(json!({
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "one": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
        "labels": {"type": "object", "minProperties": 1, "maxProperties": 2,
                   "additionalProperties": {"type": "string"}},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"tags": ["a", "b", "c"], "one": ["a", "b"]}))),
        [
            "spec.one: Too many: 2: must have at most 1 item",
            "spec.tags: Too many: 3: must have at most 2 items",
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"tags": [], "labels": {}}))),
        [
            "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties",
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
        ]
    );
    // A failing maxProperties stops upstream's object validator before it
    // looks at the values.
    assert_eq!(
        errors(&s, &cr(json!({"labels": {"a": "x", "b": 1, "c": "z"}}))),
        ["spec.labels: Too many: 3: must have at most 2 items"]
    );
}

#[test]
fn formats() {
    let s = spec_props(json!({
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "blob": {"type": "string", "format": "byte"},
        "id": {"type": "string", "format": "uuid"},
        "ip": {"type": "string", "format": "ipv4"},
        "small": {"type": "integer", "format": "int32"},
        "odd": {"type": "string", "format": "no-such-format"},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"when": "x"}))),
        [r#"spec.when: Invalid value: "x": spec.when in body must be of type date-time: "x""#]
    );
    assert_eq!(
        errors(
            &s,
            &cr(json!({"day": "2023-02-29", "blob": "not base64", "id": "123", "ip": "1.2.3"}))
        ),
        [
            r#"spec.blob: Invalid value: "not base64": spec.blob in body must be of type byte: "not base64""#,
            r#"spec.day: Invalid value: "2023-02-29": spec.day in body must be of type date: "2023-02-29""#,
            r#"spec.id: Invalid value: "123": spec.id in body must be of type uuid: "123""#,
            r#"spec.ip: Invalid value: "1.2.3": spec.ip in body must be of type ipv4: "1.2.3""#,
        ]
    );
    // A non-string for a formatted string is reported against the format,
    // with the Go type name of the value.
    assert_eq!(
        errors(&s, &cr(json!({"when": 5, "day": true}))),
        [
            r#"spec.day: Invalid value: "": spec.day in body must be of type date: """#,
            r#"spec.when: Invalid value: "int64": spec.when in body must be of type date-time: "int64""#,
        ]
    );
    // int32 and unknown formats are blanked upstream: no range check.
    assert!(
        errors(
            &s,
            &cr(
                json!({"when": "2024-01-02T03:04:05Z", "day": "2024-02-29", "blob": "aGk=",
                       "id": "123e4567-e89b-12d3-a456-426614174000", "ip": "10.0.0.1",
                       "small": 3_000_000_000u64, "odd": "anything"})
            )
        )
        .is_empty()
    );
}

#[test]
fn nullable() {
    let s = spec_props(json!({
        "strict": {"type": "object"},
        "loose": {"type": "object", "nullable": true},
        "untyped": {"nullable": true},
    }));
    assert_eq!(
        errors(
            &s,
            &cr(json!({"strict": null, "loose": null, "untyped": null}))
        ),
        [
            r#"spec.strict: Invalid value: "null": spec.strict in body must be of type object: "null""#
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"loose": "foo"}))),
        [
            r#"spec.loose: Invalid value: "string": spec.loose in body must be of type object: "string""#
        ]
    );
}

#[test]
fn int_or_string() {
    let s = spec_props(json!({"port": {"x-kubernetes-int-or-string": true}}));
    assert!(errors(&s, &cr(json!({"port": 80}))).is_empty());
    assert!(errors(&s, &cr(json!({"port": "http"}))).is_empty());
    assert_eq!(
        errors(&s, &cr(json!({"port": true}))),
        [
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"port": null}))),
        [
            r#"spec.port: Invalid value: "null": spec.port in body must be of type integer,string: "null""#
        ]
    );
}

#[test]
fn any_of_reports_summary_and_best_branch() {
    // Upstream's "nullable, x-kubernetes-int-or-string and user-provided
    // anyOf" case.
    let s = spec_props(json!({"field": {
        "nullable": true, "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }}));
    for ok in [json!(null), json!(42), json!("foo")] {
        assert!(errors(&s, &cr(json!({"field": ok}))).is_empty());
    }
    assert_eq!(
        sorted(errors(&s, &cr(json!({"field": true})))),
        [
            r#"Invalid value: "": "spec.field" must validate at least one schema (anyOf)"#,
            r#"spec.field: Invalid value: "boolean": spec.field in body must be of type integer,string: "boolean""#,
            r#"spec.field: Invalid value: "boolean": spec.field in body must be of type integer: "boolean""#,
        ]
    );
    let v = Validator::new(&s).unwrap();
    let e = v.validate(&cr(json!({"field": 1.5})));
    assert!(
        e.iter()
            .any(|e| e.field.is_empty() && e.kind == ErrorType::Invalid)
    );
}

#[test]
fn all_of_one_of_and_not() {
    let s = spec_props(json!({
        "n": {"type": "integer", "allOf": [{"minimum": 5}, {"multipleOf": 2}]},
        "pick": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "word": {"type": "string", "not": {"enum": ["forbidden"]}},
    }));
    assert_eq!(
        errors(&s, &cr(json!({"n": 6, "pick": {"a": 1}, "word": "ok"}))),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(&s, &cr(json!({"n": 4}))),
        [
            "spec.n: Invalid value: 4: spec.n in body should be greater than or equal to 5",
            r#"Invalid value: "": "spec.n" must validate all the schemas (allOf)"#,
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"n": 3}))),
        [
            "spec.n: Invalid value: 3: spec.n in body should be greater than or equal to 5",
            "spec.n: Invalid value: 3: spec.n in body should be a multiple of 2",
            r#"Invalid value: "": "spec.n" must validate all the schemas (allOf). None validated"#,
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"pick": {}}))),
        [
            r#"Invalid value: "": "spec.pick" must validate one and only one schema (oneOf). Found none valid"#,
            "spec.pick.a: Required value",
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"pick": {"a": 1, "b": 2}}))),
        [
            r#"Invalid value: "": "spec.pick" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    assert_eq!(
        errors(&s, &cr(json!({"word": "forbidden"}))),
        [r#"Invalid value: "": "spec.word" must not validate the schema (not)"#]
    );
}

#[test]
fn nested_paths_inside_arrays_and_maps() {
    let s = spec_props(json!({
        "items": {"type": "array", "items": {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}},
        "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    }));
    assert_eq!(
        errors(
            &s,
            &cr(json!({
                "items": [{"name": "a"}, {"size": "big"}, {"name": 5}],
                "limits": {"cpu": "x", "0": 1},
                "matrix": [["a"], ["b", 2]],
            }))
        ),
        [
            r#"spec.items[1].size: Invalid value: "string": spec.items[1].size in body must be of type integer: "string""#,
            "spec.items[1].name: Required value",
            r#"spec.items[2].name: Invalid value: "integer": spec.items[2].name in body must be of type string: "integer""#,
            r#"spec.limits.cpu: Invalid value: "string": spec.limits.cpu in body must be of type integer: "string""#,
            r#"spec.matrix[1][1]: Invalid value: "integer": spec.matrix[1][1] in body must be of type string: "integer""#,
        ]
    );
}

#[test]
fn preserve_unknown_fields() {
    let s = spec_props(json!({"config": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"level": {"type": "integer"}},
    }}));
    assert!(
        errors(
            &s,
            &cr(json!({"config": {"anything": {"goes": [1, "x"]}, "level": 3}}))
        )
        .is_empty()
    );
    assert_eq!(
        errors(&s, &cr(json!({"config": {"level": "high"}}))),
        [
            r#"spec.config.level: Invalid value: "string": spec.config.level in body must be of type integer: "string""#
        ]
    );
}

#[test]
fn root_metadata_only_name_and_generate_name() {
    let s = json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "labels": {"type": "integer"},
        }},
    }});
    assert!(
        errors(
            &s,
            &json!({"metadata": {"name": "ok", "labels": {"a": "b"}}})
        )
        .is_empty()
    );
    assert_eq!(
        errors(&s, &json!({"metadata": {"name": "Bad-Name"}})),
        [
            "metadata.name: Too long: may not be more than 5 bytes",
            r#"metadata.name: Invalid value: "Bad-Name": metadata.name in body should match '^[a-z]+$'"#,
        ]
    );
}

#[test]
fn embedded_resource() {
    let s = spec_props(json!({"template": {
        "type": "object", "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true,
    }}));
    let ok = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}}});
    assert!(errors(&s, &cr(json!({"template": ok}))).is_empty());
    assert_eq!(
        errors(&s, &cr(json!({"template": {"metadata": {}}}))),
        [
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value"
        ]
    );
    assert_eq!(
        errors(
            &s,
            &cr(
                json!({"template": {"apiVersion": "a/b/c", "kind": "Not_Kind",
                                    "metadata": {"name": "a/b", "namespace": "Bad",
                                                 "labels": {"k": "-bad-"}}}})
            )
        ),
        [
            r#"spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
            r#"spec.template.kind: Invalid value: "Not_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            r#"spec.template.metadata.name: Invalid value: "a/b": may not contain '/'"#,
            r#"spec.template.metadata.namespace: Invalid value: "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            r#"spec.template.metadata.labels: Invalid value: "-bad-": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#,
        ]
    );
    assert_eq!(
        errors(
            &s,
            &cr(json!({"template": {"apiVersion": 1, "kind": "", "metadata": "x"}}))
        ),
        [
            "spec.template.apiVersion: Invalid value: 1: must be a string",
            r#"spec.template.kind: Invalid value: "": must not be empty"#,
            r#"spec.template.metadata: Invalid value: "x": invalid metadata: expected object, got string"#,
        ]
    );
}

#[test]
fn list_type_set_duplicates() {
    let s = spec_props(json!({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "nums": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}},
        "objs": {"type": "array", "x-kubernetes-list-type": "set",
                 "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
    }));
    assert_eq!(
        errors(
            &s,
            &cr(
                json!({"tags": ["a", "b", "a", "a", "b"], "nums": [1, 1.0, 1.5, 1.5],
                               "objs": [{"a": 1}, {"a": 1}]})
            )
        ),
        [
            r#"spec.nums[3]: Duplicate value: 1.5"#,
            r#"spec.objs[1]: Duplicate value: map[string]interface {}{"a":1}"#,
            r#"spec.tags[2]: Duplicate value: "a""#,
            r#"spec.tags[4]: Duplicate value: "b""#,
        ]
    );
}

#[test]
fn list_type_map_duplicate_keys() {
    let item = json!({"type": "object", "properties": {
        "name": {"type": "string"}, "protocol": {"type": "string"}, "port": {"type": "integer"}}});
    let s = spec_props(json!({
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"], "items": item},
        "pairs": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["port", "protocol"], "items": item},
    }));
    assert_eq!(
        errors(
            &s,
            &cr(json!({
                "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"port": 3}, {"port": 4}],
                "pairs": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"},
                          {"protocol": "TCP", "port": 80}],
            }))
        ),
        [
            r#"spec.pairs[2]: Duplicate value: map[string]interface {}{"port":80, "protocol":"TCP"}"#,
            r#"spec.ports[1]: Duplicate value: map[string]interface {}{"name":"a"}"#,
            r#"spec.ports[3]: Duplicate value: map[string]interface {}{}"#,
        ]
    );
    let free = spec_props(
        json!({"ports": {"type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"], "items": {"x-kubernetes-preserve-unknown-fields": true}}}),
    );
    assert_eq!(
        errors(&free, &cr(json!({"ports": [{"name": "a"}, "b"]}))),
        [r#"spec.ports[1]: Invalid value: "b": must be an object for an array of list-type map"#]
    );
}

#[test]
fn list_checks_follow_maps_with_key_paths() {
    let s = spec_props(
        json!({"groups": {"type": "object", "additionalProperties": {
        "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}),
    );
    assert_eq!(
        errors(&s, &cr(json!({"groups": {"g1": ["x", "x"]}}))),
        [r#"spec.groups[g1][1]: Duplicate value: "x""#]
    );
}

#[test]
fn valid_realistic_object() {
    let s = root(
        json!({"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "minLength": 1},
            "replicas": {"type": "integer", "minimum": 0, "default": 1},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {
                          "name": {"type": "string"}, "port": {"type": "integer", "maximum": 65535}}}},
            "resources": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
        }}),
    );
    let obj = cr(json!({"image": "nginx", "replicas": 2,
                        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
                        "resources": {"cpu": "100m", "pods": 3}}));
    assert!(errors(&s, &obj).is_empty());
}

#[test]
fn defaults_are_checked_against_their_node() {
    let node = json!({"type": "integer", "minimum": 1});
    let errs: Vec<String> = check_default(&node, &json!("x"), "p")
        .iter()
        .map(ToString::to_string)
        .collect();
    // The value is the root of its own validation, so kube-openapi's name is
    // empty and the message starts with " in body".
    assert_eq!(
        errs,
        [r#"p.default: Invalid value: "string":  in body must be of type integer: "string""#]
    );

    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer", "maximum": 3, "default": 5},
        "opts": {"type": "object", "default": {"a": 1, "b": "x"},
                 "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
        "list": {"type": "array", "items": {"type": "string", "default": "ok"}},
    }}}});
    let errs: Vec<String> = validate_defaults(&schema, "spec.versions[0].schema.openAPIV3Schema")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            r#"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[opts].default.b: Invalid value: "string": b in body must be of type integer: "string""#,
            r#"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].default: Invalid value: 5:  in body should be less than or equal to 3"#,
        ]
    );
    let pruned: Vec<String> = check_default(
        &json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
        &json!({"a": 1, "zzz": 2}),
        "p",
    )
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        pruned,
        [r#"p.default: Invalid value: {"a":1,"zzz":2}: must not have unknown fields"#]
    );
}

#[test]
fn validator_is_shareable_across_requests() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
}
