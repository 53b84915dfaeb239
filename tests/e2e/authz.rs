//! Authorization end to end: who may do what in which workspace.
//!
//! Three users from a `--token-auth-file` — alice (creates and so owns
//! `root:a`), victor (alice makes him a viewer of `root:a`) and bob (creates
//! and owns `root:b`) — are checked against both workspaces for reads,
//! lists across namespaces, watches and writes, with kubectl 1.33; every
//! allow and every deny is asserted, and denials are checked to read the
//! same for a workspace that exists and one that does not. Then escalation
//! attempts, `auth can-i` / `whoami`, impersonation, anonymous requests and
//! the audit log.

use std::process::Output;

use serde_json::Value;

use crate::common::Server;
use crate::common::users::{create_workspace, start_with_users};

const TOKENS: &str = "\
# token,user,uid,groups
alice-token,alice,uid-alice,\"dev,system:kcp:workspace-creators\"
victor-token,victor,uid-victor,dev
bob-token,bob,uid-bob,system:kcp:workspace-creators
";

fn base(s: &Server) -> String {
    s.base_url()
}

/// kubectl in workspace `ws` with `token` (`None`: the admin kubeconfig).
fn run(s: &Server, token: Option<&str>, ws: &str, stdin: Option<&str>, args: &[&str]) -> Output {
    s.as_user(token, ws).run(stdin, args)
}

fn ok(s: &Server, token: Option<&str>, ws: &str, args: &[&str]) -> String {
    s.as_user(token, ws).ok(args)
}

fn denied(s: &Server, token: Option<&str>, ws: &str, args: &[&str]) -> String {
    s.as_user(token, ws).denied(args)
}

fn apply(s: &Server, token: Option<&str>, ws: &str, manifest: &str) -> Output {
    s.as_user(token, ws).create(manifest)
}

/// The set-up shared by the tests: the users, `root:a` owned by alice with
/// victor as viewer, `root:b` owned by bob.
fn setup(name: &str, dir: &tempfile::TempDir, extra_args: &[&str]) -> Server {
    let s = start_with_users(name, dir, TOKENS, extra_args);
    create_workspace(&s, "alice-token", "a");
    create_workspace(&s, "bob-token", "b");
    // Alice owns root:a: she makes victor a viewer who may enter.
    for (binding, role) in [
        ("victor-view", "view"),
        ("victor-access", "system:kcp:workspace:access"),
    ] {
        ok(
            &s,
            Some("alice-token"),
            "root:a",
            &[
                "create",
                "clusterrolebinding",
                binding,
                &format!("--clusterrole={role}"),
                "--user=victor",
            ],
        );
    }
    s
}

/// What a user may do in a workspace: everything, read only, or nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    Admin,
    Viewer,
    None,
}

