//! The HTTPS client of admission webhooks: one POST of JSON, answered by
//! JSON, under the operator's [`Egress`] policy.
//!
//! - **TLS** always; the server certificate must chain to the webhook's
//!   `caBundle`, or to the host's CA bundle when it has none, and name the
//!   URL's host. HTTP/1.1 (what every webhook framework serves).
//! - **Bounds**: the whole call (resolve, connect, handshake, request,
//!   response) is under the webhook's `timeoutSeconds`; the response body
//!   is bounded (the caller says how much); a redirect is an error, never
//!   followed (it could lead anywhere the egress policy refuses).
//! - **Connections** are kept per endpoint (a compiled webhook's URL and
//!   trust), at most [`MAX_IDLE`] idle per endpoint for [`IDLE_FOR`] and
//!   [`MAX_IDLE_TOTAL`] in all, so a busy webhook costs one handshake, not
//!   one per request. A kept connection the peer closed is retried once on
//!   a fresh one.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

use super::egress::Egress;

/// Idle connections kept per endpoint, for how long, and in all.
const MAX_IDLE: usize = 8;
const IDLE_FOR: Duration = Duration::from_secs(30);
const MAX_IDLE_TOTAL: usize = 1024;
/// Idle connections kept by every endpoint together.
static IDLE_TOTAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A webhook URL with its trust roots and kept connections.
pub struct Endpoint {
    pub uri: http::Uri,
    host: String,
    port: u16,
    path: String,
    tls: Arc<rustls::ClientConfig>,
    idle: Mutex<Vec<Idle>>,
}

/// A kept connection.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    since: std::time::Instant,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let n = self.idle.get_mut().len();
        IDLE_TOTAL.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({})", self.uri)
    }
}

/// Well-known places of the host's CA bundle.
pub(crate) const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// A client configuration trusting `roots`, speaking HTTP/1.1 (webhooks
/// and the OIDC issuer alike).
pub(crate) fn tls_config(
    roots: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The host's trust roots, read once.
fn system_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let path = std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
                .find(|p| p.is_file())
                .ok_or("no caBundle given and the host has no CA bundle")?;
            let pem =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
                // A system bundle may hold a certificate rustls cannot use.
                let _ = roots.add(cert);
            }
            tls_config(roots)
        })
        .clone()
}

impl Endpoint {
    /// An endpoint for an https `uri` (checked by the configuration's
    /// validation), trusting `ca_bundle` (PEM) or the host's roots.
    pub fn new(uri: http::Uri, ca_bundle: Option<&[u8]>) -> Result<Endpoint, String> {
        let host = uri
            .host()
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        let tls = match ca_bundle.filter(|b| !b.is_empty()) {
            None => system_tls()?,
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile::certs(&mut &pem[..]) {
                    let cert = cert.map_err(|e| format!("caBundle: {e}"))?;
                    roots.add(cert).map_err(|e| format!("caBundle: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("caBundle holds no PEM certificate".into());
                }
                tls_config(roots)?
            }
        };
        Ok(Endpoint {
            uri,
            host,
            port,
            path,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(
        &self,
        egress: &Egress,
    ) -> Result<(SendRequest<Full<Bytes>>, SocketAddr), String> {
        let addrs = egress.resolve(&self.host, self.port).await?;
        let mut last = String::new();
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                        .map_err(|e| format!("server name {}: {e}", self.host))?;
                    let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("tls: {e}"))?;
                    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    return Ok((sender, addr));
                }
                Err(e) => last = format!("dial tcp {addr}: {e}"),
            }
        }
        Err(last)
    }

    fn take_idle(&self) -> Option<(SendRequest<Full<Bytes>>, SocketAddr)> {
        let mut idle = self.idle.lock();
        while let Some(c) = idle.pop() {
            IDLE_TOTAL.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if !c.sender.is_closed() && c.since.elapsed() < IDLE_FOR {
                return Some((c.sender, c.addr));
            }
        }
        None
    }

    /// Keeps a connection for the next call; dropping one closes it.
    fn keep(&self, sender: SendRequest<Full<Bytes>>, addr: SocketAddr) {
        use std::sync::atomic::Ordering;
        let mut idle = self.idle.lock();
        // Connections idle too long go first (they hold a socket each).
        let before = idle.len();
        idle.retain(|c| c.since.elapsed() < IDLE_FOR && !c.sender.is_closed());
        IDLE_TOTAL.fetch_sub(before - idle.len(), Ordering::Relaxed);
        if idle.len() >= MAX_IDLE || sender.is_closed() {
            return;
        }
        if IDLE_TOTAL.fetch_add(1, Ordering::Relaxed) >= MAX_IDLE_TOTAL {
            IDLE_TOTAL.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        idle.push(Idle {
            sender,
            addr,
            since: std::time::Instant::now(),
        });
    }

    async fn exchange(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        body: &Bytes,
        limit: usize,
    ) -> Result<Result<Bytes, String>, hyper::Error> {
        sender.ready().await?;
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let req = http::Request::post(self.path.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, */*")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        if status.is_redirection() {
            return Ok(Err(format!(
                "the webhook answered with a redirect ({status}), which is not followed"
            )));
        }
        let body = match Limited::new(resp.into_body(), limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Ok(Err(if e.is::<http_body_util::LengthLimitError>() {
                    format!("the response is larger than {limit} bytes")
                } else {
                    format!("reading the response: {e}")
                }));
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Ok(Err(format!(
                "the server responded with the status code {} but did not return more information: {text}",
                status.as_u16()
            )));
        }
        Ok(Ok(body))
    }

    /// POSTs `body`; the response body of a 2xx answer (at most `limit`
    /// bytes), with the address that answered (or the address tried,
    /// with the error).
    pub async fn post(
        &self,
        egress: &Egress,
        body: Bytes,
        timeout: Duration,
        limit: usize,
    ) -> (Result<Bytes, String>, Option<SocketAddr>) {
        let mut addr = None;
        let call = async {
            // A kept connection may have been closed by the peer since:
            // that failure is retried once on a new connection.
            if let Some((mut sender, a)) = self.take_idle() {
                addr = Some(a);
                if let Ok(out) = self.exchange(&mut sender, &body, limit).await {
                    if out.is_ok() {
                        self.keep(sender, a);
                    }
                    return out;
                }
            }
            let (mut sender, a) = self.connect(egress).await?;
            addr = Some(a);
            match self.exchange(&mut sender, &body, limit).await {
                Ok(out) => {
                    if out.is_ok() {
                        self.keep(sender, a);
                    }
                    out
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let out = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "context deadline exceeded (timeout {}s)",
                timeout.as_secs()
            )),
        };
        (out, addr)
    }
}
