//! The API server core as kubectl 1.33 uses it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Server, kubectl_path};

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
data:
  color: blue
"#;

#[test]
fn apply_get_label_annotate_patch_delete() {
    let s = Server::start("kubectl_crud");
    let m = s.file("m.yaml", MANIFEST);
    let out = s.kubectl_ok(&["apply", "-f", m.to_str().unwrap()]);
    assert!(out.contains("namespace/team created"), "{out}");
    assert!(out.contains("configmap/settings created"), "{out}");
    // Applying the same manifest again changes nothing.
    let out = s.kubectl_ok(&["apply", "-f", m.to_str().unwrap()]);
    assert!(out.contains("configmap/settings unchanged"), "{out}");

    let yaml = s.kubectl_ok(&["get", "cm", "settings", "-n", "team", "-o", "yaml"]);
    assert!(yaml.contains("color: blue"), "{yaml}");
    assert!(
        yaml.contains("resourceVersion:")
            && yaml.contains("uid:")
            && yaml.contains("creationTimestamp:"),
        "{yaml}"
    );

    let wide = s.kubectl_ok(&["get", "cm", "-n", "team", "-o", "wide"]);
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DATA", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["settings", "1"]);

    s.kubectl_ok(&["label", "cm", "settings", "-n", "team", "tier=gold"]);
    assert!(
        s.kubectl_ok(&["get", "cm", "settings", "-n", "team", "--show-labels"])
            .contains("tier=gold")
    );
    s.kubectl_ok(&["annotate", "cm", "settings", "-n", "team", "owner=ops"]);
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "team",
            "-o",
            "jsonpath={.metadata.annotations.owner}"
        ]),
        "ops"
    );

    s.kubectl_ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "team",
        "--type=merge",
        "-p",
        r#"{"data":{"size":"L"}}"#,
    ]);
    s.kubectl_ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "team",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/color","value":"red"}]"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.color}/{.data.size}"
        ]),
        "red/L"
    );

    // A failing `test` leaves the object untouched.
    let err = s.kubectl_err(&["patch", "cm", "settings", "-n", "team", "--type=json", "-p", r#"[{"op":"test","path":"/data/color","value":"green"},{"op":"remove","path":"/data/size"}]"#]);
    assert!(err.contains("testing value /data/color failed"), "{err}");
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.size}"
        ]),
        "L"
    );

    // Managed fields record each manager.
    let mf = s.kubectl_ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "team",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    for m in [
        "kubectl-client-side-apply",
        "kubectl-label",
        "kubectl-annotate",
        "kubectl-patch",
    ] {
        assert!(mf.contains(m), "{m} missing from {mf}");
    }

    let out = s.kubectl_ok(&["delete", "cm", "settings", "-n", "team"]);
    assert!(out.contains("configmap \"settings\" deleted"), "{out}");
    let err = s.kubectl_err(&["get", "cm", "settings", "-n", "team"]);
    assert!(err.contains("configmaps \"settings\" not found"), "{err}");
}

#[test]
fn delete_namespace_removes_contents() {
    let s = Server::start("kubectl_delete_ns");
    let m = s.file("m.yaml", MANIFEST);
    s.kubectl_ok(&["apply", "-f", m.to_str().unwrap()]);
    let extra = s.file("extra.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\n  namespace: team\nstringData:\n  pw: hunter2\n");
    s.kubectl_ok(&["apply", "-f", extra.to_str().unwrap()]);
    let out = s.kubectl_ok(&["delete", "ns", "team"]);
    assert!(out.contains("namespace \"team\" deleted"), "{out}");
    // kubectl waited: the namespace is gone, and so is what was in it.
    let err = s.kubectl_err(&["get", "ns", "team"]);
    assert!(err.contains("namespaces \"team\" not found"), "{err}");
    let all = s.kubectl_ok(&["get", "cm,secret", "-A", "-o", "name"]);
    assert!(!all.contains("settings") && !all.contains("s1"), "{all}");
    // Re-creating the namespace starts empty.
    let ns_only = s.file(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
    );
    s.kubectl_ok(&["apply", "-f", ns_only.to_str().unwrap()]);
    let out = s.kubectl(&["get", "cm,secret", "-n", "team"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No resources found"),
        "{out:?}"
    );
}

#[test]
fn get_watch_sees_a_later_change() {
    let s = Server::start("kubectl_watch");
    s.kubectl_ok(&["apply", "-f", s.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w\n  namespace: default\ndata:\n  a: '1'\n").to_str().unwrap()]);
    let mut child = std::process::Command::new(kubectl_path())
        .args([
            "get",
            "cm",
            "w",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,A:.data.a",
        ])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rows) = std::sync::mpsc::channel::<Vec<String>>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let row = line.split_whitespace().map(str::to_string).collect();
            if tx.send(row).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for_row = |want: [&str; 2]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rows.recv_timeout(left) {
                Ok(row) => {
                    let hit = row == want;
                    seen.push(row);
                    if hit {
                        return;
                    }
                }
                Err(e) => panic!("kubectl get -w never printed {want:?} ({e}): {seen:?}"),
            }
        }
    };
    // The initial state, then (the watch starting from the listed
    // revision) the change made after it was printed.
    wait_for_row(["w", "1"]);
    s.kubectl_ok(&[
        "patch",
        "cm",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    wait_for_row(["w", "2"]);
    assert_eq!(child.try_wait().unwrap(), None, "kubectl get -w exited");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(seen[0], ["NAME", "A"], "{seen:?}");
}

#[test]
fn explain_and_strict_validation() {
    let s = Server::start("kubectl_explain");
    let out = s.kubectl_ok(&["explain", "configmap.data"]);
    assert!(out.contains("FIELD: data <map[string]string>"), "{out}");
    assert!(
        out.contains("Data contains the configuration data"),
        "{out}"
    );
    let out = s.kubectl_ok(&["explain", "leases.spec"]);
    assert!(out.contains("holderIdentity"), "{out}");

    // Default (strict) validation rejects unknown fields server-side.
    let bad = s.file("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: default\ndata:\n  a: b\nspecc: {}\n");
    let err = s.kubectl_err(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(err.contains("unknown field \"specc\""), "{err}");
    assert!(s.kubectl_err(&["get", "cm", "bad"]).contains("not found"));
    // Warn mode creates it with a warning; the field is pruned.
    let out = s.kubectl(&["apply", "--validate=warn", "-f", bad.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field \"specc\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "bad", "-o", "jsonpath={.specc}"]),
        ""
    );
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "bad", "-o", "jsonpath={.data.a}"]),
        "b"
    );
}

#[test]
fn bad_input_gets_kubernetes_errors() {
    let s = Server::start("kubectl_errors");
    let bad_name = s.file(
        "n.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n",
    );
    let err = s.kubectl_err(&["apply", "-f", bad_name.to_str().unwrap()]);
    assert!(err.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{err}");
    let no_ns = s.file(
        "ns.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nope\n",
    );
    let err = s.kubectl_err(&["apply", "-f", no_ns.to_str().unwrap()]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");
    let bad_key = s.file("k.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: default\ndata:\n  'bad key': x\n");
    let err = s.kubectl_err(&["apply", "-f", bad_key.to_str().unwrap()]);
    assert!(err.contains("data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"), "{err}");
    let err = s.kubectl_err(&["get", "widgets"]);
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
}
