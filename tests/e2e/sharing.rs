//! API sharing end to end with kubectl 1.33 and kube-rs, in kcp's
//! manifest format.
//!
//! Users from a token file, each owning a workspace: `provider` publishes
//! `widgets.example.io` (schema + export, and lets the group `consumers`
//! bind it); `other` publishes the same group/resource under its own
//! identity; consumers `c1` and `c2` bind, `d` provokes conflicts, and
//! `nobind` lacks the `bind` grant. Checked: identity, binding status and
//! conditions, discovery/printer columns/explain/validation in consumers,
//! the spec/status boundary, identities keeping data apart, CRD and
//! binding conflicts, permission claims, schema changes reaching consumers,
//! provider-to-provider binding, unbinding with and without instances, and
//! WorkspaceType default bindings.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::Server;
use crate::common::users::{As, create_workspace, start_with_users};

const TOKENS: &str = "\
provider-token,provider,uid-provider,system:kcp:workspace-creators
other-token,other,uid-other,system:kcp:workspace-creators
c1-token,c1,uid-c1,\"consumers,system:kcp:workspace-creators\"
c2-token,c2,uid-c2,\"consumers,system:kcp:workspace-creators\"
d-token,d,uid-d,\"consumers,system:kcp:workspace-creators\"
nobind-token,nobind,uid-nobind,system:kcp:workspace-creators
";

/// The provider's schema, as `kubectl kcp crd snapshot` writes it.
fn schema(prefix: &str, extra_column: bool) -> String {
    let (size_col, size_prop) = if extra_column {
        (
            "\n    - name: Size\n      type: integer\n      jsonPath: .spec.size",
            "\n            size: {type: integer, description: How big the widget is.}",
        )
    } else {
        ("", "")
    };
    format!(
        r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: {prefix}.widgets.example.io
spec:
  group: example.io
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
    shortNames: [wd]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color{size_col}
    schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            color:
              type: string
              description: The widget's color.
              enum: [red, blue]{size_prop}
        status:
          type: object
          properties:
            ready: {{type: boolean}}
"#
    )
}

const EXPORT: &str = r#"apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: widgets
spec:
  resources:
  - name: widgets
    group: example.io
    schema: v1.widgets.example.io
    storage:
      crd: {}
  permissionClaims:
  - group: ""
    resource: configmaps
    verbs: ["get", "list", "watch"]
  - group: ""
    resource: secrets
    verbs: ["get", "create"]
"#;

/// A consumer's own CRD for the exported group/resource.
const WIDGETS_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  names: {plural: widgets, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

/// Lets `subject` (a Group or User) bind the export `widgets`.
fn bind_grant(kind: &str, name: &str, subject: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
rules:
- apiGroups: ["apis.kcp.io"]
  resources: ["apiexports"]
  resourceNames: ["widgets"]
  verbs: ["bind"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {name}
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: {kind}
  name: {subject}
"#
    )
}

/// A consumer's binding: v1alpha1 as most kcp docs write it, v1alpha2
/// when it decides on claims (verbs and selectors are v1alpha2's).
fn binding(name: &str, path: &str, claims: &str) -> String {
    let version = if claims.is_empty() {
        "v1alpha1"
    } else {
        "v1alpha2"
    };
    format!(
        r#"apiVersion: apis.kcp.io/{version}
kind: APIBinding
metadata:
  name: {name}
spec:
  reference:
    export:
      path: {path}
      name: widgets
{claims}"#
    )
}

const CLAIMS: &str = r#"  permissionClaims:
  - resource: configmaps
    verbs: ["get", "list", "watch"]
    state: Accepted
    selector:
      matchLabels:
        shared: "true"
  - resource: secrets
    verbs: ["get", "create"]
    state: Rejected
    selector:
      matchAll: true
"#;

fn condition<'a>(obj: &'a Value, ty: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .unwrap_or_else(|| panic!("no condition {ty} in {obj}"))
}

