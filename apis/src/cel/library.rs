//! The Kubernetes CEL environment: cel-rust's standard library and strings
//! extension, plus the Kubernetes extension libraries of kube-apiserver 1.33
//! (`k8s.io/apiserver/pkg/cel/library`) and cel-go's `ext.Sets`.
//!
//! Every Kubernetes function is registered as an overload taking `dyn`
//! arguments and dispatches on the runtime values itself; the static checker
//! ([`super::check`]) knows their real signatures. Implementations work on
//! owned [`cel::Value`]s: arguments are converted in, the result out. Values
//! of the Kubernetes opaque types (`URL`, `IP`, `CIDR`, `Quantity`, `Format`)
//! are [`Value::Opaque`] wrappers defined here.
//!
//! Errors are [`ExecutionError::FunctionError`]s whose message is what cel-go
//! reports; the evaluator shows only that message.
//!
//! Registered overloads must come after the standard ones: for a name both
//! define (`indexOf`, `string`) the first matching overload wins, and the
//! typed standard overloads must get their chance before these catch-alls.
//!
//! Regular expressions (`matches`, `find`, `findAll`; cel-rust's own
//! `matches` is left out by building it without its `regex` feature) are
//! compiled with RE2's meaning of the Perl classes, as cel-go's Go `regexp`
//! has it (`\d`, `\s`, `\w` are ASCII; Unicode classes are bigger by
//! orders of magnitude once compiled), at most [`REGEX_SIZE_LIMIT`] bytes
//! compiled (a rule's pattern is data: an unbounded one can take a tenth of
//! a second and megabytes to compile), and kept in a cache of at most
//! [`REGEX_CACHE_ENTRIES`] patterns, so that a rule does not recompile its
//! pattern for every value it checks. An object whose rules use more
//! distinct patterns than the cache holds recompiles them, each bounded by
//! the size limit (about 10 ms).

use cel::common::types::DYN_TYPE;
use cel::common::value::CowVal;
use cel::objects::{Key, Map, Opaque, OptionalValue};
use cel::{Env, ExecutionError, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

type Res = Result<Value, ExecutionError>;

fn err(function: &str, msg: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, msg)
}

fn no_overload(function: &str, args: &[Value]) -> ExecutionError {
    let types: Vec<String> = args.iter().map(type_name).collect();
    ExecutionError::no_such_overload(function, types)
}

pub fn type_name(v: &Value) -> String {
    match v {
        Value::List(_) => "list".into(),
        Value::Map(_) => "map".into(),
        Value::Int(_) => "int".into(),
        Value::UInt(_) => "uint".into(),
        Value::Float(_) => "double".into(),
        Value::String(_) => "string".into(),
        Value::Bytes(_) => "bytes".into(),
        Value::Bool(_) => "bool".into(),
        Value::Duration(_) => "google.protobuf.Duration".into(),
        Value::Timestamp(_) => "google.protobuf.Timestamp".into(),
        Value::Null => "null_type".into(),
        Value::Opaque(o) => o.runtime_type_name().to_string(),
        _ => "dyn".into(),
    }
}

/// Runs `imp` on the arguments of an overload call.
fn call<'b, 'v>(
    name: &str,
    args: &[CowVal<'b, 'v>],
    imp: fn(&str, &[Value]) -> Res,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let values = args
        .iter()
        .map(|a| Value::try_from(a.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let out = imp(name, &values)?;
    let boxed: Box<dyn cel::common::value::Val> = out.try_into()?;
    Ok(CowVal::Owned(boxed))
}

macro_rules! overload {
    ($env:expr, member $name:literal, $n:literal, $imp:path) => {{
        fn wrapper<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
            call($name, &args, $imp)
        }
        $env.add_member_overload(
            $name,
            concat!("k8s_member_", $name, "_", $n),
            DYN_TYPE.to_owned(),
            (0..$n).map(|_| DYN_TYPE.to_owned()).collect(),
            wrapper,
        )
        .expect(concat!("declare ", $name));
    }};
    ($env:expr, global $name:literal, $n:literal, $imp:path) => {{
        fn wrapper<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
            call($name, &args, $imp)
        }
        $env.add_overload(
            $name,
            concat!("k8s_global_", $name, "_", $n),
            (0..$n).map(|_| DYN_TYPE.to_owned()).collect(),
            wrapper,
        )
        .expect(concat!("declare ", $name));
    }};
}

/// `format.<name>()`: one zero-argument overload per format, each its own
/// function since an overload is not told the name it was called by.
macro_rules! format_constructors {
    ($env:expr, $($n:literal),*) => {$({
        fn wrapper<'b, 'v>(
            _args: Vec<CowVal<'b, 'v>>,
        ) -> Result<CowVal<'b, 'v>, ExecutionError> {
            let boxed: Box<dyn cel::common::value::Val> =
                Value::Opaque(Arc::new(Format($n))).try_into()?;
            Ok(CowVal::Owned(boxed))
        }
        $env.add_overload(concat!("format.", $n), concat!("k8s_format_", $n), vec![], wrapper)
            .expect("declare format");
    })*};
}

