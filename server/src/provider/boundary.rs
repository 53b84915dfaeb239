//! The ownership boundary on the provider's side, as admission on the
//! definitions the provider's endpoint serves.
//!
//! A consumer owns its instances: their existence and their spec. The
//! provider owns status (the status subresource is open to it here and
//! closed in the consumer's workspace) and may coordinate through
//! metadata — labels, annotations and finalizers, the last being how a
//! provider cleans up before an instance goes. Everything else a provider
//! sends to the main resource must leave the object as it was; the
//! `kcp.io/cluster` annotation its view adds is dropped on the way in.

use serde_json::Value;
use trellis_apis::Status;
use trellis_apis::labels::Selector;

use crate::error::ApiResult;
use crate::meta;
use crate::registry::admission::{Admission, AdmitCtx};

/// Exported resources: no creates, no spec changes.
pub struct ProviderBoundary;

/// The object without what a provider may change. Owner references stay
/// the consumer's: a provider naming an owner that does not exist would
/// have the garbage collector delete an instance it may not delete.
fn consumer_owned(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        let owners = m
            .get("metadata")
            .and_then(|md| md.get("ownerReferences"))
            .cloned();
        m.remove("status");
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(owners) = owners {
            m.insert("ownerReferences".into(), owners);
        }
    }
    o
}

fn drop_view_annotation(new: &mut Value, old: &Value) {
    let had = old
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(meta::CLUSTER_ANNOTATION))
        .is_some();
    if !had
        && let Some(a) = new
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
    {
        a.remove(meta::CLUSTER_ANNOTATION);
    }
}

#[async_trait::async_trait]
impl Admission for ProviderBoundary {
    async fn admit_create(&self, _ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        // Reached by server-side apply of an object that does not exist.
        Err(Status::failure(
            403,
            "Forbidden",
            format!(
                "{:?} does not exist: a provider cannot create instances in consumer workspaces",
                meta::name(obj)
            ),
        )
        .into())
    }

    async fn admit_update(
        &self,
        _ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        drop_view_annotation(new, old);
        if consumer_owned(new) != consumer_owned(old) {
            return Err(Status::failure(
                403,
                "Forbidden",
                format!(
                    "{:?}: spec is owned by the consumer; a provider may change only status, labels, annotations and finalizers",
                    meta::name(old)
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// Claimed resources with a selector: the provider's writes must keep
/// objects inside it. As kcp's selector admission: on create and update
/// the selector's `matchLabels` are added where missing (so a provider
/// need not repeat them), a different value is refused; the whole
/// selector (expressions included, which are never applied) must match.
pub struct ClaimSelector {
    pub selector: Selector,
    /// The claim's `matchLabels`.
    pub match_labels: serde_json::Map<String, Value>,
}

impl ClaimSelector {
    fn apply(&self, obj: &mut Value) -> ApiResult<()> {
        if self.match_labels.is_empty() {
            return Ok(());
        }
        let labels = meta::labels_mut(obj);
        for (k, want) in &self.match_labels {
            match labels.get(k) {
                None => {
                    labels.insert(k.clone(), want.clone());
                }
                Some(have) if have == want => {}
                Some(_) => {
                    return Err(Status::failure(
                        403,
                        "Forbidden",
                        format!(
                            "protected label {k} must have value {}",
                            want.as_str().unwrap_or_default()
                        ),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    fn check(&self, obj: &Value) -> ApiResult<()> {
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if self.selector.matches(&labels) {
            return Ok(());
        }
        Err(Status::failure(
            403,
            "Forbidden",
            format!(
                "{:?} would not match the permission claim's selector {:?}",
                meta::name(obj),
                self.selector.to_string()
            ),
        )
        .into())
    }
}

#[async_trait::async_trait]
impl Admission for ClaimSelector {
    async fn admit_create(&self, _ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        self.apply(obj)?;
        self.check(obj)
    }

    async fn admit_update(
        &self,
        _ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        drop_view_annotation(new, old);
        self.apply(new)?;
        self.check(new)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claim(selector: Value) -> ClaimSelector {
        ClaimSelector {
            selector: trellis_apis::labels::from_label_selector(&selector).unwrap(),
            match_labels: selector
                .get("matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn claim_match_labels_are_added_and_protected() {
        let c = claim(json!({"matchLabels": {"app": "db", "tier": "x"}}));
        let mut obj = json!({"metadata": {"name": "s", "labels": {"tier": "x", "other": "1"}}});
        c.apply(&mut obj).unwrap();
        c.check(&obj).unwrap();
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"app": "db", "tier": "x", "other": "1"})
        );
        let mut unlabelled = json!({"metadata": {"name": "s"}});
        c.apply(&mut unlabelled).unwrap();
        assert_eq!(
            unlabelled["metadata"]["labels"],
            json!({"app": "db", "tier": "x"})
        );
        let mut other = json!({"metadata": {"name": "s", "labels": {"app": "web"}}});
        let err = c.apply(&mut other).unwrap_err();
        assert_eq!(err.code(), 403);
        assert!(
            err.to_string()
                .contains("protected label app must have value db"),
            "{err}"
        );
        // Expressions are checked, never applied.
        let c = claim(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}));
        let mut obj = json!({"metadata": {"name": "s"}});
        c.apply(&mut obj).unwrap();
        assert_eq!(c.check(&obj).unwrap_err().code(), 403);
    }

    #[test]
    fn only_spec_and_other_content_are_the_consumers() {
        let old = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"}, "spec": {"size": 1}});
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"a": "b"});
        relabelled["status"] = json!({"ready": true});
        assert_eq!(consumer_owned(&relabelled), consumer_owned(&old));
        let mut resized = old.clone();
        resized["spec"]["size"] = json!(2);
        assert_ne!(consumer_owned(&resized), consumer_owned(&old));
        // An owner named by the provider would let the collector delete
        // the instance: owner references are the consumer's.
        let mut owned = old.clone();
        owned["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "x"}]);
        assert_ne!(consumer_owned(&owned), consumer_owned(&old));
    }
}
