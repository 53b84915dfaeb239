//! kcp's total object limit per workspace: `--logical-cluster-total-object-limit`
//! and the LogicalCluster's `core.kcp.io/max-total-objects` annotation,
//! refused with kcp's 403 once a Ready workspace holds its limit, exact
//! under concurrent creates, freed by deletes, Events exempt, kept across a
//! restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::users::{create_workspace, start_with_users};
use crate::common::{Server, eventually_sync};

const LIMIT_FLAG: &str = "--logical-cluster-total-object-limit";

fn base(s: &Server) -> String {
    s.url.split("/clusters/").next().unwrap().to_string()
}

/// curl as admin at `path` inside workspace `ws`.
fn at(s: &Server, ws: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let token = std::fs::read_to_string(s.data_dir.join("pki/admin.token")).unwrap();
    let ct = if method == "PATCH" {
        "Content-Type: application/merge-patch+json"
    } else {
        "Content-Type: application/json"
    };
    s.curl_url(
        method,
        &format!("{}/clusters/{ws}{path}", base(s)),
        token.trim(),
        &[ct],
        body.map(|b| b.to_string()).as_deref(),
    )
}

fn create_cm(s: &Server, ws: &str, name: &str) -> (u16, String) {
    at(
        s,
        ws,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})),
    )
}

