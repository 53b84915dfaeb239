//! Accepting connections: TLS (rustls, ALPN h2 and http/1.1) or, when
//! explicitly asked, plain HTTP; HTTP/1.1 and HTTP/2 via hyper-util; graceful
//! shutdown that lets in-flight requests finish.
//!
//! The edge behaves like Go's net/http as kube-apiserver configures it,
//! because that is what Kubernetes clients were written against and what a
//! hostile client must not get around: bounded connections ([`Limits`]),
//! a header-read deadline and idle timeout ([`conn`]), at most 1 MiB of
//! request head (answered with a `Status`, like every other refusal), and
//! early answers that keep or close HTTP/1 connections the way Go does
//! ([`body`]).

mod body;
pub mod conn;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

pub use conn::Limits;
use conn::{Activity, Tracked};

use crate::Error;

/// Go's `DefaultMaxHeaderBytes`, kube-apiserver's `MaxHeaderBytes`: the
/// request line and headers together.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// The TLS client certificate chain of a connection, if one was presented.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Builds the rustls server configuration. Client certificates are
/// requested but optional; when presented they must chain to `client_ca`.
pub fn tls_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Tls(format!("reading certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls("no certificate found".into()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| Error::Tls(format!("reading key: {e}")))?
        .ok_or_else(|| Error::Tls("no private key found".into()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
                roots
                    .add(c.map_err(|e| Error::Tls(e.to_string()))?)
                    .map_err(|e| Error::Tls(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to
/// `grace` for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), Error> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let builder = builder(&limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut refused_logged = tokio::time::Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Closing at once (rather than leaving connections in the backlog)
        // keeps the backlog for clients once slots free up.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                refused_logged = tokio::time::Instant::now();
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached; closing new connections"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let closing = closing.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(
                        limits.handshake_timeout,
                        acceptor.accept(Tracked::new(stream, activity.clone())),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let certs = PeerCertificates(Arc::new(
                        tls.get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default(),
                    ));
                    drive(
                        tls,
                        Some(certs),
                        router,
                        &builder,
                        activity,
                        &limits,
                        closing,
                    )
                    .await;
                }
                None => {
                    let io = Tracked::new(stream, activity.clone());
                    drive(io, None, router, &builder, activity, &limits, closing).await;
                }
            }
            tracing::trace!(%peer, "connection closed");
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Raises the soft limit on open files to the hard limit, as Go does at
/// start-up: each connection and watch costs a descriptor, and the common
/// default soft limit (1024) would make a few hundred idle clients enough
/// to refuse everyone else. Returns the limit in force.
pub fn raise_open_files_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// The HTTP/1 and HTTP/2 settings of every connection.
fn builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Room for a head of MAX_HEADER_BYTES, so that the refusal beyond
        // it is ours (a Status) rather than hyper's empty 431.
        .max_buf_size(2 * MAX_HEADER_BYTES)
        .max_headers(512);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(u32::try_from(2 * MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    b
}

/// Serves one connection until it ends, the server shuts down, or it has
/// been idle for [`Limits::idle_timeout`].
async fn drive<IO>(
    io: IO,
    certs: Option<PeerCertificates>,
    router: Router,
    builder: &Builder<TokioExecutor>,
    activity: Arc<Activity>,
    limits: &Limits,
    mut closing: tokio::sync::watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = activity.clone();
    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let router = router.clone();
        let certs = certs.clone();
        let in_flight = requests.begin();
        async move { Ok::<_, std::convert::Infallible>(request(router, certs, req, in_flight).await) }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let check = (limits.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut tick = tokio::time::interval(check);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After asking the connection to finish, how long it may take.
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            r = closing.changed(), if deadline.is_none() => {
                if r.is_err() || *closing.borrow() {
                    conn.as_mut().graceful_shutdown();
                    deadline = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
                }
            }
            _ = tick.tick() => match deadline {
                None if activity.idle_for(limits.idle_timeout) => {
                    conn.as_mut().graceful_shutdown();
                    deadline = Some(tokio::time::Instant::now() + limits.idle_timeout);
                }
                Some(d) if tokio::time::Instant::now() >= d => return,
                _ => {}
            },
        }
    }
}

/// One request: the head limit, the router, then what is left of the
/// request body.
async fn request(
    mut router: Router,
    certs: Option<PeerCertificates>,
    req: http::Request<hyper::body::Incoming>,
    in_flight: conn::InFlight,
) -> http::Response<Body> {
    if head_bytes(&req) > MAX_HEADER_BYTES {
        let mut resp = crate::error::ApiError::from(trellis_apis::Status::failure(
            431,
            "RequestEntityTooLarge",
            format!("Request Header Fields Too Large: limit is {MAX_HEADER_BYTES}"),
        ))
        .into_response();
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return crate::response::hold(resp, in_flight);
    }
    let h1 = req.version() < http::Version::HTTP_2;
    let (mut parts, incoming) = req.into_parts();
    if let Some(c) = certs {
        parts.extensions.insert(c);
    }
    let slot = body::Slot::default();
    let req_body = Body::new(body::Returning::new(incoming, slot.clone()));
    let mut resp = match router
        .call(http::Request::from_parts(parts, req_body))
        .await
    {
        Ok(r) => r,
        Err(never) => match never {},
    };
    body::finish(&slot, &mut resp, h1).await;
    // The connection counts as busy until the response has been sent.
    crate::response::hold(resp, in_flight)
}

/// The size of a request head as Go counts it against `MaxHeaderBytes`.
fn head_bytes<B>(req: &http::Request<B>) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + 12;
    line + req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
}
