//! The description of one served resource in one group/version.
//!
//! A resource served in several versions (or, like Events, in two groups)
//! has one `ResourceDef` per served group/version, all sharing a storage
//! keyspace and a storage version; a [`Conversion`] maps between the stored
//! form and each served form. The common case (served == stored) never
//! parses stored bytes on reads.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use trellis_apis::schema::Schema;
use trellis_apis::{GroupKind, GroupResource};
use trellis_storage::keys::Keyspace;

use super::strategy::Strategy;

/// Converts objects between the storage version and one served version,
/// in process and infallibly.
pub trait Converter: Send + Sync + 'static {
    /// Stored form → served form (apiVersion included).
    fn to_served(&self, obj: Value) -> Value;
    /// Served form → stored form (apiVersion included).
    fn to_stored(&self, obj: Value) -> Value;
}

/// Converts objects by asking someone else (a CRD's conversion webhook):
/// it takes time and may fail. The error is the message a client sees.
pub trait RemoteConverter: Send + Sync + 'static {
    /// Objects in any version of the resource → this version, in order
    /// (those already in it are not sent); `list`: they are a list's items
    /// (which changes how failures are worded).
    fn to_served(&self, objs: Vec<Value>, list: bool) -> BoxFuture<'_, Result<Vec<Value>, String>>;
    /// This version → the storage version.
    fn to_stored(&self, obj: Value) -> BoxFuture<'_, Result<Value, String>>;
    /// Whether this version is the storage version (objects stored in it
    /// need no call either way).
    fn serves_stored(&self) -> bool;
}

/// How a served version relates to the stored form. It decides the
/// *working form* the store prepares, validates and admits an object in:
/// the stored form for [`Conversion::Local`] (converting is free, so it
/// happens at decode and on the way out), the served form for
/// [`Conversion::Remote`] (as kube-apiserver does for every resource:
/// conversion only where objects meet storage, so a webhook is called once
/// per write and once per object read).
#[derive(Clone)]
pub enum Conversion {
    Local(Arc<dyn Converter>),
    Remote(Arc<dyn RemoteConverter>),
}

/// The verbs a resource supports, as listed in discovery.
pub const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// How a `scale` subresource maps onto the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleSpec {
    /// JSON path (`.spec.replicas`) of the desired replicas.
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

#[derive(Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<&'static str>,
    /// Whether `status` is a subresource (main writes ignore it).
    pub status_subresource: bool,
    pub scale: Option<ScaleSpec>,
    /// Other subresources served by dedicated handlers (e.g. `finalize`).
    pub extra_subresources: Vec<&'static str>,
    pub keyspace: Keyspace,
    /// `None` when this version is the storage version (and reads need
    /// no defaults applied).
    pub converter: Option<Conversion>,
    pub strategy: Arc<dyn Strategy>,
    /// The structural schema of the served form.
    pub schema: Arc<Schema>,
    /// The definition name of the served form in the cluster's OpenAPI.
    pub openapi_name: String,
    /// Whether strategic merge patch applies (built-in types only, as in
    /// Kubernetes).
    pub strategic_merge: bool,
    /// Whether the type can be sent and received as protobuf.
    pub protobuf: bool,
    /// Stable hash of the storage group/resource/version, for discovery.
    pub storage_version_hash: String,
    /// The definition is being deleted: creates are refused.
    pub terminating: bool,
    /// A warning sent with every response of a deprecated version.
    pub deprecation: Option<String>,
    /// Admission beyond the strategy (resources that look at other objects).
    pub admission: Option<Arc<dyn super::Admission>>,
    /// Set when the resource is bound from an APIExport: its status
    /// belongs to the export's provider.
    pub bound: Option<Arc<BoundFrom>>,
    /// Objects are served with the `kcp.io/cluster` annotation naming
    /// their logical cluster (the provider's cross-workspace view).
    pub annotate_cluster: bool,
}

/// Where a bound resource comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundFrom {
    /// The APIBinding (in the serving cluster) that binds it.
    pub binding: String,
    /// The provider's logical cluster (stable name).
    pub export_cluster: String,
    /// The provider workspace's path, for messages.
    pub export_path: String,
    pub export_name: String,
    /// The export's identity hash (also in the keyspace).
    pub identity_hash: String,
}

impl BoundFrom {
    /// `root:provider:export`, as users name an export.
    pub fn export_display(&self) -> String {
        format!("{}:{}", self.export_path, self.export_name)
    }
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether requests and responses may be protobuf: the type is built in
    /// and the codec knows its message.
    pub fn speaks_protobuf(&self) -> bool {
        self.protobuf && trellis_apis::proto::supports(&self.api_version(), &self.kind)
    }

    /// Whether objects stored in the storage version cross a conversion
    /// webhook on their way through this definition. The server's own
    /// controllers use a definition that does not (see
    /// [`super::Registry::for_storage`]).
    pub fn converts_remotely(&self) -> bool {
        matches!(&self.converter, Some(Conversion::Remote(c)) if !c.serves_stored())
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group.clone(), self.resource.clone())
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResourceDef({}/{} {})",
            self.api_version(),
            self.resource,
            self.kind
        )
    }
}

/// A storage-version hash in the style Kubernetes publishes (base64 of the
/// first 8 bytes of sha256 over "group/version/kind").
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}
