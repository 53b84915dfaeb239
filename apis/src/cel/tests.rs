//! Tests of the whole pipeline: compile errors at CRD admission, and
//! validation messages, compared byte for byte with kube-apiserver's.

use super::Rules;
use crate::field_error::FieldError;
use serde_json::{Value, json};

const SP: &str = "spec.versions[0].schema.openAPIV3Schema";

fn root(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

fn rules(schema: Value) -> Rules {
    match Rules::compile(&schema, SP) {
        Ok(r) => r,
        Err(e) => panic!("compile failed: {}", strings(&e).join("\n")),
    }
}

fn strings(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn check(schema: Value, new: Value, old: Option<Value>) -> Vec<String> {
    strings(&rules(schema).validate(&new, old.as_ref()))
}

fn compile_errors(schema: Value) -> Vec<String> {
    match Rules::compile(&schema, SP) {
        Ok(_) => vec![],
        Err(e) => strings(&e),
    }
}

fn obj(props: Value, rules: Value) -> Value {
    json!({"type": "object", "properties": props, "x-kubernetes-validations": rules})
}

fn int_spec(rules: Value) -> Value {
    root(obj(
        json!({"replicas": {"type": "integer"}, "name": {"type": "string"}}),
        rules,
    ))
}

#[test]
fn simple_rule_passes_and_fails_at_spec() {
    let s = int_spec(json!([{"rule": "self.replicas >= 1"}]));
    assert!(check(s.clone(), json!({"spec": {"replicas": 2}}), None).is_empty());
    assert_eq!(
        check(s, json!({"spec": {"replicas": 0}}), None),
        ["spec: Invalid value: \"object\": failed rule: self.replicas >= 1"]
    );
}

#[test]
fn message_replaces_default_and_is_trimmed() {
    let s = int_spec(json!([{"rule": "self.replicas >= 1", "message": " must be positive "}]));
    assert_eq!(
        check(s, json!({"spec": {"replicas": 0}}), None),
        ["spec: Invalid value: \"object\": must be positive"]
    );
}

#[test]
fn message_expression_used_when_non_empty_string() {
    let s = int_spec(json!([{
        "rule": "self.replicas >= 1",
        "message": "static",
        "messageExpression": "'replicas is ' + string(self.replicas)"
    }]));
    assert_eq!(
        check(s, json!({"spec": {"replicas": 0}}), None),
        ["spec: Invalid value: \"object\": replicas is 0"]
    );
    // Empty result (or an evaluation error) falls back to message/default.
    let s = int_spec(json!([{"rule": "self.replicas >= 1", "messageExpression": "''"}]));
    assert_eq!(
        check(s.clone(), json!({"spec": {"replicas": 0}}), None),
        ["spec: Invalid value: \"object\": failed rule: self.replicas >= 1"]
    );
    let s = int_spec(
        json!([{"rule": "self.replicas >= 1", "message": "m", "messageExpression": "self.name"}]),
    );
    assert_eq!(
        check(s, json!({"spec": {"replicas": 0}}), None),
        ["spec: Invalid value: \"object\": m"]
    );
}

#[test]
fn reasons_pick_the_error_type() {
    let mk = |reason: &str| {
        int_spec(json!([{"rule": "self.replicas >= 1", "message": "bad", "reason": reason}]))
    };
    let data = json!({"spec": {"replicas": 0}});
    assert_eq!(
        check(mk("FieldValueForbidden"), data.clone(), None),
        ["spec: Forbidden: bad"]
    );
    assert_eq!(
        check(mk("FieldValueRequired"), data.clone(), None),
        ["spec: Required value: bad"]
    );
    assert_eq!(
        check(mk("FieldValueDuplicate"), data.clone(), None),
        ["spec: Duplicate value: \"object\""]
    );
    assert_eq!(
        check(mk("FieldValueInvalid"), data, None),
        ["spec: Invalid value: \"object\": bad"]
    );
}

#[test]
fn field_path_relocates_the_error() {
    let s = int_spec(
        json!([{"rule": "self.replicas >= 1", "message": "bad", "fieldPath": ".replicas"}]),
    );
    assert_eq!(
        check(s, json!({"spec": {"replicas": 0}}), None),
        ["spec.replicas: Invalid value: \"object\": bad"]
    );
    let s = root(obj(
        json!({"labels": {"type": "object", "additionalProperties": {"type": "string"}}}),
        json!([{"rule": "!('x' in self.labels)", "fieldPath": ".labels['x']"}]),
    ));
    assert_eq!(
        check(s, json!({"spec": {"labels": {"x": "1"}}}), None),
        ["spec.labels[x]: Invalid value: \"object\": failed rule: !('x' in self.labels)"]
    );
}

#[test]
fn list_item_rules_report_the_index() {
    let s = root(json!({
        "type": "array",
        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 5"}]}
    }));
    assert_eq!(
        check(
            s,
            json!({"spec": ["ok", "too long", "fine", "longer"]}),
            None
        ),
        [
            "spec[1]: Invalid value: \"string\": failed rule: self.size() < 5",
            "spec[3]: Invalid value: \"string\": failed rule: self.size() < 5"
        ]
    );
}

#[test]
fn all_macro_over_list() {
    let s = root(obj(
        json!({"items": {"type": "array", "items": {"type": "string"}}}),
        json!([{"rule": "self.items.all(i, i.size() < 5)"}]),
    ));
    assert!(check(s.clone(), json!({"spec": {"items": ["a", "bb"]}}), None).is_empty());
    assert_eq!(
        check(s, json!({"spec": {"items": ["a", "bbbbbb"]}}), None),
        ["spec: Invalid value: \"object\": failed rule: self.items.all(i, i.size() < 5)"]
    );
}

#[test]
fn transition_rule_immutability() {
    let s = root(json!({
        "type": "object",
        "properties": {"name": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "name is immutable"}]}}
    }));
    // create: no oldSelf, the rule is skipped
    assert!(check(s.clone(), json!({"spec": {"name": "a"}}), None).is_empty());
    // update unchanged passes, changed fails
    assert!(
        check(
            s.clone(),
            json!({"spec": {"name": "a"}}),
            Some(json!({"spec": {"name": "a"}}))
        )
        .is_empty()
    );
    assert_eq!(
        check(
            s.clone(),
            json!({"spec": {"name": "b"}}),
            Some(json!({"spec": {"name": "a"}}))
        ),
        ["spec.name: Invalid value: \"string\": name is immutable"]
    );
    // the field was absent before: no correlated old value, skipped
    assert!(check(s, json!({"spec": {"name": "b"}}), Some(json!({"spec": {}}))).is_empty());
}

