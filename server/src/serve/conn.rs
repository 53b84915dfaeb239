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

/// An I/O stream that records its traffic in an [`Activity`].
pub struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Tracked<IO> {
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        activity.touch();
        Tracked { io, activity }
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
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
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
