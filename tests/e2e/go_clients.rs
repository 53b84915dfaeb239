//! What Go clients (kubectl, client-go, controller-runtime, api-syncagent)
//! really send, end to end.
//!
//! * Paths are percent-encoded: `/clusters/*` goes out as `/clusters/%2A`
//!   and `root:org` may go out as `root%3Aorg`. The server decodes the path
//!   once, as Go's net/http does for kube-apiserver and kcp, before routing,
//!   workspace resolution and authorization; an encoded `/` stays refused
//!   and a malformed escape is a 400 Status.
//! * A single-object watch is a list/watch with
//!   `fieldSelector=metadata.name=<x>`; a Role with `resourceNames: [x]`
//!   allows it, as in kube.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::kubectl_path;
use crate::common::third_party::gadgets_export;
use crate::common::users::{create_workspace, start_with_users};

const TOKENS: &str = "\
provider-token,provider,uid-provider,system:kcp:workspace-creators
consumer-token,consumer,uid-consumer,system:kcp:workspace-creators
rn-token,rn,uid-rn,
";

const BINDING: &str = r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIBinding
metadata: {name: gadgets}
spec:
  reference:
    export: {path: "root:provider", name: gadgets}
"#;

fn gadget(name: &str) -> String {
    format!(
        "apiVersion: example.io/v1\nkind: Gadget\nmetadata: {{name: {name}, namespace: default}}\nspec: {{size: 3}}\n"
    )
}

/// Reads lines from a running kubectl until one satisfies `f`.
fn wait_line(rx: &std::sync::mpsc::Receiver<String>, what: &str, f: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{what}: never seen; got {seen:?}"));
        if f(&line) {
            return;
        }
        seen.push(line);
    }
}

/// Starts kubectl with `args` and hands its stdout lines to a channel.
fn spawn_kubectl(
    s: &crate::common::Server,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(kubectl_path())
        .args(args)
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir.parent().unwrap().join("home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

#[test]
fn kubectl_uses_the_provider_endpoint_and_encoded_paths() {
    let dir = tempfile::tempdir().unwrap();
    let audit_log = dir.path().join("audit.log");
    let s = start_with_users(
        "go_clients_provider",
        &dir,
        TOKENS,
        &["--audit-log-path", audit_log.to_str().unwrap()],
    );
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "consumer-token", "consumer");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    provider.apply(&gadgets_export(&[]));
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    consumer.apply(BINDING);
    consumer.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/gadgets",
        "--timeout=30s",
    ]);
    consumer.apply(&gadget("g1"));
    let lc = s.as_user(None, "root").ok(&[
        "get",
        "workspace",
        "consumer",
        "-o",
        "jsonpath={.spec.cluster}",
    ]);
    assert!(
        !lc.is_empty(),
        "the consumer workspace has a logical cluster"
    );
    provider.ok(&[
        "wait",
        "--for=jsonpath={.status.endpoints[0].url}",
        "apiexportendpointslice/gadgets",
        "--timeout=30s",
    ]);
    let url = provider.ok(&[
        "get",
        "apiexportendpointslice",
        "gadgets",
        "-o",
        "jsonpath={.status.endpoints[0].url}",
    ]);
    assert!(url.contains("/services/apiexport/"), "{url}");

    // kubectl sends /clusters/%2A for --server …/clusters/*.
    let all = format!("--server={url}/clusters/*");
    let out = s.kubectl_ok(&[
        &all,
        "--token=provider-token",
        "get",
        "gadgets",
        "-A",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["g1"], "{out}");

    // A watch across workspaces sees a consumer's new object.
    let (mut watch, rx) = spawn_kubectl(
        &s,
        &[
            &all,
            "--token=provider-token",
            "get",
            "gadgets",
            "-A",
            "--watch",
            "--output-watch-events",
        ],
    );
    wait_line(&rx, "initial g1", |l| l.contains("g1"));
    consumer.apply(&gadget("g2"));
    wait_line(&rx, "ADDED g2", |l| l.contains("ADDED") && l.contains("g2"));
    let _ = watch.kill();
    let _ = watch.wait();

    // Status through the provider's per-workspace endpoint.
    let one = format!("--server={url}/clusters/{lc}");
    s.kubectl_ok(&[
        &one,
        "--token=provider-token",
        "patch",
        "gadget",
        "g1",
        "-n",
        "default",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ]);
    let phase = consumer.ok(&[
        "get",
        "gadget",
        "g1",
        "-n",
        "default",
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(phase, "Ready");

    // The same bytes by hand: encoded `*` and `:` are decoded once.
    let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let (code, body) = s.curl_token(
        "GET",
        &format!("/{path}/clusters/%2A/apis/example.io/v1/gadgets"),
        "provider-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"g2\""), "{body}");
    // Someone without access to the export's content is refused...
    let (code, body) = s.curl_token(
        "GET",
        &format!("/{path}/clusters/%2A/apis/example.io/v1/gadgets"),
        "consumer-token",
        None,
    );
    assert_eq!(code, 403, "{body}");
    // ... and both requests are in the audit log, as requests in the
    // consumers' workspaces, with their verb and resource.
    let entries = crate::common::eventually_sync(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&audit_log).unwrap_or_default();
        let entries: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
            .filter(|e: &Value| {
                e["uri"].as_str().is_some_and(|u| {
                    u.starts_with("/services/apiexport/")
                        && u.ends_with("/apis/example.io/v1/gadgets")
                })
            })
            .collect();
        (entries.len() >= 2).then_some(entries)
    });
    let by = |user: &str| {
        entries
            .iter()
            .find(|e| e["user"] == user)
            .unwrap_or_else(|| panic!("no audit entry of {user}: {entries:?}"))
    };
    let allowed = by("provider");
    assert_eq!(allowed["verb"], "list", "{allowed}");
    assert_eq!(allowed["resource"], "gadgets", "{allowed}");
    assert_eq!(allowed["workspace"], "*", "{allowed}");
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["code"], 200, "{allowed}");
    let refused = by("consumer");
    assert_eq!(refused["decision"], "forbid", "{refused}");
    assert_eq!(refused["code"], 403, "{refused}");
    // The metrics count them by verb and resource too.
    let (code, metrics) = s.curl("GET", "/metrics", None);
    assert_eq!(code, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("apiserver_request_total{")
                && l.contains(r#"verb="list",resource="gadgets",code="200""#)),
        "{metrics}"
    );
    let (code, body) = s.curl_token(
        "GET",
        "/clusters/root%3Aconsumer/api/v1/namespaces/default",
        "consumer-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    // Decoded once: %253A is a literal "%3A" in the workspace name.
    let (code, body) = s.curl_token(
        "GET",
        "/clusters/root%253Aconsumer/api/v1/namespaces/default",
        "consumer-token",
        None,
    );
    assert_eq!(code, 403, "{body}");
    // An encoded slash never splits a segment.
    let (code, body) = s.curl("GET", "/api/v1/namespaces/kube%2Fsystem", None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("\"kind\":\"Status\""), "{body}");
    let (code, body) = s.curl("GET", "/api/v1/namespaces/%zz", None);
    assert_eq!(code, 400, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "BadRequest", "{body}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("invalid URL escape"),
        "{body}"
    );
}

#[test]
fn a_resource_names_role_allows_watching_that_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("go_clients_resource_names", &dir, TOKENS, &[]);
    create_workspace(&s, "consumer-token", "consumer");
    let owner = s.as_user(Some("consumer-token"), "root:consumer");
    owner.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: default}
