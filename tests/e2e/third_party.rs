//! The compatibility battery: programs written against client libraries
//! nobody on the project wrote, installed from their registries (PyPI, the
//! Go module proxy; see `tests/common/third_party.rs`), run against the
//! real server. Each program asserts what it sees and prints `ok: <check>`;
//! these tests assert its exit code and every check line, and look at the
//! outcome from another user's side where there is one. docs/compatibility.md
//! lists what runs here and with which versions.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::Server;
use crate::common::third_party::{Background, gadgets_export, go_bin, repo, run, venv_bin};
use crate::common::users::{create_workspace, start_with_users};

const TOKENS: &str = "\
owner-token,owner,uid-owner,system:kcp:workspace-creators
provider-token,provider,uid-provider,system:kcp:workspace-creators
consumer-token,consumer,uid-consumer,system:kcp:workspace-creators
";

/// A server with a short watch history (so programs can provoke 410s) and
/// a workspace `root:<ws>` owned by `owner`; the kubeconfig for it.
fn workspace_for_a_program(
    name: &str,
    dir: &tempfile::TempDir,
    ws: &str,
) -> (Server, std::path::PathBuf) {
    let s = start_with_users(name, dir, TOKENS, &["--watch-history-events", "30"]);
    create_workspace(&s, "owner-token", ws);
    let kc = s.write_kubeconfig(
        "owner.kubeconfig",
        &format!("{}/clusters/root:{ws}", s.base_url()),
        "owner-token",
    );
    (s, kc)
}

fn python(script: &str, kubeconfig: &std::path::Path) -> Command {
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(repo().join("tests/python").join(script))
        .env("KUBECONFIG", kubeconfig)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// What the official Python client and lightkube both check.
const COMMON_CHECKS: &[&str] = &[
    "create",
    "replace",
    "409 AlreadyExists",
    "422 Invalid with the field",
    "json patch",
    "merge patch",
    "apply creates",
    "apply conflict: 409",
    "watch from a resourceVersion",
    "404 after delete",
    "410 on a too old watch",
];

#[test]
fn python_kubernetes_client() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, kc) = workspace_for_a_program("third_party_python_kubernetes", &dir, "py");
    let ran = run(python("k8s_client.py", &kc), Duration::from_secs(120));
    let mut checks = COMMON_CHECKS.to_vec();
    checks.extend([
        "read",
        "409 Conflict on a stale resourceVersion",
        "failed json patch test op: 422",
        "strategic merge patch merges by key",
        "merge patch replaces lists",
        "apply with force takes the field",
        "no remainingItemCount with a selector",
        "pages of 3 with continue",
        "every item once, in order",
        "watch resumes after the last event seen",
        "410 on an expired continue",
        "the 410's continue token lists the rest",
    ]);
    ran.assert_checks("kubernetes (Python)", &checks);
}

#[test]
fn python_lightkube() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, kc) = workspace_for_a_program("third_party_lightkube", &dir, "lk");
    let ran = run(python("lightkube_client.py", &kc), Duration::from_secs(120));
    let mut checks = COMMON_CHECKS.to_vec();
    checks.extend([
        "409 on a stale resourceVersion",
        "strategic merge patch (lightkube's default) merges by key",
        "apply with force",
        "force moves the field's ownership",
        "chunked list returns every item once",
        "three pages, two with continue",
        "watch resumes after a seen event",
    ]);
    ran.assert_checks("lightkube", &checks);
}

const GADGETS_BINDING: &str = r#"apiVersion: apis.kcp.io/v1alpha2
kind: APIBinding
metadata: {name: gadgets}
spec:
  reference:
    export: {path: "root:provider", name: gadgets}
  permissionClaims:
  - {group: "", resource: namespaces, verbs: [get, list, watch], state: Accepted, selector: {matchAll: true}}
  - {group: "", resource: events, verbs: [create, patch], state: Accepted, selector: {matchAll: true}}
"#;

fn gadget(name: &str, size: u32) -> String {
    format!(
        "apiVersion: example.io/v1\nkind: Gadget\nmetadata: {{name: {name}, namespace: default}}\nspec: {{size: {size}}}\n"
    )
}

/// A provider and a consumer bound to its gadgets export: (server, the
/// export's endpoint URL, the consumer's logical cluster).
pub fn bound_gadgets(name: &str, dir: &tempfile::TempDir) -> (Server, String, String) {
    let s = start_with_users(name, dir, TOKENS, &[]);
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "consumer-token", "consumer");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    // Plus the claims a kopf operator needs: `namespaces` (kopf waits for
    // it in discovery before it starts) and `events` (kopf posts them).
    provider.apply(&gadgets_export(&[
        r#"{group: "", resource: namespaces, verbs: [get, list, watch]}"#,
        r#"{group: "", resource: events, verbs: [create, patch]}"#,
    ]));
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    consumer.apply(GADGETS_BINDING);
    consumer.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/gadgets",
        "--timeout=30s",
    ]);
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
    let lc = s.as_user(None, "root").ok(&[
        "get",
        "workspace",
        "consumer",
        "-o",
        "jsonpath={.spec.cluster}",
    ]);
    assert!(
        url.contains("/services/apiexport/") && !lc.is_empty(),
        "{url} {lc}"
    );
    (s, url, lc)
}

