//! The API operations of a served resource, independent of the OpenAPI
//! dialect: `v3` and `v2` render the same [`PathItem`]s, so both documents
//! describe exactly the same paths, parameters and GVKs.
//!
//! The shape follows what kube-apiserver publishes for a resource: a
//! collection path (list, create, deletecollection), an item path (read,
//! replace, patch, delete), the `status` and `scale` subresources, and for
//! namespaced resources the all-namespaces list. Path parameters
//! (`{namespace}`, `{name}`) are declared on the path item, as kube does;
//! operation parameters (`fieldValidation` above all, which kubectl looks for
//! on the PATCH operation) on the operation. Operation ids are kube's
//! (`patchCoreV1NamespacedConfigMap`), unique within a document.
//!
//! Schemas are named by definition name; each renderer turns a name into
//! its own `$ref` prefix. Every name used here is a definition the
//! documents carry: the resource's kind, its list kind (see
//! [`list_definition`]), or one of [`SHARED`].

use serde_json::{Value, json};

use crate::registry::ResourceDef;

pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Definitions operations refer to besides the resources' own.
pub const SHARED: [&str; 3] = [STATUS, DELETE_OPTIONS, PATCH];

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

impl In {
    pub fn as_str(self) -> &'static str {
        match self {
            In::Path => "path",
            In::Query => "query",
        }
    }
}

/// A non-body parameter.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    /// OpenAPI primitive type (`string`, `integer`, `boolean`).
    pub type_: &'static str,
    pub description: String,
}

impl Param {
    fn query(name: &'static str, type_: &'static str, description: &str) -> Param {
        Param {
            name,
            location: In::Query,
            type_,
            description: description.to_string(),
        }
    }

    pub fn required(&self) -> bool {
        self.location == In::Path
    }
}

/// A request body: a schema accepted in some media types.
#[derive(Clone, Debug)]
pub struct Body {
    pub schema: String,
    pub media_types: Vec<&'static str>,
}

/// One response of an operation.
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: &'static str,
    pub description: &'static str,
    pub schema: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Operation {
    /// HTTP method, lower case (`get`, `patch`).
    pub method: &'static str,
    pub id: String,
    pub description: String,
    pub tag: String,
    /// `x-kubernetes-action`.
    pub action: &'static str,
    /// `x-kubernetes-group-version-kind`: (group, version, kind).
    pub gvk: (String, String, String),
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub replies: Vec<Reply>,
    pub produces: Vec<&'static str>,
}

/// A path with its path-level parameters and operations.
#[derive(Clone, Debug)]
pub struct PathItem {
    pub path: String,
    pub params: Vec<Param>,
    pub ops: Vec<Operation>,
}

/// kube's tag of a group/version: `core_v1`, `rbacAuthorization_v1`,
/// `stableExampleCom_v1`.
pub fn tag(group: &str, version: &str) -> String {
    format!("{}_{version}", lower_first(&group_camel(group)))
}

/// `Core`, `RbacAuthorization`, `StableExampleCom`: the group as it appears
/// in operation ids (kube drops the `.k8s.io` of its own groups).
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let short = group.strip_suffix(".k8s.io").unwrap_or(group);
    short
        .split(['.', '-'])
        .filter(|w| !w.is_empty())
        .map(upper_first)
        .collect()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// The definition name of a resource's list kind: its kind's name with the
/// last segment replaced (`io.k8s.api.core.v1.ConfigMapList`,
/// `com.example.stable.v1.CronTabList`), as kube names them.
pub fn list_name(def: &ResourceDef) -> String {
    match def.openapi_name.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{}", def.list_kind),
        None => def.list_kind.clone(),
    }
}

