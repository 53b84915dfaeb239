//! What one local admission webhook call costs a write: `cargo bench -p
//! trellis --bench webhooks` (`BENCH_WEBHOOK_CREATES`, default 2000 per
//! series). `cargo test` (no `--bench`) or `BENCH_QUICK=1` runs 100.
//!
//! One client creates ConfigMaps one after another in three interleaved
//! series: matched by no webhook, by one validating webhook, and by one
//! mutating and one validating webhook (tests/common/webhook.rs, HTTPS on
//! loopback, answering in process). The latency of each create is
//! measured at the client; the difference between series' medians is
//! what the calls add. Every create's outcome is checked (the mutating
//! series must come back labelled).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

use common::Server;
use common::bench;
use common::webhook::Webhook;

fn config(kind: &str, name: &str, label: &str, url: &str, ca: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [{
            "name": format!("{name}.bench.example.com"),
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "objectSelector": {"matchLabels": {label: "on"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            "clientConfig": {"url": url, "caBundle": ca},
        }],
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n: usize = if bench::quick() {
        100
    } else {
        std::env::var("BENCH_WEBHOOK_CREATES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000)
    };
    let hook = Webhook::start();
    let server = Server::start_with_env(
        "bench_webhooks",
        &["--admission-webhook-allowed-networks", "127.0.0.1"],
        &[("RUST_LOG", "warn")],
    );
    println!("## Admission webhook calls (`cargo bench -p trellis --bench webhooks`)\n");
    println!(
        "Machine: {}. One client, {n} sequential ConfigMap creates per series, interleaved.\n",
        bench::machine()
    );
    rt.block_on(async {
        let client = server.client().await;
        for (kind, plural, name, label, path) in [
            (
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
                "validate",
                "v",
                "/deny-blue",
            ),
            (
                "MutatingWebhookConfiguration",
                "mutatingwebhookconfigurations",
                "mutate",
                "m",
                "/add-label",
            ),
        ] {
            let body = config(
                kind,
                name,
                label,
                &format!("{}{path}", hook.url),
                &hook.ca_bundle,
            );
            let req = http::Request::post(format!(
                "/apis/admissionregistration.k8s.io/v1/{plural}"
            ))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
            let created: serde_json::Value = client.request(req).await.expect("webhook configuration");
            assert_eq!(created["kind"], kind);
        }
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let series: [(&str, &[&str]); 3] = [
            ("no webhook", &[]),
            ("1 validating webhook", &["v"]),
            ("1 mutating + 1 validating webhook", &["v", "m"]),
        ];
        let mut times: Vec<Vec<u64>> = vec![Vec::with_capacity(n); series.len()];
        for i in 0..n {
            for (s, (_, labels)) in series.iter().enumerate() {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(format!("cm-{s}-{i}")),
                        labels: Some(
                            labels
                                .iter()
                                .map(|l| (l.to_string(), "on".to_string()))
                                .collect(),
                        ),
                        ..Default::default()
                    },
                    data: Some([("color".to_string(), "green".to_string())].into()),
                    ..Default::default()
                };
                let started = Instant::now();
                let out = api.create(&PostParams::default(), &cm).await.expect("create");
                times[s].push(started.elapsed().as_micros() as u64);
                let mutated = out
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("mutated"))
                    .is_some();
                assert_eq!(mutated, labels.contains(&"m"), "series {s}");
            }
        }
        println!("| series | p50 (µs) | p99 (µs) |\n|---|---|---|");
        let mut p50s = Vec::new();
        for (s, (name, _)) in series.iter().enumerate() {
            times[s].sort_unstable();
            let p50 = bench::percentile(&times[s], 0.5);
            let p99 = bench::percentile(&times[s], 0.99);
            p50s.push(p50);
            println!("| {name} | {p50} | {p99} |");
        }
        println!(
            "\nAdded at the median by one validating webhook call: {} µs; by a mutating and a validating call: {} µs.",
            p50s[1].saturating_sub(p50s[0]),
            p50s[2].saturating_sub(p50s[0])
        );
        let received = hook.received("/deny-blue").len();
        assert_eq!(received, 2 * n, "every labelled create was reviewed");
    });
}
