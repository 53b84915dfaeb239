//! An example provider controller for Trellis (or kcp): it serves the
//! `databases.example.io` API that consumers bind from the provider's
//! APIExport.
//!
//! It connects with a kubeconfig whose server is the APIExport's endpoint
//! (`status.endpoints[0].url` of the APIExportEndpointSlice) followed by
//! `/clusters/*`, and runs one kube-rs `Controller` over every bound
//! workspace at once. Each object names its workspace in the
//! `kcp.io/cluster` annotation; writes go to `/clusters/<that workspace>`
//! of the same endpoint.
//!
//! Per Database (consumer writes `spec.size`):
//! * a finalizer, so deletion waits for the cleanup below;
//! * a connection Secret `<name>-connection` in the consumer's namespace,
//!   written through the export's accepted permission claim on secrets;
//! * `status.phase`, `status.endpoint` and a `Ready` condition;
//! * on deletion: the Secret is deleted, then the finalizer removed.
//!
//! Run: `database-controller --kubeconfig provider.kubeconfig`
//! (`KUBECONFIG` works too). Logs go to stderr.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Client, CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

const FINALIZER: &str = "databases.example.io/cleanup";
const MANAGER: &str = "database-controller";
const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";

/// What a consumer orders.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.io",
    version = "v1",
    kind = "Database",
    namespaced,
    status = "DatabaseStatus"
)]
pub struct DatabaseSpec {
    /// Storage in GiB.
    pub size: i64,
}

/// What the provider reports.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct DatabaseStatus {
    pub phase: Option<String>,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub conditions: Vec<serde_json::Value>,
}

struct Ctx {
    /// The endpoint's base config (`.../clusters/*`).
    config: kube::Config,
}

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

impl Ctx {
    /// A client for one consumer workspace of the endpoint.
    fn client_for(&self, cluster: &str) -> Result<Client, Error> {
        let mut cfg = self.config.clone();
        let base = cfg.cluster_url.to_string();
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/clusters/*").unwrap_or(base);
        cfg.cluster_url = format!("{base}/clusters/{cluster}").parse().map_err(err)?;
        Client::try_from(cfg).map_err(err)
    }
}

async fn reconcile(db: Arc<Database>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let cluster = db
        .annotations()
        .get(CLUSTER_ANNOTATION)
        .cloned()
        .ok_or_else(|| Error(format!("{} has no {CLUSTER_ANNOTATION}", db.name_any())))?;
    let ns = db.namespace().unwrap_or_default();
    let client = ctx.client_for(&cluster)?;
    let dbs: Api<Database> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    finalizer(&dbs, FINALIZER, db, |event| async {
        match event {
            Event::Apply(db) => apply(&dbs, &secrets, &db, &cluster).await,
            Event::Cleanup(db) => cleanup(&secrets, &db).await,
        }
    })
    .await
    .map_err(err)
}

async fn apply(
    dbs: &Api<Database>,
    secrets: &Api<Secret>,
    db: &Database,
    cluster: &str,
) -> Result<Action, Error> {
    let name = db.name_any();
    let ns = db.namespace().unwrap_or_default();
    let endpoint = format!("{name}.{ns}.{cluster}.db.example.io:5432");
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{name}-connection"), "labels": {"app.kubernetes.io/managed-by": MANAGER}},
        "stringData": {"endpoint": endpoint, "username": name, "size": db.spec.size.to_string()},
    });
    secrets
        .patch(
            &format!("{name}-connection"),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(secret),
        )
        .await
        .map_err(err)?;
    let status = json!({
        "status": {
            "phase": "Ready",
            "endpoint": endpoint,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Provisioned",
                "message": format!("{} GiB database is ready", db.spec.size),
                "lastTransitionTime": rfc3339_now(),
            }],
        }
    });
    dbs.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map_err(err)?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn cleanup(secrets: &Api<Secret>, db: &Database) -> Result<Action, Error> {
    match secrets
        .delete(
            &format!("{}-connection", db.name_any()),
            &DeleteParams::default(),
        )
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(err(e)),
    }
}

/// RFC 3339 now, without pulling in a time crate.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn error_policy(_db: Arc<Database>, e: &Error, _ctx: Arc<Ctx>) -> Action {
    eprintln!("reconcile failed: {e}");
    Action::requeue(Duration::from_secs(1))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.iter().position(|a| a == "--kubeconfig") {
        Some(i) => args.get(i + 1).cloned(),
        None => std::env::var("KUBECONFIG").ok(),
    }
    .ok_or_else(|| anyhow::anyhow!("usage: database-controller --kubeconfig FILE"))?;
    let kc = kube::config::Kubeconfig::read_from(&path)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    let client = Client::try_from(config.clone())?;
    let all: Api<Database> = Api::all(client);
    eprintln!("watching databases at {}", config.cluster_url);
    let ctx = Arc::new(Ctx { config });
    Controller::new(all, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => eprintln!("reconciled {}", obj.name),
                Err(e) => eprintln!("controller: {e}"),
            }
        })
        .await;
    Ok(())
}
