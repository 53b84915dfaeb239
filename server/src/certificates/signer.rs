//! The `kubernetes.io/kube-apiserver-client` signer: a controller on the
//! runtime that signs approved requests with the server's CA, as
//! kube-controller-manager's `csrsigning` controller does for this signer.
//!
//! Its rules (kube's for this signer, plus this server's boundaries):
//! usages must include `client auth` and nothing beyond `digital
//! signature`, `key encipherment` and `client auth`; the lifetime is
//! `spec.expirationSeconds` capped at [`MAX_LIFETIME`] (kube's default
//! `--cluster-signing-duration`); requests outside the root workspace are
//! never signed (a workspace owner may approve anything in its workspace,
//! and the certificate would be valid server-wide); privileged subjects
//! are never signed (any `system:` group but `system:authenticated`: a
//! workspace's service-account groups, kcp's, masters, monitoring; any
//! `system:` user name). As in kube, the subject is the request's, not
//! the requester's: `approve` on this signer in root is the power to name
//! any other user. What is not signed gets kube's `Failed` condition
//! (`SignerValidationFailure`) with the reason, so `kubectl get csr`
//! shows it.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use trellis_storage::keys::{self, Keyspace};

use super::strategy::{has_condition, request_pem};
use super::{GROUP, KUBE_APISERVER_CLIENT, RESOURCE};
use crate::cluster::ROOT;
use crate::controllers::Error;
use crate::pki::{Ca, ClientUsage};
use crate::registry::store::WriteCtx;
use crate::runtime::{Action, Controller, Watch};
use crate::state::AppState;

const MANAGER: &str = "trellis-csr-signer";
/// The longest certificate this signer issues.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

fn keyspace() -> Keyspace {
    Keyspace::new(GROUP, RESOURCE, None).expect("valid keyspace")
}

/// `(cluster, name)`.
type Key = (String, String);

