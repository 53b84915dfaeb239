//! Trellis' Kubernetes API server.
//!
//! One process serves the Kubernetes REST API for many logical clusters
//! (workspaces). The request path is:
//!
//! 1. [`serve`]: TLS, HTTP/1.1 and HTTP/2, graceful shutdown;
//! 2. [`handlers`]: access log and metrics, cluster resolution
//!    ([`cluster`]), authentication ([`auth`]), then discovery, OpenAPI or a
//!    resource request;
//! 3. [`registry`]: the cluster's registry finds the resource definition and
//!    its strategy; the one generic [`registry::store`] runs the operation
//!    (decode, defaults, validation, managedFields, compare-and-swap);
//! 4. `trellis-storage`: durable commit and watch fan-out; watches are
//!    encoded in [`handlers::watch`].
//!
//! Errors become Kubernetes `Status` objects in exactly one place,
//! [`error`]. [`router`] is public so handlers can be exercised without a
//! socket; the `trellis` binary only parses flags and calls [`run`].

pub mod audit;
pub mod auth;
pub mod authz;
pub mod builtin;
pub mod bulk;
pub mod certificates;
pub mod cluster;
pub mod controllers;
pub mod custom;
pub mod error;
pub mod fairness;
#[doc(hidden)]
pub mod fuzzing;
pub mod handlers;
pub mod managed;
pub mod memory;
pub mod meta;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod provider;
pub mod registry;
pub mod request;
pub mod response;
pub mod runtime;
pub mod schemas;
pub mod serve;
pub mod sharing;
pub mod state;
pub mod table;
pub mod tenancy;
#[cfg(test)]
mod testing;
pub mod webhook;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use handlers::router;
use serde_json::json;
pub use state::{AppState, ServerConfig};
use trellis_storage::{SledConfig, SledStorage, Storage};

use crate::auth::UserInfo;
use crate::registry::store::WriteCtx;
use crate::request::params::FieldValidation;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing files under the data directory failed.
    #[error("I/O: {0}")]
    Io(String),
    /// Certificates or keys could not be generated or read.
    #[error("PKI: {0}")]
    Pki(String),
    /// The TLS configuration is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The storage engine failed to open or close.
    #[error("storage: {0}")]
    Storage(#[from] trellis_storage::Error),
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The command line or configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
}

/// Everything `trellis serve` can be told.
#[derive(Clone, Debug)]
pub struct Options {
    pub data_dir: PathBuf,
    pub address: IpAddr,
    pub port: u16,
    /// Operator-supplied serving certificate and key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS (no client certificates then).
    pub insecure_http: bool,
    /// Connection limits and timeouts.
    pub limits: serve::Limits,
    /// Authenticators: token file, ServiceAccount tokens, OIDC.
    pub auth: auth::AuthOptions,
    pub server: ServerConfig,
    /// How long shutdown waits for open connections.
    pub shutdown_grace: Duration,
    /// Override the storage's retained watch history (events); tests use a
    /// small one to exercise expiry.
    pub history_events: Option<usize>,
    /// How long watch history is retained (on disk, in the log): how far
    /// back a watch can resume. `None`: the storage default (10 minutes).
    pub history_retention: Option<Duration>,
    /// In-memory budget of the newest watch history; older retained history
    /// is read back from disk. `None`: the storage default (32 MiB).
    pub history_memory_bytes: Option<usize>,
    /// Bytes of log kept for watch history whatever its age, which also
    /// caps its events at one per 512 bytes (never below the storage's
    /// default cap). `None`: the storage default (512 MiB).
    pub history_disk_bytes: Option<usize>,
    /// Where to append the audit log (JSON lines), if anywhere.
    pub audit_log: Option<PathBuf>,
    /// Networks admission webhooks may be called in although the default
    /// egress policy denies them (loopback, private, link-local…).
    pub webhook_allowed_networks: Vec<webhook::Network>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: PathBuf::from(".trellis"),
            address: IpAddr::from([127, 0, 0, 1]),
            port: 6443,
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            limits: serve::Limits::default(),
            auth: auth::AuthOptions::default(),
            server: ServerConfig::default(),
            shutdown_grace: Duration::from_secs(10),
            history_events: None,
            history_retention: None,
            history_memory_bytes: None,
            history_disk_bytes: None,
            audit_log: None,
            webhook_allowed_networks: Vec::new(),
        }
    }
}