#[test]
fn optional_old_self() {
    let s = int_spec(json!([{
        "rule": "!oldSelf.hasValue() || self.replicas >= oldSelf.value().replicas",
        "message": "may not shrink",
        "optionalOldSelf": true
    }]));
    // evaluated on create too, with oldSelf = optional.none()
    assert!(check(s.clone(), json!({"spec": {"replicas": 1}}), None).is_empty());
    assert_eq!(
        check(
            s,
            json!({"spec": {"replicas": 1}}),
            Some(json!({"spec": {"replicas": 3}}))
        ),
        ["spec: Invalid value: \"object\": may not shrink"]
    );
    let on_create = int_spec(json!([{"rule": "oldSelf.hasValue()", "optionalOldSelf": true}]));
    assert_eq!(
        check(on_create, json!({"spec": {"replicas": 1}}), None),
        ["spec: Invalid value: \"object\": failed rule: oldSelf.hasValue()"]
    );
}

#[test]
fn list_map_items_correlate_by_key() {
    let s = root(json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is immutable"}]
        }
    }));
    let old = json!({"spec": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]});
    // reordered, same ports: fine
    let new = json!({"spec": [{"name": "b", "port": 2}, {"name": "a", "port": 1}, {"name": "c", "port": 9}]});
    assert!(check(s.clone(), new, Some(old.clone())).is_empty());
    let new = json!({"spec": [{"name": "b", "port": 2}, {"name": "a", "port": 5}]});
    assert_eq!(
        check(s, new, Some(old)),
        ["spec[1]: Invalid value: \"object\": port is immutable"]
    );
}

#[test]
fn oldself_is_rejected_under_atomic_lists() {
    let s = root(json!({
        "type": "array",
        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
    }));
    assert_eq!(
        compile_errors(s),
        [format!(
            "{SP}.properties[spec].items.x-kubernetes-validations[0].rule: Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within {SP}.properties[spec]"
        )]
    );
}

