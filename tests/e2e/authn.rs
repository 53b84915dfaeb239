//! Authentication end to end: every way in, and the ways that must fail.
//!
//! Token-file users, client certificates issued by the server's CA,
//! ServiceAccount tokens from `kubectl create token` (kept across a
//! restart, revoked by deleting the account), OIDC ID tokens from a small
//! HTTPS issuer run by the test, and `--insecure-http`. Rejections are
//! checked to be 401 `Status` objects. Identities are read with
//! `kubectl auth whoami`, which must answer: every authenticated user is
//! first allowed into `root`, so a refusal is a failure, never a partial
//! answer.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::common::Server;

const TOKENS: &str = "\
# token,user,uid,groups
alice-token,alice,uid-alice,\"devs,ops\"
bob-token,bob,uid-bob
";

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Lets every authenticated user into `root`, so `whoami` answers.
pub(crate) fn open_root(s: &Server) {
    s.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "authn-test-access",
        "--clusterrole=system:kcp:workspace:access",
        "--group=system:authenticated",
    ]);
}

/// The user kubectl authenticates as with `args` (credential flags):
/// `status.userInfo` of `kubectl auth whoami`, which must succeed.
pub(crate) fn whoami(s: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["auth", "whoami", "-o", "json"]);
    let v: Value = serde_json::from_str(&s.kubectl_ok(&all)).expect("whoami JSON");
    assert_eq!(v["kind"], "SelfSubjectReview", "{v}");
    v["status"]["userInfo"].clone()
}

fn has_group(user: &Value, group: &str) -> bool {
    user["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|x| x == group))
}

/// curl with explicit arguments (no admin token); returns (code, body).
/// A failed TLS handshake or connection is code 0.
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn ca(s: &Server) -> String {
    s.data_dir.join("pki/ca.crt").display().to_string()
}

/// A 401 with a Kubernetes Status body.
fn assert_unauthorized(code: u16, body: &str) {
    assert_eq!(code, 401, "{body}");
    let status: Value = serde_json::from_str(body).expect("Status JSON");
    assert_eq!(status["kind"], "Status", "{body}");
    assert_eq!(status["reason"], "Unauthorized", "{body}");
    assert_eq!(status["code"], 401, "{body}");
}

fn bearer(s: &Server, token: &str) -> (u16, String) {
    curl(
        &format!("{}/api/v1/namespaces/default/configmaps", s.url),
        &[
            "--cacert",
            &ca(s),
            "-H",
            &format!("Authorization: Bearer {token}"),
        ],
    )
}

/// A server that knows the token file's users (`TOKENS`); the directory
/// holding the file lives as long as the caller keeps it.
fn with_token_file(name: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let s = Server::start_with(name, &["--token-auth-file", tokens.to_str().unwrap()]);
    (dir, s)
}

/// Creates ServiceAccount `default/bot`; its uid.
fn create_bot(s: &Server) -> String {
    s.kubectl_ok(&["create", "serviceaccount", "bot", "-n", "default"]);
    s.kubectl_ok(&[
        "get",
        "sa",
        "bot",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.uid}",
    ])
}

#[test]
fn token_file_users_and_rejected_credentials() {
    let (_dir, s) = with_token_file("authn_token_file");
    open_root(&s);

    let alice = whoami(&s, &["--token=alice-token"]);
    assert_eq!(alice["username"], "alice", "{alice}");
    assert_eq!(alice["uid"], "uid-alice", "{alice}");
    assert_eq!(
        alice["groups"],
        json!(["devs", "ops", "system:authenticated"]),
        "{alice}"
    );
    let bob = whoami(&s, &["--token=bob-token"]);
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["uid"], "uid-bob", "{bob}");
    assert_eq!(bob["groups"], json!(["system:authenticated"]), "{bob}");

    // Unknown, JWT-shaped garbage, forged and missing credentials: 401.
    let (code, body) = bearer(&s, "not-a-token");
    assert_unauthorized(code, &body);
    let garbage = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"ES256","typ":"JWT"}"#),
        b64url(br#"{"iss":"https://trellis.local","sub":"system:serviceaccount:kube-system:admin","aud":["https://trellis.local"],"exp":9999999999}"#),
        b64url(b"not a signature")
    );
    let (code, body) = bearer(&s, &garbage);
    assert_unauthorized(code, &body);
    let (code, body) = bearer(&s, "a.b.c");
    assert_unauthorized(code, &body);
    let (code, body) = curl(
        &format!("{}/api/v1/namespaces", s.url),
        &["--cacert", &ca(&s)],
    );
    assert_unauthorized(code, &body);
    let (code, body) = curl(
        &format!("{}/api/v1/namespaces", s.url),
        &[
            "--cacert",
            &ca(&s),
            "-H",
            "Authorization: Basic YWxpY2U6cHc=",
        ],
    );
    assert_unauthorized(code, &body);
    // kubectl reports it as such.
    let err = s.kubectl_err(&["--token=not-a-token", "get", "configmaps"]);
    assert!(
        err.contains("the server has asked for the client to provide credentials"),
        "{err}"
    );
    // Health needs no credentials.
    let (code, _) = curl(&format!("{}/healthz", s.url), &["--cacert", &ca(&s)]);
    assert_eq!(code, 200);
}