/// Waits until `f` holds for the object (`kubectl get <what>`).
fn wait_for(a: &As, what: &[&str], f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let o = a.get_json(what);
        if f(&o) {
            return o;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what:?} in {} never got there: {o}",
            a.ws
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bound(a: &As, name: &str) -> Value {
    wait_for(a, &["apibinding", name], |b| {
        b["status"]["phase"] == "Bound"
    })
}

fn widget(name: &str, color: &str) -> String {
    format!(
        "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  color: {color}\nstatus:\n  ready: true\n"
    )
}

/// Publishes `widgets` (schema `v1`) in `root:<ws>` as `token` and waits
/// for its identity; returns the export.
fn publish(s: &Server, token: &str, ws: &str) -> Value {
    let p = s.as_user(Some(token), ws);
    p.apply(&schema("v1", false));
    p.apply(EXPORT);
    p.apply(&bind_grant("Group", "bind-widgets", "consumers"));
    wait_for(&p, &["apiexport.v1alpha2.apis.kcp.io", "widgets"], |e| {
        e["status"]["identityHash"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    })
}

fn setup(name: &str, dir: &tempfile::TempDir) -> Server {
    let s = start_with_users(name, dir, TOKENS, &[]);
    for (user, ws) in [
        ("provider", "provider"),
        ("other", "other"),
        ("c1", "c1"),
        ("c2", "c2"),
        ("d", "d"),
        ("nobind", "nobind"),
    ] {
        create_workspace(&s, &format!("{user}-token"), ws);
    }
    s
}

#[test]
fn providers_exports_serve_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup("sharing_main", &dir);
    let export = publish(&s, "provider-token", "root:provider");
    let provider = s.as_user(Some("provider-token"), "root:provider");

    // Identity: a Secret in kcp-system, hashed into the status, recorded
    // in the spec; an endpoint slice named after the export.
    assert_eq!(
        export["spec"]["identity"]["secretRef"],
        json!({"namespace": "kcp-system", "name": "widgets"})
    );
    let secret = provider.get_json(&["secret", "widgets", "-n", "kcp-system"]);
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret["data"]["key"].as_str().unwrap(),
    )
    .unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &key);
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(export["status"]["identityHash"], hash);
    assert_eq!(condition(&export, "IdentityValid")["status"], "True");
    let slice = provider.get_json(&["apiexportendpointslice", "widgets"]);
    assert_eq!(
        slice["spec"]["export"],
        json!({"path": "root:provider", "name": "widgets"})
    );
    // Status is the server's: the provider cannot write it at all, and the
    // identity cannot be changed afterwards even by a master.
    let forge = [
        "patch",
        "apiexport.v1alpha2.apis.kcp.io",
        "widgets",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"identityHash":"0000"}}"#,
    ];
    let err = provider.denied(&forge);
    assert!(
        err.contains("cannot patch resource \"apiexports/status\" in API group \"apis.kcp.io\" at the cluster scope: access denied"),
        "{err}"
    );
    let err = s.as_user(None, "root:provider").err(&forge);
    assert!(
        err.contains("status.identityHash: Invalid value: \"0000\": field is immutable"),
        "{err}"
    );

    // c1 binds with claims (one accepted, one rejected).
    let c1 = s.as_user(Some("c1-token"), "root:c1");
    c1.apply(&binding("widgets", "root:provider", CLAIMS));
    let b = bound(&c1, "widgets");
    let b2 = c1.get_json(&["apibinding.v1alpha2.apis.kcp.io", "widgets"]);
    let br = &b2["status"]["boundResources"][0];
    assert_eq!(br["group"], "example.io");
    assert_eq!(br["resource"], "widgets");
    assert_eq!(br["schema"]["name"], "v1.widgets.example.io");
    assert_eq!(br["schema"]["identityHash"], hash);
    assert_eq!(br["storageVersions"], json!(["v1"]));
    let schema_uid = provider.get_json(&["apiresourceschema", "v1.widgets.example.io"])["metadata"]
        ["uid"]
        .clone();
    assert_eq!(br["schema"]["UID"], schema_uid);
    for c in [
        "Ready",
        "APIExportValid",
        "InitialBindingCompleted",
        "BindingUpToDate",
        "PermissionClaimsValid",
        "PermissionClaimsApplied",
    ] {
        assert_eq!(condition(&b, c)["status"], "True", "{c}: {b}");
    }
    let applied = b2["status"]["appliedPermissionClaims"].as_array().unwrap();
    assert_eq!(applied.len(), 1, "{b2}");
    assert_eq!(applied[0]["resource"], "configmaps");
    assert_eq!(
        applied[0]["selector"],
        json!({"matchLabels": {"shared": "true"}})
    );
    assert_eq!(
        b2["status"]["exportPermissionClaims"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The finalizer that keeps instances from being orphaned.
    assert_eq!(
        b2["metadata"]["finalizers"],
        json!(["apis.kcp.io/apibinding-finalizer"])
    );

    // The resource is served: discovery, explain, printer columns,
    // validation; status sent with the object is ignored.
    let resources = c1.ok(&["api-resources", "--api-group=example.io"]);
    assert!(
        resources.contains("widgets") && resources.contains("wd") && resources.contains("Widget"),
        "{resources}"
    );
    let explain = c1.ok(&["explain", "widgets.spec.color"]);
    assert!(explain.contains("The widget's color."), "{explain}");
    c1.apply(&widget("w1", "red"));
    let table = c1.ok(&["get", "widgets", "-n", "default"]);
    let mut lines = table.lines();
    assert!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>() == ["NAME", "COLOR"],
        "{table}"
    );
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["w1", "red"]
    );
    let w1 = c1.get_json(&["widget", "w1", "-n", "default"]);
    assert!(w1.get("status").is_none(), "{w1}");
    let err = String::from_utf8_lossy(&c1.create(&widget("w2", "green")).stderr).to_string();
    assert!(
        err.contains("Unsupported value: \"green\"") && err.contains("\"red\", \"blue\""),
        "{err}"
    );

    // Consumers may not write status, admins included, with any verb.
    for who in [Some("c1-token"), None] {
        let a = s.as_user(who, "root:c1");
        let err = a.denied(&[
            "patch",
            "widget",
            "w1",
            "-n",
            "default",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"ready":true}}"#,
        ]);
        assert!(
            err.contains(
                "widgets.example.io \"w1\" is forbidden: status is owned by APIExport root:provider:widgets and can only be written by its provider"
            ),
            "{err}"
        );
    }
    let (code, body) = s.curl(
        "PUT",
        "/clusters/root:c1/apis/example.io/v1/namespaces/default/widgets/w1/status",
        Some(&serde_json::to_string(&w1).unwrap()),
    );
    assert_eq!(code, 403, "{body}");
    // Spec and metadata stay the consumer's.
    c1.ok(&["label", "widget", "w1", "-n", "default", "tier=gold"]);
    c1.ok(&[
        "patch",
        "widget",
        "w1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"color":"blue"},"status":{"ready":true}}"#,
    ]);
    let w1 = c1.get_json(&["widget", "w1", "-n", "default"]);
    assert_eq!(w1["spec"]["color"], "blue");
    assert!(w1.get("status").is_none(), "{w1}");

    // A CRD for the bound group/resource is refused.
    let err = c1.create(WIDGETS_CRD).stderr;
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains("cannot create because resource is bound by APIBinding \"widgets\""),
        "{err}"
    );

    // Another provider exports the same group/resource under its own
    // identity; c2 binds that one. Objects never mix.
    let other_export = publish(&s, "other-token", "root:other");
    assert_ne!(other_export["status"]["identityHash"], hash);
    let c2 = s.as_user(Some("c2-token"), "root:c2");
    c2.apply(&binding("widgets", "root:other", ""));
    let b = bound(&c2, "widgets");
    assert_eq!(
        b["status"]["boundResources"][0]["schema"]["identityHash"],
        other_export["status"]["identityHash"]
    );
    c2.apply(&widget("w1", "red"));
    c2.apply(&widget("w9", "red"));
    let names = |a: &As| -> Vec<String> {
        a.get_json(&["widgets", "-A"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&c1), ["w1"]);
    assert_eq!(names(&c2), ["w1", "w9"]);
    let err = c2.denied(&[
        "patch",
        "widget",
        "w9",
        "-n",
        "default",
        "--subresource=status",
        "--type=merge",
        "-p",
        "{}",
    ]);
    assert!(err.contains("APIExport root:other:widgets"), "{err}");

    // Conflicts: d has a CRD for widgets, so binding is refused with a
    // condition naming it; once the CRD is gone the binding completes.
    let d = s.as_user(Some("d-token"), "root:d");
    d.apply(WIDGETS_CRD);
    d.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.io",
        "--timeout=20s",
    ]);
    d.apply(&binding("widgets", "root:provider", ""));
    let b = wait_for(&d, &["apibinding", "widgets"], |b| {
        b["status"]["phase"] == "Binding"
            && b["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "NamingConflicts"))
    });
    let c = condition(&b, "InitialBindingCompleted");
    assert_eq!(c["status"], "False");
    assert_eq!(
        c["message"],
        "Unable to bind APIs: naming conflict with CustomResourceDefinition \"widgets.example.io\": spec.names.plural=widgets is forbidden"
    );
    assert_eq!(condition(&b, "Ready")["status"], "False");
    d.ok(&["delete", "crd", "widgets.example.io"]);
    bound(&d, "widgets");
    // A second binding of the same group/resource is refused too.
    d.apply(&binding("other-widgets", "root:other", ""));
    let b = wait_for(&d, &["apibinding", "other-widgets"], |b| {
        b["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "NamingConflicts"))
    });
    assert_eq!(
        condition(&b, "InitialBindingCompleted")["message"],
        "Unable to bind APIs: naming conflict with APIBinding \"widgets\" bound to APIExport root:provider:widgets: spec.names.plural=widgets is forbidden"
    );
    assert_eq!(b["status"]["phase"], "Binding");
    // Cluster-scoped lists page (kubectl's chunks) past the first item.
    let paged = d.ok(&["get", "apibindings", "--chunk-size=1", "-o", "name"]);
    assert_eq!(
        paged.lines().collect::<Vec<_>>(),
        [
            "apibinding.apis.kcp.io/other-widgets",
            "apibinding.apis.kcp.io/widgets"
        ]
    );

    // Without the bind permission the binding is refused at admission,
    // as kcp does (in words that do not say whether the export exists);
    // granting it lets the same binding be created and bound.
    let nb = s.as_user(Some("nobind-token"), "root:nobind");
    let o = nb.create(&binding("widgets", "root:provider", ""));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("apibindings.apis.kcp.io \"widgets\" is forbidden: unable to create APIBinding: no permission to bind to export root:provider:widgets"),
        "{err}"
    );
    // Nothing was created, and no API appeared.
    let err = nb.err(&["get", "apibinding", "widgets"]);
    assert!(
        err.contains("apibindings.apis.kcp.io \"widgets\" not found"),
        "{err}"
    );
    let err = nb.err(&["get", "widgets"]);
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
    provider.apply(&bind_grant("User", "bind-widgets-nobind", "nobind"));
    nb.apply(&binding("widgets", "root:provider", ""));
    bound(&nb, "widgets");
    nb.ok(&["get", "widgets", "-A"]);

    // The provider moves the export to a new schema: consumers follow,
    // their objects stay.
    provider.apply(&schema("v2", true));
    provider.ok(&[
        "patch",
        "apiexport.v1alpha2.apis.kcp.io",
        "widgets",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/resources/0/schema","value":"v2.widgets.example.io"}]"#,
    ]);
    wait_for(&c1, &["apibinding.v1alpha2.apis.kcp.io", "widgets"], |b| {
        b["status"]["boundResources"][0]["schema"]["name"] == "v2.widgets.example.io"
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let o = c1.run(None, &["explain", "widgets.spec.size"]);
        if o.status.success() {
            assert!(String::from_utf8_lossy(&o.stdout).contains("How big the widget is."));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "explain never saw size"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c1.ok(&[
        "patch",
        "widget",
        "w1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":3}}"#,
    ]);
    let table = c1.ok(&["get", "widgets", "-n", "default"]);
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            == ["w1", "blue", "3"],
        "{table}"
    );

    // Provider to provider: `other` binds `provider`'s export and uses it.
    s.as_user(Some("provider-token"), "root:provider")
        .apply(&bind_grant("User", "bind-widgets-other", "other"));
    let o = s.as_user(Some("other-token"), "root:other");
    o.apply(&binding("widgets", "root:provider", ""));
    bound(&o, "widgets");
    o.ok(&["create", "namespace", "orders"]);
    o.apply(&widget("from-other", "red").replace("namespace: default", "namespace: orders"));
    assert_eq!(names(&o), ["from-other"]);

    // Unbinding: refused while instances exist; fine once they are gone.
    let err = c1.err(&["delete", "apibinding", "widgets"]);
    assert!(
        err.contains(
            "instances of its resources still exist in this workspace (1 widgets.example.io)"
        ) && err.contains("apis.trellis.dev/delete-instances=true"),
        "{err}"
    );
    c1.ok(&["get", "apibinding", "widgets"]);
    c1.ok(&["delete", "widget", "w1", "-n", "default"]);
    c1.ok(&["delete", "apibinding", "widgets", "--timeout=20s"]);
    let err = c1.err(&["get", "apibinding", "widgets"]);
    assert!(
        err.contains("apibindings.apis.kcp.io \"widgets\" not found"),
        "{err}"
    );
    let resources = c1.ok(&["api-resources", "--api-group=example.io"]);
    assert!(!resources.contains("widgets"), "{resources}");
    // With the annotation, the instances go with the binding; binding
    // again finds nothing left behind.
    c2.ok(&[
        "annotate",
        "apibinding",
        "widgets",
        "apis.trellis.dev/delete-instances=true",
    ]);
    c2.ok(&["delete", "apibinding", "widgets", "--timeout=20s"]);
    let err = c2.err(&["get", "apibinding", "widgets"]);
    assert!(
        err.contains("apibindings.apis.kcp.io \"widgets\" not found"),
        "{err}"
    );
    c2.apply(&binding("widgets", "root:other", ""));
    bound(&c2, "widgets");
    assert!(names(&c2).is_empty());
}

