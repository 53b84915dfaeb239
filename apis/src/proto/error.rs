//! Error type and the JSON field path used in error messages.

use std::fmt;

/// Everything that can go wrong converting between the Kubernetes JSON form and the
/// Kubernetes protobuf wire format.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body is empty (kube-apiserver: "empty data").
    #[error("empty protobuf body")]
    Empty,
    /// The body does not start with the `k8s\0` magic prefix.
    #[error(
        "body does not appear to be a Kubernetes protobuf message: expected prefix 6b 38 73 00, found {found:02x?}"
    )]
    BadMagic { found: Vec<u8> },
    /// Only the 4-byte prefix was present (kube-apiserver: "empty body").
    #[error("protobuf body has the k8s magic prefix but no runtime.Unknown envelope")]
    EmptyEnvelope,
    /// The envelope's `typeMeta` lacks `apiVersion` or `kind`.
    #[error("runtime.Unknown envelope is missing typeMeta.{0}")]
    MissingTypeMeta(&'static str),
    /// The envelope declares a content encoding this codec cannot undo.
    #[error("unsupported runtime.Unknown contentEncoding {0:?}")]
    ContentEncoding(String),
    /// No converter is registered for this apiVersion/kind.
    #[error("protobuf is not supported for apiVersion {api_version:?} kind {kind:?}")]
    Unsupported { api_version: String, kind: String },
    /// The JSON object handed to an encoder lacks `apiVersion` or `kind`.
    #[error("object to encode has no string {0:?} field")]
    MissingJsonTypeField(&'static str),
    /// Protobuf decoding of `what` failed (truncated or malformed bytes).
    #[error("malformed protobuf in {what}: {source}")]
    Decode {
        what: String,
        #[source]
        source: prost::DecodeError,
    },
    /// A JSON value (when encoding) or a protobuf value (when decoding) does not fit the
    /// field at `path`.
    #[error("invalid value at {path}: {message}")]
    Field { path: String, message: String },
    /// A watch-stream frame is shorter than its 4-byte length prefix says.
    #[error("truncated watch frame: need {needed} bytes, have {available}")]
    TruncatedFrame { needed: usize, available: usize },
    /// A value is too large for the wire format (frame length > u32).
    #[error("{0}")]
    TooLarge(String),
}

impl ProtoError {
    pub(crate) fn decode(what: impl Into<String>, source: prost::DecodeError) -> Self {
        ProtoError::Decode {
            what: what.into(),
            source,
        }
    }
}

/// A JSON path built on the stack while walking an object; only rendered into a
/// `String` when an error is reported.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    pub(crate) fn err(&self, message: impl Into<String>) -> ProtoError {
        ProtoError::Field {
            path: self.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}