data: {v: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rn-access}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kcp:workspace:access"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: rn}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: only-x, namespace: default}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [x], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: only-x, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: only-x}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: rn}
"#,
    );
    let rn = s.as_user(Some("rn-token"), "root:consumer");
    rn.ok(&["get", "configmap", "x", "-n", "default"]);
    // The list of everything and other names stay forbidden.
    for args in [
        vec!["get", "configmaps", "-n", "default"],
        vec!["get", "configmap", "other", "-n", "default"],
    ] {
        let err = rn.denied(&args);
        assert!(
            err.contains("Forbidden") || err.contains("forbidden"),
            "{err}"
        );
    }
    // `kubectl get x --watch`: a GET, then a watch with
    // fieldSelector=metadata.name=x; it sees x change.
    let server = format!("--server={}/clusters/root:consumer", s.base_url());
    let (mut watch, rx) = spawn_kubectl(
        &s,
        &[
            &server,
            "--token=rn-token",
            "get",
            "configmap",
            "x",
            "-n",
            "default",
            "--watch",
            "-o",
            "jsonpath={.data.v}{\"\\n\"}",
        ],
    );
    wait_line(&rx, "x at v=1", |l| l == "1");
    owner.ok(&[
        "patch",
        "configmap",
        "x",
        "-n",
        "default",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]);
    wait_line(&rx, "x at v=2 through the watch", |l| l == "2");
    let _ = watch.kill();
    let status = watch.wait().unwrap();
    assert!(
        status.code().is_none(),
        "the watch ran until killed: {status}"
    );

    // The same list by hand: only x, and a selector for another name is refused.
    let (code, body) = s.curl_token(
        "GET",
        "/clusters/root:consumer/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dx",
        "rn-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(list["items"][0]["metadata"]["name"], "x");
    let (code, body) = s.curl_token(
        "GET",
        "/clusters/root:consumer/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dother",
        "rn-token",
        None,
    );
    assert_eq!(code, 403, "{body}");
}
