//! Percent-decoding of the request path, once, before anything reads it.
//!
//! Go's net/http hands kube-apiserver and kcp a decoded `URL.Path`, and Go
//! clients rely on it: client-go and kubectl send `/clusters/*` as
//! `/clusters/%2A` and `root:org` as `root%3Aorg`. Routing, workspace
//! resolution, authorization and audit all read the path, so it is decoded
//! here, in one place, before any of them.
//!
//! Invariants: a path is decoded exactly once (`%252A` becomes `%2A`, not
//! `*`); an encoded `/` (`%2F`) is kept encoded, so it never splits a
//! segment and a name holding it fails name validation; malformed escapes
//! (`%zz`, `%4`) and decoded bytes that are not UTF-8 or not valid in a URI
//! path are a 400, as Go's URL parser refuses them.

use axum::body::Body;
use http::{Request, Uri};

use crate::error::ApiError;

/// The request with its URI path decoded (query untouched).
pub fn decode(req: Request<Body>) -> Result<Request<Body>, ApiError> {
    let raw = req.uri().path();
    if !raw.contains('%') {
        return Ok(req);
    }
    let decoded = decode_path(raw)?;
    let mut parts = req.uri().clone().into_parts();
    let pq = match req.uri().query() {
        Some(q) => format!("{decoded}?{q}"),
        None => decoded,
    };
    parts.path_and_query = Some(pq.parse().map_err(|_| invalid(raw))?);
    let uri = Uri::from_parts(parts).map_err(|_| invalid(raw))?;
    let (mut head, body) = req.into_parts();
    head.uri = uri;
    Ok(Request::from_parts(head, body))
}

fn invalid(raw: &str) -> ApiError {
    // The path is the client's own input; echo at most a bounded prefix.
    let shown: String = raw.chars().take(256).collect();
    ApiError::bad_request(format!("invalid URL escape in path {shown:?}"))
}

/// Decodes every escape but `%2F`/`%2f`.
fn decode_path(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).ok_or_else(|| invalid(raw))?;
        let value = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| invalid(raw))?;
        if value == b'/' {
            out.extend_from_slice(&bytes[i..i + 3]);
        } else {
            out.push(value);
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| invalid(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Result<String, u16> {
        let req = Request::get(p).body(Body::empty()).unwrap();
        decode(req)
            .map(|r| r.uri().to_string())
            .map_err(|e| e.code())
    }

    #[test]
    fn decodes_what_go_clients_send() {
        assert_eq!(
            path("/services/apiexport/abc/e/clusters/%2A/apis/x.io/v1/things?watch=true").unwrap(),
            "/services/apiexport/abc/e/clusters/*/apis/x.io/v1/things?watch=true"
        );
        assert_eq!(
            path("/clusters/root%3Aorg/api/v1").unwrap(),
            "/clusters/root:org/api/v1"
        );
        assert_eq!(path("/api/v1/namespaces").unwrap(), "/api/v1/namespaces");
        // The query is the query parser's business.
        assert_eq!(
            path("/api/v1/pods?labelSelector=a%3Db").unwrap(),
            "/api/v1/pods?labelSelector=a%3Db"
        );
    }

    #[test]
    fn decodes_once_and_keeps_encoded_slashes() {
        assert_eq!(
            path("/clusters/root%253Aorg").unwrap(),
            "/clusters/root%3Aorg"
        );
        assert_eq!(
            path("/api/v1/namespaces/a%2Fb/configmaps").unwrap(),
            "/api/v1/namespaces/a%2Fb/configmaps"
        );
        assert_eq!(
            path("/api/v1/namespaces/a%2fb").unwrap(),
            "/api/v1/namespaces/a%2fb"
        );
    }

    #[test]
    fn malformed_escapes_are_bad_requests() {
        for p in [
            "/api/%zz",
            "/api/%4",
            "/api/%",
            "/api/%C3%28",
            "/api/a%20b",
            "/api/%0A",
        ] {
            assert_eq!(path(p), Err(400), "{p}");
        }
        let long = format!("/api/{}%", "a".repeat(60_000));
        assert_eq!(path(&long), Err(400));
    }
}
