//! Conversion webhook client config checks
//! (`k8s.io/apiserver/pkg/util/webhook`: `ValidateWebhookURL`,
//! `ValidateWebhookService`, `ValidateCABundle`) and the small subset of Go's
//! `net/url` they and the API approval annotation rely on.
//!
//! URL parsing follows `url.Parse`/`url.ParseRequestURI` closely enough for
//! what these rules read (scheme, user info, host, query, fragment) and
//! reproduces its common error texts (`parse "x": missing protocol scheme`,
//! `invalid port ":x" after host`, `invalid character " " in host name`,
//! ...). Percent-decoding of paths is not checked.
//!
//! The CA bundle check mirrors client-go's `rootCertPool`: PEM blocks are
//! located and base64-decoded exactly, but certificates are not parsed as
//! X.509 (no ASN.1 here): a `CERTIFICATE` block whose payload is a DER
//! SEQUENCE counts as a certificate.

use crate::field_error::FieldError;
use crate::validation;

use super::gofmt;
use super::model::{ClientConfig, Service};
use super::path::child;

/// The parts of a parsed URL the rules read.
#[derive(Debug, Default, PartialEq)]
pub struct Url {
    pub scheme: String,
    pub user: Option<String>,
    pub host: String,
    pub raw_query: String,
    pub fragment: String,
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// `shouldEscape(c, encodeHost)` for ASCII bytes.
fn host_byte_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        ))
}

/// `unescape(host, encodeHost)`: valid `%XX` escapes, no forbidden bytes.
fn check_host_chars(host: &str) -> Result<(), String> {
    let b = host.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!(
                    "invalid URL escape {}",
                    gofmt::quote(&host[i..end])
                ));
            }
            i += 3;
            continue;
        }
        if b[i] < 0x80 && host_byte_needs_escape(b[i]) {
            return Err(format!(
                "invalid character {} in host name",
                gofmt::quote(&host[i..i + 1])
            ));
        }
        i += 1;
    }
    Ok(())
}

/// `validOptionalPort`: empty, or `:` followed by digits only.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit()))
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &host[i + 1..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", gofmt::quote(port)));
        }
    } else if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", gofmt::quote(port)));
        }
    }
    check_host_chars(host)?;
    Ok(host.to_string())
}

fn parse_inner(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            return Ok(url);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///"))
        && rest.starts_with("//")
    {
        let authority = &rest[2..];
        let authority = match authority.find('/') {
            Some(i) => &authority[..i],
            None => authority,
        };
        match authority.rfind('@') {
            None => url.host = parse_host(authority)?,
            Some(i) => {
                url.host = parse_host(&authority[i + 1..])?;
                url.user = Some(authority[..i].to_string());
            }
        }
    }
    Ok(url)
}

fn wrap(raw: &str, e: String) -> String {
    format!("parse {}: {e}", gofmt::quote(raw))
}