fn check_matrix_cell(s: &Server, user: &str, token: &str, ws: &str, access: Access) {
    let cm = format!("cm-{user}");
    // Writes.
    let create = run(
        s,
        Some(token),
        ws,
        None,
        &[
            "create",
            "configmap",
            &cm,
            "-n",
            "default",
            "--from-literal=k=v",
        ],
    );
    let create_err = String::from_utf8_lossy(&create.stderr).to_string();
    match access {
        Access::Admin => assert!(create.status.success(), "{user}@{ws}: {create_err}"),
        Access::Viewer => assert!(
            create_err.contains(&format!(
                "configmaps is forbidden: User \"{user}\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
            )),
            "{user}@{ws}: {create_err}"
        ),
        Access::None => assert!(
            create_err.contains(&format!(
                "configmaps is forbidden: User \"{user}\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\": workspace access not permitted"
            )),
            "{user}@{ws}: {create_err}"
        ),
    }
    // Reads: get, list in a namespace, list across namespaces, watch.
    let reads: [&[&str]; 4] = [
        &["get", "namespace", "default", "-o", "name"],
        &["get", "configmaps", "-n", "default", "-o", "name"],
        &["get", "configmaps", "-A", "-o", "name"],
        &[
            "get",
            "configmaps",
            "-n",
            "default",
            "--watch-only",
            "--request-timeout=1s",
        ],
    ];
    for args in reads {
        let o = run(s, Some(token), ws, None, args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let watch = args.contains(&"--watch-only");
        match access {
            Access::Admin | Access::Viewer => {
                // (A watch that reaches its request timeout ends cleanly.)
                assert!(o.status.success(), "{user}@{ws} {args:?}: {err}");
                if watch {
                    assert_eq!(err, "", "{user}@{ws} {args:?}");
                }
            }
            Access::None => {
                // Discovery is refused too, which kubectl 1.33 (like with
                // kube-apiserver) reports as `Error from server
                // (Forbidden): unknown`; the exact text is checked below.
                assert!(err.contains("(Forbidden)"), "{user}@{ws} {args:?}: {err}");
                assert!(!o.status.success());
            }
        }
    }
    if access != Access::None {
        // The watch delivers: it starts with what exists, as ADDED events,
        // and ends at its timeout.
        let raw = format!(
            "/clusters/{ws}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1"
        );
        let out = ok(s, Some(token), ws, &["get", "--raw", &raw]);
        let added: Vec<String> = out
            .lines()
            .map(|l| {
                let e: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{user}@{ws}: not a watch event ({e}): {l}"));
                assert_eq!(e["type"], "ADDED", "{user}@{ws}: {l}");
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        if access == Access::Admin {
            assert!(added.contains(&cm), "{user}@{ws}: {out}");
        }
    }
    if access == Access::None {
        for (path, message) in [
            (
                "/api/v1/namespaces/default/configmaps?watch=true",
                format!(
                    "configmaps is forbidden: User \"{user}\" cannot watch resource \"configmaps\" in API group \"\" in the namespace \"default\": workspace access not permitted"
                ),
            ),
            (
                "/api/v1/configmaps",
                format!(
                    "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" at the cluster scope: workspace access not permitted"
                ),
            ),
            (
                "/api",
                format!(
                    "forbidden: User \"{user}\" cannot get path \"/api\": workspace access not permitted"
                ),
            ),
        ] {
            // `--raw` paths are absolute: they need the workspace prefix.
            let raw = format!("/clusters/{ws}{path}");
            let o = run(s, Some(token), ws, None, &["get", "--raw", &raw]);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            assert!(err.contains(&message), "{user}@{ws} {path}: {err}");
        }
        // The same through plain HTTP: the Status as the server sends it.
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-H",
                &format!("Authorization: Bearer {token}"),
                "--cacert",
            ])
            .arg(s.data_dir.join("pki/ca.crt"))
            .arg(format!(
                "{}/clusters/{ws}/api/v1/namespaces/default/configmaps",
                base(s)
            ))
            .output()
            .unwrap();
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["code"], 403);
        assert_eq!(
            status["message"],
            format!(
                "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\": workspace access not permitted"
            )
        );
    }
    if access == Access::Admin {
        let listed = ok(
            s,
            Some(token),
            ws,
            &["get", "configmaps", "-A", "-o", "name"],
        );
        assert!(listed.contains(&format!("configmap/{cm}")), "{listed}");
        ok(
            s,
            Some(token),
            ws,
            &["delete", "configmap", &cm, "-n", "default"],
        );
    } else {
        let del = run(
            s,
            Some(token),
            ws,
            None,
            &["delete", "configmap", "anything", "-n", "default"],
        );
        let err = String::from_utf8_lossy(&del.stderr);
        assert!(!del.status.success());
        // Without access even discovery is refused, so kubectl stops early.
        let expected = match access {
            Access::Viewer => format!(
                "configmaps \"anything\" is forbidden: User \"{user}\" cannot delete resource \"configmaps\""
            ),
            _ => "(Forbidden)".to_string(),
        };
        assert!(err.contains(&expected), "{user}@{ws}: {err}");
    }
}

#[test]
fn matrix_of_users_workspaces_and_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup("authz-matrix", &dir, &[]);
    let users = [
        ("alice", "alice-token"),
        ("victor", "victor-token"),
        ("bob", "bob-token"),
    ];
    for (user, token) in users {
        for ws in ["root:a", "root:b"] {
            let access = match (user, ws) {
                ("alice", "root:a") | ("bob", "root:b") => Access::Admin,
                ("victor", "root:a") => Access::Viewer,
                _ => Access::None,
            };
            check_matrix_cell(&s, user, token, ws, access);
        }
    }
    // A workspace that does not exist reads like one you may not enter.
    // (`--raw`, because kubectl's discovery cache, shared by the users of
    // this test, would make the two runs take different paths.)
    let missing = denied(
        &s,
        Some("alice-token"),
        "root:nope",
        &["get", "--raw", "/clusters/root:nope/api/v1/configmaps"],
    );
    let hidden = denied(
        &s,
        Some("alice-token"),
        "root:b",
        &["get", "--raw", "/clusters/root:b/api/v1/configmaps"],
    );
    assert_eq!(
        missing.replace("root:nope", "X"),
        hidden.replace("root:b", "X")
    );
    // The admin (system:masters) still learns that it does not exist.
    let err = s.as_user(None, "root:nope").err(&["get", "configmaps"]);
    assert!(
        err.contains(
            "Error from server (NotFound): the server could not find the requested resource"
        ),
        "{err}"
    );
    // Victor sees the workspace list of root? He has no access to root.
    denied(&s, Some("victor-token"), "root", &["get", "workspaces"]);
    // Alice sees both workspaces in root but not inside b.
    let listed = ok(
        &s,
        Some("alice-token"),
        "root",
        &["get", "workspaces", "-o", "name"],
    );
    assert!(listed.contains("workspace.tenancy.kcp.io/a"), "{listed}");
    // Anonymous requests are 401, health endpoints stay open.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(s.data_dir.join("pki/ca.crt"))
        .arg(format!("{}/clusters/root:a/api/v1/namespaces", base(&s)))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(s.data_dir.join("pki/ca.crt"))
        .arg(format!("{}/readyz", base(&s)))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
}

