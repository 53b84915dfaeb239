//! Watch streams: `{"type":...,"object":...}\n` frames over a chunked
//! response, as client-go, kube-rs and the Python client read them.
//!
//! * Unset or `"0"` resourceVersion: synthetic ADDED events for every
//!   matching object first, then changes.
//! * `resourceVersion=N`: changes after N; if N is older than the retained
//!   history, one in-stream ERROR 410 (kube-rs ignores the HTTP status of a
//!   watch, so a plain 410 would make it retry forever).
//! * `sendInitialEvents=true` (WatchList): the initial state, then a
//!   BOOKMARK annotated `k8s.io/initial-events-end`.
//! * Selectors are applied to both the new and the previous state of each
//!   change, so objects moving in or out of the selection produce ADDED or
//!   DELETED, as the Kubernetes watch cache does.
//! * Bookmarks (when allowed) carry the newest revision the watch is known
//!   to be complete up to, from the storage's progress notifications.
//! * The stream ends at `timeoutSeconds`, when the server shuts down, or if
//!   the client falls too far behind (it then re-watches from its last
//!   resourceVersion).

use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::StatusCode;
use serde_json::{Value, json};
use trellis_apis::Status;
use trellis_storage::{EventKind, ListOptions, ReadAt, WatchItem};

use crate::error::{ApiError, ApiResult};
use crate::metrics::WatchGuard;
use crate::registry::ResourceDef;
use crate::registry::filter::Filter;
use crate::registry::store::Store;
use crate::request::media::{Encoding, Output, Shape};
use crate::request::params::{Params, RvMatch};
use crate::response;
use crate::state::AppState;
use crate::table::{self, IncludeObject};

/// Turns objects into frames in the negotiated shape.
struct Encoder {
    def: Arc<ResourceDef>,
    output: Output,
    include: IncludeObject,
    columns_sent: bool,
}

impl Encoder {
    fn frame(&mut self, kind: &str, object: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(object.len() + 32);
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        out.put_slice(object);
        out.put_slice(b"}\n");
        out.freeze()
    }

    fn protobuf(&self) -> bool {
        self.output.encoding == Encoding::Protobuf
    }

    /// A frame for a JSON value, in the negotiated encoding.
    fn frame_value(&mut self, kind: &str, obj: &Value) -> Bytes {
        if self.protobuf() {
            return match trellis_apis::proto::encode_watch_frame(kind, obj) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::error!(error = %e, "protobuf watch frame");
                    Bytes::new()
                }
            };
        }
        self.frame(kind, &trellis_apis::proto::order::to_vec(obj))
    }

    /// A frame for a stored-form object.
    async fn event(&mut self, kind: &str, key: &[u8], stored: &Bytes) -> ApiResult<Bytes> {
        let served = Store::served_keyed(&self.def, key, stored).await?;
        self.served_event(kind, served)
    }

    /// A frame for a served-form object.
    fn served_event(&mut self, kind: &str, served: Bytes) -> ApiResult<Bytes> {
        if self.protobuf() {
            let obj: Value = serde_json::from_slice(&served)
                .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
            let frame = trellis_apis::proto::encode_watch_frame(kind, &obj)
                .map_err(|e| ApiError::internal("protobuf watch frame", e))?;
            return Ok(Bytes::from(frame));
        }
        match self.output.shape {
            Shape::Object => Ok(self.frame(kind, &served)),
            Shape::Table { v1beta1 } => {
                let obj: Value = serde_json::from_slice(&served)
                    .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let row =
                    response::table_row(&self.def, &obj, self.include, jiff::Timestamp::now());
                let cols = (!self.columns_sent).then(|| self.def.strategy.table_columns());
                self.columns_sent = true;
                let t = table::table(cols.as_deref(), vec![row], &rv, None, v1beta1);
                Ok(self.frame(kind, t.to_string().as_bytes()))
            }
            Shape::Metadata { v1beta1 } => {
                let obj: Value = serde_json::from_slice(&served)
                    .map_err(|e| ApiError::internal("stored object is not JSON", e))?;
                Ok(self.frame(
                    kind,
                    table::partial_metadata(&obj, v1beta1)
                        .to_string()
                        .as_bytes(),
                ))
            }
        }
    }

    fn bookmark(&mut self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = match self.output.shape {
            Shape::Metadata { v1beta1 } => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" }, "metadata": meta})
            }
            _ => {
                json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta})
            }
        };
        self.frame_value("BOOKMARK", &obj)
    }

    fn error(&mut self, status: &Status) -> Bytes {
        let v = serde_json::to_value(status).expect("Status serialises");
        self.frame_value("ERROR", &v)
    }
}