/// The environment every rule and messageExpression runs in.
pub fn environment() -> Env {
    let mut env = Env::stdlib();
    cel::extensions::strings(&mut env).expect("strings extension");
    // lists
    overload!(env, member "isSorted", 0, is_sorted);
    overload!(env, member "sum", 0, sum);
    overload!(env, member "min", 0, min_max);
    overload!(env, member "max", 0, min_max);
    overload!(env, member "indexOf", 1, index_of);
    overload!(env, member "lastIndexOf", 1, index_of);
    // regex
    overload!(env, member "matches", 1, matches);
    overload!(env, global "matches", 2, matches);
    overload!(env, member "find", 1, find);
    overload!(env, member "findAll", 1, find_all);
    overload!(env, member "findAll", 2, find_all);
    // sets
    overload!(env, global "sets.contains", 2, sets);
    overload!(env, global "sets.equivalent", 2, sets);
    overload!(env, global "sets.intersects", 2, sets);
    // urls
    overload!(env, global "url", 1, url);
    overload!(env, global "isURL", 1, url);
    overload!(env, member "getScheme", 0, url_part);
    overload!(env, member "getHost", 0, url_part);
    overload!(env, member "getHostname", 0, url_part);
    overload!(env, member "getPort", 0, url_part);
    overload!(env, member "getEscapedPath", 0, url_part);
    overload!(env, member "getQuery", 0, url_part);
    // quantity
    overload!(env, global "quantity", 1, quantity);
    overload!(env, global "isQuantity", 1, quantity);
    overload!(env, member "sign", 0, quantity_unary);
    overload!(env, member "isInteger", 0, quantity_unary);
    overload!(env, member "asInteger", 0, quantity_unary);
    overload!(env, member "asApproximateFloat", 0, quantity_unary);
    overload!(env, member "add", 1, quantity_binary);
    overload!(env, member "sub", 1, quantity_binary);
    overload!(env, member "isGreaterThan", 1, quantity_binary);
    overload!(env, member "isLessThan", 1, quantity_binary);
    overload!(env, member "compareTo", 1, quantity_binary);
    // ip / cidr
    overload!(env, global "ip", 1, ip);
    overload!(env, global "isIP", 1, ip);
    overload!(env, global "ip.isCanonical", 1, ip);
    overload!(env, member "family", 0, ip_unary);
    overload!(env, member "isUnspecified", 0, ip_unary);
    overload!(env, member "isLoopback", 0, ip_unary);
    overload!(env, member "isLinkLocalMulticast", 0, ip_unary);
    overload!(env, member "isLinkLocalUnicast", 0, ip_unary);
    overload!(env, member "isGlobalUnicast", 0, ip_unary);
    overload!(env, global "cidr", 1, cidr);
    overload!(env, global "isCIDR", 1, cidr);
    overload!(env, member "containsIP", 1, cidr_binary);
    overload!(env, member "containsCIDR", 1, cidr_binary);
    overload!(env, member "ip", 0, cidr_unary);
    overload!(env, member "masked", 0, cidr_unary);
    overload!(env, member "prefixLength", 0, cidr_unary);
    overload!(env, global "string", 1, to_string);
    // format
    overload!(env, global "format.named", 1, format_named);
    overload!(env, member "validate", 1, format_validate);
    format_constructors!(
        env,
        "dns1123Label",
        "dns1123Subdomain",
        "dns1035Label",
        "qualifiedName",
        "dns1123LabelPrefix",
        "dns1123SubdomainPrefix",
        "dns1035LabelPrefix",
        "labelValue",
        "uri",
        "uuid",
        "byte",
        "date",
        "datetime"
    );
    env
}

// ---------------------------------------------------------------- lists

fn list_arg<'a>(name: &str, args: &'a [Value]) -> Result<&'a [Value], ExecutionError> {
    match args.first() {
        Some(Value::List(l)) => Ok(l.as_slice()),
        _ => Err(no_overload(name, args)),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Opaque(x), Value::Opaque(y)) => {
            let (x, y) = (x.downcast_ref::<Quantity>()?, y.downcast_ref::<Quantity>()?);
            Some(x.cmp_to(y))
        }
        _ => a.partial_cmp(b),
    }
}