/// The namespaces every fresh root workspace starts with.
const ROOT_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

async fn ensure_namespaces(state: &AppState, cluster: &str, names: &[&str]) -> Result<(), Error> {
    let registry = state.clusters.registry(&cluster::LogicalCluster {
        name: cluster.into(),
        path: cluster.into(),
    });
    let def = registry
        .get("", "v1", "namespaces")
        .expect("namespaces are built in")
        .clone();
    for name in names {
        let ctx = WriteCtx {
            cluster,
            def: &def,
            namespace: None,
            manager: "trellis",
            dry_run: false,
            validation: FieldValidation::Strict,
            subresource: None,
            apply: false,
            user: None,
            registry: None,
        };
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match state.store.create(&ctx, obj, Vec::new()).await {
            Ok(_) => {}
            Err(e) if e.code() == 409 => {}
            Err(e) => return Err(Error::Config(format!("creating namespace {name}: {e}"))),
        }
    }
    Ok(())
}

/// Stores the bootstrap ClusterRoles and ClusterRoleBindings in the root
/// workspace, as kube-apiserver does in its cluster, so that they can be
/// read there; every workspace's authorizer sees them whether stored or not
/// (see [`authz::bootstrap`]). Existing objects are left as the operator
/// made them.
async fn ensure_bootstrap_policy(state: &AppState) -> Result<(), Error> {
    let policy = state.authz.bootstrap();
    let mut objects = Vec::new();
    for r in &policy.cluster_roles {
        let mut v = serde_json::to_value(r).map_err(|e| Error::Config(e.to_string()))?;
        v["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        v["kind"] = json!("ClusterRole");
        objects.push(("clusterroles", v));
    }
    for b in &policy.cluster_role_bindings {
        let mut v = serde_json::to_value(b).map_err(|e| Error::Config(e.to_string()))?;
        v["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        v["kind"] = json!("ClusterRoleBinding");
        objects.push(("clusterrolebindings", v));
    }
    for (resource, obj) in objects {
        create_rbac_in_root(state, resource, obj, "bootstrap policy").await?;
    }
    Ok(())
}

/// Creates an RBAC object in `root` as the server, keeping one that exists
/// (restarts repeat this).
async fn create_rbac_in_root(
    state: &AppState,
    resource: &str,
    obj: serde_json::Value,
    what: &str,
) -> Result<(), Error> {
    let def = state
        .clusters
        .builtin_registry()
        .get(authz::cache::RBAC_GROUP, "v1", resource)
        .expect("RBAC is built in")
        .clone();
    let ctx = WriteCtx::system(cluster::ROOT, &def, None, None, "trellis");
    match state.store.create(&ctx, obj, Vec::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(e) => Err(Error::Config(format!("creating {what}: {e}"))),
    }
}

/// Grants only `root` makes, stored there as ordinary objects (unlike the
/// bootstrap policy, they do not apply in other workspaces): every
/// authenticated user may `use` the built-in workspace types that children
/// of ordinary workspaces take, as kcp's root grants.
async fn ensure_root_policy(state: &AppState) -> Result<(), Error> {
    const NAME: &str = "system:kcp:workspacetypes:use";
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME},
        "rules": [{
            "apiGroups": ["tenancy.kcp.io"],
            "resources": ["workspacetypes"],
            "resourceNames": ["universal", "organization", "team"],
            "verbs": ["use"],
        }],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": trellis_apis::rbac::attributes::ALL_AUTHENTICATED,
        }],
    });
    for (resource, obj) in [("clusterroles", role), ("clusterrolebindings", binding)] {
        create_rbac_in_root(state, resource, obj, "root policy").await?;
    }
    // Every authenticated user may bind root's tenancy and topology
    // exports (kcp's `system:kcp:apiexport:<name>:bind`); shards are the
    // admins'.
    for (short, export) in [
        ("tenancy", sharing::system::TENANCY),
        ("topology", sharing::system::TOPOLOGY),
    ] {
        let role = format!("system:kcp:apiexport:{short}:bind");
        let role_obj = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [{
                "apiGroups": [trellis_apis::kcp::GROUP],
                "resources": ["apiexports"],
                "resourceNames": [export],
                "verbs": ["bind"],
            }],
        });
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("system:kcp:authenticated:apiexport:{short}:bind")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": trellis_apis::rbac::attributes::ALL_AUTHENTICATED,
            }],
        });
        for (resource, obj) in [("clusterroles", role_obj), ("clusterrolebindings", binding)] {
            create_rbac_in_root(state, resource, obj, "root policy").await?;
        }
    }
    Ok(())
}

