//! Root's system APIExports (`tenancy.kcp.io`, `topology.kcp.io`,
//! `shards.core.kcp.io`) with kubectl 1.33: root binds them itself, a
//! WorkspaceType written for kcp default-binds tenancy and topology and its
//! workspaces become Ready (before: Initializing for ever, "APIExport
//! root|tenancy.kcp.io not found"), the bindings are Bound without naming
//! conflicts with the built-in tenancy API, topology's resources are
//! served where bound, the Shard describes this server, and `bind` on
//! shards stays the admins'.

use std::time::Duration;

use serde_json::Value;

use crate::common::eventually_sync;
use crate::common::users::{As, create_workspace, start_with_users};

const TOKENS: &str = "\
alice-token,alice,uid-alice,system:kcp:workspace-creators
";

/// An organization type as Platform Mesh writes its account types: it
/// extends universal and binds kcp's tenancy and topology exports.
const ACCOUNT_TYPE: &str = r#"apiVersion: tenancy.kcp.io/v1alpha1
kind: WorkspaceType
metadata:
  name: account
spec:
  extend:
    with:
    - name: universal
      path: root
  defaultAPIBindings:
  - path: root
    export: tenancy.kcp.io
  - path: root
    export: topology.kcp.io
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: use-account
rules:
- apiGroups: ["tenancy.kcp.io"]
  resources: ["workspacetypes"]
  resourceNames: ["account"]
  verbs: ["use"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: use-account
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: use-account
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: alice
"#;

fn wait_bound(a: &As, name: &str) -> Value {
    a.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        &format!("apibinding/{name}"),
        "--timeout=30s",
    ]);
    a.get_json(&["apibinding", name])
}

fn condition<'a>(obj: &'a Value, ty: &str) -> &'a str {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no condition {ty} in {obj}"))
}

fn binding(export: &str) -> String {
    format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata:\n  name: {export}\nspec:\n  reference:\n    export:\n      path: root\n      name: {export}\n"
    )
}