fn is_sorted(name: &str, args: &[Value]) -> Res {
    let l = list_arg(name, args)?;
    for w in l.windows(2) {
        match compare(&w[0], &w[1]) {
            Some(Ordering::Greater) => return Ok(Value::Bool(false)),
            Some(_) => {}
            None => return Err(no_overload("_<_", &[w[0].clone(), w[1].clone()])),
        }
    }
    Ok(Value::Bool(true))
}

fn sum(name: &str, args: &[Value]) -> Res {
    let l = list_arg(name, args)?;
    let Some(first) = l.first() else {
        return Ok(Value::Int(0));
    };
    let mut acc = match first {
        Value::Int(_) => Value::Int(0),
        Value::UInt(_) => Value::UInt(0),
        Value::Float(_) => Value::Float(0.0),
        Value::Duration(_) => Value::Duration(chrono::Duration::zero()),
        _ => return Err(no_overload(name, args)),
    };
    for v in l {
        acc = match (acc, v) {
            (Value::Int(a), Value::Int(b)) => Value::Int(
                a.checked_add(*b)
                    .ok_or_else(|| err(name, "integer overflow"))?,
            ),
            (Value::UInt(a), Value::UInt(b)) => Value::UInt(
                a.checked_add(*b)
                    .ok_or_else(|| err(name, "unsigned integer overflow"))?,
            ),
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            (Value::Duration(a), Value::Duration(b)) => Value::Duration(a + *b),
            _ => return Err(no_overload(name, args)),
        };
    }
    Ok(acc)
}

fn min_max(name: &str, args: &[Value]) -> Res {
    let l = list_arg(name, args)?;
    let Some(first) = l.first() else {
        return Err(err(name, format!("{name} called on empty list")));
    };
    let mut best = first;
    for v in &l[1..] {
        let ord = compare(v, best).ok_or_else(|| no_overload(name, args))?;
        if (name == "min" && ord == Ordering::Less) || (name == "max" && ord == Ordering::Greater) {
            best = v;
        }
    }
    Ok(best.clone())
}

fn index_of(name: &str, args: &[Value]) -> Res {
    let l = list_arg(name, args)?;
    let needle = &args[1];
    let pos = if name == "indexOf" {
        l.iter().position(|v| v == needle)
    } else {
        l.iter().rposition(|v| v == needle)
    };
    Ok(Value::Int(pos.map_or(-1, |p| p as i64)))
}

// ---------------------------------------------------------------- regex

/// Compiled size limit of a regular expression.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Patterns kept compiled.
pub(crate) const REGEX_CACHE_ENTRIES: usize = 256;

/// The compiled patterns, oldest first.
#[derive(Default)]
struct RegexCache {
    compiled: HashMap<String, Arc<regex::Regex>>,
    order: std::collections::VecDeque<String>,
}

static REGEX_CACHE: LazyLock<std::sync::Mutex<RegexCache>> = LazyLock::new(Default::default);

/// `pattern` compiled, from the cache when it is there.
pub(crate) fn regex(pattern: &str) -> Result<Arc<regex::Regex>, regex::Error> {
    let lock = || REGEX_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(re) = lock().compiled.get(pattern) {
        return Ok(re.clone());
    }
    // Compiled without the lock: a slow pattern must not hold up the
    // others.
    let re = Arc::new(
        regex::RegexBuilder::new(&re2_classes(pattern))
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()?,
    );
    let mut cache = lock();
    if !cache.compiled.contains_key(pattern) {
        if cache.order.len() >= REGEX_CACHE_ENTRIES
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.compiled.remove(&oldest);
        }
        cache.order.push_back(pattern.to_string());
        cache.compiled.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}

/// Rewrites the Perl classes `\d \D \s \S \w \W` of an RE2 pattern to the
/// ASCII classes RE2 gives them (the `regex` crate's are Unicode). Classes
/// nest in the `regex` crate's syntax, so the rewrite is the same inside
/// brackets.
fn re2_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('s') => out.push_str("[\\t\\n\\f\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn compile_regex(name: &str, pattern: &str) -> Result<Arc<regex::Regex>, ExecutionError> {
    regex(pattern).map_err(|e| err(name, format!("regex compilation error: {e}")))
}

fn matches(name: &str, args: &[Value]) -> Res {
    match args {
        [Value::String(s), Value::String(p)] => match regex(p) {
            Ok(re) => Ok(Value::Bool(re.is_match(s))),
            Err(e) => Err(err(name, format!("'{p}' not a valid regex:\n{e}"))),
        },
        _ => Err(no_overload(name, args)),
    }
}

fn find(name: &str, args: &[Value]) -> Res {
    match args {
        [Value::String(s), Value::String(p)] => {
            let re = compile_regex(name, p)?;
            Ok(Value::String(Arc::new(
                re.find(s)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            )))
        }
        _ => Err(no_overload(name, args)),
    }
}

