//! The built-in resources every workspace serves: Namespaces, ConfigMaps,
//! Secrets, ServiceAccounts, Events (core and events.k8s.io), Leases and the
//! RBAC API (Roles, ClusterRoles and their bindings), ResourceQuotas and
//! LimitRanges, and admission configuration (ValidatingAdmissionPolicies and
//! their bindings, validating and mutating webhook configurations).
//!
//! Each is a [`ResourceDef`] whose strategy lives in its own module; the
//! schemas come from k8s-openapi (see [`crate::schemas`]).

pub mod admissionregistration;
pub mod configmap;
pub mod crd;
pub mod event;
pub mod lease;
pub mod namespace;
pub mod quota;
pub mod rbac;
pub mod review;
pub mod serviceaccount;
pub mod typed;

use std::sync::Arc;

use schemars::JsonSchema;
use trellis_storage::keys::Keyspace;

use crate::registry::resource::{ALL_VERBS, storage_version_hash};
use crate::registry::{Converter, Registry, ResourceDef, Strategy};
use crate::schemas::Definitions;

/// Built-in resources and their OpenAPI definitions.
pub struct Builtins {
    pub registry: Registry,
    pub definitions: Definitions,
}

struct Spec {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// Storage group/resource when it differs (events.k8s.io → core events).
    storage: Option<(&'static str, &'static str)>,
    status_subresource: bool,
    extra_subresources: &'static [&'static str],
    strategy: Arc<dyn Strategy>,
    converter: Option<Arc<dyn Converter>>,
}

fn def<T: JsonSchema>(defs: &mut Definitions, spec: Spec) -> ResourceDef {
    let openapi_name = defs.add::<T>();
    defs.set_gvk(&openapi_name, spec.group, spec.version, spec.kind);
    let (sg, sr) = spec.storage.unwrap_or((spec.group, spec.resource));
    ResourceDef {
        group: spec.group.into(),
        version: spec.version.into(),
        resource: spec.resource.into(),
        singular: spec.singular.into(),
        kind: spec.kind.into(),
        list_kind: format!("{}List", spec.kind),
        namespaced: spec.namespaced,
        short_names: spec.short_names.iter().map(|s| s.to_string()).collect(),
        categories: spec.categories.iter().map(|s| s.to_string()).collect(),
        verbs: spec.verbs.to_vec(),
        status_subresource: spec.status_subresource,
        scale: None,
        extra_subresources: spec.extra_subresources.to_vec(),
        keyspace: Keyspace::new(sg, sr, None).expect("built-in keyspaces are valid"),
        converter: spec.converter.map(crate::registry::Conversion::Local),
        strategy: spec.strategy,
        schema: Arc::new(trellis_apis::schema::Schema::default()),
        openapi_name,
        protobuf: true,
        strategic_merge: true,
        storage_version_hash: storage_version_hash(sg, "v1", spec.kind),
        terminating: false,
        deprecation: None,
        admission: None,
        bound: None,
        annotate_cluster: false,
    }
}