/// kopf, knowing nothing of workspaces, runs unmodified against the
/// export's endpoint for one consumer workspace: to it that URL is a
/// cluster serving gadgets (and the claimed namespaces and events).
#[test]
fn kopf_operates_a_consumer_workspace_through_the_provider_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (s, url, lc) = bound_gadgets("third_party_kopf", &dir);
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    // One gadget before the operator starts (its initial list), one after
    // (its watch).
    consumer.apply(&gadget("g1", 3));
    let kc = s.write_kubeconfig(
        "kopf.kubeconfig",
        &format!("{url}/clusters/{lc}"),
        "provider-token",
    );
    let mut kopf = Command::new(venv_bin("kopf"));
    kopf.args(["run", "--standalone", "--all-namespaces"])
        .arg(repo().join("tests/python/kopf_operator.py"))
        .env("KUBECONFIG", &kc)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let mut kopf = Background::spawn(kopf);
    consumer.apply(&gadget("g2", 4));
    for g in ["g1", "g2"] {
        let out = consumer.run(
            None,
            &[
                "wait",
                "--for=jsonpath={.status.phase}=Ready",
                &format!("gadget/{g}"),
                "-n",
                "default",
                "--timeout=60s",
            ],
        );
        assert!(
            out.status.success(),
            "{g} never Ready: {}\nkopf:\n{}",
            String::from_utf8_lossy(&out.stderr),
            kopf.output()
        );
    }
    let g2: Value =
        serde_json::from_str(&consumer.ok(&["get", "gadget", "g2", "-n", "default", "-o", "json"]))
            .unwrap();
    assert_eq!(g2["status"]["observedSize"], 4, "{g2}");
    assert_eq!(
        g2["metadata"]["finalizers"],
        serde_json::json!(["kopf.zalando.org/KopfFinalizerMarker"]),
        "{g2}"
    );
    // The spec stays the consumer's: a change reaches the operator.
    consumer.ok(&[
        "patch",
        "gadget",
        "g2",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":7}}"#,
    ]);
    consumer.ok(&[
        "wait",
        "--for=jsonpath={.status.observedSize}=7",
        "gadget/g2",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    // kopf's Events land in the consumer's workspace (the events claim).
    let events: Value =
        serde_json::from_str(&consumer.ok(&["get", "events", "-n", "default", "-o", "json"]))
            .unwrap();
    let provisioned: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "Provisioned")
        .map(|e| e["involvedObject"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(provisioned.len(), 2, "{events}");
    // Deleting: kopf's finalizer holds g1 until its handler ran.
    consumer.ok(&["delete", "gadget", "g1", "-n", "default", "--timeout=60s"]);
    kopf.wait_for("operator: deleted g1");
    let err = consumer.err(&["get", "gadget", "g1", "-n", "default"]);
    assert!(err.contains("NotFound"), "{err}");
    assert!(kopf.running(), "kopf exited: {}", kopf.output());
    let log = kopf.output();
    for bad in ["Traceback", "ERROR", "Failed to post"] {
        assert!(!log.contains(bad), "{bad} in kopf's log:\n{log}");
    }
}

/// `/clusters/*` is for clients that know workspaces: list and watch
/// across consumers, writes only per workspace (as kcp, which needs a
/// concrete cluster for a write). Its discovery is consistent: `/api`
/// lists v1 and `/api/v1` answers (empty: claims are served per workspace).
#[test]
fn the_wildcard_endpoint_discovery_is_consistent_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (s, url, _lc) = bound_gadgets("third_party_wildcard", &dir);
    s.as_user(Some("consumer-token"), "root:consumer")
        .apply(&gadget("g1", 1));
    let base = format!("{url}/clusters/*");
    let get = |path: &str| {
        let (code, body) = s.curl_url("GET", &format!("{base}{path}"), "provider-token", &[], None);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(get("/api")["versions"], serde_json::json!(["v1"]));
    let core = get("/api/v1");
    assert_eq!(core["kind"], "APIResourceList", "{core}");
    assert_eq!(core["resources"], serde_json::json!([]), "{core}");
    let gadgets = get("/apis/example.io/v1");
    assert_eq!(gadgets["resources"][0]["name"], "gadgets", "{gadgets}");
    // kubectl's discovery of the whole endpoint succeeds: the exported
    // resource and, as kcp serves them, the export's own bindings.
    let all = format!("--server={base}");
    let resources = s.kubectl_ok(&[
        &all,
        "--token=provider-token",
        "api-resources",
        "-o",
        "name",
    ]);
    assert_eq!(
        resources.trim(),
        "apibindings.apis.kcp.io\ngadgets.example.io",
        "{resources}"
    );
    // A write needs a workspace.
    let (code, body) = s.curl_url(
        "PATCH",
        &format!("{base}/apis/example.io/v1/namespaces/default/gadgets/g1/status"),
        "provider-token",
        &["Content-Type: application/merge-patch+json"],
        Some(r#"{"status":{"phase":"x"}}"#),
    );
    assert_eq!(code, 405, "{body}");
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["reason"], "MethodNotAllowed", "{body}");
}

/// Go programs against client-go (tests/go): typed and dynamic clients,
/// an informer, server-side apply.
#[test]
fn go_client_go() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, kc) = workspace_for_a_program("third_party_client_go", &dir, "go");
    let mut cmd = Command::new(go_bin("clientgo"));
    cmd.env("KUBECONFIG", &kc);
    let ran = run(cmd, Duration::from_secs(120));
    ran.assert_checks(
        "client-go",
        &[
            "typed create",
            "typed get",
            "typed update",
            "409 AlreadyExists",
            "409 Conflict on a stale resourceVersion",
            "422 Invalid with the field",
            "typed get over protobuf",
            "json patch",
            "merge patch",
            "strategic merge patch merges by key",
            "apply creates",
            "apply conflict: 409",
            "apply with force",
            "list pager: every item once",
            "dynamic create",
            "dynamic list",
            "dynamic apply",
            "informer synced",
            "informer sees add, update, delete",
            "watch resumes after the last event seen",
            "410 on a too old watch",
        ],
    );
}