/// Whether this signer has work on `obj`: an approved request for it,
/// neither denied nor failed, without a certificate.
fn pending(obj: &Value) -> bool {
    obj.pointer("/spec/signerName").and_then(Value::as_str) == Some(KUBE_APISERVER_CLIENT)
        && has_condition(obj, "Approved")
        && !has_condition(obj, "Denied")
        && !has_condition(obj, "Failed")
        && obj
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

fn key_of(key: &Bytes, value: &Bytes) -> Option<Key> {
    let parts = keys::parse(key)?;
    let obj: Value = serde_json::from_slice(value).ok()?;
    pending(&obj).then(|| (parts.cluster.to_string(), parts.name.to_string()))
}

/// Runs until the server shuts down.
pub async fn run(state: AppState, ca: std::sync::Arc<Ca>) {
    Controller::new("csr-signer", state.shutdown.clone())
        .watches(Watch::new(
            state.store.storage.clone(),
            keyspace().all_clusters(),
            |c| key_of(&c.key, &c.value).into_iter().collect(),
        ))
        .run(
            state,
            move |st: AppState, (cluster, name): Key| {
                let ca = ca.clone();
                async move { reconcile(&st, &ca, &cluster, &name).await }
            },
            crate::controllers::error_policy("csr-signer"),
        )
        .await
}

/// Why a request is not signed, or the certificate's parts.
fn judge(
    cluster: &str,
    obj: &Value,
) -> Result<(super::request::Request, Vec<ClientUsage>, Duration), String> {
    if cluster != ROOT {
        return Err(format!(
            "the {KUBE_APISERVER_CLIENT} signer only signs requests made in the root workspace"
        ));
    }
    let usages: Vec<&str> = obj
        .pointer("/spec/usages")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for u in &usages {
        match *u {
            "client auth" => {}
            "digital signature" => out.push(ClientUsage::DigitalSignature),
            "key encipherment" => out.push(ClientUsage::KeyEncipherment),
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !usages.contains(&"client auth") {
        return Err("invalid usage for client certificate: missing client auth".into());
    }
    let pem = request_pem(obj).ok_or("spec.request is not base64")?;
    let request = super::request::parse(&pem)?;
    if request.common_name.is_empty() {
        return Err("the subject has no common name (the user)".into());
    }
    if request.common_name.starts_with("system:") {
        return Err(format!(
            "the user {:?} is reserved for the system",
            request.common_name
        ));
    }
    // Every `system:` group means something to the server (masters, kcp's
    // own identities, a workspace's service accounts, monitoring), and a
    // certificate would carry it into every workspace; only the group
    // every authenticated user has anyway is let through.
    if let Some(g) = request
        .organizations
        .iter()
        .find(|g| g.starts_with("system:") && *g != "system:authenticated")
    {
        return Err(format!("the group {g:?} is not granted by certificates"));
    }
    if request.organizations.len() > 2 {
        return Err("this signer puts at most two organizations (groups) in a certificate".into());
    }
    let lifetime = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_u64)
        .map_or(MAX_LIFETIME, |s| Duration::from_secs(s).min(MAX_LIFETIME));
    Ok((request, out, lifetime))
}

/// Signs request `name` of `cluster` if it still waits for it.
pub async fn reconcile(
    state: &AppState,
    ca: &Ca,
    cluster: &str,
    name: &str,
) -> Result<Action, Error> {
    let key = keyspace()
        .object(cluster, "", name)
        .map_err(|e| Error::Read(e.to_string()))?;
    let Some(rec) = state.store.storage.get(&key).await? else {
        return Ok(Action::await_change());
    };
    let obj: Value = serde_json::from_slice(&rec.value).map_err(|e| Error::Read(e.to_string()))?;
    if !pending(&obj) {
        return Ok(Action::await_change());
    }
    let apis = state.clusters.apis_of(cluster);
    let Some(def) = apis.registry.get(GROUP, "v1", RESOURCE) else {
        return Ok(Action::await_change());
    };
    let ctx = WriteCtx::system(cluster, def, None, Some("status"), MANAGER);
    let verdict = judge(cluster, &obj).and_then(|(request, usages, lifetime)| {
        ca.sign_client(
            &request.public_key,
            &request.common_name,
            &request.organizations,
            &usages,
            lifetime,
        )
        .map_err(|e| e.to_string())
    });
    let now = crate::meta::now_rfc3339();
    state
        .store
        .update_existing(&ctx, name, |cur| {
            // Still waiting, and still the request judged (not another one
            // recreated under its name since).
            if !pending(cur) || cur.pointer("/metadata/uid") != obj.pointer("/metadata/uid") {
                return Ok(());
            }
            let status = &mut cur["status"];
            match &verdict {
                Ok(pem) => {
                    use base64::Engine;
                    status["certificate"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(pem));
                }
                Err(why) => {
                    let mut conditions = status
                        .get("conditions")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    conditions.push(json!({
                        "type": "Failed",
                        "status": "True",
                        "reason": "SignerValidationFailure",
                        "message": why,
                        "lastUpdateTime": now,
                        "lastTransitionTime": now,
                    }));
                    status["conditions"] = json!(conditions);
                }
            }
            Ok(())
        })
        .await
        .map_err(Error::write("writing the signed certificate"))?;
    match &verdict {
        Ok(_) => tracing::info!(cluster, csr = name, "client certificate issued"),
        Err(why) => {
            tracing::info!(cluster, csr = name, reason = %why, "certificate request not signed")
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cn: &str, orgs: &[&str], usages: Value) -> Value {
        use base64::Engine;
        let (pem, _) = super::super::request::tests::csr(cn, orgs);
        json!({"spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": KUBE_APISERVER_CLIENT, "usages": usages, "expirationSeconds": 999_999_999},
            "status": {"conditions": [{"type": "Approved", "status": "True"}]}})
    }

    #[test]
    fn only_ordinary_users_in_root_with_client_usages() {
        let ok = request(
            "alice",
            &["dev"],
            json!(["client auth", "digital signature"]),
        );
        assert!(pending(&ok));
        let (r, usages, lifetime) = judge(ROOT, &ok).unwrap();
        assert_eq!(r.common_name, "alice");
        assert_eq!(usages, [ClientUsage::DigitalSignature]);
        assert_eq!(lifetime, MAX_LIFETIME);
        assert!(
            judge("tenant-cluster", &ok)
                .unwrap_err()
                .contains("only signs requests made in the root workspace")
        );
        for (cn, orgs, why) in [
            ("mallory", vec!["system:masters"], "system:masters"),
            (
                "mallory",
                vec!["dev", "system:kcp:admin"],
                "system:kcp:admin",
            ),
            (
                "mallory",
                vec!["system:serviceaccounts:ci"],
                "system:serviceaccounts:ci",
            ),
            ("mallory", vec!["system:monitoring"], "system:monitoring"),
            ("system:admin", vec![], "reserved"),
            ("", vec![], "no common name"),
        ] {
            let e = judge(ROOT, &request(cn, &orgs, json!(["client auth"]))).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let e = judge(
            ROOT,
            &request("alice", &[], json!(["server auth", "client auth"])),
        )
        .unwrap_err();
        assert_eq!(e, "invalid usage for client certificate: server auth");
        let e = judge(ROOT, &request("alice", &[], json!(["digital signature"]))).unwrap_err();
        assert_eq!(
            e,
            "invalid usage for client certificate: missing client auth"
        );
        let mut done = ok.clone();
        done["status"]["certificate"] = json!("eA==");
        assert!(!pending(&done));
        let mut denied = ok;
        denied["status"]["conditions"] = json!([{"type": "Denied", "status": "True"}]);
        assert!(!pending(&denied));
    }

    #[test]
    fn a_signed_certificate_names_the_requester() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(&crate::pki::Paths::new(dir.path())).unwrap();
        let ok = request("alice", &["dev", "ops"], json!(["client auth"]));
        let (r, usages, _) = judge(ROOT, &ok).unwrap();
        let pem = ca
            .sign_client(
                &r.public_key,
                &r.common_name,
                &r.organizations,
                &usages,
                Duration::from_secs(3600),
            )
            .unwrap();
        let mut reader = pem.as_bytes();
        let Some(rustls_pemfile::Item::X509Certificate(der)) =
            rustls_pemfile::read_one(&mut reader).unwrap()
        else {
            panic!("not a certificate");
        };
        let user = crate::auth::x509::user_from_der(der.as_ref())
            .unwrap()
            .unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["dev", "ops"]);
    }
}
