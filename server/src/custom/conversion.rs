//! CRD conversion webhooks (`spec.conversion.strategy: Webhook`), called
//! as kube-apiserver's `webhookConverter` calls them: a `ConversionReview`
//! (`v1`, or `v1beta1` if that is the only version the definition
//! accepts) with the objects not yet in the desired version, checked on the
//! way back (uid, `Success`, one object per object sent, the desired
//! apiVersion, the same kind, name, namespace and uid) and with every
//! metadata field but labels and annotations restored from the original.
//! Messages are kube's (`conversion webhook for <group/version, Kind=K>
//! failed: …`).
//!
//! The definition's owner chooses where the server calls, so calls go
//! through the admission webhooks' client and the operator's egress policy
//! ([`crate::webhook::egress`]), and are bounded: one call per
//! [`MAX_BATCH`] objects (or [`MAX_BATCH_BYTES`]), [`CALL_TIMEOUT`] each,
//! [`BUDGET`] for all the calls of one conversion, an answer at most 1.5
//! times the request plus 64 KiB (it is parsed whole), and each converted
//! object no deeper and no larger than a request body may be. Converted objects are pruned and
//! defaulted by the target version's schema, as kube's schema coercer does.
//! The working form of these definitions is their served form (see
//! [`crate::registry::Conversion`]), so no strategy ever waits on a call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use trellis_apis::schema::Schema;

use super::api::ConversionWebhook;
use crate::registry::RemoteConverter;
use crate::webhook::client::Endpoint;
use crate::webhook::egress::Shared;

/// Objects per ConversionReview.
pub const MAX_BATCH: usize = 500;
/// Request bytes per ConversionReview (a batch closes once past it).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The longest failure message of a webhook passed on to clients.
pub const MAX_MESSAGE: usize = 4096;
/// One call (kube's webhook client default).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Every call of one conversion together (a long list's batches).
pub const BUDGET: Duration = Duration::from_secs(60);

/// One definition's webhook, shared by all its versions.
pub struct Webhook {
    /// The definition's name, for logs.
    name: String,
    kind: String,
    target: Result<Arc<Endpoint>, String>,
    /// `v1` or `v1beta1`: the first of the definition's list we speak.
    review_version: Option<&'static str>,
    egress: Shared,
}

impl Webhook {
    pub fn new(name: &str, kind: &str, spec: &ConversionWebhook, egress: Shared) -> Webhook {
        let target = match (&spec.url, &spec.service) {
            (Some(url), _) => url
                .parse::<http::Uri>()
                .map_err(|e| format!("the URL is invalid: {e}"))
                .and_then(|uri| {
                    let ca = spec.ca_bundle.as_ref().map_err(Clone::clone)?;
                    Endpoint::new(uri, (!ca.is_empty()).then_some(ca.as_slice()))
                })
                .map(Arc::new),
            (None, Some(svc)) => Err(format!(
                "clientConfig.service ({svc}) cannot be resolved: this control plane serves no Services; use clientConfig.url"
            )),
            (None, None) => Err("the webhook has no clientConfig".into()),
        };
        let review_version = spec.review_versions.iter().find_map(|v| match v.as_str() {
            "v1" => Some("v1"),
            "v1beta1" => Some("v1beta1"),
            _ => None,
        });
        Webhook {
            name: name.to_string(),
            kind: kind.to_string(),
            target,
            review_version,
            egress,
        }
    }

