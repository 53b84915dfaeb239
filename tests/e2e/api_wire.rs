//! Wire semantics of the API server core, checked with raw HTTP requests.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::common::Server;

struct Raw {
    client: kube::Client,
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    /// Asserts the status code (showing the body if it differs).
    #[track_caller]
    fn expect(self, code: u16) -> Resp {
        assert_eq!(self.status, code, "{}", String::from_utf8_lossy(&self.body));
        self
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Raw {
    async fn new(s: &Server) -> Raw {
        Raw {
            client: s.client().await,
        }
    }

    async fn req(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .client
            .send(b.body(kube::client::Body::from(body)).unwrap())
            .await
            .expect("send");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, &[], vec![]).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.req(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
    }

    /// Opens a watch that must be answered 200; its frames.
    async fn watch_ok(&self, path: &str) -> Frames {
        let (status, frames) = self.watch(path).await;
        assert_eq!(status, 200, "watch {path}");
        frames
    }

    /// Opens a watch and returns a stream of decoded frames.
    async fn watch(&self, path: &str) -> (StatusCode, Frames) {
        let req = Request::builder()
            .uri(path)
            .body(kube::client::Body::from(Vec::new()))
            .unwrap();
        let resp = self.client.send(req).await.expect("send");
        let status = resp.status();
        let body = resp.into_body();
        (
            status,
            Frames {
                body: Box::pin(body.into_data_stream()),
                buf: Vec::new(),
            },
        )
    }
}

struct Frames {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, kube::Error>> + Send>>,
    buf: Vec<u8>,
}

impl Frames {
    /// The next frame, `None` at end of stream; panics after `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(
                    serde_json::from_slice(&line[..line.len() - 1])
                        .expect("frame is one JSON line"),
                );
            }
            match tokio::time::timeout(timeout, self.body.next())
                .await
                .expect("frame within timeout")
            {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                _ => {
                    assert!(self.buf.is_empty(), "stream ended mid-frame");
                    return None;
                }
            }
        }
    }

    /// The next frame that is not a bookmark.
    async fn next_event(&mut self, timeout: Duration) -> Value {
        loop {
            let f = self.next(timeout).await.expect("stream open");
            if f["type"] != "BOOKMARK" {
                return f;
            }
        }
    }
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_openapi() {
    let s = Server::start("wire_discovery");
    let r = Raw::new(&s).await;
    let api = r.get("/api").await.json();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let v1 = r.get("/api/v1").await.json();
    let res = v1["resources"].as_array().unwrap();
    let cms = res.iter().find(|r| r["name"] == "configmaps").unwrap();
    assert_eq!(cms["singularName"], "configmap");
    assert_eq!(cms["shortNames"], json!(["cm"]));
    assert_eq!(cms["namespaced"], true);
    assert_eq!(cms["kind"], "ConfigMap");
    assert_eq!(cms["verbs"].as_array().unwrap().len(), 8);
    assert!(res.iter().any(|r| r["name"] == "namespaces/status"));
    assert!(
        res.iter()
            .any(|r| r["name"] == "namespaces/finalize" && r["verbs"] == json!(["update"]))
    );
    let groups = r.get("/apis").await.json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"coordination.k8s.io") && names.contains(&"events.k8s.io"),
        "{names:?}"
    );
    assert_eq!(
        r.get("/apis/coordination.k8s.io").await.json()["preferredVersion"]["version"],
        "v1"
    );
    let agg = r
        .req(Method::GET, "/apis", &[("accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")], vec![])
        .await;
    assert_eq!(
        agg.headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let agg = agg.json();
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let lease = &agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "coordination.k8s.io")
        .unwrap()["versions"][0]["resources"][0];
    assert_eq!(lease["resource"], "leases");
    assert_eq!(lease["scope"], "Namespaced");
    let missing = r.get("/apis/nope.example.com/v1").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["kind"], "Status");

    // OpenAPI v3: discovery of documents, the fieldValidation parameter
    // kubectl checks for, and hash redirects.
    // (The admin kubeconfig points at /clusters/root; the client prefixes it.)
    let root = r.get("/openapi/v3").await.json();
    let url = root["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("/clusters/root/openapi/v3/api/v1?hash="),
        "{url}"
    );
    let doc = r.get(url.strip_prefix("/clusters/root").unwrap()).await;
    assert_eq!(doc.headers["cache-control"], "public, immutable");
    let doc = doc.json();
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "version": "v1", "kind": "ConfigMap"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"].is_array());
    let stale = r.get("/openapi/v3/api/v1?hash=0000").await;
    assert_eq!(stale.status, StatusCode::MOVED_PERMANENTLY);
    let v2 = r.get("/openapi/v2").await.json();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.ConfigMap"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_semantics() {
    let s = Server::start_with("wire_list", &["--watch-history-events", "30"]);
    let r = Raw::new(&s).await;
    for i in 0..10 {
        assert_eq!(
            r.post(CMS, cm(&format!("c{i:02}"), json!({"i": i.to_string()})))
                .await
                .status,
            201
        );
    }
    let page = r.get(&format!("{CMS}?limit=4")).await.json();
    assert_eq!(page["kind"], "ConfigMapList");
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let list_rv = page["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    // Writes between pages do not leak into the paginated snapshot.
    r.post(CMS, cm("c05a", json!({}))).await.expect(201);
    r.req(Method::DELETE, &format!("{CMS}/c08"), &[], vec![])
        .await
        .expect(200);
    let next = r
        .get(&format!("{CMS}?limit=100&continue={token}"))
        .await
        .json();
    let names: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c04", "c05", "c06", "c07", "c08", "c09"]);
    assert_eq!(next["metadata"]["resourceVersion"], list_rv.as_str());
    // Exact reads at a past revision.
    let exact = r
        .get(&format!(
            "{CMS}?resourceVersion={list_rv}&resourceVersionMatch=Exact"
        ))
        .await
        .json();
    assert_eq!(exact["items"].as_array().unwrap().len(), 10);
    // Parameter combinations Kubernetes rejects.
    assert_eq!(
        r.get(&format!("{CMS}?resourceVersionMatch=Exact"))
            .await
            .status,
        422
    );
    assert_eq!(
        r.get(&format!("{CMS}?continue={token}&resourceVersion=5"))
            .await
            .status,
        400
    );
    assert_eq!(
        r.get(&format!(
            "{CMS}?resourceVersion=0&resourceVersionMatch=Exact"
        ))
        .await
        .status,
        422
    );
    // (Clients retry this 504 after Retry-After; curl does not.)
    let (code, body) = s.curl("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=999999&resourceVersionMatch=NotOlderThan", None);
    assert_eq!(code, 504);
    let future: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        future["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
    // Selectors.
    let sel = r
        .get(&format!("{CMS}?labelSelector=i%20in%20(1,2,3)"))
        .await
        .json();
    assert_eq!(sel["items"].as_array().unwrap().len(), 3);
    let neq = r.get(&format!("{CMS}?labelSelector=i!%3D1,i")).await.json();
    assert_eq!(neq["items"].as_array().unwrap().len(), 8);
    let bad = r.get(&format!("{CMS}?fieldSelector=spec.foo%3Dbar")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["message"], "field label not supported: spec.foo");
    let bad = r.get(&format!("{CMS}?labelSelector=a%20in%20")).await;
    assert_eq!(bad.status, 400);
    // An expired continue token is a 410.
    for i in 0..40 {
        r.post(CMS, cm(&format!("n{i}"), json!({})))
            .await
            .expect(201);
    }
    let gone = r.get(&format!("{CMS}?limit=100&continue={token}")).await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.json()["reason"], "Expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_semantics() {
    let s = Server::start_with(
        "wire_watch",
        &[
            "--watch-history-events",
            "30",
            "--bookmark-interval-seconds",
            "1",
        ],
    );
    let r = Raw::new(&s).await;
    r.post(CMS, cm("existing", json!({"team": "a"})))
        .await
        .expect(201);
    let t = Duration::from_secs(10);

    // From "0": synthetic ADDED for what exists, then live changes.
    let (status, mut w) = r
        .watch(&format!("{CMS}?watch=true&resourceVersion=0"))
        .await;
    assert_eq!(status, 200);
    let f = w.next_event(t).await;
    assert_eq!(
        (f["type"].as_str(), f["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("existing"))
    );
    assert_eq!(f["object"]["kind"], "ConfigMap");
    assert_eq!(f["object"]["apiVersion"], "v1");
    let created = r
        .post(CMS, cm("live", json!({"team": "a"})))
        .await
        .expect(201)
        .json();
    let rv_live = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let f = w.next_event(t).await;
    assert_eq!(
        (f["type"].as_str(), f["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("live"))
    );
    r.req(Method::DELETE, &format!("{CMS}/live"), &[], vec![])
        .await
        .expect(200);
    let f = w.next_event(t).await;
    assert_eq!(f["type"], "DELETED");
    assert_ne!(
        f["object"]["metadata"]["resourceVersion"].as_str().unwrap(),
        rv_live,
        "DELETED carries the deletion revision"
    );

    // Resume from a revision: only what came after.
    let mut w2 = r
        .watch_ok(&format!("{CMS}?watch=true&resourceVersion={rv_live}"))
        .await;
    let f = w2.next_event(t).await;
    assert_eq!(
        (f["type"].as_str(), f["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("live"))
    );

    // Selector transitions: leaving the selection is DELETED, entering ADDED.
    let mut sel = r
        .watch_ok(&format!(
            "{CMS}?watch=true&labelSelector=team%3Da&resourceVersion={rv_live}"
        ))
        .await;
    assert_eq!(sel.next_event(t).await["type"], "DELETED");
    r.req(
        Method::PATCH,
        &format!("{CMS}/existing"),
        &[("content-type", "application/merge-patch+json")],
        br#"{"metadata":{"labels":{"team":"b"}}}"#.to_vec(),
    )
    .await
    .expect(200);
    let f = sel.next_event(t).await;
    assert_eq!(
        (f["type"].as_str(), f["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("existing"))
    );
    r.req(
        Method::PATCH,
        &format!("{CMS}/existing"),
        &[("content-type", "application/merge-patch+json")],
        br#"{"metadata":{"labels":{"team":"a"}}}"#.to_vec(),
    )
    .await
    .expect(200);
    assert_eq!(sel.next_event(t).await["type"], "ADDED");

    // Bookmarks carry kind, apiVersion and a resourceVersion.
    let mut b = r
        .watch_ok(&format!(
            "{CMS}?watch=true&resourceVersion={rv_live}&allowWatchBookmarks=true"
        ))
        .await;
    let bookmark = loop {
        let f = b.next(t).await.unwrap();
        if f["type"] == "BOOKMARK" {
            break f;
        }
    };
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert_eq!(bookmark["object"]["apiVersion"], "v1");
    assert!(
        bookmark["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );

    // WatchList: initial state, then the end-of-initial-events bookmark.
    let mut wl = r.watch_ok(&format!("{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")).await;
    assert_eq!(wl.next(t).await.unwrap()["type"], "ADDED");
    let end = wl.next(t).await.unwrap();
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let bad = r
        .get(&format!("{CMS}?watch=true&sendInitialEvents=true"))
        .await;
    assert_eq!(bad.status, 422);

    // timeoutSeconds ends the stream cleanly.
    let mut short = r
        .watch_ok(&format!(
            "{CMS}?watch=true&resourceVersion={rv_live}&timeoutSeconds=1"
        ))
        .await;
    let started = std::time::Instant::now();
    while short.next(Duration::from_secs(5)).await.is_some() {}
    assert!(started.elapsed() < Duration::from_secs(4));

    // A resourceVersion older than the history: HTTP 200, in-stream 410.
    for i in 0..50 {
        r.post(CMS, cm(&format!("fill{i}"), json!({})))
            .await
            .expect(201);
    }
    let (status, mut old) = r
        .watch(&format!("{CMS}?watch=true&resourceVersion={rv_live}"))
        .await;
    assert_eq!(status, 200);
    let f = old.next(t).await.unwrap();
    assert_eq!(f["type"], "ERROR");
    assert_eq!(f["object"]["code"], 410);
    assert_eq!(f["object"]["reason"], "Expired");
    assert!(old.next(t).await.is_none(), "stream ends after the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_metadata_and_errors() {
    let s = Server::start("wire_tables");
    let r = Raw::new(&s).await;
    r.post(CMS, cm("t1", json!({}))).await.expect(201);
    let table = r
        .req(
            Method::GET,
            CMS,
            &[(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )],
            vec![],
        )
        .await
        .json();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "t1");
    assert_eq!(table["rows"][0]["cells"][1], 1);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let ns_table = r
        .req(
            Method::GET,
            "/api/v1/namespaces",
            &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
            vec![],
        )
        .await
        .json();
    assert_eq!(ns_table["rows"][0]["cells"][1], "Active");
    let meta = r
        .req(
            Method::GET,
            CMS,
            &[(
                "accept",
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
            )],
            vec![],
        )
        .await
        .json();
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert!(meta["items"][0].get("data").is_none());

    // Content negotiation and body errors.
    assert_eq!(
        r.req(Method::GET, CMS, &[("accept", "text/html")], vec![])
            .await
            .status,
        406
    );
    assert_eq!(
        r.req(
            Method::POST,
            CMS,
            &[("content-type", "text/plain")],
            b"x".to_vec()
        )
        .await
        .status,
        415
    );
    assert_eq!(
        r.req(
            Method::POST,
            CMS,
            &[("content-type", "application/json")],
            b"{not json".to_vec()
        )
        .await
        .status,
        400
    );
    let deep = "[".repeat(100_000);
    assert_eq!(
        r.req(
            Method::POST,
            CMS,
            &[("content-type", "application/json")],
            deep.into_bytes()
        )
        .await
        .status,
        400
    );
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "a".repeat(4 << 20)}});
    let resp = r
        .req(
            Method::POST,
            CMS,
            &[("content-type", "application/json")],
            serde_json::to_vec(&big).unwrap(),
        )
        .await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.json()["reason"], "RequestEntityTooLarge");
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    assert_eq!(
        r.req(
            Method::POST,
            CMS,
            &[("content-type", "application/yaml")],
            yaml.as_bytes().to_vec()
        )
        .await
        .status,
        201
    );
    // Mismatched namespace, missing name.
    assert_eq!(
        r.post(
            CMS,
            json!({"metadata": {"name": "x", "namespace": "other"}})
        )
        .await
        .status,
        400
    );
    let noname = r.post(CMS, json!({"metadata": {}})).await;
    assert_eq!(noname.status, 422);
    assert_eq!(
        noname.json()["message"],
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
    // generateName.
    let g = r
        .post(CMS, json!({"metadata": {"generateName": "gen-"}}))
        .await
        .expect(201)
        .json();
    let n = g["metadata"]["name"].as_str().unwrap();
    assert!(n.starts_with("gen-") && n.len() == 9, "{n}");
    // dryRun does not persist; fieldValidation=Warn warns.
    let dry = r
        .post(&format!("{CMS}?dryRun=All"), cm("dry", json!({})))
        .await;
    assert_eq!(dry.status, 201);
    assert_eq!(r.get(&format!("{CMS}/dry")).await.status, 404);
    let warn = r
        .post(
            &format!("{CMS}?fieldValidation=Warn"),
            json!({"metadata": {"name": "w"}, "bogus": 1}),
        )
        .await;
    assert_eq!(warn.status, 201);
    assert_eq!(
        warn.headers["warning"],
        "299 - \"unknown field \\\"bogus\\\"\""
    );
    let strict = r
        .post(
            &format!("{CMS}?fieldValidation=Strict"),
            json!({"metadata": {"name": "s"}, "bogus": 1}),
        )
        .await;
    assert_eq!(strict.status, 400);
    assert_eq!(
        strict.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""
    );
    // Delete preconditions.
    let wrong_uid = json!({"preconditions": {"uid": "nope"}});
    let del = r
        .req(
            Method::DELETE,
            &format!("{CMS}/t1"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&wrong_uid).unwrap(),
        )
        .await;
    assert_eq!(del.status, 409);
    // deletecollection with a selector.
    r.post(CMS, cm("dc1", json!({"dc": "y"}))).await.expect(201);
    r.post(CMS, cm("dc2", json!({"dc": "y"}))).await.expect(201);
    let dc = r
        .req(
            Method::DELETE,
            &format!("{CMS}?labelSelector=dc%3Dy"),
            &[],
            vec![],
        )
        .await
        .json();
    assert_eq!(dc["kind"], "ConfigMapList");
    assert_eq!(dc["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.get(&format!("{CMS}?labelSelector=dc%3Dy")).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Method not supported on namespaces: deletecollection.
    assert_eq!(
        r.req(Method::DELETE, "/api/v1/namespaces", &[], vec![])
            .await
            .status,
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_both_groups_and_terminating_namespaces() {
    let s = Server::start("wire_events");
    let r = Raw::new(&s).await;
    let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}, "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
                    "reason": "Tested", "message": "hello", "type": "Normal", "source": {"component": "test"}});
    assert_eq!(
        r.post("/api/v1/namespaces/default/events", ev).await.status,
        201
    );
    let v1 = r
        .get("/apis/events.k8s.io/v1/namespaces/default/events/e1")
        .await
        .json();
    assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
    assert_eq!(v1["regarding"]["name"], "x");
    assert_eq!(v1["note"], "hello");
    let ev2 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"}, "regarding": {"kind": "Pod", "name": "p"},
                     "note": "n2", "reason": "R", "type": "Warning", "action": "Act", "reportingController": "ctl", "reportingInstance": "i1",
                     "eventTime": "2026-01-01T00:00:00.000000Z"});
    assert_eq!(
        r.post("/apis/events.k8s.io/v1/namespaces/default/events", ev2)
            .await
            .status,
        201
    );
    let core = r.get("/api/v1/namespaces/default/events/e2").await.json();
    assert_eq!(core["involvedObject"]["name"], "p");
    assert_eq!(core["message"], "n2");
    let by_reason = r
        .get("/api/v1/namespaces/default/events?fieldSelector=reason%3DTested")
        .await
        .json();
    assert_eq!(by_reason["items"].as_array().unwrap().len(), 1);

    // A namespace with an object held by a finalizer stays Terminating and
    // refuses new content until the finalizer is gone.
    r.post(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "doomed"}}),
    )
    .await
    .expect(201);
    r.post(
        "/api/v1/namespaces/doomed/configmaps",
        json!({"metadata": {"name": "held", "finalizers": ["example.com/x"]}}),
    )
    .await
    .expect(201);
    let del = r
        .req(Method::DELETE, "/api/v1/namespaces/doomed", &[], vec![])
        .await
        .expect(200)
        .json();
    assert_eq!(del["status"]["phase"], "Terminating");
    // The namespace controller has been through it: it deleted the content,
    // which the finalizer holds.
    crate::common::eventually(Duration::from_secs(10), || async {
        let held = r
            .get("/api/v1/namespaces/doomed/configmaps/held")
            .await
            .expect(200)
            .json();
        held["metadata"]["deletionTimestamp"]
            .is_string()
            .then_some(())
    })
    .await;
    let refused = r
        .post(
            "/api/v1/namespaces/doomed/configmaps",
            json!({"metadata": {"name": "late"}}),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json()["details"]["causes"][0]["reason"],
        "NamespaceTerminating"
    );
    assert_eq!(
        r.get("/api/v1/namespaces/doomed").await.json()["status"]["phase"],
        "Terminating"
    );
    r.req(
        Method::PATCH,
        "/api/v1/namespaces/doomed/configmaps/held",
        &[("content-type", "application/merge-patch+json")],
        br#"{"metadata":{"finalizers":null}}"#.to_vec(),
    )
    .await
    .expect(200);
    crate::common::eventually(Duration::from_secs(10), || async {
        (r.get("/api/v1/namespaces/doomed").await.status == 404).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_endpoints_and_authentication() {
    let s = Server::start("wire_system");
    let r = Raw::new(&s).await;
    let v = r.get("/version").await.json();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    let m = String::from_utf8(r.get("/metrics").await.body.to_vec()).unwrap();
    assert!(m.contains("apiserver_request_total"), "{m}");
    assert!(m.contains("trellis_storage_revision"));
    // Without credentials: health is open, everything else 401.
    let anon = kube::Client::try_from({
        let mut cfg = kube::Config::new(s.url.parse().unwrap());
        cfg.accept_invalid_certs = true;
        cfg
    })
    .unwrap();
    let resp = anon
        .send(
            Request::get("/healthz?verbose")
                .body(kube::client::Body::from(Vec::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("healthz check passed"));
    let resp = anon
        .send(
            Request::get("/api/v1/namespaces")
                .body(kube::client::Body::from(Vec::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["reason"], "Unauthorized");
    let mut cfg = kube::Config::new(s.url.parse().unwrap());
    cfg.accept_invalid_certs = true;
    cfg.auth_info.token = Some("wrong".to_string().into());
    let bad = kube::Client::try_from(cfg).unwrap();
    let resp = bad
        .send(
            Request::get("/api")
                .body(kube::client::Body::from(Vec::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Clean shutdown on SIGTERM.
    drop(r);
    let mut s = s;
    assert!(s.stop().success());
}
