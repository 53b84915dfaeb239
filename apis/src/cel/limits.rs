//! kube-apiserver's CEL cost limits and how exceeding them is reported.
//!
//! At CRD admission (`apiextensions/validation.go`): each rule's estimated
//! cost, multiplied by how many times its node can occur in a request, and
//! each messageExpression's (not multiplied), at most
//! [`STATIC_EXPRESSION_LIMIT`]; their sum over the schema at most
//! [`STATIC_SCHEMA_LIMIT`]. At evaluation (`schema/cel/validation.go`):
//! each rule or messageExpression at most [`PER_CALL_LIMIT`], all of one
//! object's at most [`RUNTIME_BUDGET`].

use crate::field_error::FieldError;

/// `celconfig.PerCallLimit`.
pub(crate) const PER_CALL_LIMIT: u64 = 1_000_000;
/// `celconfig.RuntimeCELCostBudget`, per object.
pub(crate) const RUNTIME_BUDGET: i64 = 10_000_000;
/// `StaticEstimatedCostLimit`, per rule and per messageExpression.
pub(crate) const STATIC_EXPRESSION_LIMIT: u64 = 10_000_000;
/// `StaticEstimatedCRDCostLimit`, per `openAPIV3Schema`.
pub(crate) const STATIC_SCHEMA_LIMIT: u64 = 100_000_000;

pub(crate) const BUDGET_EXHAUSTED: &str =
    "validation failed due to running out of cost budget, no further validation rules will be run";
pub(crate) const MESSAGE_BUDGET_EXHAUSTED: &str = "messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run";
/// What cel-go's interpreter fails with when a call passes its limit.
pub(crate) const CALL_LIMIT_EXCEEDED: &str = "operation cancelled: actual cost limit exceeded";

/// `multiplyWithOverflowGuard`.
pub(crate) fn multiply(cost: u64, cardinality: u64) -> u64 {
    cost.saturating_mul(cardinality)
}

/// `getCostErrorMessage`.
pub(crate) fn exceeds_budget(cost_name: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let factor = if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!(
        "{cost_name} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

/// `TotalCost`: the sum of a schema's expression costs, and the (at most 4)
/// dearest expressions of at least 1% of the limit.
#[derive(Debug, Default)]
pub(crate) struct TotalCost {
    total: u64,
    dearest: Vec<(String, u64)>,
}

impl TotalCost {
    /// `ObserveExpressionCost`.
    pub(crate) fn observe(&mut self, path: String, cost: u64) {
        self.total = self.total.saturating_add(cost);
        if cost < STATIC_SCHEMA_LIMIT / 100 {
            return;
        }
        self.dearest.push((path, cost));
        // Stable, as Go's sort.Slice is not: equal costs keep their order.
        self.dearest
            .sort_by_key(|(_, cost)| std::cmp::Reverse(*cost));
        self.dearest.truncate(4);
    }

    /// The errors of a total over the limit, for the schema at
    /// `schema_path`.
    pub(crate) fn errors(&self, schema_path: &str) -> Vec<FieldError> {
        if self.total <= STATIC_SCHEMA_LIMIT {
            return Vec::new();
        }
        let mut errs: Vec<FieldError> = self
            .dearest
            .iter()
            .map(|(path, _)| {
                FieldError::forbidden(
                    path.clone(),
                    "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                )
            })
            .collect();
        errs.push(FieldError::forbidden(
            schema_path,
            exceeds_budget(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                self.total,
                STATIC_SCHEMA_LIMIT,
            ),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_is_worded_as_upstream() {
        let msg = |cost| exceeds_budget("estimated rule cost", cost, STATIC_EXPRESSION_LIMIT);
        assert!(msg(10_000_001).starts_with(
            "estimated rule cost exceeds budget by factor of 1.000000x (try simplifying"
        ));
        assert!(msg(25_000_000).contains("factor of 2.5x "));
        assert!(msg(1_000_000_001).contains("factor of more than 100x "));
        assert!(msg(u64::MAX).contains("factor of more than 100x "));
    }

    #[test]
    fn total_keeps_the_four_dearest_of_at_least_one_percent() {
        let mut t = TotalCost::default();
        for (i, cost) in [
            999_999, 30_000_000, 20_000_000, 40_000_000, 5_000_000, 6_000_000,
        ]
        .into_iter()
        .enumerate()
        {
            t.observe(format!("r{i}"), cost);
        }
        let errs: Vec<String> = t.errors("s").iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "r3: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                "r1: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                "r2: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                "r5: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                "s: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of 1.020000x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)",
            ]
        );
        let mut under = TotalCost::default();
        under.observe("r".into(), STATIC_SCHEMA_LIMIT);
        assert!(under.errors("s").is_empty());
    }
}
