//! The estimated cost of evaluating an expression, in cel-go's cost units
//! (about 50 ns each).
//!
//! The model is cel-go's static estimator (`checker/cost.go`) with
//! kube-apiserver's library estimates (`k8s.io/apiserver/pkg/cel/library/
//! cost.go`) and cel-go's `sets` extension: identifiers and selects on
//! objects and maps cost 1, `has()` nothing, a list literal 10 plus its
//! elements, a map 30; a comprehension its range, accumulator and result
//! once plus, per element of the range, its condition and step; `&&`/`||`
//! at most both sides; a ternary its condition and the dearer branch;
//! functions 1 plus their arguments unless they are linear or worse in
//! their arguments' sizes (0.1 per byte of string traversed, 0.25 per byte
//! of a regular expression, string × pattern for `matches`…). Sizes come
//! from [`super::sizes`] by path (`self.spec.items[*].name`), from
//! literals, or from what a function returns; an unknown size is the
//! largest `u64` and makes anything linear in it too expensive.
//!
//! It runs in two modes:
//!
//! - [`Mode::Admission`], with declared sizes: kube's numbers, so that rules
//!   are accepted or refused as kube-apiserver does (it is not an upper
//!   bound where kube's model is not one: comparing two objects costs what
//!   comparing their sizes, 0, costs).
//! - [`Mode::Evaluation`], with sizes measured on the object: an upper
//!   bound of the work cel-rust really does, which is sometimes more than
//!   cel-go's: every node costs at least 1 (cel-rust evaluates literals and
//!   `&&` operands one by one, it folds nothing), comparing values costs
//!   their deep size, concatenating lists copies both (except the
//!   accumulator of `map`/`filter`, which cel-rust appends to in place),
//!   each element a comprehension iterates over is copied, Kubernetes
//!   library functions convert their arguments deeply, and string functions
//!   that cel-go counts as constant (`charAt`, `indexOf`…) traverse.
//!
//! The walk recurses once per tree level; [`super::bounds`] keeps that
//! depth small, and each level makes sure it has stack enough.

use super::check::{GROWN_STACK, RED_ZONE, Ty};
use super::sizes::SizeTree;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::HashMap;

/// A cost range; all arithmetic saturates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    pub min: u64,
    pub max: u64,
}

impl Cost {
    pub(crate) fn fixed(c: u64) -> Cost {
        Cost { min: c, max: c }
    }

    fn add(self, o: Cost) -> Cost {
        Cost {
            min: self.min.saturating_add(o.min),
            max: self.max.saturating_add(o.max),
        }
    }

    fn mul(self, o: Cost) -> Cost {
        Cost {
            min: self.min.saturating_mul(o.min),
            max: self.max.saturating_mul(o.max),
        }
    }

    fn union(self, o: Cost) -> Cost {
        Cost {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    fn factor(self, f: f64) -> Cost {
        Cost {
            min: by_factor(self.min, f),
            max: by_factor(self.max, f),
        }
    }
}

/// A size range (`size()` of a string, bytes, list or map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Size {
    min: u64,
    max: u64,
}

const UNKNOWN: Size = Size {
    min: 0,
    max: u64::MAX,
};

impl Size {
    fn fixed(n: u64) -> Size {
        Size { min: n, max: n }
    }

    fn upto(n: u64) -> Size {
        Size { min: 0, max: n }
    }

    fn add(self, o: Size) -> Size {
        Size {
            min: self.min.saturating_add(o.min),
            max: self.max.saturating_add(o.max),
        }
    }

    fn mul(self, o: Size) -> Size {
        Size {
            min: self.min.saturating_mul(o.min),
            max: self.max.saturating_mul(o.max),
        }
    }

