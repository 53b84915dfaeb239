//! The RBAC API (`rbac.authorization.k8s.io/v1`) as kubectl 1.33 uses it:
//! imperative creates (which kubectl sends as protobuf), the server-side
//! printers (`-o wide` binding columns), upstream's validation messages
//! (bad `roleRef` kinds, the immutable `roleRef` through apply and replace),
//! server-side apply, ClusterRole aggregation by the controller, and that
//! every workspace has its own RBAC objects.
//!
//! Everything runs as the admin kubeconfig user (system:masters), so these
//! tests exercise the API, not authorization.

use std::process::Output;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use trellis_apis::proto;

use crate::common::{Server, send};

const PB: &str = "application/vnd.kubernetes.protobuf";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

fn base(s: &Server) -> String {
    s.url.split("/clusters/").next().unwrap().to_string()
}

/// kubectl against workspace `path`, optionally with stdin.
fn at(s: &Server, path: &str, stdin: Option<&str>, args: &[&str]) -> Output {
    let server = format!("--server={}/clusters/{path}", base(s));
    let mut all = vec![server.as_str()];
    all.extend_from_slice(args);
    s.kubectl_in(stdin, &all)
}

fn at_ok(s: &Server, path: &str, stdin: Option<&str>, args: &[&str]) -> String {
    let o = at(s, path, stdin, args);
    assert!(
        o.status.success(),
        "kubectl {args:?} in {path}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn stdin_err(s: &Server, stdin: &str, args: &[&str]) -> String {
    let o = s.kubectl_in(Some(stdin), args);
    assert!(
        !o.status.success(),
        "kubectl {args:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).unwrap()
}

fn get_json(s: &Server, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&s.kubectl_ok(&all)).unwrap()
}

fn binding(kind: &str, name: &str, role_kind: &str, role: &str) -> String {
    let ns = if kind == "RoleBinding" {
        "  namespace: default\n"
    } else {
        ""
    };
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {role_kind}\n  name: {role}\nsubjects:\n- kind: User\n  name: alice\n  apiGroup: rbac.authorization.k8s.io\n"
    )
}

