//! The bounds and cost limits through the whole pipeline: admission,
//! compiling, and evaluation on the 2 MiB stack of a tokio worker.

use super::bounds::{self, MAX_RULE_DEPTH};
use super::compile::{Costs, Rules};
use crate::crd::RulesSite;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const SP: &str = "spec.versions[0].schema.openAPIV3Schema";

/// Runs `f` on a thread with a tokio worker's stack.
fn on_worker_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("no panic")
    })
}

/// A root with an integer `n`, a string `s` and a map of strings `m`.
fn root_schema(rule: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "s": {"type": "string"},
            "m": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "x-kubernetes-validations": [{"rule": rule}]
    })
}

/// Compiles `rule` and evaluates it on `{n: 300, s: "x", m: {}}`, on a
/// 2 MiB stack and without the stack growth the public entry points add.
fn compile_and_evaluate(rule: &str) -> Vec<String> {
    let schema = root_schema(rule);
    on_worker_stack(move || {
        let rules = Rules::compile_on_stack(&schema, SP, Costs::Ignored, &BTreeSet::new())
            .unwrap_or_else(|e| panic!("{}", e[0]));
        let object = json!({"n": 300, "s": "x", "m": {}});
        rules
            .validate_on_stack(&object, None)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    })
}

fn compile_errors(schema: &Value) -> Vec<String> {
    match Rules::compile(schema, SP) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

type Shape = (&'static str, Box<dyn Fn(usize) -> String>, usize, Limit);

/// Which limit the next level of a shape passes.
#[derive(Clone, Copy, PartialEq)]
enum Limit {
    Rule,
    Visitor,
}

/// The shapes of deep expressions: (name, the shape at depth `n`, the
/// deepest `n` accepted, the limit one level deeper passes).
fn shapes() -> Vec<Shape> {
    let r = MAX_RULE_DEPTH as usize;
    let rule = |(name, f, n): (&'static str, Box<dyn Fn(usize) -> String>, usize)| -> Shape {
        (name, f, n, Limit::Rule)
    };
    let visitor = |(name, f, n): (&'static str, Box<dyn Fn(usize) -> String>, usize)| -> Shape {
        (name, f, n, Limit::Visitor)
    };
    vec![
        rule((
            "parentheses",
            Box::new(|n| nested("(", "true", ")", n)),
            r - 1,
        )),
        rule((
            "lists",
            Box::new(|n| nested("[", "true", "]", n) + " != []"),
            r - 1,
        )),
        rule((
            "maps",
            Box::new(|n| nested("{1: ", "true", "}", n) + " != {}"),
            r - 1,
        )),
        rule((
            "calls",
            Box::new(|n| nested("dyn(", "true", ")", n) + " == true"),
            r - 1,
        )),
        rule((
            "comprehensions",
            Box::new(|n| nested("[1].all(x, ", "true", ")", n)),
            r - 1,
        )),
        rule((
            "ternaries",
            Box::new(|n| {
                let branches: String = (0..n)
                    .map(|i| format!("self.n == {i} ? false : "))
                    .collect();
                branches + "true"
            }),
            r - 1,
        )),
        visitor((
            "arithmetic",
            Box::new(|n| format!("self.n{} > 0", " + 1".repeat(n))),
            248,
        )),
        visitor((
            "relations",
            Box::new(|n| format!("1 < 2{}", " == true".repeat(n))),
            249,
        )),
        visitor((
            "selects",
            Box::new(|n| format!("dyn(self.m){} == 'x'", ".a".repeat(n))),
            248,
        )),
        visitor((
            "indexes",
            Box::new(|n| format!("dyn(self.m){} == 'x'", "['a']".repeat(n))),
            248,
        )),
        visitor((
            "member calls",
            Box::new(|n| format!("self.s{} == 'x'", ".lowerAscii()".repeat(n))),
            248,
        )),
        visitor((
            "lists around arithmetic",
            Box::new(move |n| {
                nested("[", &format!("self.n{} > 0", " + 1".repeat(n)), "]", r - 2) + " != []"
            }),
            247,
        )),
    ]
}

#[test]
fn deepest_expressions_compile_and_evaluate_on_a_worker_stack() {
    for (name, shape, deepest, _) in shapes() {
        let rule = shape(deepest);
        assert_eq!(bounds::check(&rule), Ok(()), "{name}");
        assert!(bounds::check(&shape(deepest + 1)).is_err(), "{name}");
        let errors = compile_and_evaluate(&rule);
        let expected: &[&str] = match name {
            "selects" | "indexes" => {
                &["<nil>: Invalid value: \"object\": no such key: a evaluating rule: "]
            }
            _ => &[],
        };
        assert_eq!(errors.len(), expected.len(), "{name}: {errors:?}");
        for (e, want) in errors.iter().zip(expected) {
            assert!(e.starts_with(want), "{name}: {e}");
        }
    }
}

#[test]
fn long_expressions_compile_and_evaluate_on_a_worker_stack() {
    let and = format!("true{}", " && true".repeat(12_000));
    let not = format!("{}true", "!".repeat(99_990));
    let list = format!("[{}].size() > 0", vec!["self.n"; 10_000].join(", "));
    for rule in [and, not, list] {
        assert!(compile_and_evaluate(&rule).is_empty());
    }
}

#[test]
fn just_over_the_limits_is_refused_with_cel_go_messages() {
    let suffix = |msg: &str| format!("compilation failed: ERROR: <input>:-1:0: {msg}");
    for (name, shape, deepest, limit) in shapes() {
        let errs = compile_errors(&root_schema(&shape(deepest + 1)));
        assert_eq!(errs.len(), 1, "{name}");
        let msg = match limit {
            Limit::Rule => format!("expression recursion limit exceeded: {MAX_RULE_DEPTH}"),
            Limit::Visitor => "max recursion depth exceeded".to_string(),
        };
        assert!(
            errs[0].starts_with(&format!(
                "{SP}.x-kubernetes-validations[0].rule: Invalid value: "
            )),
            "{name}"
        );
        assert!(errs[0].ends_with(&suffix(&msg)), "{name}: {}", errs[0]);
    }
    let huge = format!("'{}' == ''", "x".repeat(1 << 20));
    let started = std::time::Instant::now();
    let errs = compile_errors(&root_schema(&huge));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(errs[0].ends_with(&suffix(&format!(
        "expression code point size exceeds limit: size: {}, limit 100000",
        huge.chars().count()
    ))));
}

#[test]
fn message_expressions_are_bounded_too() {
    let schema = json!({
        "type": "object",
        "x-kubernetes-validations": [{
            "rule": "true",
            "messageExpression": nested("(", "'m'", ")", MAX_RULE_DEPTH as usize),
        }]
    });
    let errs = compile_errors(&schema);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with(&format!(
        "{SP}.x-kubernetes-validations[0].messageExpression: "
    )));
    assert!(errs[0].ends_with(
        "messageExpression compilation failed: ERROR: <input>:-1:0: expression recursion limit exceeded: 100"
    ));
}

fn admit(schema: &Value, unchanged: bool) -> Vec<String> {
    let none = BTreeSet::new();
    let site = RulesSite {
        schema,
        path: SP,
        skip: &none,
        unchanged,
        preexisting_rules: &none,
        preexisting_message_expressions: &none,
    };
    Rules::admit(&site)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn spec_schema(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

const ADVICE: &str = "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";

#[test]
fn typical_rules_are_admitted() {
    let item =
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
    let cases = [
        spec_schema(json!({
            "type": "object",
            "properties": {"x": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self.x == oldSelf.x", "message": "immutable"}]
        })),
        spec_schema(json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": item}},
            "x-kubernetes-validations": [{"rule": "self.items.all(i, i.name.size() < 64)"}]
        })),
        spec_schema(json!({
            "type": "object",
            "properties": {"items": {"type": "array", "maxItems": 100, "items": item}},
            "x-kubernetes-validations": [{"rule": "self.items.all(i, i.name.size() < 64)"}]
        })),
        spec_schema(json!({
            "type": "string",
            "maxLength": 63,
            "x-kubernetes-validations": [{
                "rule": "self.matches('^[a-z]+$')",
                "messageExpression": "'bad name: ' + self"
            }]
        })),
        // A rule on each item of an unbounded list.
        spec_schema(json!({
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "maxLength": 63}, "v": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.v == oldSelf.v"}, {"rule": "has(self.v)"}]
            }
        })),
        spec_schema(json!({
            "type": "object",
            "properties": {"names": {"type": "array", "maxItems": 1000, "items": {"type": "string"}}},
            "x-kubernetes-validations": [{"rule": "['a', 'b'].exists(p, self.names.all(n, n.startsWith(p)))"}]
        })),
    ];
    for schema in cases {
        assert_eq!(admit(&schema, false), Vec::<String>::new(), "{schema}");
    }
}

