//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`), the objects.
//!
//! This strategy covers the definition itself: defaulting and validation
//! (`trellis_apis::crd`, with the schema and CEL machinery checking defaults
//! and rules), the generation, and `status.storedVersions`, which records
//! every version ever used as the storage version. Serving the defined
//! resource is the CRD controller's job (`controllers::crd`): it accepts
//! names, marks the definition Established and installs it in the cluster.
//!
//! Deleting a definition is two-phase, as upstream: the first delete only
//! adds the `customresourcecleanup.apiextensions.k8s.io` finalizer and the
//! `Terminating` condition; the controller deletes every instance, then
//! removes the finalizer, which completes the deletion.
//!
//! A CRD may not define a group/resource an APIBinding of the workspace
//! serves ([`NoOverlapWithBindings`], kcp's `crdnooverlappinggvr`): the
//! bound resource would otherwise be shadowed or shadow it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::meta;
use crate::registry::admission::{Admission, AdmitCtx};
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, Column, NAME};

pub use trellis_apis::crd::CLEANUP_FINALIZER;

pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<CustomResourceDefinition>(body, "CustomResourceDefinition", "v1")
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        trellis_apis::crd::set_defaults(obj);
        trellis_apis::crd::prepare_for_create(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        trellis_apis::crd::set_defaults(new);
        trellis_apis::crd::prepare_for_update(new, old);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        crate::custom::checks::validate_crd(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        crate::custom::checks::validate_crd(new, Some(old))
    }

    /// kube's CRD status strategy validates status, never the spec: the
    /// spec cannot change through `/status`, and a definition stored with
    /// a spec today's checks refuse must still be told it is not served.
    /// The status is the controllers' (names, conditions), checked there.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn deletion_blocked(&self, obj: &Value) -> bool {
        // The first delete always waits for the instances to go.
        !meta::is_deleting(obj)
    }

    fn begin_deletion(&self, obj: &mut Value) {
        let m = meta::meta_mut(obj);
        let fins = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = fins.as_array_mut()
            && !a.iter().any(|f| f == CLEANUP_FINALIZER)
        {
            a.push(json!(CLEANUP_FINALIZER));
        }
        trellis_apis::crd::set_condition(
            obj,
            &trellis_apis::crd::terminating_condition(),
            &meta::now_rfc3339(),
        );
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column {
                name: "Created At".into(),
                kind: "date".into(),
                ..table::AGE
            },
        ]
    }

    fn table_cells(&self, obj: &Value, _now: jiff::Timestamp) -> Vec<Value> {
        vec![
            table::name_cell(obj),
            obj.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null),
        ]
    }
}

/// Refuses a CRD whose group/resource an APIBinding serves.
pub struct NoOverlapWithBindings;

#[async_trait::async_trait]
impl Admission for NoOverlapWithBindings {
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        let at = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
        let (group, plural) = (at("/spec/group"), at("/spec/names/plural"));
        let ks = crate::sharing::keys::bindings();
        let Ok(prefix) = ks.cluster(ctx.cluster) else {
            return Ok(());
        };
        let page = ctx
            .storage
            .list(trellis_storage::ListOptions::all(
                prefix,
                trellis_storage::ReadAt::Latest,
            ))
            .await
            .map_err(|e| {
                crate::error::ApiError::from_storage(
                    e,
                    &trellis_apis::GroupResource::new(trellis_apis::kcp::GROUP, "apibindings"),
                    "",
                )
            })?;
        for rec in page.items {
            let Ok(b) = serde_json::from_slice::<Value>(&rec.value) else {
                continue;
            };
            let holds = b
                .pointer("/status/boundResources")
                .and_then(Value::as_array)
                .is_some_and(|rs| {
                    rs.iter().any(|r| {
                        r.get("group").and_then(Value::as_str) == Some(group)
                            && r.get("resource").and_then(Value::as_str) == Some(plural)
                    })
                });
            if holds {
                return Err(trellis_apis::Status::forbidden(
                    &trellis_apis::GroupResource::new(
                        "apiextensions.k8s.io",
                        "customresourcedefinitions",
                    ),
                    meta::name(obj),
                    &format!(
                        "cannot create because resource is bound by APIBinding {:?}",
                        meta::name(&b)
                    ),
                )
                .into());
            }
        }
        Ok(())
    }
}