#[test]
fn roles_and_bindings_with_kubectl() {
    let s = Server::start("rbac_kubectl");

    // Roles: created imperatively (kubectl resolves the resources through
    // discovery), printed by the default table convertor.
    s.kubectl_ok(&[
        "create",
        "role",
        "cm-reader",
        "-n",
        "default",
        "--verb=get,list",
        "--resource=configmaps,leases.coordination.k8s.io",
    ]);
    let role = get_json(&s, &["role", "cm-reader", "-n", "default"]);
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list"]},
        ])
    );
    let table = s.kubectl_ok(&["get", "roles", "-n", "default"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "CREATED", "AT"], "{table}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], "cm-reader");
    assert_eq!(
        row[1],
        role["metadata"]["creationTimestamp"].as_str().unwrap()
    );
    // Namespaced rules may not name non-resource URLs.
    let err = stdin_err(
        &s,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: urls, namespace: default}\nrules:\n- verbs: [get]\n  nonResourceURLs: [/healthz]\n",
        &["create", "-f", "-"],
    );
    assert!(
        err.contains("rules[0].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs"),
        "{err}"
    );

    // Bindings: the wide columns list users, groups and service accounts.
    s.kubectl_ok(&[
        "create",
        "rolebinding",
        "alice-view",
        "-n",
        "default",
        "--clusterrole=view",
        "--user=alice",
        "--user=bob",
        "--group=devs",
        "--serviceaccount=default:robot",
    ]);
    let rb = get_json(&s, &["rolebinding", "alice-view", "-n", "default"]);
    assert_eq!(
        rb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
    );
    let wide = s.kubectl_ok(&["get", "rolebinding", "-n", "default", "-o", "wide"]);
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        "{wide}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("alice-view"), "{wide}");
    assert!(row.contains("ClusterRole/view"), "{wide}");
    assert!(row.contains("alice, bob"), "{wide}");
    assert!(row.contains("devs"), "{wide}");
    assert!(row.trim_end().ends_with("default/robot"), "{wide}");
    let narrow = s.kubectl_ok(&["get", "rolebinding", "-n", "default"]);
    assert!(!narrow.contains("USERS"), "{narrow}");

    // A ClusterRoleBinding may only bind ClusterRoles: 422 with upstream's
    // message, through kubectl and on the wire.
    let bad = binding("ClusterRoleBinding", "bad", "Role", "cm-reader");
    let err = stdin_err(&s, &bad, &["create", "-f", "-"]);
    assert!(
        err.contains(
            "The ClusterRoleBinding \"bad\" is invalid: roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
        ),
        "{err}"
    );
    let body = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bad"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot"}],
    });
    let (code, out) = s.curl(
        "POST",
        &format!("{RBAC}/clusterrolebindings"),
        Some(&body.to_string()),
    );
    assert_eq!(code, 422, "{out}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "ClusterRoleBinding.rbac.authorization.k8s.io \"bad\" is invalid: [roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\", subjects[0].namespace: Required value]"
    );

    // roleRef is immutable, whatever the client uses to change it.
    let v1 = binding("RoleBinding", "pinned", "ClusterRole", "view");
    s.kubectl_in(Some(&v1), &["apply", "-f", "-"]);
    let changed = binding("RoleBinding", "pinned", "ClusterRole", "edit");
    let immutable = "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef";
    let err = stdin_err(&s, &changed, &["apply", "-f", "-"]);
    assert!(err.contains(immutable), "{err}");
    let err = stdin_err(&s, &changed, &["replace", "-f", "-"]);
    assert!(
        err.contains(&format!(
            "The RoleBinding \"pinned\" is invalid: {immutable}"
        )),
        "{err}"
    );
    let err = stdin_err(
        &s,
        &changed,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
    );
    assert!(err.contains("cannot change roleRef"), "{err}");
    // Subjects may change.
    let more = v1.replace("  name: alice\n", "  name: carol\n");
    s.kubectl_in(Some(&more), &["apply", "-f", "-"]);
    let rb = get_json(&s, &["rolebinding", "pinned", "-n", "default"]);
    assert_eq!(rb["subjects"][0]["name"], "carol");
    assert_eq!(rb["roleRef"]["name"], "view");

    // Server-side apply of a Role: created, then its rules replaced as a
    // whole (an atomic list), owned by kubectl's apply.
    let ssa = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: applied\n  namespace: default\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get]\n";
    assert!(
        s.kubectl_in(Some(ssa), &["apply", "--server-side", "-f", "-"])
            .status
            .success()
    );
    let ssa2 = ssa.replace("verbs: [get]", "verbs: [get, watch]");
    let out = s.kubectl_in(Some(&ssa2), &["apply", "--server-side", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let role = get_json(
        &s,
        &["role", "applied", "-n", "default", "--show-managed-fields"],
    );
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]}])
    );
    let managers: Vec<(&str, &str)> = role["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(managers, [("kubectl", "Apply")]);

    // A PUT of a missing RBAC object creates it (upstream allows create on
    // update for RBAC, which `kubectl auth reconcile` relies on).
    let put = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "system:put-created"},
        "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
    });
    let (code, out) = s.curl(
        "PUT",
        &format!("{RBAC}/clusterroles/system:put-created"),
        Some(&put.to_string()),
    );
    assert_eq!(code, 201, "{out}");

    // kubectl's imperative creates spoke protobuf.
    let log = std::fs::read_to_string(&s.log).unwrap();
    for resource in ["roles", "rolebindings"] {
        assert!(
            log.lines().any(|l| l.contains("verb=\"create\"")
                && l.contains(&format!("resource=\"{resource}\""))
                && l.contains("content_type=\"application/vnd.kubernetes.protobuf\"")),
            "{resource} create was not protobuf; see {}",
            s.log.display()
        );
    }
}

