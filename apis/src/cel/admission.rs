//! CEL expressions of admission policies (ValidatingAdmissionPolicy's
//! `matchConditions`, `variables`, `validations`, `messageExpression`s and
//! `auditAnnotations`), as `k8s.io/apiserver/pkg/admission/plugin/cel`
//! compiles and evaluates them.
//!
//! - **Declarations.** `object`, `oldObject`, `namespaceObject` and (when
//!   the policy has a `paramKind`) `params` are `dyn`, as upstream without
//!   type checking; `request` is kube's `AdmissionRequest` object type, so
//!   a misspelt field is a compile error; `variables` holds the policy's
//!   variables declared before the expression (a later one is an
//!   `undefined field`). `authorizer` is not declared: the authorizer
//!   library is not implemented, and an expression naming it is refused
//!   when the policy is written, never silently allowed.
//! - **Return types** as upstream: a validation or match condition must be
//!   `bool`, a messageExpression `string`, an audit annotation's value
//!   `string` or `null` ("must evaluate to bool but got int").
//! - **Variables are lazy**: one is evaluated the first time an expression
//!   that names it runs (after the variables it names), once per
//!   evaluation; an expression fails with a variable's error only if it
//!   names that variable.
//! - **Cost**: cel-rust counts no cost, so as for CRD rules ([`super::eval`])
//!   each expression is estimated before it runs with the sizes measured on
//!   the actual inputs (variables' values included) — an upper bound. Over
//!   kube's per-call limit it fails as cel-go cancels it; the estimates of one
//!   evaluation (a binding and one param) are charged to kube's
//!   `RuntimeCELCostBudget`, and past it everything stops with kube's
//!   message ([`OUT_OF_BUDGET`]).
//!
//! Expressions are written by any workspace owner, so they pass the same
//! bounds as CRD rules before parsing ([`super::bounds`]), and evaluation
//! runs with at least [`EVAL_STACK`] of stack.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use cel::Context;
use serde_json::Value as Json;

use super::check::Ty;
use super::compile::{Compiled, ENV, compile_expr};
use super::cost::Vars;
use super::eval::{Charge, EVAL_STACK, GROWN_STACK, charge, go_error};
use super::limits::{CALL_LIMIT_EXCEEDED, RUNTIME_BUDGET};
use super::sizes::{self, SizeTree};
use super::values::plain;

/// kube's message once an evaluation's budget is spent.
pub const OUT_OF_BUDGET: &str =
    "validation failed due to running out of cost budget, no further validation rules will be run";

/// What an expression must evaluate to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    Bool,
    String,
    /// An audit annotation's value.
    StringOrNull,
    /// A variable: anything.
    Any,
}

/// A compiled expression.
#[derive(Debug)]
pub struct Expression {
    source: String,
    program: Compiled,
    /// The policy variables it names (`variables.<name>`), by index.
    variables: Vec<usize>,
}

impl Expression {
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// What one policy's expressions may name; variables are added in order.
#[derive(Clone, Debug)]
pub struct Declarations {
    params: bool,
    /// A webhook's match conditions: `object`, `oldObject` and `request`
    /// only (kube's webhook environment has no `namespaceObject` and no
    /// variables).
    webhook: bool,
    variables: Vec<(String, Ty)>,
    /// `variables`' type, rebuilt when one is added (not per compile: a
    /// policy may have many expressions).
    variables_ty: Ty,
}

/// kube's `AdmissionRequest` as CEL sees it (`BuildRequestType`).
static REQUEST: LazyLock<Ty> = LazyLock::new(|| {
    let object = |fields: Vec<(&str, Ty)>| {
        Ty::Object(Arc::new(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        ))
    };
    let gvk = object(vec![
        ("group", Ty::String),
        ("version", Ty::String),
        ("kind", Ty::String),
    ]);
    let gvr = object(vec![
        ("group", Ty::String),
        ("version", Ty::String),
        ("resource", Ty::String),
    ]);
    let strings = Ty::List(Box::new(Ty::String));
    let user = object(vec![
        ("username", Ty::String),
        ("uid", Ty::String),
        ("groups", strings.clone()),
        ("extra", Ty::Map(Box::new(Ty::String), Box::new(strings))),
    ]);
    object(vec![
        ("kind", gvk.clone()),
        ("resource", gvr.clone()),
        ("subResource", Ty::String),
        ("requestKind", gvk),
        ("requestResource", gvr),
        ("requestSubResource", Ty::String),
        ("name", Ty::String),
        ("namespace", Ty::String),
        ("operation", Ty::String),
        ("userInfo", user),
        ("dryRun", Ty::Bool),
        ("options", Ty::Dyn),
    ])
});

impl Declarations {
    /// `params` is declared when the policy has a `paramKind`.
    pub fn new(params: bool) -> Self {
        Declarations {
            params,
            webhook: false,
            variables: Vec::new(),
            variables_ty: Ty::Object(Arc::default()),
        }
    }