#[tokio::test]
async fn kube_rs_sees_bound_resources_and_the_status_boundary() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use kube::discovery::{ApiResource, Discovery};

    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("sharing_kube_rs", &dir, TOKENS, &[]);
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "c1-token", "c1");
    publish(&s, "provider-token", "root:provider");
    let c1 = s.as_user(Some("c1-token"), "root:c1");
    c1.apply(&binding("widgets", "root:provider", ""));
    bound(&c1, "widgets");

    let client = s.client_in("root:c1", Some("c1-token")).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps): (ApiResource, _) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.group == "example.io" && ar.plural == "widgets")
        .expect("widgets discovered");
    assert_eq!(ar.kind, "Widget");
    assert!(
        caps.subresources
            .iter()
            .any(|(sr, _)| sr.plural == "status")
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let mut w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.io/v1", "kind": "Widget",
        "metadata": {"name": "k1"}, "spec": {"color": "red"},
    }))
    .unwrap();
    w = api.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(w.data["spec"]["color"], "red");
    let err = api
        .patch_status(
            "k1",
            &PatchParams::apply("consumer").force(),
            &Patch::Apply(
                json!({"apiVersion": "example.io/v1", "kind": "Widget", "status": {"ready": true}}),
            ),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert!(
                s.message
                    .contains("owned by APIExport root:provider:widgets"),
                "{s:?}"
            );
        }
        e => panic!("{e}"),
    }
    let list = api.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
}