#[test]
fn quadratic_rules_over_unbounded_lists_are_refused() {
    let schema = spec_schema(json!({
        "type": "object",
        "properties": {"l": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [{"rule": "self.l.all(x, self.l.all(y, x == y))"}]
    }));
    let rule_path = format!("{SP}.properties[spec].x-kubernetes-validations[0].rule");
    assert_eq!(
        admit(&schema, false),
        [
            format!(
                "{rule_path}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x {ADVICE}"
            ),
            format!(
                "{rule_path}: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"
            ),
            format!(
                "{SP}: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x {ADVICE}"
            ),
        ]
    );
    // Serving a stored definition applies no static limit.
    assert!(Rules::compile(&schema, SP).is_ok());
}

/// A rule's cost is multiplied by how many times its node can occur: here
/// `contains` costs (4000 × 0.1)² = 160000, plus 2 for `self` twice, on
/// each of at most 1000 items.
#[test]
fn rule_cost_is_multiplied_by_cardinality() {
    let schema = |unchanged_message: &str| {
        spec_schema(json!({
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "string",
                "maxLength": 1000,
                "x-kubernetes-validations": [{
                    "rule": "self.contains(self)",
                    "messageExpression": unchanged_message
                }]
            }
        }))
    };
    let at = format!("{SP}.properties[spec].items.x-kubernetes-validations[0]");
    let total = |factor: &str| {
        format!(
            "{SP}: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of {factor} {ADVICE}"
        )
    };
    let contributed = "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema";
    assert_eq!(
        admit(&schema("'x'"), false),
        [
            format!(
                "{at}.rule: Forbidden: estimated rule cost exceeds budget by factor of 16.0x {ADVICE}"
            ),
            format!("{at}.rule: {contributed}"),
            total("1.6x"),
        ]
    );
    // An update leaving the schema unchanged only checks the total.
    assert_eq!(
        admit(&schema("'x'"), true),
        [format!("{at}.rule: {contributed}"), total("1.6x")]
    );
    // A messageExpression's cost is its own: not multiplied.
    let message = "self.contains(self) ? 'a' : 'b'";
    let errs = admit(&schema(message), false);
    assert!(
        !errs
            .iter()
            .any(|e| e.starts_with(&format!("{at}.messageExpression"))),
        "{errs:?}"
    );
}