    /// What an admission webhook's `matchConditions` may name.
    pub fn webhook() -> Self {
        Declarations {
            webhook: true,
            ..Declarations::new(false)
        }
    }

    fn vars(&self) -> Vec<(String, Ty)> {
        if self.webhook {
            return vec![
                ("object".to_string(), Ty::Dyn),
                ("oldObject".to_string(), Ty::Dyn),
                ("request".to_string(), REQUEST.clone()),
            ];
        }
        let mut vars = vec![
            ("object".to_string(), Ty::Dyn),
            ("oldObject".to_string(), Ty::Dyn),
            ("namespaceObject".to_string(), Ty::Dyn),
            ("request".to_string(), REQUEST.clone()),
            ("variables".to_string(), self.variables_ty.clone()),
        ];
        if self.params {
            vars.push(("params".to_string(), Ty::Dyn));
        }
        vars
    }

    /// Compiles an expression; the error is kube's detail
    /// (`compilation failed: ERROR: <input>:1:1: …`, `must evaluate to bool
    /// but got int`).
    pub fn compile(&self, source: &str, returns: Returns) -> Result<Expression, String> {
        let no_sizes = Vars {
            self_: None,
            old_self: None,
            named: &[],
        };
        let (program, ty) = stacker::maybe_grow(EVAL_STACK, GROWN_STACK, || {
            compile_expr(source, self.vars(), &no_sizes)
        })
        .map_err(|e| format!("compilation failed: {e}"))?;
        let fits = |want: &Ty| ty == *want || ty == Ty::Unknown;
        match returns {
            Returns::Bool if !fits(&Ty::Bool) => {
                return Err(format!("must evaluate to bool but got {ty}"));
            }
            Returns::String if !fits(&Ty::String) => {
                return Err(format!("must evaluate to string but got {ty}"));
            }
            Returns::StringOrNull if !fits(&Ty::String) && ty != Ty::Null => {
                return Err(format!(
                    "must evaluate to one of [string null_type] but got {ty}"
                ));
            }
            _ => {}
        }
        let variables = named_variables(&program.expr)
            .into_iter()
            .filter_map(|n| self.variables.iter().position(|(v, _)| *v == n))
            .collect();
        Ok(Expression {
            source: source.to_string(),
            program,
            variables,
        })
    }

