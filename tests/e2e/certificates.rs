//! CertificateSigningRequests with kubectl 1.33: an operator onboards a
//! user with kubectl alone (the user's CSR, `kubectl certificate
//! approve`, the issued certificate authenticates), and what must never
//! be signed is not: `system:masters` (refused at create, kube's
//! message), a request approved by a tenant in its own workspace (Failed,
//! no certificate), approval or signing without the signer permission.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::authn::{kubeconfig_with_cert, open_root, whoami};
use crate::common::eventually_sync;
use crate::common::users::{As, create_workspace, start_with_users};

const TOKENS: &str = "\
team-token,team,uid-team,system:kcp:workspace-creators
clerk-token,clerk,uid-clerk,
";

/// A PEM CSR for `cn` in group `org` (if any), with its key's PEM.
fn user_request(cn: &str, org: Option<&str>) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    if let Some(o) = org {
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, o);
    }
    let pem = p.serialize_request(&key).unwrap().pem().unwrap();
    (pem, key.serialize_pem())
}

fn csr_manifest(name: &str, pem: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {}\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [\"client auth\"]\n  expirationSeconds: 86400\n{extra_spec}",
        base64::engine::general_purpose::STANDARD.encode(pem)
    )
}

/// `kubectl patch csr <name> --subresource=<sub> --type=merge -p <body>`.
fn patch_sub(who: &As<'_>, name: &str, sub: &str, body: &str) -> std::process::Output {
    who.run(
        None,
        &[
            "patch",
            "csr",
            name,
            &format!("--subresource={sub}"),
            "--type=merge",
            "-p",
            body,
        ],
    )
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn an_operator_onboards_a_user_with_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("certificates", &dir, TOKENS, &[]);
    open_root(&s);
    let admin = s.as_user(None, "root");

    // The user's request; whatever the body says of the requester, the
    // server records who asked.
    let (pem, key) = user_request("alice", Some("dev"));
    let o = admin.create(&csr_manifest("alice", &pem, "  username: mallory\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csr = json_of(&admin.ok(&["get", "csr", "alice", "-o", "json"]));
    assert_eq!(csr["spec"]["username"], "admin", "{csr}");
    let table = admin.ok(&["get", "csr", "alice"]);
    assert!(
        table.contains("kubernetes.io/kube-apiserver-client") && table.contains("Pending"),
        "{table}"
    );

    // Approved with kubectl; the signer issues the certificate.
    admin.ok(&["certificate", "approve", "alice"]);
    let cert_b64 = eventually_sync(Duration::from_secs(20), || {
        let v = json_of(&admin.ok(&["get", "csr", "alice", "-o", "json"]));
        v.pointer("/status/certificate")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let table = admin.ok(&["get", "csr", "alice"]);
    assert!(table.contains("Approved,Issued"), "{table}");
    let cert = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(cert_b64)
            .unwrap(),
    )
    .unwrap();
    let kc = kubeconfig_with_cert(&s, "alice", &cert, &key);
    let alice = whoami(&s, &["--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(alice["username"], "alice", "{alice}");
    assert_eq!(
        alice["groups"],
        json!(["dev", "system:authenticated"]),
        "{alice}"
    );
    // Authenticated, not authorized for more than the operator granted.
    let err = s.kubectl_err(&["--kubeconfig", kc.to_str().unwrap(), "get", "secrets", "-A"]);
    assert!(
        err.contains("User \"alice\" cannot list resource \"secrets\""),
        "{err}"
    );

    // The certificate is set once: not even a valid certificate replaces
    // it; and what is not a certificate is refused as such.
    let other_cert = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(s.data_dir.join("pki/ca.crt")).unwrap());
    let o = patch_sub(
        &admin,
        "alice",
        "status",
        &format!(r#"{{"status":{{"certificate":"{other_cert}"}}}}"#),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains(
                "status.certificate: Forbidden: updates may not modify existing certificate content"
            ),
        "{err}"
    );
    let err = admin.err(&[
        "patch",
        "csr",
        "alice",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"certificate":"Zm9v"}}"#,
    ]);
    assert!(
        err.contains("status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"),
        "{err}"
    );
    // Conditions are never removed.
    let o = patch_sub(
        &admin,
        "alice",
        "approval",
        r#"{"status":{"conditions":[]}}"#,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("updates may not remove a condition of type \"Approved\""),
        "{err}"
    );

    // system:masters: refused at create, kube's message.
    let (pem, _) = user_request("mallory", Some("system:masters"));
    let o = admin.create(&csr_manifest("mallory", &pem, ""));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a system:masters request was stored");
    assert!(
        err.contains("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"),
        "{err}"
    );
    // Another privileged group gets through create but is never signed.
    let (pem, _) = user_request("mallory", Some("system:kcp:admin"));
    admin.apply(&csr_manifest("kcp-admin", &pem, ""));
    admin.ok(&["certificate", "approve", "kcp-admin"]);
    let failed = eventually_sync(Duration::from_secs(20), || {
        let v = json_of(&admin.ok(&["get", "csr", "kcp-admin", "-o", "json"]));
        v["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Failed")
            .cloned()
    });
    assert_eq!(failed["reason"], "SignerValidationFailure");
    let v = json_of(&admin.ok(&["get", "csr", "kcp-admin", "-o", "json"]));
    assert!(v["status"].get("certificate").is_none(), "{v}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("\"system:kcp:admin\" is not granted"),
        "{failed}"
    );

    // Approving needs `approve` on the signer: a clerk who may create
    // and update requests (and their approval) may not approve them.
    admin.apply(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-clerk}
rules:
- apiGroups: ["certificates.k8s.io"]
  resources: ["certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"]
  verbs: ["create", "get", "list", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: csr-clerk}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-clerk}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: clerk}
