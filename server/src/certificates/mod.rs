//! CertificateSigningRequests (`certificates.k8s.io/v1`) and the built-in
//! `kubernetes.io/kube-apiserver-client` signer, so an operator can
//! onboard a user with kubectl alone: the user sends a CSR, an operator
//! runs `kubectl certificate approve`, the server signs a client
//! certificate with its CA, and the certificate authenticates (CN = user,
//! O = groups) like any other.
//!
//! - [`request`]: the PKCS#10 request, parsed and its signature checked.
//! - [`strategy`]: kube's validation and update rules (spec immutable,
//!   approval conditions only through `/approval`, the certificate only
//!   through `/status`, conditions never removed) and admission: the
//!   requester recorded in the spec, kube's `CertificateSubjectRestriction`
//!   (no `system:masters` for this signer), and kube's `approve`/`sign`
//!   permission checks on `signers`.
//! - [`signer`]: the controller that signs approved requests.
//!
//! Invariant: a certificate is only ever minted for a request made and
//! approved in the **root** workspace (the operator's), never for one in a
//! tenant's workspace, whose owner may approve anything there; and never
//! for a privileged subject (a `system:` group other than
//! `system:authenticated`, a `system:` user), whoever approved it.

pub mod request;
pub mod signer;
pub mod strategy;

/// The signer this server implements.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub const GROUP: &str = "certificates.k8s.io";
pub const RESOURCE: &str = "certificatesigningrequests";
