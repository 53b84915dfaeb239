//! Root's system APIExports, the kcp way: `tenancy.kcp.io` (workspaces,
//! workspace types), `topology.kcp.io` (partitions, partition sets) and
//! `shards.core.kcp.io` (shards), each an APIExport in `root` with its
//! APIResourceSchemas and an identity, and each bound in `root` by an
//! APIBinding named like the export (kcp's `config/root-phase0` and root
//! bootstrap). WorkspaceTypes written for kcp name them in
//! `defaultAPIBindings` (`{path: root, export: tenancy.kcp.io}`), and
//! users bind them (`bind` on tenancy and topology is granted to every
//! authenticated user, as kcp's root does).
//!
//! **tenancy is served twice, on purpose.** kcp serves workspaces only
//! where tenancy is bound; Trellis serves its tenancy API in every logical
//! cluster as a built-in (every workspace keeps it). A binding to root's
//! `tenancy.kcp.io` is therefore no naming conflict with the built-in
//! resources it names, and becomes Bound without installing anything: the
//! built-in already serves the same resource over the same data. Bound
//! resources that are not built in (shards, partitions, partition sets)
//! are served like any other export's.
//!
//! Invariants:
//! * only exports in `root` with these names are system exports; `root`
//!   is written by masters only;
//! * schemas are immutable, so each is named `v<hash of its spec>.<plural>
//!   .<group>`: a changed schema is a new name, and [`bootstrap`] points
//!   the export at the current names (the old schema stays, as kcp's do).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;
use trellis_apis::kcp::types::{
    self as kcp, APIBinding, APIBindingSpec, APIExport, APIExportSpec, APIResourceSchema,
    BindingReference, ExportBindingReference, MaximalPermissionPolicy, ResourceSchema,
    ResourceSchemaStorage,
};

use crate::cluster::ROOT;
use crate::controllers::{Error, create_ignoring_conflict, edit, kcp_def};
use crate::registry::store::WriteCtx;
use crate::state::AppState;

const MANAGER: &str = "trellis-root-bootstrap";

pub const TENANCY: &str = "tenancy.kcp.io";
/// The group of the tenancy resources (built in, and exported by
/// [`TENANCY`]).
pub const TENANCY_GROUP: &str = "tenancy.kcp.io";
pub const TOPOLOGY: &str = "topology.kcp.io";
pub const SHARDS: &str = "shards.core.kcp.io";
/// kcp's name for the shard a one-shard server is.
pub const SHARD_NAME: &str = "root";

const SCHEMAS: &str = include_str!("system_schemas.yaml");

/// Whether export `name` of logical cluster `cluster` is one of root's
/// system exports.
pub fn is_system(cluster: &str, name: &str) -> bool {
    cluster == ROOT && [TENANCY, TOPOLOGY, SHARDS].contains(&name)
}

/// The export each (group, plural) belongs to.
fn export_of(group: &str) -> &'static str {
    match group {
        "tenancy.kcp.io" => TENANCY,
        "topology.kcp.io" => TOPOLOGY,
        _ => SHARDS,
    }
}

/// An APIResourceSchema's spec from a CRD's.
fn schema_from_crd(crd: &Value) -> Value {
    let spec = &crd["spec"];
    let versions: Vec<Value> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let mut out = json!({
                "name": v["name"],
                "served": v["served"],
                "storage": v["storage"],
                "schema": v["schema"]["openAPIV3Schema"],
            });
            for k in ["subresources", "additionalPrinterColumns"] {
                if let Some(x) = v.get(k) {
                    out[k] = x.clone();
                }
            }
            out
        })
        .collect();
    json!({
        "apiVersion": <APIResourceSchema as kcp::KcpObject>::API_VERSION,
        "kind": "APIResourceSchema",
        "spec": {
            "group": spec["group"],
            "names": spec["names"],
            "scope": spec["scope"],
            "versions": versions,
        },
    })
}