"#,
    );
    let clerk = s.as_user(Some("clerk-token"), "root");
    let (pem, _) = user_request("bob", None);
    let o = clerk.create(&csr_manifest("bob", &pem, ""));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = clerk.denied(&["certificate", "approve", "bob"]);
    assert!(
        err.contains("user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\""),
        "{err}"
    );
    let o = patch_sub(
        &clerk,
        "bob",
        "status",
        &format!(r#"{{"status":{{"certificate":"{other_cert}"}}}}"#),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("user not permitted to sign requests with signerName \"kubernetes.io/kube-apiserver-client\""),
        "{err}"
    );
    // Nor can the clerk approve through the main resource (status is
    // ignored there) or fail the request through /status (kube's
    // CertificateSigning guards conditions too).
    clerk.ok(&[
        "patch",
        "csr",
        "bob",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Approved","status":"True"}]}}"#,
    ]);
    let err = clerk.denied(&[
        "patch",
        "csr",
        "bob",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Failed","status":"True"}]}}"#,
    ]);
    assert!(
        err.contains("user not permitted to sign requests with signerName"),
        "{err}"
    );
    let bob = json_of(&admin.ok(&["get", "csr", "bob", "-o", "json"]));
    assert!(bob["status"].get("certificate").is_none(), "{bob}");
    assert!(bob["status"].get("conditions").is_none(), "{bob}");
    assert_eq!(bob["spec"]["username"], "clerk");

    // A tenant approves its own request in its own workspace: never signed.
    create_workspace(&s, "team-token", "team");
    let team = s.as_user(Some("team-token"), "root:team");
    let (pem, _) = user_request("team-admin", None);
    team.apply(&csr_manifest("mine", &pem, ""));
    team.ok(&["certificate", "approve", "mine"]);
    let failed = eventually_sync(Duration::from_secs(20), || {
        let v = json_of(&team.ok(&["get", "csr", "mine", "-o", "json"]));
        v["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Failed")
            .cloned()
    });
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("only signs requests made in the root workspace"),
        "{failed}"
    );
    let mine = json_of(&team.ok(&["get", "csr", "mine", "-o", "json"]));
    assert!(mine["status"].get("certificate").is_none(), "{mine}");
}
