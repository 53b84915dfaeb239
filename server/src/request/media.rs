//! Content negotiation: which representation a client accepts and which
//! format a request body is in.
//!
//! Clients ask for alternative shapes through media-type parameters:
//! `application/json;as=Table;g=meta.k8s.io;v=v1` (what `kubectl get`
//! sends), `as=PartialObjectMetadata[List]` (metadata-only informers). The
//! first acceptable entry wins, honouring `q` weights.

use trellis_apis::Status;

use crate::error::{ApiError, ApiResult};

pub const JSON: &str = "application/json";
pub const YAML: &str = "application/yaml";
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";
pub const APPLY_PATCH_YAML: &str = "application/apply-patch+yaml";

/// How the response is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Yaml,
    Protobuf,
}

/// What the response contains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The object(s) themselves.
    Object,
    /// `meta.k8s.io` Table, in `v1` or `v1beta1`.
    Table { v1beta1: bool },
    /// `meta.k8s.io` PartialObjectMetadata(List).
    Metadata { v1beta1: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    pub encoding: Encoding,
    pub shape: Shape,
}

impl Output {
    pub const JSON: Output = Output {
        encoding: Encoding::Json,
        shape: Shape::Object,
    };
}

/// One media range of an `Accept` header.
pub(crate) struct MediaRange<'a> {
    /// `type/subtype`, lower case.
    pub(crate) essence: String,
    params: Vec<(String, &'a str)>,
    pub(crate) q: f32,
}

/// The ranges of an `Accept` header, most preferred first.
pub(crate) fn parse_ranges(accept: &str) -> Vec<MediaRange<'_>> {
    let mut out: Vec<MediaRange> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let essence = it.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let mut params = Vec::new();
            let mut q = 1.0;
            for p in it {
                let (k, v) = p.split_once('=')?;
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
                if k == "q" {
                    q = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(MediaRange { essence, params, q })
        })
        .collect();
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    out
}

fn param<'a>(r: &'a MediaRange<'_>, name: &str) -> Option<&'a str> {
    r.params.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// Picks the response representation. `protobuf` says whether the resource
/// can be encoded as protobuf at all (built-in types only).
pub fn negotiate(accept: Option<&str>, protobuf: bool) -> ApiResult<Output> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::JSON);
    };
    for r in parse_ranges(accept) {
        if r.q <= 0.0 {
            continue;
        }
        let encoding = match r.essence.as_str() {
            JSON | "*/*" | "application/*" => Encoding::Json,
            YAML => Encoding::Yaml,
            // Tables and metadata-only shapes are offered as JSON only.
            PROTOBUF if protobuf && param(&r, "as").is_none() => Encoding::Protobuf,
            _ => continue,
        };
        let shape = match param(&r, "as") {
            None => Shape::Object,
            Some(as_) => {
                let group_ok = param(&r, "g") == Some("meta.k8s.io");
                let v1beta1 = match param(&r, "v") {
                    Some("v1") => false,
                    Some("v1beta1") => true,
                    _ => continue,
                };
                if !group_ok {
                    continue;
                }
                match as_ {
                    "Table" => Shape::Table { v1beta1 },
                    "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                        Shape::Metadata { v1beta1 }
                    }
                    _ => continue,
                }
            }
        };
        return Ok(Output { encoding, shape });
    }
    Err(not_acceptable(protobuf))
}

fn not_acceptable(protobuf: bool) -> ApiError {
    let types = if protobuf {
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    } else {
        "application/json, application/yaml"
    };
    Status::not_acceptable(format!(
        "only the following media types are accepted: {types}"
    ))
    .into()
}

/// The format of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

impl BodyFormat {
    pub fn is_patch(self) -> bool {
        matches!(
            self,
            BodyFormat::JsonPatch
                | BodyFormat::MergePatch
                | BodyFormat::StrategicMergePatch
                | BodyFormat::ApplyPatch
        )
    }
}

/// The body format named by a `Content-Type` header (parameters such as
/// `charset` are ignored). A missing header means JSON, as for the API
/// server's decoder.
pub fn body_format(content_type: Option<&str>) -> Option<BodyFormat> {
    let essence = match content_type {
        None => return Some(BodyFormat::Json),
        Some(ct) => ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    };
    Some(match essence.as_str() {
        "" | JSON => BodyFormat::Json,
        YAML | "application/x-yaml" | "text/yaml" => BodyFormat::Yaml,
        PROTOBUF => BodyFormat::Protobuf,
        JSON_PATCH => BodyFormat::JsonPatch,
        MERGE_PATCH => BodyFormat::MergePatch,
        STRATEGIC_MERGE_PATCH => BodyFormat::StrategicMergePatch,
        APPLY_PATCH_YAML => BodyFormat::ApplyPatch,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(accept), false).unwrap(),
            Output {
                encoding: Encoding::Json,
                shape: Shape::Table { v1beta1: false }
            }
        );
        let meta =
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            negotiate(Some(meta), false).unwrap().shape,
            Shape::Metadata { v1beta1: false }
        );
        assert_eq!(negotiate(None, false).unwrap(), Output::JSON);
        assert_eq!(negotiate(Some("*/*"), false).unwrap(), Output::JSON);
        assert_eq!(
            negotiate(Some("application/json;as=Table;g=other;v=v1"), false)
                .unwrap_err()
                .code(),
            406
        );
        assert_eq!(negotiate(Some("text/html"), false).unwrap_err().code(), 406);
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                false
            )
            .unwrap(),
            Output::JSON
        );
        assert_eq!(
            negotiate(Some("application/yaml;q=0.5,application/json"), false).unwrap(),
            Output::JSON
        );
    }

    #[test]
    fn body_formats() {
        assert_eq!(
            body_format(Some("application/json; charset=utf-8")),
            Some(BodyFormat::Json)
        );
        assert_eq!(
            body_format(Some("application/apply-patch+yaml")),
            Some(BodyFormat::ApplyPatch)
        );
        assert_eq!(body_format(Some("text/plain")), None);
        assert_eq!(body_format(None), Some(BodyFormat::Json));
    }
}
