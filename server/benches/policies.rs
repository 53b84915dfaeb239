//! What ValidatingAdmissionPolicies add to a create.
//!
//! On the server's real types and storage (sled in a temp dir), with the
//! policy cache fed by its watch as in `trellis serve`: the admission step
//! (`Policies::admit`) for a ConfigMap create in a workspace with no
//! policy and in one with 10 matching policies (one binding each, one to
//! three validations of the kinds people write: sizes, label and name
//! checks, a regular expression, a variable, a messageExpression that only
//! runs on failure). The two are interleaved in one loop so drift in the
//! machine's load hits both; the report gives medians per call and the
//! difference divided by 10: what one matching policy costs a create.
//! Before timing, the bench checks that the policies run: a ConfigMap
//! breaking one of them is refused.
//!
//! Run: `cargo bench -p trellis-server --bench policies`
//! (`BENCH_ITERATIONS` changes the 20 000 rounds). `cargo test` (no
//! `--bench`) or `BENCH_QUICK=1` runs 500.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trellis_apis::rbac::UserInfo;
use trellis_server::policy::{Operation, Request};
use trellis_server::registry::store::WriteCtx;
use trellis_server::{AppState, ServerConfig};
use trellis_storage::{SledConfig, SledStorage, Storage};

const WITH: &str = "benchpolicies";
const WITHOUT: &str = "benchnone";
const POLICIES: usize = 10;

async fn create(state: &AppState, cluster: &str, group: &str, resource: &str, obj: Value) {
    let def = state
        .clusters
        .builtin_registry()
        .get(group, "v1", resource)
        .expect("built in")
        .clone();
    let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
    let ctx = WriteCtx::system(cluster, &def, ns.as_deref(), None, "bench");
    state
        .store
        .create(&ctx, obj, Vec::new())
        .await
        .expect("create");
}

/// The validations of policy `i`: each passes for [`object`].
fn validations(i: usize) -> Value {
    let all = [
        json!([{"expression": "size(object.data) <= 64", "message": "too many keys"}]),
        json!([{"expression": "object.metadata.name.matches('^[a-z][-a-z0-9]*$')"}]),
        json!([{"expression": "has(object.metadata.labels) && 'team' in object.metadata.labels",
                "messageExpression": "'no team label on ' + object.metadata.name"}]),
        json!([{"expression": "!has(object.data.password)"},
               {"expression": "object.data.all(k, size(object.data[k]) < 4096)"}]),
        json!([{"expression": "variables.team != 'banned'"}]),
        json!([{"expression": "request.operation != 'DELETE' || oldObject != null"}]),
        json!([{"expression": "object.metadata.name.size() <= 63"},
               {"expression": "!object.metadata.name.startsWith('tmp-')"},
               {"expression": "object.metadata.namespace == 'default'"}]),
        json!([{"expression": "!has(object.metadata.annotations) || !('forbidden' in object.metadata.annotations)"}]),
        json!([{"expression": "object.data.exists(k, k == 'config')"}]),
        json!([{"expression": "int(object.data.replicas) <= 5", "reason": "Forbidden"}]),
    ];
    all[i % all.len()].clone()
}

async fn populate(state: &AppState) {
    for cluster in [WITH, WITHOUT] {
        create(
            state,
            cluster,
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        )
        .await;
    }
    for i in 0..POLICIES {
        create(
            state,
            WITH,
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": format!("p{i}")},
                "spec": {
                    "matchConstraints": {"resourceRules": [{
                        "apiGroups": [""], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}]},
                    "variables": [{"name": "team", "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels ? object.metadata.labels.team : ''"}],
                    "validations": validations(i),
                }
            }),
        )
        .await;
        create(
            state,
            WITH,
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": format!("b{i}")},
                "spec": {"policyName": format!("p{i}"), "validationActions": ["Deny"]}
            }),
        )
        .await;
    }
}

fn object(replicas: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "app-config", "namespace": "default",
            "uid": "0d3c6f0e-8a53-4b8e-9a7e-6d1f4f1a2b3c",
            "creationTimestamp": "2026-12-07T00:00:00Z",
            "labels": {"team": "payments", "app": "checkout"},
            "annotations": {"owner": "payments@example.com"},
        },
        "data": {"config": "listen: 8080\nlog: info\n", "replicas": replicas,
                 "feature-a": "on", "feature-b": "off"},
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = common::env_or("BENCH_ITERATIONS", 20_000, 500);
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(storage, ServerConfig::default(), rx);
    populate(&state).await;
    state
        .store
        .policies
        .follow()
        .await
        .expect("follow policies");

    let registry = state.clusters.builtin_registry().clone();
    let def = registry.get("", "v1", "configmaps").unwrap().clone();
    let user = UserInfo::new("bench-user").with_groups(["system:authenticated"]);
    let good = object("3");
    let bad = object("7");
    let request = |cluster: &'static str, obj: &'static Value| Request {
        cluster,
        def: &def,
        registry: Some(&registry),
        operation: Operation::Create,
        subresource: "",
        namespace: "default",
        name: "app-config",
        object: Some(obj),
        old_object: None,
        user: &user,
        dry_run: false,
    };
    let good: &'static Value = Box::leak(Box::new(good));
    let bad: &'static Value = Box::leak(Box::new(bad));
    let policies = &state.store.policies;

    // The work really happens: one policy refuses a bad object, and the
    // good one passes all ten.
    let refused = policies
        .admit(&request(WITH, bad))
        .await
        .expect_err("replicas 7 is refused");
    let status = refused.status();
    assert_eq!(status.code, 403, "{}", status.message);
    assert!(
        status.message.contains("ValidatingAdmissionPolicy 'p9'"),
        "{}",
        status.message
    );
    policies
        .admit(&request(WITH, good))
        .await
        .expect("admitted");
    policies
        .admit(&request(WITHOUT, bad))
        .await
        .expect("no policy");

    let mut with = Vec::with_capacity(rounds);
    let mut without = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [WITH, WITHOUT]
        } else {
            [WITHOUT, WITH]
        };
        for cluster in order {
            let req = request(cluster, good);
            let start = Instant::now();
            let out = policies.admit(&req).await;
            let took = start.elapsed();
            out.expect("admitted");
            if cluster == WITH {
                with.push(took);
            } else {
                without.push(took);
            }
        }
    }
    let (w, wo) = (median(with), median(without));
    let per_policy = w.saturating_sub(wo).as_secs_f64() * 1e6 / POLICIES as f64;
    println!("rounds: {rounds}");
    println!(
        "admit, no policy in the workspace: median {:.2} µs",
        wo.as_secs_f64() * 1e6
    );
    println!(
        "admit, {POLICIES} matching policies: median {:.2} µs",
        w.as_secs_f64() * 1e6
    );
    println!("per matching policy: {per_policy:.2} µs (target under 20 µs)");
}