/// Runs the server until `shutdown` resolves, then shuts down cleanly:
/// stops accepting, ends watches, lets in-flight requests finish and closes
/// the store.
/// The embedded store's configuration from the server's options.
fn storage_config(opts: &Options) -> SledConfig {
    let mut cfg = SledConfig::new(opts.data_dir.join("db"));
    let history = &mut cfg.history;
    if let Some(bytes) = opts.history_disk_bytes {
        history.max_bytes = bytes;
        // The event cap exists only so a tiny byte cap cannot be defeated
        // by tiny events; it must not undercut a larger byte cap.
        history.max_events = history.max_events.max(bytes / 512);
    }
    if let Some(age) = opts.history_retention {
        history.min_age = age;
    }
    if let Some(bytes) = opts.history_memory_bytes {
        history.memory_bytes = bytes;
    }
    if let Some(n) = opts.history_events {
        history.min_events = n;
        history.max_events = n;
        cfg.progress_interval = Duration::from_millis(500);
    }
    cfg
}

pub async fn run(opts: Options, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    let open_files = serve::raise_open_files_limit();
    if open_files > 0 && (open_files as usize) < opts.limits.max_connections + 256 {
        tracing::warn!(
            open_files,
            max_connections = opts.limits.max_connections,
            "the open-files limit is below --max-connections; new connections may fail before the cap"
        );
    }
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| Error::Io(format!("creating {}: {e}", opts.data_dir.display())))?;
    let pki_paths = pki::Paths::new(&opts.data_dir);
    let ca = Arc::new(pki::Ca::load_or_create(&pki_paths)?);
    let token = pki::admin_token(&pki_paths)?;
    let (cert_pem, key_pem) = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => (
            std::fs::read_to_string(c)
                .map_err(|e| Error::Io(format!("reading {}: {e}", c.display())))?,
            std::fs::read_to_string(k)
                .map_err(|e| Error::Io(format!("reading {}: {e}", k.display())))?,
        ),
        (None, None) => {
            let (c, k) = ca.issue_serving(&pki::serving_names(opts.address))?;
            std::fs::write(pki_paths.serving_cert(), &c).map_err(|e| Error::Io(e.to_string()))?;
            std::fs::write(pki_paths.serving_key(), &k).map_err(|e| Error::Io(e.to_string()))?;
            (c, k)
        }
        _ => {
            return Err(Error::Config(
                "--tls-cert and --tls-key must be given together".into(),
            ));
        }
    };
    let tls = if opts.insecure_http {
        tracing::warn!(
            "--insecure-http: serving plain HTTP; credentials and data cross the network unencrypted and client certificates are unavailable"
        );
        None
    } else {
        Some(serve::tls_config(&cert_pem, &key_pem, Some(&ca.cert_pem))?)
    };

    let storage_cfg = storage_config(&opts);
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(storage_cfg)?);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let addr = SocketAddr::new(opts.address, opts.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Io(e.to_string()))?;
    let mut server_cfg = opts.server.clone();
    server_cfg.external_address = local.to_string();
    let state = AppState::new(storage.clone(), server_cfg, shutdown_rx);
    if let Some(path) = &opts.audit_log {
        let auditor = audit::Auditor::open(path)
            .map_err(|e| Error::Io(format!("opening audit log {}: {e}", path.display())))?;
        let _ = state.audit.set(auditor);
    }
    state.auth.add_token(
        token.clone(),
        UserInfo {
            name: "admin".into(),
            uid: String::new(),
            groups: vec![auth::MASTERS.into()],
            extra: Default::default(),
        },
    );
    state
        .auth
        .configure(&opts.auth, &pki_paths, storage.clone())?;
    ensure_namespaces(&state, cluster::ROOT, &ROOT_NAMESPACES).await?;
    ensure_bootstrap_policy(&state).await?;
    ensure_root_policy(&state).await?;
    let ws_revision = controllers::workspace::bootstrap(&state)
        .await
        .map_err(Error::Config)?;
    sharing::system::bootstrap(&state)
        .await
        .map_err(|e| Error::Config(format!("root's system exports: {e}")))?;
    state.store.policies.set_egress(webhook::Egress {
        allowed: opts.webhook_allowed_networks.clone(),
        own_ports: vec![local.port()],
        local: webhook::egress::interface_addresses(),
    });
    // Admission policies are compiled from their watch before anything
    // is served, so the first request already sees every stored policy.
    state
        .store
        .policies
        .follow()
        .await
        .map_err(|e| Error::Config(format!("loading admission policies: {e}")))?;
    state
        .store
        .object_limits
        .set_default_limit(state.config.total_object_limit);
    state
        .store
        .object_limits
        .follow(
            storage.clone(),
            tenancy::types::logical_clusters().all_clusters(),
        )
        .await
        .map_err(|e| Error::Config(format!("following object limits: {e}")))?;
    let crd_revision = controllers::crd::load(&state).await;
    let sharing_revision = controllers::sharing::load(&state).await;
    let controller = tokio::spawn(controllers::namespace::run(state.clone()));
    let gc_controller = tokio::spawn(controllers::gc::run(state.clone()));
    let csr_signer = tokio::spawn(certificates::signer::run(state.clone(), ca.clone()));
    let crd_controller = tokio::spawn(controllers::crd::run(state.clone(), crd_revision));
    let ws_controller = tokio::spawn(controllers::workspace::run(state.clone(), ws_revision));
    let rbac_controller = tokio::spawn(controllers::rbac::run(state.clone()));
    let sharing_controller =
        tokio::spawn(controllers::sharing::run(state.clone(), sharing_revision));
    tokio::spawn(memory::run(state.shutdown.clone()));

    let host = if opts.address.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        opts.address
    };
    let scheme = if opts.insecure_http { "http" } else { "https" };
    let server_url = match host {
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}", local.port()),
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{}", local.port()),
    };
    sharing::system::wait_settled(&state, std::time::Duration::from_secs(10)).await;
    let kubeconfig_path = opts.data_dir.join("admin.kubeconfig");
    pki::write_kubeconfig(
        &kubeconfig_path,
        &pki::kubeconfig(
            &format!("{server_url}/clusters/root"),
            &ca.cert_pem,
            "admin",
            &token,
        ),
    )?;
    let kubeconfig_abs = std::fs::canonicalize(&kubeconfig_path).unwrap_or(kubeconfig_path);
    println!(
        "Trellis is serving {server_url}; use it with: export KUBECONFIG={}",
        kubeconfig_abs.display()
    );
    tracing::info!(address = %local, "serving");

    let router = router(state.clone());
    // Flip the shutdown flag as soon as shutdown is requested, so open
    // watches end while connections drain.
    let flag = shutdown_tx.clone();
    let trigger = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = flag.send(true);
    };
    let result = serve::serve(
        listener,
        router,
        tls,
        opts.limits.clone(),
        trigger,
        opts.shutdown_grace,
    )
    .await;
    let _ = shutdown_tx.send(true);
    let _ = controller.await;
    let _ = crd_controller.await;
    let _ = ws_controller.await;
    let _ = rbac_controller.await;
    let _ = sharing_controller.await;
    let _ = gc_controller.await;
    let _ = csr_signer.await;
    if let Some(a) = state.audit.get() {
        a.close().await;
    }
    drop(state);
    storage.close().await?;
    tracing::info!("stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_flags_reach_the_store() {
        let default = storage_config(&Options::default()).history;
        assert_eq!(default.max_bytes, 512 << 20);
        assert_eq!(default.max_events, 1_000_000);
        let opts = Options {
            history_disk_bytes: Some(4 << 30),
            history_retention: Some(Duration::from_secs(300)),
            history_memory_bytes: Some(8 << 20),
            ..Options::default()
        };
        let h = storage_config(&opts).history;
        assert_eq!(h.max_bytes, 4 << 30);
        // 4 GiB at one event per 512 bytes: the event cap grows with it.
        assert_eq!(h.max_events, 8 << 20);
        assert_eq!(h.min_age, Duration::from_secs(300));
        assert_eq!(h.memory_bytes, 8 << 20);
        // A small byte cap keeps the default event cap.
        let small = Options {
            history_disk_bytes: Some(16 << 20),
            ..Options::default()
        };
        let h = storage_config(&small).history;
        assert_eq!((h.max_bytes, h.max_events), (16 << 20, 1_000_000));
    }
}
