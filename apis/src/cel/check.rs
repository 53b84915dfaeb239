//! A static type checker for rules, standing in for cel-go's checker (which
//! cel-rust does not have).
//!
//! It types the parsed AST against the declared type of `self`/`oldSelf`
//! (derived from the schema exactly as `SchemaDeclType` does) and reports,
//! in cel-go's words, the compile errors CRD authors actually hit:
//! `undeclared reference to 'x' (in container '')`, `undefined field 'x'`,
//! `found no matching overload for 'f' applied to '(int, string)'`,
//! `type 'int' does not support field selection`; the caller then checks the
//! result type (`cel expression must evaluate to a bool`, `messageExpression
//! must evaluate to a string`).
//!
//! Soundness trade-off: the checker must never reject a rule kube-apiserver
//! accepts. Wherever it cannot be sure, it types an expression as
//! [`Ty::Unknown`], which matches anything and is never an error (unlike
//! [`Ty::Dyn`], which is a real CEL type: a rule of type `dyn` is rejected
//! as not a bool, as upstream does).

use super::escaping::escape;
use super::schema::Node;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// The checker could not tell: accepted everywhere.
    Unknown,
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Type,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    /// An object with declared (escaped) fields.
    Object(Arc<BTreeMap<String, Ty>>),
    Optional(Box<Ty>),
    /// A Kubernetes library type, by its CEL name.
    Opaque(&'static str),
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Unknown | Ty::Dyn => write!(f, "dyn"),
            Ty::Null => write!(f, "null_type"),
            Ty::Bool => write!(f, "bool"),
            Ty::Int => write!(f, "int"),
            Ty::Uint => write!(f, "uint"),
            Ty::Double => write!(f, "double"),
            Ty::String => write!(f, "string"),
            Ty::Bytes => write!(f, "bytes"),
            Ty::Duration => write!(f, "google.protobuf.Duration"),
            Ty::Timestamp => write!(f, "google.protobuf.Timestamp"),
            Ty::Type => write!(f, "type"),
            Ty::List(e) => write!(f, "list({e})"),
            Ty::Map(k, v) => write!(f, "map({k}, {v})"),
            Ty::Object(_) => write!(f, "object"),
            Ty::Optional(t) => write!(f, "optional_type({t})"),
            Ty::Opaque(n) => write!(f, "{n}"),
        }
    }
}

/// The stack a recursion step needs left, and the size of the stack it
/// switches to when it has less.
pub(crate) const RED_ZONE: usize = 128 * 1024;
pub(crate) const GROWN_STACK: usize = 1 << 20;

const URL: &str = "kubernetes.URL";
const IP: &str = "net.IP";
const CIDR: &str = "net.CIDR";
const QUANTITY: &str = "kubernetes.Quantity";
const FORMAT: &str = "kubernetes.NamedFormat";

/// The CEL type of data described by `s`, or `None` when the schema is not
/// exposed to rules (`SchemaDeclType`).
pub fn decl_type(s: &Node, resource_root: bool) -> Option<Ty> {
    if s.int_or_string {
        return Some(Ty::Dyn);
    }
    let owned;
    let s = if resource_root {
        owned = s.with_type_and_object_meta();
        &owned
    } else {
        s
    };
    match s.ty.as_str() {
        "array" => {
            let items = s.items.as_ref()?;
            Some(Ty::List(Box::new(decl_type(items, items.embedded)?)))
        }
        "object" => {
            if let Some(ap) = &s.additional {
                return Some(Ty::Map(
                    Box::new(Ty::String),
                    Box::new(decl_type(ap, ap.embedded)?),
                ));
            }
            let mut fields = BTreeMap::new();
            for (name, prop) in s.properties.iter().flatten() {
                if let (Some(t), Some(esc)) = (decl_type(prop, prop.embedded), escape(name)) {
                    fields.insert(esc, t);
                }
            }
            Some(Ty::Object(Arc::new(fields)))
        }
        "string" => Some(match s.format.as_str() {
            "byte" => Ty::Bytes,
            "duration" => Ty::Duration,
            "date" | "date-time" => Ty::Timestamp,
            _ => Ty::String,
        }),
        "boolean" => Some(Ty::Bool),
        "number" => Some(Ty::Double),
        "integer" => Some(Ty::Int),
        _ => None,
    }
}

