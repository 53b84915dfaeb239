//! Compiling a CRD version's `x-kubernetes-validations` into [`Rules`].
//!
//! Mirrors what kube-apiserver does when a CRD is created or updated
//! (`apiextensions/validation.go` + `schema/cel/compilation.go`): per node,
//! the rule-shape checks (`rule is not specified`, message/messageExpression/
//! reason/fieldPath checks) are "schema errors"; compiling is only attempted
//! when there are none at that node or below, and its errors ("CEL errors")
//! are listed after all schema errors. Paths are
//! `<schema_path>.properties[spec].x-kubernetes-validations[0].rule`.
//!
//! A compile error is shown, as upstream does, with the Go `%#v` rendering of
//! the rule as its value. `FieldError` quotes string values, so that text
//! travels in the error's detail with no value: the rendered message is
//! byte-identical.
//!
//! Before cel-rust parses an expression, [`super::bounds`] checks its size
//! and nesting; an expression over them is refused as cel-go refuses it,
//! `compilation failed: ERROR: <input>:-1:0: <limit message>`.
//!
//! [`Rules::admit`] is the admission check: it also estimates each rule's
//! and messageExpression's cost with the sizes the schema declares
//! ([`super::cost`]) and applies kube's static limits ([`super::limits`]):
//! per expression (the rule's cost multiplied by how often its node can
//! repeat, up to 3 MiB worth of it where a list or map above it is
//! unbounded), unless the version's schema is unchanged by an update
//! (`suppressPerExpressionCost`), and for the schema's total. Building
//! rules to serve a stored definition ([`Rules::compile`]) applies no cost
//! limit, as upstream: a definition accepted once keeps being served, and
//! the evaluation limits still hold.
//!
//! Invariant: a successfully compiled [`Rules`] only holds rules whose
//! programs passed the bounds, parsed and type-checked; validation never
//! recompiles.

use super::bounds;
use super::check::{self, Checker, Ty};
use super::cost::{self, Mode, Vars};
use super::eval::{EVAL_STACK, GROWN_STACK};
use super::library;
use super::limits::{self, STATIC_EXPRESSION_LIMIT, TotalCost};
use super::schema::{Node, RuleSpec};
use super::sizes;
use crate::crd::RulesSite;
use crate::field_error::FieldError;
use cel::Env;
use cel::common::ast::IdedExpr;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

/// The CEL environment, built once per process: it is immutable.
pub(crate) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(library::environment()));

const SUPPORTED_REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// A parsed and type-checked expression.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub expr: IdedExpr,
    /// Every node's type, for estimating its cost on actual data.
    pub types: HashMap<u64, Ty>,
    /// The cost estimated with the declared sizes (maximum).
    pub static_cost: u64,
}

/// One compiled `x-kubernetes-validations` entry.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub spec: RuleSpec,
    pub program: Compiled,
    pub message_program: Option<Compiled>,
    pub uses_old_self: bool,
    /// The normalized relative `fieldPath`, if one was given.
    pub field_path: Option<String>,
}

/// The validator tree: one node per schema node that has rules at or below
/// it, parallel to the schema.
#[derive(Debug)]
pub(crate) struct Validator {
    pub node: Arc<Node>,
    pub resource_root: bool,
    pub rules: Vec<CompiledRule>,
    pub properties: BTreeMap<String, Validator>,
    pub additional: Option<Box<Validator>>,
    pub items: Option<Box<Validator>>,
    pub all_of: Vec<Validator>,
}

/// Compiled validation rules of one CRD version.
#[derive(Debug)]
pub struct Rules {
    pub(crate) root: Option<Validator>,
}

/// Whether and how cost limits apply while checking rules.
#[derive(Clone, Copy)]
pub(crate) enum Costs {
    /// Building a served definition: none.
    Ignored,
    /// Admission: the schema total, and each expression's unless the
    /// schema is unchanged.
    Limited { per_expression: bool },
}

