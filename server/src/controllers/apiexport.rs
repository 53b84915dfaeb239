//! The APIExport controller: each export's identity and its default
//! APIExportEndpointSlice.
//!
//! Identity, as kcp has it: a Secret (by default `kcp-system/<export>`,
//! recorded in `spec.identity.secretRef` when the export does not name
//! one) whose `key` holds 256 random bits, base64url without padding. The
//! identity hash is the lowercase hex SHA-256 of those key bytes as
//! stored; it is published in `status.identityHash` once and never
//! changes (`sharing::apiexport` refuses the update), because bound
//! objects are stored under it. A Secret that no longer matches turns
//! `IdentityValid` false instead of moving the export's data.
//!
//! Since kcp 0.28 every export gets an APIExportEndpointSlice of the same
//! name (unless annotated or labelled `apiexports.apis.kcp.io/skip-endpointslice`),
//! which is how providers find the export's endpoint.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use sha2::Digest;
use trellis_apis::crd::Condition;
use trellis_apis::kcp::types::{
    self as kcp, APIExport, APIExportEndpointSlice, APIExportEndpointSliceSpec,
    ExportBindingReference,
};

use super::Error;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::store::WriteCtx;
use crate::runtime::Action;
use crate::sharing::keys::{endpoint_slices as slices, exports};
use crate::state::AppState;
use crate::tenancy::types;

const MANAGER: &str = "trellis-apiexport-controller";
/// How often an export waiting for its identity Secret, or a slice waiting
/// for its export, is looked at again (neither is watched for that).
pub(crate) const RETRY: Duration = Duration::from_millis(1000);
/// Where identity Secrets go unless the export says otherwise.
pub const IDENTITY_NAMESPACE: &str = "kcp-system";
/// The Secret's data key holding the identity.
pub const IDENTITY_KEY: &str = "key";
/// Opts an export out of its default endpoint slice.
pub const SKIP_ENDPOINT_SLICE: &str = "apiexports.apis.kcp.io/skip-endpointslice";

fn def(state: &AppState, group: &str, version: &str, resource: &str) -> Arc<ResourceDef> {
    state
        .clusters
        .builtin_registry()
        .get(group, version, resource)
        .expect("served in every cluster")
        .clone()
}