/// Every system schema, named.
pub fn schemas() -> Vec<APIResourceSchema> {
    let tenancy = serde_yaml::Deserializer::from_str(crate::tenancy::CRDS)
        .map(|d| Value::deserialize(d).expect("tenancy CRDs are valid YAML"))
        .filter(|crd| crd["spec"]["group"] == "tenancy.kcp.io")
        .map(|crd| schema_from_crd(&crd));
    let others = serde_yaml::Deserializer::from_str(SCHEMAS)
        .map(|d| Value::deserialize(d).expect("system schemas are valid YAML"));
    tenancy
        .chain(others)
        .map(|mut s| {
            let digest = sha2::Sha256::digest(s["spec"].to_string().as_bytes());
            let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
            let plural = s["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let group = s["spec"]["group"].as_str().unwrap_or("").to_string();
            s["metadata"] = json!({"name": format!("v{hash}.{plural}.{group}")});
            kcp::from_value(&s).expect("system schemas decode")
        })
        .collect()
}

/// The exports and what each exports.
pub fn exports(schemas: &[APIResourceSchema]) -> Vec<APIExport> {
    [TENANCY, TOPOLOGY, SHARDS]
        .into_iter()
        .map(|name| APIExport {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: APIExportSpec {
                resources: schemas
                    .iter()
                    .filter(|s| export_of(&s.spec.group) == name)
                    .map(|s| ResourceSchema {
                        name: s.spec.names.plural.clone(),
                        group: s.spec.group.clone(),
                        schema: s.metadata.name.clone().unwrap_or_default(),
                        storage: ResourceSchemaStorage {
                            crd: Some(Default::default()),
                            r#virtual: None,
                        },
                    })
                    .collect(),
                // kcp's tenancy export limits what its consumers may do
                // through it by root's RBAC (not enforced here yet).
                maximal_permission_policy: (name == TENANCY).then(|| MaximalPermissionPolicy {
                    local: Some(Default::default()),
                }),
                ..Default::default()
            },
            ..Default::default()
        })
        .collect()
}

/// Creates root's system schemas, exports and bindings if missing, and
/// points each export at the current schemas. Runs before the server
/// listens; identities and binding follow through the controllers.
pub async fn bootstrap(state: &AppState) -> Result<(), Error> {
    let schemas = schemas();
    let schema_def = kcp_def::<APIResourceSchema>(state);
    for s in &schemas {
        create_ignoring_conflict(state, MANAGER, ROOT, &schema_def, kcp::to_value(s)).await?;
    }
    let export_def = kcp_def::<APIExport>(state);
    let binding_def = kcp_def::<APIBinding>(state);
    for export in exports(&schemas) {
        let name = export.metadata.name.clone().unwrap_or_default();
        let resources = serde_json::to_value(&export.spec.resources).expect("serialisable");
        create_ignoring_conflict(state, MANAGER, ROOT, &export_def, kcp::to_value(&export)).await?;
        let ctx = WriteCtx::system(ROOT, &export_def, None, None, MANAGER);
        edit(state, &ctx, &name, |cur| {
            if cur["spec"]["resources"] == resources {
                return false;
            }
            cur["spec"]["resources"] = resources.clone();
            true
        })
        .await
        .map_err(Error::write("pointing a system export at its schemas"))?;
        let binding = APIBinding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            spec: APIBindingSpec {
                reference: BindingReference {
                    export: Some(ExportBindingReference {
                        path: ROOT.into(),
                        name,
                    }),
                },
                permission_claims: Vec::new(),
            },
            ..Default::default()
        };
        create_ignoring_conflict(state, MANAGER, ROOT, &binding_def, kcp::to_value(&binding))
            .await?;
    }
    Ok(())
}

