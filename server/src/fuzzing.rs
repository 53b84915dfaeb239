//! Fuzz target bodies for what the server parses from requests.
//!
//! Like `trellis_apis::fuzzing`: each function takes arbitrary bytes, must
//! not panic, overflow the stack or run for long, and asserts the
//! properties its parsers promise. They call the functions the request path
//! calls (`handlers`, `request`, `provider`, `registry`, `managed`) on the
//! built-in resource definitions, without a socket or storage. The
//! cargo-fuzz project is `tests/fuzz`; the corpus replay is this module's
//! test.
//!
//! Not part of the API: the signatures change with the targets.

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};

use crate::registry::filter::Filter;
use crate::registry::store::Store;
use crate::registry::{Registry, ResourceDef};
use crate::request::media::{self, BodyFormat};
use crate::request::params::{FieldValidation, Params};
use crate::request::{body, info};

/// Every target of this crate, by name (the name of its `tests/fuzz`
/// binary and corpus directory).
pub const TARGETS: &[trellis_apis::fuzzing::Target] = &[
    ("request_path", request_path),
    ("query_params", query_params),
    ("request_headers", request_headers),
    ("yaml_body", yaml_body),
    ("object_decode", object_decode),
    ("strategic_merge", strategic_merge),
    ("server_side_apply", server_side_apply),
];

/// The built-in resources every workspace serves (built once).
fn builtins() -> &'static [Arc<ResourceDef>] {
    static DEFS: LazyLock<Vec<Arc<ResourceDef>>> = LazyLock::new(|| {
        let registry: Registry = crate::builtin::builtins().registry;
        let mut defs: Vec<_> = registry.all().cloned().collect();
        // A stable order, so that a corpus input picks the same definition
        // on every run.
        defs.sort_by(|a, b| {
            (&a.group, &a.version, &a.resource).cmp(&(&b.group, &b.version, &b.resource))
        });
        defs
    });
    &DEFS
}

/// The definition an input's first byte picks (among `defs`) and the rest.
fn pick<'a>(defs: &[&'a ResourceDef], data: &'a [u8]) -> Option<(&'a ResourceDef, &'a [u8])> {
    let (&first, rest) = data.split_first()?;
    Some((defs[first as usize % defs.len()], rest))
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The path of a request: cluster prefix (`handlers::split_cluster`), the
/// provider endpoint's split (`provider::split`), then what the path asks
/// for (`request::info::parse`) and the authorizer's view of it
/// (`authz::request::attributes`), for every method.
pub fn request_path(data: &[u8]) {
    let path = text(data);
    let (cluster, rest) = crate::handlers::split_cluster(&path);
    // The router slices the client's prefix off with this length.
    assert!(
        path.ends_with(rest),
        "{path:?}: rest {rest:?} is not a suffix"
    );
    if let Some(after) = path.strip_prefix("/clusters/") {
        assert_eq!(format!("{cluster}{rest}"), after);
    }
    if let Some((provider, export, ws, rest)) = crate::provider::split(&path) {
        assert!(
            path.ends_with(rest),
            "{path:?}: rest {rest:?} is not a suffix"
        );
        assert!(!provider.is_empty() && !export.is_empty() && !ws.is_empty());
        assert!(!ws.contains('/'));
    }
    let user = crate::auth::UserInfo::new("fuzz");
    for method in [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        for watch in [false, true] {
            if let Some(info::Target::Resource(r)) = info::parse(&method, rest, watch) {
                assert!(!r.resource.is_empty() && !r.version.is_empty(), "{path:?}");
            }
        }
        let q = (method == Method::GET).then_some("watch=true");
        crate::authz::request::attributes(&user, &method, rest, q);
    }
}

/// A request's query string: `Params::parse`, then what lists and watches
/// make of it (resourceVersion semantics, selectors, continue tokens, the
/// storage prefix a list scans). A list never scans outside the namespace
/// it addresses.
pub fn query_params(data: &[u8]) {
    let query = text(data);
    let Ok(params) = Params::parse(Some(&query)) else {
        return;
    };
    let _ = crate::handlers::resource::list_at(&params);
    if let Some(rv) = &params.resource_version {
        let _ = crate::handlers::watch::parse_rv(rv);
    }
    if let Some(token) = &params.continue_token {
        let _ = crate::registry::store::decode_continue(token);
    }
    for def in builtins() {
        let Ok(filter) = Filter::parse(
            def,
            params.label_selector.as_deref(),
            params.field_selector.as_deref(),
        ) else {
            continue;
        };
        filter.is_trivial();
        if !def.namespaced {
            continue;
        }
        let ns = def
            .keyspace
            .namespace("root", "default")
            .expect("a valid namespace");
        if let Ok(prefix) = Store::prefix(def, "root", Some("default"), &filter) {
            assert!(
                prefix.starts_with(&ns),
                "{query:?}: {prefix:?} is outside {ns:?}"
            );
        }
        let _ = Store::prefix(def, "root", None, &filter);
    }
}