/// The identity hash of a Secret's `data.key` (base64, as stored).
pub fn identity_hash(secret: &Value) -> Result<String, String> {
    let encoded = secret
        .pointer(&format!("/data/{IDENTITY_KEY}"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("secret is missing data.{IDENTITY_KEY}"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("secret data.{IDENTITY_KEY} is not base64: {e}"))?;
    Ok(hex(&sha2::Sha256::digest(&key)))
}

/// The identity an export may serve and be bound under: its
/// `status.identityHash`, but only while that is the hash of the key in
/// its identity Secret. Status is server-owned, yet objects of every
/// consumer live under this hash, so whatever reads it to serve or bind
/// data checks it against the key the export's workspace holds (kcp
/// trusts the status alone). `Ok(None)`: no identity that verifies.
pub async fn verified_identity(
    state: &AppState,
    cluster: &str,
    export: &APIExport,
) -> Result<Option<String>, String> {
    let claimed = export.status.identity_hash.as_str();
    if claimed.is_empty() {
        return Ok(None);
    }
    let (ns, secret_name) = identity_secret(export);
    let key = def(state, "", "v1", "secrets")
        .keyspace
        .object(cluster, &ns, &secret_name)
        .map_err(|e| e.to_string())?;
    let secret: Option<Value> = state
        .store
        .storage
        .get(&key)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|r| serde_json::from_slice(&r.value).ok());
    Ok(secret
        .and_then(|s| identity_hash(&s).ok())
        .filter(|h| h == claimed))
}

/// Where an export's identity Secret is: its `spec.identity.secretRef`,
/// each part defaulting to `kcp-system` and the export's name.
fn identity_secret(export: &APIExport) -> (String, String) {
    let r = export
        .spec
        .identity
        .as_ref()
        .and_then(|i| i.secret_ref.as_ref());
    let ns = r.and_then(|r| r.namespace.clone());
    let name = r.and_then(|r| r.name.clone());
    (
        ns.unwrap_or_else(|| IDENTITY_NAMESPACE.to_string()),
        name.unwrap_or_else(|| export.metadata.name.clone().unwrap_or_default()),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One pass over export `name` of `cluster`.
pub async fn reconcile(state: &AppState, cluster: &str, name: &str) -> Result<Action, Error> {
    let storage = &state.store.storage;
    let Some(export) = types::get_as::<APIExport>(storage, &exports(), cluster, name)
        .await
        .map_err(Error::Read)?
    else {
        return Ok(Action::await_change());
    };
    if export.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let export_def = super::kcp_def::<APIExport>(state);
    let has_secret_ref = export
        .spec
        .identity
        .as_ref()
        .is_some_and(|i| i.secret_ref.is_some());
    let (ns, secret_name) = identity_secret(&export);
    let secret_def = def(state, "", "v1", "secrets");
    let secrets = secret_def.keyspace.clone();
    let Ok(key) = secrets.object(cluster, &ns, &secret_name) else {
        return Ok(Action::await_change());
    };
    let mut secret: Option<Value> = storage
        .get(&key)
        .await?
        .and_then(|r| serde_json::from_slice(&r.value).ok());
    let now = meta::now_rfc3339();
    if secret.is_none() && !has_secret_ref {
        // Generate the default identity.
        let ns_def = def(state, "", "v1", "namespaces");
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": IDENTITY_NAMESPACE}});
        let created = async {
            super::create_ignoring_conflict(state, MANAGER, cluster, &ns_def, namespace).await?;
            let s = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_name, "namespace": IDENTITY_NAMESPACE},
                "stringData": {IDENTITY_KEY: random_key()},
            });
            super::create_ignoring_conflict(state, MANAGER, cluster, &secret_def, s).await
        }
        .await;
        if let Err(e) = created {
            let cond = Condition::new(
                "IdentityValid",
                "False",
                "IdentityGenerationFailed",
                &format!("Error creating identity secret: {e}"),
            );
            super::set_status(state, MANAGER, cluster, &export_def, name, |st| {
                super::put_condition(st, &cond, &now)
            })
            .await?;
            return Err(e);
        }
        secret = storage
            .get(&key)
            .await?
            .and_then(|r| serde_json::from_slice(&r.value).ok());
    }
    if !has_secret_ref {
        let ctx = WriteCtx::system(cluster, &export_def, None, None, MANAGER);
        let res = state
            .store
            .update_existing(&ctx, name, |cur| {
                cur["spec"]["identity"] =
                    json!({"secretRef": {"namespace": IDENTITY_NAMESPACE, "name": name}});
                Ok(())
            })
            .await;
        if let Err(e) = res
            && e.code() != 404
        {
            return Err(Error::write("recording the identity secret")(e));
        }
    }
    let hash = match secret.as_ref() {
        Some(s) => identity_hash(s),
        None => Err(format!("secret {ns}/{secret_name} not found")),
    };
    let status = super::set_status(state, MANAGER, cluster, &export_def, name, |st| {
        let current = st
            .get("identityHash")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let cond = match &hash {
            Ok(h) if current.is_empty() || current == *h => {
                st["identityHash"] = json!(h);
                Condition::new("IdentityValid", "True", "", "")
            }
            Ok(h) => Condition::new(
                "IdentityValid",
                "False",
                "IdentityVerificationFailed",
                &format!(
                    "hash mismatch: identity secret hash {h:?} must match status.identityHash {current:?}"
                ),
            ),
            Err(e) => Condition::new("IdentityValid", "False", "IdentityVerificationFailed", e),
        };
        let hash_changed = st.get("identityHash") != Some(&json!(current));
        super::put_condition(st, &cond, &now) || hash_changed
    })
    .await;
    // A Secret that is missing or does not verify may be fixed later.
    let action = if hash.is_err() {
        Action::requeue(RETRY)
    } else {
        Action::await_change()
    };
    // kcp's code looks for the annotation, its documentation tells users
    // to set a label: either opts out.
    let meta = &export.metadata;
    let skip = [&meta.annotations, &meta.labels].iter().any(|m| {
        m.as_ref()
            .is_some_and(|m| m.contains_key(SKIP_ENDPOINT_SLICE))
    });
    if !skip {
        let path = state
            .clusters
            .resolve(cluster)
            .await
            .map(|lc| lc.path)
            .unwrap_or_else(|| cluster.to_string());
        let slice_def = super::kcp_def::<APIExportEndpointSlice>(state);
        let slice = kcp::to_value(&APIExportEndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: APIExportEndpointSliceSpec {
                export: ExportBindingReference {
                    path,
                    name: name.into(),
                },
                partition: String::new(),
            },
            ..Default::default()
        });
        super::create_ignoring_conflict(state, MANAGER, cluster, &slice_def, slice).await?;
    }
    status?;
    Ok(action)
}

