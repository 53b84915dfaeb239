//! Field kinds: the JSON <-> prost conversion for one field of a message.
//!
//! Every kind is a module with two functions:
//!
//! * `to_json(&field, path) -> Result<Option<Value>>` — `None` means "omit the JSON key";
//! * `from_json(Option<&Value>, path) -> Result<FieldType>` — the argument is `None` when
//!   the JSON key is absent. JSON `null` is treated like an absent key everywhere.
//!
//! Absent-vs-empty rules (see the crate docs for the reasoning):
//!
//! * `string`, `int32`, `int64`, `boolean`: Go *value* fields tagged `omitempty`. Go's
//!   gogo-protobuf marshaller always writes these (even `""`/`0`/`false`), and Go's JSON
//!   encoder drops the zero value, so a zero value decodes to an absent key.
//! * `string_keep`, `int32_keep`, `int64_keep`, `boolean_keep`: Go *pointer* fields
//!   (`*string`, `*int32`, `*bool`...) and value fields *without* `omitempty`. Any value
//!   present on the wire is kept, zero included; an absent wire field is an absent key.
//! * `bytes`, `bytes_keep`: Go `[]byte` (base64 in JSON), with the same omit/keep rules.
//! * `strings`, `objects`, maps: omitted when empty (repeated/map fields cannot carry
//!   nil-vs-empty on the wire). `objects_keep` always emits an array (list `items`).
//! * `object`: present on the wire => JSON object (possibly `{}`), absent => absent key.
//! * `time` / `micro_time`: an empty Timestamp message is Go's zero time => absent key.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use crate::proto::error::{Path, ProtoError};

pub(crate) type Result<T> = std::result::Result<T, ProtoError>;

/// Conversion between a prost message and its Kubernetes JSON form.
pub(crate) trait Conv: Sized {
    fn to_json(&self, path: &Path<'_>) -> Result<Value>;
    fn from_json(value: &Value, path: &Path<'_>) -> Result<Self>;
    /// The message's JSON keys in Go's order (`crate::proto::order`); `None`
    /// for a type that is not a JSON object of known fields.
    fn fields() -> Option<&'static crate::proto::order::Fields> {
        None
    }
}

/// Declares the JSON mapping of a prost message: one `"jsonName" => rust_field: kind` line
/// per field. `from_json` builds the struct with a literal that names every field, so
/// leaving a field of the k8s-pb struct out of the table is a compile error.
macro_rules! message {
    ($ty:ty { $( $json:literal => $field:ident : $kind:ident ),* $(,)? }) => {
        impl $crate::proto::fields::Conv for $ty {
            fn to_json(
                &self,
                path: &$crate::proto::error::Path<'_>,
            ) -> $crate::proto::fields::Result<::serde_json::Value> {
                #[allow(unused_mut)]
                let mut map = ::serde_json::Map::new();
                $(
                    if let Some(v) = $crate::proto::fields::$kind::to_json(&self.$field, &path.key($json))? {
                        map.insert(::std::string::String::from($json), v);
                    }
                )*
                let _ = path;
                Ok(::serde_json::Value::Object(map))
            }

            fn from_json(
                value: &::serde_json::Value,
                path: &$crate::proto::error::Path<'_>,
            ) -> $crate::proto::fields::Result<Self> {
                #[allow(unused_variables)]
                let obj = $crate::proto::fields::expect_object(value, path)?;
                Ok(Self {
                    $( $field: $crate::proto::fields::$kind::from_json(obj.get($json), &path.key($json))?, )*
                })
            }

            fn fields() -> Option<&'static $crate::proto::order::Fields> {
                static FIELDS: ::std::sync::OnceLock<$crate::proto::order::Fields> =
                    ::std::sync::OnceLock::new();
                $crate::proto::order::cached(&FIELDS, || {
                    $crate::proto::order::Fields::new(vec![
                        $( ($json, $crate::proto::fields::nested!($kind, |m: &$ty| &m.$field)), )*
                    ])
                })
            }
        }
    };
}
pub(crate) use message;