    /// Converts `objs` to `desired` (an apiVersion), leaving those already
    /// in it; errors are the message a client sees.
    /// `list`: the objects are a list's items (kube's messages number them
    /// from 1; a single object's have their own wording).
    async fn convert(
        &self,
        mut objs: Vec<Value>,
        desired: &str,
        list: bool,
    ) -> Result<Vec<Value>, String> {
        let pending: Vec<usize> = (0..objs.len())
            .filter(|&i| objs[i].get("apiVersion").and_then(Value::as_str) != Some(desired))
            .collect();
        let Some(&first) = pending.first() else {
            return Ok(objs);
        };
        let gvk = format!(
            "{}, Kind={}",
            objs[first]
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(""),
            self.kind
        );
        if self.review_version.is_none() {
            return Err("no supported conversion review versions".into());
        }
        let started = Instant::now();
        let mut sent_before = 0usize;
        let mut batch: Vec<usize> = Vec::new();
        let mut bytes = 0usize;
        for (n, &i) in pending.iter().enumerate() {
            batch.push(i);
            bytes += serde_json::to_vec(&objs[i]).map_or(0, |b| b.len());
            if n + 1 < pending.len() && batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                continue;
            }
            let left = BUDGET.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "conversion webhook for {gvk} failed: the conversion took longer than {}s",
                    BUDGET.as_secs()
                ));
            }
            let sent: Vec<&Value> = batch.iter().map(|&i| &objs[i]).collect();
            let converted = self
                .call(&sent, desired, left.min(CALL_TIMEOUT))
                .await
                .map_err(|e| format!("conversion webhook for {gvk} failed: {e}"))?;
            if converted.len() != batch.len() {
                return Err(format!(
                    "conversion webhook for {gvk} returned {} objects, expected {}",
                    converted.len(),
                    batch.len()
                ));
            }
            for (k, (i, mut out)) in batch.iter().copied().zip(converted).enumerate() {
                let at = sent_before + k + 1;
                check_converted(&objs[i], &out, desired).map_err(|(header, e)| {
                    match (list, header) {
                        (true, _) => format!(
                            "conversion webhook for {gvk} returned invalid converted object at index {at}: {e}"
                        ),
                        (false, true) => format!(
                            "conversion webhook for {gvk} returned invalid object at index 0: {e}"
                        ),
                        (false, false) => {
                            format!("conversion webhook for {gvk} returned invalid object: {e}")
                        }
                    }
                })?;
                restore_metadata(&objs[i], &mut out).map_err(|e| {
                    if list {
                        format!(
                            "conversion webhook for {gvk} returned invalid metadata in object at index {at}: {e}"
                        )
                    } else {
                        format!("conversion webhook for {gvk} returned invalid metadata: {e}")
                    }
                })?;
                objs[i] = out;
            }
            sent_before += batch.len();
            batch.clear();
            bytes = 0;
        }
        Ok(objs)
    }

    /// One ConversionReview: the converted objects of a successful answer.
    async fn call(
        &self,
        objs: &[&Value],
        desired: &str,
        timeout: Duration,
    ) -> Result<Vec<Value>, String> {
        let endpoint = self.target.as_ref().map_err(Clone::clone)?;
        let version = self.review_version.unwrap_or("v1");
        let uid = uuid::Uuid::new_v4().to_string();
        let api_version = format!("apiextensions.k8s.io/{version}");
        let body = serde_json::to_vec(&json!({
            "apiVersion": api_version,
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objs},
        }))
        .map_err(|e| e.to_string())?;
        // Converted objects are about the size of the originals; the answer
        // is parsed whole, so it is kept close to the request's size.
        let limit = body.len() + body.len() / 2 + 64 * 1024;
        let egress = self.egress.read().clone();
        let (answer, addr) = endpoint
            .post(&egress, Bytes::from(body), timeout, limit)
            .await;
        tracing::debug!(crd = %self.name, ?addr, ok = answer.is_ok(), "conversion webhook called");
        let answer = answer?;
        let review: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("the answer is not a ConversionReview: {e}"))?;
        drop(answer);
        read_review(review, version, &uid)
    }
}

