//! JSON Patch (RFC 6902) and JSON merge patch (RFC 7386) as the Kubernetes
//! API server applies them.
//!
//! Operations are applied by the `json-patch` crate one at a time on a copy
//! of the document, so the whole patch stays atomic while two behaviours of
//! the library Kubernetes uses (evanphx/json-patch) are kept: a `test` of an
//! absent member against `null` succeeds (kube-rs' finalizer helper relies on
//! it), and error texts name the operation and path the way kubectl users
//! see them.

use json_patch::{PatchOperation, jsonptr::PointerBuf};
use serde_json::Value;

/// Kubernetes' limit on operations in one JSON patch.
pub const MAX_OPERATIONS: usize = 10_000;

/// Kubernetes' limit on how much `copy` operations may add to a document
/// in one JSON patch (`JSONPatchMaxCopyBytes`, the request body limit,
/// installed as evanphx/json-patch's `AccumulatedCopySizeLimit`), counted
/// in bytes of the JSON encoding of every copied value. Without it, each
/// `copy` of a container into itself doubles the document: a few dozen
/// operations in a 2 KiB patch would need more memory than exists.
pub const MAX_COPY_BYTES: u64 = 3 * 1024 * 1024;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// More than [`MAX_OPERATIONS`] operations (HTTP 413).
    #[error("The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {0}")]
    TooManyOperations(usize),
    /// An operation does not apply to the document (HTTP 422).
    #[error("{0}")]
    Inapplicable(String),
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn describe(op: &PatchOperation, kind: &json_patch::PatchErrorKind) -> String {
    use json_patch::PatchErrorKind as K;
    let path = op.path().as_str().to_string();
    match (op, kind) {
        (PatchOperation::Test(_), _) => format!("testing value {path} failed: test failed"),
        (PatchOperation::Move(m), K::InvalidFromPointer) => format!(
            "move operation does not apply: doc is missing from path: {}: missing value",
            m.from
        ),
        (PatchOperation::Copy(c), K::InvalidFromPointer) => format!(
            "copy operation does not apply: doc is missing from path: {}: missing value",
            c.from
        ),
        (PatchOperation::Replace(_), _) => {
            format!("replace operation does not apply: doc is missing key: {path}: missing value")
        }
        (_, K::CannotMoveInsideItself) => {
            format!("move operation does not apply: cannot move {path} into itself")
        }
        (op, _) => format!(
            "{} operation does not apply: doc is missing path: {path:?}: missing value",
            op_name(op)
        ),
    }
}

/// One operation as sent. Like evanphx/json-patch, the document only has to
/// be a list of objects to decode; unknown operations, malformed pointers
/// and missing values are reported when the operation is applied (422).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RawOperation {
    #[serde(default)]
    op: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

impl RawOperation {
    fn to_operation(&self) -> Result<PatchOperation, PatchError> {
        let pointer = |p: &str, what: &str| {
            PointerBuf::parse(p).map_err(|_| {
                PatchError::Inapplicable(format!(
                    "{} operation does not apply: doc is missing {what}: {p:?}: missing value",
                    self.op
                ))
            })
        };
        let value = || {
            self.value.clone().ok_or_else(|| {
                PatchError::Inapplicable(format!(
                    "{} operation does not apply: doc is missing value: missing value",
                    self.op
                ))
            })
        };
        let from = || pointer(self.from.as_deref().unwrap_or(""), "from path");
        let path = pointer(&self.path, "path")?;
        Ok(match self.op.as_str() {
            "add" => PatchOperation::Add(json_patch::AddOperation {
                path,
                value: value()?,
            }),
            "remove" => PatchOperation::Remove(json_patch::RemoveOperation { path }),
            "replace" => PatchOperation::Replace(json_patch::ReplaceOperation {
                path,
                value: value()?,
            }),
            "move" => PatchOperation::Move(json_patch::MoveOperation {
                from: from()?,
                path,
            }),
            "copy" => PatchOperation::Copy(json_patch::CopyOperation {
                from: from()?,
                path,
            }),
            // evanphx treats a missing value as null for `test`.
            "test" => PatchOperation::Test(json_patch::TestOperation {
                path,
                value: self.value.clone().unwrap_or(Value::Null),
            }),
            other => {
                return Err(PatchError::Inapplicable(format!(
                    "Unexpected kind: {other}"
                )));
            }
        })
    }
}

/// Parses a JSON patch document.
pub fn parse_json_patch(bytes: &[u8]) -> Result<Vec<RawOperation>, PatchError> {
    let ops: Vec<RawOperation> =
        serde_json::from_slice(bytes).map_err(|e| PatchError::Malformed(e.to_string()))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations(ops.len()));
    }
    Ok(ops)
}