/// The ordering of a field of kind `$kind` (`crate::proto::order::Nested`);
/// `$get` names the field so that its message type is inferred.
macro_rules! nested {
    (object, $get:expr) => {
        $crate::proto::fields::object::nested($get)
    };
    (objects, $get:expr) => {
        $crate::proto::fields::objects_keep::nested($get)
    };
    (objects_keep, $get:expr) => {
        $crate::proto::fields::objects_keep::nested($get)
    };
    (object_map, $get:expr) => {
        $crate::proto::fields::object_map::nested($get)
    };
    ($other:ident, $get:expr) => {
        $crate::proto::order::Nested::Leaf
    };
}
pub(crate) use nested;

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// The object at `path`; `null` is treated as `{}`.
pub(crate) fn expect_object<'v>(
    value: &'v Value,
    path: &Path<'_>,
) -> Result<&'v Map<String, Value>> {
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(&EMPTY),
        other => Err(path.err(format!("expected object, got {}", type_name(other)))),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn expect_str<'v>(v: &'v Value, path: &Path<'_>) -> Result<&'v str> {
    v.as_str()
        .ok_or_else(|| path.err(format!("expected string, got {}", type_name(v))))
}

fn expect_array<'v>(v: &'v Value, path: &Path<'_>) -> Result<&'v Vec<Value>> {
    v.as_array()
        .ok_or_else(|| path.err(format!("expected array, got {}", type_name(v))))
}

fn expect_map<'v>(v: &'v Value, path: &Path<'_>) -> Result<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| path.err(format!("expected object, got {}", type_name(v))))
}

fn expect_int(v: &Value, path: &Path<'_>, min: i64, max: i64) -> Result<i64> {
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(path.err(format!("integer {n} out of range [{min}, {max}]"))),
        None => Err(path.err(format!("expected integer, got {v}"))),
    }
}

// ---------------------------------------------------------------- scalars

macro_rules! scalar_kinds {
    ($omit:ident, $keep:ident, $t:ty, $zero:expr, $to:expr, $from:expr) => {
        pub(crate) mod $omit {
            use super::*;
            pub(crate) fn to_json(f: &Option<$t>, _: &Path<'_>) -> Result<Option<Value>> {
                Ok(f.as_ref().filter(|v| **v != $zero).map($to))
            }
            pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<$t>> {
                present(v).map(|v| $from(v, p)).transpose()
            }
        }
        pub(crate) mod $keep {
            use super::*;
            pub(crate) fn to_json(f: &Option<$t>, _: &Path<'_>) -> Result<Option<Value>> {
                Ok(f.as_ref().map($to))
            }
            pub(crate) use super::$omit::from_json;
        }
    };
}

scalar_kinds!(
    string,
    string_keep,
    String,
    "",
    |s: &String| Value::String(s.clone()),
    |v: &Value, p: &Path<'_>| expect_str(v, p).map(str::to_owned)
);
scalar_kinds!(
    int32,
    int32_keep,
    i32,
    0,
    |n: &i32| Value::from(*n),
    |v: &Value, p: &Path<'_>| expect_int(v, p, i32::MIN.into(), i32::MAX.into()).map(|n| n as i32)
);
scalar_kinds!(
    int64,
    int64_keep,
    i64,
    0,
    |n: &i64| Value::from(*n),
    |v: &Value, p: &Path<'_>| expect_int(v, p, i64::MIN, i64::MAX)
);
scalar_kinds!(
    boolean,
    boolean_keep,
    bool,
    false,
    |b: &bool| Value::Bool(*b),
    |v: &Value, p: &Path<'_>| v
        .as_bool()
        .ok_or_else(|| p.err(format!("expected boolean, got {}", type_name(v))))
);

// Go `[]byte`: standard base64 with padding in JSON.
scalar_kinds!(
    bytes,
    bytes_keep,
    Vec<u8>,
    Vec::<u8>::new(),
    |b: &Vec<u8>| Value::String(B64.encode(b)),
    |v: &Value, p: &Path<'_>| {
        let s = expect_str(v, p)?;
        B64.decode(s)
            .map_err(|e| p.err(format!("invalid base64: {e}")))
    }
);

// ---------------------------------------------------------------- timestamps

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) relative to the Unix epoch.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

