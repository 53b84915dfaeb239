//! Decoding request bodies of built-in types through their typed structs.
//!
//! Kubernetes decodes a body into the Go type, which drops unknown fields
//! and rejects wrongly typed ones; we do the same through k8s-openapi's
//! structs. `serde_ignored` reports every field the struct did not know, so
//! `fieldValidation` (Strict/Warn/Ignore) can act on them, and serialising the
//! struct back yields the canonical stored form.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::registry::Decoded;

fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let p = render_path(parent);
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

/// Decodes `body` as `T` (named `kind` in `version` for error messages).
pub fn decode<T: DeserializeOwned + Serialize>(
    body: Value,
    kind: &str,
    version: &str,
) -> ApiResult<Decoded> {
    let mut unknown = Vec::new();
    let typed: T = serde_ignored::deserialize(body, |path| unknown.push(render_path(&path)))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"
            ))
        })?;
    let object = serde_json::to_value(&typed)
        .map_err(|e| ApiError::internal("re-encoding a decoded object", e))?;
    Ok(Decoded {
        object,
        unknown_fields: unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn reports_unknown_fields_and_type_errors() {
        let d = decode::<ConfigMap>(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labelz": {}}, "data": {"a": "1"}, "extra": 1}),
            "ConfigMap",
            "v1",
        )
        .unwrap();
        assert_eq!(
            d.unknown_fields,
            vec!["extra".to_string(), "metadata.labelz".to_string()]
        );
        assert!(d.object.get("extra").is_none());
        assert_eq!(d.object["data"]["a"], "1");
        let e = decode::<ConfigMap>(json!({"data": {"a": 1}}), "ConfigMap", "v1").unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(
            e.status()
                .message
                .starts_with("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: "),
            "{}",
            e.status().message
        );
    }
}
