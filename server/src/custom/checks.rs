//! Validation of a CustomResourceDefinition with every check wired in.
//!
//! `trellis_apis::crd` validates the definition itself; two of its checks
//! need the machinery that will later serve the resource, and are plugged
//! in here through its hooks: compiling the `x-kubernetes-validations` CEL
//! rules of each schema (bounded, and within kube's estimated-cost limits),
//! and validating each schema `default` against the
//! schema it sits in. Doing both at admission means a definition that is
//! accepted can always be served.

use serde_json::Value;
use trellis_apis::FieldError;
use trellis_apis::cel::Rules;
use trellis_apis::crd::{DefaultSite, Hooks, RulesSite};

/// Compiles the rules with kube's admission cost limits (per rule, per
/// messageExpression and per schema); serving compiles without them.
fn check_rules(site: &RulesSite<'_>) -> Vec<FieldError> {
    Rules::admit(site)
}

fn check_default(site: &DefaultSite<'_>) -> Vec<FieldError> {
    let node_path = site.path.strip_suffix(".default").unwrap_or(site.path);
    trellis_apis::schema::validate::check_default(site.schema, site.default, node_path)
        .into_iter()
        // The definition's own validation already reports defaults that
        // pruning would change, in upstream's wording.
        .filter(|e| e.detail != "must not have unknown fields")
        .collect()
}

/// Validates `crd` (defaulted and prepared) for create, or for update of
/// `old`.
pub fn validate_crd(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let hooks = Hooks {
        check_default: Some(&check_default),
        check_rules: Some(&check_rules),
    };
    match old {
        None => trellis_apis::crd::validate_create_with(crd, &hooks),
        Some(old) => trellis_apis::crd::validate_update_with(crd, old, &hooks),
    }
}