/// The converted objects of `review`, or why there are none.
fn read_review(mut review: Value, version: &str, uid: &str) -> Result<Vec<Value>, String> {
    let want = format!("apiextensions.k8s.io/{version}");
    let got = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = review.get("kind").and_then(Value::as_str).unwrap_or("");
    // v1beta1 answers were never checked for their kind or uid (kube
    // keeps that for compatibility).
    if version == "v1" && (got != want || kind != "ConversionReview") {
        let (group, v) = got.split_once('/').unwrap_or(("", got));
        return Err(format!(
            "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got {group}/{v}, Kind={kind}"
        ));
    }
    let response = review
        .get("response")
        .filter(|r| r.is_object())
        .ok_or("no response provided")?;
    let got_uid = response.get("uid").and_then(Value::as_str).unwrap_or("");
    if version == "v1" && got_uid != uid {
        return Err(format!("expected response.uid={uid:?}, got {got_uid:?}"));
    }
    let result = response.get("result");
    let status = result
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if status != "Success" {
        let message = result
            .and_then(|r| r.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(if message.is_empty() {
            format!("response.result.status was '{status}', not 'Success'")
        } else {
            bounded(message).to_string()
        });
    }
    match review
        .pointer_mut("/response/convertedObjects")
        .map(Value::take)
    {
        Some(Value::Array(objs)) => Ok(objs),
        _ => Ok(Vec::new()),
    }
}

/// At most [`MAX_MESSAGE`] bytes of a webhook's message.
fn bounded(s: &str) -> &str {
    let mut end = s.len().min(MAX_MESSAGE);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// kube's checks of a converted object: its group/version and kind (`Err`
/// with `true`: kube words these apart), then `validateConvertedObject`,
/// plus the bounds a written object has.
fn check_converted(original: &Value, out: &Value, desired: &str) -> Result<(), (bool, String)> {
    if !out.is_object() {
        return Err((true, "the converted object is not an object".into()));
    }
    let api_version = out.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version != desired {
        return Err((
            true,
            format!("invalid groupVersion (expected {desired}, received {api_version})"),
        ));
    }
    let field = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (want, got) = (field(original, "/kind"), field(out, "/kind"));
    if want != got {
        return Err((
            true,
            format!("invalid kind (expected {want}, received {got})"),
        ));
    }
    for (what, path) in [
        ("name", "/metadata/name"),
        ("namespace", "/metadata/namespace"),
        ("UID", "/metadata/uid"),
    ] {
        let (e, a) = (field(original, path), field(out, path));
        if e != a {
            return Err((false, format!("must have the same {what}: {e} != {a}")));
        }
    }
    crate::meta::check_depth(out).map_err(|e| (false, e.status().message.clone()))?;
    let size = serde_json::to_vec(out).map_or(usize::MAX, |b| b.len());
    if size > crate::request::body::MAX_BODY_BYTES {
        return Err((
            false,
            format!(
                "the converted object is {size} bytes, more than the {} a request may write",
                crate::request::body::MAX_BODY_BYTES
            ),
        ));
    }
    Ok(())
}

/// kube's `restoreObjectMeta`: metadata is the original's, but for the
/// labels and annotations the webhook returned (validated if changed).
fn restore_metadata(original: &Value, out: &mut Value) -> Result<(), String> {
    let returned = match out.get("metadata") {
        None => return Err("missing metadata in converted object".into()),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "invalid metadata of type {} in converted object",
                type_name(other)
            ));
        }
    };
    let mut meta: Map<String, Value> = original
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for field in ["labels", "annotations"] {
        let Some(new) = returned.get(field).filter(|v| !v.is_null()) else {
            meta.remove(field);
            continue;
        };
        let Some(new) = new.as_object() else {
            return Err(format!(
                "invalid metadata.{field} of type {} in converted object",
                type_name(new)
            ));
        };
        for (k, v) in new {
            if !v.is_string() {
                return Err(format!(
                    "metadata.{field}[{k}] must be a string, but is {} in converted object",
                    type_name(v)
                ));
            }
        }
        if meta.get(field).and_then(Value::as_object) != Some(new) {
            let errs = if field == "labels" {
                trellis_apis::validation::validate_labels(new, "metadata.labels")
            } else {
                trellis_apis::validation::validate_annotations(new, "metadata.annotation")
            };
            if !errs.is_empty() {
                let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                // Go's aggregate error: one message alone, several in brackets.
                return Err(if msgs.len() == 1 {
                    msgs.join("")
                } else {
                    format!("[{}]", msgs.join(", "))
                });
            }
        }
        meta.insert(field.into(), Value::Object(new.clone()));
    }
    if let Some(o) = out.as_object_mut() {
        o.insert("metadata".into(), Value::Object(meta));
    }
    Ok(())
}

/// Go's name for a JSON value's type, as kube's messages print it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// One served version of a webhook-converted definition.
pub struct WebhookConverter {
    pub webhook: Arc<Webhook>,
    /// This version's apiVersion and structural schema.
    pub served: String,
    pub served_schema: Arc<Schema>,
    /// The storage version's.
    pub stored: String,
    pub stored_schema: Arc<Schema>,
}