#[test]
fn roots_system_exports_are_bound_the_kcp_way() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("system_exports", &dir, TOKENS, &[]);
    let admin = s.as_user(None, "root");

    // Root binds its own exports, named like them; each export has an
    // identity, and the tenancy binding lists the built-in resources.
    for export in ["tenancy.kcp.io", "topology.kcp.io", "shards.core.kcp.io"] {
        let b = wait_bound(&admin, export);
        assert_eq!(b["spec"]["reference"]["export"]["path"], "root", "{b}");
        assert_eq!(condition(&b, "Ready"), "True", "{b}");
        let e = admin.get_json(&["apiexport", export]);
        let hash = e["status"]["identityHash"].as_str().unwrap_or("");
        assert_eq!(hash.len(), 64, "{e}");
        assert_eq!(
            b["status"]["boundResources"][0]["schema"]["identityHash"],
            hash
        );
    }
    let tenancy = admin.get_json(&["apibinding", "tenancy.kcp.io"]);
    let bound: Vec<&str> = tenancy["status"]["boundResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(bound, ["workspaces", "workspacetypes"]);

    // The Shard this server is, with its address.
    let shard = eventually_sync(Duration::from_secs(20), || {
        let o = admin.run(None, &["get", "shard", "root", "-o", "json"]);
        o.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&o.stdout).unwrap())
    });
    assert_eq!(shard["spec"]["baseURL"], s.base_url().as_str(), "{shard}");
    assert_eq!(shard["spec"]["externalURL"], s.base_url().as_str());
    let table = admin.ok(&["get", "shards"]);
    assert!(
        table.contains("EXTERNAL URL") && table.contains("root"),
        "{table}"
    );

    // A kcp-style type that default-binds tenancy and topology.
    admin.apply(ACCOUNT_TYPE);
    let alice_root = s.as_user(Some("alice-token"), "root");
    let o = alice_root.create(
        "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: acme\nspec:\n  type:\n    name: account\n    path: root\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    admin.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Ready",
        "workspace/acme",
        "--timeout=30s",
    ]);
    let acme = s.as_user(Some("alice-token"), "root:acme");
    let bindings = acme.get_json(&["apibindings"]);
    let mut exports: Vec<&str> = bindings["items"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|b| assert_eq!(b["status"]["phase"], "Bound", "{b}"))
        .map(|b| b["spec"]["reference"]["export"]["name"].as_str().unwrap())
        .collect();
    exports.sort();
    assert_eq!(exports, ["tenancy.kcp.io", "topology.kcp.io"]);
    // Tenancy is still the built-in one (listed once), and works.
    let resources = acme.ok(&["api-resources", "--api-group=tenancy.kcp.io", "-o", "name"]);
    assert_eq!(
        resources
            .lines()
            .filter(|l| l.starts_with("workspaces."))
            .count(),
        1,
        "{resources}"
    );
    acme.ok(&["get", "workspaces"]);
    // Topology is served where it is bound (and only there).
    acme.apply(
        "apiVersion: topology.kcp.io/v1alpha1\nkind: Partition\nmetadata:\n  name: eu\nspec:\n  selector:\n    matchLabels:\n      region: eu\n",
    );
    assert_eq!(
        acme.get_json(&["partition", "eu"])["spec"]["selector"]["matchLabels"]["region"],
        "eu"
    );

    // A partitioned endpoint slice selects this server's Shard by its
    // labels, as kcp's slices select shards.
    let slice = |name: &str, partition: &str| {
        format!(
            "apiVersion: apis.kcp.io/v1alpha1\nkind: APIExportEndpointSlice\nmetadata:\n  name: {name}\nspec:\n  export:\n    path: root\n    name: topology.kcp.io\n  partition: {partition}\n"
        )
    };
    acme.apply(&slice("in-eu", "eu"));
    acme.apply(&slice("nowhere", "nope"));
    let slice_status = |name: &str, want: &dyn Fn(&Value) -> bool| {
        eventually_sync(Duration::from_secs(30), || {
            let v = acme.get_json(&["apiexportendpointslice", name]);
            want(&v).then_some(v)
        })
    };
    let cond = |v: &Value, ty: &str| -> Option<Value> {
        v["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == ty)
            .cloned()
    };
    let unlabelled = slice_status("in-eu", &|v| cond(v, "PartitionValid").is_some());
    assert_eq!(
        unlabelled["status"]["shardSelector"], "region=eu",
        "{unlabelled}"
    );
    assert_eq!(
        cond(&unlabelled, "PartitionValid").unwrap()["status"],
        "True"
    );
    assert!(
        unlabelled["status"]["endpoints"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{unlabelled}"
    );
    let missing = slice_status("nowhere", &|v| cond(v, "PartitionValid").is_some());
    let c = cond(&missing, "PartitionValid").unwrap();
    assert_eq!(c["status"], "False", "{missing}");
    assert_eq!(c["reason"], "PartitionInvalidReference");
    assert_eq!(c["message"], "partition.topology.kcp.io \"nope\" not found");
    // The shard in the partition's region: its endpoint is listed.
    admin.ok(&["label", "shard", "root", "region=eu"]);
    let labelled = slice_status("in-eu", &|v| {
        v["status"]["endpoints"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    });
    assert!(
        labelled["status"]["endpoints"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/services/apiexport/")),
        "{labelled}"
    );
    // The partition moves away: the endpoint goes.
    acme.ok(&[
        "patch",
        "partition",
        "eu",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"region":"us"}}}}"#,
    ]);
    let moved = slice_status("in-eu", &|v| v["status"]["shardSelector"] == "region=us");
    assert!(
        moved["status"]["endpoints"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{moved}"
    );

    // A Partition without a selector selects every shard (kcp writes
    // Nothing() as "" and reads "" back as everything).
    acme.apply(
        "apiVersion: topology.kcp.io/v1alpha1\nkind: Partition\nmetadata:\n  name: all\nspec: {}\n",
    );
    acme.apply(&slice("everywhere", "all"));
    let everywhere = slice_status("everywhere", &|v| {
        v["status"]["endpoints"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    });
    assert!(
        everywhere["status"].get("shardSelector").is_none(),
        "{everywhere}"
    );

    // Any authenticated user may bind tenancy by hand, without a naming
    // conflict; shards are the admins' to bind.
    create_workspace(&s, "alice-token", "plain");
    let plain = s.as_user(Some("alice-token"), "root:plain");
    let o = plain.create(&binding("tenancy.kcp.io"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = wait_bound(&plain, "tenancy.kcp.io");
    assert_eq!(condition(&b, "BindingUpToDate"), "True", "{b}");
    let o = plain.create(&binding("shards.core.kcp.io"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("(Forbidden)"), "{err}");
}