/// The list kind's schema (v3 form: references under
/// `#/components/schemas/`).
pub fn list_definition(def: &ResourceDef) -> Value {
    json!({
        "description": format!("{} is a list of {}.", def.list_kind, def.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("List of {}.", def.resource),
                "type": "array",
                "items": {"$ref": format!("#/components/schemas/{}", def.openapi_name)},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "allOf": [{"$ref": format!("#/components/schemas/{LIST_META}")}],
                "description": "Standard list metadata.",
            },
        },
        "x-kubernetes-group-version-kind": [
            {"group": def.group, "version": def.version, "kind": def.list_kind},
        ],
    })
}

fn pretty() -> Param {
    Param::query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )
}

fn write_params(patch: bool) -> Vec<Param> {
    let mut out = vec![
        Param::query(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted. Valid values are: All.",
        ),
        Param::query(
            "fieldManager",
            "string",
            "A name associated with the actor or entity that is making these changes.",
        ),
        Param::query(
            "fieldValidation",
            "string",
            "How the server handles unknown or duplicate fields in the request. Valid values are: Ignore, Warn (default), Strict.",
        ),
    ];
    if patch {
        out.push(Param::query(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests: the caller takes over conflicting fields.",
        ));
    }
    out
}

fn list_params() -> Vec<Param> {
    vec![
        Param::query(
            "allowWatchBookmarks",
            "boolean",
            "Requests watch events with type BOOKMARK.",
        ),
        Param::query(
            "continue",
            "string",
            "The continue token of a previous paged list.",
        ),
        Param::query(
            "fieldSelector",
            "string",
            "A selector restricting the returned objects by their fields.",
        ),
        Param::query(
            "labelSelector",
            "string",
            "A selector restricting the returned objects by their labels.",
        ),
        Param::query(
            "limit",
            "integer",
            "The maximum number of objects to return in one page.",
        ),
        Param::query(
            "resourceVersion",
            "string",
            "Constrains which resource versions the request may be served from.",
        ),
        Param::query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion is applied to list calls.",
        ),
        Param::query(
            "sendInitialEvents",
            "boolean",
            "With watch=true, starts the watch with synthetic events for the current state.",
        ),
        Param::query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        Param::query(
            "watch",
            "boolean",
            "Watch for changes and return them as a stream of add, update and remove notifications.",
        ),
    ]
}

fn delete_params() -> Vec<Param> {
    vec![
        Param::query(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted. Valid values are: All.",
        ),
        Param::query(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted.",
        ),
        Param::query(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy.",
        ),
        Param::query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
        ),
    ]
}

fn path_param(name: &'static str, description: String) -> Param {
    Param {
        name,
        location: In::Path,
        type_: "string",
        description,
    }
}

fn namespace_param() -> Param {
    path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects".into(),
    )
}

const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// What a list answers with `watch=true`.
const WATCH_TYPES: [&str; 2] = [
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];

fn ok(schema: &str) -> Reply {
    Reply {
        code: "200",
        description: "OK",
        schema: Some(schema.to_string()),
    }
}

fn created(schema: &str) -> Reply {
    Reply {
        code: "201",
        description: "Created",
        schema: Some(schema.to_string()),
    }
}

fn accepted(schema: &str) -> Reply {
    Reply {
        code: "202",
        description: "Accepted",
        schema: Some(schema.to_string()),
    }
}

fn unauthorized() -> Reply {
    Reply {
        code: "401",
        description: "Unauthorized",
        schema: None,
    }
}

/// Builds the operations of one resource (or subresource) kind.
struct Ops<'a> {
    def: &'a ResourceDef,
    tag: String,
    produces: Vec<&'static str>,
}

impl Ops<'_> {
    fn op(
        &self,
        method: &'static str,
        action: &'static str,
        id: String,
        description: String,
        gvk: (&str, &str, &str),
    ) -> Operation {
        Operation {
            method,
            id,
            description,
            tag: self.tag.clone(),
            action,
            gvk: (gvk.0.into(), gvk.1.into(), gvk.2.into()),
            params: Vec::new(),
            body: None,
            replies: Vec::new(),
            produces: self.produces.clone(),
        }
    }

    fn json_body(&self, schema: &str) -> Body {
        Body {
            schema: schema.to_string(),
            media_types: vec!["*/*"],
        }
    }

    fn patch_body(&self) -> Body {
        Body {
            schema: PATCH.to_string(),
            media_types: PATCH_TYPES
                .iter()
                .copied()
                .filter(|t| self.def.strategic_merge || !t.contains("strategic"))
                .collect(),
        }
    }
}

