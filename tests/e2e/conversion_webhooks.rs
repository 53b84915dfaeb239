//! CRD conversion webhooks end to end, with kubectl 1.33 and kube-rs
//! against the test webhook (tests/common/webhook.rs), which converts
//! Gadgets between `example.io/v1` (`spec.color`, the storage version) and
//! `example.io/v2` (`spec.paint.color`): writes through v2 are stored as
//! v1, reads, lists and watches through v2 are converted (a list in one
//! review), reads of the storage version call nobody; every broken answer
//! is kube's 500 with kube's message and nothing is stored; the egress
//! policy applies; and a provider's APIResourceSchema converts its
//! consumers' objects the same way.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;

use crate::common::eventually_sync;
use crate::common::users::{As, bind_export, bind_permission, create_workspace, start_with_users};
use crate::common::webhook::Webhook;

const TOKENS: &str = "\
team-token,team,uid-team,system:kcp:workspace-creators
provider-token,provider,uid-provider,system:kcp:workspace-creators
consumer-token,consumer,uid-consumer,\"consumers,system:kcp:workspace-creators\"
";

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The two versions, as a CRD (`wrap`: under `openAPIV3Schema`) and an
/// APIResourceSchema write them, indented for `spec.versions`.
fn versions(wrap: bool) -> String {
    let v = |name: &str, storage: bool, spec: &str| {
        let mut schema = format!(
            "type: object\nproperties:\n  spec:\n    type: object\n    properties:\n{}",
            indent(spec, "      ")
        );
        if wrap {
            schema = format!("openAPIV3Schema:\n{}", indent(&schema, "  "));
        }
        format!(
            "- name: {name}\n  served: true\n  storage: {storage}\n  schema:\n{}",
            indent(&schema, "    ")
        )
    };
    let v1 = v("v1", true, "color: {type: string}");
    // A CRD's v2 may select on its paint (APIResourceSchemas have no
    // selectable fields).
    let selectable = if wrap {
        "  selectableFields:\n  - jsonPath: .spec.paint.color\n"
    } else {
        ""
    };
    let v2 = v(
        "v2",
        false,
        "paint:\n  type: object\n  properties:\n    color: {type: string}",
    );
    indent(&format!("{v1}{v2}{selectable}"), "  ")
}

fn crd(url: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.io
spec:
  group: example.io
  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: "{url}"
        caBundle: "{ca}"
  versions:
{}"#,
        versions(true)
    )
}

fn gadget_v2(name: &str, color: &str) -> String {
    format!(
        "apiVersion: example.io/v2\nkind: Gadget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  paint:\n    color: {color}\n"
    )
}

