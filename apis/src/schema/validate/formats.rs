//! The string formats Kubernetes checks in custom resources, and the Go
//! value renderings its messages use.
//!
//! Upstream (`apiextensions-apiserver/pkg/apiserver/validation/formats.go`)
//! keeps a fixed list of formats; any other `format` — including the numeric
//! ones such as `int32`, `int64`, `float` and `double` — is blanked before
//! validation, so it neither checks nor changes type errors. Names are
//! normalised by dropping `-` (so `date-time` is `datetime`), and matching is
//! case-sensitive.
//!
//! Each check mirrors the function kube-openapi's `strfmt.Default` registry
//! uses (its forked govalidator, `net.ParseIP`-style parsers with the
//! `k8s.io/utils/net` "sloppy" IPv4 that tolerates leading zeros, the go-openapi
//! date-time and duration parsers). They are hand-written against the
//! upstream semantics rather than taken from the jsonschema crate's built-in
//! formats, which follow the JSON Schema RFCs and disagree with Go on many
//! inputs (IPv4 leading zeros, `5 days` durations, UUIDs without dashes,
//! date-times with lower-case `t`). Where a Go parser is too large to mirror
//! (`net/mail`, `net/url`), the check is an approximation of it; see the
//! individual functions.

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// A format check, as the jsonschema crate's `with_format` wants it.
pub(super) type Check = fn(&str) -> bool;

/// The check for a `format` value, or `None` when Kubernetes ignores that
/// format.
pub(super) fn checker(format: &str) -> Option<Check> {
    let normalized = format.replace('-', "");
    Some(match normalized.as_str() {
        "bsonobjectid" => is_bson_object_id,
        "uri" => is_request_uri,
        "email" => is_email,
        "hostname" => is_hostname,
        "ipv4" => is_ipv4,
        "ipv6" => is_ipv6,
        "cidr" => is_cidr,
        "mac" => is_mac,
        "uuid" => |s| matches(&UUID, s),
        "uuid3" => |s| matches(&UUID3, s),
        "uuid4" => |s| matches(&UUID4, s),
        "uuid5" => |s| matches(&UUID5, s),
        "isbn" => |s| is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10,
        "isbn13" => is_isbn13,
        "creditcard" => is_credit_card,
        "ssn" => |s| s.len() == 11 && matches(&SSN, s),
        "hexcolor" => |s| matches(&HEX_COLOR, s),
        "rgbcolor" => |s| matches(&RGB_COLOR, s),
        "byte" => is_base64,
        "password" => |_| true,
        "date" => is_date,
        "duration" => is_duration,
        "datetime" => is_date_time,
        _ => return None,
    })
}

/// A lazily compiled regular expression; the patterns are constants, so a
/// failure to compile is a bug caught by the tests.
struct Lazy(&'static str, OnceLock<Regex>);

impl Lazy {
    const fn new(pattern: &'static str) -> Self {
        Lazy(pattern, OnceLock::new())
    }
    fn get(&self) -> &Regex {
        self.1
            .get_or_init(|| Regex::new(self.0).expect("constant regex"))
    }
}

fn matches(re: &Lazy, s: &str) -> bool {
    re.get().is_match(s)
}

static UUID: Lazy =
    Lazy::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$");
static UUID3: Lazy =
    Lazy::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$");
static UUID4: Lazy =
    Lazy::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$");
static UUID5: Lazy =
    Lazy::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$");
static SSN: Lazy = Lazy::new(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$");
static HEX_COLOR: Lazy = Lazy::new(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
static RGB_COLOR: Lazy = Lazy::new(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$",
);
static CREDIT_CARD: Lazy = Lazy::new(
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$",
);
// kube-openapi's HostnamePattern; the `-` inside the classes is escaped
// because Rust's parser, unlike Go's, reads `9-\p{S}` as a broken range.
static HOSTNAME: Lazy = Lazy::new(
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
);
static DATE_TIME_TAIL: Lazy =
    Lazy::new(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$");
static LOOSE_DURATION: Lazy = Lazy::new(r"((\d+)\s*([A-Za-zµ]+))");

fn is_bson_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `IsHostname`: the pattern, at most 255 bytes, labels of at most 63.
fn is_hostname(s: &str) -> bool {
    matches(&HOSTNAME, s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

/// `k8s.io/utils/net.ParseIPSloppy` for dotted quads: four decimal fields up
/// to 255, leading zeros allowed (read as decimal).
fn parse_ipv4_sloppy(s: &str) -> bool {
    let mut fields = 0;
    for part in s.split('.') {
        fields += 1;
        if fields > 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let mut n: u32 = 0;
        for b in part.bytes() {
            n = n * 10 + u32::from(b - b'0');
            if n > 255 {
                return false;
            }
        }
    }
    fields == 4
}

fn parse_ip_sloppy(s: &str) -> bool {
    parse_ipv4_sloppy(s) || s.parse::<Ipv6Addr>().is_ok()
}

/// kube-openapi `isIPv4`: any IP that parses and contains a dot, which
/// includes IPv4-mapped IPv6 such as `::ffff:1.2.3.4`.
fn is_ipv4(s: &str) -> bool {
    s.contains('.') && parse_ip_sloppy(s)
}

/// govalidator `IsIPv6`: any IP that parses and contains a colon.
fn is_ipv6(s: &str) -> bool {
    s.contains(':') && s.parse::<Ipv6Addr>().is_ok()
}

/// `ParseCIDRSloppy`: an address and a decimal prefix length in range.
fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let max = if parse_ipv4_sloppy(addr) {
        32
    } else if addr.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    !bits.is_empty()
        && bits.len() <= 3
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= max)
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |i: usize, n: usize| b[i..i + n].iter().all(u8::is_ascii_hexdigit);
    let ok_len = |n: usize| n == 6 || n == 8 || n == 20;
    if b.len() < 14 {
        return false;
    }
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) || !ok_len((b.len() + 1) / 3) {
            return false;
        }
        (0..b.len())
            .step_by(3)
            .all(|i| hex(i, 2) && (i + 2 >= b.len() || b[i + 2] == b[2]))
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !ok_len(2 * (b.len() + 1) / 5) {
            return false;
        }
        (0..b.len())
            .step_by(5)
            .all(|i| hex(i, 4) && (i + 4 >= b.len() || b[i + 4] == b'.'))
    } else {
        false
    }
}

/// govalidator strips whitespace and `-` before checking ISBNs.
fn isbn_digits(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 10
        || !b[..9].iter().all(u8::is_ascii_digit)
        || !(b[9].is_ascii_digit() || b[9] == b'X')
    {
        return false;
    }
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = if *c == b'X' { 10 } else { u32::from(c - b'0') };
            (i as u32 + 1) * v
        })
        .sum();
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12]
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

