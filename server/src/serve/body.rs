//! Request and response bodies at the connection's edge.
//!
//! HTTP/1.1 keeps a connection only if the request body was read to its
//! end before the next request; a handler that answers early (401, 403,
//! 413, 415…) leaves it unread. Go's net/http (what kube-apiserver's
//! clients expect) then discards up to 256 KiB of the rest and keeps the
//! connection, or says `Connection: close` if more remains. [`Returning`]
//! hands an abandoned body back so [`finish`] can do the same; without
//! it hyper closes the connection silently and a client that reuses it
//! fails its next request. On HTTP/2 the same discarding lets a small
//! upload finish before the answer, instead of a stream reset that clients
//! report as a transport error.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use parking_lot::Mutex;

/// Go's `maxPostHandlerReadBytes`: how much of an unread body the server
/// discards to keep a connection.
pub const MAX_DRAIN_BYTES: usize = 256 * 1024;
/// How long discarding may take before the connection is given up.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Where a [`Returning`] body leaves its unread remainder.
pub type Slot = Arc<Mutex<Option<Incoming>>>;

/// A request body that, when dropped before its end, puts the rest in a
/// [`Slot`].
pub struct Returning {
    inner: Option<Incoming>,
    slot: Slot,
}

impl Returning {
    pub fn new(inner: Incoming, slot: Slot) -> Self {
        Returning {
            inner: Some(inner),
            slot,
        }
    }
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(b) = self.inner.take()
            && !b.is_end_stream()
        {
            *self.slot.lock() = Some(b);
        }
    }
}

/// After a response is ready: discards what the handler left of the
/// request body (at most [`MAX_DRAIN_BYTES`], within [`DRAIN_TIME`]) and,
/// on HTTP/1 if that does not reach its end, marks the response
/// `Connection: close`.
pub async fn finish(slot: &Slot, resp: &mut Response<Body>, h1: bool) {
    let Some(rest) = slot.lock().take() else {
        return;
    };
    if !drain(rest).await && h1 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Whether `body` ended within the drain budget.
async fn drain(mut body: Incoming) -> bool {
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > MAX_DRAIN_BYTES as u64)
    {
        return false;
    }
    let read = async {
        let mut seen = 0usize;
        loop {
            match body.frame().await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        seen += d.len();
                        if seen > MAX_DRAIN_BYTES {
                            return false;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}