/// One compile error: byte offset into the source and message.
#[derive(Debug, Clone)]
pub struct Issue {
    pub offset: usize,
    pub message: String,
}

pub struct Checker<'a> {
    vars: Vec<(String, Ty)>,
    offsets: &'a dyn Fn(u64) -> Option<usize>,
    pub issues: Vec<Issue>,
    /// The type of every node checked, by id: the cost estimator's input.
    pub types: HashMap<u64, Ty>,
}

/// Type patterns of overload signatures: `A`/`B` are type parameters.
#[derive(Clone, Debug)]
enum P {
    T(Ty),
    A,
    B,
    List(Box<P>),
    Map(Box<P>, Box<P>),
    Opt(Box<P>),
}

fn l(p: P) -> P {
    P::List(Box::new(p))
}
fn t(t: Ty) -> P {
    P::T(t)
}

struct Sig {
    args: Vec<P>,
    result: P,
}

fn sig(args: Vec<P>, result: P) -> Sig {
    Sig { args, result }
}

/// The overloads of `name` called as a member (`member`) or globally; `None`
/// if no such function is declared.
fn signatures(name: &str, member: bool) -> Option<Vec<Sig>> {
    use Ty::*;
    let s = || t(String);
    let i = || t(Int);
    let b = || t(Bool);
    let num = [Int, Uint, Double];
    let cmp_types = [Int, Uint, Double, String, Bytes, Bool, Timestamp, Duration];
    let same = |tys: &[Ty], res: Option<Ty>| -> Vec<Sig> {
        tys.iter()
            .map(|x| {
                sig(
                    vec![t(x.clone()), t(x.clone())],
                    t(res.clone().unwrap_or(x.clone())),
                )
            })
            .collect()
    };
    let unary = |recv: Ty, res: Ty| vec![sig(vec![t(recv)], t(res))];
    let sigs = match (name, member) {
        ("_+_", false) => {
            let mut v = same(&[Int, Uint, Double, String, Bytes, Duration], None);
            v.push(sig(vec![l(P::A), l(P::A)], l(P::A)));
            v.push(sig(vec![t(Timestamp), t(Duration)], t(Timestamp)));
            v.push(sig(vec![t(Duration), t(Timestamp)], t(Timestamp)));
            v
        }
        ("_-_", false) => {
            let mut v = same(&[Int, Uint, Double, Duration], None);
            v.push(sig(vec![t(Timestamp), t(Timestamp)], t(Duration)));
            v.push(sig(vec![t(Timestamp), t(Duration)], t(Timestamp)));
            v
        }
        ("_*_" | "_/_", false) => same(&num, None),
        ("_%_", false) => same(&[Int, Uint], None),
        ("-_", false) => vec![sig(vec![i()], i()), sig(vec![t(Double)], t(Double))],
        ("!_", false) => vec![sig(vec![b()], b())],
        ("_&&_" | "_||_", false) => vec![sig(vec![b(), b()], b())],
        ("@not_strictly_false", false) => vec![sig(vec![b()], b())],
        ("_<_" | "_<=_" | "_>_" | "_>=_", false) => {
            let mut v = same(&cmp_types, Some(Bool));
            for x in &num {
                for y in &num {
                    if x != y {
                        v.push(sig(vec![t(x.clone()), t(y.clone())], b()));
                    }
                }
            }
            v
        }
        ("_==_" | "_!=_", false) => vec![sig(vec![P::A, P::A], b())],
        ("_?_:_", false) => vec![sig(vec![b(), P::A, P::A], P::A)],
        ("_[_]", false) => vec![
            sig(vec![l(P::A), i()], P::A),
            sig(vec![P::Map(Box::new(P::A), Box::new(P::B)), P::A], P::B),
            sig(vec![P::Opt(Box::new(l(P::A))), i()], P::Opt(Box::new(P::A))),
            sig(
                vec![
                    P::Opt(Box::new(P::Map(Box::new(P::A), Box::new(P::B)))),
                    P::A,
                ],
                P::Opt(Box::new(P::B)),
            ),
        ],
        ("_[?_]", false) => vec![
            sig(vec![l(P::A), i()], P::Opt(Box::new(P::A))),
            sig(
                vec![P::Map(Box::new(P::A), Box::new(P::B)), P::A],
                P::Opt(Box::new(P::B)),
            ),
            sig(vec![P::Opt(Box::new(l(P::A))), i()], P::Opt(Box::new(P::A))),
            sig(
                vec![
                    P::Opt(Box::new(P::Map(Box::new(P::A), Box::new(P::B)))),
                    P::A,
                ],
                P::Opt(Box::new(P::B)),
            ),
        ],
        ("@in", false) => vec![
            sig(vec![P::A, l(P::A)], b()),
            sig(vec![P::A, P::Map(Box::new(P::A), Box::new(P::B))], b()),
        ],
        ("size", _) => vec![
            sig(vec![s()], i()),
            sig(vec![t(Bytes)], i()),
            sig(vec![l(P::A)], i()),
            sig(vec![P::Map(Box::new(P::A), Box::new(P::B))], i()),
        ],
        ("int", false) => [Int, Uint, Double, String, Timestamp, Duration]
            .into_iter()
            .map(|x| sig(vec![t(x)], i()))
            .collect(),
        ("uint", false) => [Int, Uint, Double, String]
            .into_iter()
            .map(|x| sig(vec![t(x)], t(Uint)))
            .collect(),
        ("double", false) => [Int, Uint, Double, String]
            .into_iter()
            .map(|x| sig(vec![t(x)], t(Double)))
            .collect(),
        ("string", false) => [
            Int,
            Uint,
            Double,
            Bool,
            Bytes,
            String,
            Timestamp,
            Duration,
            Opaque(IP),
            Opaque(CIDR),
        ]
        .into_iter()
        .map(|x| sig(vec![t(x)], s()))
        .collect(),
        ("bytes", false) => vec![sig(vec![s()], t(Bytes)), sig(vec![t(Bytes)], t(Bytes))],
        ("bool", false) => vec![sig(vec![s()], b()), sig(vec![b()], b())],
        ("duration", false) => vec![
            sig(vec![s()], t(Duration)),
            sig(vec![t(Duration)], t(Duration)),
        ],
        ("timestamp", false) => vec![
            sig(vec![s()], t(Timestamp)),
            sig(vec![i()], t(Timestamp)),
            sig(vec![t(Timestamp)], t(Timestamp)),
        ],
        ("dyn", false) => vec![sig(vec![P::A], t(Dyn))],
        ("type", false) => vec![sig(vec![P::A], t(Type))],
        ("contains" | "startsWith" | "endsWith", true) => vec![sig(vec![s(), s()], b())],
        ("matches", _) => vec![sig(vec![s(), s()], b())],
        (
            "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate"
            | "getDayOfWeek",
            true,
        ) => vec![
            sig(vec![t(Timestamp)], i()),
            sig(vec![t(Timestamp), s()], i()),
        ],
        ("getHours" | "getMinutes" | "getSeconds" | "getMilliseconds", true) => vec![
            sig(vec![t(Timestamp)], i()),
            sig(vec![t(Timestamp), s()], i()),
            sig(vec![t(Duration)], i()),
        ],
        // strings extension (v2)
        ("charAt", true) => vec![sig(vec![s(), i()], s())],
        ("indexOf" | "lastIndexOf", true) => vec![
            sig(vec![s(), s()], i()),
            sig(vec![s(), s(), i()], i()),
            sig(vec![l(P::A), P::A], i()),
        ],
        ("lowerAscii" | "upperAscii" | "trim", true) => unary(String, String),
        ("replace", true) => vec![
            sig(vec![s(), s(), s()], s()),
            sig(vec![s(), s(), s(), i()], s()),
        ],
        ("split", true) => vec![
            sig(vec![s(), s()], l(s())),
            sig(vec![s(), s(), i()], l(s())),
        ],
        ("substring", true) => vec![sig(vec![s(), i()], s()), sig(vec![s(), i(), i()], s())],
        ("join", true) => vec![sig(vec![l(s())], s()), sig(vec![l(s()), s()], s())],
        ("strings.quote", false) => vec![sig(vec![s()], s())],
        ("format", true) => vec![sig(vec![s(), l(t(Dyn))], s()), sig(vec![s(), l(P::A)], s())],
        // Kubernetes lists
        ("isSorted", true) => vec![sig(vec![l(P::A)], b())],
        ("sum" | "min" | "max", true) => vec![sig(vec![l(P::A)], P::A)],
        // regex
        ("find", true) => vec![sig(vec![s(), s()], s())],
        ("findAll", true) => vec![
            sig(vec![s(), s()], l(s())),
            sig(vec![s(), s(), i()], l(s())),
        ],
        // sets
        ("sets.contains" | "sets.equivalent" | "sets.intersects", false) => {
            vec![sig(vec![l(P::A), l(P::A)], b())]
        }
        // urls
        ("url", false) => vec![sig(vec![s()], t(Opaque(URL)))],
        ("isURL", false) => vec![sig(vec![s()], b())],
        ("getScheme" | "getHost" | "getHostname" | "getPort" | "getEscapedPath", true) => {
            unary(Opaque(URL), String)
        }
        ("getQuery", true) => vec![sig(
            vec![t(Opaque(URL))],
            t(Map(Box::new(String), Box::new(List(Box::new(String))))),
        )],
        // quantity
        ("quantity", false) => vec![sig(vec![s()], t(Opaque(QUANTITY)))],
        ("isQuantity", false) => vec![sig(vec![s()], b())],
        ("sign", true) => unary(Opaque(QUANTITY), Int),
        ("isInteger", true) => unary(Opaque(QUANTITY), Bool),
        ("asInteger", true) => unary(Opaque(QUANTITY), Int),
        ("asApproximateFloat", true) => unary(Opaque(QUANTITY), Double),
        ("add" | "sub", true) => vec![
            sig(
                vec![t(Opaque(QUANTITY)), t(Opaque(QUANTITY))],
                t(Opaque(QUANTITY)),
            ),
            sig(vec![t(Opaque(QUANTITY)), i()], t(Opaque(QUANTITY))),
        ],
        ("isGreaterThan" | "isLessThan", true) => {
            vec![sig(vec![t(Opaque(QUANTITY)), t(Opaque(QUANTITY))], b())]
        }
        ("compareTo", true) => vec![sig(vec![t(Opaque(QUANTITY)), t(Opaque(QUANTITY))], i())],
        // ip / cidr
        ("ip", false) => vec![sig(vec![s()], t(Opaque(IP)))],
        ("isIP" | "ip.isCanonical" | "isCIDR", false) => vec![sig(vec![s()], b())],
        ("family", true) => unary(Opaque(IP), Int),
        (
            "isUnspecified"
            | "isLoopback"
            | "isLinkLocalMulticast"
            | "isLinkLocalUnicast"
            | "isGlobalUnicast",
            true,
        ) => unary(Opaque(IP), Bool),
        ("cidr", false) => vec![sig(vec![s()], t(Opaque(CIDR)))],
        ("containsIP", true) => vec![
            sig(vec![t(Opaque(CIDR)), t(Opaque(IP))], b()),
            sig(vec![t(Opaque(CIDR)), s()], b()),
        ],
        ("containsCIDR", true) => vec![
            sig(vec![t(Opaque(CIDR)), t(Opaque(CIDR))], b()),
            sig(vec![t(Opaque(CIDR)), s()], b()),
        ],
        ("ip", true) => unary(Opaque(CIDR), Opaque(IP)),
        ("masked", true) => unary(Opaque(CIDR), Opaque(CIDR)),
        ("prefixLength", true) => unary(Opaque(CIDR), Int),
        // format
        (
            "format.dns1123Label"
            | "format.dns1123Subdomain"
            | "format.dns1035Label"
            | "format.qualifiedName"
            | "format.dns1123LabelPrefix"
            | "format.dns1123SubdomainPrefix"
            | "format.dns1035LabelPrefix"
            | "format.labelValue"
            | "format.uri"
            | "format.uuid"
            | "format.byte"
            | "format.date"
            | "format.datetime",
            false,
        ) => vec![sig(vec![], t(Opaque(FORMAT)))],
        ("format.named", false) => vec![sig(vec![s()], t(Optional(Box::new(Opaque(FORMAT)))))],
        ("validate", true) => vec![sig(
            vec![t(Opaque(FORMAT)), s()],
            t(Optional(Box::new(List(Box::new(String))))),
        )],
        // optionals
        ("optional.of" | "optional.ofNonZeroValue", false) => {
            vec![sig(vec![P::A], P::Opt(Box::new(P::A)))]
        }
        ("optional.none", false) => vec![sig(vec![], t(Optional(Box::new(Dyn))))],
        ("hasValue", true) => vec![sig(vec![P::Opt(Box::new(P::A))], b())],
        ("value", true) => vec![sig(vec![P::Opt(Box::new(P::A))], P::A)],
        ("orValue", true) => vec![sig(vec![P::Opt(Box::new(P::A)), P::A], P::A)],
        ("or", true) => vec![sig(
            vec![P::Opt(Box::new(P::A)), P::Opt(Box::new(P::A))],
            P::Opt(Box::new(P::A)),
        )],
        _ => return None,
    };
    Some(sigs)
}