/// govalidator `IsCreditCard`: the card-number pattern plus the Luhn check,
/// after dropping whitespace and dashes.
fn is_credit_card(s: &str) -> bool {
    let d = isbn_digits(s);
    if !matches(&CREDIT_CARD, &d) {
        return false;
    }
    let mut sum = 0;
    let mut double = false;
    for c in d.bytes().rev() {
        let mut v = u32::from(c - b'0');
        if double {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// govalidator `IsBase64`: standard alphabet, padded, non-empty.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Go `time.Parse("2006-01-02", s)`: four-digit year, two-digit month and
/// day, the day within the month (leap years included).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse::<u32>().unwrap_or(0))
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// go-openapi `IsDateTime`: lower-cased and split at every `t`, the first
/// piece a date and the second `hh:mm:ss[.frac](z|±hh:mm)` with the hour,
/// minute and second compared as two-digit strings.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some(c) = DATE_TIME_TAIL.get().captures(time) else {
        return false;
    };
    &c[1] <= "23" && &c[2] <= "59" && &c[3] <= "59"
}

/// go-openapi `ParseDuration`: Go's `time.ParseDuration`, or failing that
/// any `<digits><spaces><unit word>` run anywhere in the string whose unit
/// is one of the long or short names (`5 days`, `1 wk`, `3 seconds`).
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    LOOSE_DURATION.get().captures_iter(s).any(|c| {
        let unit = c[3].trim().to_lowercase();
        UNITS.iter().any(|variants| {
            let last = variants.len() - 1;
            variants
                .iter()
                .enumerate()
                .any(|(i, v)| (i == last && unit.starts_with(v)) || v.eq_ignore_ascii_case(&unit))
        })
    })
}

/// Go `time.ParseDuration`'s grammar: `[-+]?(<decimal><unit>)+` or `0`.
fn go_parse_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut frac_len = 0;
        let mut consumed = int_len;
        if rest[int_len..].starts_with('.') {
            frac_len = rest[int_len + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            consumed += 1 + frac_len;
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        rest = &rest[consumed..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if !matches!(
            &rest[..unit_len],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

/// An approximation of Go's `net/mail.ParseAddress`: an optional display
/// name before `<addr-spec>`, or a bare addr-spec, whose local part is a
/// dot-atom or quoted string and whose domain is a dot-atom or a
/// `[literal]`. Comments and obsolete syntax are not accepted.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        (None, None) => s,
        _ => return false,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom =
        |p: &str| !p.is_empty() && p.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        !local[1..local.len() - 1].contains(['"', '\r', '\n'])
    } else {
        dot_atom(local)
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') {
        !domain[1..domain.len() - 1].contains(['[', ']', '\\'])
    } else {
        dot_atom(domain)
    };
    local_ok && domain_ok
}

/// An approximation of Go's `url.ParseRequestURI`: no control bytes, then
/// `*`, an absolute path, or `scheme:` followed by an opaque part or a
/// `//authority` with a numeric port; `%` escapes must be well formed.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if s == "*" {
        return true;
    }
    let (scheme, rest) = match s.find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c))) {
        Some(i) if s.as_bytes()[i] == b':' => {
            if i == 0 || !s.as_bytes()[0].is_ascii_alphabetic() {
                return false;
            }
            (&s[..i], &s[i + 1..])
        }
        _ => ("", s),
    };
    let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
    if !rest.starts_with('/') {
        return !scheme.is_empty();
    }
    let path = match rest.strip_prefix("//") {
        Some(after) if !scheme.is_empty() => {
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let port = if let Some(v6) = host_port.strip_prefix('[') {
                match v6.split_once(']') {
                    Some((_, p)) => p,
                    None => return false,
                }
            } else {
                host_port.rsplit_once(':').map_or("", |(_, p)| p)
            };
            let port = port.strip_prefix(':').unwrap_or(port);
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            &after[end..]
        }
        _ => rest,
    };
    let b = path.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
    })
}