fn find_all(name: &str, args: &[Value]) -> Res {
    let (s, p, limit) = match args {
        [Value::String(s), Value::String(p)] => (s, p, -1),
        [Value::String(s), Value::String(p), Value::Int(n)] => (s, p, *n),
        _ => return Err(no_overload(name, args)),
    };
    let re = compile_regex(name, p)?;
    let all = re
        .find_iter(s)
        .map(|m| Value::String(Arc::new(m.as_str().to_string())));
    let found: Vec<Value> = if limit < 0 {
        all.collect()
    } else {
        all.take(limit as usize).collect()
    };
    Ok(Value::List(Arc::new(found)))
}

// ---------------------------------------------------------------- sets

fn sets(name: &str, args: &[Value]) -> Res {
    let (Some(Value::List(a)), Some(Value::List(b))) = (args.first(), args.get(1)) else {
        return Err(no_overload(name, args));
    };
    let contains = |x: &[Value], y: &[Value]| y.iter().all(|v| x.contains(v));
    Ok(Value::Bool(match name {
        "sets.contains" => contains(a, b),
        "sets.equivalent" => contains(a, b) && contains(b, a),
        _ => a.iter().any(|v| b.contains(v)),
    }))
}

// ---------------------------------------------------------------- urls

#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
}

impl Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.URL"
    }
}

/// Go's `url.ParseRequestURI`, reduced to what the URL library exposes.
fn parse_url(s: &str) -> Result<Url, String> {
    let invalid = || format!("parse {}: invalid URI for request", go_q(s));
    if s.is_empty() {
        return Err(format!("parse {}: empty url", go_q(s)));
    }
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "parse {}: net/url: invalid control character in URL",
            go_q(s)
        ));
    }
    let (scheme, rest) = match s.find(':') {
        Some(i)
            if s[..i]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s[..i].to_ascii_lowercase(), &s[i + 1..])
        }
        Some(0) => return Err(format!("parse {}: missing protocol scheme", go_q(s))),
        _ => (String::new(), s),
    };
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], rest[i + 1..].to_string()),
        None => (rest, String::new()),
    };
    let (host, path) = if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        (host.to_string(), after[end..].to_string())
    } else if rest.starts_with('/') {
        (String::new(), rest.to_string())
    } else {
        return Err(invalid());
    };
    if scheme.is_empty() && !path.starts_with('/') && host.is_empty() {
        return Err(invalid());
    }
    Ok(Url {
        scheme,
        host,
        path,
        query,
    })
}

fn go_q(s: &str) -> String {
    super::schema::go_quote(s)
}

fn url(name: &str, args: &[Value]) -> Res {
    let [Value::String(s)] = args else {
        return Err(no_overload(name, args));
    };
    let parsed = parse_url(s);
    if name == "isURL" {
        return Ok(Value::Bool(parsed.is_ok()));
    }
    parsed.map(|u| Value::Opaque(Arc::new(u))).map_err(|e| {
        err(
            name,
            format!("URL parse error during conversion from string: {e}"),
        )
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn url_part(name: &str, args: &[Value]) -> Res {
    let Some(u) = opaque::<Url>(args.first()) else {
        return Err(no_overload(name, args));
    };
    let hostname = || {
        let h = &u.host;
        if let Some(rest) = h.strip_prefix('[') {
            rest.split(']').next().unwrap_or("").to_string()
        } else {
            h.rsplit_once(':')
                .map_or(h.as_str(), |(a, _)| a)
                .to_string()
        }
    };
    let port = || {
        let h = &u.host;
        let after = if h.starts_with('[') {
            h.rsplit_once(']').map_or("", |(_, p)| p)
        } else {
            h.rsplit_once(':')
                .map_or("", |(_, p)| p)
                .get(0..)
                .unwrap_or("")
        };
        if h.starts_with('[') {
            after.strip_prefix(':').unwrap_or("").to_string()
        } else if h.contains(':') {
            after.to_string()
        } else {
            String::new()
        }
    };
    let s = |v: String| Value::String(Arc::new(v));
    Ok(match name {
        "getScheme" => s(u.scheme.clone()),
        "getHost" => s(u.host.clone()),
        "getHostname" => s(hostname()),
        "getPort" => s(port()),
        "getEscapedPath" => s(u.path.clone()),
        _ => {
            let mut map: HashMap<Key, Vec<Value>> = HashMap::new();
            for pair in u.query.split(['&', ';']).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                map.entry(Key::String(Arc::new(percent_decode(k))))
                    .or_default()
                    .push(s(percent_decode(v)));
            }
            let map: HashMap<Key, Value> = map
                .into_iter()
                .map(|(k, v)| (k, Value::List(Arc::new(v))))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    })
}

fn opaque<T: 'static>(v: Option<&Value>) -> Option<&T> {
    match v? {
        Value::Opaque(o) => o.downcast_ref::<T>(),
        _ => None,
    }
}

// ---------------------------------------------------------------- quantity

/// A `resource.Quantity` as an exact decimal: `mant × 10^exp`, normalized so
/// that `mant` has no trailing zeros.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    mant: i128,
    exp: i32,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_to(other) == Ordering::Equal
    }
}
impl Eq for Quantity {}

