//! The API server core as kube-rs uses it: typed CRUD, watcher + reflector
//! across a restart and an expired resourceVersion, a Controller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

use crate::common::relay::Relay;
use crate::common::{Server, eventually, free_port};

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_and_errors() {
    let s = Server::start("kube_crud");
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &cm("one", &[("a", "1")]))
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        api_error(
            cms.create(&PostParams::default(), &cm("one", &[]))
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );

    let got = cms.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["a"], "1");
    assert_eq!(
        api_error(cms.get("missing").await.unwrap_err()),
        (404, "NotFound".into())
    );

    // Replace with the current resourceVersion works; with a stale one, 409.
    let mut upd = cms.get("one").await.unwrap();
    upd.data = Some(BTreeMap::from([("a".to_string(), "2".to_string())]));
    let replaced = cms
        .replace("one", &PostParams::default(), &upd)
        .await
        .unwrap();
    assert_ne!(replaced.metadata.resource_version.as_ref().unwrap(), &rv1);
    let mut stale = upd.clone();
    stale.metadata.resource_version = Some(rv1.clone());
    assert_eq!(
        api_error(
            cms.replace("one", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );

    // Merge and JSON patches.
    let p = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.labels.unwrap()["app"], "x");
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/b", "value": "3"}])).unwrap();
    let p = cms
        .patch("one", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(p.data.unwrap()["b"], "3");

    // Lists with selectors and pagination.
    for i in 0..7 {
        let mut c = cm(&format!("item-{i}"), &[]);
        c.metadata.labels = Some(BTreeMap::from([(
            "parity".to_string(),
            if i % 2 == 0 { "even" } else { "odd" }.to_string(),
        )]));
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let even = cms
        .list(&ListParams::default().labels("parity=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    assert!(even.metadata.resource_version.is_some());
    let page = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page.items.len(), 3);
    let token = page.metadata.continue_.clone().expect("continue token");
    let rest = cms
        .list(&ListParams::default().limit(100).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(page.items.len() + rest.items.len(), 8);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=item-3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    // Leases, as leader election uses them.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})).unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let l = leases
        .patch(
            "leader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "b"}})),
        )
        .await
        .unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("b"));

    // Delete returns a Status for objects removed at once.
    let deleted = cms.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right(), "immediate delete answers with a Status");
    assert_eq!(
        api_error(
            cms.delete("one", &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        (404, "NotFound".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_until_removed() {
    let s = Server::start("kube_finalizers");
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let mut c = cm("held", &[]);
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &c).await.unwrap();
    let marked = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("object returned while finalizers remain");
    assert!(marked.metadata.deletion_timestamp.is_some());
    // New finalizers cannot be added while deleting.
    let err = cms
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 422);
    // kube-rs' finalizer removal pattern: JSON patch with test + remove.
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/hold"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]))
    .unwrap();
    cms.patch("held", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(
        api_error(cms.get("held").await.unwrap_err()).0,
        404,
        "last finalizer removed: object gone"
    );
}

/// What a watcher stream yielded, in order, for the test to inspect.
fn describe(item: &Result<watcher::Event<ConfigMap>, watcher::Error>) -> String {
    use watcher::Event;
    let name = |c: &ConfigMap| c.metadata.name.clone().unwrap_or_default();
    match item {
        Ok(Event::Init) => "init".into(),
        Ok(Event::InitApply(c)) => format!("init-apply {}", name(c)),
        Ok(Event::InitDone) => "init-done".into(),
        Ok(Event::Apply(c)) => format!("apply {}", name(c)),
        Ok(Event::Delete(c)) => format!("delete {}", name(c)),
        // An ERROR event inside an open watch stream.
        Err(watcher::Error::WatchError(status)) => format!("in-stream error {}", status.code),
        Err(e) => format!("error {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_survives_restart_and_expired_resource_version() {
    let port = free_port();
    let mut s = Server::start_on("kube_reflector", port, &["--watch-history-events", "20"]);
    // The watcher reaches the server through a relay the test can cut.
    let relay = Relay::start(port).await;
    let watched: Api<ConfigMap> = {
        let kc = kube::config::Kubeconfig::read_from(&s.kubeconfig).unwrap();
        let mut cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        cfg.cluster_url = format!("https://127.0.0.1:{}/clusters/root", relay.port)
            .parse()
            .unwrap();
        Api::namespaced(kube::Client::try_from(cfg).unwrap(), "default")
    };
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(writer, watcher(watched, watcher::Config::default())).default_backoff();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let task = tokio::spawn({
        let seen = seen.clone();
        async move {
            futures::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                seen.lock().unwrap().push(describe(&item));
            }
        }
    });
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    cms.create(&PostParams::default(), &cm("before", &[]))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        reader
            .get(&reflector::ObjectRef::new("before").within("default"))
            .map(|_| ())
    })
    .await;

    // Restart the server; the watcher reconnects.
    s.restart();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    cms.create(&PostParams::default(), &cm("after-restart", &[]))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        reader
            .get(&reflector::ObjectRef::new("after-restart").within("default"))
            .map(|_| ())
    })
    .await;

    // Cut the watcher off and push its resourceVersion out of the retained
    // history meanwhile: when it resumes, the server must answer with an
    // in-stream 410 (an HTTP 410 would make kube-rs retry the same
    // resourceVersion forever), and the watcher must relist.
    relay.cut();
    let mark = seen.lock().unwrap().len();
    for i in 0..60 {
        cms.create(&PostParams::default(), &cm(&format!("burst-{i}"), &[]))
            .await
            .unwrap();
    }
    cms.delete("before", &DeleteParams::default())
        .await
        .unwrap();
    relay.mend();
    eventually(Duration::from_secs(60), || async {
        let names: Vec<String> = reader
            .state()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        (names.len() == 61 && !names.iter().any(|n| n == "before")).then_some(())
    })
    .await;
    let after: Vec<String> = seen.lock().unwrap()[mark..].to_vec();
    let gone = after
        .iter()
        .position(|e| e == "in-stream error 410")
        .unwrap_or_else(|| panic!("no in-stream 410 after the cut: {after:?}"));
    let init = gone
        + after[gone..]
            .iter()
            .position(|e| e == "init")
            .unwrap_or_else(|| panic!("no relist after the 410: {after:?}"));
    let done = init
        + after[init..]
            .iter()
            .position(|e| e == "init-done")
            .unwrap_or_else(|| panic!("the relist never finished: {after:?}"));
    let relisted: Vec<&String> = after[init..done]
        .iter()
        .filter(|e| e.starts_with("init-apply "))
        .collect();
    assert_eq!(relisted.len(), 61, "{after:?}");
    // The deletion of `before` was learnt from the relist, not an event.
    assert!(!after.iter().any(|e| e == "delete before"), "{after:?}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_configmaps() {
    let s = Server::start("kube_controller");
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    async fn reconcile(
        obj: Arc<ConfigMap>,
        api: Arc<Api<ConfigMap>>,
    ) -> Result<Action, kube::Error> {
        let keys = obj.data.as_ref().map_or(0, |d| d.len()).to_string();
        let current = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("example.com/keys"))
            .cloned();
        if current.as_deref() != Some(keys.as_str()) {
            let name = obj.metadata.name.clone().unwrap();
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"example.com/keys": keys}}})),
            )
            .await?;
        }
        Ok(Action::await_change())
    }
    fn error_policy(_: Arc<ConfigMap>, _: &kube::Error, _: Arc<Api<ConfigMap>>) -> Action {
        Action::requeue(Duration::from_millis(200))
    }

    let ctx = Arc::new(cms.clone());
    let controller = Controller::new(cms.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);
    cms.create(
        &PostParams::default(),
        &cm("target", &[("a", "1"), ("b", "2")]),
    )
    .await
    .unwrap();
    let keys = |cms: Api<ConfigMap>| async move {
        cms.get("target")
            .await
            .ok()?
            .metadata
            .annotations?
            .get("example.com/keys")
            .cloned()
    };
    let v = eventually(Duration::from_secs(20), || keys(cms.clone())).await;
    assert_eq!(v, "2");
    cms.patch(
        "target",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"c": "3"}})),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(20), || async {
        (keys(cms.clone()).await.as_deref() == Some("3")).then_some(())
    })
    .await;
    task.abort();
}