#[test]
fn rbac_objects_belong_to_their_workspace() {
    let s = Server::start("rbac_workspaces");
    at_ok(
        &s,
        "root",
        Some("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: team\n"),
        &["create", "-f", "-"],
    );
    at_ok(
        &s,
        "root",
        None,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Ready",
            "workspace/team",
            "--timeout=30s",
        ],
    );
    at_ok(
        &s,
        "root",
        None,
        &[
            "create",
            "role",
            "root-only",
            "-n",
            "default",
            "--verb=get",
            "--resource=configmaps",
        ],
    );
    at_ok(
        &s,
        "root",
        None,
        &[
            "create",
            "clusterrolebinding",
            "root-binding",
            "--clusterrole=view",
            "--user=alice",
        ],
    );
    let roles = at_ok(&s, "root:team", None, &["get", "roles", "-A", "-o", "name"]);
    assert!(!roles.contains("root-only"), "{roles}");
    let o = at(
        &s,
        "root:team",
        None,
        &["get", "role", "root-only", "-n", "default"],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("roles.rbac.authorization.k8s.io \"root-only\" not found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let crbs = at_ok(
        &s,
        "root:team",
        None,
        &["get", "clusterrolebindings", "-o", "name"],
    );
    assert!(!crbs.contains("root-binding"), "{crbs}");
    // The same names are free in the child, and independent.
    at_ok(
        &s,
        "root:team",
        None,
        &[
            "create",
            "role",
            "root-only",
            "-n",
            "default",
            "--verb=list",
            "--resource=secrets",
        ],
    );
    let child: Value = serde_json::from_str(&at_ok(
        &s,
        "root:team",
        None,
        &["get", "role", "root-only", "-n", "default", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(child["rules"][0]["resources"], json!(["secrets"]));
    let root: Value = serde_json::from_str(&at_ok(
        &s,
        "root",
        None,
        &["get", "role", "root-only", "-n", "default", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(root["rules"][0]["resources"], json!(["configmaps"]));
}

fn rules_of(s: &Server, path: &str, name: &str) -> Value {
    let out = at_ok(s, path, None, &["get", "clusterrole", name, "-o", "json"]);
    serde_json::from_str::<Value>(&out).unwrap()["rules"].clone()
}

/// Waits until the ClusterRole's rules are `want` (absent counts as `[]`).
async fn wait_rules(s: &Server, path: &str, name: &str, want: Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = rules_of(s, path, name);
        if got == want || (want == json!([]) && got.is_null()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} clusterrole {name}: rules {got} never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_roles_aggregate() {
    let s = Server::start("rbac_aggregation");
    // The bootstrap roles stored in root are aggregated like upstream's:
    // view ⊆ edit ⊆ admin, all filled from the `system:aggregate-to-*`
    // roles.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (view, edit, admin) = loop {
        let [view, edit, admin] =
            ["view", "edit", "admin"].map(|r| rules_of(&s, "root", r).as_array().cloned());
        if let (Some(v), Some(e), Some(a)) = (view, edit, admin)
            && !v.is_empty()
        {
            break (v, e, a);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "view never aggregated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(view.iter().all(|r| edit.contains(r)), "{view:?} ⊄ {edit:?}");
    assert!(
        edit.iter().all(|r| admin.contains(r)),
        "{edit:?} ⊄ {admin:?}"
    );
    assert!(edit.len() > view.len() && admin.len() > edit.len());
    let label = "rbac.example.com/aggregate-to-monitoring";
    s.kubectl_ok(&[
        "create",
        "clusterrole",
        "monitoring",
        &format!("--aggregation-rule={label}=true"),
    ]);
    s.kubectl_ok(&[
        "create",
        "clusterrole",
        "monitoring-cm",
        "--verb=get,list",
        "--resource=configmaps",
    ]);
    // Not selected: once the aggregate holds what a labelled role
    // (created after the unlabelled one) brings, it holds only that.
    s.kubectl_ok(&[
        "create",
        "clusterrole",
        "monitoring-probe",
        "--verb=get",
        "--resource=secrets",
    ]);
    s.kubectl_ok(&[
        "label",
        "clusterrole",
        "monitoring-probe",
        &format!("{label}=true"),
    ]);
    let probe = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]});
    wait_rules(&s, "root", "monitoring", json!([probe])).await;
    s.kubectl_ok(&["delete", "clusterrole", "monitoring-probe"]);
    wait_rules(&s, "root", "monitoring", json!([])).await;
    s.kubectl_ok(&[
        "label",
        "clusterrole",
        "monitoring-cm",
        &format!("{label}=true"),
    ]);
    let cm = json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]});
    wait_rules(&s, "root", "monitoring", json!([cm])).await;

    // A second source, created already labelled; its rules are appended.
    let leases = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: monitoring-leases\n  labels: {{{label}: 'true'}}\nrules:\n- apiGroups: [coordination.k8s.io]\n  resources: [leases]\n  verbs: [watch]\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get, list]\n"
    );
    assert!(
        s.kubectl_in(Some(&leases), &["apply", "-f", "-"])
            .status
            .success()
    );
    let lease =
        json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["watch"]});
    // Duplicated rules appear once; sources in name order.
    wait_rules(&s, "root", "monitoring", json!([cm, lease])).await;

    // Chains settle: an aggregator selected by another aggregator.
    s.kubectl_ok(&[
        "create",
        "clusterrole",
        "ops",
        "--aggregation-rule=rbac.example.com/aggregate-to-ops=true",
    ]);
    s.kubectl_ok(&[
        "label",
        "clusterrole",
        "monitoring",
        "rbac.example.com/aggregate-to-ops=true",
    ]);
    wait_rules(&s, "root", "ops", json!([cm, lease])).await;

    // Hand edits to an aggregated role are overwritten.
    s.kubectl_ok(&[
        "patch",
        "clusterrole",
        "monitoring",
        "--type=merge",
        "-p",
        r#"{"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["*"]}]}"#,
    ]);
    wait_rules(&s, "root", "monitoring", json!([cm, lease])).await;

    // Removing sources shrinks the aggregate.
    s.kubectl_ok(&["delete", "clusterrole", "monitoring-leases"]);
    wait_rules(&s, "root", "monitoring", json!([cm])).await;
    s.kubectl_ok(&[
        "label",
        "clusterrole",
        "monitoring-cm",
        &format!("{label}-"),
    ]);
    wait_rules(&s, "root", "monitoring", json!([])).await;
    wait_rules(&s, "root", "ops", json!([])).await;

    // The aggregated rules are the controller's (upstream's field manager).
    s.kubectl_ok(&[
        "label",
        "clusterrole",
        "monitoring-cm",
        &format!("{label}=true"),
    ]);
    wait_rules(&s, "root", "monitoring", json!([cm])).await;
    let role = get_json(&s, &["clusterrole", "monitoring", "--show-managed-fields"]);
    let managers: Vec<&str> = role["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(
        managers.contains(&"clusterrole-aggregation-controller"),
        "{managers:?}"
    );

    // Aggregation stays inside a workspace: a child's aggregator does not
    // see root's labelled roles.
    at_ok(
        &s,
        "root",
        Some("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: agg\n"),
        &["create", "-f", "-"],
    );
    at_ok(
        &s,
        "root",
        None,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Ready",
            "workspace/agg",
            "--timeout=30s",
        ],
    );
    at_ok(
        &s,
        "root:agg",
        None,
        &[
            "create",
            "clusterrole",
            "monitoring",
            &format!("--aggregation-rule={label}=true"),
        ],
    );
    at_ok(
        &s,
        "root:agg",
        None,
        &[
            "create",
            "clusterrole",
            "local",
            "--verb=delete",
            "--resource=secrets",
        ],
    );
    at_ok(
        &s,
        "root:agg",
        None,
        &["label", "clusterrole", "local", &format!("{label}=true")],
    );
    wait_rules(
        &s,
        "root:agg",
        "monitoring",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]}]),
    )
    .await;
    assert_eq!(rules_of(&s, "root", "monitoring"), json!([cm]));

    // After a restart (which reconciles every workspace once) the stored
    // aggregates are unchanged and changes are still picked up.
    let mut s = s;
    s.restart();
    assert_eq!(rules_of(&s, "root", "monitoring"), json!([cm]));
    s.kubectl_ok(&["delete", "clusterrole", "monitoring-cm"]);
    wait_rules(&s, "root", "monitoring", json!([])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_protobuf_round_trip() {
    let s = Server::start("rbac_protobuf");
    let client = s.client().await;
    let fixtures = [
        (
            format!("{RBAC}/namespaces/default/roles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pb-role"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]}]}),
        ),
        (
            format!("{RBAC}/clusterroles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "pb-cr"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"pb": "yes"}}]},
                "rules": []}),
        ),
        (
            format!("{RBAC}/namespaces/default/rolebindings"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "pb-rb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pb-role"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"},
                             {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]}),
        ),
        (
            format!("{RBAC}/clusterrolebindings"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "pb-crb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pb-cr"},
                "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}),
        ),
    ];
    for (collection, obj) in fixtures {
        let kind = obj["kind"].as_str().unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap();
        let (code, ct, body) = send(
            &client,
            Method::POST,
            &collection,
            PB,
            PB,
            proto::encode(&obj).unwrap(),
        )
        .await;
        assert_eq!(code, 201, "{kind}: {}", String::from_utf8_lossy(&body));
        assert_eq!(ct, PB, "{kind}");
        let created = proto::decode(&body).unwrap();
        let (code, _, json_body) = send(
            &client,
            Method::GET,
            &format!("{collection}/{name}"),
            "application/json",
            "application/json",
            vec![],
        )
        .await;
        assert_eq!(code, 200, "{kind}: {}", String::from_utf8_lossy(&json_body));
        let as_json: Value = serde_json::from_slice(&json_body).unwrap();
        assert_eq!(created, as_json, "{kind}: protobuf and JSON forms differ");
        for key in ["roleRef", "subjects", "aggregationRule"] {
            if obj.get(key).is_some() {
                assert_eq!(as_json[key], obj[key], "{kind}.{key}");
            }
        }
        if kind == "Role" {
            assert_eq!(as_json["rules"], obj["rules"]);
        }
        let (code, ct, body) = send(
            &client,
            Method::GET,
            &collection,
            "application/json",
            PB,
            vec![],
        )
        .await;
        assert_eq!((code, ct.as_str()), (200, PB));
        let list = proto::decode(&body).unwrap();
        assert_eq!(list["kind"], format!("{kind}List"));
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["name"] == name)
        );
    }
}
