//! The one harness every black-box test uses: start the real `trellis`
//! binary on a free loopback port with a temporary data directory, talk to
//! it with kubectl 1.33 and kube-rs through the admin kubeconfig it writes,
//! keep its log per test (under `target/test-logs/`), stop it on drop.

#![allow(dead_code)]

pub mod bench;
pub mod etcd;
pub mod raw;
pub mod relay;
pub mod third_party;
pub mod users;
pub mod webhook;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// The kubectl minor version the tests are written against.
pub const KUBECTL_MINOR: &str = "33";

/// Path of kubectl 1.33: `$TRELLIS_KUBECTL`, else `kubectl.1.33` on PATH or
/// beside the file a `kubectl` on PATH resolves to (where the Google Cloud
/// CLI's kubectl component installs it). Anything else — no such binary, or
/// one that is not v1.33 — stops the tests: their expected output is
/// kubectl 1.33's, and another version would fail them for the wrong
/// reason or, worse, pass them for one. Found and checked once per run.
pub fn kubectl_path() -> PathBuf {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL.get_or_init(find_pinned_kubectl).clone()
}

fn find_pinned_kubectl() -> PathBuf {
    find_kubectl(
        KUBECTL_MINOR,
        std::env::var_os("TRELLIS_KUBECTL").map(PathBuf::from),
    )
}

/// The kubectl minors the compatibility tests run (`tests/e2e/openapi.rs`):
/// every one the Google Cloud CLI ships beside `kubectl`.
pub const KUBECTL_MINORS: [&str; 7] = ["27", "28", "29", "30", "31", "32", "33"];

/// Path of kubectl `1.<minor>` (`kubectl.1.<minor>` found as for the pinned
/// one, and checked to be that version), for the tests that run one flow
/// with every supported kubectl. Other tests use [`kubectl_path`].
pub fn kubectl_version_path(minor: &str) -> PathBuf {
    static FOUND: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = found.iter().find(|(m, _)| m == minor) {
        return p.clone();
    }
    let p = if minor == KUBECTL_MINOR {
        kubectl_path()
    } else {
        find_kubectl(minor, None)
    };
    found.push((minor.to_string(), p.clone()));
    p
}

