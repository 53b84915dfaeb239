//! Encoding responses in the representation the client negotiated.
//!
//! Objects of the storage version go out as the stored bytes; lists are
//! assembled by concatenating item bytes, never re-serialising them. Only
//! Table, PartialObjectMetadata and YAML output parse objects.

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::request::media::{Encoding, Output, Shape};
use crate::table::{self, IncludeObject};

/// Builds a response with a body and content type.
pub fn raw(code: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn json(code: StatusCode, v: &Value) -> Response {
    raw(
        code,
        "application/json",
        serde_json::to_vec(v).expect("JSON values serialise"),
    )
}

/// Adds `Warning: 299 - "<text>"` headers, as the API server does.
pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn parse(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal("stored object is not valid JSON", e))
}

fn yaml(code: StatusCode, v: &Value) -> ApiResult<Response> {
    let text = serde_yaml::to_string(v).map_err(|e| ApiError::internal("YAML encoding", e))?;
    Ok(raw(code, "application/yaml", text))
}

fn encode(code: StatusCode, output: Output, v: &Value) -> ApiResult<Response> {
    match output.encoding {
        Encoding::Yaml => yaml(code, v),
        _ => Ok(json(code, v)),
    }
}

/// The table row of one (served-form) object.
pub fn table_row(
    def: &ResourceDef,
    obj: &Value,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let cells = def.strategy.table_cells(obj, now);
    table::row(cells, obj, include)
}

/// One object (served-form bytes).
pub fn object(
    def: &ResourceDef,
    output: Output,
    include: IncludeObject,
    code: StatusCode,
    bytes: Bytes,
) -> ApiResult<Response> {
    match (output.shape, output.encoding) {
        (Shape::Object, Encoding::Json) => Ok(raw(code, "application/json", bytes)),
        (Shape::Object, _) => encode(code, output, &parse(&bytes)?),
        (Shape::Table { v1beta1 }, _) => {
            let obj = parse(&bytes)?;
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let row = table_row(def, &obj, include, jiff::Timestamp::now());
            encode(
                code,
                output,
                &table::table(
                    Some(&def.strategy.table_columns()),
                    vec![row],
                    &rv,
                    None,
                    v1beta1,
                ),
            )
        }
        (Shape::Metadata { v1beta1 }, _) => encode(
            code,
            output,
            &table::partial_metadata(&parse(&bytes)?, v1beta1),
        ),
    }
}

/// A page of objects (served-form bytes).
pub fn list(
    def: &ResourceDef,
    output: Output,
    include: IncludeObject,
    items: Vec<Bytes>,
    revision: u64,
    continue_token: Option<&str>,
) -> ApiResult<Response> {
    let rv = revision.to_string();
    match (output.shape, output.encoding) {
        (Shape::Object, Encoding::Json) => {
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = continue_token {
                meta["continue"] = json!(c);
            }
            let size: usize = items.iter().map(Bytes::len).sum::<usize>() + items.len() + 256;
            let mut out = BytesMut::with_capacity(size);
            out.put_slice(b"{\"kind\":");
            out.put_slice(
                serde_json::to_string(&def.list_kind)
                    .expect("string")
                    .as_bytes(),
            );
            out.put_slice(b",\"apiVersion\":");
            out.put_slice(
                serde_json::to_string(&def.api_version())
                    .expect("string")
                    .as_bytes(),
            );
            out.put_slice(b",\"metadata\":");
            out.put_slice(meta.to_string().as_bytes());
            out.put_slice(b",\"items\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(item);
            }
            out.put_slice(b"]}");
            Ok(raw(StatusCode::OK, "application/json", out.freeze()))
        }
        (Shape::Object, _) => {
            let parsed: Vec<Value> = items.iter().map(|b| parse(b)).collect::<ApiResult<_>>()?;
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = continue_token {
                meta["continue"] = json!(c);
            }
            encode(
                StatusCode::OK,
                output,
                &json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": meta, "items": parsed}),
            )
        }
        (Shape::Table { v1beta1 }, _) => {
            let now = jiff::Timestamp::now();
            let rows: Vec<Value> = items
                .iter()
                .map(|b| parse(b).map(|o| table_row(def, &o, include, now)))
                .collect::<ApiResult<_>>()?;
            encode(
                StatusCode::OK,
                output,
                &table::table(
                    Some(&def.strategy.table_columns()),
                    rows,
                    &rv,
                    continue_token,
                    v1beta1,
                ),
            )
        }
        (Shape::Metadata { v1beta1 }, _) => {
            let parsed: Vec<Value> = items
                .iter()
                .map(|b| parse(b).map(|o| table::partial_metadata(&o, v1beta1)))
                .collect::<ApiResult<_>>()?;
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = continue_token {
                meta["continue"] = json!(c);
            }
            let api_version = if v1beta1 {
                "meta.k8s.io/v1beta1"
            } else {
                "meta.k8s.io/v1"
            };
            encode(
                StatusCode::OK,
                output,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": api_version, "metadata": meta, "items": parsed}),
            )
        }
    }
}
