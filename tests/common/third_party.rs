//! Programs written against other people's client libraries — the
//! compatibility battery (`tests/e2e/third_party.rs`, docs/compatibility.md).
//!
//! * Python: `tests/python/*.py` run in the virtualenv `target/py-venv`,
//!   which `tests/python/venv.sh` creates from the pinned
//!   `tests/python/requirements.txt` (a checksum when up to date).
//! * Go: the module `tests/go` (its own go.mod and go.sum) built with
//!   `go build` into `target/go-bin`; Go's build and module caches make
//!   rebuilds cheap.
//!
//! Both are prepared once per test process, whichever test asks first.
//! A program talks to the server only through the kubeconfig it is given
//! (`Server::write_kubeconfig`), as a user's program would.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::Server;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// The cargo target directory (CARGO_TARGET_TMPDIR is `<target>/tmp`).
pub fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).to_path_buf()
}

/// `target/py-venv/bin/<name>`, after making sure the venv holds the pins.
pub fn venv_bin(name: &str) -> PathBuf {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let out = Command::new(repo().join("tests/python/venv.sh"))
            .output()
            .expect("run tests/python/venv.sh");
        assert!(
            out.status.success(),
            "tests/python/venv.sh failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        );
    });
    target_dir().join("py-venv/bin").join(name)
}

/// `target/go-bin/<name>`: the `tests/go/cmd/<name>` program, after
/// building every program of the module (once per process).
pub fn go_bin(name: &str) -> PathBuf {
    static READY: OnceLock<()> = OnceLock::new();
    let bin = target_dir().join("go-bin");
    READY.get_or_init(|| {
        // `-o` names a directory only if it exists or ends in `/`;
        // otherwise a module with one program writes it as a file there.
        if bin.is_file() {
            std::fs::remove_file(&bin).expect("remove a stale go-bin file");
        }
        std::fs::create_dir_all(&bin).expect("create target/go-bin");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(format!("{}/", bin.display()))
            .arg("./cmd/...")
            .current_dir(repo().join("tests/go"))
            .output()
            .expect("run go build (is Go installed?)");
        assert!(
            out.status.success(),
            "go build in tests/go failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        );
    });
    bin.join(name)
}

/// The last lines of a long output, for assertion messages.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Server {
    /// Writes a kubeconfig for `token`'s user at `server` (a full URL, e.g.
    /// a workspace's or a provider endpoint's) trusting the server's CA;
    /// returns its path.
    pub fn write_kubeconfig(&self, file: &str, server: &str, token: &str) -> PathBuf {
        let ca = self.data_dir.join("pki/ca.crt");
        self.file(
            file,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \"{server}\"\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
                ca.display()
            ),
        )
    }
}

/// A finished program: exit status and both outputs.
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Asserts a zero exit and every `ok: <check>` line of `checks` on
    /// stdout (so a check that silently stopped running fails too).
    #[track_caller]
    pub fn assert_checks(&self, what: &str, checks: &[&str]) {
        assert!(
            self.success,
            "{what} failed:\n{}\n--- stderr:\n{}",
            tail(&self.stdout),
            tail(&self.stderr)
        );
        let lines: Vec<&str> = self.stdout.lines().collect();
        for c in checks {
            let want = format!("ok: {c}");
            assert!(
                lines.contains(&want.as_str()),
                "{what}: no {want:?} in\n{}",
                self.stdout
            );
        }
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.is_some(),
        "{cmd:?} still running after {limit:?}:\n{}\n--- stderr:\n{}",
        tail(&stdout),
        tail(&stderr)
    );
    Ran {
        success: status.unwrap().success(),
        stdout,
        stderr,
    }
}

/// A long-running program (an operator) whose output lines (stdout and
/// stderr merged) arrive on a channel; killed on drop.
pub struct Background {
    child: Child,
    pub lines: Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    pub fn spawn(mut cmd: Command) -> Background {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let (tx, rx) = channel();
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
            });
        }
        Background {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 60s) for an output line containing `needle`.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within 60s; output so far:\n{}",
                    tail(&self.seen.join("\n"))
                ),
            }
        }
    }

    /// Everything printed so far (drains the channel).
    pub fn output(&mut self) -> String {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen.join("\n")
    }

    /// Whether the program is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider's side of the gadgets example: APIResourceSchema
/// `v1.gadgets.example.io` (namespaced `Gadget`, spec.size, status.phase and
/// status.observedSize), APIExport `gadgets` with `claims` as its
/// `permissionClaims` entries (flow-style YAML, one per line), and RBAC
/// letting user `consumer` bind it.
pub fn gadgets_export(claims: &[&str]) -> String {
    let claims = if claims.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = claims.iter().map(|c| format!("  - {c}\n")).collect();
        format!("  permissionClaims:\n{}", lines.concat())
    };
    format!(
        r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: v1.gadgets.example.io
spec:
  group: example.io
  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      type: object
      properties:
        spec: {{type: object, properties: {{size: {{type: integer}}}}}}
        status: {{type: object, properties: {{phase: {{type: string}}, observedSize: {{type: integer}}}}}}
---
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: gadgets
spec:
  resources:
  - {{name: gadgets, group: example.io, schema: v1.gadgets.example.io, storage: {{crd: {{}}}}}}
{claims}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: bind-gadgets}}
rules:
- {{apiGroups: [apis.kcp.io], resources: [apiexports], resourceNames: [gadgets], verbs: [bind]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: bind-gadgets}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bind-gadgets}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: consumer}}
"#
    )
}