fn find_kubectl(minor: &str, given: Option<PathBuf>) -> PathBuf {
    let how = format!(
        "set $TRELLIS_KUBECTL to a kubectl v1.{KUBECTL_MINOR} binary, or install the Google Cloud \
         CLI's kubectl component (`apt-get install kubectl` from packages.cloud.google.com, or \
         `gcloud components install kubectl`), which puts kubectl.1.{minor} beside kubectl"
    );
    let path = match given {
        Some(p) => p,
        None => {
            let versioned = format!("kubectl.1.{minor}");
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .flat_map(|dir| {
                    let beside_kubectl = std::fs::canonicalize(dir.join("kubectl"))
                        .ok()
                        .and_then(|real| real.parent().map(|d| d.join(&versioned)));
                    [Some(dir.join(&versioned)), beside_kubectl]
                })
                .flatten()
                .find(|p| p.is_file())
                .unwrap_or_else(|| {
                    panic!("{versioned} is not on PATH nor beside a kubectl on PATH: {how}")
                })
        }
    };
    let out = Command::new(&path)
        .args(["version", "--client", "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {how}", path.display()));
    assert!(
        out.status.success(),
        "{} version --client failed: {}; {how}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} version --client -o json printed no JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let client = &version["clientVersion"];
    let git_version = client["gitVersion"].as_str().unwrap_or_default();
    assert!(
        client["major"] == "1"
            && client["minor"].as_str().map(|m| m.trim_end_matches('+')) == Some(minor)
            && git_version.starts_with(&format!("v1.{minor}.")),
        "{} is kubectl {git_version:?}, not v1.{minor}: {how}",
        path.display()
    );
    path
}

fn log_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp; keep logs beside it.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = base.parent().unwrap_or(&base).join("test-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// A free loopback port (for tests that restart the server on the same one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub struct Server {
    pub name: String,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    pub port: u16,
    pub url: String,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server with a fresh data directory.
    pub fn start(name: &str) -> Server {
        Self::start_with(name, &[])
    }

    pub fn start_with(name: &str, args: &[&str]) -> Server {
        Self::start_on(name, 0, args)
    }

    /// [`Server::start_with`] with environment variables set for the
    /// process (after the harness's own, so `RUST_LOG` can be overridden:
    /// a benchmark that compares against another server runs with the
    /// binary's default log level, without the access lines tests read).
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut s = Self::prepare(name, args);
        s.extra_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.spawn(0);
        s
    }

    /// Starts on a given port (0 for any), for tests that restart on it.
    pub fn start_on(name: &str, port: u16, args: &[&str]) -> Server {
        let mut s = Self::prepare(name, args);
        s.spawn(port);
        s
    }

    /// A server not yet started: fresh data directory, log file reset.
    fn prepare(name: &str, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let s = Server {
            name: name.to_string(),
            data_dir,
            _dir: Some(dir),
            port: 0,
            url: String::new(),
            kubeconfig: PathBuf::new(),
            log: log_dir().join(format!("{name}.log")),
            child: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            extra_env: Vec::new(),
        };
        let _ = std::fs::remove_file(&s.log);
        s
    }

    fn spawn(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--port")
            .arg(port.to_string())
            .args(&self.extra_args)
            // Per-request access lines are debug level; tests read them
            // (which media type a client used) and so do people debugging.
            .env("RUST_LOG", "info,trellis_server::handlers=debug")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start trellis");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "{}: server did not start; see {}",
                    self.name,
                    self.log.display()
                )
            });
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .expect("serving URL")
            .trim_end_matches(';')
            .to_string();
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.url = url;
        self.kubeconfig = self.data_dir.join("admin.kubeconfig");
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!(
            "{}: server did not stop within 15s after SIGTERM",
            self.name
        );
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Starts again after [`Server::stop`], on the same data dir and port.
    pub fn restart_stopped(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn(self.port);
    }

    /// Stops and starts again on the same data directory and port.
    pub fn restart(&mut self) {
        let port = self.port;
        let status = self.stop();
        assert!(status.success(), "clean shutdown, got {status}");
        self.spawn(port);
    }

    /// kubectl 1.33 against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_in(None, args)
    }

    pub fn kubectl_in(&self, stdin: Option<&str>, args: &[&str]) -> Output {
        self.kubectl_bin(&kubectl_path(), stdin, args)
    }

    /// A given kubectl binary (see [`kubectl_version_path`]) against this
    /// server, as [`Server::kubectl_in`] runs the pinned one.
    pub fn kubectl_bin(&self, kubectl: &Path, stdin: Option<&str>, args: &[&str]) -> Output {
        let home = self.data_dir.parent().expect("parent").join("home");
        std::fs::create_dir_all(&home).expect("home");
        let mut cmd = Command::new(kubectl);
        // kubectl finds plugins (`kubectl ws` → kubectl-ws) on PATH.
        let plugins = Path::new(env!("CARGO_BIN_EXE_kubectl-ws"))
            .parent()
            .expect("plugin dir")
            .to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(plugins).chain(std::env::split_paths(&path)))
                .expect("PATH");
        cmd.args(args)
            .env("PATH", path)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &home)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// kubectl that must fail; returns stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8")
    }

    /// A raw HTTPS request with curl (no client-side retries), as admin;
    /// returns (status, body).
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.curl_as(method, path, "application/json", body)
    }

    /// [`Server::curl`] with a given Content-Type.
    pub fn curl_as(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        self.curl_with(
            method,
            path,
            &[&format!("Content-Type: {content_type}")],
            body,
        )
    }

    /// [`Server::curl`] with arbitrary request headers (`"Name: value"`).
    pub fn curl_with(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&str>,
    ) -> (u16, String) {
        let token = std::fs::read_to_string(self.data_dir.join("pki/admin.token")).expect("token");
        self.curl_url(
            method,
            &format!("{}{path}", self.url),
            token.trim(),
            headers,
            body,
        )
    }

    /// One curl request to `url` with a bearer `token`; (status, body).
    pub fn curl_url(
        &self,
        method: &str,
        url: &str,
        token: &str,
        headers: &[&str],
        body: Option<&str>,
    ) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "--cacert",
        ])
        .arg(self.data_dir.join("pki/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {token}")]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        // The body goes through stdin: an argument is limited to 128 KiB.
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]).stdin(Stdio::piped());
        }
        let mut child = cmd
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl");
        if let Some(b) = body {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(b.as_bytes())
                .expect("write the body to curl");
        }
        let out = child.wait_with_output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').expect("status line");
        (code.trim().parse().expect("status code"), body.to_string())
    }

    /// A GET (curl, as admin) that must answer 200 with JSON; the JSON.
    #[track_caller]
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.curl("GET", path, None);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// A kube-rs client from the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig).await
    }

    /// Writes a file into the test's directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.data_dir.parent().expect("parent").join(name);
        std::fs::write(&p, contents).expect("write file");
        p
    }
}

pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `f` until it gives a value, failing after `limit`.
pub fn eventually_sync<T>(limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// One request through `client` with this Content-Type and Accept; the
/// answer's (status, Content-Type, body).
pub async fn send(
    client: &kube::Client,
    method: http::Method,
    path: &str,
    ct: &str,
    accept: &str,
    body: Vec<u8>,
) -> (u16, String, bytes::Bytes) {
    use http_body_util::BodyExt;
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .header("accept", accept)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        ct,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// The audit log's lines (JSON), as far as written.
pub fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

/// A test CA (PEM) and a TLS server configuration for 127.0.0.1 signed by
/// it: what the test's own HTTPS servers (an OIDC issuer, a webhook) use.
pub fn loopback_tls(ca_name: &str) -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_cert = ca_params.clone().self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&tls_key, &issuer)
        .unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
    )
    .unwrap();
    (ca_cert.pem(), tls)
}