#[test]
fn a_malformed_token_file_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "# ok\ngood,alice,1\nbad,bob\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--token-auth-file")
        .arg(&tokens)
        .output()
        .expect("trellis");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("at least 3 columns"),
        "{err}"
    );
}

pub(crate) fn kubeconfig_with_cert(
    s: &Server,
    name: &str,
    cert_pem: &str,
    key_pem: &str,
) -> PathBuf {
    let enc = |p: &str| base64::engine::general_purpose::STANDARD.encode(p);
    let ca_pem = std::fs::read_to_string(s.data_dir.join("pki/ca.crt")).unwrap();
    s.file(
        &format!("{name}.kubeconfig"),
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: u\ncurrent-context: t\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            s.url,
            enc(&ca_pem),
            enc(cert_pem),
            enc(key_pem)
        ),
    )
}

#[test]
fn client_certificates_from_the_server_ca() {
    let s = Server::start("authn_client_certs");
    open_root(&s);
    let ca = trellis_server::pki::Ca::load_or_create(&trellis_server::pki::Paths::new(&s.data_dir))
        .unwrap();
    let (cert, key) = ca.issue_client("carol", &["devs", "ops"]).unwrap();
    let kc = kubeconfig_with_cert(&s, "carol", &cert, &key);
    let carol = whoami(&s, &["--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(carol["username"], "carol", "{carol}");
    assert_eq!(
        carol["groups"],
        json!(["devs", "ops", "system:authenticated"]),
        "{carol}"
    );
    // With curl, too.
    let cert_file = s.file("carol.crt", &cert);
    let key_file = s.file("carol.key", &key);
    let (code, body) = curl(
        &format!("{}/api", s.url),
        &[
            "--cacert",
            &self::ca(&s),
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 200, "{body}");

    // A certificate from another CA does not get through the handshake.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        trellis_server::pki::Ca::load_or_create(&trellis_server::pki::Paths::new(other_dir.path()))
            .unwrap();
    let (cert, key) = other.issue_client("mallory", &["system:masters"]).unwrap();
    let cert_file = s.file("mallory.crt", &cert);
    let key_file = s.file("mallory.key", &key);
    let (code, _) = curl(
        &format!("{}/api", s.url),
        &[
            "--cacert",
            &self::ca(&s),
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    );
    // (curl's code 0: no HTTP answer at all.)
    assert_eq!(code, 0, "a certificate from another CA got an HTTP answer");
    let kc = kubeconfig_with_cert(&s, "mallory", &cert, &key);
    let err = s.kubectl_err(&["--kubeconfig", kc.to_str().unwrap(), "get", "namespaces"]);
    // The server ended the TLS handshake with an alert.
    assert!(err.contains("remote error: tls: "), "{err}");
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn service_account_tokens() {
    let mut s = Server::start("authn_service_accounts");
    open_root(&s);
    let uid = create_bot(&s);

    // kubectl create token speaks protobuf.
    let token = s.kubectl_ok(&["create", "token", "bot", "-n", "default"]);
    let token = token.trim().to_string();
    let c = claims(&token);
    assert_eq!(c["iss"], "https://trellis.local", "{c}");
    assert_eq!(c["sub"], "system:serviceaccount:default:bot", "{c}");
    assert_eq!(c["aud"], json!(["https://trellis.local"]), "{c}");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(c["kubernetes.io"]["namespace"], "default", "{c}");
    assert_eq!(c["kubernetes.io"]["serviceaccount"]["name"], "bot", "{c}");
    assert_eq!(
        c["kubernetes.io"]["serviceaccount"]["uid"],
        uid.as_str(),
        "{c}"
    );
    assert_eq!(c["kubernetes.io"]["clusterName"], "root", "{c}");

    let bot = whoami(&s, &[&format!("--token={token}")]);
    assert_eq!(
        bot["username"], "system:serviceaccount:default:bot",
        "{bot}"
    );
    assert_eq!(bot["uid"], uid.as_str(), "{bot}");
    for g in [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ] {
        assert!(has_group(&bot, g), "{g}: {bot}");
    }
    assert_eq!(
        bot["extra"]["authentication.kcp.io/cluster-name"],
        json!(["root"]),
        "{bot}"
    );
    assert_eq!(
        bot["extra"]["authentication.kubernetes.io/credential-id"],
        json!([format!("JTI={}", c["jti"].as_str().unwrap())]),
        "{bot}"
    );

    // Durations and audiences.
    let long = s.kubectl_ok(&["create", "token", "bot", "-n", "default", "--duration=2h"]);
    let lc = claims(long.trim());
    assert_eq!(
        lc["exp"].as_i64().unwrap() - lc["iat"].as_i64().unwrap(),
        7200
    );
    let err = s.kubectl_err(&["create", "token", "bot", "-n", "default", "--duration=5m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let other_aud = s.kubectl_ok(&[
        "create",
        "token",
        "bot",
        "-n",
        "default",
        "--audience=vault",
    ]);
    assert_eq!(claims(other_aud.trim())["aud"], json!(["vault"]));
    let (code, body) = bearer(&s, other_aud.trim());
    assert_unauthorized(code, &body);
    let err = s.kubectl_err(&["create", "token", "nobody", "-n", "default"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );

    // The JSON wire form.
    let (code, body) = s.curl(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/bot/token",
        Some(r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":900}}"#),
    );
    assert_eq!(code, 201, "{body}");
    let tr: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tr["kind"], "TokenRequest");
    assert_eq!(tr["metadata"]["name"], "bot");
    assert_eq!(tr["spec"]["expirationSeconds"], 900);
    assert_eq!(tr["spec"]["audiences"], json!(["https://trellis.local"]));
    assert!(
        tr["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let (code, body) = s.curl(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/bot/token",
        Some(r#"{"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p"}}}"#),
    );
    assert_eq!(code, 400, "{body}");
    let (code, _) = s.curl(
        "GET",
        "/api/v1/namespaces/default/serviceaccounts/bot/token",
        None,
    );
    assert_eq!(code, 405);

    // Tampering with the token's claims breaks the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(&token);
    forged["sub"] = json!("system:serviceaccount:kube-system:admin");
    forged["kubernetes.io"]["namespace"] = json!("kube-system");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url(forged.to_string().as_bytes()),
        parts[2]
    );
    let (code, body) = bearer(&s, &forged);
    assert_unauthorized(code, &body);

    // The signing key survives a restart, and so do the tokens.
    s.restart();
    let again = whoami(&s, &[&format!("--token={token}")]);
    assert_eq!(again["username"], "system:serviceaccount:default:bot");

    // Deleting the account revokes its tokens; a new account of the same
    // name does not revive them.
    s.kubectl_ok(&["delete", "serviceaccount", "bot", "-n", "default"]);
    let (code, body) = bearer(&s, &token);
    assert_unauthorized(code, &body);
    s.kubectl_ok(&["create", "serviceaccount", "bot", "-n", "default"]);
    let (code, body) = bearer(&s, &token);
    assert_unauthorized(code, &body);
    let fresh = s.kubectl_ok(&["create", "token", "bot", "-n", "default"]);
    let who = whoami(&s, &[&format!("--token={}", fresh.trim())]);
    assert_eq!(who["username"], "system:serviceaccount:default:bot");
}

/// `kubectl create -f -` of a TokenReview (as `as_args`), its answer.
fn token_review(s: &Server, as_args: &[&str], token: &str, audiences: &[&str]) -> Value {
    let mut spec = json!({"token": token});
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let review =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec});
    let mut args = as_args.to_vec();
    args.extend_from_slice(&["create", "-f", "-", "-o", "json"]);
    let out = s.kubectl_in(Some(&review.to_string()), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("TokenReview JSON");
    assert_eq!(v["kind"], "TokenReview", "{v}");
    // The review echoes the spec, as upstream.
    assert_eq!(v["spec"]["token"], token, "{v}");
    v
}

/// A review that did not authenticate, with an error ending in `why`.
fn refused_with(r: &Value, why: &str) {
    assert!(r["status"].get("authenticated").is_none(), "{r}");
    assert_eq!(r["status"]["user"], json!({}), "{r}");
    assert!(
        r["status"]["error"]
            .as_str()
            .is_some_and(|e| e.ends_with(why)),
        "{r}"
    );
}

#[test]
fn token_reviews_say_who_a_token_is_for_and_which_audiences() {
    let (_dir, s) = with_token_file("authn_token_reviews");
    open_root(&s);
    let uid = create_bot(&s);
    let token = s.kubectl_ok(&["create", "token", "bot", "-n", "default"]);
    let token = token.trim();
    let other = s.kubectl_ok(&[
        "create",
        "token",
        "bot",
        "-n",
        "default",
        "--audience=https://other.example",
    ]);
    let other = other.trim();

    // A ServiceAccount token for the server's audience.
    let r = token_review(&s, &[], token, &[]);
    let st = &r["status"];
    assert_eq!(st["authenticated"], true, "{r}");
    assert_eq!(
        st["user"]["username"], "system:serviceaccount:default:bot",
        "{r}"
    );
    assert_eq!(st["user"]["uid"], uid.as_str(), "{r}");
    assert!(
        has_group(&st["user"], "system:serviceaccounts:default"),
        "{r}"
    );
    assert!(has_group(&st["user"], "system:authenticated"), "{r}");
    assert_eq!(
        st["user"]["extra"]["authentication.kcp.io/cluster-name"],
        json!(["root"]),
        "{r}"
    );
    assert_eq!(st["audiences"], json!(["https://trellis.local"]), "{r}");
    assert!(st.get("error").is_none(), "{r}");

    // A token for another audience is valid only when that one is asked for.
    refused_with(
        &token_review(&s, &[], other, &[]),
        "service account token: InvalidAudience",
    );
    let r = token_review(
        &s,
        &[],
        other,
        &["https://other.example", "https://third.example"],
    );
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    assert_eq!(
        r["status"]["audiences"],
        json!(["https://other.example"]),
        "{r}"
    );

    // Token-file tokens know no audience: only the server's own.
    let r = token_review(&s, &[], "alice-token", &[]);
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    assert_eq!(
        r["status"]["user"],
        json!({"username": "alice", "uid": "uid-alice", "groups": ["devs", "ops", "system:authenticated"]}),
        "{r}"
    );
    assert_eq!(
        r["status"]["audiences"],
        json!(["https://trellis.local"]),
        "{r}"
    );
    let r = token_review(&s, &[], "alice-token", &["https://other.example"]);
    assert_eq!(r["status"], json!({"user": {}}), "{r}");

    // An unknown token: not authenticated, and no error (upstream's union
    // of authenticators has nothing to say about it).
    let r = token_review(&s, &[], "nobody-knows-this", &[]);
    assert_eq!(r["status"], json!({"user": {}}), "{r}");

    // No token: 400 with upstream's message.
    let empty =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}});
    let out = s.kubectl_in(Some(&empty.to_string()), &["create", "-f", "-"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token is required for TokenReview in authentication"),
        "{err}"
    );

    // Reviewing tokens takes `create` on tokenreviews, which
    // system:auth-delegator grants. The review answers for tokens of every
    // workspace: the user's `authentication.kcp.io/cluster-name` extra says
    // which (checked above), as in kcp.
    // kubectl validates kinds without a PATCH route (the reviews) on the
    // client, which lists CRDs first: bob may not, as on any cluster, so he
    // turns that off.
    let bob = ["--token=bob-token", "--validate=false"];
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "alice-token"}});
    let out = s.kubectl_in(
        Some(&review.to_string()),
        &[&bob[..], &["create", "-f", "-"]].concat(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bob may not review tokens yet");
    assert!(
        err.contains(
            "User \"bob\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\""
        ),
        "{err}"
    );
    s.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "bob-delegates",
        "--clusterrole=system:auth-delegator",
        "--user=bob",
    ]);
    let r = token_review(&s, &bob, "alice-token", &[]);
    assert_eq!(r["status"]["user"]["username"], "alice", "{r}");
    // A revoked token (its account deleted) is reported with why.
    s.kubectl_ok(&["delete", "serviceaccount", "bot", "-n", "default"]);
    refused_with(
        &token_review(&s, &[], token, &[]),
        "default/bot in root no longer exists",
    );
    // Discovery lists it as kubectl expects: create only.
    let res = s.kubectl_ok(&[
        "api-resources",
        "--api-group=authentication.k8s.io",
        "-o",
        "wide",
    ]);
    assert!(
        res.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == [
                "tokenreviews",
                "authentication.k8s.io/v1",
                "false",
                "TokenReview",
                "create"
            ]),
        "{res}"
    );
}