    fn union(self, o: Size) -> Size {
        Size {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    fn cost(self) -> Cost {
        Cost {
            min: self.min,
            max: self.max,
        }
    }

    fn by(self, f: f64) -> Cost {
        self.cost().factor(f)
    }
}

/// cel-go's `multiplyByCostFactor`: rounded up, saturating.
fn by_factor(x: u64, f: f64) -> u64 {
    let r = (x as f64 * f).ceil();
    if r >= u64::MAX as f64 {
        u64::MAX
    } else {
        r as u64
    }
}

const STRING_TRAVERSAL: f64 = 0.1;
const REGEX_LENGTH: f64 = 0.25;

/// Which sizes the estimate is made with, and so which model applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Declared sizes; kube's model.
    Admission,
    /// Measured sizes; a bound of cel-rust's work.
    Evaluation,
}

/// The sizes `self` and `oldSelf` are read from. At admission both are
/// the node's declared sizes, as upstream (its estimator ignores which
/// variable a path starts at). Admission policies' expressions name other
/// variables (`object`, `params`, `variables`…): `named`, measured.
pub(crate) struct Vars<'a> {
    pub self_: Option<&'a SizeTree>,
    pub old_self: Option<&'a SizeTree>,
    pub named: &'a [(&'a str, &'a SizeTree)],
}

/// Estimates the cost of `expr`, typed by the checker (`types`, by node
/// id).
pub(crate) fn estimate(
    expr: &IdedExpr,
    types: &HashMap<u64, Ty>,
    vars: &Vars<'_>,
    mode: Mode,
) -> Cost {
    // When evaluating, no value can be larger than the data and the
    // expression's own literals (a string function that grows its input
    // says by how much): a size nothing else bounds is bounded by that.
    let data = [vars.self_, vars.old_self]
        .into_iter()
        .flatten()
        .chain(vars.named.iter().map(|(_, t)| *t))
        .fold(0u64, |sum, t| sum.saturating_add(t.deep.saturating_mul(10)));
    let mut e = Estimator {
        types,
        vars,
        mode,
        locals: Vec::new(),
        largest: data.saturating_add(super::bounds::MAX_CODE_POINTS as u64),
    };
    e.est(expr).cost
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    SelfVar,
    OldSelf,
    /// `Vars::named[i]`.
    Named(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Field(String),
    Elem,
    Key,
}

#[derive(Clone, Debug)]
struct Path {
    root: Root,
    segs: Vec<Seg>,
}

impl Path {
    fn child(&self, seg: Seg) -> Path {
        let mut p = self.clone();
        p.segs.push(seg);
        p
    }
}

/// What is known of one evaluated node.
#[derive(Clone, Debug, Default)]
struct Est {
    cost: Cost,
    size: Option<Size>,
    path: Option<Path>,
    /// Size of the items (values) of a container made by the expression.
    elem: Option<Size>,
    /// Deep size bound (evaluation mode).
    deep: Option<u64>,
    /// Whether the value has a size at all: strings, bytes, containers,
    /// or values of unknown type (not numbers, types, IPs…).
    sized: bool,
}

struct Local {
    name: String,
    est: Est,
}

struct Estimator<'a> {
    types: &'a HashMap<u64, Ty>,
    vars: &'a Vars<'a>,
    mode: Mode,
    locals: Vec<Local>,
    /// When evaluating, the largest size a value can have.
    largest: u64,
}

/// Kubernetes library functions, which convert their arguments into owned
/// values before running (see [`super::library`]).
const CONVERTING: &[&str] = &[
    "isSorted",
    "sum",
    "min",
    "max",
    "find",
    "findAll",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "url",
    "isURL",
    "quantity",
    "isQuantity",
    "ip",
    "isIP",
    "ip.isCanonical",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "format.named",
    "validate",
];

fn is_scalar(t: &Ty) -> bool {
    match t {
        Ty::Bool | Ty::Int | Ty::Uint | Ty::Double | Ty::Duration | Ty::Timestamp => true,
        Ty::Optional(inner) => is_scalar(inner),
        _ => false,
    }
}

fn loose(t: &Ty) -> bool {
    matches!(t, Ty::Unknown | Ty::Dyn)
}

/// Whether values of `t` have a size.
fn has_size(t: &Ty) -> bool {
    match t {
        Ty::String | Ty::Bytes | Ty::List(_) | Ty::Map(..) | Ty::Object(_) => true,
        Ty::Optional(inner) => has_size(inner),
        t => loose(t),
    }
}

impl<'a> Estimator<'a> {
    fn eval(&self) -> bool {
        self.mode == Mode::Evaluation
    }

    /// What every node costs at least.
    fn floor(&self) -> u64 {
        u64::from(self.eval())
    }

    /// A size nothing bounds: the largest `u64` at admission, the largest
    /// value possible when evaluating.
    fn unknown(&self) -> Size {
        match self.mode {
            Mode::Admission => UNKNOWN,
            Mode::Evaluation => Size::upto(self.largest),
        }
    }

    fn ty(&self, id: u64) -> &Ty {
        self.types.get(&id).unwrap_or(&Ty::Unknown)
    }

    fn local(&self, name: &str) -> Option<&Est> {
        self.locals
            .iter()
            .rev()
            .find(|l| l.name == name)
            .map(|l| &l.est)
    }