/// Publishes the endpoint of a slice's export in `status.endpoints`
/// (one server: one URL, whether or not anything is bound yet).
pub async fn reconcile_slice(state: &AppState, cluster: &str, name: &str) -> Result<Action, Error> {
    let storage = &state.store.storage;
    let Some(slice) = types::get_as::<APIExportEndpointSlice>(storage, &slices(), cluster, name)
        .await
        .map_err(Error::Read)?
    else {
        return Ok(Action::await_change());
    };
    let export_name = slice.spec.export.name;
    let path = match slice.spec.export.path.as_str() {
        "" => cluster.to_string(),
        p => p.to_string(),
    };
    let provider = state.clusters.resolve(&path).await.map(|lc| lc.name);
    let exists = match &provider {
        Some(p) => types::get(storage, &exports(), p, &export_name)
            .await
            .map_err(Error::Read)?
            .is_some(),
        None => false,
    };
    let now = meta::now_rfc3339();
    let (mut endpoints, cond) = match (&provider, exists) {
        (Some(p), true) => (
            json!([{"url": crate::provider::endpoint_url(state, p, &export_name)}]),
            Condition::new("APIExportValid", "True", "", ""),
        ),
        _ => (
            json!([]),
            Condition::new(
                "APIExportValid",
                "False",
                "APIExportNotFound",
                &format!("APIExport {path}|{export_name} not found"),
            ),
        ),
    };
    // kcp's partition step, only once the export is valid.
    let partition = if exists {
        let p = partition_of(state, cluster, &slice.spec.partition).await?;
        if !p.selects_this_shard {
            endpoints = json!([]);
        }
        Some(p)
    } else {
        None
    };
    let slice_def = super::kcp_def::<APIExportEndpointSlice>(state);
    super::set_status(state, MANAGER, cluster, &slice_def, name, |st| {
        let mut changed = st.get("endpoints") != Some(&endpoints);
        st["endpoints"] = endpoints.clone();
        if let Some(p) = &partition {
            changed |= super::put_condition(st, &p.condition, &now);
            let selector = (!p.shard_selector.is_empty()).then(|| json!(p.shard_selector));
            if st.get("shardSelector") != selector.as_ref() {
                changed = true;
                match &selector {
                    Some(s) => st["shardSelector"] = s.clone(),
                    None => {
                        st.as_object_mut().map(|m| m.remove("shardSelector"));
                    }
                }
            }
        }
        super::put_condition(st, &cond, &now) || changed
    })
    .await?;
    // An export created later is picked up by the requeue; partitions are
    // followed by their watch, a Shard's labels by this slower look.
    // A missing or invalid Partition waits for the Partition watch.
    let follows_shard = partition
        .as_ref()
        .is_some_and(|p| p.condition.status == "True" && !slice.spec.partition.is_empty());
    Ok(if !exists {
        Action::requeue(RETRY)
    } else if follows_shard {
        Action::requeue(PARTITION_RETRY)
    } else {
        Action::await_change()
    })
}

/// How often a partitioned slice looks at the Shard's labels again.
const PARTITION_RETRY: Duration = Duration::from_secs(10);

/// What a slice's `spec.partition` says on this one-shard server.
struct Partition {
    /// `PartitionValid`.
    condition: Condition,
    /// kcp's `status.shardSelector` (empty: every shard).
    shard_selector: String,
    /// Whether this server's Shard is selected (its endpoint listed).
    selects_this_shard: bool,
}

/// kcp's partition step of the endpoint slice: no partition selects every
/// shard; a Partition (in the slice's workspace, where topology is bound)
/// that is missing selects none, and otherwise its selector is matched
/// against the labels of the Shard this server is.
async fn partition_of(state: &AppState, cluster: &str, name: &str) -> Result<Partition, Error> {
    use trellis_apis::labels;
    if name.is_empty() {
        return Ok(Partition {
            condition: Condition::new("PartitionValid", "True", "", ""),
            shard_selector: String::new(),
            selects_this_shard: true,
        });
    }
    let invalid = |message: String| Partition {
        condition: Condition::new(
            "PartitionValid",
            "False",
            "PartitionInvalidReference",
            &message,
        ),
        shard_selector: String::new(),
        selects_this_shard: false,
    };
    let Some(p) = super::get_served(state, cluster, "topology.kcp.io", "partitions", name).await?
    else {
        // kcp's lister names the resource in the singular.
        return Ok(invalid(format!(
            "partition.topology.kcp.io {name:?} not found"
        )));
    };
    // kcp turns no selector into Nothing(), written as "" and read back
    // by its URL controller as every shard: the shard is selected.
    let selector = match p.get("spec").and_then(|s| s.get("selector")) {
        None | Some(Value::Null) => labels::Selector::everything(),
        Some(v) => match labels::from_label_selector(v) {
            Ok(s) => s,
            Err(e) => return Ok(invalid(e.to_string())),
        },
    };
    let shard = crate::sharing::system::shard(state).await?;
    let shard_labels = shard
        .as_ref()
        .and_then(|s| s.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Partition {
        condition: Condition::new("PartitionValid", "True", "", ""),
        shard_selector: selector.to_string(),
        selects_this_shard: selector.matches(&shard_labels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_hash_is_sha256_of_the_stored_key() {
        // kcp's test vector: key "xxx".
        let secret =
            json!({"data": {"key": base64::engine::general_purpose::STANDARD.encode("xxx")}});
        assert_eq!(
            identity_hash(&secret).unwrap(),
            "cd2eb0837c9b4c962c22d2ff8b5441b7b45805887f051d39bf133b583baf6860"
        );
        assert_eq!(
            identity_hash(&json!({"data": {}})).unwrap_err(),
            "secret is missing data.key"
        );
        let k = random_key();
        assert_eq!(k.len(), 43);
        assert_ne!(k, random_key());
    }
}
