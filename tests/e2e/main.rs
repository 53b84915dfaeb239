//! Black-box tests: the real `trellis` binary driven by kubectl 1.33 and
//! kube-rs. One test binary; each module covers one capability.

#[path = "../common/mod.rs"]
mod common;

mod admission_policies;
mod admission_webhooks;
mod api_kube_rs;
mod api_kubectl;
mod api_wire;
mod authn;
mod authz;
mod certificates;
mod conversion_webhooks;
mod crds;
mod garbage_collection;
mod go_clients;
mod hostile;
mod http_edge;
mod object_limits;
mod openapi;
mod rbac_api;
mod readme;
mod review;
mod sharing;
mod sharing_types;
mod system_exports;
mod third_party;
mod walkthrough;
mod wire_details;
mod workspaces;
mod writes_patch_proto;
mod writes_ssa;
mod ws_plugin;
