//! A hostile tenant, end to end: an ordinary workspace owner (alice) tries
//! what issue 15 found and the classes it stands for, against two other
//! tenants — a provider (pat) publishing `widgets.example.io` and a
//! consumer (bob) holding data under it — and an outsider (olga) with no
//! workspace at all. Every attempt must be refused with the right Status,
//! leave the server serving (and restartable), and show up in the audit
//! log; the isolation matrix counts leaks and expects none.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::raw::Raw1;
use crate::common::users::{As, create_workspace, start_with_users};
use crate::common::{Server, eventually};

const TOKENS: &str = "\
alice-token,alice,uid-alice,system:kcp:workspace-creators
bob-token,bob,uid-bob,system:kcp:workspace-creators
pat-token,pat,uid-pat,system:kcp:workspace-creators
olga-token,olga,uid-olga,
";

const SCHEMA: &str = r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: v1.widgets.example.io
spec:
  group: example.io
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            color: {type: string}
"#;

fn export(name: &str) -> String {
    format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: {name}\nspec:\n  resources:\n  - group: example.io\n    name: widgets\n    schema: v1.widgets.example.io\n    storage: {{crd: {{}}}}\n"
    )
}

/// pat lets bob (only) bind `widgets`.
const BIND_FOR_BOB: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bind-widgets}
rules:
- apiGroups: [apis.kcp.io]
  resources: [apiexports]
  resourceNames: [widgets]
  verbs: [bind]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bind-widgets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bind-widgets}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
"#;

fn binding(name: &str, path: &str, export: &str) -> String {
    format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata:\n  name: {name}\nspec:\n  reference:\n    export:\n      path: {path}\n      name: {export}\n"
    )
}

/// Three tenants and their workspaces: a (alice), b (bob, bound to pat's
/// export with one widget), p (pat, the provider).
struct World {
    _dir: tempfile::TempDir,
    s: Server,
    audit: std::path::PathBuf,
    /// Logical-cluster names of a, b and p.
    lc: BTreeMap<&'static str, String>,
    /// The identity hash of pat's export.
    hash: String,
}

fn world(name: &str, extra: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let audit_arg = audit.to_str().unwrap().to_string();
    let mut args = vec!["--audit-log-path", audit_arg.as_str()];
    args.extend_from_slice(extra);
    let s = start_with_users(name, &dir, TOKENS, &args);
    for (token, ws) in [("alice-token", "a"), ("bob-token", "b"), ("pat-token", "p")] {
        create_workspace(&s, token, ws);
    }
    let admin = s.as_user(None, "root");
    let mut lc = BTreeMap::new();
    for ws in ["a", "b", "p"] {
        let c = admin.ok(&["get", "workspace", ws, "-o", "jsonpath={.spec.cluster}"]);
        assert_eq!(c.len(), 16, "{c}");
        lc.insert(ws, c);
    }
    let pat = s.as_user(Some("pat-token"), "root:p");
    pat.apply(SCHEMA);
    pat.apply(&export("widgets"));
    pat.apply(BIND_FOR_BOB);
    let hash = wait_hash(&pat, "widgets");
    let bob = s.as_user(Some("bob-token"), "root:b");
    bob.apply(&binding("widgets", "root:p", "widgets"));
    bob.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "apibinding/widgets",
        "--timeout=30s",
    ]);
    bob.apply(
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: secret-b, namespace: default}\nspec: {color: red}\n",
    );
    World {
        _dir: dir,
        s,
        audit,
        lc,
        hash,
    }
}

fn wait_hash(who: &As<'_>, export: &str) -> String {
    who.ok(&[
        "wait",
        "--for=jsonpath={.status.identityHash}",
        &format!("apiexport/{export}"),
        "--timeout=30s",
    ]);
    let h = who.ok(&[
        "get",
        "apiexport",
        export,
        "-o",
        "jsonpath={.status.identityHash}",
    ]);
    assert_eq!(h.len(), 64, "{h}");
    h
}

/// `/readyz` answers: the server is alive.
fn alive(s: &Server) {
    let (code, body) = s.curl("GET", "/readyz", None);
    assert_eq!((code, body.as_str()), (200, "ok"), "server not serving");
}