/// The Shard this server is, once root serves shards: kcp's `root` shard,
/// its URLs this server's external address.
pub async fn ensure_shard(state: &AppState) -> Result<(), Error> {
    let apis = state.clusters.apis_of(ROOT);
    let Some(def) = apis
        .registry
        .for_storage(|d| d.group == "core.kcp.io" && d.resource == "shards")
        .cloned()
    else {
        return Ok(());
    };
    let url = format!("https://{}", state.config.external_address);
    let shard = json!({
        "apiVersion": "core.kcp.io/v1alpha1",
        "kind": "Shard",
        "metadata": {"name": SHARD_NAME},
        "spec": {"baseURL": url, "externalURL": url},
    });
    create_ignoring_conflict(state, MANAGER, ROOT, &def, shard).await?;
    let ctx = WriteCtx::system(ROOT, &def, None, None, MANAGER);
    match edit(state, &ctx, SHARD_NAME, |cur| {
        // The address may change between runs.
        let want = json!(url);
        if cur["spec"]["baseURL"] == want && cur["spec"]["externalURL"] == want {
            return false;
        }
        cur["spec"]["baseURL"] = want.clone();
        cur["spec"]["externalURL"] = want;
        true
    })
    .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.code() == 404 => Ok(()),
        Err(e) => Err(Error::write("updating the shard")(e)),
    }
}

/// Whether root's system APIs are in place: each export's binding Bound,
/// its endpoint slice written, and the Shard. Until then the server's
/// own start-up writes are still landing in root.
async fn settled(state: &AppState) -> bool {
    let storage = &state.store.storage;
    for name in [TENANCY, TOPOLOGY, SHARDS] {
        let bound = crate::tenancy::types::get_as::<APIBinding>(
            storage,
            &super::keys::bindings(),
            ROOT,
            name,
        )
        .await
        .ok()
        .flatten()
        .is_some_and(|b| b.status.phase == kcp::phase::BOUND);
        let sliced =
            crate::tenancy::types::get(storage, &super::keys::endpoint_slices(), ROOT, name)
                .await
                .ok()
                .flatten()
                .is_some();
        if !bound || !sliced {
            return false;
        }
    }
    shard(state).await.ok().flatten().is_some()
}

/// The Shard this server is, once root serves shards.
pub async fn shard(state: &AppState) -> Result<Option<Value>, Error> {
    crate::controllers::get_served(state, ROOT, "core.kcp.io", "shards", SHARD_NAME).await
}

/// Waits (at most `limit`) until root's system APIs are in place, so the
/// server says it serves once its own bootstrap is done, as kcp's does; a
/// controller that cannot finish only costs the wait and a warning.
pub async fn wait_settled(state: &AppState, limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while !settled(state).await {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("root's system APIExports are not bound yet; serving anyway");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_named_by_content_and_exported_by_group() {
        let s = schemas();
        let names: Vec<String> = s
            .iter()
            .map(|s| format!("{}.{}", s.spec.names.plural, s.spec.group))
            .collect();
        assert_eq!(
            names,
            [
                "workspaces.tenancy.kcp.io",
                "workspacetypes.tenancy.kcp.io",
                "shards.core.kcp.io",
                "partitions.topology.kcp.io",
                "partitionsets.topology.kcp.io"
            ]
        );
        for schema in &s {
            let name = schema.metadata.name.as_deref().unwrap();
            assert!(
                trellis_apis::kcp::schema_name::name_error(
                    name,
                    &schema.spec.group,
                    &schema.spec.names.plural
                )
                .is_none(),
                "{name}"
            );
            assert_eq!(schema.storage_version(), Some("v1alpha1"));
        }
        // Same content, same name.
        assert_eq!(schemas()[0].metadata.name, s[0].metadata.name);
        let exports = exports(&s);
        let listed = |i: usize| -> Vec<&str> {
            exports[i]
                .spec
                .resources
                .iter()
                .map(|r| r.name.as_str())
                .collect()
        };
        assert_eq!(listed(0), ["workspaces", "workspacetypes"]);
        assert_eq!(listed(1), ["partitions", "partitionsets"]);
        assert_eq!(listed(2), ["shards"]);
        assert!(exports[0].spec.maximal_permission_policy.is_some());
        assert!(is_system(ROOT, TENANCY) && !is_system("abc", TENANCY));
    }
}