pub(crate) fn parse_rv(v: &str) -> ApiResult<u64> {
    v.parse::<u64>().map_err(|_| {
        let gk = trellis_apis::GroupKind {
            group: "meta.k8s.io".into(),
            kind: "ListOptions".into(),
        };
        Status::invalid(
            &gk,
            "",
            &[trellis_apis::FieldError::invalid(
                "resourceVersion",
                v,
                "must be a non-negative integer",
            )],
        )
        .into()
    })
}

fn matches(def: &ResourceDef, filter: &Filter, bytes: &[u8]) -> bool {
    if filter.is_trivial() {
        return true;
    }
    serde_json::from_slice::<Value>(bytes).is_ok_and(|o| filter.matches(def, &o))
}

pub async fn watch(
    state: &AppState,
    def: &Arc<ResourceDef>,
    cluster: &str,
    namespace: Option<&str>,
    params: &Params,
    output: Output,
    include: IncludeObject,
) -> ApiResult<Response> {
    let filter = Filter::parse(
        def,
        params.label_selector.as_deref(),
        params.field_selector.as_deref(),
    )?;
    let prefix = Store::prefix(def, cluster, namespace, &filter)?;
    let rv = params.resource_version.as_deref().filter(|v| !v.is_empty());
    let send_initial = params.send_initial_events;
    if send_initial.is_some() {
        if params.resource_version_match != Some(RvMatch::NotOlderThan) {
            return Err(invalid(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
            ));
        }
        if send_initial == Some(true) && !params.allow_watch_bookmarks {
            return Err(invalid(
                "allowWatchBookmarks",
                "allowWatchBookmarks must be true when sendInitialEvents is set",
            ));
        }
    } else if params.resource_version_match.is_some() {
        return Err(invalid(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let initial = match (send_initial, rv) {
        (Some(true), _) => true,
        (Some(false), _) => false,
        (None, None | Some("0")) => true,
        (None, Some(_)) => false,
    };
    let storage = state.store.storage.clone();
    let mut encoder = Encoder {
        def: def.clone(),
        output,
        include,
        columns_sent: false,
    };
    let mut head: Vec<Bytes> = Vec::new();
    let start_rev = if initial {
        // The current state is a LIST's work: it takes the bulk lane.
        let (storage, prefix, filter) = (storage.clone(), prefix.clone(), filter.clone());
        let (enc, (revision, added)) = crate::bulk::ticket()
            .run(async move {
                let page = storage
                    .list(ListOptions::all(prefix, ReadAt::Latest))
                    .await
                    .map_err(|e| ApiError::from_storage(e, &encoder.def.group_resource(), ""))?;
                let mut matched = Vec::new();
                for (i, rec) in page.items.into_iter().enumerate() {
                    crate::fairness::pace(i).await;
                    if matches(&encoder.def, &filter, &rec.value) {
                        matched.push((rec.key, rec.value));
                    }
                }
                // One conversion for the whole initial state (a webhook
                // converts it in batches, not object by object).
                let def = encoder.def.clone();
                let mut added = Vec::with_capacity(matched.len());
                for served in Store::served_page(&def, matched).await? {
                    added.push(encoder.served_event("ADDED", served)?);
                }
                Ok::<_, ApiError>((encoder, (page.revision, added)))
            })
            .await?;
        encoder = enc;
        if let Some(v) = rv.filter(|v| *v != "0") {
            let want = parse_rv(v)?;
            if want > revision {
                return Err(Status::too_large_resource_version(want, revision).into());
            }
        }
        head = added;
        if send_initial == Some(true) {
            head.push(encoder.bookmark(revision, true));
        }
        revision
    } else {
        match rv {
            Some(v) if v != "0" => parse_rv(v)?,
            _ => storage.current_revision(),
        }
    };
    let timeout = params.timeout.unwrap_or(state.config.default_watch_timeout);
    let bookmarks = params.allow_watch_bookmarks;
    let bookmark_every = state.config.bookmark_interval;
    let mut shutdown = state.shutdown.clone();
    let guard = WatchGuard::new(&state.metrics.watches);
    let events = match storage.watch(prefix, start_rev).await {
        Ok(s) => Some(s),
        Err(trellis_storage::Error::Expired { requested, .. }) => {
            head.push(encoder.error(&Status::expired(format!(
                "too old resource version: {requested} ({})",
                storage.stats().compacted_revision + 1
            ))));
            None
        }
        Err(e) => return Err(ApiError::from_storage(e, &def.group_resource(), "")),
    };
    let def = def.clone();
    let body = async_stream(move |mut emit| async move {
        let _guard = guard;
        for frame in head {
            if !emit.send(frame).await {
                return;
            }
        }
        let Some(mut events) = events else { return };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        let mut progress = start_rev;
        loop {
            let frame = tokio::select! {
                _ = &mut deadline => return,
                _ = shutdown.changed() => return,
                // The client went away: stop without waiting for an event.
                _ = emit.0.closed() => return,
                _ = ticker.tick(), if bookmarks => Some(encoder.bookmark(progress, false)),
                item = events.next() => match item {
                    None | Some(Err(_)) => return,
                    Some(Ok(WatchItem::Progress(r))) => { progress = progress.max(r); None }
                    Some(Ok(WatchItem::Event(e))) => {
                        progress = progress.max(e.revision);
                        let now_in = e.kind != EventKind::Deleted && matches(&def, &filter, &e.value);
                        let was_in = e.prev.as_ref().is_some_and(|p| matches(&def, &filter, &p.value));
                        let out = match (e.kind, was_in, now_in) {
                            (EventKind::Deleted, true, _) => Some(("DELETED", e.value.clone())),
                            (EventKind::Deleted, false, _) => None,
                            (_, false, true) => Some(("ADDED", e.value.clone())),
                            (_, true, true) => Some(("MODIFIED", e.value.clone())),
                            (_, true, false) => Some(("DELETED", e.prev.as_ref().expect("was_in implies prev").restamped(e.revision))),
                            (_, false, false) => None,
                        };
                        match out {
                            Some((kind, bytes)) => match encoder.event(kind, &e.key, &bytes).await {
                                Ok(f) => Some(f),
                                // An event that cannot be served (its
                                // conversion failed) ends the watch with
                                // the reason, as kube's watch cache does.
                                Err(err) => {
                                    let f = encoder.error(err.status());
                                    emit.send(f).await;
                                    return;
                                }
                            },
                            None => None,
                        }
                    }
                },
            };
            if let Some(f) = frame
                && !emit.send(f).await
            {
                return;
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    // YAML has no stream framing (upstream lists no YAML stream serializer),
    // so a YAML-preferring watcher gets JSON frames, labelled as such.
    let content_type = if output.encoding == Encoding::Protobuf {
        trellis_apis::proto::WATCH_CONTENT_TYPE
    } else {
        "application/json"
    };
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    Ok(resp)
}

fn invalid(field: &str, detail: &str) -> ApiError {
    let gk = trellis_apis::GroupKind {
        group: "meta.k8s.io".into(),
        kind: "ListOptions".into(),
    };
    Status::invalid(
        &gk,
        "",
        &[trellis_apis::FieldError::forbidden(field, detail)],
    )
    .into()
}

/// A minimal channel-backed stream: the producer future runs as a spawned
/// task and ends when the client goes away (send fails).
struct Emitter(tokio::sync::mpsc::Sender<Bytes>);

impl Emitter {
    async fn send(&mut self, b: Bytes) -> bool {
        self.0.send(b).await.is_ok()
    }
}

fn async_stream<F, Fut>(
    producer: F,
) -> Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>
where
    F: FnOnce(Emitter) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(producer(Emitter(tx)));
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(b), rx))
    }))
}