impl Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Quantity"
    }
}

impl Quantity {
    fn new(mut mant: i128, mut exp: i32) -> Quantity {
        if mant == 0 {
            return Quantity { mant: 0, exp: 0 };
        }
        while mant % 10 == 0 {
            mant /= 10;
            exp += 1;
        }
        Quantity { mant, exp }
    }

    fn to_f64(self) -> f64 {
        self.mant as f64 * 10f64.powi(self.exp)
    }

    /// Both as mantissas at a common exponent, if that fits.
    fn aligned(&self, other: &Quantity) -> Option<(i128, i128, i32)> {
        let exp = self.exp.min(other.exp);
        let scale = |q: &Quantity| {
            10i128
                .checked_pow((q.exp - exp) as u32)
                .and_then(|p| q.mant.checked_mul(p))
        };
        Some((scale(self)?, scale(other)?, exp))
    }

    fn cmp_to(&self, other: &Quantity) -> Ordering {
        match self.aligned(other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }

    fn add(&self, other: &Quantity) -> Option<Quantity> {
        let (a, b, exp) = self.aligned(other)?;
        Some(Quantity::new(a.checked_add(b)?, exp))
    }

    fn as_integer(&self) -> Option<i64> {
        if self.exp < 0 {
            return None;
        }
        let v = self
            .mant
            .checked_mul(10i128.checked_pow(self.exp as u32)?)?;
        i64::try_from(v).ok()
    }

    /// The largest integer not above the quantity (an object-count quota's
    /// limit), if it fits in an `i64`.
    pub fn floor_integer(&self) -> Option<i64> {
        if self.exp >= 0 {
            return self.as_integer();
        }
        let scale = 10i128.checked_pow(self.exp.unsigned_abs())?;
        i64::try_from(self.mant.div_euclid(scale)).ok()
    }

    /// `resource.ParseQuantity`.
    pub fn parse(s: &str) -> Option<Quantity> {
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (num, suffix) = body.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let digits = format!("{int_part}{frac_part}");
        let mut mant: i128 = digits.parse().ok()?;
        let mut exp = -(frac_part.len() as i32);
        let binary = |n: u32| 1024i128.checked_pow(n);
        match suffix {
            "" => {}
            "Ki" => mant = mant.checked_mul(binary(1)?)?,
            "Mi" => mant = mant.checked_mul(binary(2)?)?,
            "Gi" => mant = mant.checked_mul(binary(3)?)?,
            "Ti" => mant = mant.checked_mul(binary(4)?)?,
            "Pi" => mant = mant.checked_mul(binary(5)?)?,
            "Ei" => mant = mant.checked_mul(binary(6)?)?,
            "n" => exp -= 9,
            "u" => exp -= 6,
            "m" => exp -= 3,
            "k" => exp += 3,
            "M" => exp += 6,
            "G" => exp += 9,
            "T" => exp += 12,
            "P" => exp += 15,
            "E" => exp += 18,
            other => {
                let e = other.strip_prefix(['e', 'E'])?;
                let e_digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if e_digits.is_empty() || !e_digits.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                exp += e.parse::<i32>().ok()?;
            }
        }
        if neg {
            mant = -mant;
        }
        Some(Quantity::new(mant, exp))
    }
}

fn quantity(name: &str, args: &[Value]) -> Res {
    let [Value::String(s)] = args else {
        return Err(no_overload(name, args));
    };
    let q = Quantity::parse(s);
    if name == "isQuantity" {
        return Ok(Value::Bool(q.is_some()));
    }
    q.map(|q| Value::Opaque(Arc::new(q))).ok_or_else(|| {
        err(
            name,
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
    })
}

fn quantity_unary(name: &str, args: &[Value]) -> Res {
    let Some(q) = opaque::<Quantity>(args.first()) else {
        return Err(no_overload(name, args));
    };
    Ok(match name {
        "sign" => Value::Int(q.mant.signum() as i64),
        "isInteger" => Value::Bool(q.as_integer().is_some()),
        "asInteger" => Value::Int(
            q.as_integer()
                .ok_or_else(|| err(name, "cannot convert value to integer"))?,
        ),
        _ => Value::Float(q.to_f64()),
    })
}

fn quantity_binary(name: &str, args: &[Value]) -> Res {
    let Some(q) = opaque::<Quantity>(args.first()) else {
        return Err(no_overload(name, args));
    };
    let other = match args.get(1) {
        Some(Value::Int(i)) if matches!(name, "add" | "sub") => Quantity::new(*i as i128, 0),
        v => *opaque::<Quantity>(v).ok_or_else(|| no_overload(name, args))?,
    };
    let overflow = || err(name, "quantity overflow");
    Ok(match name {
        "add" => Value::Opaque(Arc::new(q.add(&other).ok_or_else(overflow)?)),
        "sub" => Value::Opaque(Arc::new(
            q.add(&Quantity::new(-other.mant, other.exp))
                .ok_or_else(overflow)?,
        )),
        "isGreaterThan" => Value::Bool(q.cmp_to(&other) == Ordering::Greater),
        "isLessThan" => Value::Bool(q.cmp_to(&other) == Ordering::Less),
        _ => Value::Int(match q.cmp_to(&other) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }),
    })
}

// ---------------------------------------------------------------- ip / cidr

#[derive(Debug, PartialEq, Eq)]
pub struct Ip(IpAddr);

impl Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        "net.IP"
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        "net.CIDR"
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    if s.contains('%') {
        return Err("IP address with zone value is not allowed".into());
    }
    let addr: IpAddr = s
        .parse()
        .map_err(|_| format!("ParseAddr({}): unable to parse IP", go_q(s)))?;
    if let IpAddr::V6(v6) = addr
        && v6.to_ipv4_mapped().is_some()
    {
        return Err("IPv4-mapped IPv6 address is not allowed".into());
    }
    Ok(addr)
}

