//! The review APIs as kubectl 1.33 uses them: `auth whoami`, `auth can-i`
//! (SelfSubjectAccessReview), `auth can-i --list` (SelfSubjectRulesReview),
//! and SubjectAccessReview / LocalSubjectAccessReview posted as manifests.
//!
//! Decisions are only as good as their agreement with what the server then
//! enforces, so a token-file user with real bindings is asked about next to
//! the admin; the wire checks (405 on reads, the namespace rules of
//! LocalSubjectAccessReview, protobuf both ways) go through raw requests
//! because kubectl itself refuses some of those bodies before sending them.

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use trellis_apis::proto;

use crate::common::Server;

const PB: &str = "application/vnd.kubernetes.protobuf";
const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

const TOKENS: &str = "dora-token,dora,uid-dora,reviewers\n";

fn as_dora<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--token=dora-token"];
    all.extend_from_slice(args);
    all
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn review_kubectl_auth_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let s = Server::start_with(
        "review_kubectl",
        &["--token-auth-file", tokens.to_str().unwrap()],
    );

    // whoami, in every output format.
    let table = s.kubectl_ok(&["auth", "whoami"]);
    assert!(table.contains("admin"), "{table}");
    assert!(table.contains("system:masters"), "{table}");
    let who = json_of(&s.kubectl_ok(&["auth", "whoami", "-o", "json"]));
    assert_eq!(who["kind"], "SelfSubjectReview");
    assert_eq!(who["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(who["status"]["userInfo"]["username"], "admin");
    let groups = who["status"]["userInfo"]["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("system:masters")), "{who}");
    assert!(groups.contains(&json!("system:authenticated")), "{who}");
    let yaml = s.kubectl_ok(&["auth", "whoami", "-o", "yaml"]);
    assert!(yaml.contains("username: admin"), "{yaml}");

    // can-i for the admin: everything.
    assert_eq!(
        s.kubectl_ok(&["auth", "can-i", "create", "configmaps"])
            .trim(),
        "yes"
    );
    assert_eq!(s.kubectl_ok(&["auth", "can-i", "*", "*"]).trim(), "yes");
    assert_eq!(
        s.kubectl_ok(&["auth", "can-i", "get", "/healthz"]).trim(),
        "yes"
    );
    let list = s.kubectl_ok(&["auth", "can-i", "--list"]);
    assert!(list.contains("*.*"), "{list}");

    // Discovery lists them, create only.
    let resources = s.kubectl_ok(&[
        "api-resources",
        "--api-group=authorization.k8s.io",
        "-o",
        "wide",
    ]);
    for name in [
        "localsubjectaccessreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
    ] {
        let line = resources
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {resources}"));
        assert_eq!(line.split_whitespace().last(), Some("create"), "{line}");
    }
    let authn = s.kubectl_ok(&[
        "api-resources",
        "--api-group=authentication.k8s.io",
        "-o",
        "name",
    ]);
    assert!(
        authn.contains("selfsubjectreviews.authentication.k8s.io"),
        "{authn}"
    );

    // dora gets into the workspace and may view `default`.
    s.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "dora-access",
        "--clusterrole=system:kcp:workspace:access",
        "--user=dora",
    ]);
    s.kubectl_ok(&[
        "create",
        "rolebinding",
        "dora-view",
        "--clusterrole=view",
        "--user=dora",
        "-n",
        "default",
    ]);
    let who = json_of(&s.kubectl_ok(&as_dora(&["auth", "whoami", "-o", "json"])));
    assert_eq!(
        who["status"]["userInfo"],
        json!({"username": "dora", "uid": "uid-dora", "groups": ["reviewers", "system:authenticated"]})
    );
    let can = |args: &[&str]| {
        let out = s.kubectl(&as_dora(&[&["auth", "can-i"], args].concat()));
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(out.status.success(), answer == "yes", "{args:?}: {answer}");
        answer
    };
    assert_eq!(can(&["get", "configmaps", "-n", "default"]), "yes");
    assert_eq!(can(&["list", "configmaps", "-n", "default"]), "yes");
    assert_eq!(can(&["create", "configmaps", "-n", "default"]), "no");
    assert_eq!(can(&["get", "configmaps", "-n", "kube-system"]), "no");
    // What can-i says is what the server does.
    s.kubectl_ok(&as_dora(&["get", "configmaps", "-n", "default"]));
    assert!(
        !s.kubectl(&as_dora(&["get", "configmaps", "-n", "kube-system"]))
            .status
            .success()
    );
    let list = s.kubectl_ok(&as_dora(&["auth", "can-i", "--list", "-n", "default"]));
    assert!(list.contains("configmaps"), "{list}");
    assert!(!list.contains("*.*"), "{list}");

    // SubjectAccessReview as a manifest: the admin asks about others.
    // `--validate=false` here; `tests/e2e/openapi.rs` covers kubectl's
    // validation of create-only kinds (client-side, from the protobuf v2
    // document, since they have no PATCH operation to probe).
    let sar = |user: &str, ns: &str| {
        format!(
            "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: {user}\n  resourceAttributes:\n    namespace: {ns}\n    verb: get\n    resource: configmaps\n"
        )
    };
    let out = s.kubectl_in(
        Some(&sar("nobody", "default")),
        &["create", "--validate=false", "-f", "-", "-o", "yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("allowed: false"), "{yaml}");
    assert!(yaml.contains("kind: SubjectAccessReview"), "{yaml}");
    let out = s.kubectl_in(
        Some(&sar("dora", "default")),
        &["create", "--validate=false", "-f", "-", "-o", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["status"]["allowed"], true, "{v}");
    assert!(
        v["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("dora-view"),
        "{v}"
    );

    // LocalSubjectAccessReview, in the namespace it asks about.
    let lsar = "apiVersion: authorization.k8s.io/v1\nkind: LocalSubjectAccessReview\nmetadata:\n  namespace: default\nspec:\n  user: dora\n  resourceAttributes:\n    namespace: default\n    verb: delete\n    resource: configmaps\n";
    let out = s.kubectl_in(
        Some(lsar),
        &["create", "--validate=false", "-f", "-", "-o", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["metadata"]["namespace"], "default");
    assert_eq!(v["status"]["allowed"], false, "{v}");

    // kubectl sends its reviews as protobuf.
    let log = std::fs::read_to_string(&s.log).unwrap();
    for resource in [
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "selfsubjectreviews",
    ] {
        assert!(
            log.lines().any(|l| l.contains("verb=\"create\"")
                && l.contains(&format!("resource=\"{resource}\""))
                && l.contains(&format!("content_type=\"{PB}\""))
                && l.contains("status=201")),
            "{resource} was not created from protobuf; see {}",
            s.log.display()
        );
    }
}

struct Resp {
    status: StatusCode,
    content_type: String,
    body: bytes::Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(
    client: &kube::Client,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client
        .send(b.body(kube::client::Body::from(body)).unwrap())
        .await
        .expect("send");
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        content_type: parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: body.collect().await.expect("body").to_bytes(),
    }
}

async fn post_json(client: &kube::Client, path: &str, body: Value) -> Resp {
    send(
        client,
        Method::POST,
        path,
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn review_wire() {
    let s = Server::start("review_wire");
    let c = s.client().await;

    // Only create exists.
    let r = send(&c, Method::GET, SSAR, &[], Vec::new()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["reason"], "MethodNotAllowed");
    let (code, _) = s.curl(
        "GET",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        None,
    );
    assert_eq!(code, 405);

    // LocalSubjectAccessReview: the object's namespace must be the URL's
    // (400), the attributes' namespace the object's (422).
    let lsar = |meta_ns: Option<&str>, spec_ns: &str| {
        let mut v = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
            "spec": {"user": "u", "resourceAttributes": {"namespace": spec_ns, "verb": "get", "resource": "pods"}},
        });
        if let Some(ns) = meta_ns {
            v["metadata"] = json!({"namespace": ns});
        }
        v
    };
    let path = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews";
    let r = post_json(&c, path, lsar(Some("kube-system"), "kube-system")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    let r = post_json(&c, path, lsar(None, "kube-system")).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["reason"], "Invalid");
    let r = post_json(&c, path, lsar(None, "default")).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"]["allowed"], false);

    // Exactly one kind of attributes.
    let r = post_json(&c, SSAR, json!({"spec": {}})).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        ".authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
    );
    let r = post_json(&c, SSAR, json!({"apiVersion": "v1", "kind": "ConfigMap"})).await;
    assert_eq!(r.status, 400);

    // Protobuf in, protobuf out.
    let body = proto::encode(&json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}},
    }))
    .unwrap();
    let r = send(
        &c,
        Method::POST,
        SSAR,
        &[("content-type", PB), ("accept", PB)],
        body,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.content_type, PB);
    let v = proto::decode(&r.body).unwrap();
    assert_eq!(v["kind"], "SelfSubjectAccessReview");
    assert_eq!(v["spec"]["nonResourceAttributes"]["path"], "/version");
    assert_eq!(v["status"]["allowed"], true);
}
