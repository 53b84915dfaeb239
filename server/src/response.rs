//! Encoding responses in the representation the client negotiated.
//!
//! Objects of the storage version go out as the stored bytes (already in
//! kube's key order, `trellis_apis::proto::order`); lists are assembled by
//! concatenating item bytes, never re-serialising them (a built-in list
//! only drops each item's leading `kind`/`apiVersion`). Only Table,
//! PartialObjectMetadata and YAML output parse objects.

use axum::body::Body;
use axum::response::Response;
use std::sync::Arc;

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
        trellis_apis::proto::order::to_vec(v),
    )
}

/// Keeps `guard` alive until the response body has been sent (or the
/// response dropped): what a streamed list or a watch holds — a connection
/// counted busy, a fairness seat — is released when it really ends.
pub fn hold<G: Send + Sync + Unpin + 'static>(resp: Response, guard: G) -> Response {
    resp.map(|inner| {
        Body::new(Holding {
            inner,
            _guard: guard,
        })
    })
}

struct Holding<G> {
    inner: Body,
    _guard: G,
}

impl<G: Send + Sync + Unpin + 'static> http_body::Body for Holding<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Keeps `guard` alive until the response body first has nothing ready to
/// send (or ends): a watch's initial state counts as a LIST while it is
/// produced and sent, and no longer once the watch idles for events.
pub fn hold_until_idle<G: Send + Sync + Unpin + 'static>(resp: Response, guard: G) -> Response {
    resp.map(|inner| {
        Body::new(UntilIdle {
            inner,
            guard: Some(guard),
        })
    })
}

struct UntilIdle<G> {
    inner: Body,
    guard: Option<G>,
}

impl<G: Send + Sync + Unpin + 'static> http_body::Body for UntilIdle<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(r, std::task::Poll::Pending | std::task::Poll::Ready(None)) {
            this.guard = None;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Adds `Warning: 299 - "<text>"` headers, as the API server does.
pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        // Bytes, not `from_str`: a UTF-8 message is sent as such (Go's
        // net/http does), only control characters keep it out.
        if let Ok(v) = HeaderValue::from_bytes(format!("299 - \"{escaped}\"").as_bytes()) {
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
        Encoding::Protobuf => {
            let body = trellis_apis::proto::encode(v)
                .map_err(|e| ApiError::internal("protobuf encoding", e))?;
            Ok(raw(code, trellis_apis::proto::CONTENT_TYPE, body))
        }
        Encoding::Json => Ok(json(code, v)),
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

/// How one list item is rendered.
#[derive(Clone, Copy)]
enum RowKind {
    Object,
    Table,
    Metadata { v1beta1: bool },
}

impl RowKind {
    /// The item's encoding; `None` if the stored bytes are not JSON.
    fn encode(
        self,
        def: &ResourceDef,
        include: IncludeObject,
        now: jiff::Timestamp,
        item: &Bytes,
    ) -> Option<Bytes> {
        match self {
            RowKind::Object => Some(item.clone()),
            RowKind::Table => {
                let obj: Value = serde_json::from_slice(item).ok()?;
                Some(Bytes::from(table_row(def, &obj, include, now).to_string()))
            }
            RowKind::Metadata { v1beta1 } => {
                let obj: Value = serde_json::from_slice(item).ok()?;
                Some(Bytes::from(
                    table::partial_metadata(&obj, v1beta1).to_string(),
                ))
            }
        }
    }
}

/// Roughly how much a list response chunk holds before it is sent.
const CHUNK: usize = 64 * 1024;

/// A page of objects (served-form bytes), streamed: items are encoded as
/// the client reads, so a 100k-object list never exists as one buffer or as
/// 100k parsed objects at once.
pub fn list(
    def: &Arc<ResourceDef>,
    output: Output,
    include: IncludeObject,
    items: Vec<Bytes>,
    revision: u64,
    continue_token: Option<&str>,
) -> ApiResult<Response> {
    let rv = revision.to_string();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    if output.encoding == Encoding::Protobuf {
        let parsed: Vec<Value> = items.iter().map(|b| parse(b)).collect::<ApiResult<_>>()?;
        let body =
            trellis_apis::proto::encode_list(&def.api_version(), &def.list_kind, &meta, &parsed)
                .map_err(|e| ApiError::internal("protobuf encoding", e))?;
        return Ok(raw(StatusCode::OK, trellis_apis::proto::CONTENT_TYPE, body));
    }
    if output.encoding == Encoding::Yaml {
        // YAML lists are rare and small; build them whole.
        let parsed: Vec<Value> = match output.shape {
            Shape::Metadata { v1beta1 } => items
                .iter()
                .map(|b| parse(b).map(|o| table::partial_metadata(&o, v1beta1)))
                .collect::<ApiResult<_>>()?,
            _ => items.iter().map(|b| parse(b)).collect::<ApiResult<_>>()?,
        };
        return yaml(
            StatusCode::OK,
            &json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": meta, "items": parsed}),
        );
    }
    let av = |v1beta1: bool| {
        if v1beta1 {
            "meta.k8s.io/v1beta1"
        } else {
            "meta.k8s.io/v1"
        }
    };
    let (head, kind) = match output.shape {
        Shape::Object => (
            format!(
                "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{meta},\"items\":[",
                Value::from(def.list_kind.clone()),
                Value::from(def.api_version())
            ),
            RowKind::Object,
        ),
        Shape::Table { v1beta1 } => {
            let cols: Vec<Value> = def
                .strategy
                .table_columns()
                .iter()
                .map(crate::table::Column::to_json)
                .collect();
            (
                format!(
                    "{{\"kind\":\"Table\",\"apiVersion\":\"{}\",\"metadata\":{meta},\"columnDefinitions\":{},\"rows\":[",
                    av(v1beta1),
                    Value::Array(cols)
                ),
                RowKind::Table,
            )
        }
        Shape::Metadata { v1beta1 } => (
            format!(
                "{{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"{}\",\"metadata\":{meta},\"items\":[",
                av(v1beta1)
            ),
            RowKind::Metadata { v1beta1 },
        ),
    };
    // kube encodes a built-in list as its Go type, whose items have no
    // `kind`/`apiVersion`; a custom resource list keeps them (it is a list
    // of maps). Stored built-ins begin with exactly this (see
    // `trellis_apis::proto::order`); objects written before that keep it.
    let type_meta: Option<Bytes> =
        (matches!(kind, RowKind::Object) && def.speaks_protobuf()).then(|| {
            Bytes::from(format!(
                "{{\"kind\":{},\"apiVersion\":{},",
                Value::from(def.kind.clone()),
                Value::from(def.api_version())
            ))
        });
    let def = def.clone();
    let now = jiff::Timestamp::now();
    struct St {
        items: std::vec::IntoIter<Bytes>,
        head: Option<String>,
        first: bool,
        done: bool,
    }
    let state = St {
        items: items.into_iter(),
        head: Some(head),
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(state, move |mut st| {
        let def = def.clone();
        let type_meta = type_meta.clone();
        async move {
            if st.done {
                return None;
            }
            // Every chunk but the first waits its turn behind other ready
            // tasks (see `fairness::pace`).
            if st.head.is_none() {
                tokio::task::yield_now().await;
            }
            let mut out = BytesMut::with_capacity(CHUNK + 4096);
            if let Some(h) = st.head.take() {
                out.put_slice(h.as_bytes());
            }
            while out.len() < CHUNK {
                let Some(item) = st.items.next() else {
                    out.put_slice(b"]}");
                    st.done = true;
                    break;
                };
                let Some(encoded) = kind.encode(&def, include, now, &item) else {
                    tracing::error!("skipping a stored object that is not valid JSON");
                    continue;
                };
                if !st.first {
                    out.put_u8(b',');
                }
                st.first = false;
                match &type_meta {
                    Some(prefix) if encoded.starts_with(prefix) => {
                        out.put_u8(b'{');
                        out.put_slice(&encoded[prefix.len()..]);
                    }
                    _ => out.put_slice(&encoded),
                }
            }
            Some((Ok::<Bytes, std::io::Error>(out.freeze()), st))
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