    fn tree(&self, path: &Path) -> Option<&'a SizeTree> {
        let mut t = match path.root {
            Root::SelfVar => self.vars.self_,
            Root::OldSelf => self.vars.old_self,
            Root::Named(i) => self.vars.named.get(i).map(|(_, t)| *t),
        }?;
        for seg in &path.segs {
            if t.opaque {
                return Some(t);
            }
            t = match seg {
                Seg::Field(f) => t.field(f),
                Seg::Elem => t.elem.as_deref(),
                Seg::Key => t.keys.as_deref(),
            }?;
        }
        Some(t)
    }

    /// The size of a value at `path`: declared (unknown if the schema has
    /// no such path), or measured (nothing there when the data has none).
    fn path_size(&self, path: &Option<Path>) -> Option<Size> {
        let path = path.as_ref()?;
        match (self.tree(path), self.mode) {
            (Some(t), _) => Some(Size::upto(t.size)),
            (None, Mode::Evaluation) => Some(Size::fixed(0)),
            (None, Mode::Admission) => None,
        }
    }

    fn path_deep(&self, path: &Option<Path>) -> Option<u64> {
        let path = path.as_ref()?;
        Some(self.tree(path).map_or(0, |t| t.deep))
    }

    /// cel-go's `computeSize` for a node with no computed size.
    fn size_of(&self, id: u64, path: &Option<Path>, known: Option<Size>) -> Option<Size> {
        known
            .or_else(|| self.path_size(path))
            .or_else(|| is_scalar(self.ty(id)).then(|| Size::fixed(1)))
    }

    /// A deep size bound: measured, or derived from the size.
    fn deep_of(&self, est: &Est) -> u64 {
        if let Some(d) = est.deep.or_else(|| self.path_deep(&est.path)) {
            return d.max(1);
        }
        if !est.sized {
            return 1;
        }
        est.size.unwrap_or(self.unknown()).max.max(1)
    }

    fn est(&mut self, e: &IdedExpr) -> Est {
        let mut est = stacker::maybe_grow(RED_ZONE, GROWN_STACK, || self.est_node(e));
        est.sized = has_size(self.ty(e.id));
        if est.size.is_none() && est.sized && self.eval() {
            est.size = Some(self.unknown());
        }
        est
    }

