//! Kubernetes CRD validation rules (`x-kubernetes-validations`), compiled and
//! evaluated with the `cel` crate as kube-apiserver 1.33 does.
//!
//! - [`Rules::admit`] is the CRD (and APIResourceSchema) admission check of
//!   one `openAPIV3Schema`: every rule's shape (reason, fieldPath,
//!   message…), each rule and messageExpression parsed and type-checked
//!   against the schema-derived type of `self`, and kube's static cost
//!   limits, reported as CRD-admission field errors.
//! - [`Rules::compile`] builds the rules of a stored definition to serve
//!   it: the same checks without the static cost limits.
//! - [`Rules::validate`] evaluates the rules over a pruned custom resource
//!   (and its old version on update) and returns field errors worded like
//!   kube-apiserver's.
//!
//! Module map: `schema` (the schema view), `escaping` (property names as CEL
//! identifiers), `values` (JSON + schema → CEL values), `tokens` and
//! `bounds` (what an expression may be before it is parsed), `check`
//! (static type checker), `sizes` and `cost` (cost estimation), `limits`
//! (kube's cost limits and their messages), `library` (Kubernetes extension
//! functions), `compile`, `eval`.
//!
//! Rules are written by whoever may create a CRD in a workspace, so nothing
//! in them may hurt the server. The invariants:
//!
//! - Stack: no expression is parsed unless it has at most 100,000 code
//!   points, a grammar-rule nesting of at most 100 (cel-go allows 250,
//!   which needs the whole 2 MiB of a tokio worker's stack in cel-rust's
//!   parser) and a cel-go visitor depth of at most 250 ([`bounds`]). The
//!   deepest accepted expression of every shape parses, type-checks and
//!   evaluates within 1 MiB of stack in a release build. Our own recursive
//!   walks (checker, cost estimator, conversion of values) grow the stack
//!   when they run low, and compiling and validating switch to a fresh
//!   stack when less than 1.5 MiB is left.
//! - Admission cost: each rule's estimated cost (cel-go's model with the
//!   sizes the schema declares, times how often its node can repeat in a
//!   3 MiB request) and each messageExpression's at most 10,000,000, and
//!   their total over the schema at most 100,000,000, with kube's messages.
//! - Evaluation cost: cel-rust tracks no cost; every rule and
//!   messageExpression is estimated with the sizes measured on the object
//!   before it runs, an upper bound of its actual cost: over 1,000,000 it
//!   is refused as cel-go cancels it, and the estimates of one object's
//!   rules are charged to a budget of 10,000,000. Both stop validation with
//!   kube's messages.
//! - Memory: compiled regular expressions are bounded in size and kept in
//!   a bounded cache; there is no other per-process state keyed by rules.

pub mod admission;
mod bounds;
mod check;
mod compile;
mod cost;
mod escaping;
mod eval;
mod library;
mod limits;
mod schema;
mod sizes;
mod tokens;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;

pub use compile::Rules;
pub use escaping::{escape, is_identifier, unescape};
pub use eval::Outcome;
pub use library::Quantity;
