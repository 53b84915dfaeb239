//! A test admission and conversion webhook: HTTPS on loopback with its own CA (hyper's
//! HTTP/1.1 server, as webhook frameworks serve), answering each path with
//! the behaviour a test names, and keeping every AdmissionReview it got.
//!
//! Paths: `/deny-blue` (validating: refuses objects whose `data.color` or
//! `spec.intent` is `blue`/`bad`, warns on every call), `/add-label`
//! (mutating: adds the label `mutated: "yes"`), `/slow` (answers after 5 s),
//! `/garbage` (a 200 that is not JSON), `/bad-patch` (a patch removing a
//! field that does not exist), `/replace-root` (a patch replacing the whole
//! object with a list), `/add-status` (a patch writing status), `/redirect`
//! (a 307 to the cloud metadata address), `/wrong-uid` (an answer to
//! another review). Conversion webhooks: `/convert` (Gadgets between
//! `example.io/v1` and `v2`), `/convert-fail` (a Failure result),
//! `/convert-rename` (renames what it converts), `/convert-uid` (answers
//! another review).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::sync::Mutex;

pub struct Webhook {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    pub addr: SocketAddr,
    /// The CA's certificate, base64 of its PEM (a `caBundle`).
    pub ca_bundle: String,
    /// Every review received, with its path.
    pub reviews: Arc<Mutex<Vec<(String, Value)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn allowed(uid: &str, extra: Value) -> Value {
    let mut response = json!({"uid": uid, "allowed": true});
    for (k, v) in extra.as_object().into_iter().flatten() {
        response[k] = v.clone();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

fn answer(path: &str, review: &Value) -> (u16, Vec<u8>) {
    let uid = review["request"]["uid"].as_str().unwrap_or("");
    let object = &review["request"]["object"];
    let ok = |v: Value| (200, v.to_string().into_bytes());
    match path {
        "/deny-blue" => {
            let bad = object["data"]["color"] == "blue" || object["spec"]["intent"] == "bad";
            if bad {
                ok(
                    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "response": {"uid": uid, "allowed": false,
                        "status": {"code": 403, "message": "blue is not allowed here"},
                        "warnings": ["checked by the test webhook"]}}),
                )
            } else {
                ok(allowed(
                    uid,
                    json!({"warnings": ["checked by the test webhook"],
                        "auditAnnotations": {"verdict": "fine"}}),
                ))
            }
        }
        "/add-label" => {
            let mut ops = Vec::new();
            if object.pointer("/metadata/labels").is_none() {
                ops.push(json!({"op": "add", "path": "/metadata/labels", "value": {}}));
            }
            ops.push(json!({"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}));
            let patch =
                base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&ops).unwrap());
            ok(allowed(
                uid,
                json!({"patch": patch, "patchType": "JSONPatch"}),
            ))
        }
        "/bad-patch" => {
            let patch = base64::engine::general_purpose::STANDARD
                .encode(br#"[{"op":"remove","path":"/spec/nothing/here"}]"#);
            ok(allowed(
                uid,
                json!({"patch": patch, "patchType": "JSONPatch"}),
            ))
        }
        "/replace-root" => {
            let patch = base64::engine::general_purpose::STANDARD
                .encode(br#"[{"op":"replace","path":"","value":[]}]"#);
            ok(allowed(
                uid,
                json!({"patch": patch, "patchType": "JSONPatch"}),
            ))
        }
        "/add-status" => {
            let patch = base64::engine::general_purpose::STANDARD
                .encode(br#"[{"op":"add","path":"/status","value":{"phase":"Forged"}}]"#);
            ok(allowed(
                uid,
                json!({"patch": patch, "patchType": "JSONPatch"}),
            ))
        }
        "/redirect" => (307, Vec::new()),
        "/garbage" => (200, b"<html>surely not a review</html>".to_vec()),
        "/wrong-uid" => ok(allowed("someone-else", json!({}))),
        "/convert" | "/convert-fail" | "/convert-rename" | "/convert-uid" => {
            ok(convert(path, review))
        }
        _ => (404, Vec::new()),
    }
}

/// A ConversionReview's answer: Gadgets between `example.io/v1`
/// (`spec.color`) and `example.io/v2` (`spec.paint.color`).
fn convert(path: &str, review: &Value) -> Value {
    let req = &review["request"];
    let uid = req["uid"].as_str().unwrap_or("");
    let desired = req["desiredAPIVersion"].as_str().unwrap_or("");
    let mut converted = Vec::new();
    for o in req["objects"].as_array().into_iter().flatten() {
        let mut c = o.clone();
        if let Some(spec) = c.get_mut("spec").and_then(Value::as_object_mut) {
            if desired == "example.io/v2" {
                if let Some(color) = spec.remove("color") {
                    spec.insert("paint".into(), json!({"color": color}));
                }
            } else if let Some(color) = spec.remove("paint").and_then(|p| p.get("color").cloned()) {
                spec.insert("color".into(), color);
            }
        }
        c["apiVersion"] = json!(desired);
        if path == "/convert-rename" {
            c["metadata"]["name"] = json!("renamed");
        }
        converted.push(c);
    }
    let result = if path == "/convert-fail" {
        json!({"status": "Failure", "message": "cannot convert gadgets today"})
    } else {
        json!({"status": "Success"})
    };
    let uid = if path == "/convert-uid" {
        "someone-else"
    } else {
        uid
    };
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "response": {"uid": uid, "result": result, "convertedObjects": converted}})
}

impl Webhook {
    pub fn start() -> Webhook {
        let (ca_pem, mut tls) = super::loopback_tls("test-webhook-ca");
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let reviews: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let kept = reviews.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
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
                        let kept = kept.clone();
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let service = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let kept = kept.clone();
                                    async move {
                                        let path = req.uri().path().to_string();
                                        let body = req.into_body().collect().await?.to_bytes();
                                        let review: Value =
                                            serde_json::from_slice(&body).unwrap_or(Value::Null);
                                        kept.lock().unwrap().push((path.clone(), review.clone()));
                                        if path == "/slow" {
                                            tokio::time::sleep(Duration::from_secs(5)).await;
                                        }
                                        let (status, body) = answer(&path, &review);
                                        Ok::<_, hyper::Error>(
                                            hyper::Response::builder()
                                                .status(status)
                                                .header("location", "https://169.254.169.254/")
                                                .header("content-type", "application/json")
                                                .body(Full::new(Bytes::from(body)))
                                                .unwrap(),
                                        )
                                    }
                                },
                            );
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Webhook {
            url: format!("https://{addr}"),
            addr,
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca_pem),
            reviews,
            stop: Some(stop),
        }
    }

    /// The reviews received on `path` so far.
    pub fn received(&self, path: &str) -> Vec<Value> {
        self.reviews
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