    /// Compiles variable `name` and declares it for the expressions that
    /// follow — as `dyn` if it does not compile, so that the error is
    /// reported once, at the variable. Each call costs time linear in the
    /// variables declared so far: callers bound their number.
    pub fn variable(&mut self, name: &str, source: &str) -> Result<Expression, String> {
        let compiled = self.compile(source, Returns::Any);
        let ty = compiled
            .as_ref()
            .ok()
            .and_then(|e| e.program.types.get(&e.program.expr.id).cloned())
            .unwrap_or(Ty::Dyn);
        self.variables.push((name.to_string(), ty));
        self.variables_ty = Ty::Object(Arc::new(self.variables.iter().cloned().collect()));
        compiled
    }
}

/// The `variables.<name>` selections in an expression.
fn named_variables(e: &cel::common::ast::IdedExpr) -> Vec<String> {
    use cel::common::ast::Expr;
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.expr {
            Expr::Select(s) => {
                if let Expr::Ident(root) = &s.operand.expr
                    && root == "variables"
                {
                    out.push(s.field.clone());
                }
                stack.push(&s.operand);
            }
            Expr::Call(c) => {
                // `variables.?x` is `_?._(variables, "x")`.
                if c.func_name == "_?._"
                    && let [operand, field] = c.args.as_slice()
                    && let Expr::Ident(root) = &operand.expr
                    && root == "variables"
                    && let Expr::Literal(cel::common::ast::LiteralValue::String(f)) = &field.expr
                {
                    out.push(f.to_string());
                }
                stack.extend(c.target.as_deref());
                stack.extend(c.args.iter());
            }
            Expr::List(l) => stack.extend(l.elements.iter()),
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        stack.push(&me.key);
                        stack.push(&me.value);
                    }
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        stack.push(&f.value);
                    }
                }
            }
            Expr::Comprehension(c) => {
                stack.push(&c.iter_range);
                stack.push(&c.accu_init);
                stack.push(&c.loop_cond);
                stack.push(&c.loop_step);
                stack.push(&c.result);
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The data one evaluation sees; `Json::Null` for what is absent (the
/// object of a DELETE, the old object of a CREATE…).
pub struct Inputs<'a> {
    pub object: &'a Json,
    pub old_object: &'a Json,
    pub request: &'a Json,
    pub namespace_object: &'a Json,
    /// `None` when the policy declares no `paramKind`.
    pub params: Option<&'a Json>,
}

/// What an expression evaluated to, as far as admission cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    String(String),
    Null,
    /// Any other type, by its CEL name.
    Other(String),
}

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// It failed (`expression '…' resulted in error: …`).
    Failed(String),
    /// The evaluation's budget is spent: nothing more runs.
    OutOfBudget,
}

/// What setting up one evaluation counts, in cost units.
const EVALUATION_OVERHEAD: i64 = 1000;

/// The most nodes measuring one variable's value may visit; a value
/// larger than that is not measured, and anything that iterates over it
/// or copies it is then priced over every limit.
const MEASURE_LIMIT: u64 = 1_000_000;

const INPUT_NAMES: [&str; 5] = [
    "object",
    "oldObject",
    "request",
    "namespaceObject",
    "params",
];

/// The measured sizes of a request's `object`, `oldObject`, `request` and
/// `namespaceObject`.
#[derive(Clone, Debug)]
pub struct Sizes([SizeTree; 4]);

impl Sizes {
    pub fn of(inputs: &Inputs<'_>) -> Sizes {
        Sizes(
            [
                inputs.object,
                inputs.old_object,
                inputs.request,
                inputs.namespace_object,
            ]
            .map(sizes::measure_plain),
        )
    }
}

/// A request's inputs converted for CEL and measured once, for every
/// policy and binding the request meets ([`Activation::prepared`]).
pub struct Prepared<'a> {
    ctx: Context<'a, 'a>,
    sizes: Sizes,
}

impl<'a> Prepared<'a> {
    /// `inputs.params` is ignored: params differ per binding.
    pub fn new(inputs: &Inputs<'a>) -> Self {
        let mut ctx = Context::with_env(ENV.clone());
        for (name, data) in INPUT_NAMES.iter().zip([
            inputs.object,
            inputs.old_object,
            inputs.request,
            inputs.namespace_object,
        ]) {
            ctx.add_variable_as_val(*name, plain(data));
        }
        Prepared {
            ctx,
            sizes: Sizes::of(inputs),
        }
    }

    /// What converting the inputs cost (their deep size), to count once.
    pub fn cost(&self) -> i64 {
        self.sizes.0.iter().fold(0i64, |sum, t| {
            sum.saturating_add(t.deep.min(i64::MAX as u64) as i64)
        })
    }
}