/// Request headers: `Accept` (content negotiation), `Content-Type` (body
/// format), `User-Agent` (the default field manager) and the
/// `Impersonate-*` headers. Lines are `name: value`.
pub fn request_headers(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(i) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[i + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(line[..i].trim_ascii()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let get = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    for protobuf in [false, true] {
        if let Ok(out) = media::negotiate(get(http::header::ACCEPT), protobuf) {
            assert!(protobuf || out.encoding != media::Encoding::Protobuf);
        }
    }
    media::body_format(get(http::header::CONTENT_TYPE));
    let m = crate::managed::manager_from_user_agent(get(http::header::USER_AGENT));
    assert!(m.len() <= 128);
    let _ = crate::authz::impersonation::requested(&headers);
}

/// Request bodies as YAML (`application/yaml`, apply patches): exactly one
/// document, bounded nesting and alias expansion. The same bytes also go
/// through the JSON and protobuf decoders. A value parsed from YAML, printed
/// as JSON and parsed as YAML again is the same value (YAML is a superset
/// of JSON, nearly: see below).
pub fn yaml_body(data: &[u8]) {
    for format in [BodyFormat::Json, BodyFormat::Protobuf] {
        let _ = body::parse_document(data, format);
    }
    let Ok(v) = body::parse_yaml(data) else {
        return;
    };
    let json = serde_json::to_string(&v).expect("JSON values serialise");
    // YAML 1.1 (libyaml) is not quite a superset of JSON: it refuses the
    // non-printable characters DEL and C1 controls (other than NEL) and
    // U+FFFE/U+FFFF, and folds NEL, LS and PS as line breaks. JSON leaves
    // them unescaped, so such strings do not survive the round trip.
    let yaml_special = |c: char| {
        matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
    };
    // And a mapping key must fit in 1024 characters (an implicit key),
    // quotes and escapes included.
    fn long_key(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| Value::String(k.clone()).to_string().len() > 1000 || long_key(v)),
            Value::Array(a) => a.iter().any(long_key),
            _ => false,
        }
    }
    if json.contains(yaml_special) || long_key(&v) {
        return;
    }
    let again = body::parse_yaml(json.as_bytes())
        .unwrap_or_else(|e| panic!("{json} does not parse as YAML: {}", e.status().message));
    assert_eq!(again, v, "{json}");
}

/// A create or update body decoded for a built-in resource (`Store::decode`:
/// type meta, typed decode through k8s-openapi, unknown fields). The first
/// byte picks the resource, the rest is a JSON, YAML or protobuf body.
pub fn object_decode(data: &[u8]) {
    let defs: Vec<&ResourceDef> = builtins().iter().map(|d| &**d).collect();
    let Some((def, rest)) = pick(&defs, data) else {
        return;
    };
    let format = match data[0] / 64 {
        0 | 1 => BodyFormat::Json,
        2 => BodyFormat::Yaml,
        _ => BodyFormat::Protobuf,
    };
    let Ok(v) = body::parse_document(rest, format) else {
        return;
    };
    for validation in [FieldValidation::Strict, FieldValidation::Warn] {
        let _ = Store::decode(def, v.clone(), validation);
    }
}

/// Splits `[stored, request]` JSON, or takes the whole input as the request
/// and `fallback` as the stored object.
fn stored_and_request(data: &[u8], fallback: impl FnOnce() -> Value) -> Option<(Value, Value)> {
    let v: Value = serde_json::from_slice(data).ok()?;
    Some(match v {
        Value::Array(mut a) if a.len() == 2 && a[0].is_object() => {
            let request = a.pop().expect("two items");
            (a.pop().expect("two items"), request)
        }
        other => (fallback(), other),
    })
}