impl Rules {
    /// Compiles every rule of `schema` (an `openAPIV3Schema`) to serve it,
    /// reporting problems under `schema_path` (e.g.
    /// `spec.versions[0].schema.openAPIV3Schema`). No cost limit applies.
    pub fn compile(
        schema: &serde_json::Value,
        schema_path: &str,
    ) -> Result<Rules, Vec<FieldError>> {
        Self::compile_with(schema, schema_path, Costs::Ignored, &BTreeSet::new())
    }

    /// Admission of the rules of one schema of a CRD (or APIResourceSchema)
    /// being created or updated: [`Rules::compile`]'s checks plus kube's
    /// static cost limits, per expression (unless `site.unchanged`) and for
    /// the whole schema. Rules of the nodes in `site.skip` are not compiled.
    /// Returns the field errors, in upstream's order.
    pub fn admit(site: &RulesSite<'_>) -> Vec<FieldError> {
        let costs = Costs::Limited {
            per_expression: !site.unchanged,
        };
        match Self::compile_with(site.schema, site.path, costs, site.skip) {
            Ok(_) => Vec::new(),
            Err(errs) => errs,
        }
    }

    fn compile_with(
        schema: &serde_json::Value,
        schema_path: &str,
        costs: Costs,
        skip: &BTreeSet<String>,
    ) -> Result<Rules, Vec<FieldError>> {
        stacker::maybe_grow(EVAL_STACK, GROWN_STACK, || {
            Self::compile_on_stack(schema, schema_path, costs, skip)
        })
    }

    /// [`Rules::compile_with`] on the current stack, however little is
    /// left.
    pub(crate) fn compile_on_stack(
        schema: &serde_json::Value,
        schema_path: &str,
        costs: Costs,
        skip: &BTreeSet<String>,
    ) -> Result<Rules, Vec<FieldError>> {
        let root = Node::from_json(schema, schema_path);
        let mut errs = Errors {
            schema: Vec::new(),
            cel: Vec::new(),
            total: TotalCost::default(),
            skip,
        };
        check_node(&root, true, None, Some(1), costs, &mut errs);
        let mut all = errs.schema;
        all.extend(errs.cel);
        if let Costs::Limited { .. } = costs {
            all.extend(errs.total.errors(schema_path));
        }
        if !all.is_empty() {
            return Err(all);
        }
        let root = if root.has_rules() {
            let root = Arc::new(root);
            Some(build(&root, true))
        } else {
            None
        };
        Ok(Rules { root })
    }

    /// True if the schema has no rules at all.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }
}

struct Errors<'s> {
    schema: Vec<FieldError>,
    cel: Vec<FieldError>,
    total: TotalCost,
    /// Nodes whose rules are not compiled: schema errors were found at or
    /// below them.
    skip: &'s BTreeSet<String>,
}

