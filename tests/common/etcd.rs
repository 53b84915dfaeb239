//! A real etcd server for tests and benchmarks that measure Trellis beside
//! it (`cmd/benches/etcd_baseline.rs`): a single member on free loopback
//! ports with a temporary data directory, its log in
//! `target/test-logs/<name>.log`, killed on drop.
//!
//! The binary is `$TRELLIS_ETCD`, else `etcd` on PATH — Debian's
//! `etcd-server` package (3.4), which `tests/run.sh` installs when it is
//! missing. Apart from the flags a caller passes, etcd runs with its
//! defaults, so every commit is `fdatasync`ed to its WAL before it is
//! acknowledged (etcd's `--unsafe-no-fsync` is never set here).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{free_port, log_dir};

/// The etcd binary: `$TRELLIS_ETCD` or `etcd` on PATH; stops the caller
/// with how to install it otherwise.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TRELLIS_ETCD") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "etcd is not on PATH: `apt-get install etcd-server` (tests/run.sh does), \
                 or set $TRELLIS_ETCD to an etcd binary"
            )
        })
}

/// "3.4.23": the version the binary reports.
pub fn version() -> String {
    let out = Command::new(binary())
        .arg("--version")
        .output()
        .expect("etcd --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("etcd --version printed no version: {text}"))
}

pub struct Etcd {
    pub name: String,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`: the gRPC client endpoint.
    pub endpoint: String,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Etcd {
    /// Starts a single-member etcd with a fresh data directory and `extra`
    /// flags; it is not yet answering when this returns (see
    /// [`Etcd::ready`]).
    pub fn start(name: &str, extra: &[&str]) -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let client = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{}", free_port());
        let mut args: Vec<String> = [
            "--name",
            name,
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("{name}={peer}"),
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = log_dir().join(format!("{name}.log"));
        let _ = std::fs::remove_file(&log);
        let mut e = Etcd {
            name: name.to_string(),
            data_dir,
            _dir: dir,
            endpoint: client,
            log,
            args,
            child: None,
        };
        e.spawn();
        e
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(binary())
            .args(&self.args)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A client connected to this server (it may not be answering yet).
    pub async fn client(&self) -> etcd_client::Client {
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(120));
        etcd_client::Client::connect([&self.endpoint], Some(opts))
            .await
            .unwrap_or_else(|e| panic!("{}: connect: {e}", self.name))
    }

    /// Waits until a read of `key` answers with a value, connecting anew
    /// after each failure; panics after `timeout`. Returns the value.
    pub async fn read_when_ready(&self, key: &str, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            let opts = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(5));
            if let Ok(mut c) = etcd_client::Client::connect([&self.endpoint], Some(opts)).await
                && let Ok(r) = c.get(key, None).await
                && let Some(kv) = r.kvs().first()
            {
                return kv.value().to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no answer for {key} within {timeout:?}; see {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits until the server answers a read (of a key that need not
    /// exist).
    pub async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let opts = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(5));
            if let Ok(mut c) = etcd_client::Client::connect([&self.endpoint], Some(opts)).await
                && c.get("/ready-probe", None).await.is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: not answering within 60 s; see {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                // etcd cleans up on SIGTERM, then raises it again to exit.
                use std::os::unix::process::ExitStatusExt;
                assert!(
                    status.success() || status.signal() == Some(15),
                    "{}: etcd exited with {status}",
                    self.name
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{}: etcd did not stop within 30 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts again after [`Etcd::stop`], on the same data and ports.
    pub fn restart_stopped(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
