//! API sharing: kcp's `apis.kcp.io` types — APIResourceSchema,
//! APIExport, APIBinding and APIExportEndpointSlice — served in every
//! logical cluster.
//!
//! As for the tenancy types, the API is declared as CRDs (`crds.yaml`,
//! faithful to kcp's generated CRDs) and served through the custom
//! resource machinery, so validation, pruning, defaulting, CEL rules,
//! printer columns, OpenAPI and `kubectl explain` behave exactly as for
//! any CRD. What the machinery cannot express is layered on top:
//!
//! * [`Hooks`] with each type's extra rules ([`apiresourceschema`]'s name
//!   and CRD-like schema validation, [`apibinding`]'s claim selectors and
//!   phase);
//! * real conversion between `v1alpha1` and `v1alpha2` of APIExport and
//!   APIBinding ([`conversion`], with the pure functions in
//!   `trellis_apis::kcp`), where a CRD's `None` strategy would only
//!   rewrite `apiVersion`. `v1alpha2` is stored, so stored objects never
//!   depend on the version a client used.
//!
//! Status is server-owned everywhere (the status subresource). Nothing
//! here looks at other objects: binding, identities, endpoint slices'
//! URLs, permission claims and serving bound resources are controllers'
//! and the registry's work, built on these types (see each module for its
//! extension points). References to exports — an APIBinding's, an
//! APIExportEndpointSlice's (immutable through CEL) — need `bind` on the
//! export when created ([`bind`]).

pub mod apibinding;
pub mod apiexport;
pub mod apiresourceschema;
pub mod bind;
pub mod bound;
pub mod conversion;
pub mod keys;
pub mod system;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::custom::api::CustomApi;
use crate::custom::defs;
use crate::registry::ResourceDef;
use crate::registry::hooked::{Hooked, Hooks};
use crate::schemas::Definitions;

pub use trellis_apis::kcp::GROUP;

const CRDS: &str = include_str!("crds.yaml");

/// The CRDs this module serves, parsed (for tests and tools).
pub fn crds() -> Vec<Value> {
    serde_yaml::Deserializer::from_str(CRDS)
        .map(|doc| Value::deserialize(doc).expect("apis.kcp.io CRDs are valid YAML"))
        .collect()
}

/// The `apis.kcp.io` resources and their OpenAPI definitions, to be served
/// in every cluster.
pub fn resources(builtin: &Definitions) -> (Vec<ResourceDef>, Vec<(String, Value)>) {
    let mut defs_out = Vec::new();
    let mut definitions = Vec::new();
    for mut crd in crds() {
        // Built-in names need no acceptance.
        crd["status"] = serde_json::json!({"acceptedNames": crd["spec"]["names"].clone()});
        let api = CustomApi::from_crd(&crd).expect("apis.kcp.io CRDs are complete");
        let built =
            defs::build(&api, builtin, &Default::default()).expect("apis.kcp.io CRDs compile");
        let storage = api
            .storage_version()
            .expect("a storage version")
            .to_string();
        let (hooks, conv): (Arc<dyn Hooks>, _) = match api.names.plural.as_str() {
            "apiresourceschemas" => (Arc::new(apiresourceschema::SchemaHooks), None),
            "apibindings" => (
                Arc::new(apibinding::BindingHooks),
                Some(apibinding::CONVERSION),
            ),
            "apiexports" => (
                Arc::new(apiexport::ExportHooks),
                Some(apiexport::CONVERSION),
            ),
            _ => (Arc::new(NoHooks), None),
        };
        let stored_strategy = built
            .defs
            .iter()
            .find(|d| d.version == storage)
            .map(|d| d.strategy.clone())
            .expect("the storage version is served");
        for mut d in built.defs {
            if let Some(c) = conv
                && d.version != storage
            {
                conversion::apply(&mut d, c, stored_strategy.clone());
            }
            d.strategy = Arc::new(Hooked {
                base: d.strategy.clone(),
                hooks: hooks.clone(),
            });
            match api.names.plural.as_str() {
                "apibindings" => d.admission = Some(Arc::new(apibinding::BindingAdmission)),
                "apiexportendpointslices" => d.admission = Some(Arc::new(SliceAdmission)),
                _ => {}
            }
            defs_out.push(d);
        }
        definitions.extend(built.definitions);
    }
    (defs_out, definitions)
}

struct NoHooks;
impl Hooks for NoHooks {}

/// An endpoint slice publishes an export's endpoint URL, so creating one
/// takes `bind` on the export (kcp's APIExportEndpointSlice admission).
struct SliceAdmission;

#[async_trait::async_trait]
impl crate::registry::Admission for SliceAdmission {
    async fn admit_create(
        &self,
        ctx: &crate::registry::AdmitCtx<'_>,
        obj: &mut Value,
    ) -> crate::error::ApiResult<()> {
        bind::check(
            ctx,
            &trellis_apis::GroupResource::new(GROUP, "apiexportendpointslices"),
            "APIExportEndpointSlice",
            crate::meta::name(obj),
            obj.pointer("/spec/export"),
        )
        .await
    }
}

#[cfg(test)]
mod tests;