fn parse_rfc3339(v: &Value, p: &Path<'_>) -> Result<jiff::Timestamp> {
    let s = expect_str(v, p)?;
    s.parse::<jiff::Timestamp>()
        .map_err(|e| p.err(format!("invalid RFC 3339 timestamp {s:?}: {e}")))
}

/// Go's `t.Unix()` and `t.Nanosecond()`: whole seconds rounded down and
/// nanoseconds in `[0, 1e9)`. (jiff's `as_second`/`subsec_nanosecond`
/// round toward zero and give negative nanoseconds before 1970.)
fn unix_parts(ts: jiff::Timestamp) -> (i64, i32) {
    let n = ts.subsec_nanosecond();
    if n < 0 {
        (ts.as_second() - 1, n + 1_000_000_000)
    } else {
        (ts.as_second(), n)
    }
}

/// `seconds`/`nanos` of a (Micro)Time message -> Go time, `None` for Go's zero time.
/// Go treats an empty message as the zero time; any present field means
/// `time.Unix(seconds, nanos)`.
fn wire_to_timestamp(
    seconds: Option<i64>,
    nanos: Option<i32>,
    p: &Path<'_>,
) -> Result<Option<jiff::Timestamp>> {
    if seconds.is_none() && nanos.is_none() {
        return Ok(None);
    }
    let (s, n) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if s == GO_ZERO_TIME_SECONDS && n == 0 {
        return Ok(None);
    }
    // Go's time.Unix normalises nanos outside [0, 1e9).
    let (s, n) = (
        s.checked_add(i64::from(n).div_euclid(1_000_000_000)),
        i64::from(n).rem_euclid(1_000_000_000) as i32,
    );
    let s = s.ok_or_else(|| p.err("timestamp seconds overflow"))?;
    jiff::Timestamp::new(s, n)
        .map(Some)
        .map_err(|e| p.err(format!("timestamp out of range ({s}s, {n}ns): {e}")))
}

/// metav1.Time: JSON `2006-01-02T15:04:05Z` (RFC 3339, whole seconds, UTC); protobuf
/// `{seconds}` only — kube's Time marshaller drops nanos and its unmarshaller ignores them.
pub(crate) mod time {
    use super::*;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::Time;