fn ip(name: &str, args: &[Value]) -> Res {
    let [Value::String(s)] = args else {
        return Err(no_overload(name, args));
    };
    let parsed = parse_ip(s);
    match name {
        "isIP" => Ok(Value::Bool(parsed.is_ok())),
        "ip.isCanonical" => {
            let a = parsed.map_err(|e| {
                err(
                    name,
                    format!(
                        "IP Address {} parse error during conversion from string: {e}",
                        go_q(s)
                    ),
                )
            })?;
            Ok(Value::Bool(a.to_string() == **s))
        }
        _ => parsed.map(|a| Value::Opaque(Arc::new(Ip(a)))).map_err(|e| {
            err(
                name,
                format!(
                    "IP Address {} parse error during conversion from string: {e}",
                    go_q(s)
                ),
            )
        }),
    }
}

fn ip_unary(name: &str, args: &[Value]) -> Res {
    let Some(Ip(a)) = opaque::<Ip>(args.first()) else {
        return Err(no_overload(name, args));
    };
    let link_local_unicast = match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
    };
    let link_local_multicast = match a {
        IpAddr::V4(v) => v.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v) => (v.segments()[0] & 0xff0f) == 0xff02,
    };
    Ok(match name {
        "family" => Value::Int(if a.is_ipv4() { 4 } else { 6 }),
        "isUnspecified" => Value::Bool(a.is_unspecified()),
        "isLoopback" => Value::Bool(a.is_loopback()),
        "isLinkLocalMulticast" => Value::Bool(link_local_multicast),
        "isLinkLocalUnicast" => Value::Bool(link_local_unicast),
        _ => {
            let broadcast = matches!(a, IpAddr::V4(v) if v.is_broadcast());
            Value::Bool(
                !(a.is_unspecified()
                    || a.is_loopback()
                    || a.is_multicast()
                    || link_local_unicast
                    || broadcast),
            )
        }
    })
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("netip.ParsePrefix({}): no '/'", go_q(s)))?;
    let addr = parse_ip(a)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = l
        .parse()
        .ok()
        .filter(|n| *n <= max && !l.starts_with('+') && (l == "0" || !l.starts_with('0')))
        .ok_or_else(|| {
            format!(
                "netip.ParsePrefix({}): bad bits after slash: {}",
                go_q(s),
                go_q(l)
            )
        })?;
    Ok(Cidr { addr, len })
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v) => {
            let bits = u32::from(v);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v) => {
            let bits = u128::from(v);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

fn cidr(name: &str, args: &[Value]) -> Res {
    let [Value::String(s)] = args else {
        return Err(no_overload(name, args));
    };
    let parsed = parse_cidr(s);
    if name == "isCIDR" {
        return Ok(Value::Bool(parsed.is_ok()));
    }
    parsed.map(|c| Value::Opaque(Arc::new(c))).map_err(|e| {
        err(
            name,
            format!("network address parse error during conversion from string: {e}"),
        )
    })
}

fn contains(c: &Cidr, addr: IpAddr, len: u8) -> bool {
    addr.is_ipv4() == c.addr.is_ipv4() && len >= c.len && mask(addr, c.len) == mask(c.addr, c.len)
}

fn cidr_binary(name: &str, args: &[Value]) -> Res {
    let Some(c) = opaque::<Cidr>(args.first()) else {
        return Err(no_overload(name, args));
    };
    let parse_err = |e: String| err(name, e);
    let result = match (name, args.get(1)) {
        ("containsIP", Some(Value::String(s))) => {
            let a = parse_ip(s).map_err(parse_err)?;
            contains(c, a, if a.is_ipv4() { 32 } else { 128 })
        }
        ("containsIP", v) => {
            let Ip(a) = opaque::<Ip>(v).ok_or_else(|| no_overload(name, args))?;
            contains(c, *a, if a.is_ipv4() { 32 } else { 128 })
        }
        (_, Some(Value::String(s))) => {
            let o = parse_cidr(s).map_err(parse_err)?;
            contains(c, o.addr, o.len)
        }
        (_, v) => {
            let o = opaque::<Cidr>(v).ok_or_else(|| no_overload(name, args))?;
            contains(c, o.addr, o.len)
        }
    };
    Ok(Value::Bool(result))
}

fn cidr_unary(name: &str, args: &[Value]) -> Res {
    let Some(c) = opaque::<Cidr>(args.first()) else {
        return Err(no_overload(name, args));
    };
    Ok(match name {
        "ip" => Value::Opaque(Arc::new(Ip(c.addr))),
        "masked" => Value::Opaque(Arc::new(Cidr {
            addr: mask(c.addr, c.len),
            len: c.len,
        })),
        _ => Value::Int(c.len as i64),
    })
}

fn to_string(name: &str, args: &[Value]) -> Res {
    if let Some(Ip(a)) = opaque::<Ip>(args.first()) {
        return Ok(Value::String(Arc::new(a.to_string())));
    }
    if let Some(c) = opaque::<Cidr>(args.first()) {
        return Ok(Value::String(Arc::new(format!("{}/{}", c.addr, c.len))));
    }
    Err(no_overload(name, args))
}

// ---------------------------------------------------------------- format

const FORMAT_NAMES: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

#[derive(Debug, PartialEq, Eq)]
pub struct Format(&'static str);

impl Opaque for Format {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.NamedFormat"
    }
}

fn format_named(name: &str, args: &[Value]) -> Res {
    let [Value::String(s)] = args else {
        return Err(no_overload(name, args));
    };
    let found = FORMAT_NAMES.iter().find(|n| **n == s.as_str());
    Ok(Value::Opaque(Arc::new(match found {
        Some(n) => OptionalValue::of(Value::Opaque(Arc::new(Format(n)))),
        None => OptionalValue::none(),
    })))
}

fn format_validate(name: &str, args: &[Value]) -> Res {
    let (Some(Format(f)), Some(Value::String(s))) = (opaque::<Format>(args.first()), args.get(1))
    else {
        return Err(no_overload(name, args));
    };
    let errors = validate_format(f, s);
    Ok(Value::Opaque(Arc::new(if errors.is_empty() {
        OptionalValue::none()
    } else {
        OptionalValue::of(Value::List(Arc::new(
            errors
                .into_iter()
                .map(|e| Value::String(Arc::new(e)))
                .collect(),
        )))
    })))
}

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push_str(&format!("'{e}', "));
    }
    s.push_str(&format!("regex used for validation is '{fmt}')"));
    s
}

