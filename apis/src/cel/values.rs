//! JSON data + schema → CEL values, after
//! `k8s.io/apiserver/pkg/cel/common/values.go` (`UnstructuredToVal`).
//!
//! - `integer` → `int`, `number` → `double` (whole JSON numbers included),
//!   `boolean` → `bool`, `string` → `string`, except formats `date-time` and
//!   `date` → `timestamp`, `duration` → `duration`, `byte` → `bytes`;
//! - `x-kubernetes-int-or-string` → `int` or `string` (CEL `dyn`);
//! - objects with `properties` (and embedded resources) → maps keyed by the
//!   *escaped* property name, so `self.foo__dash__bar` and
//!   `has(self.foo__dash__bar)` work; a property whose value is `null` is
//!   absent, as upstream treats it; keys the schema does not declare (only
//!   possible under preserve-unknown-fields, or in `metadata` at a resource
//!   root) are kept under their raw name so that equality still sees them,
//!   while the checker keeps rules from naming them;
//! - objects with an `additionalProperties` schema → `map(string, T)` keyed by
//!   the raw key;
//! - arrays → lists of their items;
//! - data with no schema type (preserve-unknown-fields) → plain JSON mapping.
//!
//! A value that does not match its schema (which validation reports first)
//! falls back to the plain JSON mapping rather than failing.
//!
//! Deviation: lists with `x-kubernetes-list-type` `set`/`map` compare and
//! concatenate like atomic lists (upstream ignores order in `==` and merges
//! in `+`).

use super::check::{GROWN_STACK, RED_ZONE};
use super::escaping::escape;
use super::schema::Node;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelString, CelTimestamp, CelUInt,
};
use cel::common::value::Val;
use serde_json::Value as Json;
use std::collections::HashMap;

/// A CEL value borrowing from the JSON it was made from.
pub type CelVal<'a> = Box<dyn Val + 'a>;

/// Converts `data` described by `schema`; `resource_root` applies the
/// `apiVersion`/`kind`/`metadata` view of a resource root.
///
/// Values are built directly in the interpreter's representation and
/// borrow strings from `data`: converting is most of what evaluating a rule
/// costs, since `self` is often a whole spec.
pub fn to_val<'a>(data: &'a Json, schema: &Node, resource_root: bool) -> CelVal<'a> {
    if resource_root || schema.embedded {
        let s = schema.with_type_and_object_meta();
        return convert(data, &s);
    }
    convert(data, schema)
}

fn convert<'a>(data: &'a Json, schema: &Node) -> CelVal<'a> {
    stacker::maybe_grow(RED_ZONE, GROWN_STACK, || convert_level(data, schema))
}

fn convert_level<'a>(data: &'a Json, schema: &Node) -> CelVal<'a> {
    if data.is_null() {
        return Box::new(CelNull);
    }
    if schema.int_or_string {
        return match data {
            Json::String(s) => Box::new(CelString::from(s.as_str())),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Box::new(CelInt::from(i)),
                None => Box::new(CelDouble::from(n.as_f64().unwrap_or(0.0))),
            },
            other => plain(other),
        };
    }
    match (schema.ty.as_str(), data) {
        ("object", Json::Object(m)) => {
            if schema.embedded {
                let s = schema.with_type_and_object_meta();
                return object(m, &s);
            }
            if schema.properties.is_some() {
                return object(m, schema);
            }
            if let Some(ap) = &schema.additional {
                let map: HashMap<CelMapKey<'a>, CelVal<'a>> = m
                    .iter()
                    .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v, ap, false)))
                    .collect();
                return Box::new(CelMap::from(map));
            }
            // preserve-unknown-fields (or a property-less object): no field is
            // declared, the data is still there for equality.
            plain(data)
        }
        ("array", Json::Array(items)) => match &schema.items {
            Some(item_schema) => Box::new(CelList::from(
                items
                    .iter()
                    .map(|i| to_val(i, item_schema, false))
                    .collect::<Vec<_>>(),
            )),
            None => plain(data),
        },
        ("string", Json::String(s)) => string(s, &schema.format),
        ("number", Json::Number(n)) => Box::new(CelDouble::from(n.as_f64().unwrap_or(0.0))),
        ("integer", Json::Number(n)) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Box::new(CelInt::from(f as i64)),
                _ => plain(data),
            },
        },
        ("boolean", Json::Bool(b)) => Box::new(CelBool::from(*b)),
        _ => plain(data),
    }
}

fn object<'a>(m: &'a serde_json::Map<String, Json>, schema: &Node) -> CelVal<'a> {
    let props = schema.properties.as_ref();
    let mut map: HashMap<CelMapKey<'a>, CelVal<'a>> = HashMap::with_capacity(m.len());
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        match props.and_then(|p| p.get(k)) {
            Some(prop) => {
                if let Some(name) = escape(k) {
                    let key = if name == *k {
                        CelMapKey::from(k.as_str())
                    } else {
                        CelMapKey::from(name)
                    };
                    map.insert(key, to_val(v, prop, false));
                }
            }
            None => {
                // Undeclared: kept for equality under a name no rule can
                // select (the checker rejects undeclared fields).
                map.insert(CelMapKey::from(k.as_str()), plain(v));
            }
        }
    }
    Box::new(CelMap::from(map))
}

fn string<'a>(s: &'a str, format: &str) -> CelVal<'a> {
    match format {
        "date-time" => match parse_date_time(s) {
            Some(t) => Box::new(CelTimestamp::from(t)),
            None => Box::new(CelString::from(s)),
        },
        "date" => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => {
                let naive = d.and_hms_opt(0, 0, 0).expect("midnight exists");
                Box::new(CelTimestamp::from(naive.and_utc().fixed_offset()))
            }
            Err(_) => Box::new(CelString::from(s)),
        },
        "duration" => match parse_duration(s) {
            Some(d) => Box::new(CelDuration::from(d)),
            None => Box::new(CelString::from(s)),
        },
        "byte" => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => Box::new(CelBytes::from(b)),
                Err(_) => Box::new(CelString::from(s)),
            }
        }
        _ => Box::new(CelString::from(s)),
    }
}

/// JSON with no schema: numbers that are whole and fit become `int`.
pub fn plain(data: &Json) -> CelVal<'_> {
    match data {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => match n.as_u64() {
                Some(u) => Box::new(CelUInt::from(u)),
                None => Box::new(CelDouble::from(n.as_f64().unwrap_or(0.0))),
            },
        },
        Json::String(s) => Box::new(CelString::from(s.as_str())),
        Json::Array(a) => Box::new(CelList::from(a.iter().map(plain).collect::<Vec<_>>())),
        Json::Object(m) => {
            let map: HashMap<CelMapKey<'_>, CelVal<'_>> = m
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), plain(v)))
                .collect();
            Box::new(CelMap::from(map))
        }
    }
}

/// RFC 3339 date-time as strfmt accepts it (upper- or lower-case `T`/`Z`,
/// optional fraction, `Z` or numeric offset).
pub fn parse_date_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(&s.to_ascii_uppercase()).ok())
        .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

/// Go `time.ParseDuration` syntax, plus the `d` (day) and `w` (week) units
/// strfmt adds.
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: i128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            _ => return None,
        };
        total_nanos += (num * scale).round() as i128;
    }
    if neg {
        total_nanos = -total_nanos;
    }
    let nanos = i64::try_from(total_nanos).ok()?;
    Some(chrono::Duration::nanoseconds(nanos))
}