#[test]
fn message_expression_cost_is_limited() {
    let schema = spec_schema(json!({
        "type": "string",
        "maxLength": 10000,
        "x-kubernetes-validations": [{
            "rule": "true",
            "messageExpression": "self.contains(self) ? 'a' : 'b'"
        }]
    }));
    let at = format!("{SP}.properties[spec].x-kubernetes-validations[0].messageExpression");
    assert_eq!(
        admit(&schema, false),
        [format!(
            "{at}: Forbidden: estimated messageExpression cost exceeds budget by factor of 1.6x {ADVICE}"
        )]
    );
}

#[test]
fn schema_total_names_its_four_dearest_rules() {
    // Each rule: (400 × 0.1) × (400 × 0.1)... on 1000 items of 1000 bytes
    // max: 160002 × 1000 / 10M = 16x each, five of them.
    let rules: Vec<Value> = (0..5)
        .map(|_| json!({"rule": "self.contains(self)"}))
        .collect();
    let schema = spec_schema(json!({
        "type": "array",
        "maxItems": 1000,
        "items": {"type": "string", "maxLength": 1000, "x-kubernetes-validations": rules}
    }));
    let errs = admit(&schema, true);
    let contributed: Vec<&String> = errs
        .iter()
        .filter(|e| e.contains("contributed to"))
        .collect();
    assert_eq!(contributed.len(), 4);
    assert!(
        errs.last().is_some_and(|e| e.contains("factor of 8.0x")),
        "{errs:?}"
    );
}