/// Every path of a served resource.
pub fn resource_paths(def: &ResourceDef) -> Vec<PathItem> {
    let g = group_camel(&def.group);
    let v = upper_first(&def.version);
    let ns = if def.namespaced { "Namespaced" } else { "" };
    let kind = def.kind.as_str();
    let gvk = (def.group.as_str(), def.version.as_str(), kind);
    let id = |verb: &str, suffix: &str| format!("{verb}{g}{v}{ns}{kind}{suffix}");
    let mut produces = vec!["application/json", "application/yaml"];
    if def.speaks_protobuf() {
        produces.push("application/vnd.kubernetes.protobuf");
    }
    let o = Ops {
        def,
        tag: tag(&def.group, &def.version),
        produces,
    };
    let base = if def.group.is_empty() {
        format!("/api/{}", def.version)
    } else {
        format!("/apis/{}/{}", def.group, def.version)
    };
    let (collection, item) = if def.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", def.resource),
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", def.resource),
        )
    } else {
        (
            format!("{base}/{}", def.resource),
            format!("{base}/{}/{{name}}", def.resource),
        )
    };
    let scope = |mut params: Vec<Param>| {
        if def.namespaced {
            params.insert(0, namespace_param());
        }
        params.push(pretty());
        params
    };
    let me = def.openapi_name.as_str();
    let list = list_name(def);
    let mut out = Vec::new();

    let mut ops = Vec::new();
    if def.supports("list") {
        let mut op = o.op(
            "get",
            "list",
            id("list", ""),
            format!("list or watch objects of kind {kind}"),
            gvk,
        );
        op.params = list_params();
        op.replies = vec![ok(&list), unauthorized()];
        op.produces.extend(WATCH_TYPES);
        ops.push(op);
    }
    if def.supports("create") {
        let mut op = o.op(
            "post",
            "post",
            id("create", ""),
            format!("create a {kind}"),
            gvk,
        );
        op.params = write_params(false);
        op.body = Some(o.json_body(me));
        op.replies = vec![ok(me), created(me), accepted(me), unauthorized()];
        ops.push(op);
    }
    if def.supports("deletecollection") {
        let mut op = o.op(
            "delete",
            "deletecollection",
            id("deleteCollection", ""),
            format!("delete collection of {kind}"),
            gvk,
        );
        op.params = delete_params();
        op.params.extend(list_params());
        op.body = Some(o.json_body(DELETE_OPTIONS));
        op.replies = vec![ok(STATUS), unauthorized()];
        ops.push(op);
    }
    if !ops.is_empty() {
        out.push(PathItem {
            path: collection,
            params: scope(Vec::new()),
            ops,
        });
    }

    let name_param = || path_param("name", format!("name of the {kind}"));
    let mut ops = Vec::new();
    if def.supports("get") {
        let mut op = o.op(
            "get",
            "get",
            id("read", ""),
            format!("read the specified {kind}"),
            gvk,
        );
        op.replies = vec![ok(me), unauthorized()];
        ops.push(op);
    }
    if def.supports("update") {
        let mut op = o.op(
            "put",
            "put",
            id("replace", ""),
            format!("replace the specified {kind}"),
            gvk,
        );
        op.params = write_params(false);
        op.body = Some(o.json_body(me));
        op.replies = vec![ok(me), created(me), unauthorized()];
        ops.push(op);
    }
    if def.supports("patch") {
        let mut op = o.op(
            "patch",
            "patch",
            id("patch", ""),
            format!("partially update the specified {kind}"),
            gvk,
        );
        op.params = write_params(true);
        op.body = Some(o.patch_body());
        op.replies = vec![ok(me), created(me), unauthorized()];
        ops.push(op);
    }
    if def.supports("delete") {
        let mut op = o.op(
            "delete",
            "delete",
            id("delete", ""),
            format!("delete a {kind}"),
            gvk,
        );
        op.params = delete_params();
        op.body = Some(o.json_body(DELETE_OPTIONS));
        op.replies = vec![ok(STATUS), accepted(STATUS), unauthorized()];
        ops.push(op);
    }
    if !ops.is_empty() {
        out.push(PathItem {
            path: item.clone(),
            params: scope(vec![name_param()]),
            ops,
        });
    }

    if def.status_subresource {
        let mut read = o.op(
            "get",
            "get",
            id("read", "Status"),
            format!("read status of the specified {kind}"),
            gvk,
        );
        read.replies = vec![ok(me), unauthorized()];
        let mut replace = o.op(
            "put",
            "put",
            id("replace", "Status"),
            format!("replace status of the specified {kind}"),
            gvk,
        );
        replace.params = write_params(false);
        replace.body = Some(o.json_body(me));
        replace.replies = vec![ok(me), created(me), unauthorized()];
        let mut patch = o.op(
            "patch",
            "patch",
            id("patch", "Status"),
            format!("partially update status of the specified {kind}"),
            gvk,
        );
        patch.params = write_params(true);
        patch.body = Some(o.patch_body());
        patch.replies = vec![ok(me), created(me), unauthorized()];
        out.push(PathItem {
            path: format!("{item}/status"),
            params: scope(vec![name_param()]),
            ops: vec![read, replace, patch],
        });
    }

    if def.scale.is_some() {
        let sgvk = ("autoscaling", "v1", "Scale");
        let mut read = o.op(
            "get",
            "get",
            id("read", "Scale"),
            format!("read scale of the specified {kind}"),
            sgvk,
        );
        read.replies = vec![ok(SCALE), unauthorized()];
        let mut replace = o.op(
            "put",
            "put",
            id("replace", "Scale"),
            format!("replace scale of the specified {kind}"),
            sgvk,
        );
        replace.params = write_params(false);
        replace.body = Some(o.json_body(SCALE));
        replace.replies = vec![ok(SCALE), created(SCALE), unauthorized()];
        let mut patch = o.op(
            "patch",
            "patch",
            id("patch", "Scale"),
            format!("partially update scale of the specified {kind}"),
            sgvk,
        );
        patch.params = write_params(true);
        patch.body = Some(o.patch_body());
        patch.replies = vec![ok(SCALE), created(SCALE), unauthorized()];
        out.push(PathItem {
            path: format!("{item}/scale"),
            params: scope(vec![name_param()]),
            ops: vec![read, replace, patch],
        });
    }

    if def.namespaced && def.supports("list") {
        let mut op = o.op(
            "get",
            "list",
            format!("list{g}{v}{kind}ForAllNamespaces"),
            format!("list or watch objects of kind {kind}"),
            gvk,
        );
        op.params = list_params();
        op.replies = vec![ok(&list), unauthorized()];
        op.produces.extend(WATCH_TYPES);
        out.push(PathItem {
            path: format!("{base}/{}", def.resource),
            params: vec![pretty()],
            ops: vec![op],
        });
    }
    out
}

/// Definitions an operation list refers to (bodies and replies).
pub fn referenced(items: &[PathItem]) -> impl Iterator<Item = &str> {
    items.iter().flat_map(|p| {
        p.ops.iter().flat_map(|op| {
            op.body
                .iter()
                .map(|b| b.schema.as_str())
                .chain(op.replies.iter().filter_map(|r| r.schema.as_deref()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_group_names_follow_kube() {
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("stable.example.com", "v1"), "stableExampleCom_v1");
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(group_camel("tenancy.kcp.io"), "TenancyKcpIo");
    }
}