fn gadget_v1(name: &str, color: &str) -> String {
    format!(
        "apiVersion: example.io/v1\nkind: Gadget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  color: {color}\n"
    )
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `kubectl get <resource> <name> -o json` as `who`, parsed.
fn get(who: &As<'_>, resource: &str, name: &str) -> Value {
    json_of(&who.ok(&["get", resource, name, "-n", "default", "-o", "json"]))
}

/// Points the definition's webhook at `path` and waits until reads
/// through v2 show the new webhook's answer (`expect` in kubectl's error
/// output, or success when `None`).
fn switch(who: &As<'_>, hook: &Webhook, path: &str, expect: Option<&str>) {
    who.ok(&[
        "patch",
        "crd",
        "gadgets.example.io",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"spec":{{"conversion":{{"webhook":{{"clientConfig":{{"url":"{}{path}"}}}}}}}}}}"#,
            hook.url
        ),
    ]);
    eventually_sync(Duration::from_secs(20), || {
        let o = who.run(
            None,
            &[
                "get",
                "gadgets.v2.example.io",
                "g1",
                "-n",
                "default",
                "-o",
                "json",
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        match expect {
            None => o.status.success().then_some(()),
            Some(e) => err.contains(e).then_some(()),
        }
    });
}

#[test]
fn a_two_version_crd_converts_through_its_webhook() {
    let hook = Webhook::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = start_with_users(
        "conversion_webhooks",
        &dir,
        TOKENS,
        &["--admission-webhook-allowed-networks", "127.0.0.1/32"],
    );
    create_workspace(&s, "team-token", "team");
    let team = s.as_user(Some("team-token"), "root:team");
    team.apply(&crd(&format!("{}/convert", hook.url), &hook.ca_bundle));
    team.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gadgets.example.io",
        "--timeout=30s",
    ]);
    eventually_sync(Duration::from_secs(20), || {
        team.run(None, &["get", "gadgets.v2.example.io", "-A"])
            .status
            .success()
            .then_some(())
    });

    // Written through v2, stored as v1: the webhook was asked for v1, and
    // reading v1 back asks it nothing.
    team.apply(&gadget_v2("g1", "red"));
    let written = hook.received("/convert").len();
    let v1 = get(&team, "gadgets.v1.example.io", "g1");
    assert_eq!(
        hook.received("/convert").len(),
        written,
        "a read of the storage version called the webhook"
    );
    assert_eq!(v1["apiVersion"], "example.io/v1");
    assert_eq!(v1["spec"], serde_json::json!({"color": "red"}), "{v1}");
    let v2 = get(&team, "gadgets.v2.example.io", "g1");
    assert_eq!(v2["apiVersion"], "example.io/v2");
    assert_eq!(
        v2["spec"],
        serde_json::json!({"paint": {"color": "red"}}),
        "{v2}"
    );
    assert_eq!(v2["metadata"]["uid"], v1["metadata"]["uid"]);
    let reviews = hook.received("/convert");
    let to_v1 = reviews
        .iter()
        .find(|r| r["request"]["desiredAPIVersion"] == "example.io/v1")
        .expect("a review converting the write to the storage version");
    assert_eq!(to_v1["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(to_v1["kind"], "ConversionReview");
    assert!(
        to_v1["request"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    assert_eq!(
        to_v1["request"]["objects"][0]["spec"]["paint"]["color"],
        "red"
    );

    // Reads of the storage version call nobody.
    let before = hook.received("/convert").len();
    team.apply(&gadget_v1("g2", "green"));
    team.apply(&gadget_v1("g3", "blue"));
    get(&team, "gadgets.v1.example.io", "g2");
    assert_eq!(hook.received("/convert").len(), before);

    // A list through v2: one review with every object.
    let list = json_of(&team.ok(&[
        "get",
        "gadgets.v2.example.io",
        "-n",
        "default",
        "-o",
        "json",
    ]));
    let colors: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["spec"]["paint"]["color"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(colors, ["red", "green", "blue"], "{list}");
    let reviews = hook.received("/convert");
    assert_eq!(reviews.len(), before + 1, "one review for the list");
    assert_eq!(
        reviews[before]["request"]["objects"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Updated through v2 (a merge patch, kubectl), seen through v1.
    team.ok(&[
        "patch",
        "gadgets.v2.example.io",
        "g1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"paint":{"color":"purple"}}}"#,
    ]);
    assert_eq!(
        get(&team, "gadgets.v1.example.io", "g1")["spec"]["color"],
        "purple"
    );

    // kube-rs: a watch through v2 sees converted objects, and a change
    // made through v1 arrives converted.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = s.client_in("root:team", Some("team-token")).await;
        let ar = ApiResource {
            group: "example.io".into(),
            version: "v2".into(),
            api_version: "example.io/v2".into(),
            kind: "Gadget".into(),
            plural: "gadgets".into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
        let list = api.list(&Default::default()).await.expect("list v2");
        let rv = list.metadata.resource_version.clone().unwrap();
        assert_eq!(list.items.len(), 3);
        let mut events = api
            .watch(&WatchParams::default().timeout(20), &rv)
            .await
            .expect("watch v2")
            .boxed();
        let o = team.run(
            None,
            &[
                "patch",
                "gadgets.v1.example.io",
                "g2",
                "-n",
                "default",
                "--type=merge",
                "-p",
                r#"{"spec":{"color":"yellow"}}"#,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let obj = loop {
            let event = tokio::time::timeout(Duration::from_secs(20), events.next())
                .await
                .expect("an event")
                .expect("a stream item")
                .expect("a watch event");
            match event {
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Modified(obj) => break obj,
                other => panic!("not a modification: {other:?}"),
            }
        };
        assert_eq!(obj.metadata.name.as_deref(), Some("g2"));
        assert_eq!(
            obj.types.as_ref().map(|t| t.api_version.as_str()),
            Some("example.io/v2")
        );
        assert_eq!(
            obj.data["spec"]["paint"]["color"], "yellow",
            "{:?}",
            obj.data
        );
    });

    // A webhook that refuses: kube's 500 with its message; the storage
    // version still reads; a write through v2 stores nothing.
    let failed =
        "conversion webhook for example.io/v1, Kind=Gadget failed: cannot convert gadgets today";
    switch(&team, &hook, "/convert-fail", Some(failed));
    let err = team.err(&["get", "gadgets.v2.example.io", "g1", "-n", "default"]);
    assert!(
        err.contains(&format!(
            "Error from server (InternalError): Internal error occurred: {failed}"
        )),
        "{err}"
    );
    let err = team.err(&["get", "gadgets.v2.example.io", "-n", "default"]);
    assert!(err.contains(failed), "{err}");
    get(&team, "gadgets.v1.example.io", "g1");
    let o = team.create(&gadget_v2("g4", "black"));
    assert!(!o.status.success(), "a write through a failing webhook");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "conversion webhook for example.io/v2, Kind=Gadget failed: cannot convert gadgets today"
        ),
        "{err}"
    );
    let err = team.err(&["get", "gadgets.v1.example.io", "g4", "-n", "default"]);
    assert!(err.contains("(NotFound)"), "{err}");

    // Answers that break kube's rules.
    switch(
        &team,
        &hook,
        "/convert-rename",
        Some(
            "conversion webhook for example.io/v1, Kind=Gadget returned invalid object: must have the same name: g1 != renamed",
        ),
    );
    switch(
        &team,
        &hook,
        "/convert-uid",
        Some("conversion webhook for example.io/v1, Kind=Gadget failed: expected response.uid="),
    );
    // Not a webhook at all (the admission paths answer 404).
    switch(
        &team,
        &hook,
        "/nothing",
        Some(
            "conversion webhook for example.io/v1, Kind=Gadget failed: the server responded with the status code 404",
        ),
    );
    // A list under a renaming webhook: kube numbers the items from 1.
    switch(
        &team,
        &hook,
        "/convert-rename",
        Some("returned invalid object: must have the same name"),
    );
    let err = team.err(&["get", "gadgets.v2.example.io", "-n", "default"]);
    assert!(
        err.contains("conversion webhook for example.io/v1, Kind=Gadget returned invalid converted object at index 1: must have the same name: g1 != renamed"),
        "{err}"
    );
    // Field selectors beyond identity cannot be matched on the stored
    // form of a converted version: refused rather than answered wrong.
    let err = team.err(&[
        "get",
        "gadgets.v2.example.io",
        "-n",
        "default",
        "--field-selector=spec.paint.color=red",
    ]);
    assert!(
        err.contains("field label not supported: spec.paint.color: example.io/v2 Gadget is converted by a webhook"),
        "{err}"
    );

    // The egress policy: 127.0.0.2 is not among the allowed networks.
    let port = hook.addr.port();
    team.ok(&[
        "patch",
        "crd",
        "gadgets.example.io",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"spec":{{"conversion":{{"webhook":{{"clientConfig":{{"url":"https://127.0.0.2:{port}/convert"}}}}}}}}}}"#
        ),
    ]);
    eventually_sync(Duration::from_secs(20), || {
        let err = team
            .run(
                None,
                &["get", "gadgets.v2.example.io", "g1", "-n", "default"],
            )
            .stderr;
        String::from_utf8_lossy(&err)
            .contains("is not allowed by the server's webhook egress policy")
            .then_some(())
    });

    // A definition whose webhook cannot be called does not hold a
    // restart: the server comes back on the same data, the storage
    // version reads, the converted version still gives the reason.
    s.restart();
    let team = s.as_user(Some("team-token"), "root:team");
    assert_eq!(
        get(&team, "gadgets.v1.example.io", "g1")["spec"]["color"],
        "purple"
    );
    let err = team.err(&["get", "gadgets.v2.example.io", "g1", "-n", "default"]);
    assert!(
        err.contains("is not allowed by the server's webhook egress policy"),
        "{err}"
    );

    // Back to a working webhook: everything reads again.
    switch(&team, &hook, "/convert", None);
    assert_eq!(
        get(&team, "gadgets.v2.example.io", "g3")["spec"]["paint"]["color"],
        "blue"
    );
}

#[test]
fn a_providers_schema_converts_its_consumers_objects() {
    let hook = Webhook::start();
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users(
        "conversion_webhooks_bound",
        &dir,
        TOKENS,
        &["--admission-webhook-allowed-networks", "127.0.0.1/32"],
    );
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "consumer-token", "consumer");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    provider.apply(&format!(
        r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: today.gadgets.example.io
spec:
  group: example.io
  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: "{}/convert"
        caBundle: "{}"
  versions:
{}---
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: gadgets
spec:
  resources:
  - name: gadgets
    group: example.io
    schema: today.gadgets.example.io
    storage:
      crd: {{}}
"#,
        hook.url,
        hook.ca_bundle,
        versions(false)
    ));
    provider.apply(&bind_permission("gadgets"));
    bind_export(
        &consumer,
        "root:provider",
        "gadgets",
        "gadgets.v2.example.io",
    );
    consumer.apply(&gadget_v2("g1", "red"));
    assert_eq!(
        get(&consumer, "gadgets.v1.example.io", "g1")["spec"]["color"],
        "red"
    );
    assert_eq!(
        get(&consumer, "gadgets.v2.example.io", "g1")["spec"]["paint"]["color"],
        "red"
    );
    assert!(
        hook.received("/convert")
            .iter()
            .any(|r| r["request"]["desiredAPIVersion"] == "example.io/v1"),
        "the provider's webhook converted the consumer's write"
    );
}
