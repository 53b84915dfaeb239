//! One client connection: liveness bookkeeping and how it ends.
//!
//! A connection is *idle* when no request is in flight on it and no byte
//! has crossed it for [`Limits::idle_timeout`]; idle connections are shut
//! down gracefully (HTTP/2 GOAWAY, HTTP/1 close between requests), which
//! also ends connections that completed TLS and then never spoke. HTTP/1
//! request heads must arrive within [`Limits::header_read_timeout`]
//! (hyper's timer, which also runs while a kept-alive connection waits for
//! its next request). A request counts as in flight from its head until
//! its response body is dropped, so a quiet watch is never "idle".
//!
//! Invariant: [`Activity::in_flight`] is incremented exactly once per
//! request and decremented exactly once, by [`InFlight`]'s `Drop`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connection limits; the defaults are kube-apiserver's (`secure_serving.go`)
/// and Go net/http's.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Time allowed to read an HTTP/1 request head (kube: 32 s).
    pub header_read_timeout: Duration,
    /// A connection with nothing in flight and no traffic for this long is
    /// closed (kube: 90 s).
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections open at once; further ones are closed on accept.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection (kube: 100).
    pub max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(32),
            idle_timeout: Duration::from_secs(90),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 8192,
            max_streams: 100,
        }
    }
}

/// When a connection last moved bytes, and how many requests it carries.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last read or write.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Whether the connection has been idle for at least `limit`.
    pub fn idle_for(&self, limit: Duration) -> bool {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return false;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        now.saturating_sub(self.last.load(Ordering::Relaxed)) >= limit.as_millis() as u64
    }

    /// Marks a request in flight until the returned guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a closed connection keeps discarding what the client still
/// sends (Go's `rstAvoidanceDelay`).
const LINGER: Duration = Duration::from_millis(500);

/// An I/O stream that records its traffic in an [`Activity`].
///
/// When the server closes a connection while the client is still sending
/// (a refused upload, `Connection: close`), dropping the socket with
/// unread data makes the kernel answer with a reset, and the client may
/// lose the response it has not read yet. Like Go's server, a stream that
/// was shut down keeps reading and discarding for [`LINGER`] (or until the
/// client closes) before it is dropped.
pub struct Tracked<IO: AsyncRead + Unpin + Send + 'static> {
    io: Option<IO>,
    activity: Arc<Activity>,
    shut_down: bool,
}

impl<IO: AsyncRead + Unpin + Send + 'static> Tracked<IO> {
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        activity.touch();
        Tracked {
            io: Some(io),
            activity,
            shut_down: false,
        }
    }

    pub fn get_ref(&self) -> &IO {
        self.io.as_ref().expect("live until dropped")
    }

    fn io(&mut self) -> Pin<&mut IO> {
        Pin::new(self.io.as_mut().expect("live until dropped"))
    }
}

impl<IO: AsyncRead + Unpin + Send + 'static> Drop for Tracked<IO> {
    fn drop(&mut self) {
        let Some(mut io) = self.io.take() else {
            return;
        };
        if !self.shut_down {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut sink = [0u8; 8192];
            let _ = tokio::time::timeout(LINGER, async {
                while let Ok(n) = io.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        });
    }
}

impl<IO: AsyncRead + Unpin + Send + 'static> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = self.io().poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = self.io().poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = self.io().poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.get_ref().is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = self.io().poll_shutdown(cx);
        if r.is_ready() {
            self.shut_down = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_needs_quiet_and_nothing_in_flight() {
        let a = Activity::new();
        a.touch();
        assert!(a.idle_for(Duration::ZERO));
        assert!(!a.idle_for(Duration::from_secs(60)));
        let g = a.begin();
        assert!(!a.idle_for(Duration::ZERO), "a request is in flight");
        drop(g);
        assert!(a.idle_for(Duration::ZERO));
    }
}
