//! Query parameters of API requests, parsed and checked the way the
//! Kubernetes API server does (unknown parameters are ignored; kube-rs even
//! sends an empty first pair, `?&watch=true`).

use std::time::Duration;

use trellis_apis::Status;

use crate::error::{ApiError, ApiResult};

/// How unknown or duplicate fields in a request body are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// `resourceVersionMatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RvMatch {
    Exact,
    NotOlderThan,
}

/// Every parameter the API server understands, for any verb.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<RvMatch>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    pub allow_watch_bookmarks: bool,
    pub timeout: Option<Duration>,
    pub send_initial_events: Option<bool>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: Option<FieldValidation>,
    pub force: Option<bool>,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub orphan_dependents: Option<bool>,
    pub include_object: Option<String>,
    pub pretty: bool,
}

/// A 422 for a parameter value outside its enumeration, as the API server's
/// options validation reports it.
fn invalid_option(name: &str, value: &str, supported: &[&str]) -> ApiError {
    let gk = trellis_apis::GroupKind {
        group: "meta.k8s.io".into(),
        kind: "Options".into(),
    };
    Status::invalid(
        &gk,
        "",
        &[trellis_apis::FieldError::not_supported(
            name, value, supported,
        )],
    )
    .into()
}

fn parse_bool(name: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "f" | "F" | "" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value {v:?} for parameter {name}: must be a boolean"
        ))),
    }
}

fn parse_int(name: &str, v: &str) -> ApiResult<i64> {
    v.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid value {v:?} for parameter {name}: must be an integer"
        ))
    })
}

impl Params {
    pub fn parse(query: Option<&str>) -> ApiResult<Self> {
        let mut p = Params::default();
        let Some(query) = query else { return Ok(p) };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.as_ref();
            match k.as_ref() {
                "watch" => p.watch = parse_bool("watch", v)?,
                "labelSelector" => p.label_selector = Some(v.to_string()),
                "fieldSelector" => p.field_selector = Some(v.to_string()),
                "resourceVersion" => p.resource_version = Some(v.to_string()),
                "resourceVersionMatch" => {
                    p.resource_version_match = match v {
                        "" => None,
                        "Exact" => Some(RvMatch::Exact),
                        "NotOlderThan" => Some(RvMatch::NotOlderThan),
                        other => {
                            return Err(invalid_option(
                                "resourceVersionMatch",
                                other,
                                &["Exact", "NotOlderThan"],
                            ));
                        }
                    }
                }
                "limit" => p.limit = Some(parse_int("limit", v)?),
                "continue" => p.continue_token = (!v.is_empty()).then(|| v.to_string()),
                "allowWatchBookmarks" => {
                    p.allow_watch_bookmarks = parse_bool("allowWatchBookmarks", v)?
                }
                "timeoutSeconds" => {
                    let secs = parse_int("timeoutSeconds", v)?;
                    p.timeout = (secs > 0).then(|| Duration::from_secs(secs as u64));
                }
                "sendInitialEvents" => {
                    p.send_initial_events = Some(parse_bool("sendInitialEvents", v)?)
                }
                "dryRun" => match v {
                    "All" => p.dry_run = true,
                    "" => {}
                    other => return Err(invalid_option("dryRun", other, &["All"])),
                },
                "fieldManager" => p.field_manager = Some(v.to_string()),
                "fieldValidation" => {
                    p.field_validation = Some(match v {
                        "Ignore" => FieldValidation::Ignore,
                        "Warn" | "" => FieldValidation::Warn,
                        "Strict" => FieldValidation::Strict,
                        other => {
                            return Err(invalid_option(
                                "fieldValidation",
                                other,
                                &["", "Ignore", "Strict", "Warn"],
                            ));
                        }
                    })
                }
                "force" => p.force = Some(parse_bool("force", v)?),
                "propagationPolicy" => p.propagation_policy = Some(v.to_string()),
                "gracePeriodSeconds" => {
                    p.grace_period_seconds = Some(parse_int("gracePeriodSeconds", v)?)
                }
                "orphanDependents" => {
                    p.orphan_dependents = Some(parse_bool("orphanDependents", v)?)
                }
                "includeObject" => p.include_object = Some(v.to_string()),
                "pretty" => p.pretty = parse_bool("pretty", v).unwrap_or(false),
                _ => {}
            }
        }
        Ok(p)
    }

    pub fn field_validation(&self) -> FieldValidation {
        self.field_validation.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_is_what_the_handlers_serve_as_one() {
        let watch = |q: Option<&str>| Params::parse(q).is_ok_and(|p| p.watch);
        for q in ["watch=t", "watch=T", "watch=True", "a=b&watch=1"] {
            assert!(watch(Some(q)), "{q}");
        }
        for q in ["watch=f", "watch=", "watch=maybe", "w=1", ""] {
            assert!(!watch(Some(q)), "{q}");
        }
        assert!(!watch(None));
    }

    #[test]
    fn parses_kube_rs_and_kubectl_queries() {
        let p = Params::parse(Some(
            "&watch=true&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=290",
        ))
        .unwrap();
        assert!(p.watch && p.allow_watch_bookmarks);
        assert_eq!(p.resource_version.as_deref(), Some("10"));
        assert_eq!(p.timeout, Some(Duration::from_secs(290)));
        let p = Params::parse(Some(
            "fieldManager=kubectl-client-side-apply&fieldValidation=Strict&dryRun=All",
        ))
        .unwrap();
        assert_eq!(p.field_validation(), FieldValidation::Strict);
        assert!(p.dry_run);
        assert_eq!(Params::parse(Some("dryRun=Some")).unwrap_err().code(), 422);
        assert_eq!(
            Params::parse(Some("fieldValidation=Bogus"))
                .unwrap_err()
                .code(),
            422
        );
        assert_eq!(Params::parse(Some("limit=abc")).unwrap_err().code(), 400);
        assert_eq!(
            Params::parse(Some("labelSelector=a%3Db%2Cc"))
                .unwrap()
                .label_selector
                .as_deref(),
            Some("a=b,c")
        );
    }
}