type Bindings = [Option<Ty>; 2];

fn is_loose(t: &Ty) -> bool {
    matches!(t, Ty::Unknown | Ty::Dyn)
}

fn unify(p: &P, ty: &Ty, b: &mut Bindings) -> bool {
    if is_loose(ty) {
        return true;
    }
    match p {
        P::T(want) => want == ty || matches!(want, Ty::Dyn) || assignable(want, ty),
        P::A | P::B => {
            let slot = &mut b[usize::from(matches!(p, P::B))];
            match slot {
                None => {
                    *slot = Some(ty.clone());
                    true
                }
                Some(bound) if is_loose(bound) => {
                    *slot = Some(ty.clone());
                    true
                }
                Some(bound) => same_type(bound, ty),
            }
        }
        P::List(e) => match ty {
            Ty::List(et) => unify(e, et, b),
            _ => false,
        },
        P::Map(k, v) => match ty {
            Ty::Map(kt, vt) => unify(k, kt, b) && unify(v, vt, b),
            _ => false,
        },
        P::Opt(e) => match ty {
            Ty::Optional(et) => unify(e, et, b),
            _ => false,
        },
    }
}

/// `null` may stand where an object, optional or dyn is expected.
fn assignable(want: &Ty, got: &Ty) -> bool {
    matches!(got, Ty::Null) && matches!(want, Ty::Object(_) | Ty::Optional(_) | Ty::Null)
}

