//! Micro-benchmark of `PolicyIndex::authorize` on a workspace with 1,000
//! RoleBindings (10 in each of 100 namespaces) and ~50 ClusterRoleBindings,
//! on top of the bootstrap policy.
//!
//! Run: `cargo bench -p trellis-apis --bench rbac`. Prints the index build
//! time and µs per `authorize` call for allowed and denied requests, then
//! the same decisions on workspaces with 100, 1,000 and 10,000
//! RoleBindings, to show whether the cost grows with the bindings.
//!
//! `cargo test` (no `--bench`) or `BENCH_QUICK=1` runs a quick smoke
//! version: fewer iterations and no 10,000-binding workspace.

use std::hint::black_box;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use trellis_apis::rbac::{
    ALL_AUTHENTICATED, Attributes, PolicyIndex, UserInfo, bootstrap, new_rule,
    service_account_groups, service_account_username,
};

const NAMESPACES: usize = 100;
const BINDINGS_PER_NAMESPACE: usize = 10;
const EXTRA_CLUSTER_BINDINGS: usize = 45;

/// A quick smoke run: `BENCH_QUICK` is set, or the binary was not started
/// by `cargo bench` (which passes `--bench`), e.g. by `cargo test`.
fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some() || !std::env::args().any(|a| a == "--bench")
}

fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(Into::into),
        ..Default::default()
    }
}