/// `url.Parse`.
pub fn parse(raw: &str) -> Result<Url, String> {
    let (u, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let mut url = parse_inner(u, false).map_err(|e| wrap(u, e))?;
    if let Some(f) = frag {
        url.fragment = f.to_string();
    }
    Ok(url)
}

/// `url.ParseRequestURI`.
pub fn parse_request_uri(raw: &str) -> Result<Url, String> {
    parse_inner(raw, true).map_err(|e| wrap(raw, e))
}

const URL_FORM: &str = "; desired format: https://host[/path]";

/// `ValidateWebhookURL(fldPath, url, forceHttps=true)`.
pub fn validate_url(path: &str, raw: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match parse(raw) {
        Err(e) => errs.push(FieldError::required(
            path,
            format!("url must be a valid URL: {e}{URL_FORM}"),
        )),
        Ok(u) => {
            if u.scheme != "https" {
                errs.push(FieldError::invalid(
                    path,
                    u.scheme.as_str(),
                    format!("'https' is the only allowed URL scheme{URL_FORM}"),
                ));
            }
            if u.host.is_empty() {
                errs.push(FieldError::invalid(
                    path,
                    "",
                    format!("host must be specified{URL_FORM}"),
                ));
            }
            if let Some(user) = &u.user {
                errs.push(FieldError::invalid(
                    path,
                    user.as_str(),
                    "user information is not permitted in the URL",
                ));
            }
            if !u.fragment.is_empty() {
                errs.push(FieldError::invalid(
                    path,
                    u.fragment.as_str(),
                    "fragments are not permitted in the URL",
                ));
            }
            if !u.raw_query.is_empty() {
                errs.push(FieldError::invalid(
                    path,
                    u.raw_query.as_str(),
                    "query parameters are not permitted in the URL",
                ));
            }
        }
    }
    errs
}

/// `ValidateWebhookService`.
pub fn validate_service(path: &str, svc: &Service) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc.name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    }
    if svc.namespace.is_empty() {
        errs.push(FieldError::required(child(path, "namespace"), ""));
    }
    if !(1..=65535).contains(&svc.port) {
        errs.push(FieldError::invalid(
            child(path, "port"),
            svc.port,
            "port is not valid: must be between 1 and 65535, inclusive",
        ));
    }
    let Some(url_path) = svc.path.as_deref() else {
        return errs;
    };
    let path_field = child(path, "path");
    if url_path == "/" || url_path.is_empty() {
        return errs;
    }
    if url_path == "//" {
        errs.push(FieldError::invalid(
            path_field,
            url_path,
            "segment[0] may not be empty",
        ));
        return errs;
    }
    if !url_path.starts_with('/') {
        errs.push(FieldError::invalid(
            path_field.clone(),
            url_path,
            "must start with a '/'",
        ));
    }
    // Upstream slices off the first byte whether or not it is a '/'.
    let mut to_check = &url_path[url_path.chars().next().map_or(0, char::len_utf8)..];
    if let Some(s) = to_check.strip_suffix('/') {
        to_check = s;
    }
    for (i, step) in to_check.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                path_field.clone(),
                url_path,
                format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for failure in validation::is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(
                path_field.clone(),
                url_path,
                format!("segment[{i}]: {failure}"),
            ));
        }
    }
    errs
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 (padding optional, whitespace skipped).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut ended = false;
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            ended = true;
            continue;
        }
        if ended {
            return None;
        }
        acc = (acc << 6) | u32::from(b64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// One decoded PEM block.
struct PemBlock {
    type_: String,
    has_headers: bool,
    bytes: Vec<u8>,
}

/// `pem.Decode`: the first well-formed block in `data` and what follows it.
fn pem_decode(data: &str) -> Option<(PemBlock, &str)> {
    let mut rest = data;
    loop {
        let start = rest.find("-----BEGIN ")?;
        let after = &rest[start + 11..];
        let type_end = after.find("-----")?;
        let type_ = &after[..type_end];
        let body_start = &after[type_end + 5..];
        let end_marker = format!("-----END {type_}-----");
        if type_.contains('\n') {
            rest = after;
            continue;
        }
        let Some(end) = body_start.find(&end_marker) else {
            rest = after;
            continue;
        };
        let body = &body_start[..end];
        let (headers, b64) = match body.find("\n\n") {
            Some(i) if body[..i].contains(':') => (true, &body[i + 2..]),
            _ => (false, body),
        };
        let Some(bytes) = base64_decode(b64) else {
            rest = after;
            continue;
        };
        let remaining = &body_start[end + end_marker.len()..];
        return Some((
            PemBlock {
                type_: type_.to_string(),
                has_headers: headers,
                bytes,
            },
            remaining,
        ));
    }
}

fn looks_like_certificate(block: &PemBlock) -> bool {
    block.type_ == "CERTIFICATE" && !block.has_headers && block.bytes.first() == Some(&0x30)
}

/// The error `transport.TLSConfigFor` gives for a CA bundle, if any.
pub fn ca_bundle_error(pem: &[u8]) -> Option<String> {
    if pem.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(pem);
    let mut rest: &str = &text;
    let mut any_cert = false;
    while let Some((block, next)) = pem_decode(rest) {
        any_cert |= looks_like_certificate(&block);
        rest = next;
    }
    if any_cert {
        return None;
    }
    // `createErrorParsingCAData`: explain the first problem.
    let mut rest: &str = &text;
    let detail = loop {
        if rest.is_empty() {
            break "no valid certificate authority data seen".to_string();
        }
        let Some((block, next)) = pem_decode(rest) else {
            break "unable to parse bytes as PEM block".to_string();
        };
        rest = next;
        if block.type_ != "CERTIFICATE" || block.has_headers {
            continue;
        }
        if !looks_like_certificate(&block) {
            break "failed to parse certificate: x509: malformed certificate".to_string();
        }
    };
    Some(format!("unable to load root certificates: {detail}"))
}

/// `%#v` of a `[]byte`.
fn go_bytes(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| format!("0x{x:x}")).collect();
    format!("[]byte{{{}}}", parts.join(", "))
}

/// `ValidateCABundle` on the base64 text of a v1 `caBundle`.
pub fn validate_ca_bundle(path: &str, ca_bundle_b64: &str) -> Vec<FieldError> {
    let bytes = base64_decode(ca_bundle_b64).unwrap_or_default();
    match ca_bundle_error(&bytes) {
        None => Vec::new(),
        Some(e) => vec![gofmt::invalid_raw(path, &go_bytes(&bytes), e)],
    }
}

/// Whether a client config has a CA bundle `ValidateCABundle` rejects.
pub fn has_invalid_ca_bundle(cc: Option<&ClientConfig>) -> bool {
    cc.is_some_and(|cc| {
        !cc.ca_bundle.is_empty()
            && ca_bundle_error(&base64_decode(&cc.ca_bundle).unwrap_or_default()).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse("https://example.com/convert").is_ok());
        assert_eq!(
            parse(":foo").unwrap_err(),
            "parse \":foo\": missing protocol scheme"
        );
        assert_eq!(
            parse("https://a b/").unwrap_err(),
            "parse \"https://a b/\": invalid character \" \" in host name"
        );
        assert_eq!(
            parse("https://host:x/").unwrap_err(),
            "parse \"https://host:x/\": invalid port \":x\" after host"
        );
        let u = parse("http://u@h/p?q=1#f").unwrap();
        assert_eq!(
            (
                u.scheme.as_str(),
                u.user.as_deref(),
                u.host.as_str(),
                u.raw_query.as_str(),
                u.fragment.as_str()
            ),
            ("http", Some("u"), "h", "q=1", "f")
        );
    }

    #[test]
    fn webhook_url_errors() {
        let errs: Vec<String> = validate_url("p", "http://u@h?q#f")
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            [
                "p: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
                "p: Invalid value: \"u\": user information is not permitted in the URL",
                "p: Invalid value: \"f\": fragments are not permitted in the URL",
                "p: Invalid value: \"q\": query parameters are not permitted in the URL",
            ]
        );
    }

    #[test]
    fn ca_bundles() {
        assert_eq!(
            ca_bundle_error(b"junk").as_deref(),
            Some("unable to load root certificates: unable to parse bytes as PEM block")
        );
        let pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(ca_bundle_error(pem.as_bytes()), None);
        let e = validate_ca_bundle("c", "YQ==");
        assert_eq!(
            e[0].to_string(),
            "c: Invalid value: []byte{0x61}: unable to load root certificates: unable to parse bytes as PEM block"
        );
    }
}
