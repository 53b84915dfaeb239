//! Kubernetes protobuf wire format (`application/vnd.kubernetes.protobuf`) for objects kept
//! in their Kubernetes JSON form (`serde_json::Value`).
//!
//! # Wire format
//!
//! Verified against kubernetes/kubernetes `staging/src/k8s.io/apimachinery/pkg/runtime/`
//! `serializer/protobuf/protobuf.go`, `serializer/codec_factory.go`, `runtime/types_proto.go`,
//! `pkg/util/framer/framer.go` and `apiserver/pkg/endpoints/handlers/{watch.go,response.go}`:
//!
//! * **Object / list body**: `6b 38 73 00` (`k8s\0`) followed by a `runtime.Unknown`
//!   message `{1: typeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
//!   4: contentType}` where `raw` is the typed message (e.g. `k8s.io.api.core.v1.ConfigMap`)
//!   and `contentEncoding`/`contentType` are empty. Lists are the same with the list kind
//!   (`ConfigMapList`: `{1: ListMeta, 2: repeated ConfigMap}`); list items carry no
//!   apiVersion/kind.
//! * **Watch stream** (`application/vnd.kubernetes.protobuf;stream=watch`): a sequence of
//!   frames, each a 4-byte big-endian length followed by that many bytes of a *bare*
//!   `metav1.WatchEvent{1: type, 2: object RawExtension{1: raw}}` (the stream serializer is
//!   the prefix-less `RawSerializer`), where `raw` is the object's complete `k8s\0` +
//!   `runtime.Unknown` encoding as above.
//!
//! # JSON mapping
//!
//! Field tables live in `types/`, field kinds (and the absent-vs-empty rules) in
//! `fields.rs`. In short: Go value fields tagged `omitempty` lose zero values (client-go
//! always puts them on the wire); Go pointer fields and fields without `omitempty` keep
//! whatever is on the wire; empty repeated/map fields are omitted (list `items` is always
//! an array); a zero `metav1.Time`/`MicroTime` (empty message) is omitted where Go's JSON
//! says `null`; Time is whole seconds `2006-01-02T15:04:05Z`, MicroTime
//! `2006-01-02T15:04:05.000000Z`; bytes are standard base64; FieldsV1 is inline JSON.
//! Unknown JSON fields are ignored when encoding; unknown protobuf fields are skipped
//! when decoding.

mod error;
mod fields;
pub mod order;
mod registry;
mod types;

use k8s_pb::apimachinery::pkg::apis::meta::v1::WatchEvent;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

pub use error::ProtoError;

/// Magic prefix of every protobuf-encoded object: `k8s` + encoding style 0
/// (`runtime.Unknown`).
pub const MAGIC: [u8; 4] = [0x6b, 0x38, 0x73, 0x00];

/// Media type of protobuf request and response bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Media type of a protobuf watch response (length-delimited `WatchEvent` frames).
pub const WATCH_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

type Result<T> = std::result::Result<T, ProtoError>;

/// Whether `apiVersion`/`kind` (objects and their `…List` kinds) can be converted.
/// `Status`, `DeleteOptions` and `WatchEvent` are accepted under any apiVersion.
pub fn supports(api_version: &str, kind: &str) -> bool {
    registry::lookup(api_version, kind).is_some()
}

/// All registered `(apiVersion, kind)` pairs; apiVersion `"*"` means "any".
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    registry::all()
}

/// The `(apiVersion, kind)` from a body's `runtime.Unknown` envelope, without decoding the
/// embedded object.
pub fn type_meta(body: &[u8]) -> Result<(String, String)> {
    let (api_version, kind, _) = open_envelope(body)?;
    Ok((api_version, kind))
}