/// A provider controller built with controller-runtime the way
/// multicluster-runtime's kcp provider organises one (tests/go/cmd/
/// ctrlruntime): it finds the export's endpoint in its endpoint slice,
/// engages each consumer workspace whose APIBinding it sees Ready at
/// `<url>/clusters/*` (the bindings the endpoint serves, as kcp does), and
/// reconciles each through `<url>/clusters/<workspace>` with a cache and
/// client of its own, writing status. Two consumers hold a gadget of the
/// same name: each workspace's status is its own.
#[test]
fn go_controller_runtime_provider_reconciles_every_consumer_through_the_endpoint_slice() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _url, _lc) = bound_gadgets("third_party_controller_runtime", &dir);
    create_workspace(&s, "consumer-token", "consumer2");
    let consumer2 = s.as_user(Some("consumer-token"), "root:consumer2");
    consumer2.apply(GADGETS_BINDING);
    consumer2.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/gadgets",
        "--timeout=30s",
    ]);
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    consumer.apply(&gadget("g1", 3));
    consumer2.apply(&gadget("g1", 5));
    let kc = s.write_kubeconfig(
        "provider.kubeconfig",
        &format!("{}/clusters/root:provider", s.base_url()),
        "provider-token",
    );
    let mut cmd = Command::new(go_bin("ctrlruntime"));
    cmd.arg("gadgets").env("KUBECONFIG", &kc);
    let mut ctl = Background::spawn(cmd);
    let ready = |who: &crate::common::users::As, g: &str, size: u32, ctl: &mut Background| {
        let out = who.run(
            None,
            &[
                "wait",
                &format!("--for=jsonpath={{.status.observedSize}}={size}"),
                &format!("gadget/{g}"),
                "-n",
                "default",
                "--timeout=60s",
            ],
        );
        assert!(
            out.status.success(),
            "{g} (size {size}) never observed: {}\ncontroller:\n{}",
            String::from_utf8_lossy(&out.stderr),
            ctl.output()
        );
        let got: Value =
            serde_json::from_str(&who.ok(&["get", "gadget", g, "-n", "default", "-o", "json"]))
                .unwrap();
        assert_eq!(got["status"]["phase"], "Ready", "{got}");
        assert_eq!(got["spec"]["size"], size, "{got}");
    };
    ready(&consumer, "g1", 3, &mut ctl);
    ready(&consumer2, "g1", 5, &mut ctl);
    // Once engaged, a workspace's new instances and spec changes reach the
    // controller through that workspace's own watch.
    consumer.apply(&gadget("g2", 4));
    ready(&consumer, "g2", 4, &mut ctl);
    consumer2.ok(&[
        "patch",
        "gadget",
        "g1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":8}}"#,
    ]);
    ready(&consumer2, "g1", 8, &mut ctl);
    ready(&consumer, "g1", 3, &mut ctl);
    assert!(ctl.running(), "controller exited: {}", ctl.output());
    let log = ctl.output();
    let engaged = log.lines().filter(|l| l.starts_with("engaged ")).count();
    assert_eq!(engaged, 2, "{log}");
    for bad in ["FAIL", "Reconciler error", "panic"] {
        assert!(!log.contains(bad), "{bad} in the controller's log:\n{log}");
    }
}