fn has_newlines(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// Validates the rules of `node` and below, compiling them when the shape is
/// right. `uncorrelatable` is the highest ancestor through which old values
/// cannot be correlated; `cardinality` how many times `node` can occur
/// below the root, `None` when a list or map above it is unbounded.
fn check_node(
    node: &Node,
    resource_root: bool,
    uncorrelatable: Option<&str>,
    cardinality: Option<u64>,
    costs: Costs,
    errs: &mut Errors<'_>,
) {
    let before = errs.schema.len();
    let children = cardinality.and_then(|c| Some(limits::multiply(c, sizes::max_children(node)?)));
    if let Some(ap) = &node.additional {
        check_node(ap, ap.embedded, uncorrelatable, children, costs, errs);
    }
    for prop in node.properties.iter().flat_map(|p| p.values()) {
        let unc = if node.map_correlatable() {
            uncorrelatable
        } else {
            uncorrelatable.or(Some(node.path.as_str()))
        };
        check_node(prop, prop.embedded, unc, children, costs, errs);
    }
    for branch in &node.all_of {
        check_shape_only(branch, errs);
    }
    if let Some(items) = &node.items {
        let unc = if node.list_type.as_deref() == Some("map") {
            uncorrelatable
        } else {
            uncorrelatable.or(Some(node.path.as_str()))
        };
        check_node(items, items.embedded, unc, children, costs, errs);
    }
    if node.rules.is_empty() {
        return;
    }
    check_shapes(node, errs);
    if errs.schema.len() != before || errs.skip.contains(&node.path) {
        return;
    }
    let root = resource_root || node.embedded;
    let self_ty = check::decl_type(node, root).unwrap_or(Ty::Unknown);
    let declared = sizes::declared(node, root);
    let cardinality = cardinality
        .unwrap_or_else(|| sizes::max_cardinality(declared.as_ref().map_or(0, |(_, min)| *min)));
    let tree = declared.map(|(tree, _)| tree);
    let vars = Vars {
        self_: tree.as_ref(),
        old_self: tree.as_ref(),
        named: &[],
    };
    for (i, spec) in node.rules.iter().enumerate() {
        if spec.rule.trim().is_empty() {
            continue;
        }
        let at = |f: &str| format!("{}.x-kubernetes-validations[{i}].{f}", node.path);
        let invalid = |f: &str, detail: String| {
            FieldError::new(
                crate::field_error::ErrorType::Invalid,
                at(f),
                None,
                format!("{}: {detail}", spec.go_repr()),
            )
        };
        let compiled = compile_rule(spec, &self_ty, &vars);
        if let Costs::Limited { per_expression } = costs {
            let rule_cost = match &compiled {
                Ok(c) => limits::multiply(c.program.static_cost, cardinality),
                Err(_) => 0,
            };
            if per_expression && rule_cost > STATIC_EXPRESSION_LIMIT {
                errs.cel.push(FieldError::forbidden(
                    at("rule"),
                    limits::exceeds_budget(
                        "estimated rule cost",
                        rule_cost,
                        STATIC_EXPRESSION_LIMIT,
                    ),
                ));
            }
            errs.total.observe(at("rule"), rule_cost);
        }
        let c = match compiled {
            Err(detail) => {
                errs.cel.push(invalid("rule", detail));
                continue;
            }
            Ok(c) => c,
        };
        match &c.message_program {
            Some(Err(detail)) => errs.cel.push(invalid("messageExpression", detail.clone())),
            Some(Ok(m)) => {
                if let Costs::Limited { per_expression } = costs {
                    if per_expression && m.static_cost > STATIC_EXPRESSION_LIMIT {
                        errs.cel.push(FieldError::forbidden(
                            at("messageExpression"),
                            limits::exceeds_budget(
                                "estimated messageExpression cost",
                                m.static_cost,
                                STATIC_EXPRESSION_LIMIT,
                            ),
                        ));
                    }
                    errs.total.observe(at("messageExpression"), m.static_cost);
                }
            }
            None => {}
        }
        if c.uses_old_self {
            if let Some(path) = uncorrelatable {
                errs.cel.push(FieldError::invalid(
                    at("rule"),
                    spec.rule.clone(),
                    format!(
                        "oldSelf cannot be used on the uncorrelatable portion of the schema within {path}"
                    ),
                ));
            }
        } else if let Some(b) = spec.optional_old_self {
            errs.cel.push(FieldError::invalid(
                at("optionalOldSelf"),
                b,
                "may not be set if oldSelf is not used in rule",
            ));
        }
    }
}

/// `allOf` branches: their rules are shape-checked but, as upstream, not
/// compiled at CRD admission.
fn check_shape_only(node: &Node, errs: &mut Errors<'_>) {
    for prop in node.properties.iter().flat_map(|p| p.values()) {
        check_shape_only(prop, errs);
    }
    if let Some(items) = &node.items {
        check_shape_only(items, errs);
    }
    if let Some(ap) = &node.additional {
        check_shape_only(ap, errs);
    }
    check_shapes(node, errs);
}

fn check_shapes(node: &Node, errs: &mut Errors<'_>) {
    for (i, spec) in node.rules.iter().enumerate() {
        let at = |f: &str| format!("{}.x-kubernetes-validations[{i}].{f}", node.path);
        let rule = spec.rule.trim();
        let msg = spec.message.trim();
        if rule.is_empty() {
            errs.schema
                .push(FieldError::required(at("rule"), "rule is not specified"));
        } else if !spec.message.is_empty() && msg.is_empty() {
            errs.schema.push(FieldError::invalid(
                at("message"),
                spec.message.clone(),
                "message must be non-empty if specified",
            ));
        } else if has_newlines(msg) {
            errs.schema.push(FieldError::invalid(
                at("message"),
                spec.message.clone(),
                "message must not contain line breaks",
            ));
        } else if has_newlines(rule) && msg.is_empty() {
            errs.schema.push(FieldError::required(
                at("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !spec.message_expression.is_empty() && spec.message_expression.trim().is_empty() {
            errs.schema.push(FieldError::required(
                at("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = &spec.reason
            && !SUPPORTED_REASONS.contains(&reason.as_str())
        {
            errs.schema.push(FieldError::not_supported(
                at("reason"),
                reason.clone(),
                SUPPORTED_REASONS,
            ));
        }
        let fp = &spec.field_path;
        if !fp.is_empty() && fp.trim().is_empty() {
            errs.schema.push(FieldError::invalid(
                at("fieldPath"),
                fp.clone(),
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newlines(fp) {
            errs.schema.push(FieldError::invalid(
                at("fieldPath"),
                fp.clone(),
                "fieldPath must not contain line breaks",
            ));
        }
        if !fp.is_empty() && valid_field_path(fp, node).is_err() {
            errs.schema.push(FieldError::invalid(
                at("fieldPath"),
                fp.clone(),
                "fieldPath must be a valid path",
            ));
        }
    }
}

/// cel-go's rendering of compile issues: one `ERROR: <input>:L:C: msg`
/// line per issue, with the source line and a caret.
fn render_issues(source: &str, issues: &[(usize, String)]) -> String {
    let mut sorted: Vec<&(usize, String)> = issues.iter().collect();
    sorted.sort_by_key(|(o, _)| *o);
    sorted
        .iter()
        .map(|(offset, msg)| {
            let offset = (*offset).min(source.len());
            let before = &source[..offset];
            let line_no = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = source[line_start..offset].chars().count();
            let line = source[line_start..].lines().next().unwrap_or("");
            let mut out = format!("ERROR: <input>:{line_no}:{}: {msg}", col + 1);
            out.push_str("\n | ");
            out.push_str(&line.replace('\t', " "));
            out.push_str("\n | ");
            out.push_str(&".".repeat(col));
            out.push('^');
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// cel-go's rendering of an error with no location (what its parser
/// reports for the limits).
fn render_unlocated(msg: &str) -> String {
    format!("ERROR: <input>:-1:0: {msg}")
}

/// Bounds, parses and type-checks one expression, and estimates its cost
/// with `sizes`; returns it and its type.
pub(crate) fn compile_expr(
    source: &str,
    vars: Vec<(String, Ty)>,
    sizes: &Vars<'_>,
) -> Result<(Compiled, Ty), String> {
    bounds::check(source).map_err(|e| render_unlocated(&e.to_string()))?;
    // The bounds keep cel-rust's own nesting counter from ever firing on an
    // expression it parses without a syntax error; on a broken one it
    // bounds the brackets ANTLR's recovery may open.
    let depth = u16::try_from(bounds::MAX_RULE_DEPTH).unwrap_or(u16::MAX);
    let parsed = ENV
        .parser()
        .max_recursion_depth(depth)
        .parse_with_source_info(source);
    let (expr, info) = parsed.map_err(|e| {
        let issues: Vec<(usize, String)> = e
            .errors
            .iter()
            .map(|pe| {
                // ParseError positions are 1-based (line, column).
                let (line, col) = (pe.pos.0.max(1) as usize, pe.pos.1.max(1) as usize);
                let line_start: usize = source
                    .split_inclusive('\n')
                    .take(line - 1)
                    .map(str::len)
                    .sum();
                let line_text = source[line_start.min(source.len())..]
                    .lines()
                    .next()
                    .unwrap_or("");
                let byte_col: usize = line_text.chars().take(col - 1).map(char::len_utf8).sum();
                (line_start + byte_col, pe.msg.clone())
            })
            .collect();
        render_issues(source, &issues)
    })?;
    let offsets = |id: u64| info.offset_for(id).map(|(start, _)| start as usize);
    let mut checker = Checker::new(vars, &offsets);
    let ty = checker.check(&expr);
    if !checker.issues.is_empty() {
        let issues: Vec<(usize, String)> = checker
            .issues
            .iter()
            .map(|i| (i.offset, i.message.clone()))
            .collect();
        return Err(render_issues(source, &issues));
    }
    let types = checker.types;
    let static_cost = cost::estimate(&expr, &types, sizes, Mode::Admission).max;
    Ok((
        Compiled {
            expr,
            types,
            static_cost,
        },
        ty,
    ))
}

/// A rule that compiled, with its messageExpression's outcome (kube only
/// compiles the latter when the rule compiles).
struct RuleCompiled {
    program: Compiled,
    message_program: Option<Result<Compiled, String>>,
    uses_old_self: bool,
}

fn compile_rule(spec: &RuleSpec, self_ty: &Ty, sizes: &Vars<'_>) -> Result<RuleCompiled, String> {
    let old_ty = if spec.optional_old_self == Some(true) {
        Ty::Optional(Box::new(self_ty.clone()))
    } else {
        self_ty.clone()
    };
    let vars = vec![
        ("self".to_string(), self_ty.clone()),
        ("oldSelf".to_string(), old_ty),
    ];
    let (program, ty) = compile_expr(&spec.rule, vars.clone(), sizes)
        .map_err(|e| format!("compilation failed: {e}"))?;
    if !matches!(ty, Ty::Bool | Ty::Unknown) {
        return Err("cel expression must evaluate to a bool".into());
    }
    let uses_old_self = program.expr.references().has_variable("oldSelf");
    let message_program = (!spec.message_expression.is_empty()).then(|| {
        let (mp, mty) = compile_expr(&spec.message_expression, vars, sizes)
            .map_err(|e| format!("messageExpression compilation failed: {e}"))?;
        if !matches!(mty, Ty::String | Ty::Unknown) {
            return Err("messageExpression must evaluate to a string".to_string());
        }
        Ok(mp)
    });
    Ok(RuleCompiled {
        program,
        message_program,
        uses_old_self,
    })
}

/// Builds the validator tree of a schema that compiled cleanly.
fn build(node: &Arc<Node>, resource_root: bool) -> Validator {
    let root = resource_root || node.embedded;
    let self_ty = check::decl_type(node, root).unwrap_or(Ty::Unknown);
    let tree = sizes::declared(node, root).map(|(tree, _)| tree);
    let vars = Vars {
        self_: tree.as_ref(),
        old_self: tree.as_ref(),
        named: &[],
    };
    let rules = node
        .rules
        .iter()
        .filter(|spec| !spec.rule.trim().is_empty())
        .filter_map(|spec| {
            let c = compile_rule(spec, &self_ty, &vars).ok()?;
            Some(CompiledRule {
                spec: spec.clone(),
                program: c.program,
                message_program: c.message_program.and_then(Result::ok),
                uses_old_self: c.uses_old_self,
                field_path: if spec.field_path.is_empty() {
                    None
                } else {
                    valid_field_path(&spec.field_path, node).ok()
                },
            })
        })
        .collect();
    let child = |n: &Node| -> Option<Validator> {
        n.has_rules()
            .then(|| build(&Arc::new(n.clone()), n.embedded))
    };
    Validator {
        node: node.clone(),
        resource_root,
        rules,
        properties: node
            .properties
            .iter()
            .flatten()
            .filter_map(|(k, p)| Some((k.clone(), child(p)?)))
            .collect(),
        additional: node.additional.as_deref().and_then(child).map(Box::new),
        items: node.items.as_deref().and_then(child).map(Box::new),
        all_of: node
            .all_of
            .iter()
            .filter(|b| b.has_rules())
            .map(|b| {
                // An allOf branch validates the same data with the node's
                // structure and the branch's rules.
                let mut merged = (**node).clone();
                merged.rules = b.rules.clone();
                merged.all_of.clear();
                merged.properties = node.properties.as_ref().map(|props| {
                    props
                        .iter()
                        .map(|(k, p)| {
                            let mut p = p.clone();
                            p.rules = b
                                .properties
                                .as_ref()
                                .and_then(|bp| bp.get(k))
                                .map(|bp| bp.rules.clone())
                                .unwrap_or_default();
                            (k.clone(), p)
                        })
                        .collect()
                });
                build(&Arc::new(merged), resource_root)
            })
            .collect(),
    }
}

/// `ValidFieldPath`: `.a.b`, `['a.b']`, `.map['key']` against the schema;
/// returns the normalized path (`a.b`, `map[key]`).
pub(crate) fn valid_field_path(path: &str, schema: &Node) -> Result<String, String> {
    let tokens = tokenize(path);
    let mut out = String::new();
    let mut node = schema;
    let mut i = 0;
    let append = |node: &mut &Node, out: &mut String, name: &str| -> Result<(), String> {
        if node.properties.is_some() {
            let next = node
                .properties
                .as_ref()
                .and_then(|p| p.get(name))
                .ok_or("does not refer to a valid field")?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
            *node = next;
        } else if let Some(ap) = &node.additional {
            out.push_str(&format!("[{name}]"));
            *node = ap;
        } else {
            return Err("does not refer to a valid field".into());
        }
        Ok(())
    };
    while i < tokens.len() {
        match tokens[i].as_str() {
            "[" => {
                let tok = tokens.get(i + 1).ok_or("unexpected end of JSON path")?;
                if tok.len() < 2 || !tok.starts_with('\'') || !tok.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {tok}"));
                }
                let name = unescape_single_quote(&tok[1..tok.len() - 1])?;
                append(&mut node, &mut out, &name)?;
                if tokens.get(i + 2).map(String::as_str) != Some("]") {
                    return Err("expected ]".into());
                }
                i += 3;
            }
            "." => {
                let tok = tokens.get(i + 1).ok_or("unexpected end of JSON path")?;
                append(&mut node, &mut out, tok)?;
                i += 2;
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        }
    }
    Ok(out)
}

fn tokenize(path: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && !(chars[j] == '\'' && chars[j - 1] != '\\') {
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            tokens.push(chars[i..end].iter().collect());
            i = end;
        } else if matches!(c, '.' | '[' | ']') {
            tokens.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && !matches!(chars[j], '.' | '[' | ']') {
                j += 1;
            }
            tokens.push(chars[i..j].iter().collect());
            i = j;
        }
    }
    tokens
}

fn unescape_single_quote(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('a') => '\x07',
            Some('b') => '\x08',
            Some('f') => '\x0c',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\x0b',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some(o) => return Err(format!("invalid string literal: invalid escape char \\{o}")),
            None => return Err("invalid string literal".into()),
        });
    }
    Ok(out)
}