fn validate(schema: &Value, object: Value) -> Vec<String> {
    let rules = Rules::compile(schema, SP).expect("compiles");
    rules
        .validate(&object, None)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn per_call_limit_stops_validation() {
    let rule = "self.l.all(x, self.l.all(y, x <= y || x > y))";
    let schema = spec_schema(json!({
        "type": "object",
        "properties": {"l": {"type": "array", "items": {"type": "integer"}}},
        "x-kubernetes-validations": [{"rule": rule}, {"rule": "false", "message": "second"}]
    }));
    let small: Vec<i64> = (0..50).collect();
    assert_eq!(
        validate(&schema, json!({"spec": {"l": small}})),
        ["spec: Invalid value: \"object\": second"]
    );
    let large: Vec<i64> = (0..500).collect();
    assert_eq!(
        validate(&schema, json!({"spec": {"l": large}})),
        [format!(
            "spec: Invalid value: \"object\": 'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: {rule}"
        )]
    );
}

/// Each item's rule is estimated at 10002 with its actual size (1000
/// bytes): the 1000th item does not fit in what is left of the budget.
#[test]
fn object_budget_stops_validation() {
    let schema = spec_schema(json!({
        "type": "object",
        "properties": {
            "l": {
                "type": "array",
                "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self.contains(self)"}]}
            },
            "z": {"type": "string", "x-kubernetes-validations": [{"rule": "false"}]}
        }
    }));
    let item = "a".repeat(1000);
    let few = vec![item.clone(); 10];
    assert_eq!(
        validate(&schema, json!({"spec": {"l": few, "z": ""}})),
        ["spec.z: Invalid value: \"string\": failed rule: false"]
    );
    let many = vec![item; 1200];
    assert_eq!(
        validate(&schema, json!({"spec": {"l": many, "z": ""}})),
        [
            "spec.l[999]: Invalid value: \"string\": validation failed due to running out of cost budget, no further validation rules will be run"
        ]
    );
}

#[test]
fn message_expression_cost_is_limited_at_evaluation() {
    let message = "self.l.all(x, self.l.all(y, x == y)) ? 'a' : 'b'";
    let schema = spec_schema(json!({
        "type": "object",
        "properties": {"l": {"type": "array", "items": {"type": "integer"}}},
        "x-kubernetes-validations": [{"rule": "false", "messageExpression": message}]
    }));
    let large: Vec<i64> = (0..500).collect();
    assert_eq!(
        validate(&schema, json!({"spec": {"l": large}})),
        [format!(
            "spec: Invalid value: \"object\": no further validation rules will be run due to call cost exceeds limit for messageExpression: \"{message}\""
        )]
    );
    assert_eq!(
        validate(&schema, json!({"spec": {"l": [1, 2]}})),
        ["spec: Invalid value: \"object\": b"]
    );
}

#[test]
fn typical_objects_fit_the_budget() {
    let schema = spec_schema(json!({
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}}
            }
        },
        "x-kubernetes-validations": [
            {"rule": "self.items.all(i, i.name.size() < 64)"},
            {"rule": "self.items.all(i, i.name.matches('^[a-z0-9-]+$'))"},
            {"rule": "self == oldSelf || true"}
        ]
    }));
    let items: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("item-{i}")}))
        .collect();
    assert!(validate(&schema, json!({"spec": {"items": items}})).is_empty());
}