#[test]
fn escalation_can_i_whoami_impersonation_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let audit_arg = audit.to_str().unwrap().to_string();
    let s = setup("authz-escalation", &dir, &["--audit-log-path", &audit_arg]);
    let (a, alice, victor) = ("root:a", Some("alice-token"), Some("victor-token"));

    // Victor may manage Roles and RoleBindings in `default`, nothing more.
    let o = apply(
        &s,
        alice,
        a,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rbac-manager
  namespace: default
rules:
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "get", "list", "update", "patch", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: victor-rbac-manager
  namespace: default
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: rbac-manager
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: victor
"#,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A Role within what victor holds (view) is fine; one beyond it is not.
    ok(
        &s,
        victor,
        a,
        &[
            "create",
            "role",
            "reader",
            "-n",
            "default",
            "--verb=get,list",
            "--resource=configmaps",
        ],
    );
    let err = denied(
        &s,
        victor,
        a,
        &[
            "create",
            "role",
            "deleter",
            "-n",
            "default",
            "--verb=delete",
            "--resource=configmaps",
        ],
    );
    assert!(
        err.contains("roles.rbac.authorization.k8s.io \"deleter\" is forbidden: user \"victor\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:")
            && err.contains("{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\"]}"),
        "{err}"
    );
    // Binding a role that grants more than victor has is escalation...
    let err = denied(
        &s,
        victor,
        a,
        &[
            "create",
            "rolebinding",
            "victor-admin",
            "-n",
            "default",
            "--clusterrole=admin",
            "--user=victor",
        ],
    );
    assert!(
        err.contains(
            "rolebindings.rbac.authorization.k8s.io \"victor-admin\" is forbidden: user \"victor\""
        ) && err.contains("is attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    // ...unless he may `bind` that role.
    ok(
        &s,
        alice,
        a,
        &[
            "create",
            "role",
            "admin-binder",
            "-n",
            "default",
            "--verb=bind",
            "--resource=clusterroles.rbac.authorization.k8s.io",
            "--resource-name=admin",
        ],
    );
    ok(
        &s,
        alice,
        a,
        &[
            "create",
            "rolebinding",
            "victor-admin-binder",
            "-n",
            "default",
            "--role=admin-binder",
            "--user=victor",
        ],
    );
    ok(
        &s,
        victor,
        a,
        &[
            "create",
            "rolebinding",
            "victor-admin",
            "-n",
            "default",
            "--clusterrole=admin",
            "--user=victor",
        ],
    );
    // Now victor administers `default` (and only `default`).
    ok(
        &s,
        victor,
        a,
        &["create", "configmap", "mine", "-n", "default"],
    );
    denied(&s, victor, a, &["create", "namespace", "elsewhere"]);

    // can-i and whoami.
    let yes = ok(
        &s,
        victor,
        a,
        &["auth", "can-i", "get", "configmaps", "-n", "kube-system"],
    );
    assert_eq!(yes.trim(), "yes");
    let no = run(
        &s,
        victor,
        a,
        None,
        &["auth", "can-i", "create", "namespaces"],
    );
    assert!(!no.status.success());
    assert_eq!(String::from_utf8_lossy(&no.stdout).trim(), "no");
    let no = run(
        &s,
        Some("bob-token"),
        a,
        None,
        &["auth", "can-i", "get", "configmaps"],
    );
    // Bob may not even ask in a workspace he cannot enter.
    assert!(!no.status.success());
    let err = String::from_utf8_lossy(&no.stderr);
    assert!(
        err.contains("selfsubjectaccessreviews.authorization.k8s.io is forbidden: User \"bob\" cannot create resource \"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope: workspace access not permitted"),
        "{err}"
    );
    let list = ok(&s, victor, a, &["auth", "can-i", "--list", "-n", "default"]);
    assert!(list.contains("configmaps"), "{list}");
    assert!(
        list.contains("rolebindings.rbac.authorization.k8s.io"),
        "{list}"
    );
    let who: Value =
        serde_json::from_str(&ok(&s, victor, a, &["auth", "whoami", "-o", "json"])).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "victor");
    assert_eq!(who["status"]["userInfo"]["uid"], "uid-victor");
    let groups = who["status"]["userInfo"]["groups"].as_array().unwrap();
    assert!(groups.contains(&Value::from("dev")), "{who}");
    assert!(
        groups.contains(&Value::from("system:authenticated")),
        "{who}"
    );

    // Impersonation: alice (cluster-admin of a) may act as victor and then
    // has victor's rights; victor may not act as alice.
    let as_victor = ok(
        &s,
        alice,
        a,
        &["--as=victor", "auth", "whoami", "-o", "json"],
    );
    let as_victor: Value = serde_json::from_str(&as_victor).unwrap();
    assert_eq!(as_victor["status"]["userInfo"]["username"], "victor");
    let err = denied(&s, alice, a, &["--as=victor", "create", "namespace", "x"]);
    assert!(
        err.contains("User \"victor\" cannot create resource \"namespaces\""),
        "{err}"
    );
    let err = denied(&s, victor, a, &["--as=alice", "get", "configmaps"]);
    assert!(
        err.contains("users \"alice\" is forbidden: User \"victor\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{err}"
    );
    let err = denied(
        &s,
        alice,
        "root:b",
        &[
            "--as=bob",
            "get",
            "--raw",
            "/clusters/root:b/api/v1/namespaces/default/configmaps",
        ],
    );
    assert!(err.contains("cannot impersonate"), "{err}");
    let as_group = ok(
        &s,
        alice,
        a,
        &[
            "--as=victor",
            "--as-group=dev",
            "auth",
            "whoami",
            "-o",
            "json",
        ],
    );
    let as_group: Value = serde_json::from_str(&as_group).unwrap();
    assert_eq!(
        as_group["status"]["userInfo"]["groups"],
        serde_json::json!(["dev", "system:authenticated"])
    );
    // Someone alice may impersonate but who may not enter the workspace.
    let err = denied(
        &s,
        alice,
        a,
        &[
            "--as=zed",
            "get",
            "--raw",
            "/clusters/root:a/api/v1/namespaces/default/configmaps",
        ],
    );
    assert!(err.contains("User \"zed\" cannot list"), "{err}");

    // The audit log has every request, with its decision and code. It is
    // written in batches: wait until the last request of the test is in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let lines = loop {
        let log = std::fs::read_to_string(&audit).unwrap();
        // Only whole lines: a batch may be half written.
        let whole = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
        let lines: Vec<Value> = whole
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect();
        if lines
            .iter()
            .any(|l| l["user"] == "alice" && l["impersonatedUser"] == "zed")
        {
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the last request (alice as zed) never reached the audit log: {} lines",
            lines.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let refused = lines
        .iter()
        .find(|l| {
            l["user"] == "victor"
                && l["verb"] == "create"
                && l["resource"] == "namespaces"
                && l["code"] == 403
        })
        .expect("victor's refused namespace create is audited");
    assert_eq!(refused["decision"], "forbid");
    assert_eq!(refused["workspace"], "root:a");
    let allowed = lines
        .iter()
        .find(|l| {
            l["user"] == "victor"
                && l["verb"] == "create"
                && l["resource"] == "configmaps"
                && l["name"].is_null()
                && l["code"] == 201
        })
        .expect("victor's configmap create is audited");
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["namespace"], "default");
    let impersonated = lines
        .iter()
        .find(|l| l["user"] == "alice" && l["impersonatedUser"] == "victor")
        .expect("impersonation is audited");
    assert_eq!(impersonated["workspace"], "root:a");
    let zed = lines
        .iter()
        .find(|l| l["user"] == "alice" && l["impersonatedUser"] == "zed")
        .unwrap();
    assert_eq!(
        (zed["decision"].as_str(), zed["code"].as_u64()),
        (Some("forbid"), Some(403)),
        "{zed}"
    );
}
