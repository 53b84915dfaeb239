//! The provider endpoint end to end, driven by `docs/walkthrough.md`: its
//! `bash` blocks run as written (operator, provider and consumer with
//! their own credentials, the example kube-rs controller started against
//! the endpoint slice URL), and between the second-to-last and the last
//! block the test checks what the walkthrough cannot show: a second
//! consumer workspace, `kubectl get -w`, the provider's limits through its
//! endpoint (no spec changes, no creates or deletes, no unbound workspace,
//! no unclaimed resource, the claim's selector and its `matchLabels` on the
//! provider's creates), the export's own APIBindings served there read-only
//! (and no other export's), and that a consumer's credentials are refused
//! there.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::users::{As, create_workspace, start_with_users};
use crate::common::{Server, kubectl_path};

fn walkthrough() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/walkthrough.md"
    ))
    .expect("docs/walkthrough.md")
}

/// The fenced blocks of one language, in order.
fn blocks(doc: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        match &mut cur {
            None if line == format!("```{lang}") => cur = Some(String::new()),
            Some(b) if line == "```" => {
                out.push(std::mem::take(b));
                cur = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

/// The example controller cargo built beside the test binary.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let p = profile_dir.join("examples").join("database-controller");
    // `cargo test` builds examples with the tests; `--test e2e` alone
    // does not.
    assert!(
        p.exists(),
        "{} not built: run `cargo test --workspace --release` or `cargo build --release --example database-controller`",
        p.display()
    );
    p
}

/// The walkthrough's shell; if a check fails while it waits, it is sent
/// SIGTERM so that its EXIT trap stops the controller it started.
struct Script(std::process::Child);

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
}

struct Shell {
    dir: PathBuf,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

fn get(a: &As, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&a.ok(&all)).unwrap()
}

#[test]
fn walkthrough_runs_and_the_provider_endpoint_keeps_its_limits() {
    let doc = walkthrough();
    let sh = blocks(&doc, "sh");
    let tokens = sh[0]
        .split("<<'EOF'\n")
        .nth(1)
        .and_then(|t| t.split("EOF\n").next())
        .expect("the operator's token file")
        .to_string();
    let tokens = format!(
        "{tokens}bob-token,bob,uid-bob,\"consumers,system:kcp:workspace-creators\"\nmallory-token,mallory,uid-mallory,system:kcp:workspace-creators\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("walkthrough", &dir, &tokens, &[]);
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(kubectl_path(), bin.join("kubectl")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let shell = Shell {
        dir: work.clone(),
        bin,
        env: vec![
            (
                "KUBECONFIG".into(),
                s.kubeconfig.to_str().unwrap().to_string(),
            ),
            ("SERVER".into(), s.base_url()),
            (
                "HOME".into(),
                dir.path().join("home").to_str().unwrap().into(),
            ),
        ],
    };
    let example = example_binary();
    let bash: Vec<String> = blocks(&doc, "bash")
        .into_iter()
        .map(|b| {
            b.lines()
                .filter(|l| {
                    !l.starts_with("export KUBECONFIG=") && !l.starts_with("export SERVER=")
                })
                .map(|l| {
                    l.replace(
                        "cargo run --release --example database-controller --",
                        example.to_str().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        })
        .collect();
    assert!(bash.len() >= 4, "{bash:?}");
    let (last, steps) = bash.split_last().unwrap();
    // One shell for the whole walkthrough (functions and the controller's
    // PID carry over); the checks run in the middle, between two halves.
    let marker = work.join("checks-done");
    let script = format!(
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}\necho\necho READY-FOR-CHECKS\nwhile [ ! -e {} ]; do sleep 0.1; done\n{last}",
        steps.join("\n"),
        marker.display()
    );
    let mut path = shell.bin.clone().into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut child = Script(
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&work)
            .env("PATH", path)
            .envs(shell.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash"),
    );
    let child = &mut child.0;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut transcript = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "walkthrough ended early: {transcript} {:?}",
            child.wait()
        );
        if line.trim() == "READY-FOR-CHECKS" {
            break;
        }
        transcript.push_str(&line);
    }
    // The walkthrough's own output: the table and the Secret's endpoint.
    assert!(transcript.contains("orders   10     Ready"), "{transcript}");
    assert!(transcript.contains("orders.default."), "{transcript}");

    checks(&s, &shell);

    std::fs::write(&marker, "").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "last block failed: {rest}");
    assert!(rest.contains("refused, as it should be"), "{rest}");
    assert!(
        rest.contains("the controller's finalizer removed the secret"),
        "{rest}"
    );
    // The last block deleted alice's database: it is gone, not hidden.
    let alice = s.as_user(Some("alice-token"), "root:alice");
    let err = alice.err(&["get", "database", "orders", "-n", "default"]);
    assert!(
        err.contains("(NotFound)") && err.contains("\"orders\" not found"),
        "{err}"
    );
}

fn checks(s: &Server, shell: &Shell) {
    let alice = s.as_user(Some("alice-token"), "root:alice");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    let url = provider.ok(&[
        "get",
        "apiexportendpointslice",
        "databases",
        "-o",
        "jsonpath={.status.endpoints[0].url}",
    ]);
    assert!(
        url.starts_with(&format!("{}/services/apiexport/", s.base_url())),
        "{url}"
    );

    // A second consumer: bob binds and orders; the same controller serves
    // both workspaces, and bob watches the status arrive with `get -w`.
    create_workspace(s, "bob-token", "bob");
    let bob = s.as_user(Some("bob-token"), "root:bob");
    bob.apply(
        r#"apiVersion: apis.kcp.io/v1alpha2
kind: APIBinding
metadata: {name: databases}
spec:
  reference:
    export: {path: "root:provider", name: databases}
  permissionClaims:
  - {group: "", resource: secrets, verbs: ["get", "list", "watch", "create", "update", "patch", "delete"], state: Accepted, selector: {matchLabels: {app.kubernetes.io/managed-by: database-controller}}}
"#,
    );
    bob.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/databases",
        "--timeout=20s",
    ]);
    let mut watch = Command::new(kubectl_path())
        .args([
            &format!("--server={}/clusters/root:bob", s.base_url()),
            "--token=bob-token",
            "get",
            "databases",
            "-n",
            "default",
            "-w",
        ])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", shell.dir.parent().unwrap().join("home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(watch.stdout.take().unwrap());
    bob.apply(
        "apiVersion: example.io/v1\nkind: Database\nmetadata: {name: billing, namespace: default}\nspec: {size: 3}\n",
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("kubectl get -w never showed billing Ready: {seen:?}"));
        seen.push(line.clone());
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() == Some(&"billing") && cols.contains(&"Ready") {
            assert_eq!(cols[1], "3", "{line}");
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let secret = get(&bob, &["secret", "billing-connection", "-n", "default"]);
    assert!(secret["data"]["endpoint"].is_string(), "{secret}");

    // The provider's view across workspaces: both instances, each naming
    // its workspace.
    let path = url.trim_start_matches(&s.base_url()).to_string();
    let (code, body) = s.curl_token(
        "GET",
        &format!("{path}/clusters/*/apis/example.io/v1/databases"),
        "provider-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let mut seen: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(name_and_cluster)
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 2, "{body}");
    assert_eq!(seen[0].0, "billing");
    assert_eq!(seen[1].0, "orders");
    assert_ne!(seen[0].1, seen[1].1);
    let bob_cluster = seen[0].1.clone();
    let alice_cluster = seen[1].1.clone();

    // Discovery and OpenAPI there: the export's resource everywhere, the
    // claimed Secrets (and nothing else of the core group) in a workspace
    // that accepted the claim. Claimed resources are served per workspace,
    // so across workspaces there is no core group at all.
    for (ws, claimed) in [("*", false), (alice_cluster.as_str(), true)] {
        let (code, body) = s.curl_token(
            "GET",
            &format!("{path}/clusters/{ws}/apis/example.io/v1"),
            "provider-token",
            None,
        );
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"databases\""), "{body}");
        let (code, core) = s.curl_token(
            "GET",
            &format!("{path}/clusters/{ws}/api/v1"),
            "provider-token",
            None,
        );
        let core: Value = serde_json::from_str(&core).unwrap();
        // `/api` lists v1 everywhere, so `/api/v1` answers everywhere: the
        // claimed core resources, or none.
        assert_eq!(code, 200, "{core}");
        assert_eq!(core["kind"], "APIResourceList", "{core}");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no resources: {core}"))
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .filter(|n| !n.contains('/'))
            .collect();
        let want: &[&str] = if claimed { &["secrets"] } else { &[] };
        assert_eq!(names, want, "{core}");
        let (code, root) = s.curl_token(
            "GET",
            &format!("{path}/clusters/{ws}/openapi/v3"),
            "provider-token",
            None,
        );
        assert_eq!(code, 200, "{root}");
        assert!(root.contains("apis/example.io/v1"), "{root}");
        assert_eq!(root.contains("\"api/v1\""), claimed, "{root}");
    }
    let (code, doc) = s.curl_token(
        "GET",
        &format!("{path}/clusters/*/openapi/v3/apis/example.io/v1"),
        "provider-token",
        None,
    );
    assert_eq!(code, 200);
    assert!(doc.contains("Storage in GiB."), "{doc}");

    // Provider limits through its endpoint.
    let one = format!(
        "{path}/clusters/{alice_cluster}/apis/example.io/v1/namespaces/default/databases/orders"
    );
    let (code, body) = s.curl_token(
        "PATCH",
        &one,
        "provider-token",
        Some(("application/merge-patch+json", r#"{"spec":{"size":99}}"#)),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("spec is owned by the consumer"), "{body}");
    let (code, body) = s.curl_token(
        "PATCH",
        &one,
        "provider-token",
        Some((
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"tier":"gold"}}}"#,
        )),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.curl_token("DELETE", &one, "provider-token", None);
    assert_eq!(code, 403, "{body}");
    let (code, body) = s.curl_token(
        "POST",
        &format!("{path}/clusters/{alice_cluster}/apis/example.io/v1/namespaces/default/databases"),
        "provider-token",
        Some((
            "application/json",
            r#"{"apiVersion":"example.io/v1","kind":"Database","metadata":{"name":"sneaky"},"spec":{"size":1}}"#,
        )),
    );
    assert_eq!(code, 403, "{body}");
    // An unclaimed resource does not exist there; a workspace without a
    // binding is refused.
    let (code, _) = s.curl_token(
        "GET",
        &format!("{path}/clusters/{alice_cluster}/api/v1/namespaces/default/configmaps"),
        "provider-token",
        None,
    );
    assert_eq!(code, 404);
    create_workspace(s, "mallory-token", "mallory");
    let mallory_cluster = mallory_cluster(s);
    let (code, body) = s.curl_token(
        "GET",
        &format!("{path}/clusters/{mallory_cluster}/apis/example.io/v1/databases"),
        "provider-token",
        None,
    );
    assert_eq!(code, 403, "{body}");
    export_bindings(s, &path, &alice_cluster, &bob_cluster);
    // The claim's selector: in bob's workspace only secrets labelled for
    // the controller exist for the provider.
    bob.ok(&[
        "create",
        "secret",
        "generic",
        "private",
        "-n",
        "default",
        "--from-literal=k=v",
    ]);
    let (code, body) = s.curl_token(
        "GET",
        &format!("{path}/clusters/{bob_cluster}/api/v1/namespaces/default/secrets"),
        "provider-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let names: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["billing-connection"]);
    // The provider's creates get the claim's matchLabels (kcp's selector
    // admission); a different value of one of them is refused.
    let secrets = format!("{path}/clusters/{bob_cluster}/api/v1/namespaces/default/secrets");
    let (code, body) = s.curl_token(
        "POST",
        &secrets,
        "provider-token",
        Some((
            "application/json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"unlabelled","labels":{"extra":"kept"}},"stringData":{"k":"v"}}"#,
        )),
    );
    assert_eq!(code, 201, "{body}");
    let made: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        made["metadata"]["labels"],
        serde_json::json!({"app.kubernetes.io/managed-by": "database-controller", "extra": "kept"}),
        "{body}"
    );
    let stored = get(&bob, &["secret", "unlabelled", "-n", "default"]);
    assert_eq!(
        stored["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "database-controller"
    );
    let (code, body) = s.curl_token(
        "POST",
        &secrets,
        "provider-token",
        Some((
            "application/json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"mislabelled","labels":{"app.kubernetes.io/managed-by":"someone-else"}}}"#,
        )),
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(
            "protected label app.kubernetes.io/managed-by must have value database-controller"
        ),
        "{body}"
    );
    bob.err(&["get", "secret", "mislabelled", "-n", "default"]);
    let (code, _) = s.curl_token(
        "GET",
        &format!("{path}/clusters/{bob_cluster}/api/v1/namespaces/default/secrets/private"),
        "provider-token",
        None,
    );
    assert_eq!(code, 404);
    // A consumer's credentials are refused at the endpoint.
    let (code, body) = s.curl_token(
        "GET",
        &format!("{path}/clusters/*/apis/example.io/v1/databases"),
        "alice-token",
        None,
    );
    assert_eq!(code, 403, "{body}");
    // Consumers still cannot write status.
    alice.denied(&[
        "patch",
        "database",
        "orders",
        "-n",
        "default",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Hacked"}}"#,
    ]);
    let orders = get(&alice, &["database", "orders", "-n", "default"]);
    assert_eq!(orders["status"]["phase"], "Ready");
    assert_eq!(orders["spec"]["size"], 10);
    assert_eq!(orders["metadata"]["labels"]["tier"], "gold");
}

/// The export's own APIBindings at the provider endpoint: read-only, at
/// `*` and per workspace, selected by kcp's `internal.apis.kcp.io/export`
/// label — what multicluster-runtime's kcp provider watches to engage
/// consumer workspaces. mallory binds an export of her own, which must not
/// show, and cannot move her binding into the provider's view by copying
/// the label.
fn export_bindings(s: &Server, path: &str, alice_cluster: &str, bob_cluster: &str) {
    let mallory = s.as_user(Some("mallory-token"), "root:mallory");
    mallory.apply(
        r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata: {name: v1.gadgets.mallory.io}
spec:
  group: mallory.io
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata: {name: gadgets}
spec:
  resources:
  - {name: gadgets, group: mallory.io, schema: v1.gadgets.mallory.io, storage: {crd: {}}}
---
apiVersion: apis.kcp.io/v1alpha2
kind: APIBinding
metadata: {name: gadgets}
spec:
  reference:
    export: {name: gadgets}
"#,
    );
    mallory.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/gadgets",
        "--timeout=20s",
    ]);
    const LABEL: &str = "internal.apis.kcp.io/export";
    let label_of = |a: &As, binding: &str| -> String {
        get(a, &["apibinding", binding])["metadata"]["labels"][LABEL]
            .as_str()
            .unwrap_or_else(|| panic!("no {LABEL} label on {binding}"))
            .to_string()
    };
    let want = label_of(&s.as_user(Some("alice-token"), "root:alice"), "databases");
    assert_eq!(
        want,
        label_of(&s.as_user(Some("bob-token"), "root:bob"), "databases")
    );
    let mallory_label = label_of(&mallory, "gadgets");
    assert_ne!(mallory_label, want);
    // The label is the server's: mallory's copy of the provider's value
    // is not written (the answer to her patch is what was stored; the
    // binding controller would repair it later, too late for a watcher).
    // Through curl: `kubectl label -o json` prints its own patched copy,
    // not the server's answer.
    let (code, body) = s.curl_token(
        "PATCH",
        "/clusters/root:mallory/apis/apis.kcp.io/v1alpha2/apibindings/gadgets",
        "mallory-token",
        Some((
            "application/merge-patch+json",
            &format!(r#"{{"metadata":{{"labels":{{"{LABEL}":"{want}","mine":"yes"}}}}}}"#),
        )),
    );
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["metadata"]["labels"]["mine"], "yes", "{body}");
    assert_eq!(
        answer["metadata"]["labels"][LABEL],
        mallory_label.as_str(),
        "provider's {want}: {body}"
    );
    let bindings_at = |ws: &str, version: &str| -> Vec<(String, String)> {
        let (code, body) = s.curl_token(
            "GET",
            &format!("{path}/clusters/{ws}/apis/apis.kcp.io/{version}/apibindings"),
            "provider-token",
            None,
        );
        assert_eq!(code, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list["kind"], "APIBindingList", "{body}");
        let mut seen: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                assert_eq!(b["metadata"]["labels"][LABEL], want.as_str(), "{b}");
                assert_eq!(b["apiVersion"], format!("apis.kcp.io/{version}"), "{b}");
                name_and_cluster(b)
            })
            .collect();
        seen.sort();
        seen
    };
    let mut both = vec![
        ("databases".to_string(), alice_cluster.to_string()),
        ("databases".to_string(), bob_cluster.to_string()),
    ];
    both.sort();
    for version in ["v1alpha1", "v1alpha2"] {
        assert_eq!(bindings_at("*", version), both);
        assert_eq!(
            bindings_at(bob_cluster, version),
            [("databases".to_string(), bob_cluster.to_string())]
        );
    }
    // Watch across workspaces: the same two, then the stream ends.
    let (code, body) = s.curl_token(
        "GET",
        &format!(
            "{path}/clusters/*/apis/apis.kcp.io/v1alpha2/apibindings?watch=true&timeoutSeconds=1"
        ),
        "provider-token",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let mut watched: Vec<(String, String)> = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] != "BOOKMARK")
        .map(|e| {
            assert_eq!(e["type"], "ADDED", "{e}");
            name_and_cluster(&e["object"])
        })
        .collect();
    watched.sort();
    assert_eq!(watched, both);
    // One binding, with the status a provider engages on.
    let one =
        format!("{path}/clusters/{alice_cluster}/apis/apis.kcp.io/v1alpha2/apibindings/databases");
    let (code, body) = s.curl_token("GET", &one, "provider-token", None);
    assert_eq!(code, 200, "{body}");
    let b: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        b["metadata"]["annotations"]["kcp.io/cluster"],
        alice_cluster
    );
    assert!(
        b["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"),
        "{body}"
    );
    // Read-only, and discovery says so.
    let (code, body) = s.curl_token(
        "PATCH",
        &one,
        "provider-token",
        Some((
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )),
    );
    assert_eq!(code, 405, "{body}");
    for ws in ["*", alice_cluster] {
        let (code, body) = s.curl_token(
            "POST",
            &format!("{path}/clusters/{ws}/apis/apis.kcp.io/v1alpha2/apibindings"),
            "provider-token",
            Some((
                "application/json",
                r#"{"apiVersion":"apis.kcp.io/v1alpha2","kind":"APIBinding","metadata":{"name":"x"},"spec":{"reference":{"export":{"name":"gadgets"}}}}"#,
            )),
        );
        assert_eq!(code, 405, "{ws}: {body}");
        let (code, body) = s.curl_token(
            "GET",
            &format!("{path}/clusters/{ws}/apis/apis.kcp.io/v1alpha2"),
            "provider-token",
            None,
        );
        assert_eq!(code, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        let r = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "apibindings")
            .unwrap_or_else(|| panic!("{ws}: no apibindings in {body}"));
        assert_eq!(
            r["verbs"],
            serde_json::json!(["get", "list", "watch"]),
            "{body}"
        );
    }
    // Another workspace's binding does not exist for the provider.
    let mallory_cluster = mallory_cluster(s);
    let (code, _) = s.curl_token(
        "GET",
        &format!("{path}/clusters/{mallory_cluster}/apis/apis.kcp.io/v1alpha2/apibindings"),
        "provider-token",
        None,
    );
    assert_eq!(code, 403);
}

/// An object's name and the workspace the provider endpoint says it is in.
fn name_and_cluster(o: &Value) -> (String, String) {
    (
        o["metadata"]["name"].as_str().unwrap().to_string(),
        o["metadata"]["annotations"]["kcp.io/cluster"]
            .as_str()
            .unwrap_or_else(|| panic!("no kcp.io/cluster: {o}"))
            .to_string(),
    )
}

fn mallory_cluster(s: &Server) -> String {
    s.as_user(None, "root").ok(&[
        "get",
        "workspace",
        "mallory",
        "-o",
        "jsonpath={.spec.cluster}",
    ])
}