/// Whether all of `s` matches one of the fixed patterns below (each
/// compiled once).
fn full_match(pattern: &'static str, s: &str) -> bool {
    static FIXED: LazyLock<HashMap<&'static str, regex::Regex>> = LazyLock::new(|| {
        [
            DNS1123_LABEL,
            DNS1123_SUBDOMAIN,
            DNS1035_LABEL,
            QUALIFIED_NAME,
            LABEL_VALUE,
            UUID,
        ]
        .into_iter()
        .map(|p| {
            let re = regex::Regex::new(&format!("^(?:{p})$")).expect("valid regex");
            (p, re)
        })
        .collect()
    });
    FIXED.get(pattern).is_some_and(|re| re.is_match(s))
}

const DNS1123_LABEL: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const UUID: &str =
    "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}";

fn dns1123_label(s: &str) -> Vec<String> {
    let mut e = Vec::new();
    if s.len() > 63 {
        e.push("must be no more than 63 characters".to_string());
    }
    if !full_match(DNS1123_LABEL, s) {
        e.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL,
            &["my-name", "123-abc"],
        ));
    }
    e
}

fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut e = Vec::new();
    if s.len() > 253 {
        e.push("must be no more than 253 characters".to_string());
    }
    if !full_match(DNS1123_SUBDOMAIN, s) {
        e.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN,
            &["example.com"],
        ));
    }
    e
}

