//! Kubernetes CRD validation rules (`x-kubernetes-validations`), compiled and
//! evaluated with the `cel` crate as kube-apiserver 1.33 does.
//!
//! - [`Rules::compile`] reads a version's `openAPIV3Schema`, checks every
//!   rule's shape (reason, fieldPath, message…), parses and type-checks each
//!   rule and messageExpression against the schema-derived type of `self`,
//!   and reports problems as CRD-admission field errors.
//! - [`Rules::validate`] evaluates the rules over a pruned custom resource
//!   (and its old version on update) and returns field errors worded like
//!   kube-apiserver's.
//!
//! Module map: `schema` (the schema view), `escaping` (property names as CEL
//! identifiers), `values` (JSON + schema → CEL values), `check` (static type
//! checker), `library` (Kubernetes extension functions), `compile`, `eval`.
//!
//! Not enforced: CEL cost budgets (estimated at CRD admission, or at run
//! time per call and per object).

mod check;
mod compile;
mod escaping;
mod eval;
mod library;
mod schema;
mod values;

#[cfg(test)]
mod tests;

pub use compile::Rules;
pub use escaping::{escape, unescape};
pub use eval::Outcome;