#[test]
fn workspace_types_bind_their_default_apis() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("sharing_defaults", &dir, TOKENS, &[]);
    create_workspace(&s, "provider-token", "provider");
    publish(&s, "provider-token", "root:provider");
    let admin = s.as_user(None, "root");
    admin.apply(
        r#"apiVersion: tenancy.kcp.io/v1alpha1
kind: WorkspaceType
metadata:
  name: widgetized
spec:
  extend:
    with:
    - name: universal
      path: root
  defaultAPIBindings:
  - path: root:provider
    export: widgets
"#,
    );
    admin.apply(
        r#"apiVersion: tenancy.kcp.io/v1alpha1
kind: Workspace
metadata:
  name: shop
spec:
  type:
    name: widgetized
    path: root
"#,
    );
    wait_for(&admin, &["workspace", "shop"], |w| {
        w["status"]["phase"] == "Ready"
    });
    let shop = s.as_user(None, "root:shop");
    let list = shop.get_json(&["apibindings"]);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let b = &items[0];
    assert!(
        b["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("widgets-"),
        "{b}"
    );
    assert_eq!(b["status"]["phase"], "Bound");
    // Every claim the export makes was accepted.
    let claims = b["spec"]["permissionClaims"].as_array().unwrap();
    assert_eq!(claims.len(), 2, "{b}");
    assert!(claims.iter().all(|c| c["state"] == "Accepted"));
    shop.apply(&widget("first", "blue"));
    assert_eq!(
        shop.get_json(&["widget", "first", "-n", "default"])["spec"]["color"],
        "blue"
    );
}
