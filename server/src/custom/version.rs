//! Kubernetes' version priority (`v2` > `v1` > `v1beta2` > `v1beta1` >
//! `v1alpha1` > `foo`), which orders a group's versions in discovery: the
//! first is the preferred version clients use.

use std::cmp::Ordering;

/// `(stability, major, minor)` for `v<major>[(alpha|beta)<minor>]`.
fn parse(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits == 0 || rest.starts_with('0') {
        return None;
    }
    let major: u64 = rest[..digits].parse().ok()?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (0, m)
    } else {
        return None;
    };
    if minor.is_empty() || !minor.chars().all(|c| c.is_ascii_digit()) || minor.starts_with('0') {
        return None;
    }
    Some((stability, major, minor.parse().ok()?))
}

/// Orders versions most preferred first (`CompareKubeAwareVersionStrings`,
/// reversed): GA before beta before alpha, higher numbers first, and
/// versions that do not look like Kubernetes versions last, alphabetically.
pub fn preference(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then(y.2.cmp(&x.2)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_aware_order() {
        let mut v = vec![
            "foo1",
            "v1alpha1",
            "v10",
            "v1",
            "v2beta1",
            "v11beta2",
            "v1beta1",
            "v2",
            "v12alpha1",
            "foo10",
            "v1beta2",
            "v3alpha2",
            "v3alpha10",
        ];
        v.sort_by(|a, b| preference(a, b));
        assert_eq!(
            v,
            vec![
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v12alpha1",
                "v3alpha10",
                "v3alpha2",
                "v1alpha1",
                "foo1",
                "foo10"
            ]
        );
    }
}