fn dns1035_label(s: &str) -> Vec<String> {
    let mut e = Vec::new();
    if s.len() > 63 {
        e.push("must be no more than 63 characters".to_string());
    }
    if !full_match(DNS1035_LABEL, s) {
        e.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL,
            &["my-name", "abc-123"],
        ));
    }
    e
}

fn qualified_name(s: &str) -> Vec<String> {
    let msg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return vec!["prefix part must be non-empty".into()];
            }
            let mut errs: Vec<String> = dns1123_subdomain(prefix)
                .into_iter()
                .map(|e| format!("prefix part {e}"))
                .collect();
            errs.extend(qualified_name_part(name, msg));
            return errs;
        }
        _ => {
            return vec![format!(
                "a qualified name {}",
                regex_error(msg, QUALIFIED_NAME, &["MyName", "my.name", "123-abc"])
                    .replacen(msg, &format!("{msg} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"), 1)
            )];
        }
    };
    qualified_name_part(name, msg)
}

fn qualified_name_part(name: &str, msg: &str) -> Vec<String> {
    let mut e = Vec::new();
    if name.is_empty() {
        e.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        e.push("name part must be no more than 63 characters".to_string());
    }
    if !full_match(QUALIFIED_NAME, name) {
        e.push(format!(
            "name part {}",
            regex_error(msg, QUALIFIED_NAME, &["MyName", "my.name", "123-abc"])
        ));
    }
    e
}

fn mask_trailing_dash(s: &str) -> String {
    match s.strip_suffix('-') {
        Some(p) if !p.is_empty() => format!("{p}a"),
        _ => s.to_string(),
    }
}

fn validate_format(f: &str, s: &str) -> Vec<String> {
    match f {
        "dns1123Label" => dns1123_label(s),
        "dns1123Subdomain" => dns1123_subdomain(s),
        "dns1035Label" => dns1035_label(s),
        "qualifiedName" => qualified_name(s),
        "dns1123LabelPrefix" => dns1123_label(&mask_trailing_dash(s)),
        "dns1123SubdomainPrefix" => dns1123_subdomain(&mask_trailing_dash(s)),
        "dns1035LabelPrefix" => dns1035_label(&mask_trailing_dash(s)),
        "labelValue" => {
            let mut e = Vec::new();
            if s.len() > 63 {
                e.push("must be no more than 63 characters".to_string());
            }
            if !full_match(LABEL_VALUE, s) {
                e.push(regex_error(
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                    LABEL_VALUE,
                    &["MyValue", "my_value", "12345"],
                ));
            }
            e
        }
        "uri" => match parse_url(s) {
            Ok(_) => vec![],
            Err(_) => vec!["invalid URI".into()],
        },
        "uuid" => {
            if full_match(UUID, s) {
                vec![]
            } else {
                vec!["does not match the UUID format".into()]
            }
        }
        "byte" => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(_) => vec![],
                Err(_) => vec!["invalid base64".into()],
            }
        }
        "date" => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(_) => vec![],
            Err(_) => vec!["invalid date".into()],
        },
        _ => match super::values::parse_date_time(s) {
            Some(_) => vec![],
            None => vec!["invalid datetime".into()],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches_of(s: &str, pattern: &str) -> Res {
        matches(
            "matches",
            &[
                Value::String(Arc::new(s.into())),
                Value::String(Arc::new(pattern.into())),
            ],
        )
    }

    #[test]
    fn regex_cache_is_bounded() {
        for i in 0..(2 * REGEX_CACHE_ENTRIES) {
            regex(&format!("^cache-test-{i}$")).expect("valid");
        }
        let cache = REGEX_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        assert!(cache.compiled.len() <= REGEX_CACHE_ENTRIES);
        assert_eq!(cache.compiled.len(), cache.order.len());
    }

    #[test]
    fn perl_classes_are_ascii_as_in_re2() {
        let cases = [
            ("abc_09", r"^\w+$", true),
            ("é", r"^\w$", false),
            ("é", r"^\W$", true),
            ("٣", r"^\d$", false),
            ("7", r"^[\d]$", true),
            ("a b", r"\s", true),
            ("\u{a0}", r"\s", false),
            ("x", r"^[^\d\s]$", true),
            (r"\w", r"^\\w$", true),
        ];
        for (s, p, want) in cases {
            assert_eq!(matches_of(s, p), Ok(Value::Bool(want)), "{s:?} {p:?}");
        }
    }

    #[test]
    fn oversized_patterns_fail_fast() {
        let started = std::time::Instant::now();
        let err = matches_of("a", r"\pL{1000}").unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        assert!(err.to_string().contains("not a valid regex"), "{err}");
        assert_eq!(matches_of("abc", r"^[a-z]{1,63}$"), Ok(Value::Bool(true)));
    }
}