/// A stored object of `def`'s kind with labels, finalizers, owner
/// references and managed fields.
fn stored(def: &ResourceDef) -> Value {
    let mut o = json!({
        "apiVersion": def.api_version(),
        "kind": def.kind,
        "metadata": {
            "name": "demo",
            "uid": "0b5b4b8e-2f5d-4c1e-9c3e-1f2a3b4c5d6e",
            "resourceVersion": "42",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": "web"},
            "annotations": {"note": "x"},
            "finalizers": ["example.com/a"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u1"}],
            "managedFields": [{
                "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {".": {}, "f:note": {}}}},
            }],
        },
    });
    if def.namespaced {
        o["metadata"]["namespace"] = json!("default");
    }
    o
}

/// `application/strategic-merge-patch+json` on built-in resources
/// (`smp::apply` with the resource's schema), then the typed decode the
/// handler runs on the result. The first byte picks the resource; the rest
/// is the patch, or `[stored object, patch]`.
pub fn strategic_merge(data: &[u8]) {
    let defs: Vec<&ResourceDef> = builtins()
        .iter()
        .filter(|d| d.strategic_merge)
        .map(|d| &**d)
        .collect();
    let Some((def, rest)) = pick(&defs, data) else {
        return;
    };
    let Some((cur, patch)) = stored_and_request(rest, || stored(def)) else {
        return;
    };
    if let Ok(patched) = trellis_apis::smp::apply(&cur, &patch, &def.schema) {
        let _ = crate::handlers::resource::decode_patched(def, patched, FieldValidation::Strict);
    }
}

/// Server-side apply (`application/apply-patch+yaml`) on built-in
/// resources: pruning the configuration, decoding the stored managed
/// fields, the merge and ownership computation (`ssa::apply`), storing the
/// managers and the typed decode, as the apply handler runs them; then an
/// `Update` by another manager over the result (`managed::record_update`).
/// The first byte picks the resource and whether the apply is forced; the
/// rest is the configuration, or `[stored object, configuration]`.
pub fn server_side_apply(data: &[u8]) {
    let defs: Vec<&ResourceDef> = builtins().iter().map(|d| &**d).collect();
    let Some((def, rest)) = pick(&defs, data) else {
        return;
    };
    let force = data[0] & 0x80 != 0;
    let Some((live, mut applied)) = stored_and_request(rest, || stored(def)) else {
        return;
    };
    if !applied.is_object() {
        return;
    }
    trellis_apis::schema::prune(&mut applied, &def.schema);
    let managers = crate::managed::decode(&live);
    let scope = crate::managed::Scope::Main;
    let strip = |o: &Value| crate::managed::strip(o, scope);
    let me = crate::managed::Entry {
        manager: "fuzz".into(),
        operation: "Apply".into(),
        subresource: String::new(),
        api_version: def.api_version(),
        time: Some("2024-01-02T00:00:00Z".into()),
        fields: Default::default(),
    };
    let run = trellis_apis::ssa::Apply {
        schema: &def.schema,
        live: &live,
        applied: &applied,
        strip: &strip,
        manager: me,
        force,
    };
    let Ok((mut merged, managers)) = trellis_apis::ssa::apply(run, managers) else {
        return;
    };
    if !merged.is_object() {
        return;
    }
    crate::managed::store(&mut merged, managers);
    let mut updated = merged.clone();
    crate::managed::record_update(
        &def.schema,
        Some(&live),
        &mut updated,
        "other",
        &def.api_version(),
        scope,
        "2024-01-03T00:00:00Z",
    );
    let _ = Store::decode(def, merged, FieldValidation::Strict);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in corpus of this crate's targets, replayed on a tokio
    /// worker's 2 MiB stack (see `trellis_apis::fuzzing::replay`).
    #[test]
    fn corpus_replays_without_failures() {
        let failures = trellis_apis::fuzzing::replay(TARGETS);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Every corpus directory belongs to a target of one of the two crates,
    /// and every target has a cargo-fuzz binary.
    #[test]
    fn corpus_directories_and_fuzz_binaries_match_the_targets() {
        let mut targets: Vec<&str> = trellis_apis::fuzzing::TARGETS
            .iter()
            .chain(TARGETS)
            .map(|(name, _)| *name)
            .collect();
        targets.sort_unstable();
        let corpus = trellis_apis::fuzzing::corpus_dir();
        let mut dirs: Vec<String> = std::fs::read_dir(&corpus)
            .expect("the corpus directory exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort_unstable();
        assert_eq!(dirs, targets, "directories of {}", corpus.display());
        let bins = corpus.join("../fuzz_targets");
        for t in &targets {
            assert!(
                bins.join(format!("{t}.rs")).is_file(),
                "no fuzz_targets/{t}.rs"
            );
        }
    }
}
