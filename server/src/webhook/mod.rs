//! Admission webhooks per workspace (`ValidatingWebhookConfiguration`,
//! `MutatingWebhookConfiguration`), called as kube-apiserver's
//! `MutatingAdmissionWebhook` and `ValidatingAdmissionWebhook` plugins
//! call them, and as kcp scopes them.
//!
//! - **Which webhooks**: those of the request's workspace and — for a
//!   resource bound from an APIExport — those of the export's workspace
//!   (kcp's rule: the provider registers its webhook once, and it sees
//!   every consumer's objects of its resource; consumers can neither see
//!   nor remove it). The configurations are cached with the admission
//!   policies ([`crate::policy`]), from the same watch.
//! - **Order**: mutating webhooks first, one after another in the order
//!   of their configurations' names and their place in them, each seeing
//!   the previous one's result; a `reinvocationPolicy: IfNeeded` webhook
//!   is called once more when a later one changed the object. The mutated
//!   object is decoded, defaulted and validated again as any body is.
//!   Validating webhooks run after the admission policies, concurrently
//!   (at most [`CONCURRENT_CALLS`] at once); the first refusal in their
//!   order is the answer.
//! - **What a webhook sees**: an `AdmissionReview` v1 whose object is in
//!   the form of the rule that matched (matchPolicy `Equivalent`), with
//!   kcp's `kcp.io/cluster` annotation naming the workspace.
//! - **Failures** (unreachable, timeout, refused by the egress policy, an
//!   answer that is not a valid AdmissionReview, a patch that does not
//!   apply): `failurePolicy: Ignore` goes on (and says so in the audit
//!   annotations), `Fail` answers kube's `500 Internal error occurred:
//!   failed calling webhook "<name>": …`.
//! - **Bounds**: [`egress`] decides where calls may go; [`client`] bounds
//!   time and response size; all calls of one request share
//!   [`ADMISSION_BUDGET`]; at most [`MAX_CALLS`] webhooks may apply to one
//!   request in each phase; a patched object must stay an object no
//!   deeper and no larger than a request body; and what webhooks add to
//!   warnings and audit annotations is bounded too.

pub mod client;
pub mod config;
pub mod dispatch;
pub mod egress;
pub mod review;

pub use egress::{Egress, Network};

/// Configuration resources of `admissionregistration.k8s.io`.
pub const VALIDATING: &str = "validatingwebhookconfigurations";
pub const MUTATING: &str = "mutatingwebhookconfigurations";

/// Validating webhook calls in flight for one request.
pub const CONCURRENT_CALLS: usize = 8;
/// Webhooks that may apply to one request in one phase (all workspaces):
/// beyond, the request is refused rather than fan out further.
pub const MAX_CALLS: usize = 128;
/// All webhook calls of one request together (kube bounds them by the
/// request's 60 s timeout): later calls get what is left.
pub const ADMISSION_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);
/// The largest answer read from a validating webhook (a verdict, some
/// warnings) and from a mutating one (which may carry a whole object's
/// patch).
pub const MAX_VALIDATING_RESPONSE_BYTES: usize = 1024 * 1024;
pub const MAX_MUTATING_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