/// Counts the bytes written to it.
struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Adds the size of what `op` copies to `copied`, refusing the patch past
/// [`MAX_COPY_BYTES`] with evanphx/json-patch's error (a 422, as every
/// error applying a patch). The sizes counted are bounded: those that fit
/// add up to at most the limit, and the one that does not is a value of a
/// document that is itself bounded. (Go's encoder escapes `<`, `>` and `&`
/// where ours does not, so the counts can differ slightly from upstream's.)
fn account_copy(doc: &Value, op: &PatchOperation, copied: &mut u64) -> Result<(), PatchError> {
    let PatchOperation::Copy(c) = op else {
        return Ok(());
    };
    // A missing source fails when the operation is applied.
    let Some(value) = doc.pointer(c.from.as_str()) else {
        return Ok(());
    };
    let mut size = ByteCount(0);
    serde_json::to_writer(&mut size, value).expect("JSON values serialise");
    *copied += size.0;
    if *copied > MAX_COPY_BYTES {
        return Err(PatchError::Inapplicable(format!(
            "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_COPY_BYTES}"
        )));
    }
    Ok(())
}

/// Applies a JSON patch to `doc`, all or nothing.
pub fn apply_json_patch(doc: &Value, raw: &[RawOperation]) -> Result<Value, PatchError> {
    let mut out = doc.clone();
    let mut copied = 0;
    for r in raw {
        let op = &r.to_operation()?;
        account_copy(&out, op, &mut copied)?;
        if let PatchOperation::Test(t) = op
            && t.value.is_null()
            && out.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut out, std::slice::from_ref(op))
            .map_err(|e| PatchError::Inapplicable(describe(op, &e.kind)))?;
    }
    Ok(out)
}

/// Applies a JSON merge patch. Kubernetes refuses patches that are not
/// JSON objects.
pub fn apply_merge_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::Malformed("Invalid JSON Patch".into()));
    }
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}

/// A JSON pointer from path segments (for building patches in tests and tools).
pub fn pointer(segments: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(segments.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(doc: Value, ops: Value) -> Result<Value, PatchError> {
        let ops = parse_json_patch(&serde_json::to_vec(&ops).unwrap())?;
        apply_json_patch(&doc, &ops)
    }

    #[test]
    fn kube_rs_finalizer_pattern() {
        let doc = json!({"metadata": {"name": "x"}});
        let out = patch(
            doc,
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]),
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["f"]));
        // With finalizers present, the null test fails and nothing changes.
        let err = patch(
            out,
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::Inapplicable(
                "testing value /metadata/finalizers failed: test failed".into()
            )
        );
    }

    #[test]
    fn malformed_operations_fail_on_application() {
        let doc = json!({"a": 1});
        for (ops, want) in [
            (
                json!([{"op": "add", "path": "x", "value": 1}]),
                "add operation does not apply: doc is missing path: \"x\": missing value",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "Unexpected kind: frob",
            ),
            (
                json!([{"op": "replace", "path": "/a"}]),
                "replace operation does not apply: doc is missing value: missing value",
            ),
        ] {
            assert_eq!(
                patch(doc.clone(), ops).unwrap_err(),
                PatchError::Inapplicable(want.into())
            );
        }
    }

    #[test]
    fn atomic_and_errors() {
        let doc = json!({"a": 1});
        let err = patch(
            doc.clone(),
            json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}]),
        )
        .unwrap_err();
        assert!(
            matches!(err, PatchError::Inapplicable(ref m) if m.starts_with("remove operation does not apply")),
            "{err}"
        );
        assert!(matches!(
            patch(doc.clone(), json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            patch(doc.clone(), json!([1])),
            Err(PatchError::Malformed(_))
        ));
        let too_many: Vec<Value> = (0..10_001)
            .map(|_| json!({"op": "test", "path": "/a", "value": 1}))
            .collect();
        assert_eq!(
            patch(doc.clone(), Value::Array(too_many)).unwrap_err(),
            PatchError::TooManyOperations(10_001)
        );
        assert_eq!(
            patch(doc, json!([{"op": "replace", "path": "/a", "value": 5}])).unwrap(),
            json!({"a": 5})
        );
    }

    #[test]
    fn copies_are_bounded() {
        // Each copy of `/a` into itself doubles the document: 40 of them
        // would need 2^40 times its size. (Found by the json_patch fuzz
        // target.)
        let ops: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "/a", "path": format!("/a/x{i}")}))
            .collect();
        let err = patch(json!({"a": {"k": "0123456789"}}), Value::Array(ops)).unwrap_err();
        assert!(
            matches!(&err, PatchError::Inapplicable(m) if m.starts_with("Unable to complete the copy, the accumulated size increase of copy is ") && m.ends_with(", exceeding the limit 3145728")),
            "{err}"
        );
        // Copies up to the limit are fine.
        let big = "x".repeat(1024 * 1024);
        let ops = json!([
            {"op": "copy", "from": "/a", "path": "/b"},
            {"op": "copy", "from": "/a", "path": "/c"},
        ]);
        let out = patch(json!({"a": big}), ops).unwrap();
        assert_eq!(out["c"].as_str().map(str::len), Some(1024 * 1024));
    }

    #[test]
    fn merge_patch() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}});
        let out = apply_merge_patch(
            &doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert!(apply_merge_patch(&doc, &json!([1])).is_err());
    }
}