impl RemoteConverter for WebhookConverter {
    fn to_served(&self, objs: Vec<Value>, list: bool) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        Box::pin(async move {
            let mut out = self.webhook.convert(objs, &self.served, list).await?;
            for o in &mut out {
                super::strategy::normalize(&self.served_schema, o);
            }
            Ok(out)
        })
    }

    fn serves_stored(&self) -> bool {
        self.served == self.stored
    }

    fn to_stored(&self, obj: Value) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let mut out = self.webhook.convert(vec![obj], &self.stored, false).await?;
            let mut obj = out.pop().ok_or("the conversion returned no object")?;
            super::strategy::normalize(&self.stored_schema, &mut obj);
            Ok(obj)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> Value {
        json!({"apiVersion": "example.io/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"a": "1"}, "finalizers": ["keep"]},
            "spec": {"size": 1}})
    }

    #[test]
    fn answers_are_checked_as_kube_checks_them() {
        let ok = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "x", "result": {"status": "Success"}, "convertedObjects": [{"a": 1}]}});
        assert_eq!(
            read_review(ok.clone(), "v1", "x").unwrap(),
            vec![json!({"a": 1})]
        );
        let e = read_review(ok.clone(), "v1", "y").unwrap_err();
        assert_eq!(e, r#"expected response.uid="y", got "x""#);
        // v1beta1 answers are not held to the uid.
        assert!(read_review(ok.clone(), "v1beta1", "y").is_ok());
        let mut wrong = ok.clone();
        wrong["kind"] = json!("AdmissionReview");
        assert_eq!(
            read_review(wrong.clone(), "v1", "x").unwrap_err(),
            "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got apiextensions.k8s.io/v1, Kind=AdmissionReview"
        );
        let mut failed = ok.clone();
        failed["response"]["result"] = json!({"status": "Failure", "message": "no way"});
        assert_eq!(
            read_review(failed.clone(), "v1", "x").unwrap_err(),
            "no way"
        );
        failed["response"]["result"] = json!({"status": "Failure"});
        assert_eq!(
            read_review(failed.clone(), "v1", "x").unwrap_err(),
            "response.result.status was 'Failure', not 'Success'"
        );
        let none = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"});
        assert_eq!(
            read_review(none.clone(), "v1", "x").unwrap_err(),
            "no response provided"
        );
    }

    #[test]
    fn converted_objects_keep_their_identity_and_metadata() {
        let orig = original();
        let mut out = json!({"apiVersion": "example.io/v2", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns", "uid": "u1", "resourceVersion": "99",
                "labels": {"b": "2"}, "annotations": {"c": "3"}, "finalizers": []},
            "spec": {"sizes": [1]}});
        check_converted(&orig, &out, "example.io/v2").unwrap();
        restore_metadata(&orig, &mut out).unwrap();
        // Everything but labels and annotations is the original's.
        assert_eq!(out["metadata"]["resourceVersion"], "7");
        assert_eq!(out["metadata"]["finalizers"], json!(["keep"]));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["metadata"]["annotations"], json!({"c": "3"}));
        assert_eq!(out["spec"], json!({"sizes": [1]}));

        assert_eq!(
            check_converted(&orig, &out, "example.io/v3").unwrap_err(),
            (
                true,
                "invalid groupVersion (expected example.io/v3, received example.io/v2)".into()
            )
        );
        for (path, what) in [
            ("/metadata/name", "name"),
            ("/metadata/namespace", "namespace"),
            ("/metadata/uid", "UID"),
            ("/kind", "kind"),
        ] {
            let mut bad = out.clone();
            *bad.pointer_mut(path).unwrap() = json!("other");
            let (_, e) = check_converted(&orig, &bad, "example.io/v2").unwrap_err();
            assert!(
                e.starts_with(&format!("must have the same {what}: "))
                    || e.starts_with(&format!("invalid {what} (expected ")),
                "{e}"
            );
        }
        let mut bad = out.clone();
        bad["metadata"]["labels"] = json!({"b": 2});
        assert_eq!(
            restore_metadata(&orig, &mut bad).unwrap_err(),
            "metadata.labels[b] must be a string, but is float64 in converted object"
        );
        let mut bad = out.clone();
        bad["metadata"]["labels"] = json!({"no good!": "x"});
        assert!(restore_metadata(&orig, &mut bad).is_err());
        let mut bad = out.clone();
        bad["metadata"] = json!("x");
        assert_eq!(
            restore_metadata(&orig, &mut bad).unwrap_err(),
            "invalid metadata of type string in converted object"
        );
        let mut bad = out;
        bad.as_object_mut().unwrap().remove("metadata");
        assert_eq!(
            restore_metadata(&orig, &mut bad).unwrap_err(),
            "missing metadata in converted object"
        );
    }

    #[test]
    fn converted_objects_are_bounded() {
        let orig = original();
        let mut deep = json!(1);
        for _ in 0..120 {
            deep = json!({"d": deep});
        }
        let mut out = orig.clone();
        out["apiVersion"] = json!("example.io/v2");
        out["spec"] = deep;
        assert!(
            check_converted(&orig, &out, "example.io/v2")
                .unwrap_err()
                .1
                .contains("levels deep")
        );
        out["spec"] = json!("x".repeat(crate::request::body::MAX_BODY_BYTES));
        assert!(
            check_converted(&orig, &out, "example.io/v2")
                .unwrap_err()
                .1
                .contains("more than the")
        );
        assert!(check_converted(&orig, &json!([]), "example.io/v2").is_err());
    }

    #[tokio::test]
    async fn nothing_is_sent_when_nothing_needs_converting() {
        // A webhook that cannot be reached: any call would fail.
        let spec = ConversionWebhook {
            url: None,
            service: Some("ns/svc".into()),
            ca_bundle: Ok(Vec::new()),
            review_versions: vec!["v1".into()],
        };
        let hook = Webhook::new("widgets.example.io", "Widget", &spec, Arc::default());
        let objs = vec![original(), original()];
        assert_eq!(
            hook.convert(objs.clone(), "example.io/v1", true)
                .await
                .unwrap(),
            objs
        );
        let e = hook.convert(objs, "example.io/v2", true).await.unwrap_err();
        assert_eq!(
            e,
            "conversion webhook for example.io/v1, Kind=Widget failed: clientConfig.service (ns/svc) cannot be resolved: this control plane serves no Services; use clientConfig.url"
        );
    }
}
