//! A raw HTTP/1.1 client over TLS, for tests of connection behaviour.
//!
//! Unlike kube-rs or kubectl it sends exactly the request asked for on one
//! connection, never reconnects or retries, and can tell whether the server
//! closed the connection — what keep-alive and timeout tests must see.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Server;

/// One response as it came off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether the server said it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A TLS connection speaking HTTP/1.1 to the server.
pub struct Raw1 {
    stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

/// The TLS client configuration trusting the server's CA, with `alpn`.
pub fn tls_client(s: &Server, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(s.data_dir.join("pki/ca.crt")).expect("CA file") {
        roots.add(c.expect("CA certificate")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

impl Raw1 {
    /// Connects and completes the TLS handshake (ALPN http/1.1).
    pub async fn connect(s: &Server) -> Raw1 {
        let tcp = TcpStream::connect(("127.0.0.1", s.port))
            .await
            .expect("connect");
        let connector = tokio_rustls::TlsConnector::from(tls_client(s, &[b"http/1.1"]));
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let stream = connector.connect(name, tcp).await.expect("TLS handshake");
        Raw1 {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Sends one request and reads its response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.write(head.as_bytes()).await?;
        self.write(body).await?;
        self.read_reply().await
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).to_string();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    async fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads a response's status line and headers only (for streams such
    /// as watches, whose body does not end).
    pub async fn read_reply_head(&mut self) -> std::io::Result<Reply> {
        self.read(false).await
    }

    /// Reads one response (skipping `100 Continue`).
    pub async fn read_reply(&mut self) -> std::io::Result<Reply> {
        self.read(true).await
    }

    async fn read(&mut self, with_body: bool) -> std::io::Result<Reply> {
        loop {
            let status_line = self.line().await?;
            let status: u16 = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
            let mut headers = Vec::new();
            loop {
                let l = self.line().await?;
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').expect("header line");
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            if status == 100 {
                continue;
            }
            let mut reply = Reply {
                status,
                headers,
                body: Vec::new(),
            };
            if !with_body {
                return Ok(reply);
            }
            if let Some(n) = reply.header("content-length") {
                let n: usize = n.parse().expect("content-length");
                reply.body = self.exact(n).await?;
            } else if reply
                .header("transfer-encoding")
                .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
            {
                loop {
                    let size =
                        usize::from_str_radix(self.line().await?.trim(), 16).expect("chunk size");
                    let data = self.exact(size).await?;
                    self.line().await?;
                    if size == 0 {
                        break;
                    }
                    reply.body.extend_from_slice(&data);
                }
            }
            return Ok(reply);
        }
    }

    /// Reads whatever bytes come next (0: the server closed).
    pub async fn read_some(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.buf.is_empty() {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            return Ok(n);
        }
        self.stream.read(out).await
    }

    /// Whether the server closes the connection within `d` (without this
    /// side sending anything).
    pub async fn closed_within(&mut self, d: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(d, self.stream.read(&mut chunk)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(n)) => panic!(
                "unexpected bytes from the server: {}",
                String::from_utf8_lossy(&chunk[..n])
            ),
        }
    }
}