#[test]
fn has_on_optional_fields() {
    let s = int_spec(json!([{"rule": "!has(self.name) || self.name.size() > 2"}]));
    assert!(check(s.clone(), json!({"spec": {}}), None).is_empty());
    assert!(check(s.clone(), json!({"spec": {"name": "abc"}}), None).is_empty());
    assert_eq!(check(s, json!({"spec": {"name": "a"}}), None).len(), 1);
}

#[test]
fn missing_field_is_a_runtime_error() {
    let s = int_spec(json!([{"rule": "self.name == 'x'"}]));
    assert_eq!(
        check(s, json!({"spec": {"replicas": 1}}), None),
        ["spec: Invalid value: \"object\": no such key: name evaluating rule: self.name == 'x'"]
    );
}

#[test]
fn string_functions() {
    let s = int_spec(json!([{"rule": "self.name.lowerAscii() == self.name"}]));
    assert!(check(s.clone(), json!({"spec": {"name": "abc"}}), None).is_empty());
    assert_eq!(check(s, json!({"spec": {"name": "aBc"}}), None).len(), 1);
    let s = root(
        json!({"type": "string", "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}]}),
    );
    assert!(check(s.clone(), json!({"spec": "abc"}), None).is_empty());
    assert_eq!(
        check(s, json!({"spec": "ab1"}), None),
        ["spec: Invalid value: \"string\": failed rule: self.matches('^[a-z]+$')"]
    );
    for rule in [
        "self.charAt(1) == 'b'",
        "self.indexOf('c') == 2",
        "self.upperAscii() == 'ABC'",
        "self.replace('b', 'x') == 'axc'",
        "self.split('b') == ['a', 'c']",
        "self.substring(1) == 'bc'",
        "' x '.trim() == 'x'",
        "['a', 'b'].join('-') == 'a-b'",
        "self.startsWith('ab') && self.endsWith('bc') && self.contains('b')",
    ] {
        let s = root(json!({"type": "string", "x-kubernetes-validations": [{"rule": rule}]}));
        assert!(check(s, json!({"spec": "abc"}), None).is_empty(), "{rule}");
    }
}

#[test]
fn timestamps_and_durations() {
    let s = root(obj(
        json!({"start": {"type": "string", "format": "date-time"},
               "end": {"type": "string", "format": "date-time"},
               "ttl": {"type": "string", "format": "duration"}}),
        json!([{"rule": "self.start < self.end"}, {"rule": "self.end - self.start <= self.ttl", "message": "too long"}]),
    ));
    assert!(check(
        s.clone(),
        json!({"spec": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z", "ttl": "2h"}}),
        None
    )
    .is_empty());
    assert_eq!(
        check(
            s,
            json!({"spec": {"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00+01:00", "ttl": "1h"}}),
            None
        ),
        ["spec: Invalid value: \"object\": failed rule: self.start < self.end"]
    );
}

#[test]
fn int_and_double_arithmetic() {
    let s = root(obj(
        json!({"i": {"type": "integer"}, "d": {"type": "number"}}),
        json!([{"rule": "self.i / 2 == 1 && self.d / 2.0 == 1.25"}]),
    ));
    assert!(check(s.clone(), json!({"spec": {"i": 3, "d": 2.5}}), None).is_empty());
    // a whole JSON number in a `number` field is still a double
    assert_eq!(check(s, json!({"spec": {"i": 2, "d": 3}}), None).len(), 1);
    // mixing int and double is a compile error
    let bad = root(obj(
        json!({"i": {"type": "integer"}}),
        json!([{"rule": "self.i + 1.5 > 2.0"}]),
    ));
    assert_eq!(
        compile_errors(bad),
        [format!(
            "{SP}.properties[spec].x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{{Rule:\"self.i + 1.5 > 2.0\", Message:\"\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: compilation failed: ERROR: <input>:1:8: found no matching overload for '_+_' applied to '(int, double)'\n | self.i + 1.5 > 2.0\n | .......^"
        )]
    );
    // but comparing them is fine (cross-type numeric comparisons)
    let ok = root(obj(
        json!({"i": {"type": "integer"}}),
        json!([{"rule": "self.i < 1.5"}]),
    ));
    assert!(check(ok, json!({"spec": {"i": 1}}), None).is_empty());
}

#[test]
fn escaped_property_names() {
    let s = root(obj(
        json!({"foo-bar": {"type": "string"}, "namespace": {"type": "string"}}),
        json!([{"rule": "self.foo__dash__bar == self.__namespace__"}]),
    ));
    assert!(
        check(
            s.clone(),
            json!({"spec": {"foo-bar": "x", "namespace": "x"}}),
            None
        )
        .is_empty()
    );
    assert_eq!(
        check(s, json!({"spec": {"foo-bar": "x", "namespace": "y"}}), None).len(),
        1
    );
}

#[test]
fn compile_errors_at_the_rule_path() {
    let s = root(json!({
        "type": "array",
        "items": {"type": "object", "properties": {"a": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self.a == 'x'"}, {"rule": "self.b == 1", "message": "m"}]}
    }));
    assert_eq!(
        compile_errors(s),
        [format!(
            "{SP}.properties[spec].items.x-kubernetes-validations[1].rule: Invalid value: apiextensions.ValidationRule{{Rule:\"self.b == 1\", Message:\"m\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: compilation failed: ERROR: <input>:1:5: undefined field 'b'\n | self.b == 1\n | ....^"
        )]
    );
    let s = int_spec(json!([{"rule": "self.replicas"}]));
    assert_eq!(
        compile_errors(s),
        [format!(
            "{SP}.properties[spec].x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{{Rule:\"self.replicas\", Message:\"\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: cel expression must evaluate to a bool"
        )]
    );
    let s = int_spec(json!([{"rule": "true", "messageExpression": "self.replicas"}]));
    assert_eq!(
        compile_errors(s),
        [format!(
            "{SP}.properties[spec].x-kubernetes-validations[0].messageExpression: Invalid value: apiextensions.ValidationRule{{Rule:\"true\", Message:\"\", MessageExpression:\"self.replicas\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: messageExpression must evaluate to a string"
        )]
    );
}

#[test]
fn rule_shape_errors() {
    let s = int_spec(json!([
        {"rule": " "},
        {"rule": "true", "reason": "Bogus"},
        {"rule": "true", "fieldPath": ".nope"},
        {"rule": "true", "optionalOldSelf": true},
        {"rule": "true", "message": "a\nb"}
    ]));
    let p = format!("{SP}.properties[spec].x-kubernetes-validations");
    assert_eq!(
        compile_errors(s),
        [
            format!("{p}[0].rule: Required value: rule is not specified"),
            format!(
                "{p}[1].reason: Unsupported value: \"Bogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
            ),
            format!("{p}[2].fieldPath: Invalid value: \".nope\": fieldPath must be a valid path"),
            format!(
                "{p}[4].message: Invalid value: \"a\\nb\": message must not contain line breaks"
            ),
        ]
    );
    // optionalOldSelf without oldSelf is only reported once shapes are fine
    let s = int_spec(json!([{"rule": "true", "optionalOldSelf": true}]));
    assert_eq!(
        compile_errors(s),
        [format!(
            "{SP}.properties[spec].x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
        )]
    );
}

#[test]
fn root_rules_see_name_but_not_labels() {
    let s = json!({
        "type": "object",
        "properties": {"spec": {"type": "object"}},
        "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('x')"}]
    });
    assert!(check(s.clone(), json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "xy", "labels": {"a": "b"}}, "spec": {}}), None).is_empty());
    assert_eq!(
        check(s, json!({"metadata": {"name": "y"}, "spec": {}}), None),
        ["<nil>: Invalid value: \"object\": failed rule: self.metadata.name.startsWith('x')"]
    );
    let bad = json!({"type": "object", "x-kubernetes-validations": [{"rule": "has(self.metadata.labels)"}]});
    assert_eq!(compile_errors(bad).len(), 1);
}

#[test]
fn ratcheting_demotes_unchanged_errors() {
    let s = int_spec(json!([{"rule": "self.replicas >= 1"}]));
    let bad = json!({"spec": {"replicas": 0}, "other": 1});
    let r = rules(s);
    let out = r.validate_with_warnings(&bad, Some(&json!({"spec": {"replicas": 0}, "other": 2})));
    assert!(out.errors.is_empty());
    assert_eq!(
        out.warnings,
        ["spec: Invalid value: \"object\": failed rule: self.replicas >= 1"]
    );
    // a changed node is not ratcheted
    let out = r.validate_with_warnings(&bad, Some(&json!({"spec": {"replicas": 3}})));
    assert_eq!(out.errors.len(), 1);
}

#[test]
fn kubernetes_library_functions() {
    let ok = [
        "[1, 2, 3].isSorted() && [1, 2].sum() == 3 && [3, 1].min() == 1 && [3, 1].max() == 3",
        "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2",
        "'abc123'.find('[0-9]+') == '123' && 'a1b22'.findAll('[0-9]+') == ['1', '22']",
        "sets.contains([1, 2, 3], [2]) && sets.equivalent([1, 2], [2, 1]) && sets.intersects([1], [1, 5])",
        "url('https://example.com:8080/a?x=1').getHost() == 'example.com:8080'",
        "url('https://example.com:8080/a').getPort() == '8080' && url('https://[::1]:80/').getHostname() == '::1'",
        "url('https://e.com/p?x=1&x=2').getQuery()['x'] == ['1', '2'] && isURL('/abs') && !isURL('rel')",
        "quantity('1Gi').isGreaterThan(quantity('1G')) && quantity('500m').asApproximateFloat() == 0.5",
        "quantity('1k').asInteger() == 1000 && quantity('1').add(2).compareTo(quantity('3')) == 0",
        "quantity('1') == quantity('1000m') && isQuantity('1.5Mi') && !isQuantity('abc')",
        "ip('10.0.0.1').family() == 4 && ip('::1').isLoopback() && isIP('1.2.3.4') && !isIP('1.2.3')",
        "cidr('10.0.0.0/8').containsIP('10.1.2.3') && cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')",
        "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.0.0.0/8').prefixLength() == 8",
        "string(ip('10.0.0.1')) == '10.0.0.1' && cidr('::1/128').ip() == ip('::1')",
        "!format.dns1123Label().validate('ok-name').hasValue()",
        "format.dns1123Label().validate('Not_OK').hasValue()",
        "format.named('dns1123Subdomain').hasValue() && !format.named('nope').hasValue()",
        "optional.of(1).orValue(2) == 1 && optional.none().orValue(2) == 2",
        "[1, 2].map(x, x * 2) == [2, 4] && [1, 2, 3].filter(x, x > 1).size() == 2 && [1].exists_one(x, x == 1)",
    ];
    for rule in ok {
        let s = root(json!({"type": "string", "x-kubernetes-validations": [{"rule": rule}]}));
        let errs = check(s, json!({"spec": "x"}), None);
        assert!(errs.is_empty(), "{rule}: {errs:?}");
    }
    let s =
        root(json!({"type": "string", "x-kubernetes-validations": [{"rule": "[].min() == 1"}]}));
    assert_eq!(
        check(s, json!({"spec": "x"}), None),
        [
            "spec: Invalid value: \"string\": min called on empty list evaluating rule: [].min() == 1"
        ]
    );
}

#[test]
fn int_or_string_is_dynamic() {
    let s = root(obj(
        json!({"port": {"x-kubernetes-int-or-string": true}}),
        json!([{"rule": "type(self.port) == int ? self.port > 0 : self.port.endsWith('%')"}]),
    ));
    assert!(check(s.clone(), json!({"spec": {"port": 3}}), None).is_empty());
    assert!(check(s.clone(), json!({"spec": {"port": "50%"}}), None).is_empty());
    assert_eq!(check(s, json!({"spec": {"port": "50"}}), None).len(), 1);
}

#[test]
fn map_values_and_keys() {
    let s = root(json!({
        "type": "object",
        "additionalProperties": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= 0"}]},
        "x-kubernetes-validations": [{"rule": "self.all(k, k.size() < 4)"}]
    }));
    assert_eq!(
        check(s, json!({"spec": {"a": 1, "long": -1}}), None),
        [
            "spec: Invalid value: \"object\": failed rule: self.all(k, k.size() < 4)",
            "spec[long]: Invalid value: \"integer\": failed rule: self >= 0"
        ]
    );
}

#[test]
fn is_empty_without_rules() {
    assert!(rules(root(json!({"type": "object"}))).is_empty());
    assert!(!rules(int_spec(json!([{"rule": "true"}]))).is_empty());
}

#[test]
fn common_rules_compile() {
    let s = |rule: &str| {
        root(obj(
            json!({
                "s": {"type": "string"},
                "i": {"type": "integer"},
                "d": {"type": "number"},
                "b": {"type": "boolean"},
                "ts": {"type": "string", "format": "date-time"},
                "dur": {"type": "string", "format": "duration"},
                "raw": {"type": "string", "format": "byte"},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "nested": {"type": "object", "nullable": true, "properties": {"x": {"type": "integer"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "ios": {"x-kubernetes-int-or-string": true}
            }),
            json!([{"rule": rule}]),
        ))
    };
    for rule in [
        "self.s in ['a', 'b']",
        "size(self.tags) <= 3 && self.tags.all(t, t != '')",
        "self.ports.exists(p, p.name == 'http' && p.port == 80)",
        "self.ports.map(p, p.port).sum() > 0",
        "self.labels.exists(k, k.startsWith('x')) || 'a' in self.labels",
        "has(self.labels.foo) ? self.labels.foo == 'x' : true",
        "self.ts > timestamp('2020-01-01T00:00:00Z') && self.dur < duration('1h')",
        "self.ts.getFullYear() > 2000 && self.dur.getSeconds() > 0",
        "size(self.raw) > 0",
        "int(self.s) > 0 || double(self.i) > 1.0 || string(self.b) == 'true'",
        "self.i > 1.5 && self.d >= 1",
        "self.nested == null || self.nested.x > 0",
        "!has(self.nested) || has(self.nested.x)",
        "self.?nested.x.orValue(0) >= 0",
        "self.ios == 1 || self.ios == 'x'",
        "dyn(self.i) == 1",
        "self.s.matches('^a') && self.s.size() < 10 && size(self.s) < 10",
        "self.ports.all(p, self.ports.exists_one(q, q.name == p.name))",
        "self.tags.filter(t, t.startsWith('a')).size() == 0",
        "self == self",
        "self.i % 2 == 0 && -self.i < 0 && self.d * 2.0 / 1.0 > 0.0",
        "self.s + 'x' != '' && [1, 2] + [3] == [1, 2, 3]",
        "'%s-%d'.format(['a', 1]) == 'a-1'",
        "type(self) == map || true",
        "self.free == self.free",
    ] {
        let errs = compile_errors(s(rule));
        assert!(errs.is_empty(), "{rule}: {errs:?}");
    }
    for (rule, msg) in [
        (
            "self.ports.exists(p, p.nam == 'x')",
            "undefined field 'nam'",
        ),
        (
            "self.s.size() == 'a'",
            "found no matching overload for '_==_' applied to '(int, string)'",
        ),
        (
            "self.i.size() > 0",
            "found no matching overload for 'size' applied to 'int.()'",
        ),
        ("self.free.anything == 1", "undefined field 'anything'"),
        (
            "self.s.reverse() == 'x'",
            "undeclared reference to 'reverse' (in container '')",
        ),
    ] {
        let errs = compile_errors(s(rule));
        assert!(errs.len() == 1 && errs[0].contains(msg), "{rule}: {errs:?}");
    }
}

#[test]
fn optional_chaining_and_nulls_at_runtime() {
    let s = root(obj(
        json!({"nested": {"type": "object", "nullable": true, "properties": {"x": {"type": "integer"}}}}),
        json!([{"rule": "self.?nested.x.orValue(0) >= 0"}, {"rule": "!has(self.nested) || self.nested.x > 1"}]),
    ));
    assert!(check(s.clone(), json!({"spec": {}}), None).is_empty());
    // a null property is absent
    assert!(check(s.clone(), json!({"spec": {"nested": null}}), None).is_empty());
    assert_eq!(
        check(s, json!({"spec": {"nested": {"x": -1}}}), None),
        [
            "spec: Invalid value: \"object\": failed rule: self.?nested.x.orValue(0) >= 0",
            "spec: Invalid value: \"object\": failed rule: !has(self.nested) || self.nested.x > 1"
        ]
    );
}

#[test]
fn rules_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Rules>();
}