/// Decodes a `k8s\0` + `runtime.Unknown` body into the object's Kubernetes JSON form,
/// with `apiVersion` and `kind` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value> {
    let (api_version, kind, raw) = open_envelope(body)?;
    let entry = registry::lookup(&api_version, &kind).ok_or_else(|| ProtoError::Unsupported {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let mut value = (entry.decode)(&raw, &kind)?;
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(value)
}

/// Encodes an object (JSON with `apiVersion` and `kind`) as `k8s\0` + `runtime.Unknown`.
/// JSON fields the protobuf message does not have are ignored.
pub fn encode(obj: &Value) -> Result<Vec<u8>> {
    let api_version = json_str(obj, "apiVersion")?;
    let kind = json_str(obj, "kind")?;
    let entry = lookup(api_version, kind)?;
    let raw = (entry.encode)(obj, kind)?;
    Ok(seal_envelope(api_version, kind, raw))
}

/// Encodes a list (e.g. `v1`/`ConfigMapList`) from its `metadata` (ListMeta JSON, or
/// `null`) and items (JSON objects; their apiVersion/kind are not carried).
pub fn encode_list(
    api_version: &str,
    list_kind: &str,
    list_meta: &Value,
    items: &[Value],
) -> Result<Vec<u8>> {
    let entry = lookup(api_version, list_kind)?;
    let encode = entry.encode_list.ok_or_else(|| ProtoError::Unsupported {
        api_version: api_version.into(),
        kind: list_kind.into(),
    })?;
    let raw = encode(list_meta, items, list_kind)?;
    Ok(seal_envelope(api_version, list_kind, raw))
}

/// One complete watch-stream frame: 4-byte big-endian length + `WatchEvent{type, object}`
/// with the object encoded as by [`encode`]. `event_type` is `ADDED`, `MODIFIED`,
/// `DELETED`, `BOOKMARK` or `ERROR` (with a `Status` object).
pub fn encode_watch_frame(event_type: &str, obj: &Value) -> Result<Vec<u8>> {
    let event = WatchEvent {
        r#type: Some(event_type.to_owned()),
        object: Some(RawExtension {
            raw: Some(encode(obj)?),
        }),
    };
    let len = event.encoded_len();
    let prefix = u32::try_from(len)
        .map_err(|_| ProtoError::TooLarge(format!("watch event of {len} bytes exceeds u32")))?;
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&prefix.to_be_bytes());
    event
        .encode(&mut frame)
        .expect("Vec has sufficient capacity");
    Ok(frame)
}

/// Decodes the first frame of a protobuf watch stream: returns the event type, the object
/// in JSON form and the number of bytes consumed.
pub fn decode_watch_frame(stream: &[u8]) -> Result<(String, Value, usize)> {
    let header: [u8; 4] =
        stream
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(ProtoError::TruncatedFrame {
                needed: 4,
                available: stream.len(),
            })?;
    let len = u32::from_be_bytes(header) as usize;
    let body = stream.get(4..4 + len).ok_or(ProtoError::TruncatedFrame {
        needed: 4 + len,
        available: stream.len(),
    })?;
    let event = WatchEvent::decode(body).map_err(|e| ProtoError::decode("WatchEvent", e))?;
    let raw = event
        .object
        .and_then(|o| o.raw)
        .ok_or_else(|| ProtoError::Field {
            path: "WatchEvent.object".into(),
            message: "missing embedded object".into(),
        })?;
    Ok((event.r#type.unwrap_or_default(), decode(&raw)?, 4 + len))
}

fn lookup(api_version: &str, kind: &str) -> Result<&'static registry::Entry> {
    registry::lookup(api_version, kind).ok_or_else(|| ProtoError::Unsupported {
        api_version: api_version.into(),
        kind: kind.into(),
    })
}

fn json_str<'v>(obj: &'v Value, key: &'static str) -> Result<&'v str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ProtoError::MissingJsonTypeField(key))
}

/// Splits a body into (apiVersion, kind, raw message bytes).
fn open_envelope(body: &[u8]) -> Result<(String, String, Vec<u8>)> {
    if body.is_empty() {
        return Err(ProtoError::Empty);
    }
    if !body.starts_with(&MAGIC) {
        return Err(ProtoError::BadMagic {
            found: body[..body.len().min(4)].to_vec(),
        });
    }
    if body.len() == MAGIC.len() {
        return Err(ProtoError::EmptyEnvelope);
    }
    let unknown = Unknown::decode(&body[MAGIC.len()..])
        .map_err(|e| ProtoError::decode("runtime.Unknown", e))?;
    if let Some(enc) = unknown.content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtoError::ContentEncoding(enc));
    }
    let tm = unknown.type_meta.unwrap_or_default();
    let kind = tm
        .kind
        .filter(|k| !k.is_empty())
        .ok_or(ProtoError::MissingTypeMeta("kind"))?;
    let api_version = tm
        .api_version
        .filter(|v| !v.is_empty())
        .ok_or(ProtoError::MissingTypeMeta("apiVersion"))?;
    Ok((api_version, kind, unknown.raw.unwrap_or_default()))
}

/// `k8s\0` + `runtime.Unknown`, with empty contentEncoding/contentType written out as Go's
/// `NestedMarshalTo` does.
fn seal_envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(&MAGIC);
    unknown
        .encode(&mut out)
        .expect("Vec has sufficient capacity");
    out
}