/// Builds the built-in registry.
pub fn builtins() -> Builtins {
    let mut defs = Definitions::new();
    let mut list = vec![
        def::<k8s_openapi::api::core::v1::Namespace>(
            &mut defs,
            Spec {
                group: "",
                version: "v1",
                resource: "namespaces",
                singular: "namespace",
                kind: "Namespace",
                namespaced: false,
                short_names: &["ns"],
                categories: &[],
                verbs: &[
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ],
                storage: None,
                status_subresource: true,
                extra_subresources: &["finalize"],
                strategy: Arc::new(namespace::NamespaceStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::core::v1::ConfigMap>(
            &mut defs,
            Spec {
                group: "",
                version: "v1",
                resource: "configmaps",
                singular: "configmap",
                kind: "ConfigMap",
                namespaced: true,
                short_names: &["cm"],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(configmap::ConfigMapStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::core::v1::Secret>(
            &mut defs,
            Spec {
                group: "",
                version: "v1",
                resource: "secrets",
                singular: "secret",
                kind: "Secret",
                namespaced: true,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(configmap::SecretStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::core::v1::ServiceAccount>(
            &mut defs,
            Spec {
                group: "",
                version: "v1",
                resource: "serviceaccounts",
                singular: "serviceaccount",
                kind: "ServiceAccount",
                namespaced: true,
                short_names: &["sa"],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &["token"],
                strategy: Arc::new(serviceaccount::ServiceAccountStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::core::v1::Event>(
            &mut defs,
            Spec {
                group: "",
                version: "v1",
                resource: "events",
                singular: "event",
                kind: "Event",
                namespaced: true,
                short_names: &["ev"],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(event::EventStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::events::v1::Event>(
            &mut defs,
            Spec {
                group: "events.k8s.io",
                version: "v1",
                resource: "events",
                singular: "event",
                kind: "Event",
                namespaced: true,
                short_names: &["ev"],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: Some(("", "events")),
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(event::EventsV1Strategy),
                converter: Some(Arc::new(event::EventsV1Converter)),
            },
        ),
        def::<k8s_openapi::api::coordination::v1::Lease>(
            &mut defs,
            Spec {
                group: "coordination.k8s.io",
                version: "v1",
                resource: "leases",
                singular: "lease",
                kind: "Lease",
                namespaced: true,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(lease::LeaseStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>(
            &mut defs,
            Spec {
                group: "apiextensions.k8s.io",
                version: "v1",
                resource: "customresourcedefinitions",
                singular: "customresourcedefinition",
                kind: "CustomResourceDefinition",
                namespaced: false,
                short_names: &["crd", "crds"],
                categories: &["api-extensions"],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: true,
                extra_subresources: &[],
                strategy: Arc::new(crd::CrdStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::core::v1::ResourceQuota>(
                &mut defs,
                Spec {
                    group: "",
                    version: "v1",
                    resource: "resourcequotas",
                    singular: "resourcequota",
                    kind: "ResourceQuota",
                    namespaced: true,
                    short_names: &["quota"],
                    categories: &[],
                    verbs: &ALL_VERBS,
                    storage: None,
                    status_subresource: true,
                    extra_subresources: &[],
                    strategy: Arc::new(quota::ResourceQuotaStrategy),
                    converter: None,
                },
            ),
        def::<k8s_openapi::api::core::v1::LimitRange>(
                &mut defs,
                Spec {
                    group: "",
                    version: "v1",
                    resource: "limitranges",
                    singular: "limitrange",
                    kind: "LimitRange",
                    namespaced: true,
                    short_names: &["limits"],
                    categories: &[],
                    verbs: &ALL_VERBS,
                    storage: None,
                    status_subresource: false,
                    extra_subresources: &[],
                    strategy: Arc::new(quota::LimitRangeStrategy),
                    converter: None,
                },
            ),
        def::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy>(
            &mut defs,
            Spec {
                group: crate::policy::GROUP,
                version: "v1",
                resource: crate::policy::POLICIES,
                singular: "validatingadmissionpolicy",
                kind: "ValidatingAdmissionPolicy",
                namespaced: false,
                short_names: &[],
                categories: &["api-extensions"],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: true,
                extra_subresources: &[],
                strategy: Arc::new(admissionregistration::PolicyStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>(
            &mut defs,
            Spec {
                group: crate::policy::GROUP,
                version: "v1",
                resource: crate::policy::BINDINGS,
                singular: "validatingadmissionpolicybinding",
                kind: "ValidatingAdmissionPolicyBinding",
                namespaced: false,
                short_names: &[],
                categories: &["api-extensions"],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(admissionregistration::BindingStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>(
            &mut defs,
            Spec {
                group: crate::policy::GROUP,
                version: "v1",
                resource: crate::webhook::VALIDATING,
                singular: "validatingwebhookconfiguration",
                kind: "ValidatingWebhookConfiguration",
                namespaced: false,
                short_names: &[],
                categories: &["api-extensions"],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(admissionregistration::WebhookConfigStrategy {
                    kind: crate::webhook::config::Kind::Validating,
                }),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>(
            &mut defs,
            Spec {
                group: crate::policy::GROUP,
                version: "v1",
                resource: crate::webhook::MUTATING,
                singular: "mutatingwebhookconfiguration",
                kind: "MutatingWebhookConfiguration",
                namespaced: false,
                short_names: &[],
                categories: &["api-extensions"],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(admissionregistration::WebhookConfigStrategy {
                    kind: crate::webhook::config::Kind::Mutating,
                }),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::rbac::v1::Role>(
            &mut defs,
            Spec {
                group: rbac::GROUP,
                version: "v1",
                resource: "roles",
                singular: "role",
                kind: "Role",
                namespaced: true,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(rbac::RoleStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::rbac::v1::ClusterRole>(
            &mut defs,
            Spec {
                group: rbac::GROUP,
                version: "v1",
                resource: "clusterroles",
                singular: "clusterrole",
                kind: "ClusterRole",
                namespaced: false,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(rbac::ClusterRoleStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::rbac::v1::RoleBinding>(
            &mut defs,
            Spec {
                group: rbac::GROUP,
                version: "v1",
                resource: "rolebindings",
                singular: "rolebinding",
                kind: "RoleBinding",
                namespaced: true,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(rbac::RoleBindingStrategy),
                converter: None,
            },
        ),
        def::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(
            &mut defs,
            Spec {
                group: rbac::GROUP,
                version: "v1",
                resource: "clusterrolebindings",
                singular: "clusterrolebinding",
                kind: "ClusterRoleBinding",
                namespaced: false,
                short_names: &[],
                categories: &[],
                verbs: &ALL_VERBS,
                storage: None,
                status_subresource: false,
                extra_subresources: &[],
                strategy: Arc::new(rbac::ClusterRoleBindingStrategy),
                converter: None,
            },
        ),
        ResourceDef {
            admission: Some(Arc::new(crate::certificates::strategy::CsrAdmission)),
            ..def::<k8s_openapi::api::certificates::v1::CertificateSigningRequest>(
                &mut defs,
                Spec {
                    group: crate::certificates::GROUP,
                    version: "v1",
                    resource: crate::certificates::RESOURCE,
                    singular: "certificatesigningrequest",
                    kind: "CertificateSigningRequest",
                    namespaced: false,
                    short_names: &["csr"],
                    categories: &[],
                    verbs: &ALL_VERBS,
                    storage: None,
                    status_subresource: true,
                    extra_subresources: &["approval"],
                    strategy: Arc::new(crate::certificates::strategy::CsrStrategy),
                    converter: None,
                },
            )
        },
    ];
    // Writes to RBAC objects must not grant more than the writer holds.
    for d in list.iter_mut() {
        let resource = match d.resource.as_str() {
            _ if d.group != rbac::GROUP => continue,
            "roles" => "roles",
            "clusterroles" => "clusterroles",
            "rolebindings" => "rolebindings",
            _ => "clusterrolebindings",
        };
        d.admission = Some(Arc::new(crate::authz::escalation::EscalationCheck {
            resource,
        }));
    }
    // A CRD may not take a group/resource a binding serves.
    for d in list.iter_mut() {
        if d.group == "apiextensions.k8s.io" {
            d.admission = Some(Arc::new(crd::NoOverlapWithBindings));
        }
    }
    // Served, never stored: see `review`.
    list.extend(review::defs(&mut defs));
    defs.add_operation_types();
    defs.apply_overlay();
    let mut registry = Registry::default();
    for d in list.iter_mut() {
        d.schema = Arc::new(defs.structural(&d.openapi_name));
    }
    for d in list {
        registry.add(d);
    }
    let (tenancy, definitions) = crate::tenancy::resources(&defs);
    defs.schemas.extend(definitions);
    for d in tenancy {
        registry.add(d);
    }
    let (sharing, definitions) = crate::sharing::resources(&defs);
    defs.schemas.extend(definitions);
    for d in sharing {
        registry.add(d);
    }
    Builtins {
        registry,
        definitions: defs,
    }
}