fn subject(kind: &str, name: &str, ns: Option<&str>) -> Subject {
    Subject {
        api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".into()),
        kind: kind.into(),
        name: name.into(),
        namespace: ns.map(Into::into),
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

struct Policy {
    roles: Vec<Role>,
    cluster_roles: Vec<ClusterRole>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

/// The policy of a workspace with `namespaces` namespaces of
/// [`BINDINGS_PER_NAMESPACE`] RoleBindings each.
fn policy(namespaces: usize) -> Policy {
    let mut roles = Vec::new();
    let mut role_bindings = Vec::new();
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        roles.push(Role {
            metadata: meta(Some(&ns), "lease-holder"),
            rules: Some(vec![
                new_rule(&["get", "update"])
                    .groups(&["coordination.k8s.io"])
                    .resources(&["leases"])
                    .names(&["leader"])
                    .build(),
                new_rule(&["create"])
                    .groups(&["coordination.k8s.io"])
                    .resources(&["leases"])
                    .build(),
            ]),
        });
        for b in 0..BINDINGS_PER_NAMESPACE {
            let (kind, role, subjects) = match b % 5 {
                0 => (
                    "ClusterRole",
                    "edit",
                    vec![subject("User", &format!("user-{n}-{b}"), None)],
                ),
                1 => (
                    "ClusterRole",
                    "view",
                    vec![subject("Group", &format!("team-{n}"), None)],
                ),
                2 => (
                    "Role",
                    "lease-holder",
                    vec![subject("ServiceAccount", &format!("sa-{b}"), None)],
                ),
                3 => (
                    "ClusterRole",
                    "admin",
                    vec![
                        subject("User", &format!("owner-{n}"), None),
                        subject("Group", &format!("admins-{n}"), None),
                    ],
                ),
                _ => (
                    "ClusterRole",
                    "view",
                    vec![subject(
                        "Group",
                        &format!("system:serviceaccounts:ns-{}", (n + 1) % namespaces),
                        None,
                    )],
                ),
            };
            role_bindings.push(RoleBinding {
                metadata: meta(Some(&ns), &format!("binding-{b}")),
                role_ref: role_ref(kind, role),
                subjects: Some(subjects),
            });
        }
    }

    let mut cluster_roles = bootstrap::cluster_roles();
    let mut cluster_role_bindings = bootstrap::cluster_role_bindings();
    for i in 0..EXTRA_CLUSTER_BINDINGS {
        let name = format!("crd-{i}-reader");
        cluster_roles.push(ClusterRole {
            metadata: meta(None, &name),
            rules: Some(vec![
                new_rule(&["get", "list", "watch"])
                    .groups(&[&format!("group{i}.example.com")])
                    .resources(&["widgets", "widgets/status"])
                    .build(),
            ]),
            aggregation_rule: None,
        });
        // Every fifth one applies to every authenticated user, so denials
        // have cluster-wide rules to scan too.
        let who = if i % 5 == 0 {
            subject("Group", ALL_AUTHENTICATED, None)
        } else {
            subject("User", &format!("operator-{i}"), None)
        };
        cluster_role_bindings.push(ClusterRoleBinding {
            metadata: meta(None, &name),
            role_ref: role_ref("ClusterRole", &name),
            subjects: Some(vec![who]),
        });
    }
    Policy {
        roles,
        cluster_roles,
        role_bindings,
        cluster_role_bindings,
    }
}

fn time_per_op(iterations: u32, mut f: impl FnMut()) -> Duration {
    // Warm up caches and branch predictors first.
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn report(label: &str, per_op: Duration) {
    println!("{label:<58} {:>8.3} µs/op", per_op.as_secs_f64() * 1e6);
}

fn main() {
    let quick = quick();
    // Iterations per decision measurement.
    let decisions: u32 = if quick { 10_000 } else { 1_000_000 };
    let p = policy(NAMESPACES);
    println!(
        "policy: {} RoleBindings, {} ClusterRoleBindings, {} Roles, {} ClusterRoles",
        p.role_bindings.len(),
        p.cluster_role_bindings.len(),
        p.roles.len(),
        p.cluster_roles.len()
    );

    let build = time_per_op(if quick { 2 } else { 20 }, || {
        black_box(PolicyIndex::build(
            &p.roles,
            &p.cluster_roles,
            &p.role_bindings,
            &p.cluster_role_bindings,
        ));
    });
    println!(
        "{:<58} {:>8.3} ms",
        "PolicyIndex::build",
        build.as_secs_f64() * 1e3
    );
    let index = PolicyIndex::build(
        &p.roles,
        &p.cluster_roles,
        &p.role_bindings,
        &p.cluster_role_bindings,
    );

    let groups = |extra: &[&str]| {
        let mut g: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        g.push(ALL_AUTHENTICATED.into());
        g
    };
    let editor = UserInfo {
        name: "user-42-5".into(),
        groups: groups(&["team-42"]),
        ..Default::default()
    };
    let mut sa = UserInfo::new(service_account_username("ns-42", "sa-2"));
    sa.groups = service_account_groups("ns-42").to_vec();
    sa.groups.push(ALL_AUTHENTICATED.into());
    let busy = UserInfo {
        name: "owner-7".into(),
        groups: (0..20)
            .map(|i| format!("team-{i}"))
            .chain([ALL_AUTHENTICATED.to_string()])
            .collect(),
        ..Default::default()
    };
    let root = UserInfo::new("root").with_groups(["system:masters", ALL_AUTHENTICATED]);

    let res =
        |u: &UserInfo, verb: &str, ns: &str, group: &str, resource: &str, sub: &str, name: &str| {
            Attributes::resource(u.clone(), verb, ns, group, "v1", resource, sub, name)
        };
    let cases: Vec<(&str, Attributes, bool)> = vec![
        (
            "allowed: edit via RoleBinding (get configmaps)",
            res(&editor, "get", "ns-42", "", "configmaps", "", "cm"),
            true,
        ),
        (
            "allowed: SA via Role with resourceNames (update lease)",
            res(
                &sa,
                "update",
                "ns-42",
                "coordination.k8s.io",
                "leases",
                "",
                "leader",
            ),
            true,
        ),
        (
            "allowed: cluster-admin via system:masters",
            res(&root, "delete", "ns-3", "", "secrets", "", "s"),
            true,
        ),
        (
            "allowed: non-resource /apis via system:discovery",
            Attributes::non_resource(editor.clone(), "get", "/apis/apps/v1"),
            true,
        ),
        (
            "denied: edit cannot create rolebindings",
            res(
                &editor,
                "create",
                "ns-42",
                "rbac.authorization.k8s.io",
                "rolebindings",
                "",
                "",
            ),
            false,
        ),
        (
            "denied: no bindings in that namespace",
            res(&editor, "list", "ns-43", "", "configmaps", "", ""),
            false,
        ),
        (
            "denied: admin + 21 groups, cluster-scoped CRD delete",
            res(
                &busy,
                "delete",
                "",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                "x",
            ),
            false,
        ),
    ];

    for (label, attrs, expect) in &cases {
        let decision = index.authorize(attrs);
        assert_eq!(decision.is_allowed(), *expect, "{label}: {decision:?}");
        let per_op = time_per_op(decisions, || {
            black_box(index.authorize(black_box(attrs)));
        });
        report(label, per_op);
    }

    let rules = time_per_op(decisions / 100, || {
        black_box(index.rules_review(black_box(&editor), "ns-42"));
    });
    report(
        "rules_review (SelfSubjectRulesReview), editor in ns-42",
        rules,
    );

    scaling(quick, decisions);
}

/// The same decisions on workspaces of growing size: does the cost grow
/// with the number of bindings? The user is bound in a namespace in the
/// middle of the workspace; the refused requests are in a namespace where
/// it has no binding, and cluster-wide for a user in 21 groups.
fn scaling(quick: bool, decisions: u32) {
    let sizes: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1_000] };
    println!(
        "\n| RoleBindings | index build | allowed (edit via RoleBinding) | refused (no binding in the namespace) | refused (21 groups, cluster-scoped) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for &namespaces in sizes {
        let p = policy(namespaces);
        let start = Instant::now();
        let index = PolicyIndex::build(
            &p.roles,
            &p.cluster_roles,
            &p.role_bindings,
            &p.cluster_role_bindings,
        );
        let build = start.elapsed();
        let k = namespaces / 2;
        let editor = UserInfo {
            name: format!("user-{k}-5"),
            groups: vec![format!("team-{k}"), ALL_AUTHENTICATED.into()],
            ..Default::default()
        };
        let busy = UserInfo {
            name: format!("owner-{k}"),
            groups: (0..20)
                .map(|i| format!("team-{}", i * namespaces / 20))
                .chain([ALL_AUTHENTICATED.to_string()])
                .collect(),
            ..Default::default()
        };
        let ns = format!("ns-{k}");
        let other = format!("ns-{}", k + 1);
        let cases = [
            (
                Attributes::resource(editor.clone(), "get", &ns, "", "v1", "configmaps", "", "cm"),
                true,
            ),
            (
                Attributes::resource(editor, "list", &other, "", "v1", "configmaps", "", ""),
                false,
            ),
            (
                Attributes::resource(
                    busy,
                    "delete",
                    "",
                    "apiextensions.k8s.io",
                    "v1",
                    "customresourcedefinitions",
                    "",
                    "x",
                ),
                false,
            ),
        ];
        let mut cells = Vec::new();
        for (attrs, expect) in &cases {
            let decision = index.authorize(attrs);
            assert_eq!(
                decision.is_allowed(),
                *expect,
                "{namespaces} namespaces: {decision:?}"
            );
            let per_op = time_per_op(decisions, || {
                black_box(index.authorize(black_box(attrs)));
            });
            cells.push(format!("{:.3} µs", per_op.as_secs_f64() * 1e6));
        }
        println!(
            "| {} | {:.2} ms | {} |",
            p.role_bindings.len(),
            build.as_secs_f64() * 1e3,
            cells.join(" | ")
        );
    }
}