/// A minimal OIDC issuer: HTTPS on loopback with its own CA, serving the
/// discovery document and a JWK set with one P-256 key (`kid` k1).
struct Issuer {
    url: String,
    ca_file: PathBuf,
    key: ring::signature::EcdsaKeyPair,
    jwks_fetches: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn p256() -> ring::signature::EcdsaKeyPair {
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

impl Issuer {
    fn start(dir: &Path) -> Issuer {
        use ring::signature::KeyPair;
        // TLS: a CA and a serving certificate for 127.0.0.1.
        let (ca_pem, tls) = crate::common::loopback_tls("test-idp-ca");
        let ca_file = dir.join("idp-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let key = p256();
        let point = key.public_key().as_ref();
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
            "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
        }]})
        .to_string();
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/keys"),
            "id_token_signing_alg_values_supported": ["ES256"],
        })
        .to_string();
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let fetches = jwks_fetches.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
                let serve = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        let (jwks, discovery, fetches) =
                            (jwks.clone(), discovery.clone(), fetches.clone());
                        tokio::spawn(async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let Ok(mut tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let mut req = Vec::new();
                            let mut buf = [0u8; 1024];
                            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
                                match tls.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => req.extend_from_slice(&buf[..n]),
                                }
                            }
                            let head = String::from_utf8_lossy(&req);
                            let path = head.split_whitespace().nth(1).unwrap_or("");
                            let (status, body) = match path {
                                "/.well-known/openid-configuration" => ("200 OK", discovery),
                                "/keys" => {
                                    fetches.fetch_add(1, Ordering::SeqCst);
                                    ("200 OK", jwks)
                                }
                                _ => ("404 Not Found", String::new()),
                            };
                            let resp = format!(
                                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = tls.write_all(resp.as_bytes()).await;
                            let _ = tls.shutdown().await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Issuer {
            url,
            ca_file,
            key,
            jwks_fetches,
            stop: Some(stop),
        }
    }

    /// An ES256 ID token with `claims`, signed by `key` (default: the
    /// issuer's) under `kid`.
    fn sign(
        &self,
        claims: &Value,
        kid: &str,
        key: Option<&ring::signature::EcdsaKeyPair>,
    ) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = key
            .unwrap_or(&self.key)
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }

    fn claims(&self, extra: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut c = json!({
            "iss": self.url, "aud": "trellis", "sub": "u-123",
            "email": "dave@example.com", "email_verified": true,
            "groups": ["devs", "admins"], "iat": now, "exp": now + 600,
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[test]
fn oidc_id_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let idp = Issuer::start(dir.path());
    let s = Server::start_with(
        "authn_oidc",
        &[
            "--oidc-issuer-url",
            &idp.url,
            "--oidc-client-id",
            "trellis",
            "--oidc-username-claim",
            "email",
            "--oidc-groups-claim",
            "groups",
            "--oidc-groups-prefix",
            "oidc:",
            "--oidc-ca-file",
            idp.ca_file.to_str().unwrap(),
        ],
    );
    open_root(&s);

    let token = idp.sign(&idp.claims(json!({})), "k1", None);
    // The keys are fetched for this first token, so no refetch may happen
    // before `first_fetch + 5 s`.
    let before_first_fetch = Instant::now();
    let dave = whoami(&s, &[&format!("--token={token}")]);
    assert_eq!(dave["username"], "dave@example.com", "{dave}");
    assert_eq!(
        dave["groups"],
        json!(["oidc:devs", "oidc:admins", "system:authenticated"]),
        "{dave}"
    );
    assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 1);

    let refused = |claims: Value, kid: &str, key: Option<&ring::signature::EcdsaKeyPair>| {
        let t = idp.sign(&claims, kid, key);
        let (code, body) = bearer(&s, &t);
        assert_unauthorized(code, &body);
    };
    // Expired (beyond the leeway), wrong audience, wrong issuer,
    // unverified email, another key under the same kid.
    refused(idp.claims(json!({"exp": 1_000_000_000})), "k1", None);
    refused(idp.claims(json!({"aud": "someone-else"})), "k1", None);
    refused(idp.claims(json!({"email_verified": false})), "k1", None);
    let stranger = p256();
    refused(idp.claims(json!({})), "k1", Some(&stranger));
    // An unknown kid makes the server refetch the keys, at most once per
    // interval (5 s) however many such tokens arrive: within the interval
    // of the first fetch none...
    let fetches = || idp.jwks_fetches.load(Ordering::SeqCst);
    let interval = Duration::from_secs(5);
    let mut unknown_kid_tokens = 0;
    while before_first_fetch.elapsed() < interval - Duration::from_millis(500) {
        refused(idp.claims(json!({})), "k2", None);
        unknown_kid_tokens += 1;
        assert_eq!(
            fetches(),
            1,
            "unknown kid {:?} after the first fetch",
            before_first_fetch.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        unknown_kid_tokens >= 5,
        "only {unknown_kid_tokens} tokens sent"
    );
    // ... then exactly one (the condition is polled; the deadline is
    // generous) ...
    let deadline = before_first_fetch + interval * 3;
    while fetches() < 2 {
        assert!(Instant::now() < deadline, "no refetch for an unknown kid");
        refused(idp.claims(json!({})), "k2", None);
        std::thread::sleep(Duration::from_millis(100));
    }
    let refetched = Instant::now();
    // ... and none for a burst right after it.
    for _ in 0..5 {
        refused(idp.claims(json!({})), "k2", None);
    }
    assert!(
        refetched.elapsed() < interval,
        "the burst took longer than the refetch interval; it proves nothing"
    );
    assert_eq!(fetches(), 2, "key set fetches");
    // An audience list containing the client id is fine.
    let token = idp.sign(
        &idp.claims(json!({"aud": ["other", "trellis"]})),
        "k1",
        None,
    );
    let again = whoami(&s, &[&format!("--token={token}")]);
    assert_eq!(again["username"], "dave@example.com");
}

#[test]
fn insecure_http_serves_plain_http_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["serve", "--port", "0", "--insecure-http", "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("trellis");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no http:// URL in {line:?}"))
        .trim_end_matches(';')
        .to_string();
    let token = std::fs::read_to_string(data.join("pki/admin.token")).unwrap();
    let (code, body) = curl(
        &format!("{url}/api"),
        &["-H", &format!("Authorization: Bearer {}", token.trim())],
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl(&format!("{url}/api"), &[]);
    assert_unauthorized(code, &body);
    // The admin kubeconfig points at http:// and works with kubectl.
    let kubeconfig = data.join("admin.kubeconfig");
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(kc.contains("server: http://"), "{kc}");
    assert!(!kc.contains("certificate-authority-data"), "{kc}");
    // The admin kubeconfig works for clients that send credentials over
    // plain HTTP (kube-rs, curl). kubectl does not: client-go attaches the
    // kubeconfig's credentials only to TLS transports.
    let names = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use k8s_openapi::api::core::v1::Namespace;
        let client = crate::common::client_for(&kubeconfig).await;
        kube::Api::<Namespace>::all(client)
            .list(&Default::default())
            .await
            .expect("list namespaces over http")
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect::<Vec<_>>()
    });
    assert!(names.iter().any(|n| n == "default"), "{names:?}");
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains("WARN") && text.contains("--insecure-http"),
        "{text}"
    );
    drop(child);
}
