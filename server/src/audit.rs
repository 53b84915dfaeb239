//! The audit log: one JSON line per request, written off the request path.
//!
//! Every request that reaches the dispatcher (health probes excepted) is
//! recorded once, after its response is known: who (the authenticated user
//! and, when impersonating, the user acted as), what (verb, workspace,
//! resource, namespace, name, URI), the authorization decision and the
//! response code. Lines go through a channel to a dedicated thread that
//! writes and flushes in batches, so a slow disk delays the log, never a
//! request. [`Auditor::close`] waits for everything queued to reach the
//! file; the server calls it on shutdown.
//!
//! Shape of a line (fields are omitted when empty):
//! `{"ts":"2026-01-01T00:00:00.000000Z","user":"alice","groups":[...],
//! "impersonatedUser":"bob","verb":"list","workspace":"root:a",
//! "cluster":"2x7...","resource":"configmaps","namespace":"default",
//! "name":"","uri":"/clusters/root:a/api/v1/...","decision":"allow",
//! "code":200,"annotations":{...}}` where `decision` is `allow`, `forbid`
//! or `unauthenticated`, and `annotations` holds what admission policies
//! recorded (`<policy>/<key>`,
//! `validation.policy.admission.k8s.io/validation_failure`).

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use serde::Serialize;

enum Message {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// Writes audit events to a file; a no-op when no file is configured.
#[derive(Default)]
pub struct Auditor {
    tx: Option<parking_lot::Mutex<mpsc::Sender<Message>>>,
}

/// How authorization ended for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Forbid,
    Unauthenticated,
}

/// One request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    pub ts: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub user: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<&'a str>,
    pub verb: &'a str,
    pub workspace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub cluster: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub resource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub subresource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
    pub uri: &'a str,
    pub decision: Decision,
    pub code: u16,
    /// What admission recorded (admission policies' `auditAnnotations`
    /// and validation failures), as kube's audit event `annotations`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: &'a std::collections::BTreeMap<String, String>,
}

impl Auditor {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<Auditor> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_loop(file, rx))?;
        Ok(Auditor {
            tx: Some(parking_lot::Mutex::new(tx)),
        })
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    pub fn record(&self, event: &Event<'_>) {
        let Some(tx) = &self.tx else { return };
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "encoding an audit event");
                return;
            }
        };
        line.push(b'\n');
        let _ = tx.lock().send(Message::Line(line));
    }

    /// Waits until every event recorded so far is in the file.
    pub async fn close(&self) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = mpsc::channel();
        if tx.lock().send(Message::Flush(done_tx)).is_err() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || done_rx.recv()).await;
    }
}

fn write_loop(file: std::fs::File, rx: mpsc::Receiver<Message>) {
    let mut out = std::io::BufWriter::new(file);
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                Message::Line(l) => {
                    if let Err(e) = out.write_all(&l)
                        && !failed
                    {
                        failed = true;
                        tracing::error!(error = %e, "writing the audit log");
                    }
                }
                Message::Flush(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = out.flush()
            && !failed
        {
            failed = true;
            tracing::error!(error = %e, "flushing the audit log");
        }
        for a in acks {
            let _ = a.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let a = Auditor::open(&path).unwrap();
        let groups = vec!["g".to_string()];
        for code in [200, 403] {
            a.record(&Event {
                ts: "t".into(),
                user: "alice",
                groups: &groups,
                impersonated_user: None,
                verb: "get",
                workspace: "root:a",
                cluster: "c",
                resource: "configmaps",
                subresource: "",
                namespace: "ns",
                name: "x",
                uri: "/api",
                decision: if code == 200 {
                    Decision::Allow
                } else {
                    Decision::Forbid
                },
                code,
                annotations: &Default::default(),
            });
        }
        a.close().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["decision"], "allow");
        assert_eq!(lines[1]["decision"], "forbid");
        assert_eq!(lines[1]["code"], 403);
        assert!(lines[0].get("subresource").is_none());
    }
}