fn ready_workspace(s: &Server, name: &str) {
    let (code, body) = s.curl(
        "POST",
        "/apis/tenancy.kcp.io/v1alpha1/workspaces",
        Some(&json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": name}}).to_string()),
    );
    assert_eq!(code, 201, "{body}");
    eventually_sync(Duration::from_secs(20), || {
        let ws = s.get_json(&format!("/apis/tenancy.kcp.io/v1alpha1/workspaces/{name}"));
        (ws["status"]["phase"] == "Ready").then_some(())
    });
}

/// Sets (or, with `None`, removes) the workspace's limit annotation.
fn annotate(s: &Server, ws: &str, limit: Option<&str>) {
    let (code, body) = at(
        s,
        ws,
        "PATCH",
        "/apis/core.kcp.io/v1alpha1/logicalclusters/cluster",
        Some(&json!({"metadata": {"annotations": {"core.kcp.io/max-total-objects": limit}}})),
    );
    assert_eq!(code, 200, "{body}");
}

/// The (count, limit) a refusal names; panics on anything but kcp's 403.
fn refused(code: u16, body: &str, ws_cluster: &str, name: &str) -> (u64, u64) {
    assert_eq!(code, 403, "{body}");
    let status: Value = serde_json::from_str(body).unwrap();
    assert_eq!(status["reason"], "Forbidden", "{body}");
    let message = status["message"].as_str().unwrap();
    let prefix = format!(
        "configmaps \"{name}\" is forbidden: logical cluster \"{ws_cluster}\" has reached its total object count limit ("
    );
    let rest = message
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{message}"));
    let (figures, tail) = rest.split_once(" objects)").unwrap();
    assert_eq!(tail, "; delete objects to free up capacity", "{message}");
    let (count, limit) = figures.split_once('/').unwrap();
    (count.parse().unwrap(), limit.parse().unwrap())
}

fn cluster_of(s: &Server, ws: &str) -> String {
    s.get_json(&format!("/apis/tenancy.kcp.io/v1alpha1/workspaces/{ws}"))["spec"]["cluster"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_workspace_holds_at_most_its_object_limit() {
    let mut s = Server::start_with("object_limits", &[LIMIT_FLAG, "40"]);
    ready_workspace(&s, "capped");
    ready_workspace(&s, "small");
    let capped = cluster_of(&s, "capped");
    let small = cluster_of(&s, "small");

    // The default: fill "capped" until the first refusal, which names
    // every object the workspace holds (its bootstrap content included).
    let mut created = 0;
    let (count, limit) = loop {
        let name = format!("c{created:03}");
        let (code, body) = create_cm(&s, "root:capped", &name);
        if code == 201 {
            created += 1;
            assert!(created <= 40, "more creates than the limit allows");
            continue;
        }
        break refused(code, &body, &capped, &name);
    };
    assert_eq!((count, limit), (40, 40));
    assert!(created > 0, "a new workspace has room: {created}");
    // kubectl shows kcp's message.
    let out = s.kubectl_err(&[
        &format!("--server={}/clusters/root:capped", base(&s)),
        "create",
        "configmap",
        "one-more",
    ]);
    assert!(
        out.contains("configmaps \"one-more\" is forbidden: logical cluster")
            && out.contains("has reached its total object count limit (40/40 objects)"),
        "{out}"
    );
    // Events are exempt (they are how a full workspace is debugged) and,
    // as in kcp, not counted: the workspace stays exactly full.
    let (code, body) = at(
        &s,
        "root:capped",
        "POST",
        "/api/v1/namespaces/default/events",
        Some(
            &json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "full"},
                     "involvedObject": {"kind": "ConfigMap", "name": "c000", "namespace": "default"},
                     "reason": "Full", "message": "at the limit"}),
        ),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = create_cm(&s, "root:capped", "after-event");
    assert_eq!(refused(code, &body, &capped, "after-event"), (40, 40));
    // A delete frees a place (the count follows storage's watch).
    let (code, body) = at(
        &s,
        "root:capped",
        "DELETE",
        "/api/v1/namespaces/default/configmaps/c000",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = create_cm(&s, "root:capped", "after-delete");
    assert_eq!(code, 201, "{body}");
    let (code, body) = create_cm(&s, "root:capped", "over");
    assert_eq!(refused(code, &body, &capped, "over"), (40, 40));
    // A generated name takes a place like any other.
    let (code, body) = at(
        &s,
        "root:capped",
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}),
        ),
    );
    assert_eq!(code, 403, "{body}");
    // root gets no default limit.
    for i in 0..45 {
        let (code, body) = s.curl(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("r{i}")}}).to_string()),
        );
        assert_eq!(code, 201, "root is not limited by default: {body}");
    }

    // The annotation overrides the default, and creates racing for the
    // last places never pass it together.
    let (code, body) = create_cm(&s, "root:small", "first");
    assert_eq!(code, 201, "{body}");
    annotate(&s, "root:small", Some("1"));
    let (code, body) = create_cm(&s, "root:small", "probe");
    let (held, one) = refused(code, &body, &small, "probe");
    assert_eq!(one, 1);
    let room = 5;
    annotate(&s, "root:small", Some(&(held + room).to_string()));
    let results: Vec<(u16, String)> = std::thread::scope(|scope| {
        let s = &s;
        let handles: Vec<_> = (0..20)
            .map(|i| scope.spawn(move || create_cm(s, "root:small", &format!("race{i:02}"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|(c, _)| *c == 201).count();
    assert_eq!(ok as u64, room, "{results:?}");
    for (i, (code, body)) in results.iter().enumerate() {
        if *code != 201 {
            assert_eq!(
                refused(*code, body, &small, &format!("race{i:02}")),
                (held + room, held + room)
            );
        }
    }

    // After a restart the limit and the count are rebuilt from storage.
    s.restart();
    let (code, body) = create_cm(&s, "root:small", "after-restart");
    assert_eq!(
        refused(code, &body, &small, "after-restart"),
        (held + room, held + room)
    );
    let (code, body) = create_cm(&s, "root:capped", "after-restart");
    assert_eq!(refused(code, &body, &capped, "after-restart"), (40, 40));
    // The annotation removed: the default applies again.
    annotate(&s, "root:small", None);
    let (code, body) = create_cm(&s, "root:small", "default-again");
    assert_eq!(code, 201, "{body}");
}

/// Without the flag nothing is counted or refused until a LogicalCluster
/// asks for a limit; the workspace's owner cannot lift it.
#[test]
fn an_annotation_alone_limits_its_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users(
        "object_limits_annotation",
        &dir,
        "owner-token,owner,uid-owner,\"system:kcp:workspace-creators\"\n",
        &[],
    );
    ready_workspace(&s, "free");
    create_workspace(&s, "owner-token", "tight");
    let tight = cluster_of(&s, "tight");
    for i in 0..50 {
        let (code, body) = create_cm(&s, "root:free", &format!("f{i}"));
        assert_eq!(code, 201, "{body}");
    }
    annotate(&s, "root:tight", Some("2"));
    let (code, body) = create_cm(&s, "root:tight", "x");
    let (count, limit) = refused(code, &body, &tight, "x");
    assert_eq!(limit, 2);
    assert!(count >= 2, "{count}");
    // The owner is admin inside its workspace, yet the limit is the
    // operator's: the LogicalCluster is written by masters only.
    let owner = s.as_user(Some("owner-token"), "root:tight");
    let err = owner.err(&[
        "annotate",
        "logicalcluster",
        "cluster",
        "core.kcp.io/max-total-objects=100000",
        "--overwrite",
    ]);
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{err}"
    );
    let err = owner.err(&["create", "configmap", "mine"]);
    assert!(
        err.contains("has reached its total object count limit"),
        "{err}"
    );
    // Nor through a subresource: server-side apply to the status of an
    // object that does not exist is kube's 404, not a create.
    let token = std::fs::read_to_string(s.data_dir.join("pki/admin.token")).unwrap();
    let (code, body) = s.curl_url(
        "PATCH",
        &format!(
            "{}/clusters/root:tight/api/v1/namespaces/ghost/status?fieldManager=t",
            base(&s)
        ),
        token.trim(),
        &["Content-Type: application/apply-patch+yaml"],
        Some(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ghost"},"status":{"phase":"Active"}}"#),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = at(&s, "root:tight", "GET", "/api/v1/namespaces/ghost", None);
    assert_eq!(code, 404, "{body}");
    // Other workspaces are unaffected.
    let (code, body) = create_cm(&s, "root:free", "still-free");
    assert_eq!(code, 201, "{body}");
    // A garbage annotation means "the default", which is none here.
    annotate(&s, "root:tight", Some("lots"));
    let (code, body) = create_cm(&s, "root:tight", "y");
    assert_eq!(code, 201, "{body}");
}