    fn est_node(&mut self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Unspecified => Est::default(),
            Expr::Literal(lit) => {
                let size = match lit {
                    LiteralValue::String(s) => s.len() as u64,
                    LiteralValue::Bytes(b) => b.len() as u64,
                    _ => 1,
                };
                Est {
                    cost: Cost::fixed(self.floor()),
                    size: Some(Size::fixed(size)),
                    deep: Some(size.div_ceil(10).max(1)),
                    ..Est::default()
                }
            }
            Expr::Ident(name) => {
                let mut est = match self.local(name) {
                    Some(l) => l.clone(),
                    None => Est {
                        path: match name.as_str() {
                            "self" => Some(Path {
                                root: Root::SelfVar,
                                segs: Vec::new(),
                            }),
                            "oldSelf" => Some(Path {
                                root: Root::OldSelf,
                                segs: Vec::new(),
                            }),
                            other => {
                                self.vars
                                    .named
                                    .iter()
                                    .position(|(n, _)| *n == other)
                                    .map(|i| Path {
                                        root: Root::Named(i),
                                        segs: Vec::new(),
                                    })
                            }
                        },
                        ..Est::default()
                    },
                };
                est.cost = Cost::fixed(1);
                est.size = self.size_of(e.id, &est.path, est.size);
                est
            }
            Expr::Select(sel) => {
                let operand = self.est(&sel.operand);
                if sel.test {
                    return Est {
                        cost: operand.cost.add(Cost::fixed(self.floor())),
                        size: Some(Size::fixed(1)),
                        ..Est::default()
                    };
                }
                let select = match self.ty(sel.operand.id) {
                    Ty::Object(_) | Ty::Map(..) | Ty::Unknown | Ty::Dyn => 1,
                    _ => self.floor(),
                };
                let path = operand.path.map(|p| p.child(Seg::Field(sel.field.clone())));
                Est {
                    cost: operand.cost.add(Cost::fixed(select)),
                    size: self.size_of(e.id, &path, None),
                    path,
                    ..Est::default()
                }
            }
            Expr::Call(call) => self.call(e, call),
            Expr::List(list) => {
                let mut cost = Cost::fixed(10);
                let mut elem: Option<Size> = None;
                let mut deep: u64 = 1;
                for el in &list.elements {
                    let x = self.est(el);
                    cost = cost.add(x.cost);
                    let xs = x.size.unwrap_or(self.unknown());
                    elem = Some(elem.map_or(xs, |s| s.union(xs)));
                    deep = deep.saturating_add(self.deep_of(&x));
                }
                if self.eval() {
                    // cel-rust owns what it puts in a new list: a borrowed
                    // element (a variable, a field) is copied deeply.
                    cost = cost.add(Cost::fixed(deep));
                }
                Est {
                    cost,
                    size: Some(Size::fixed(list.elements.len() as u64)),
                    elem: Some(elem.unwrap_or(Size::fixed(0))),
                    deep: Some(deep),
                    ..Est::default()
                }
            }
            Expr::Map(map) => {
                let mut cost = Cost::fixed(30);
                let mut elem: Option<Size> = None;
                let mut deep: u64 = 1;
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        let (k, v) = (self.est(&me.key), self.est(&me.value));
                        cost = cost.add(k.cost).add(v.cost);
                        let vs = v.size.unwrap_or(self.unknown());
                        elem = Some(elem.map_or(vs, |s| s.union(vs)));
                        deep = deep
                            .saturating_add(self.deep_of(&k))
                            .saturating_add(self.deep_of(&v));
                    }
                }
                if self.eval() {
                    cost = cost.add(Cost::fixed(deep));
                }
                Est {
                    cost,
                    size: Some(Size::fixed(map.entries.len() as u64)),
                    elem: Some(elem.unwrap_or(Size::fixed(0))),
                    deep: Some(deep),
                    ..Est::default()
                }
            }
            Expr::Struct(st) => {
                let mut cost = Cost::fixed(40);
                for entry in &st.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        cost = cost.add(self.est(&f.value).cost);
                    }
                }
                Est {
                    cost,
                    ..Est::default()
                }
            }
            Expr::Comprehension(c) => self.comprehension(e, c),
        }
    }

    fn comprehension(&mut self, e: &IdedExpr, c: &ComprehensionExpr) -> Est {
        let range = self.est(&c.iter_range);
        let init = self.est(&c.accu_init);
        let mark = self.locals.len();
        self.locals.push(Local {
            name: c.accu_var.clone(),
            est: Est {
                cost: Cost::default(),
                ..init.clone()
            },
        });
        let is_map = matches!(self.ty(c.iter_range.id), Ty::Map(..));
        let item = |seg: Seg, elem: Option<Size>| Est {
            path: range.path.as_ref().map(|p| p.child(seg)),
            size: elem,
            ..Est::default()
        };
        let values = item(Seg::Elem, range.elem);
        let keys = item(Seg::Key, None);
        let index = Est {
            size: Some(Size::fixed(1)),
            ..Est::default()
        };
        let (first, second) = match (&c.iter_var2, is_map) {
            (Some(_), true) => (keys, Some(values)),
            (Some(_), false) => (index, Some(values)),
            (None, true) => (keys, None),
            (None, false) => (values, None),
        };
        let cloned = self.deep_of(second.as_ref().unwrap_or(&first));
        self.locals.push(Local {
            name: c.iter_var.clone(),
            est: first,
        });
        if let (Some(v2), Some(est)) = (&c.iter_var2, second) {
            self.locals.push(Local {
                name: v2.clone(),
                est,
            });
        }
        let cond = self.est(&c.loop_cond);
        let step = self.est(&c.loop_step);
        self.locals.truncate(mark + 1);
        let result = self.est(&c.result);
        self.locals.truncate(mark);

        let count = range.size.unwrap_or(self.unknown());
        let mut per_item = cond.cost.add(step.cost);
        if self.eval() {
            // Each element is copied into the iteration variable.
            per_item = per_item.add(Cost::fixed(cloned.saturating_add(1)));
        }
        let cost = range
            .cost
            .add(init.cost)
            .add(result.cost)
            .add(count.cost().mul(per_item));
        let size = match &c.accu_init.expr {
            Expr::List(_) | Expr::Map(_) => Some(count),
            _ => self.size_of(e.id, &None, init.size),
        };
        Est {
            cost,
            size,
            elem: step.elem,
            ..Est::default()
        }
    }

    /// `sets.contains(a, b)` is parsed as a call of `contains` on `sets`:
    /// the function's qualified name, when the target names no variable.
    fn qualified_global(&self, call: &CallExpr) -> Option<String> {
        fn qualified(e: &IdedExpr) -> Option<String> {
            match &e.expr {
                Expr::Ident(n) => Some(n.clone()),
                Expr::Select(s) if !s.test => {
                    Some(format!("{}.{}", qualified(&s.operand)?, s.field))
                }
                _ => None,
            }
        }
        let q = qualified(call.target.as_deref()?)?;
        let root = q.split('.').next().unwrap_or("");
        let known = matches!(root, "self" | "oldSelf")
            || self.local(root).is_some()
            || self.vars.named.iter().any(|(n, _)| *n == root);
        (!known).then(|| format!("{q}.{}", call.func_name))
    }

    fn call(&mut self, e: &IdedExpr, call: &CallExpr) -> Est {
        let global = self.qualified_global(call);
        let (name, target) = match &global {
            Some(full) => (full.as_str(), None),
            None => (call.func_name.as_str(), call.target.as_deref()),
        };
        let target = target.map(|t| self.est(t));
        let args: Vec<Est> = call.args.iter().map(|a| self.est(a)).collect();
        let arg_costs = args
            .iter()
            .chain(target.iter())
            .fold(Cost::default(), |sum, a| sum.add(a.cost));
        let mut out = self.function(e, name, target.as_ref(), &args, arg_costs);
        if self.eval() && CONVERTING.contains(&name) {
            let converted = args
                .iter()
                .chain(target.iter())
                .fold(0u64, |sum, a| sum.saturating_add(self.deep_of(a)));
            out.cost = out.cost.add(Cost::fixed(converted));
        }
        if out.size.is_none() {
            out.size = self.size_of(e.id, &out.path, None);
        }
        out
    }

    /// The cost of the call, given what its arguments cost together
    /// (`arg_costs`), and what is known of its result.
    fn function(
        &mut self,
        e: &IdedExpr,
        name: &str,
        target: Option<&Est>,
        args: &[Est],
        arg_costs: Cost,
    ) -> Est {
        let unknown = self.unknown();
        let size = |x: Option<&Est>| x.and_then(|x| x.size).unwrap_or(unknown);
        let arg = |i: usize| size(args.get(i));
        let recv = size(target);
        let one = Cost::fixed(1);
        let cost = |c: Cost| Est {
            cost: c.add(arg_costs),
            ..Est::default()
        };
        let sized = |c: Cost, s: Size| Est {
            cost: c.add(arg_costs),
            size: Some(s),
            ..Est::default()
        };
        let floor = Cost::fixed(self.floor());
        let ty_of = |this: &Self, i: usize| -> Ty {
            match &e.expr {
                Expr::Call(c) => c.args.get(i).map_or(Ty::Unknown, |a| this.ty(a.id).clone()),
                _ => Ty::Unknown,
            }
        };
        let target_ty = match &e.expr {
            Expr::Call(c) => c
                .target
                .as_ref()
                .map_or(Ty::Unknown, |t| self.ty(t.id).clone()),
            _ => Ty::Unknown,
        };
        // Functions on strings that cel-go counts as constant but that
        // cel-rust runs in linear time.
        let traverse = |s: Size| {
            if self.eval() {
                s.by(STRING_TRAVERSAL)
            } else {
                Cost::default()
            }
        };
        match (name, target.is_some()) {
            ("dyn", false) => {
                let mut a = args.first().cloned().unwrap_or_default();
                a.cost = one.add(arg_costs);
                a
            }
            ("_&&_" | "_||_", false) => {
                // The right side may not run.
                let (l, r) = (
                    args.first().map_or(Cost::default(), |a| a.cost),
                    args.get(1).map_or(Cost::default(), |a| a.cost),
                );
                Est {
                    cost: Cost {
                        min: l.min,
                        max: l.max.saturating_add(r.max),
                    }
                    .add(floor),
                    size: Some(Size::fixed(1)),
                    ..Est::default()
                }
            }
            ("_?_:_", false) => {
                let (t, f) = (
                    args.get(1).cloned().unwrap_or_default(),
                    args.get(2).cloned().unwrap_or_default(),
                );
                let c = args.first().map_or(Cost::default(), |a| a.cost);
                Est {
                    // Only one branch runs.
                    cost: c.add(t.cost.union(f.cost)).add(floor),
                    size: match (t.size, f.size) {
                        (Some(a), Some(b)) => Some(a.union(b)),
                        _ => None,
                    },
                    elem: match (t.elem, f.elem) {
                        (Some(a), Some(b)) => Some(a.union(b)),
                        _ => None,
                    },
                    deep: Some(self.deep_of(&t).max(self.deep_of(&f))),
                    ..Est::default()
                }
            }
            ("_+_", false) => {
                let (l, r) = (arg(0), arg(1));
                let total = l.add(r);
                let string = total.by(STRING_TRAVERSAL);
                let list = if self.eval() {
                    // A copy of both, unless appending to the accumulator
                    // of `map`/`filter`.
                    let appends = matches!(
                        e.expr,
                        Expr::Call(ref c) if matches!(c.args.first().map(|a| &a.expr), Some(Expr::Ident(n)) if n.starts_with('@'))
                    );
                    if appends {
                        r.cost().add(one)
                    } else {
                        total.cost().add(one)
                    }
                } else {
                    one
                };
                let elem = match (
                    args.first().and_then(|a| a.elem),
                    args.get(1).and_then(|a| a.elem),
                ) {
                    (Some(a), Some(b)) => Some(a.union(b)),
                    (a, b) => a.or(b),
                };
                let c = match self.ty(e.id) {
                    Ty::String | Ty::Bytes => string,
                    Ty::List(_) => list,
                    t if loose(t) => string.union(list).union(one),
                    _ => one,
                };
                Est {
                    cost: c.add(arg_costs),
                    size: Some(total),
                    elem,
                    ..Est::default()
                }
            }
            ("_==_" | "_!=_", false) => {
                let (lt, rt) = (ty_of(self, 0), ty_of(self, 1));
                if let (Ty::Opaque(a), Ty::Opaque(b)) = (&lt, &rt)
                    && a == b
                {
                    return cost(if *a == "kubernetes.NamedFormat" {
                        Cost { min: 1, max: 64 }.factor(STRING_TRAVERSAL)
                    } else {
                        one
                    });
                }
                cost(self.compare(args))
            }
            ("_<_" | "_<=_" | "_>_" | "_>=_", false) => {
                let lt = ty_of(self, 0);
                if matches!(lt, Ty::String | Ty::Bytes) || loose(&lt) {
                    cost(self.compare(args))
                } else {
                    cost(one)
                }
            }
            ("@in", false) => match ty_of(self, 1) {
                Ty::Map(..) => cost(one),
                _ => {
                    let mut c = arg(1).cost();
                    if self.eval() {
                        let deep = args.get(1).map_or(u64::MAX, |a| self.deep_of(a));
                        c = c.add(Cost::fixed(deep));
                    }
                    cost(c)
                }
            },
            ("matches", _) => {
                let (s, p) = match target {
                    Some(_) => (recv, arg(0)),
                    None => (arg(0), arg(1)),
                };
                cost(
                    s.add(Size::fixed(1))
                        .by(STRING_TRAVERSAL)
                        .mul(p.by(REGEX_LENGTH)),
                )
            }
            ("contains", true) if matches!(target_ty, Ty::String) || loose(&target_ty) => {
                cost(recv.by(STRING_TRAVERSAL).mul(arg(0).by(STRING_TRAVERSAL)))
            }
            ("startsWith" | "endsWith", true) => cost(arg(0).by(STRING_TRAVERSAL)),
            ("string", false) => match ty_of(self, 0) {
                Ty::String | Ty::Bytes => sized(arg(0).by(STRING_TRAVERSAL), arg(0)),
                // The longest rendering of the value: a double's decimal
                // digits, a timestamp, an IPv6 address or prefix.
                Ty::Int | Ty::Uint | Ty::Bool => sized(one, Size::upto(20)),
                Ty::Timestamp | Ty::Duration | Ty::Opaque(_) => sized(one, Size::upto(64)),
                Ty::Double => sized(one, Size::upto(330)),
                _ => cost(one),
            },
            ("bytes", false) => sized(arg(0).by(STRING_TRAVERSAL), arg(0)),
            ("strings.quote", false) => sized(
                arg(0).by(STRING_TRAVERSAL),
                Size {
                    min: arg(0).min.saturating_add(2),
                    max: arg(0).max.saturating_mul(2).saturating_add(2),
                },
            ),
            ("format", true) => {
                // Its result is not bounded at admission; when evaluating,
                // by the format and the rendering of the arguments.
                let rendered = args
                    .first()
                    .map_or(0, |a| self.deep_of(a).saturating_mul(330));
                let result = match self.mode {
                    Mode::Admission => None,
                    Mode::Evaluation => Some(Size::upto(recv.max.saturating_add(rendered))),
                };
                Est {
                    cost: recv.by(STRING_TRAVERSAL).add(arg_costs),
                    size: result,
                    ..Est::default()
                }
            }
            ("int" | "uint" | "double" | "bool" | "duration" | "timestamp", false) => {
                cost(one.add(traverse(arg(0))))
            }
            ("lowerAscii" | "upperAscii" | "trim" | "substring", true) => {
                sized(recv.by(STRING_TRAVERSAL), recv)
            }
            ("replace", true) => {
                let (s, from, with) = (recv, arg(0), arg(1));
                let max = if from.min == 0 {
                    s.max
                        .saturating_add(1)
                        .saturating_mul(with.max)
                        .saturating_add(s.max)
                } else if with.max <= from.min {
                    s.max
                } else {
                    s.max.div_ceil(from.min).saturating_mul(with.max)
                };
                sized(s.by(2.0 * STRING_TRAVERSAL), Size::upto(max))
            }
            ("split", true) => {
                let max = match call_arg_literal_int(e, 1) {
                    Some(n) if n >= 0 => n as u64,
                    _ => recv.max,
                };
                Est {
                    cost: recv.by(2.0 * STRING_TRAVERSAL).add(arg_costs),
                    size: Some(Size::upto(max)),
                    elem: Some(recv),
                    ..Est::default()
                }
            }
            ("join", true) => {
                let elem = target.and_then(|t| t.elem).or_else(|| {
                    target
                        .and_then(|t| t.path.as_ref())
                        .map(|p| Some(p.child(Seg::Elem)))
                        .and_then(|p| self.path_size(&p))
                });
                let mut s = recv.mul(elem.unwrap_or(unknown));
                if let Some(sep) = args.first().and_then(|a| a.size) {
                    let seps = Size {
                        min: recv.min.saturating_sub(1),
                        max: recv.max.saturating_sub(1),
                    };
                    s = s.add(sep.mul(seps));
                }
                sized(s.by(STRING_TRAVERSAL), s)
            }
            ("find" | "findAll", true) => {
                let c = recv
                    .add(Size::fixed(1))
                    .by(STRING_TRAVERSAL)
                    .mul(arg(0).by(REGEX_LENGTH));
                Est {
                    cost: c.add(arg_costs),
                    size: Some(Size::upto(recv.max)),
                    elem: (name == "findAll").then_some(recv),
                    ..Est::default()
                }
            }
            ("isSorted" | "sum" | "min" | "max" | "indexOf" | "lastIndexOf", true) => {
                match &target_ty {
                    Ty::List(elem_ty) => {
                        let mut per = one;
                        if matches!(**elem_ty, Ty::String | Ty::Bytes) {
                            let elem = target.and_then(|t| t.elem).or_else(|| {
                                self.path_size(
                                    &target
                                        .and_then(|t| t.path.as_ref())
                                        .map(|p| p.child(Seg::Elem)),
                                )
                            });
                            per = per.add(elem.unwrap_or(unknown).by(STRING_TRAVERSAL));
                        }
                        cost(recv.cost().mul(per))
                    }
                    // Strings (and lists of unknown items): a traversal.
                    _ => cost(recv.by(STRING_TRAVERSAL)),
                }
            }
            ("url", false) => sized(arg(0).by(STRING_TRAVERSAL), arg(0)),
            ("isURL" | "quantity" | "isQuantity" | "cidr" | "isIP" | "isCIDR", false) => {
                cost(arg(0).by(STRING_TRAVERSAL))
            }
            ("ip", false) => cost(arg(0).by(STRING_TRAVERSAL)),
            ("ip.isCanonical", false) => cost(arg(0).by(2.0 * STRING_TRAVERSAL)),
            ("containsIP" | "containsCIDR", true) => {
                let mut c = Size { min: 8, max: 32 }.by(STRING_TRAVERSAL);
                if name == "containsCIDR" {
                    c = c
                        .add(Size { min: 4, max: 16 }.by(STRING_TRAVERSAL))
                        .add(one);
                }
                if matches!(ty_of(self, 0), Ty::String) || loose(&ty_of(self, 0)) {
                    c = c.add(arg(0).by(STRING_TRAVERSAL));
                }
                cost(c)
            }
            ("validate", true) => cost(arg(0).by(STRING_TRAVERSAL).factor(128.0 * REGEX_LENGTH)),
            ("sets.contains" | "sets.intersects", false) => {
                cost(arg(0).mul(arg(1)).cost().add(one))
            }
            ("sets.equivalent", false) => cost(arg(0).mul(arg(1)).by(2.0).add(one)),
            ("value" | "orValue", true) => {
                // The optional's content: what is known of the target.
                let mut t = target.cloned().unwrap_or_default();
                t.cost = one.add(arg_costs);
                t
            }
            ("_[_]" | "_[?_]", false) => {
                let container = args.first().cloned().unwrap_or_default();
                let path = container.path.map(|p| p.child(Seg::Elem));
                Est {
                    cost: one.add(arg_costs),
                    size: container.elem.or_else(|| self.path_size(&path)),
                    path,
                    ..Est::default()
                }
            }
            ("_?._", false) => {
                let container = args.first().cloned().unwrap_or_default();
                let field = match call_arg_literal_str(e, 1) {
                    Some(f) => f,
                    None => return cost(one),
                };
                let path = container.path.map(|p| p.child(Seg::Field(field)));
                Est {
                    cost: one.add(arg_costs),
                    size: self.path_size(&path),
                    path,
                    ..Est::default()
                }
            }
            (_, true) if matches!(target_ty, Ty::String) => cost(one.add(traverse(recv))),
            _ => cost(one),
        }
    }

    /// Equality or ordering of two values: kube's 0.1 per element of the
    /// smaller at admission; their smaller deep size when evaluating.
    fn compare(&self, args: &[Est]) -> Cost {
        if self.eval() {
            let deep = args.iter().map(|a| self.deep_of(a)).min().unwrap_or(1);
            return Cost::fixed(deep.saturating_add(1));
        }
        let smallest = args
            .iter()
            .map(|a| a.size.unwrap_or(self.unknown()).max)
            .min()
            .unwrap_or(0);
        Cost {
            min: u64::from(smallest > 0),
            max: smallest,
        }
        .factor(STRING_TRAVERSAL)
    }
}