/// Type equality for parameter binding, with loose parts matching anything.
fn same_type(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (x, y) if is_loose(x) || is_loose(y) => true,
        (Ty::Null, Ty::Object(_) | Ty::Optional(_))
        | (Ty::Object(_) | Ty::Optional(_), Ty::Null) => true,
        (Ty::List(x), Ty::List(y)) => same_type(x, y),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => same_type(k1, k2) && same_type(v1, v2),
        (Ty::Optional(x), Ty::Optional(y)) => same_type(x, y),
        (Ty::Object(x), Ty::Object(y)) => Arc::ptr_eq(x, y) || x == y,
        (x, y) => x == y,
    }
}

fn subst(p: &P, b: &Bindings, loose: &Ty) -> Ty {
    match p {
        P::T(t) => t.clone(),
        P::A => b[0].clone().unwrap_or_else(|| loose.clone()),
        P::B => b[1].clone().unwrap_or_else(|| loose.clone()),
        P::List(e) => Ty::List(Box::new(subst(e, b, loose))),
        P::Map(k, v) => Ty::Map(Box::new(subst(k, b, loose)), Box::new(subst(v, b, loose))),
        P::Opt(e) => Ty::Optional(Box::new(subst(e, b, loose))),
    }
}

impl<'a> Checker<'a> {
    pub fn new(vars: Vec<(String, Ty)>, offsets: &'a dyn Fn(u64) -> Option<usize>) -> Self {
        Checker {
            vars,
            offsets,
            issues: Vec::new(),
            types: HashMap::new(),
        }
    }