/// Waits until the audit log has an entry by `user` with `code` whose URI
/// contains `uri_part`.
async fn audited(log: &Path, user: &str, code: u16, uri_part: &str) {
    eventually(Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("audit line is JSON"))
            .find(|e| {
                e["user"] == user
                    && e["code"] == code
                    && e["uri"].as_str().is_some_and(|u| u.contains(uri_part))
            })
            .map(|_| ())
    })
    .await;
}

fn crd_with(rule: Option<&str>, column: Option<&str>, props: Value) -> String {
    let mut spec = json!({"type": "object", "properties": props});
    if let Some(r) = rule {
        spec["x-kubernetes-validations"] = json!([{"rule": r}]);
    }
    let mut version = json!({"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}});
    if let Some(c) = column {
        version["additionalPrinterColumns"] =
            json!([{"name": "X", "type": "string", "jsonPath": c}]);
    }
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.hostile.example"},
        "spec": {"group": "hostile.example", "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"}, "versions": [version]}})
    .to_string()
}

/// The 422 message of a refused create, posted as `token` to `path`.
fn refused(s: &Server, token: &str, path: &str, body: &str, code: u16) -> String {
    let (status, out) = s.curl_token("POST", path, token, Some(("application/json", body)));
    assert_eq!(status, code, "{}", &out[..out.len().min(600)]);
    let v: Value = serde_json::from_str(&out).expect("a Status");
    assert_eq!(v["kind"], "Status");
    v["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_and_patterns_are_refused() {
    let mut w = world("hostile_programs", &[]);
    let a = format!("/clusters/{}", w.lc["a"]);
    let crds = format!("{a}/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
    let s = &w.s;
    let chain = format!("{} > 0", vec!["1"; 20_000].join("+"));
    let parens = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    let huge = format!("'{}' == 'x'", "a".repeat(1 << 20));
    let strings = json!({"l": {"type": "array", "items": {"type": "string"}}});
    let cubic = "self.l.all(x, self.l.all(y, self.l.all(z, x + y + z != '')))";
    for (rule, want) in [
        (chain.as_str(), "max recursion depth exceeded"),
        (parens.as_str(), "expression recursion limit exceeded"),
        (huge.as_str(), "expression code point size exceeds limit"),
        (
            cubic,
            "estimated rule cost exceeds budget by factor of more than 100x",
        ),
    ] {
        let msg = refused(
            s,
            "alice-token",
            &crds,
            &crd_with(Some(rule), None, strings.clone()),
            422,
        );
        assert!(
            msg.contains(want),
            "{want}: {}",
            &msg[msg.len().saturating_sub(400)..]
        );
        alive(s);
    }
    // The same cubic rule with bounded lists is what kube accepts.
    let bounded = json!({"l": {"type": "array", "maxItems": 10,
        "items": {"type": "string", "maxLength": 10}}});
    let (code, out) = s.curl_token(
        "POST",
        &crds,
        "alice-token",
        Some(("application/json", &crd_with(Some(cubic), None, bounded))),
    );
    assert_eq!(code, 201, "{out}");
    let (code, _) = s.curl_token(
        "DELETE",
        &format!("{crds}/things.hostile.example"),
        "alice-token",
        None,
    );
    assert_eq!(code, 200);

    // Printer columns nested until parsing would overflow or take minutes.
    let filters = format!(".spec{}{}", "[?(@.a".repeat(500), ")]".repeat(500));
    let msg = refused(
        s,
        "alice-token",
        &crds,
        &crd_with(None, Some(&filters), json!({})),
        422,
    );
    assert!(
        msg.contains("may not nest filters more than 4 deep"),
        "{msg}"
    );

    // An APIResourceSchema goes through the same bounds.
    let schemas = format!("{a}/apis/apis.kcp.io/v1alpha1/apiresourceschemas");
    let ars = json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
        "metadata": {"name": "v1.things.hostile.example"},
        "spec": {"group": "hostile.example", "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing", "listKind": "ThingList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-validations": [{"rule": chain}]}}}}]}});
    let msg = refused(s, "alice-token", &schemas, &ars.to_string(), 422);
    assert!(
        msg.contains("max recursion depth exceeded"),
        "{}",
        &msg[..300]
    );

    // Objects nested beyond what stored data may hold, built by a patch.
    let open = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "blobs.hostile.example"},
        "spec": {"group": "hostile.example", "scope": "Namespaced",
            "names": {"plural": "blobs", "kind": "Blob"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let (code, out) = s.curl_token(
        "POST",
        &crds,
        "alice-token",
        Some(("application/json", &open.to_string())),
    );
    assert_eq!(code, 201, "{out}");
    let alice = s.as_user(Some("alice-token"), "root:a");
    alice.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/blobs.hostile.example",
        "--timeout=30s",
    ]);
    let blobs = format!("{a}/apis/hostile.example/v1/namespaces/default/blobs");
    let mut deep = json!("x");
    for _ in 0..90 {
        deep = json!({ "a": deep });
    }
    let blob = json!({"apiVersion": "hostile.example/v1", "kind": "Blob", "metadata": {"name": "b"}, "spec": deep});
    let (code, out) = s.curl_token(
        "POST",
        &blobs,
        "alice-token",
        Some(("application/json", &blob.to_string())),
    );
    assert_eq!(code, 201, "{}", &out[..out.len().min(300)]);
    // Within what a body may be, deeper than what may be stored.
    for _ in 0..10 {
        deep = json!({ "a": deep });
    }
    let patch = json!([{"op": "add", "path": "/spec/b", "value": deep}]).to_string();
    let (code, out) = s.curl_token(
        "PATCH",
        &format!("{blobs}/b"),
        "alice-token",
        Some(("application/json-patch+json", &patch)),
    );
    assert_eq!(code, 400, "{}", &out[..out.len().min(300)]);
    assert!(out.contains("more than 100 levels deep"), "{out}");
    // What was stored still reads back.
    let (code, _) = s.curl_token("GET", &format!("{blobs}/b"), "alice-token", None);
    assert_eq!(code, 200);

    audited(&w.audit, "alice", 422, "customresourcedefinitions").await;
    audited(&w.audit, "alice", 400, "/blobs/b").await;
    alive(&w.s);
    w.s.restart();
    alive(&w.s);
    let alice = w.s.as_user(Some("alice-token"), "root:a");
    assert!(
        alice
            .ok(&["get", "blobs", "b", "-o", "name"])
            .contains("blob")
    );
    let bob = w.s.as_user(Some("bob-token"), "root:b");
    assert!(
        bob.ok(&["get", "widgets", "-o", "name"])
            .contains("secret-b")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_definition_that_cannot_compile_does_not_stop_the_server() {
    let mut s = Server::start("hostile_stored_crd");
    s.as_user(None, "root").apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept, namespace: default}\ndata: {k: v}\n",
    );
    assert!(s.stop().success());
    // Written straight into storage, as an older server or another tool
    // might have: a rule no bound admits and a printer column no parser
    // survives, marked established.
    let chain = format!("{} > 0", vec!["1"; 20_000].join("+"));
    let filters = format!(".spec{}{}", "[?(@.a".repeat(3_000), ")]".repeat(3_000));
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "bads.hostile.example", "uid": "7b6c0c8e-0000-4000-8000-000000000001",
            "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1},
        "spec": {"group": "hostile.example", "scope": "Namespaced",
            "names": {"plural": "bads", "singular": "bad", "kind": "Bad", "listKind": "BadList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "additionalPrinterColumns": [{"name": "X", "type": "string", "jsonPath": filters}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-validations": [{"rule": chain}]}}}}}]},
        "status": {"acceptedNames": {"plural": "bads", "singular": "bad", "kind": "Bad", "listKind": "BadList"},
            "storedVersions": ["v1"],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    {
        use trellis_storage::Storage;
        let storage = trellis_storage::SledStorage::open(trellis_storage::SledConfig::new(
            s.data_dir.join("db"),
        ))
        .expect("open the data directory");
        let key = bytes::Bytes::from_static(
            b"apiextensions.k8s.io/customresourcedefinitions/root//bads.hostile.example",
        );
        storage
            .create(
                key,
                trellis_storage::Value::verbatim(crd.to_string().into_bytes()),
                None,
            )
            .await
            .expect("write the definition");
        storage.close().await.expect("close");
    }
    s.restart_stopped();
    alive(&s);
    let admin = s.as_user(None, "root");
    assert_eq!(
        admin.ok(&["get", "configmap", "kept", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    let cond = eventually(Duration::from_secs(20), || async {
        let out = admin.ok(&[
            "get",
            "crd",
            "bads.hostile.example",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")]}",
        ]);
        let c: Value = serde_json::from_str(&out).ok()?;
        (c["status"] == "False").then_some(c)
    })
    .await;
    assert_eq!(cond["reason"], "InstallationFailed");
    assert!(
        cond["message"]
            .as_str()
            .unwrap()
            .contains("max recursion depth exceeded"),
        "{cond}"
    );
    let err = admin.err(&["get", "bads"]);
    assert!(
        err.contains("the server doesn't have a resource type \"bads\""),
        "{err}"
    );
    // And again: the definition is still there, the server still starts.
    s.restart();
    alive(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_identities_cannot_be_forged() {
    let w = world("hostile_identity", &[]);
    let s = &w.s;
    let alice = s.as_user(Some("alice-token"), "root:a");
    alice.apply(SCHEMA);
    alice.apply(&export("steal"));
    let own = wait_hash(&alice, "steal");
    assert_ne!(own, w.hash);

    // Status is the server's: no tenant writes it, whatever RBAC says.
    let patch = json!({"status": {"identityHash": w.hash}}).to_string();
    let err = alice.denied(&[
        "patch",
        "apiexport",
        "steal",
        "--subresource=status",
        "--type=merge",
        "-p",
        patch.as_str(),
    ]);
    assert!(
        err.contains("cannot patch resource \"apiexports/status\" in API group \"apis.kcp.io\" at the cluster scope: access denied"),
        "{err}"
    );
    // A status sent on create is dropped.
    alice.apply(&format!(
        "{}status:\n  identityHash: {}\n",
        export("steal2"),
        w.hash
    ));
    assert_ne!(wait_hash(&alice, "steal2"), w.hash);

    // Through her own endpoint alice sees her own (empty) keyspace only.
    let endpoint = format!(
        "/services/apiexport/{}/steal/clusters/*/apis/example.io/v1/widgets",
        w.lc["a"]
    );
    let (code, out) = s.curl_token("GET", &endpoint, "alice-token", None);
    assert_eq!(code, 200, "{out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["items"], json!([]), "{out}");

    // Even a hash forged into status by other means (a master writing it
    // while the identity Secret is missing) serves and binds nothing.
    let admin = s.as_user(None, "root:a");
    admin.apply(&format!(
        "{}  identity:\n    secretRef: {{namespace: kcp-system, name: not-yet}}\n",
        export("forged")
    ));
    admin.ok(&[
        "patch",
        "apiexport",
        "forged",
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
    let forged = format!(
        "/services/apiexport/{}/forged/clusters/*/apis/example.io/v1/widgets",
        w.lc["a"]
    );
    let token = std::fs::read_to_string(s.data_dir.join("pki/admin.token")).unwrap();
    let (code, out) = s.curl_token("GET", &forged, token.trim(), None);
    assert_eq!(code, 404, "a forged identity served: {out}");
    assert!(!out.contains("secret-b"));
    alive(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_stays_inside_the_workspace() {
    let mut w = world("hostile_impersonation", &[]);
    let alice = w.s.as_user(Some("alice-token"), "root:a");
    // (`get --raw`: kubectl's discovery would hide the message.)
    for extra in [
        vec!["--as=alice", "--as-group=system:masters"],
        vec!["--as=x", "--as-group=system:kcp:logical-cluster-admin"],
        vec!["--as=system:kcp:serviceaccount:root:default:x"],
    ] {
        let mut args = vec!["get", "--raw", "/api/v1/namespaces"];
        args.extend(extra.iter().copied());
        let err = alice.denied(&args);
        assert!(
            err.contains("forbidden: impersonation is not allowed for the requestor"),
            "{extra:?}: {err}"
        );
    }
    // The server's own identity extras are not for tenants to forge
    // (kubectl 1.33 has no flag for extras: the header as client-go sends).
    let (code, out) = w.s.curl_url(
        "GET",
        &format!("{}/clusters/root:a/api/v1/namespaces", w.s.base_url()),
        "alice-token",
        &[
            "Impersonate-User: system:serviceaccount:default:bot",
            "Impersonate-Extra-Authentication.kcp.io%2fcluster-name: root",
        ],
        None,
    );
    assert_eq!(code, 403, "{out}");
    assert!(
        out.contains("forbidden: impersonation is not allowed for the requestor"),
        "{out}"
    );
    // alice makes bob an admin of her workspace and acts as him there:
    // ordinary impersonation, but scoped to her workspace.
    alice.ok(&[
        "create",
        "clusterrolebinding",
        "bob-admin",
        "--clusterrole=cluster-admin",
        "--user=bob",
    ]);
    let who = alice.ok(&["auth", "whoami", "--as=bob", "-o", "json"]);
    let who: Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "bob");
    assert_eq!(
        who["status"]["userInfo"]["extra"]["authentication.kcp.io/scopes"],
        json!([format!("cluster:{}", w.lc["a"])])
    );
    // bob may bind pat's export; bob-as-impersonated-by-alice may not.
    let o = alice.run(
        Some(&binding("stolen", "root:p", "widgets")),
        &["create", "-f", "-", "--as=bob"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("unable to create APIBinding: no permission to bind to export root:p:widgets"),
        "{err}"
    );
    // No grafting onto another tenant's logical cluster.
    let graft = format!(
        "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: graft\nspec:\n  cluster: {}\n",
        w.lc["b"]
    );
    let o = alice.create(&graft);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("spec.Cluster can only be set by system privileged users"),
        "{err}"
    );
    let graft_json = serde_json::to_string(&json!({
        "apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace",
        "metadata": {"name": "graft"}, "spec": {"cluster": w.lc["b"]}}))
    .unwrap();
    let o = alice.run(
        Some(&graft_json),
        &[
            "create",
            "--raw",
            "/apis/tenancy.kcp.io/v1alpha1/workspaces",
            "-f",
            "-",
            "--as=alice",
            "--as-group=system:masters",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("impersonation is not allowed for the requestor"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    audited(&w.audit, "alice", 403, "/namespaces").await;
    audited(&w.audit, "alice", 403, "/apibindings").await;
    audited(&w.audit, "alice", 403, "/workspaces").await;
    w.s.restart();
    alive(&w.s);
    let bob = w.s.as_user(Some("bob-token"), "root:b");
    assert!(
        bob.ok(&["get", "widgets", "-o", "name"])
            .contains("secret-b")
    );
}

/// `msg` with `a` replaced by `b`: refusals for different targets must read
/// the same but for the name of the target.
fn same_but_for(msg: &str, other: &str, a: &str, b: &str) {
    assert_eq!(
        msg.replace(a, b),
        other,
        "refusals differ beyond the target name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_workspace_references_are_authorized_and_leak_nothing() {
    let w = world("hostile_references", &[]);
    let s = &w.s;
    let alice = s.as_user(Some("alice-token"), "root:a");
    let bob = s.as_user(Some("bob-token"), "root:b");
    bob.apply("apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata: {name: vip}\nspec: {}\n");

    let ws = |name: &str, path: &str, ty: &str| {
        format!(
            "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\nspec:\n  type: {{path: \"{path}\", name: {ty}}}\n"
        )
    };
    let stderr = |o: std::process::Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).trim().to_string()
    };
    let exists = stderr(alice.create(&ws("w1", "root:b", "vip")));
    assert!(
        exists.contains("unable to use workspace type root:b:vip: missing verb='use' permission on workspacetype"),
        "{exists}"
    );
    let missing_type = stderr(alice.create(&ws("w1", "root:b", "vap")));
    let missing_ws = stderr(alice.create(&ws("w1", "root:zz", "vip")));
    same_but_for(&exists, &missing_type, "root:b:vip", "root:b:vap");
    same_but_for(&exists, &missing_ws, "root:b:vip", "root:zz:vip");
    // With `use` granted, the same reference works.
    bob.apply(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: use-vip}\nrules:\n- {apiGroups: [tenancy.kcp.io], resources: [workspacetypes], resourceNames: [vip], verbs: [use]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: use-vip}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-vip}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}\n",
    );
    let o = alice.create(&ws("w1", "root:b", "vip"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Binding and endpoint slices: `bind` on the export, and a missing
    // export or workspace reads the same as a refused one.
    let refused = stderr(alice.create(&binding("x", "root:p", "widgets")));
    assert!(
        refused.contains(
            "unable to create APIBinding: no permission to bind to export root:p:widgets"
        ),
        "{refused}"
    );
    same_but_for(
        &refused,
        &stderr(alice.create(&binding("x", "root:p", "gadgets"))),
        "root:p:widgets",
        "root:p:gadgets",
    );
    same_but_for(
        &refused,
        &stderr(alice.create(&binding("x", "root:zz", "widgets"))),
        "root:p:widgets",
        "root:zz:widgets",
    );
    let slice = "apiVersion: apis.kcp.io/v1alpha1\nkind: APIExportEndpointSlice\nmetadata: {name: peek}\nspec:\n  export: {path: root:p, name: widgets}\n";
    let err = stderr(alice.create(slice));
    assert!(
        err.contains("unable to create APIExportEndpointSlice: no permission to bind to export root:p:widgets"),
        "{err}"
    );
    // Nothing alice asked for exists.
    assert_eq!(
        alice.ok(&["get", "apibindings,apiexportendpointslices", "-o", "name"]),
        ""
    );
    // Server-owned status cannot be written by the owner of the workspace
    // either.
    let err = bob.denied(&[
        "patch",
        "apibinding",
        "widgets",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Binding"}}"#,
    ]);
    assert!(err.contains("access denied"), "{err}");
    let err = alice.denied(&[
        "annotate",
        "logicalcluster",
        "cluster",
        "kcp.io/path=root:b",
        "--overwrite",
    ]);
    assert!(err.contains("access denied"), "{err}");
    alive(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_matrix_has_no_leaks() {
    let w = world("hostile_matrix", &[]);
    let s = &w.s;
    // A ServiceAccount of root:a that may read there.
    let admin_a = s.as_user(None, "root:a");
    admin_a.ok(&["create", "serviceaccount", "bot"]);
    admin_a.ok(&[
        "create",
        "rolebinding",
        "bot-view",
        "--clusterrole=view",
        "--serviceaccount=default:bot",
        "-n",
        "default",
    ]);
    let bot = admin_a.ok(&["create", "token", "bot"]).trim().to_string();
    let tokens: Vec<(&str, &str)> = vec![
        ("alice", "alice-token"),
        ("bob", "bob-token"),
        ("pat", "pat-token"),
        ("olga", "olga-token"),
        ("bot", bot.as_str()),
    ];
    // Who may list ConfigMaps where.
    let owner = |user: &str, ws: &str| {
        matches!(
            (user, ws),
            ("alice" | "bot", "a") | ("bob", "b") | ("pat", "p")
        )
    };
    let mut leaks = Vec::new();
    let mut checked = 0;
    for (user, token) in &tokens {
        // The refusal a workspace that does not exist gets.
        let (code, nowhere) = s.curl_token(
            "GET",
            "/clusters/root:nowhere/api/v1/namespaces/default/configmaps",
            token,
            None,
        );
        assert_eq!(code, 403, "{user}: {nowhere}");
        for ws in ["a", "b", "p"] {
            for form in [format!("root:{ws}"), w.lc[ws].clone()] {
                let path = format!("/clusters/{form}/api/v1/namespaces/default/configmaps");
                let (code, out) = s.curl_token("GET", &path, token, None);
                checked += 1;
                match (owner(user, ws), code) {
                    (true, 200) => {}
                    (false, 403) if out == nowhere => {}
                    (want, _) => leaks.push(format!(
                        "{user} GET {path}: {code} (owner: {want}) {}",
                        &out[..out.len().min(200)]
                    )),
                }
            }
        }
        // Every workspace at once is for nobody but masters.
        let (code, out) = s.curl_token("GET", "/clusters/*/api/v1/configmaps", token, None);
        checked += 1;
        if code != 403 {
            leaks.push(format!("{user} wildcard: {code} {out}"));
        }
        // The provider endpoint: pat sees exactly bob's widget.
        for export in ["widgets", "gadgets"] {
            let path = format!(
                "/services/apiexport/{}/{export}/clusters/*/apis/example.io/v1/widgets",
                w.lc["p"]
            );
            let (code, out) = s.curl_token("GET", &path, token, None);
            checked += 1;
            match (*user, export, code) {
                ("pat", "widgets", 200) => {
                    let v: Value = serde_json::from_str(&out).unwrap();
                    let names: Vec<&str> = v["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["metadata"]["name"].as_str().unwrap())
                        .collect();
                    if names != ["secret-b"] {
                        leaks.push(format!("pat endpoint items {names:?}"));
                    }
                }
                ("pat", "gadgets", 404) => {}
                (u, _, 403) if u != "pat" => {}
                _ => leaks.push(format!("{user} endpoint {export}: {code} {out}")),
            }
        }
    }
    assert!(checked >= 45, "{checked}");
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );

    // Raw HTTP/1.1 with the Go client's encoding of the path separator
    // reaches nobody else's workspace either.
    let mut c = Raw1::connect(s).await;
    let r = c
        .send(
            "GET",
            "/clusters/root%3Ab/api/v1/namespaces/default/configmaps",
            &[("Authorization", "Bearer alice-token")],
            b"",
        )
        .await
        .unwrap();
    assert!(matches!(r.status, 403 | 404), "{r:?}");
    alive(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_tenant_gets_429_and_others_still_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users(
        "hostile_fairness",
        &dir,
        TOKENS,
        &[
            "--max-watches-per-user=2",
            "--max-watches-per-workspace=100",
        ],
    );
    create_workspace(&s, "alice-token", "a");
    create_workspace(&s, "bob-token", "b");
    let watch = |ws: &str| {
        format!(
            "/clusters/root:{ws}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=60"
        )
    };
    let open = |token: &'static str, ws: &'static str| {
        let path = watch(ws);
        let s = &s;
        async move {
            let mut c = Raw1::connect(s).await;
            c.write(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            c
        }
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = open("alice-token", "a").await;
        let r = c.read_reply_head().await.unwrap();
        assert_eq!(r.status, 200);
        held.push(c);
    }
    let mut third = open("alice-token", "a").await;
    let r = third.read_reply().await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["reason"], "TooManyRequests");
    // Another tenant is not affected.
    let mut c = open("bob-token", "b").await;
    assert_eq!(c.read_reply_head().await.unwrap().status, 200);
    // A seat freed is a seat for alice again.
    drop(held.pop());
    eventually(Duration::from_secs(10), || async {
        let mut c = open("alice-token", "a").await;
        let r = c.read_reply_head().await.ok()?;
        (r.status == 200).then_some(())
    })
    .await;
}

/// The niceness of each of the server's threads whose name starts with
/// `prefix` (Linux: field 19 of `/proc/<pid>/task/<tid>/stat`).
fn thread_nice(pid: u32, prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the name: state is field 3, nice field 19.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        out.push(fields[16].parse().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_initial_watch_state_run_below_other_requests() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("hostile_bulk_lane", &dir, TOKENS, &["--bulk-nice=17"]);
    let client = s.client_in("root", None).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // 300 × 64 KiB: a LIST of ~19 MiB, more than loopback's socket buffers
    // hold, so a body nobody reads stays unfinished.
    let n = 300;
    for i in 0..n {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm{i:04}")},
            "data": {"payload": "x".repeat(64 << 10)}
        }))
        .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    // A LIST that streams in many chunks arrives whole and in order...
    let all = api.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = all
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("cm{i:04}")).collect();
    assert_eq!(names, want);
    // ... as do pages and a watch's initial state.
    let page = api.list(&ListParams::default().limit(120)).await.unwrap();
    assert_eq!(page.items.len(), 120);
    let rest = api
        .list(&ListParams::default().continue_token(page.metadata.continue_.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), n - 120);
    // One at a time, LISTs ran in place: the lane never started.
    assert!(
        thread_nice(s.pid(), "trellis-bulk").is_empty(),
        "a lone LIST paid the lane's hand-over"
    );
    // A LIST whose body nobody reads keeps a bulk job in flight; beside
    // it, LISTs and a watch's initial state take the lane.
    let held = client
        .send(
            http::Request::get("/api/v1/namespaces/default/configmaps")
                .body(kube::client::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    let beside = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(beside.items.len(), n);
    assert!(
        !thread_nice(s.pid(), "trellis-bulk").is_empty(),
        "a LIST beside another bypassed the bulk lane"
    );
    let mut events = api
        .watch(&WatchParams::default().timeout(2), "0")
        .await
        .unwrap()
        .boxed();
    let mut added = 0;
    while let Some(e) = events.next().await {
        if let WatchEvent::Added(_) = e.unwrap() {
            added += 1;
        }
    }
    assert_eq!(added, n);
    drop(held);
    // That work ran on the bulk lane's threads, at the niceness asked for,
    // while the threads that serve everything else kept theirs.
    let bulk = thread_nice(s.pid(), "trellis-bulk");
    assert!(!bulk.is_empty(), "no bulk lane thread");
    assert!(bulk.iter().all(|n| *n == 17), "{bulk:?}");
    let workers = thread_nice(s.pid(), "tokio-rt-worker");
    assert!(!workers.is_empty(), "no tokio worker thread");
    assert!(workers.iter().all(|n| *n == 0), "{workers:?}");
    alive(&s);
}