fn call_arg_literal_int(e: &IdedExpr, i: usize) -> Option<i64> {
    match &e.expr {
        Expr::Call(c) => match c.args.get(i).map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::Int(n))) => Some(*n.inner()),
            _ => None,
        },
        _ => None,
    }
}

fn call_arg_literal_str(e: &IdedExpr, i: usize) -> Option<String> {
    match &e.expr {
        Expr::Call(c) => match c.args.get(i).map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::String(s))) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::check::Checker;
    use crate::cel::compile::ENV;

    fn admission_cost(src: &str, self_ty: Ty, sizes: &SizeTree) -> u64 {
        let (expr, _) = ENV.parser().parse_with_source_info(src).expect("parses");
        let offsets = |_: u64| None;
        let mut checker = Checker::new(vec![("self".into(), self_ty)], &offsets);
        checker.check(&expr);
        assert!(checker.issues.is_empty(), "{src}: {:?}", checker.issues);
        let vars = Vars {
            self_: Some(sizes),
            old_self: Some(sizes),
            named: &[],
        };
        estimate(&expr, &checker.types, &vars, Mode::Admission).max
    }

    /// Maximum costs cel-go's estimator gives the same expressions, with
    /// `self` a string of at most 4000 or a list of at most 1048575 strings
    /// of unknown size.
    #[test]
    fn admission_costs_are_cel_go_s() {
        let string = SizeTree {
            size: 4000,
            ..SizeTree::default()
        };
        for (src, want) in [
            ("self.contains(self)", 160_002),
            ("self.matches('^[a-z]+$')", 803),
            ("self == 'a' || self == 'b'", 4),
            ("self.startsWith('abc') && self.endsWith('x')", 4),
            ("self + 'x' == 'y'", 403),
            ("self.size() < 10", 3),
            ("self in ['a', 'b']", 13),
            ("int(self) > 1", 3),
            ("self < 'm'", 2),
        ] {
            assert_eq!(admission_cost(src, Ty::String, &string), want, "{src}");
        }
        let list = SizeTree {
            size: 1_048_575,
            ..SizeTree::default()
        };
        let strings = Ty::List(Box::new(Ty::String));
        for (src, want) in [
            ("self.all(i, i.size() < 64)", 6_291_452),
            (
                "['a','b'].exists(p, self.all(n, n.startsWith(p)))",
                12_582_923,
            ),
            ("self.filter(x, x.startsWith('a')).size() > 0", 15_728_639),
            ("self.exists_one(x, x == 'a')", 4_194_303),
            ("self.map(x, x + 'a').size() > 0", u64::MAX),
            ("self.all(x, self.all(y, x == y))", u64::MAX),
            ("size(self) < 5", 3),
            ("'a' in self", 1_048_576),
            ("self.exists(x, x == 'a')", 6_291_452),
            ("self[0] == 'a'", 3),
        ] {
            assert_eq!(admission_cost(src, strings.clone(), &list), want, "{src}");
        }
    }
}