    pub(crate) fn to_json(f: &Option<Time>, p: &Path<'_>) -> Result<Option<Value>> {
        let Some(t) = f else { return Ok(None) };
        // Nanos are ignored (time_proto.go: `time.Unix(p.Seconds, 0)`), but a message
        // carrying only nanos is still a non-zero time.
        let nanos = t.nanos.map(|_| 0);
        Ok(wire_to_timestamp(t.seconds, nanos, p)?
            .map(|ts| Value::String(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<Time>> {
        let Some(v) = present(v) else { return Ok(None) };
        let ts = parse_rfc3339(v, p)?;
        Ok(Some(Time {
            seconds: Some(unix_parts(ts).0),
            nanos: None,
        }))
    }
}

/// metav1.MicroTime: JSON `2006-01-02T15:04:05.000000Z` (always six fractional digits,
/// UTC); protobuf `{seconds, nanos}`.
pub(crate) mod micro_time {
    use super::*;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::MicroTime;

    pub(crate) fn to_json(f: &Option<MicroTime>, p: &Path<'_>) -> Result<Option<Value>> {
        let Some(t) = f else { return Ok(None) };
        Ok(wire_to_timestamp(t.seconds, t.nanos, p)?.map(|ts| {
            let micros = unix_parts(ts).1 / 1_000;
            Value::String(format!("{}.{micros:06}Z", ts.strftime("%Y-%m-%dT%H:%M:%S")))
        }))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<MicroTime>> {
        let Some(v) = present(v) else { return Ok(None) };
        let ts = parse_rfc3339(v, p)?;
        let (seconds, nanos) = unix_parts(ts);
        Ok(Some(MicroTime {
            seconds: Some(seconds),
            nanos: Some(nanos),
        }))
    }
}

// ---------------------------------------------------------------- messages

/// A singular nested message (Go struct or pointer to struct).
pub(crate) mod object {
    use super::*;

    pub(crate) fn to_json<T: Conv>(f: &Option<T>, p: &Path<'_>) -> Result<Option<Value>> {
        f.as_ref().map(|m| m.to_json(p)).transpose()
    }

    pub(crate) fn from_json<T: Conv>(v: Option<&Value>, p: &Path<'_>) -> Result<Option<T>> {
        present(v).map(|v| T::from_json(v, p)).transpose()
    }

    pub(crate) fn nested<P, T: Conv>(_: fn(&P) -> &Option<T>) -> crate::proto::order::Nested {
        crate::proto::order::message_of::<T>()
    }
}

/// A repeated message field; omitted when empty.
pub(crate) mod objects {
    use super::*;

    pub(crate) fn to_json<T: Conv>(f: &[T], p: &Path<'_>) -> Result<Option<Value>> {
        if f.is_empty() {
            return Ok(None);
        }
        super::objects_keep::to_json(f, p)
    }

    pub(crate) use super::objects_keep::from_json;
}

/// A repeated message field that is always emitted (`"items": []` of a list).
pub(crate) mod objects_keep {
    use super::*;

    pub(crate) fn to_json<T: Conv>(f: &[T], p: &Path<'_>) -> Result<Option<Value>> {
        f.iter()
            .enumerate()
            .map(|(i, m)| m.to_json(&p.index(i)))
            .collect::<Result<Vec<_>>>()
            .map(|v| Some(Value::Array(v)))
    }

    pub(crate) fn from_json<T: Conv>(v: Option<&Value>, p: &Path<'_>) -> Result<Vec<T>> {
        let Some(v) = present(v) else {
            return Ok(Vec::new());
        };
        expect_array(v, p)?
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_json(item, &p.index(i)))
            .collect()
    }

    pub(crate) fn nested<P, T: Conv>(_: fn(&P) -> &Vec<T>) -> crate::proto::order::Nested {
        crate::proto::order::message_of::<T>()
    }
}

/// `repeated string`; omitted when empty.
pub(crate) mod strings {
    use super::*;

    pub(crate) fn to_json(f: &[String], _: &Path<'_>) -> Result<Option<Value>> {
        Ok((!f.is_empty()).then(|| Value::Array(f.iter().cloned().map(Value::String).collect())))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Vec<String>> {
        let Some(v) = present(v) else {
            return Ok(Vec::new());
        };
        expect_array(v, p)?
            .iter()
            .enumerate()
            .map(|(i, s)| expect_str(s, &p.index(i)).map(str::to_owned))
            .collect()
    }
}

// ---------------------------------------------------------------- maps

fn map_to_json<V>(
    f: &BTreeMap<String, V>,
    p: &Path<'_>,
    conv: impl Fn(&V, &Path<'_>) -> Result<Value>,
) -> Result<Option<Value>> {
    if f.is_empty() {
        return Ok(None);
    }
    let mut out = Map::new();
    for (k, v) in f {
        out.insert(k.clone(), conv(v, &p.key(k))?);
    }
    Ok(Some(Value::Object(out)))
}

fn map_from_json<V: Default>(
    v: Option<&Value>,
    p: &Path<'_>,
    conv: impl Fn(&Value, &Path<'_>) -> Result<V>,
) -> Result<BTreeMap<String, V>> {
    let Some(v) = present(v) else {
        return Ok(BTreeMap::new());
    };
    expect_map(v, p)?
        .iter()
        .map(|(k, v)| {
            // Go's encoding/json stores the zero value for a `null` map element.
            let val = if v.is_null() {
                V::default()
            } else {
                conv(v, &p.key(k))?
            };
            Ok((k.clone(), val))
        })
        .collect()
}

/// `map<string, string>`; omitted when empty.
pub(crate) mod string_map {
    use super::*;

    pub(crate) fn to_json(f: &BTreeMap<String, String>, p: &Path<'_>) -> Result<Option<Value>> {
        map_to_json(f, p, |s, _| Ok(Value::String(s.clone())))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<BTreeMap<String, String>> {
        map_from_json(v, p, |v, p| expect_str(v, p).map(str::to_owned))
    }
}

/// `map<string, bytes>` (Secret.data, ConfigMap.binaryData): values are standard base64
/// with padding in JSON, like Go's `[]byte`.
pub(crate) mod bytes_map {
    use super::*;

    pub(crate) fn to_json(f: &BTreeMap<String, Vec<u8>>, p: &Path<'_>) -> Result<Option<Value>> {
        map_to_json(f, p, |b, _| Ok(Value::String(B64.encode(b))))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<BTreeMap<String, Vec<u8>>> {
        map_from_json(v, p, |v, p| {
            let s = expect_str(v, p)?;
            B64.decode(s)
                .map_err(|e| p.err(format!("invalid base64: {e}")))
        })
    }
}

/// `map<string, Message>`; omitted when empty.
pub(crate) mod object_map {
    use super::*;

    pub(crate) fn to_json<T: Conv>(f: &BTreeMap<String, T>, p: &Path<'_>) -> Result<Option<Value>> {
        map_to_json(f, p, |m, p| m.to_json(p))
    }

    pub(crate) fn from_json<T: Conv + Default>(
        v: Option<&Value>,
        p: &Path<'_>,
    ) -> Result<BTreeMap<String, T>> {
        map_from_json(v, p, |v, p| T::from_json(v, p))
    }

    pub(crate) fn nested<P, T: Conv>(
        _: fn(&P) -> &BTreeMap<String, T>,
    ) -> crate::proto::order::Nested {
        crate::proto::order::message_map_of::<T>()
    }
}

// ---------------------------------------------------------------- special types

/// metav1.FieldsV1: protobuf `raw` holds the JSON text; the JSON form is that JSON inline.
pub(crate) mod fields_v1 {
    use super::*;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::FieldsV1;

    pub(crate) fn to_json(f: &Option<FieldsV1>, p: &Path<'_>) -> Result<Option<Value>> {
        match f.as_ref().and_then(|f| f.raw.as_deref()) {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(raw)
                .map(Some)
                .map_err(|e| p.err(format!("FieldsV1 raw is not valid JSON: {e}"))),
        }
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<FieldsV1>> {
        let Some(v) = present(v) else { return Ok(None) };
        let raw = serde_json::to_vec(v).map_err(|e| p.err(e.to_string()))?;
        Ok(Some(FieldsV1 { raw: Some(raw) }))
    }
}

/// runtime.RawExtension holding an embedded object (WatchEvent.object). On the wire the
/// bytes are a complete `k8s\0` + runtime.Unknown encoding (or JSON, which is accepted
/// when decoding); in JSON it is the embedded object itself.
pub(crate) mod raw_extension {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::RawExtension;
    use std::cell::Cell;

    /// How deep protobuf objects may be embedded in one another (a
    /// WatchEvent in a WatchEvent...). kube-apiserver never decodes a
    /// RawExtension's bytes at all, and one level (a watch event's object)
    /// is all any client sends or receives; 8 leaves room to spare. Each
    /// level recurses and copies the rest of the body, so unbounded, a
    /// 200 KiB body of nested events overflowed a 2 MiB stack and an
    /// 800 KiB one needed gigabytes of memory.
    pub(crate) const MAX_EMBEDDED_DEPTH: usize = 8;

    thread_local! {
        static DEPTH: Cell<usize> = const { Cell::new(0) };
    }

    /// One level of embedding, left when dropped.
    struct Level(usize);

    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.set(self.0);
        }
    }

    pub(crate) fn to_json(f: &Option<RawExtension>, p: &Path<'_>) -> Result<Option<Value>> {
        let Some(raw) = f.as_ref().and_then(|r| r.raw.as_deref()) else {
            return Ok(None);
        };
        if raw.starts_with(&crate::proto::MAGIC) {
            let depth = DEPTH.get();
            if depth >= MAX_EMBEDDED_DEPTH {
                return Err(p.err(format!(
                    "embedded objects may not be nested more than {MAX_EMBEDDED_DEPTH} deep"
                )));
            }
            DEPTH.set(depth + 1);
            let _level = Level(depth);
            return crate::proto::decode(raw).map(Some);
        }
        serde_json::from_slice(raw).map(Some).map_err(|e| {
            p.err(format!(
                "embedded object is neither k8s protobuf nor JSON: {e}"
            ))
        })
    }

    pub(crate) fn from_json(v: Option<&Value>, _: &Path<'_>) -> Result<Option<RawExtension>> {
        let Some(v) = present(v) else { return Ok(None) };
        Ok(Some(RawExtension {
            raw: Some(crate::proto::encode(v)?),
        }))
    }
}

/// resource.Quantity: JSON string (numbers accepted on input, as Go does); protobuf
/// `{string}`. The string is carried verbatim (not canonicalised as Go would).
#[allow(dead_code)]
pub(crate) mod quantity {
    use super::*;
    use k8s_pb::apimachinery::pkg::api::resource::Quantity;

    pub(crate) fn to_json(f: &Option<Quantity>, _: &Path<'_>) -> Result<Option<Value>> {
        Ok(f.as_ref()
            .map(|q| Value::String(q.string.clone().unwrap_or_else(|| "0".into()))))
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<Quantity>> {
        let Some(v) = present(v) else { return Ok(None) };
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(p.err(format!(
                    "expected quantity string, got {}",
                    type_name(other)
                )));
            }
        };
        Ok(Some(Quantity { string: Some(s) }))
    }
}

/// `map<string, Quantity>` (ResourceList); omitted when empty.
#[allow(dead_code)]
pub(crate) mod quantity_map {
    use super::*;
    use k8s_pb::apimachinery::pkg::api::resource::Quantity;

    pub(crate) fn to_json(f: &BTreeMap<String, Quantity>, p: &Path<'_>) -> Result<Option<Value>> {
        map_to_json(f, p, |q, p| {
            Ok(super::quantity::to_json(&Some(q.clone()), p)?.unwrap_or(Value::Null))
        })
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<BTreeMap<String, Quantity>> {
        map_from_json(v, p, |v, p| {
            Ok(super::quantity::from_json(Some(v), p)?.unwrap_or_default())
        })
    }
}

/// intstr.IntOrString: JSON number or string; protobuf `{type: 0 => intVal, 1 => strVal}`.
#[allow(dead_code)]
pub(crate) mod int_or_string {
    use super::*;
    use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

    pub(crate) fn to_json(f: &Option<IntOrString>, p: &Path<'_>) -> Result<Option<Value>> {
        let Some(v) = f else { return Ok(None) };
        match v.r#type.unwrap_or(0) {
            0 => Ok(Some(Value::from(v.int_val.unwrap_or(0)))),
            1 => Ok(Some(Value::String(v.str_val.clone().unwrap_or_default()))),
            t => Err(p.err(format!("IntOrString has unknown type {t}"))),
        }
    }

    pub(crate) fn from_json(v: Option<&Value>, p: &Path<'_>) -> Result<Option<IntOrString>> {
        let Some(v) = present(v) else { return Ok(None) };
        match v {
            Value::String(s) => Ok(Some(IntOrString {
                r#type: Some(1),
                int_val: None,
                str_val: Some(s.clone()),
            })),
            Value::Number(_) => Ok(Some(IntOrString {
                r#type: Some(0),
                int_val: Some(expect_int(v, p, i32::MIN.into(), i32::MAX.into())? as i32),
                str_val: None,
            })),
            other => Err(p.err(format!(
                "expected integer or string, got {}",
                type_name(other)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::api::resource::Quantity;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
    use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::json;

    const P: Path<'static> = Path::Root("t");

    #[test]
    fn omitempty_scalars_drop_zero_values_keep_kinds_do_not() {
        assert_eq!(string::to_json(&Some(String::new()), &P).unwrap(), None);
        assert_eq!(
            string_keep::to_json(&Some(String::new()), &P).unwrap(),
            Some(json!(""))
        );
        assert_eq!(int32::to_json(&Some(0), &P).unwrap(), None);
        assert_eq!(int32_keep::to_json(&Some(0), &P).unwrap(), Some(json!(0)));
        assert_eq!(int64::to_json(&Some(-1), &P).unwrap(), Some(json!(-1)));
        assert_eq!(boolean::to_json(&Some(false), &P).unwrap(), None);
        assert_eq!(
            boolean_keep::to_json(&Some(false), &P).unwrap(),
            Some(json!(false))
        );
        for f in [string::to_json, string_keep::to_json] {
            assert_eq!(f(&None, &P).unwrap(), None);
        }
        assert_eq!(
            string::from_json(Some(&json!("")), &P).unwrap(),
            Some(String::new())
        );
        assert_eq!(string::from_json(Some(&Value::Null), &P).unwrap(), None);
        assert_eq!(int32::from_json(None, &P).unwrap(), None);
        assert!(int32::from_json(Some(&json!(1.5)), &P).is_err());
        assert!(int32::from_json(Some(&json!(i64::from(i32::MAX) + 1)), &P).is_err());
    }

    #[test]
    fn time_zero_and_edges() {
        // Go's zero time is an empty message.
        assert_eq!(time::to_json(&Some(Time::default()), &P).unwrap(), None);
        // ... or, if someone encoded it literally, 0001-01-01T00:00:00Z.
        let go_zero = Time {
            seconds: Some(GO_ZERO_TIME_SECONDS),
            nanos: None,
        };
        assert_eq!(time::to_json(&Some(go_zero), &P).unwrap(), None);
        // seconds = 0 present is the Unix epoch, not zero.
        let epoch = Time {
            seconds: Some(0),
            nanos: None,
        };
        assert_eq!(
            time::to_json(&Some(epoch), &P).unwrap(),
            Some(json!("1970-01-01T00:00:00Z"))
        );
        // Time ignores nanos on the wire (time_proto.go).
        let with_nanos = Time {
            seconds: Some(1),
            nanos: Some(999_999_999),
        };
        assert_eq!(
            time::to_json(&Some(with_nanos), &P).unwrap(),
            Some(json!("1970-01-01T00:00:01Z"))
        );
        let far = Time {
            seconds: Some(i64::MAX),
            nanos: None,
        };
        assert!(time::to_json(&Some(far), &P).is_err());
    }

    #[test]
    fn micro_time_format() {
        let t = MicroTime {
            seconds: Some(1_767_323_045),
            nanos: Some(123_456_789),
        };
        // Truncated (not rounded) to microseconds, always six digits.
        assert_eq!(
            micro_time::to_json(&Some(t), &P).unwrap(),
            Some(json!("2026-01-02T03:04:05.123456Z"))
        );
        let t = MicroTime {
            seconds: Some(1_767_323_045),
            nanos: None,
        };
        assert_eq!(
            micro_time::to_json(&Some(t), &P).unwrap(),
            Some(json!("2026-01-02T03:04:05.000000Z"))
        );
        assert_eq!(
            micro_time::to_json(&Some(MicroTime::default()), &P).unwrap(),
            None
        );
        let parsed = micro_time::from_json(Some(&json!("2026-01-02T03:04:05.000007Z")), &P)
            .unwrap()
            .unwrap();
        assert_eq!(
            (parsed.seconds, parsed.nanos),
            (Some(1_767_323_045), Some(7_000))
        );
    }

    #[test]
    fn embedded_objects_nest_boundedly() {
        use k8s_pb::apimachinery::pkg::apis::meta::v1::WatchEvent;
        use k8s_pb::apimachinery::pkg::runtime::RawExtension;
        use prost::Message;
        let nested = |levels: usize| {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
            let mut body = crate::proto::encode(&cm).unwrap();
            for _ in 0..levels {
                let event = WatchEvent {
                    r#type: Some("ADDED".into()),
                    object: Some(RawExtension { raw: Some(body) }),
                };
                body = crate::proto::seal_envelope("v1", "WatchEvent", event.encode_to_vec());
            }
            body
        };
        let v = crate::proto::decode(&nested(raw_extension::MAX_EMBEDDED_DEPTH)).unwrap();
        assert_eq!(v["object"]["object"]["type"], "ADDED");
        let err = crate::proto::decode(&nested(raw_extension::MAX_EMBEDDED_DEPTH + 1)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("embedded objects may not be nested more than 8 deep"),
            "{err}"
        );
        // 5,000 levels (200 KiB) overflowed the test thread's 2 MiB stack.
        // (Found with the proto_decode fuzz target.)
        assert!(crate::proto::decode(&nested(5_000)).is_err());
    }

    #[test]
    fn times_before_1970() {
        // The wire's nanos are normalised into [0, 1e9); before 1970 jiff
        // reports negative sub-second parts, which were printed as
        // `23:59:58.-517158Z`. (Found by the proto_decode fuzz target.)
        let t = MicroTime {
            seconds: Some(-1),
            nanos: Some(-517_158_000),
        };
        assert_eq!(
            micro_time::to_json(&Some(t), &P).unwrap(),
            Some(json!("1969-12-31T23:59:58.482842Z"))
        );
        // Encoded as Go does: seconds rounded down, nanos positive.
        let parsed = micro_time::from_json(Some(&json!("1969-12-31T23:59:58.482842Z")), &P)
            .unwrap()
            .unwrap();
        assert_eq!(
            (parsed.seconds, parsed.nanos),
            (Some(-2), Some(482_842_000))
        );
        let parsed = time::from_json(Some(&json!("1969-12-31T23:59:58.5Z")), &P)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.seconds, Some(-2));
    }

    #[test]
    fn quantity_and_int_or_string() {
        let q = quantity::from_json(Some(&json!("100m")), &P).unwrap();
        assert_eq!(
            q,
            Some(Quantity {
                string: Some("100m".into())
            })
        );
        assert_eq!(quantity::to_json(&q, &P).unwrap(), Some(json!("100m")));
        let q = quantity::from_json(Some(&json!(2)), &P).unwrap();
        assert_eq!(quantity::to_json(&q, &P).unwrap(), Some(json!("2")));
        let m = quantity_map::from_json(Some(&json!({"cpu": "1", "memory": "1Gi"})), &P).unwrap();
        assert_eq!(
            quantity_map::to_json(&m, &P).unwrap(),
            Some(json!({"cpu": "1", "memory": "1Gi"}))
        );

        let i = int_or_string::from_json(Some(&json!(8080)), &P).unwrap();
        assert_eq!(
            i,
            Some(IntOrString {
                r#type: Some(0),
                int_val: Some(8080),
                str_val: None
            })
        );
        assert_eq!(int_or_string::to_json(&i, &P).unwrap(), Some(json!(8080)));
        let s = int_or_string::from_json(Some(&json!("http")), &P).unwrap();
        assert_eq!(
            s,
            Some(IntOrString {
                r#type: Some(1),
                int_val: None,
                str_val: Some("http".into())
            })
        );
        assert_eq!(int_or_string::to_json(&s, &P).unwrap(), Some(json!("http")));
        // Go writes every field: {type: 0, intVal: 0, strVal: ""} is the integer 0.
        let go_zero = IntOrString {
            r#type: Some(0),
            int_val: Some(0),
            str_val: Some(String::new()),
        };
        assert_eq!(
            int_or_string::to_json(&Some(go_zero), &P).unwrap(),
            Some(json!(0))
        );
        assert!(int_or_string::from_json(Some(&json!(true)), &P).is_err());
    }

    #[test]
    fn empty_collections_are_omitted_except_list_items() {
        assert_eq!(strings::to_json(&[], &P).unwrap(), None);
        assert_eq!(string_map::to_json(&BTreeMap::new(), &P).unwrap(), None);
        assert_eq!(bytes_map::to_json(&BTreeMap::new(), &P).unwrap(), None);
        let none: Vec<k8s_pb::api::core::v1::LocalObjectReference> = vec![];
        assert_eq!(objects::to_json(&none, &P).unwrap(), None);
        assert_eq!(objects_keep::to_json(&none, &P).unwrap(), Some(json!([])));
    }

    #[test]
    fn fields_v1_is_inline_json() {
        let v = json!({"f:metadata": {"f:labels": {".": {}}}});
        let f = fields_v1::from_json(Some(&v), &P).unwrap();
        assert_eq!(
            f.as_ref().and_then(|f| f.raw.as_deref()),
            Some(br#"{"f:metadata":{"f:labels":{".":{}}}}"#.as_slice())
        );
        assert_eq!(fields_v1::to_json(&f, &P).unwrap(), Some(v));
    }
}