    fn issue(&mut self, id: u64, message: String) {
        let offset = (self.offsets)(id).unwrap_or(0);
        self.issues.push(Issue { offset, message });
    }

    fn lookup(&self, name: &str) -> Option<Ty> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    }

    pub fn check(&mut self, e: &IdedExpr) -> Ty {
        // One frame per tree level: the bounds keep the tree shallow, but a
        // debug build's frames are large.
        let ty = stacker::maybe_grow(RED_ZONE, GROWN_STACK, || self.check_node(e));
        self.types.insert(e.id, ty.clone());
        ty
    }

    fn check_node(&mut self, e: &IdedExpr) -> Ty {
        match &e.expr {
            Expr::Unspecified => Ty::Unknown,
            Expr::Literal(lit) => match lit {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::Uint,
            },
            Expr::Ident(name) => self.ident(e.id, name),
            Expr::Select(sel) => {
                // A qualified name may be a namespaced function or type
                // (`format.dns1123Label` is only ever called): names we do
                // not know rooted at an unknown identifier are reported by
                // the identifier.
                let operand = self.check(&sel.operand);
                let field = self.select(e.id, &operand, &sel.field);
                if sel.test { Ty::Bool } else { field }
            }
            Expr::Call(call) => self.call(e, call),
            Expr::List(list) => {
                let mut elem: Option<Ty> = None;
                for (i, el) in list.elements.iter().enumerate() {
                    let mut t = self.check(el);
                    if list.optional_indices.contains(&i)
                        && let Ty::Optional(inner) = t
                    {
                        t = *inner;
                    }
                    elem = Some(join(elem, t));
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Unknown)))
            }
            Expr::Map(map) => {
                let mut kt: Option<Ty> = None;
                let mut vt: Option<Ty> = None;
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        let k = self.check(&me.key);
                        let mut v = self.check(&me.value);
                        if me.optional
                            && let Ty::Optional(inner) = v
                        {
                            v = *inner;
                        }
                        kt = Some(join(kt, k));
                        vt = Some(join(vt, v));
                    }
                }
                Ty::Map(
                    Box::new(kt.unwrap_or(Ty::Unknown)),
                    Box::new(vt.unwrap_or(Ty::Unknown)),
                )
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.check(&f.value);
                    }
                }
                Ty::Unknown
            }
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range);
                let (var1, var2) = match &range {
                    Ty::List(e) => {
                        if c.iter_var2.is_some() {
                            (Ty::Int, (**e).clone())
                        } else {
                            ((**e).clone(), Ty::Unknown)
                        }
                    }
                    Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
                    Ty::Unknown | Ty::Dyn => (range.clone(), range.clone()),
                    other => {
                        self.issue(
                            c.iter_range.id,
                            format!("expression of type '{other}' cannot be range of a comprehension (must be list, map, or dynamic)"),
                        );
                        (Ty::Unknown, Ty::Unknown)
                    }
                };
                let accu = self.check(&c.accu_init);
                let depth = self.vars.len();
                self.vars.push((c.accu_var.clone(), accu.clone()));
                self.vars.push((c.iter_var.clone(), var1));
                if let Some(v2) = &c.iter_var2 {
                    self.vars.push((v2.clone(), var2));
                }
                self.check(&c.loop_cond);
                let step = self.check(&c.loop_step);
                self.vars.truncate(depth);
                // The accumulator takes the step's type where the initial
                // value left it open (`[]` in `map`/`filter`).
                let accu_ty = join(Some(accu), step);
                self.vars.push((c.accu_var.clone(), accu_ty));
                let result = self.check(&c.result);
                self.vars.truncate(depth);
                result
            }
        }
    }

    fn ident(&mut self, id: u64, name: &str) -> Ty {
        if let Some(t) = self.lookup(name) {
            return t;
        }
        match name {
            "int" | "uint" | "double" | "bool" | "string" | "bytes" | "list" | "map"
            | "null_type" | "type" | "dyn" => Ty::Type,
            "google.protobuf.Timestamp" | "google.protobuf.Duration" => Ty::Type,
            _ => {
                self.issue(
                    id,
                    format!("undeclared reference to '{name}' (in container '')"),
                );
                Ty::Unknown
            }
        }
    }

    fn select(&mut self, id: u64, operand: &Ty, field: &str) -> Ty {
        match operand {
            Ty::Unknown => Ty::Unknown,
            Ty::Dyn => Ty::Dyn,
            Ty::Object(fields) => match fields.get(field) {
                Some(t) => t.clone(),
                None => {
                    self.issue(id, format!("undefined field '{field}'"));
                    Ty::Unknown
                }
            },
            Ty::Map(k, v) if is_loose(k) || **k == Ty::String => (**v).clone(),
            // Selecting on an optional chains: `a.?b.c` is optional too.
            Ty::Optional(inner) => {
                let inner = (**inner).clone();
                Ty::Optional(Box::new(self.select(id, &inner, field)))
            }
            other => {
                self.issue(
                    id,
                    format!("type '{other}' does not support field selection"),
                );
                Ty::Unknown
            }
        }
    }

    fn call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Ty {
        // `a.?b`: the field is a string literal argument.
        if call.func_name == "_?._" && call.args.len() == 2 {
            let operand = self.check(&call.args[0]);
            let field = match &call.args[1].expr {
                Expr::Literal(LiteralValue::String(s)) => s.to_string(),
                _ => return Ty::Unknown,
            };
            let base = match operand {
                Ty::Optional(inner) => *inner,
                other => other,
            };
            let t = self.select(e.id, &base, &field);
            return Ty::Optional(Box::new(t));
        }
        // A namespaced global written as a member call on a name:
        // `sets.contains(a, b)`, `format.dns1123Label()`, `optional.of(x)`.
        let (name, target) = match &call.target {
            Some(target) => match qualified(target) {
                Some(q) if self.lookup(q.split('.').next().unwrap_or("")).is_none() => {
                    let full = format!("{q}.{}", call.func_name);
                    if signatures(&full, false).is_some() {
                        (full, None)
                    } else {
                        (call.func_name.clone(), Some(target))
                    }
                }
                _ => (call.func_name.clone(), Some(target)),
            },
            None => (call.func_name.clone(), None),
        };
        let member = target.is_some();
        let mut arg_tys = Vec::new();
        if let Some(t) = target {
            arg_tys.push(self.check(t));
        }
        for a in &call.args {
            arg_tys.push(self.check(a));
        }
        let Some(sigs) = signatures(&name, member) else {
            // Member calls on loose receivers might be anything the
            // library has; a global we do not know is undeclared.
            if member && signatures(&name, !member).is_some() {
                return self.no_overload(e.id, &name, member, &arg_tys);
            }
            self.issue(
                e.id,
                format!("undeclared reference to '{name}' (in container '')"),
            );
            return Ty::Unknown;
        };
        let loose_args = arg_tys.iter().any(|t| matches!(t, Ty::Unknown));
        let loose = if loose_args { Ty::Unknown } else { Ty::Dyn };
        let mut results = Vec::new();
        for s in &sigs {
            if s.args.len() != arg_tys.len() {
                continue;
            }
            let mut b: Bindings = [None, None];
            if s.args
                .iter()
                .zip(&arg_tys)
                .all(|(p, t)| unify(p, t, &mut b))
            {
                results.push(subst(&s.result, &b, &loose));
            }
        }
        match results.len() {
            0 => self.no_overload(e.id, &name, member, &arg_tys),
            1 => results.pop().unwrap_or(Ty::Unknown),
            _ => {
                let first = results[0].clone();
                if results.iter().all(|r| same_type(r, &first)) {
                    first
                } else {
                    loose
                }
            }
        }
    }

    fn no_overload(&mut self, id: u64, name: &str, member: bool, args: &[Ty]) -> Ty {
        let shown: Vec<String> = args.iter().map(|t| t.to_string()).collect();
        let applied = if member && !shown.is_empty() {
            format!("{}.({})", shown[0], shown[1..].join(", "))
        } else {
            format!("({})", shown.join(", "))
        };
        self.issue(
            id,
            format!("found no matching overload for '{name}' applied to '{applied}'"),
        );
        Ty::Unknown
    }
}

/// `a.b.c` spelled by an identifier and selections.
fn qualified(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(n) => Some(n.clone()),
        Expr::Select(s) if !s.test => Some(format!("{}.{}", qualified(&s.operand)?, s.field)),
        _ => None,
    }
}

/// The common type of list elements / branches: differing types make `dyn`
/// (cel-go would reject heterogeneous literals; we stay lenient).
fn join(prev: Option<Ty>, next: Ty) -> Ty {
    match prev {
        None => next,
        Some(p) if is_loose(&p) => next,
        Some(p) if is_loose(&next) || same_type(&p, &next) => p,
        Some(_) => Ty::Unknown,
    }
}