/// One evaluation of a policy's expressions over one request (and one
/// param): the converted inputs, the variables evaluated so far and what
/// is left of the budget.
pub struct Activation<'a> {
    /// Its own (with [`Activation::new`]) or an inner scope of a
    /// [`Prepared`] one.
    ctx: Context<'a, 'a>,
    /// Measured sizes of `object`, `oldObject`, `request`,
    /// `namespaceObject`, and of `params`.
    sizes: std::borrow::Cow<'a, Sizes>,
    params: SizeTree,
    names: Vec<&'a str>,
    variables: &'a [Expression],
    results: Vec<Option<Result<cel::Value, String>>>,
    /// Sizes of the variables evaluated so far, by name.
    variable_sizes: SizeTree,
    remaining: i64,
    /// Cost outside the budget: converting the inputs, setting up, and
    /// budgets renewed.
    overhead: i64,
}

impl<'a> Activation<'a> {
    /// `variables` are the policy's, with `names` their names.
    pub fn new(inputs: &Inputs<'a>, names: &[&'a str], variables: &'a [Expression]) -> Self {
        let sizes = std::borrow::Cow::Owned(Sizes::of(inputs));
        Self::build(inputs, sizes, names, variables)
    }

    /// An evaluation over `prepared` inputs with `params` (`None` when the
    /// policy has no `paramKind`): only the param is converted and
    /// measured here, and only it counts in [`Activation::spent`]'s
    /// overhead (the caller counts the prepared inputs once).
    pub fn prepared(
        prepared: &'a Prepared<'a>,
        params: Option<&'a Json>,
        names: &[&'a str],
        variables: &'a [Expression],
    ) -> Self {
        let mut ctx = prepared.ctx.new_inner_scope();
        let params_tree = match params {
            Some(p) => {
                ctx.add_variable_as_val("params", plain(p));
                sizes::measure_plain(p)
            }
            None => SizeTree::default(),
        };
        let overhead = EVALUATION_OVERHEAD
            .saturating_add(params_tree.deep.min(i64::MAX as u64) as i64)
            .saturating_add(variables.len() as i64);
        Activation {
            ctx,
            sizes: std::borrow::Cow::Borrowed(&prepared.sizes),
            params: params_tree,
            names: names.to_vec(),
            variables,
            results: (0..variables.len()).map(|_| None).collect(),
            variable_sizes: SizeTree::default(),
            remaining: RUNTIME_BUDGET,
            overhead,
        }
    }

    fn build(
        inputs: &Inputs<'a>,
        sizes: std::borrow::Cow<'a, Sizes>,
        names: &[&'a str],
        variables: &'a [Expression],
    ) -> Self {
        let mut ctx = Context::with_env(ENV.clone());
        let params = inputs.params.unwrap_or(&Json::Null);
        let all = [
            inputs.object,
            inputs.old_object,
            inputs.request,
            inputs.namespace_object,
            params,
        ];
        for (name, data) in INPUT_NAMES.iter().zip(all) {
            if *name == "params" && inputs.params.is_none() {
                continue;
            }
            ctx.add_variable_as_val(*name, plain(data));
        }
        let params = sizes::measure_plain(params);
        // Converting the inputs is work too, charged as their deep size, and
        // so is setting up an evaluation at all (per variable, too): so that
        // a caller bounding the sum over many evaluations bounds their
        // number.
        let overhead = sizes
            .0
            .iter()
            .chain(std::iter::once(&params))
            .fold(EVALUATION_OVERHEAD, |sum, t| {
                sum.saturating_add(t.deep.min(i64::MAX as u64) as i64)
            })
            .saturating_add(variables.len() as i64);
        Activation {
            ctx,
            sizes,
            params,
            names: names.to_vec(),
            variables,
            results: (0..variables.len()).map(|_| None).collect(),
            variable_sizes: SizeTree::default(),
            remaining: RUNTIME_BUDGET,
            overhead,
        }
    }

    /// Cost spent so far: the estimates charged, the conversion of the
    /// inputs and the set-up (a caller bounds what one request spends over
    /// many evaluations with it).
    pub fn spent(&self) -> i64 {
        let charged = if self.remaining < 0 {
            RUNTIME_BUDGET
        } else {
            RUNTIME_BUDGET - self.remaining
        };
        charged.saturating_add(self.overhead)
    }

    /// A fresh budget for what follows (kube evaluates audit annotations
    /// with a budget of their own); what was spent still counts in
    /// [`Activation::spent`].
    pub fn renew_budget(&mut self) {
        self.overhead = self.spent();
        self.remaining = RUNTIME_BUDGET;
    }

    /// Evaluates `e`, first the variables it needs.
    pub fn eval(&mut self, e: &Expression) -> Result<Value, EvalError> {
        stacker::maybe_grow(EVAL_STACK, GROWN_STACK, || self.eval_on_stack(e))
    }

    fn eval_on_stack(&mut self, e: &Expression) -> Result<Value, EvalError> {
        self.ensure(&e.variables)?;
        for &i in &e.variables {
            if let Some(Err(why)) = &self.results[i] {
                return Err(EvalError::Failed(format!(
                    "expression '{}' resulted in error: {why}",
                    e.source
                )));
            }
        }
        match self.run(&e.program, &e.variables)? {
            Ok(v) => Ok(match v {
                cel::Value::Bool(b) => Value::Bool(b),
                cel::Value::String(s) => Value::String(s.to_string()),
                cel::Value::Null => Value::Null,
                other => Value::Other(super::library::type_name(&other)),
            }),
            Err(why) => Err(EvalError::Failed(format!(
                "expression '{}' resulted in error: {why}",
                e.source
            ))),
        }
    }

    /// Evaluates the variables in `wanted` and everything they name,
    /// earliest first (a variable only names earlier ones).
    fn ensure(&mut self, wanted: &[usize]) -> Result<(), EvalError> {
        let mut needed = vec![false; self.variables.len()];
        let mut stack: Vec<usize> = wanted.to_vec();
        while let Some(i) = stack.pop() {
            if needed[i] || self.results[i].is_some() {
                continue;
            }
            needed[i] = true;
            stack.extend(self.variables[i].variables.iter().copied());
        }
        for i in 0..needed.len() {
            if !needed[i] {
                continue;
            }
            let vars = self.variables;
            let e = &vars[i];
            let failed = e.variables.iter().find_map(|&d| match &self.results[d] {
                Some(Err(why)) => Some(why.clone()),
                _ => None,
            });
            let result = match failed {
                Some(why) => Err(why),
                None => self.run(&e.program, &e.variables)?,
            };
            if let Ok(v) = &result {
                let tree = measure_value(v);
                // Making the variable's value its own (cel-rust converts a
                // borrowed result deeply) costs its deep size.
                let owned = i64::try_from(tree.deep).unwrap_or(i64::MAX);
                if owned > self.remaining {
                    self.remaining = -1;
                    return Err(EvalError::OutOfBudget);
                }
                self.remaining -= owned;
                let name = self.names.get(i).copied().unwrap_or_default();
                self.variable_sizes.fields.insert(name.to_string(), tree);
            }
            self.results[i] = Some(result);
        }
        Ok(())
    }

    /// Charges the estimate of `program` and runs it; `uses` are the
    /// variables it names (only those are bound).
    fn run(
        &mut self,
        program: &Compiled,
        uses: &[usize],
    ) -> Result<Result<cel::Value, String>, EvalError> {
        if self.remaining < 0 {
            return Err(EvalError::OutOfBudget);
        }
        let named: Vec<(&str, &SizeTree)> = INPUT_NAMES
            .iter()
            .copied()
            .zip(self.sizes.0.iter().chain(std::iter::once(&self.params)))
            .chain(std::iter::once(("variables", &self.variable_sizes)))
            .collect();
        let vars = Vars {
            self_: None,
            old_self: None,
            named: &named,
        };
        match charge(program, &vars, &mut self.remaining) {
            Charge::Done => {}
            // kube: the expression fails, the others still run.
            Charge::Cancelled => return Ok(Err(CALL_LIMIT_EXCEEDED.to_string())),
            Charge::Exhausted => return Err(EvalError::OutOfBudget),
        }
        let mut scope = self.ctx.new_inner_scope();
        let visible: HashMap<String, cel::Value> = uses
            .iter()
            .filter_map(|&i| match self.results.get(i)? {
                Some(Ok(v)) => Some((self.names.get(i)?.to_string(), v.clone())),
                _ => None,
            })
            .collect();
        scope.add_variable_from_value("variables", visible);
        Ok(cel::Value::resolve(&program.expr, &scope).map_err(|e| go_error(&e)))
    }
}

/// The measured sizes of a value an expression made (a variable): at most
/// [`MEASURE_LIMIT`] nodes are visited, values shared by reference are
/// measured once, and an optional is measured by what it holds.
fn measure_value(v: &cel::Value) -> SizeTree {
    let mut m = Measure::default();
    let tree = m.value(v);
    if m.visits > MEASURE_LIMIT {
        return too_large();
    }
    tree
}

/// A value not measured: its sizes (and all below) are over every limit.
fn too_large() -> SizeTree {
    SizeTree {
        size: u64::MAX / 4,
        deep: u64::MAX / 4,
        opaque: true,
        ..SizeTree::default()
    }
}

fn leaf(size: u64, deep: u64) -> SizeTree {
    SizeTree {
        size,
        deep,
        ..SizeTree::default()
    }
}

#[derive(Default)]
struct Measure {
    /// Lists and maps already measured, by address, with their tree's
    /// node count (what copying the tree costs).
    seen: HashMap<usize, (SizeTree, u64)>,
    visits: u64,
}

fn nodes(t: &SizeTree) -> u64 {
    1 + t.fields.values().map(nodes).sum::<u64>()
        + t.elem.as_deref().map_or(0, nodes)
        + t.keys.as_deref().map_or(0, nodes)
}

impl Measure {
    fn value(&mut self, v: &cel::Value) -> SizeTree {
        self.visits += 1;
        if self.visits > MEASURE_LIMIT {
            return too_large();
        }
        stacker::maybe_grow(super::check::RED_ZONE, super::check::GROWN_STACK, || {
            self.level(v)
        })
    }

    fn shared(&mut self, addr: usize, measure: impl FnOnce(&mut Self) -> SizeTree) -> SizeTree {
        if let Some((tree, n)) = self.seen.get(&addr) {
            self.visits = self.visits.saturating_add(*n);
            return tree.clone();
        }
        let tree = measure(self);
        let n = nodes(&tree);
        self.visits = self.visits.saturating_add(n);
        self.seen.insert(addr, (tree.clone(), n));
        tree
    }

    fn level(&mut self, v: &cel::Value) -> SizeTree {
        match v {
            cel::Value::String(s) => leaf(s.len() as u64, sizes::string_deep(s.len() as u64)),
            cel::Value::Bytes(b) => leaf(b.len() as u64, sizes::string_deep(b.len() as u64)),
            cel::Value::List(items) => {
                let addr = Arc::as_ptr(items) as *const () as usize;
                self.shared(addr, |m| {
                    let mut tree = leaf(items.len() as u64, 1);
                    for item in items.iter() {
                        let t = m.value(item);
                        tree.deep = tree.deep.saturating_add(t.deep);
                        sizes::merge_into(&mut tree.elem, t);
                        if m.visits > MEASURE_LIMIT {
                            break;
                        }
                    }
                    tree
                })
            }
            cel::Value::Map(map) => {
                let addr = Arc::as_ptr(&map.map) as *const () as usize;
                self.shared(addr, |m| {
                    let mut tree = leaf(map.map.len() as u64, 1);
                    for (k, v) in map.map.iter() {
                        let key_len = match k {
                            cel::objects::Key::String(s) => s.len() as u64,
                            _ => 1,
                        };
                        let key = leaf(key_len, sizes::string_deep(key_len));
                        let value = m.value(v);
                        tree.deep = tree
                            .deep
                            .saturating_add(key.deep)
                            .saturating_add(value.deep);
                        sizes::merge_into(&mut tree.keys, key);
                        sizes::merge_into(&mut tree.elem, value);
                        if m.visits > MEASURE_LIMIT {
                            break;
                        }
                    }
                    tree
                })
            }
            cel::Value::Opaque(o) => match o.downcast_ref::<cel::objects::OptionalValue>() {
                Some(opt) => match opt.value() {
                    Some(inner) => self.value(inner),
                    None => leaf(0, 1),
                },
                // Kubernetes library values (URL, IP, quantity…) are small
                // and have no parts to select.
                None => SizeTree {
                    opaque: true,
                    ..leaf(1, 1)
                },
            },
            cel::Value::Struct(_) | cel::Value::Function(..) => too_large(),
            _ => leaf(1, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs<'a>(object: &'a Json, request: &'a Json) -> Inputs<'a> {
        Inputs {
            object,
            old_object: &Json::Null,
            request,
            namespace_object: &Json::Null,
            params: None,
        }
    }

    #[test]
    fn compile_errors_read_like_kube() {
        let d = Declarations::new(false);
        let e = d
            .compile("object.spec.replicas", Returns::Bool)
            .unwrap_err();
        assert_eq!(e, "must evaluate to bool but got dyn");
        let e = d.compile("1 + 1", Returns::Bool).unwrap_err();
        assert_eq!(e, "must evaluate to bool but got int");
        let e = d.compile("params.x == 1", Returns::Bool).unwrap_err();
        assert!(
            e.starts_with(
                "compilation failed: ERROR: <input>:1:1: undeclared reference to 'params'"
            ),
            "{e}"
        );
        let e = d
            .compile("request.opration == 'CREATE'", Returns::Bool)
            .unwrap_err();
        assert!(e.contains("undefined field 'opration'"), "{e}");
        let e = d.compile("authorizer != null", Returns::Bool).unwrap_err();
        assert!(e.contains("undeclared reference to 'authorizer'"), "{e}");
        let e = d.compile("1", Returns::StringOrNull).unwrap_err();
        assert_eq!(e, "must evaluate to one of [string null_type] but got int");
        assert!(d.compile("null", Returns::StringOrNull).is_ok());
        let e = d
            .compile("variables.later == 1", Returns::Bool)
            .unwrap_err();
        assert!(e.contains("undefined field 'later'"), "{e}");
        assert!(
            Declarations::new(true)
                .compile("params.x == 1", Returns::Bool)
                .is_ok()
        );
    }

    #[test]
    fn evaluates_over_request_object_and_lazy_variables() {
        let mut d = Declarations::new(false);
        let vars = vec![
            d.variable("replicas", "object.spec.replicas").unwrap(),
            d.variable("boom", "1 / 0 == 1").unwrap(),
            d.variable("double", "variables.replicas * 2").unwrap(),
        ];
        let names = ["replicas", "boom", "double"];
        let ok = d.compile("variables.double <= 10", Returns::Bool).unwrap();
        let op = d
            .compile("request.operation == 'CREATE'", Returns::Bool)
            .unwrap();
        let uses_boom = d.compile("variables.boom", Returns::Bool).unwrap();
        let obj = json!({"spec": {"replicas": 6}});
        let req = json!({"operation": "CREATE"});
        let mut a = Activation::new(&inputs(&obj, &req), &names, &vars);
        assert_eq!(a.eval(&ok), Ok(Value::Bool(false)));
        assert_eq!(a.eval(&op), Ok(Value::Bool(true)));
        // The failing variable is only evaluated, and only fails, when named.
        assert!(a.results[1].is_none());
        assert_eq!(
            a.eval(&uses_boom),
            Err(EvalError::Failed(
                "expression 'variables.boom' resulted in error: division by zero".into()
            ))
        );
    }

    #[test]
    fn budget_and_per_call_limit_stop_evaluation() {
        let d = Declarations::new(false);
        // Quadratic over a large list: over the per-call limit.
        let e = d
            .compile(
                "object.items.all(x, object.items.all(y, x == y || x != y))",
                Returns::Bool,
            )
            .unwrap();
        let items: Vec<Json> = (0..2000).map(Json::from).collect();
        let obj = json!({ "items": items });
        let req = json!({});
        let mut a = Activation::new(&inputs(&obj, &req), &[], &[]);
        assert_eq!(
            a.eval(&e),
            Err(EvalError::Failed(format!(
                "expression '{}' resulted in error: {CALL_LIMIT_EXCEEDED}",
                e.source()
            )))
        );
        // Linear, under the per-call limit, but ten of them exceed the budget.
        let lin = d
            .compile("object.items.all(x, x >= 0 && x < 100000)", Returns::Bool)
            .unwrap();
        let items: Vec<Json> = (0..60000).map(Json::from).collect();
        let obj = json!({ "items": items });
        let mut a = Activation::new(&inputs(&obj, &req), &[], &[]);
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.push(a.eval(&lin));
        }
        assert_eq!(outcomes[0], Ok(Value::Bool(true)));
        assert_eq!(outcomes.last(), Some(&Err(EvalError::OutOfBudget)));
    }

    fn cancelled(r: &Result<Value, EvalError>) -> bool {
        matches!(r, Err(EvalError::Failed(m)) if m.ends_with(CALL_LIMIT_EXCEEDED))
    }

    #[test]
    fn methods_on_inputs_are_priced_by_their_receiver() {
        // Replacing '' in a 100 kB string with itself builds 10^10 bytes:
        // it must be priced over the limit, not as an unknown global.
        let d = Declarations::new(false);
        let e = d
            .compile("object.s.replace('', object.s).size() > 0", Returns::Bool)
            .unwrap();
        let obj = json!({"s": "x".repeat(100_000)});
        let req = json!({});
        let mut a = Activation::new(&inputs(&obj, &req), &[], &[]);
        assert!(cancelled(&a.eval(&e)), "ran");
    }

    #[test]
    fn optional_variables_are_measured_by_what_they_hold() {
        let mut d = Declarations::new(false);
        let vars = vec![d.variable("o", "object.?spec").unwrap()];
        let e = d
            .compile(
                "variables.o.?items.orValue([]).all(x, variables.o.?items.orValue([]).all(y, x == y || x != y))",
                Returns::Bool,
            )
            .unwrap();
        let items: Vec<Json> = (0..3000).map(Json::from).collect();
        let obj = json!({"spec": {"items": items}});
        let req = json!({});
        let mut a = Activation::new(&inputs(&obj, &req), &["o"], &vars);
        assert!(cancelled(&a.eval(&e)), "ran 9M comparisons");
    }

    #[test]
    fn shared_and_huge_variable_values_are_measured_within_bounds() {
        let mut d = Declarations::new(false);
        // N references to the whole object, then that list doubled 30
        // times by reference: measuring must not walk it all.
        let mut vars = vec![d.variable("v0", "object.items.map(x, object)").unwrap()];
        let mut names = vec!["v0".to_string()];
        for i in 1..30 {
            vars.push(
                d.variable(
                    &format!("v{i}"),
                    &format!("[variables.v{0}, variables.v{0}]", i - 1),
                )
                .unwrap(),
            );
            names.push(format!("v{i}"));
        }
        let e = d
            .compile("variables.v29.all(x, x == x)", Returns::Bool)
            .unwrap();
        let items: Vec<Json> = (0..2000).map(Json::from).collect();
        let obj = json!({ "items": items });
        let req = json!({});
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut a = Activation::new(&inputs(&obj, &req), &names, &vars);
        let r = a.eval(&e);
        assert!(cancelled(&r) || r == Err(EvalError::OutOfBudget), "{r:?}");
    }
}