// ---------------------------------------------------------------------------
// Go value renderings used in messages.

pub(crate) use crate::goquote::go_quote;

/// Go `%v` of a float64: `%g` with the shortest precision, which switches
/// to exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is below
/// -4 or at least 6 — unlike JSON, which only does so from 1e21.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go `%v` of a JSON number as decoded by apimachinery: integers print as
/// integers, everything else as float64.
pub(crate) fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        n.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go `%#v` of an unstructured value (`map[string]interface{}` and
/// friends), as `field.Duplicate` renders compound values.
pub(crate) fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => format!(
            "[]interface {{}}{{{}}}",
            items.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "map[string]interface {{}}{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp_v(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(format: &str, s: &str) -> bool {
        checker(format).expect("supported format")(s)
    }

    #[test]
    fn supported_list_matches_upstream() {
        for f in [
            "bsonobjectid",
            "uri",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "cidr",
            "mac",
            "uuid",
            "uuid3",
            "uuid4",
            "uuid5",
            "isbn",
            "isbn10",
            "isbn13",
            "creditcard",
            "ssn",
            "hexcolor",
            "rgbcolor",
            "byte",
            "password",
            "date",
            "duration",
            "datetime",
            "date-time",
        ] {
            assert!(checker(f).is_some(), "{f}");
        }
        for f in [
            "int32",
            "int64",
            "float",
            "double",
            "Date-Time",
            "quantity",
            "",
        ] {
            assert!(checker(f).is_none(), "{f}");
        }
    }

    #[test]
    fn formats() {
        assert!(check("date-time", "2024-02-29T10:20:30Z"));
        assert!(check("date-time", "2024-02-29t10:20:30.123+01:00"));
        assert!(!check("date-time", "2024-02-29T10:20:30"));
        assert!(!check("date-time", "2023-02-29T10:20:30Z"));
        assert!(!check("date-time", "2024-01-01T24:00:00Z"));
        assert!(check("date", "2000-02-29"));
        assert!(!check("date", "1900-02-29"));
        assert!(check("byte", "aGVsbG8="));
        assert!(!check("byte", "aGVsbG8"));
        assert!(!check("byte", ""));
        assert!(check("uuid", "123E4567-e89b-12d3-a456-426614174000"));
        assert!(check("uuid", "123e4567e89b12d3a456426614174000"));
        assert!(!check("uuid4", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(check("ipv4", "010.0.0.1"));
        assert!(check("ipv4", "::ffff:1.2.3.4"));
        assert!(!check("ipv4", "256.0.0.1"));
        assert!(!check("ipv4", "::1"));
        assert!(check("ipv6", "fe80::1"));
        assert!(!check("ipv6", "1.2.3.4"));
        assert!(check("cidr", "10.0.0.0/8"));
        assert!(!check("cidr", "10.0.0.0/33"));
        assert!(check("mac", "01:23:45:67:89:ab"));
        assert!(check("mac", "0123.4567.89ab"));
        assert!(!check("mac", "01:23:45:67:89"));
        assert!(check("hostname", "example.com"));
        assert!(check("hostname", "localhost"));
        assert!(!check("hostname", "-bad.com"));
        assert!(check("duration", "1h30m"));
        assert!(check("duration", "5 days"));
        assert!(!check("duration", "soon"));
        assert!(check("email", "Jane <jane@example.com>"));
        assert!(!check("email", "jane@"));
        assert!(check("uri", "https://example.com:8443/a%20b"));
        assert!(check("uri", "/just/a/path"));
        assert!(!check("uri", "relative/path"));
        assert!(check("isbn10", "0-321-75104-3"));
        assert!(check("isbn13", "978-0321751041"));
        assert!(check("creditcard", "4111 1111 1111 1111"));
        assert!(check("ssn", "123-45-6789"));
        assert!(check("hexcolor", "#fff"));
        assert!(check("rgbcolor", "rgb(0, 128,255)"));
        assert!(check("bsonobjectid", "507f1f77bcf86cd799439011"));
    }

    #[test]
    fn go_renderings() {
        assert_eq!(go_float(10.0), "10");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(
            go_sharp_v(&json!({"name": "a", "port": 80, "x": [1.5, null]})),
            r#"map[string]interface {}{"name":"a", "port":80, "x":[]interface {}{1.5, interface {}(nil)}}"#
        );
    }
}
