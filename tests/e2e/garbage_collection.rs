//! Garbage collection by ownerReferences, with kubectl 1.33's `delete
//! --cascade=background|foreground|orphan` and kube-rs: dependents of a
//! deleted owner go (chains too), a foreground owner waits for its
//! blocking dependents, an orphaned dependent loses its reference and
//! stays, dangling references are collected or stripped, and what cannot
//! be resolved is kept. Waits are on conditions (`kubectl wait`, polling
//! with a deadline), never on sleeps.

use std::time::Duration;

use serde_json::Value;

use crate::common::Server;

fn uid_of(s: &Server, kind: &str, name: &str) -> String {
    let uid = s.kubectl_ok(&[
        "get",
        kind,
        name,
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    assert!(!uid.trim().is_empty(), "{kind}/{name} has no uid");
    uid.trim().to_string()
}

/// A ConfigMap owned by the given (kind, name, uid, blockOwnerDeletion).
fn owned(name: &str, owners: &[(&str, &str, &str, bool)], finalizer: bool) -> String {
    let refs: String = owners
        .iter()
        .map(|(kind, n, uid, block)| {
            format!(
                "  - {{apiVersion: v1, kind: {kind}, name: {n}, uid: \"{uid}\", blockOwnerDeletion: {block}}}\n"
            )
        })
        .collect();
    let fin = if finalizer {
        "  finalizers: [example.com/hold]\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n{fin}  ownerReferences:\n{refs}"
    )
}

fn create(s: &Server, manifest: &str) {
    let o = s.kubectl_in(Some(manifest), &["create", "-f", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn exists(s: &Server, kind: &str, name: &str) -> bool {
    let (code, _) = s.curl(
        "GET",
        &format!(
            "/api/v1/namespaces/default/{}/{name}",
            if kind == "cm" {
                "configmaps"
            } else {
                "secrets"
            }
        ),
        None,
    );
    code == 200
}

fn gone_within(s: &Server, kind: &str, name: &str) {
    s.kubectl_ok(&[
        "wait",
        "--for=delete",
        &format!("{kind}/{name}"),
        "-n",
        "default",
        "--timeout=20s",
    ]);
}

#[test]
fn dependents_follow_their_owners_under_every_propagation_policy() {
    let s = Server::start("gc_cascade");

    // Background (kubectl's default): a chain owner → child → grandchild,
    // and a Secret dependent, all collected after the owner goes.
    s.kubectl_ok(&["create", "configmap", "owner", "-n", "default"]);
    let owner = uid_of(&s, "cm", "owner");
    create(
        &s,
        &owned("child", &[("ConfigMap", "owner", &owner, false)], false),
    );
    let child = uid_of(&s, "cm", "child");
    create(
        &s,
        &owned(
            "grandchild",
            &[("ConfigMap", "child", &child, false)],
            false,
        ),
    );
    create(
        &s,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-child\n  namespace: default\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: \"{owner}\"}}\n"
        ),
    );
    s.kubectl_ok(&[
        "delete",
        "cm",
        "owner",
        "-n",
        "default",
        "--cascade=background",
    ]);
    gone_within(&s, "cm", "child");
    gone_within(&s, "cm", "grandchild");
    gone_within(&s, "secret", "secret-child");

    // Foreground: the owner waits, marked, while a blocking dependent is
    // held by its own finalizer; released, both go.
    s.kubectl_ok(&["create", "configmap", "fg-owner", "-n", "default"]);
    let fg = uid_of(&s, "cm", "fg-owner");
    create(
        &s,
        &owned("fg-blocker", &[("ConfigMap", "fg-owner", &fg, true)], true),
    );
    create(
        &s,
        &owned("fg-free", &[("ConfigMap", "fg-owner", &fg, false)], false),
    );
    s.kubectl_ok(&[
        "delete",
        "cm",
        "fg-owner",
        "-n",
        "default",
        "--cascade=foreground",
        "--wait=false",
    ]);
    // The non-blocking dependent goes; the owner stays while the blocker
    // is held.
    gone_within(&s, "cm", "fg-free");
    let owner_obj: Value = serde_json::from_str(
        &s.kubectl_ok(&["get", "cm", "fg-owner", "-n", "default", "-o", "json"]),
    )
    .unwrap();
    assert!(
        owner_obj["metadata"]["deletionTimestamp"].is_string(),
        "{owner_obj}"
    );
    assert_eq!(
        owner_obj["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    let blocker: Value = serde_json::from_str(&s.kubectl_ok(&[
        "get",
        "cm",
        "fg-blocker",
        "-n",
        "default",
        "-o",
        "json",
    ]))
    .unwrap();
    assert!(
        blocker["metadata"]["deletionTimestamp"].is_string(),
        "the blocker was not deleted in the foreground: {blocker}"
    );
    s.kubectl_ok(&[
        "patch",
        "cm",
        "fg-blocker",
        "-n",
        "default",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    gone_within(&s, "cm", "fg-blocker");
    gone_within(&s, "cm", "fg-owner");

    // Foreground, but the dependent has another live owner: it stays and
    // only loses the reference (kube's collector does the same).
    s.kubectl_ok(&["create", "configmap", "fg2", "-n", "default"]);
    let fg2 = uid_of(&s, "cm", "fg2");
    s.kubectl_ok(&["create", "configmap", "keeper", "-n", "default"]);
    let keeper = uid_of(&s, "cm", "keeper");
    create(
        &s,
        &owned(
            "shared",
            &[
                ("ConfigMap", "fg2", &fg2, true),
                ("ConfigMap", "keeper", &keeper, false),
            ],
            false,
        ),
    );
    // Another namespace's object naming fg2's uid is not fg2's dependent
    // (the reference resolves in its own namespace): it cannot hold fg2.
    s.kubectl_ok(&["create", "namespace", "elsewhere"]);
    let o = s.kubectl_in(
        Some(
            &owned("squatter", &[("ConfigMap", "fg2", &fg2, true)], true)
                .replace("namespace: default", "namespace: elsewhere"),
        ),
        &["create", "-f", "-"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.kubectl_ok(&[
        "delete",
        "cm",
        "fg2",
        "-n",
        "default",
        "--cascade=foreground",
        "--timeout=20s",
    ]);
    gone_within(&s, "cm", "fg2");
    let refs = s.kubectl_ok(&[
        "get",
        "cm",
        "shared",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.ownerReferences[*].name}",
    ]);
    assert_eq!(refs.trim(), "keeper");

    // Two objects owning each other, deleted in the foreground: both go
    // (neither waits for the other forever).
    s.kubectl_ok(&["create", "configmap", "cyc-a", "-n", "default"]);
    let a = uid_of(&s, "cm", "cyc-a");
    create(
        &s,
        &owned("cyc-b", &[("ConfigMap", "cyc-a", &a, true)], false),
    );
    let b = uid_of(&s, "cm", "cyc-b");
    s.kubectl_ok(&[
        "patch",
        "cm",
        "cyc-a",
        "-n",
        "default",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"cyc-b","uid":"{b}","blockOwnerDeletion":true}}]}}}}"#
        ),
    ]);
    s.kubectl_ok(&[
        "delete",
        "cm",
        "cyc-a",
        "-n",
        "default",
        "--cascade=foreground",
        "--wait=false",
    ]);
    gone_within(&s, "cm", "cyc-a");
    gone_within(&s, "cm", "cyc-b");

    // Orphan: the owner goes, the dependent stays without the reference.
    s.kubectl_ok(&["create", "configmap", "or-owner", "-n", "default"]);
    let or = uid_of(&s, "cm", "or-owner");
    s.kubectl_ok(&["create", "configmap", "other-owner", "-n", "default"]);
    let other = uid_of(&s, "cm", "other-owner");
    create(
        &s,
        &owned("orphan", &[("ConfigMap", "or-owner", &or, true)], false),
    );
    s.kubectl_ok(&[
        "delete",
        "cm",
        "or-owner",
        "-n",
        "default",
        "--cascade=orphan",
    ]);
    gone_within(&s, "cm", "or-owner");
    // Its reference was removed before the owner went: it is still there,
    // and nothing will collect it.
    let orphan: Value = serde_json::from_str(
        &s.kubectl_ok(&["get", "cm", "orphan", "-n", "default", "-o", "json"]),
    )
    .unwrap();
    assert!(
        orphan["metadata"].get("ownerReferences").is_none(),
        "{orphan}"
    );

    // Dangling references: all owners gone → collected; some gone → the
    // dangling one is stripped and the dependent kept.
    create(
        &s,
        &owned(
            "dangling",
            &[("ConfigMap", "never", "0000-never", false)],
            false,
        ),
    );
    gone_within(&s, "cm", "dangling");
    create(
        &s,
        &owned(
            "half",
            &[
                ("ConfigMap", "never", "0000-never", false),
                ("ConfigMap", "other-owner", &other, false),
            ],
            false,
        ),
    );
    crate::common::eventually_sync(Duration::from_secs(20), || {
        let refs = s.kubectl_ok(&[
            "get",
            "cm",
            "half",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.ownerReferences[*].name}",
        ]);
        (refs.trim() == "other-owner").then_some(())
    });
    // An owner recreated under the same name is another owner (uid).
    s.kubectl_ok(&["delete", "cm", "other-owner", "-n", "default"]);
    s.kubectl_ok(&["create", "configmap", "other-owner", "-n", "default"]);
    gone_within(&s, "cm", "half");
    assert!(exists(&s, "cm", "orphan"), "the orphan was collected");

    // Unresolvable: an unknown kind keeps its dependent (the collector
    // cannot tell whether the owner exists).
    create(
        &s,
        &owned("unknown-kind", &[("Gizmo", "g", "1234", false)], false),
    );
    // kube-rs: a background delete of an owner also collects (and the
    // unknown-kind dependent is still there afterwards).
    s.kubectl_ok(&["create", "configmap", "rs-owner", "-n", "default"]);
    let rs = uid_of(&s, "cm", "rs-owner");
    create(
        &s,
        &owned("rs-child", &[("ConfigMap", "rs-owner", &rs, false)], false),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(s.client().await, "default");
        api.delete("rs-owner", &kube::api::DeleteParams::background())
            .await
            .expect("background delete");
    });
    gone_within(&s, "cm", "rs-child");
    assert!(
        exists(&s, "cm", "unknown-kind"),
        "an unresolvable owner's dependent was collected"
    );

    // Both ways of asking at once: kube's error.
    let (code, body) = s.curl(
        "DELETE",
        "/api/v1/namespaces/default/configmaps/unknown-kind?orphanDependents=true&propagationPolicy=Foreground",
        None,
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("orphanDependents and deletionPropagation cannot be both set"),
        "{body}"
    );
}
