//! Request bodies within the limits Kubernetes enforces.
//!
//! Bodies above 3 MiB get 413 before any parsing. JSON and YAML are parsed
//! with bounded nesting (serde_json and serde_yaml refuse more than 128
//! levels; serde_yaml also bounds alias expansion), so hostile bodies are a
//! 400, never a crash or an unbounded allocation.

use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;
use trellis_apis::Status;

use super::media::BodyFormat;
use crate::error::{ApiError, ApiResult};

/// Kubernetes' `MaxRequestBodyBytes`.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub async fn read(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            // `to_bytes` reports the length limit as its own error kind.
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit")
            {
                Status::request_entity_too_large(format!(
                    "Request entity too large: limit is {MAX_BODY_BYTES}"
                ))
                .into()
            } else {
                ApiError::bad_request(format!("unable to read request body: {e}"))
            }
        })
}

/// Parses a JSON, YAML or protobuf document into a (JSON) value.
pub fn parse_document(bytes: &[u8], format: BodyFormat) -> ApiResult<Value> {
    match format {
        BodyFormat::Yaml | BodyFormat::ApplyPatch => parse_yaml(bytes),
        BodyFormat::Protobuf => {
            Ok(trellis_apis::proto::decode(bytes).map_err(trellis_apis::Error::from)?)
        }
        _ => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("json parse error: {e}"))),
    }
}

/// YAML (a superset of JSON) into a JSON value; exactly one document.
pub fn parse_yaml(bytes: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("yaml parse error: body is not valid UTF-8"))?;
    let mut docs = serde_yaml::Deserializer::from_str(text);
    let Some(first) = docs.next() else {
        return Err(ApiError::bad_request("yaml parse error: empty body"));
    };
    let value: serde_yaml::Value = serde::Deserialize::deserialize(first)
        .map_err(|e| ApiError::bad_request(format!("yaml parse error: {e}")))?;
    if docs.next().is_some() {
        return Err(ApiError::bad_request(
            "yaml parse error: expected a single document",
        ));
    }
    yaml_to_json(value)
}

fn yaml_to_json(v: serde_yaml::Value) -> ApiResult<Value> {
    Ok(match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        ApiError::bad_request("yaml parse error: number is not finite")
                    })?
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(seq) => Value::Array(
            seq.into_iter()
                .map(yaml_to_json)
                .collect::<ApiResult<_>>()?,
        ),
        serde_yaml::Value::Mapping(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(ApiError::bad_request(
                            "yaml parse error: map keys must be strings",
                        ));
                    }
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => yaml_to_json(t.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bodies_are_bad_requests() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse_document(deep.as_bytes(), BodyFormat::Json)
                .unwrap_err()
                .code(),
            400
        );
        let deep_yaml = "- ".repeat(10_000) + "x";
        assert_eq!(parse_yaml(deep_yaml.as_bytes()).unwrap_err().code(), 400);
        let laughs = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
        assert_eq!(parse_yaml(laughs.as_bytes()).unwrap_err().code(), 400);
        assert_eq!(parse_yaml(b"a: 1\n---\nb: 2\n").unwrap_err().code(), 400);
        assert_eq!(
            parse_yaml(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  k: '1'\n").unwrap()["data"]["k"],
            "1"
        );
    }
}
