//! Calling the webhooks that apply to one request: matching (rules,
//! selectors, match conditions), the call, and what its answer does — as
//! kube's `generic.Webhook.ShouldCallHook` and its mutating and validating
//! dispatchers decide. See [`super`] for the order and the failure rules.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use trellis_apis::Status;
use trellis_apis::cel::admission::{
    Activation, EvalError, Inputs, OUT_OF_BUDGET, Value as CelValue,
};

use super::config::{Target, Webhook};
use super::egress::Egress;
use super::{
    ADMISSION_BUDGET, CONCURRENT_CALLS, MAX_CALLS, MAX_MUTATING_RESPONSE_BYTES,
    MAX_VALIDATING_RESPONSE_BYTES, review,
};
use crate::error::{ApiError, ApiResult};
use crate::policy::{Request, matching, notes};
use crate::registry::ResourceDef;
use crate::registry::store::Store;
use crate::request::params::FieldValidation;

/// The annotation kcp adds so a webhook knows the object's workspace.
const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";
/// One warning as passed on, and all of one request's webhook warnings.
const MAX_WARNING_BYTES: usize = 4096;
const MAX_WARNINGS_BYTES: usize = 64 * 1024;
/// One audit annotation value, and all of one request's.
const MAX_ANNOTATION_BYTES: usize = 10 * 1024;
const MAX_ANNOTATIONS_BYTES: usize = 1024 * 1024;
/// Fields of `metadata` a webhook cannot change (the store owns them).
const SYSTEM_FIELDS: [&str; 9] = [
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
];

/// Why a call did not yield a verdict.
struct CallError(String);

/// The request under one matched definition, as a webhook sees it.
struct View {
    def: Arc<ResourceDef>,
    request: Value,
    object: Value,
    old_object: Value,
}

/// What a request's webhooks add to its response and audit line, bounded.
#[derive(Default)]
struct Notes {
    warning_bytes: usize,
    annotation_bytes: usize,
}

impl Notes {
    fn warn(&mut self, w: &str) {
        let w = truncate(w, MAX_WARNING_BYTES);
        if self.warning_bytes + w.len() > MAX_WARNINGS_BYTES {
            return;
        }
        self.warning_bytes += w.len();
        notes::warn(w.to_string());
    }

    fn annotate(&mut self, key: String, value: &str) {
        let value = truncate(value, MAX_ANNOTATION_BYTES);
        if self.annotation_bytes + key.len() + value.len() > MAX_ANNOTATIONS_BYTES {
            return;
        }
        self.annotation_bytes += key.len() + value.len();
        notes::annotate(key, value.to_string());
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The object with kcp's cluster annotation, in `def`'s form.
async fn reviewed(req: &Request<'_>, def: &ResourceDef, obj: Option<&Value>) -> ApiResult<Value> {
    let mut v = crate::policy::dispatch::served_as(req, def, obj).await?;
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(CLUSTER_ANNOTATION.into(), Value::String(req.cluster.into()));
        }
    }
    Ok(v)
}

async fn view(req: &Request<'_>, def: &Arc<ResourceDef>) -> ApiResult<View> {
    Ok(View {
        def: def.clone(),
        request: crate::policy::dispatch::request_json(req, def),
        object: reviewed(req, def, req.object).await?,
        old_object: reviewed(req, def, req.old_object).await?,
    })
}

/// The definition under which `hook`'s rules and selectors match `req`.
/// A webhook without rules matches nothing (kube's webhook rule matcher;
/// unlike a policy binding, where no rules narrow nothing).
fn matched(
    hook: &Webhook,
    req: &Request<'_>,
    namespace: Option<&Value>,
) -> Option<Arc<ResourceDef>> {
    if hook.matcher.rules.is_empty() {
        return None;
    }
    matching::matches(&hook.matcher, req, matching::labels_of(namespace))
}

/// Whether `hook`'s match conditions hold for `v`; an error is a 403
/// unless the webhook fails open.
fn conditions_hold(hook: &Webhook, req: &Request<'_>, v: &View) -> ApiResult<bool> {
    if hook.match_conditions.is_empty() || hook.broken.is_some() {
        return Ok(true);
    }
    let null = Value::Null;
    let inputs = Inputs {
        object: &v.object,
        old_object: &v.old_object,
        request: &v.request,
        namespace_object: &null,
        params: None,
    };
    let mut act = Activation::new(&inputs, &[], &[]);
    let mut errors = Vec::new();
    for (_, cond) in &hook.match_conditions {
        match act.eval(cond) {
            Ok(CelValue::Bool(false)) => return Ok(false),
            Ok(CelValue::Bool(true)) => {}
            Ok(other) => errors.push(format!(
                "expression '{}' resulted in error: expected bool, got {other:?}",
                cond.source()
            )),
            Err(EvalError::Failed(m)) => errors.push(m),
            Err(EvalError::OutOfBudget) => {
                errors.push(OUT_OF_BUDGET.to_string());
                break;
            }
        }
    }
    drop(act);
    if errors.is_empty() {
        return Ok(true);
    }
    if hook.fail_open {
        return Ok(false);
    }
    let why = if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    };
    Err(Status::forbidden(&req.def.group_resource(), req.name, &why).into())
}

/// One call: the verdict, or why there is none. Records the destination.
/// The call ends by the webhook's timeout or the request's admission
/// deadline, whichever comes first.
async fn call(
    egress: &Egress,
    hook: &Webhook,
    view: &View,
    mutating: bool,
    notes: &mut Notes,
) -> Result<review::Reply, CallError> {
    if let Some(why) = &hook.broken {
        return Err(CallError(format!(
            "the webhook's configuration is invalid: {why}"
        )));
    }
    let ep = match &hook.target {
        Target::Url(ep) => ep,
        Target::Unresolvable(why) => {
            return Err(CallError(format!("failed to call webhook: {why}")));
        }
    };
    let left = notes::admission_deadline(ADMISSION_BUDGET)
        .saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        return Err(CallError(format!(
            "the request's admission webhooks took longer than {}s together",
            ADMISSION_BUDGET.as_secs()
        )));
    }
    let limit = if mutating {
        MAX_MUTATING_RESPONSE_BYTES
    } else {
        MAX_VALIDATING_RESPONSE_BYTES
    };
    let uid = uuid::Uuid::new_v4().to_string();
    let body = review::body(&uid, view.request.clone(), &view.object, &view.old_object);
    let (out, addr) = ep
        .post(egress, body.into(), hook.timeout.min(left), limit)
        .await;
    let destination = match (&out, addr) {
        (Ok(_), Some(a)) => format!("{} ({a})", ep.uri),
        (Err(e), Some(a)) => format!("{} ({a}): {e}", ep.uri),
        (Err(e), None) => format!("{}: {e}", ep.uri),
        (Ok(_), None) => ep.uri.to_string(),
    };
    notes.annotate(
        format!(
            "destination.webhook.admission.trellis.dev/{}.{}",
            hook.configuration, hook.name
        ),
        &destination,
    );
    let body =
        out.map_err(|e| CallError(format!("failed to call webhook: Post \"{}\": {e}", ep.uri)))?;
    let mut reply = review::parse(&body, &uid, mutating)
        .map_err(|e| CallError(format!("received invalid webhook response: {e}")))?;
    drop(body);
    reply.bound();
    Ok(reply)
}

/// kube's answer when a webhook that fails closed could not be called.
fn failed_closed(hook: &Webhook, err: &CallError) -> ApiError {
    tracing::info!(webhook = %hook.name, configuration = %hook.configuration, error = %err.0, "admission webhook failed, failing closed");
    Status::internal(format!("failed calling webhook {:?}: {}", hook.name, err.0)).into()
}

fn record(notes: &mut Notes, hook: &Webhook, reply: &review::Reply) {
    for (k, v) in &reply.audit_annotations {
        notes.annotate(format!("{}/{k}", hook.name), v);
    }
    for w in &reply.warnings {
        notes.warn(w);
    }
}

/// Runs the validating webhooks `hooks` (in order) for `req`.
pub async fn validate(
    egress: &Egress,
    req: &Request<'_>,
    hooks: &[Arc<Webhook>],
    namespace: Option<&Value>,
) -> ApiResult<()> {
    // Rules and selectors first (cheap), bounded before anything is built.
    let matches: Vec<(usize, &Arc<Webhook>, Arc<ResourceDef>)> = hooks
        .iter()
        .enumerate()
        .filter_map(|(i, h)| matched(h, req, namespace).map(|d| (i, h, d)))
        .collect();
    if matches.is_empty() {
        return Ok(());
    }
    if matches.len() > MAX_CALLS {
        return Err(too_many(req, matches.len()));
    }
    // One view per matched form of the request, shared by its webhooks.
    let mut views: Vec<View> = Vec::new();
    let mut calls = Vec::new();
    for (i, hook, def) in matches {
        let v = match views.iter().position(|v| Arc::ptr_eq(&v.def, &def)) {
            Some(v) => v,
            None => {
                views.push(view(req, &def).await?);
                views.len() - 1
            }
        };
        if conditions_hold(hook, req, &views[v])? {
            calls.push((i, hook, v));
        }
    }
    if calls.is_empty() {
        return Ok(());
    }
    let mut notes = Notes::default();
    // Boxed: the stream's type must not name a closure over borrowed
    // data, or the request's future is no longer provably `Send`.
    type Pending<'f> = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = (Result<review::Reply, CallError>, Notes)> + Send + 'f,
        >,
    >;
    let mut pending: Vec<Pending<'_>> = Vec::with_capacity(calls.len());
    for (_, hook, v) in &calls {
        let v = &views[*v];
        pending.push(Box::pin(async move {
            let mut n = Notes::default();
            let r = call(egress, hook, v, false, &mut n).await;
            (r, n)
        }));
    }
    let results: Vec<_> = futures::stream::iter(pending)
        .buffered(CONCURRENT_CALLS)
        .collect()
        .await;
    let mut first: Option<ApiError> = None;
    for ((i, hook, _), (result, n)) in calls.iter().zip(results) {
        notes.warning_bytes += n.warning_bytes;
        notes.annotation_bytes += n.annotation_bytes;
        match result {
            Ok(reply) => {
                record(&mut notes, hook, &reply);
                if !reply.allowed && first.is_none() {
                    first = Some(review::denial(&hook.name, reply.status.as_ref()).into());
                }
            }
            Err(e) if hook.fail_open => {
                tracing::info!(webhook = %hook.name, error = %e.0, "admission webhook failed, failing open");
                notes.annotate(
                    format!("failed-open.validating.webhook.admission.k8s.io/round_0_index_{i}"),
                    &hook.name,
                );
            }
            Err(e) => {
                if first.is_none() {
                    first = Some(failed_closed(hook, &e));
                }
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn too_many(req: &Request<'_>, n: usize) -> ApiError {
    Status::forbidden(
        &req.def.group_resource(),
        req.name,
        &format!("{n} admission webhooks apply to this request; at most {MAX_CALLS} may"),
    )
    .into()
}

/// Carries the fields the store owns from `before` into `after`, and
/// drops the cluster annotation the review added.
fn keep_system_fields(before: &Value, after: &mut Value) {
    let had_annotations = before.pointer("/metadata/annotations").is_some();
    let had_cluster = before
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(CLUSTER_ANNOTATION))
        .cloned();
    let Some(m) = after.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let old = before.get("metadata").and_then(Value::as_object);
    for f in SYSTEM_FIELDS {
        match old.and_then(|o| o.get(f)) {
            Some(v) => {
                m.insert(f.into(), v.clone());
            }
            None => {
                m.remove(f);
            }
        }
    }
    if let Some(ann) = m.get_mut("annotations").and_then(Value::as_object_mut) {
        match had_cluster {
            Some(v) => {
                ann.insert(CLUSTER_ANNOTATION.into(), v);
            }
            None => {
                ann.remove(CLUSTER_ANNOTATION);
            }
        }
        if ann.is_empty() && !had_annotations {
            m.remove("annotations");
        }
    }
}

/// Applies a mutating webhook's patch to the reviewed object and brings
/// the result back to stored form: decoded (pruned, defaulted) as a body
/// of that version is, the store's own fields kept. The result must still
/// be an object with object metadata, no deeper and no larger than a
/// request body may be: a webhook cannot store what a client could not.
async fn apply_patch(
    def: &ResourceDef,
    view: &View,
    patch: &[u8],
    current: &Value,
) -> Result<Value, CallError> {
    let ops = trellis_apis::patch::parse_json_patch(patch).map_err(|e| {
        CallError(format!(
            "received undecodable patch in webhook response: {e}"
        ))
    })?;
    if ops.is_empty() {
        return Ok(current.clone());
    }
    let mut patched = trellis_apis::patch::apply_json_patch(&view.object, &ops)
        .map_err(|e| CallError(format!("the patch does not apply: {e}")))?;
    if !patched.is_object() || !patched.get("metadata").is_some_and(Value::is_object) {
        return Err(CallError(
            "the patched object is not an object with object metadata".into(),
        ));
    }
    crate::meta::check_depth(&patched)
        .map_err(|e| CallError(format!("the patched object: {}", e.status().message)))?;
    let size = serde_json::to_vec(&patched).map_or(usize::MAX, |b| b.len());
    if size > crate::request::body::MAX_BODY_BYTES {
        return Err(CallError(format!(
            "the patched object is {size} bytes, more than the {} a request may write",
            crate::request::body::MAX_BODY_BYTES
        )));
    }
    keep_system_fields(&view.object, &mut patched);
    // apiVersion and kind are the view's, whatever the patch wrote.
    if let Some(o) = patched.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(view.def.api_version()));
        o.insert("kind".into(), Value::String(view.def.kind.clone()));
    }
    let decoded = view
        .def
        .strategy
        .decode(patched, FieldValidation::Ignore)
        .map_err(|e| {
            CallError(format!(
                "the patched object cannot be decoded: {}",
                e.status().message
            ))
        })?;
    let mut working = Store::working_from(def, &view.def, decoded.object)
        .await
        .map_err(|e| {
            CallError(format!(
                "the patched object cannot be converted: {}",
                e.status().message
            ))
        })?;
    keep_system_fields(current, &mut working);
    Ok(working)
}

/// Runs the mutating webhooks `hooks` over `object`; returns whether the
/// object changed.
pub async fn mutate(
    egress: &Egress,
    req: &Request<'_>,
    hooks: &[Arc<Webhook>],
    namespace: Option<&Value>,
    mut object: Option<&mut Value>,
) -> ApiResult<bool> {
    let mut notes = Notes::default();
    // How many times the object changed so far, and that count right
    // after each webhook's call: a webhook is reinvoked only if a later
    // one changed the object (without keeping a copy per webhook).
    let mut version = 0u64;
    let mut seen: Vec<Option<u64>> = vec![None; hooks.len()];
    let mut calls = 0usize;
    for round in 0..2 {
        if round == 1 && version == 0 {
            break;
        }
        for (i, hook) in hooks.iter().enumerate() {
            if round == 1 && !(hook.reinvoke_if_needed && seen[i].is_some_and(|v| v < version)) {
                continue;
            }
            // The request as it stands, borrowed (the view holds what the
            // webhook is sent; nothing is copied for a webhook that does
            // not match).
            let v = {
                let now = Request {
                    object: object.as_deref(),
                    ..*req
                };
                let Some(def) = matched(hook, &now, namespace) else {
                    continue;
                };
                calls += 1;
                if calls > MAX_CALLS {
                    return Err(too_many(req, calls));
                }
                let v = view(&now, &def).await?;
                if !conditions_hold(hook, &now, &v)? {
                    continue;
                }
                v
            };
            let annotate_failed_open = |notes: &mut Notes| {
                notes.annotate(
                    format!(
                        "failed-open.mutation.webhook.admission.k8s.io/round_{round}_index_{i}"
                    ),
                    &hook.name,
                );
            };
            let reply = match call(egress, hook, &v, true, &mut notes).await {
                Ok(r) => r,
                Err(e) if hook.fail_open => {
                    tracing::info!(webhook = %hook.name, error = %e.0, "admission webhook failed, failing open");
                    annotate_failed_open(&mut notes);
                    continue;
                }
                Err(e) => return Err(failed_closed(hook, &e)),
            };
            record(&mut notes, hook, &reply);
            if !reply.allowed {
                return Err(review::denial(&hook.name, reply.status.as_ref()).into());
            }
            let mut mutated = false;
            if let Some(patch) = &reply.patch {
                let outcome = match object.as_deref_mut() {
                    Some(obj) => apply_patch(req.def, &v, patch, obj).await.map(|new| {
                        mutated = new != *obj;
                        *obj = new;
                    }),
                    _ if trellis_apis::patch::parse_json_patch(patch)
                        .is_ok_and(|ops| ops.is_empty()) =>
                    {
                        Ok(())
                    }
                    _ => Err(CallError(format!(
                        "admission webhook {:?} attempted to modify the object, which is not supported for this operation",
                        hook.name
                    ))),
                };
                if let Err(e) = outcome {
                    if hook.fail_open {
                        annotate_failed_open(&mut notes);
                        continue;
                    }
                    return Err(failed_closed(hook, &e));
                }
            }
            notes.annotate(
                format!("mutation.webhook.admission.k8s.io/round_{round}_index_{i}"),
                &json!({"configuration": hook.configuration, "webhook": hook.name, "mutated": mutated})
                    .to_string(),
            );
            if mutated {
                version += 1;
            }
            seen[i] = Some(version);
        }
    }
    Ok(version > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configmap_view(object: Value) -> View {
        let builtins = crate::builtin::builtins();
        let def = builtins
            .registry
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        View {
            def,
            request: Value::Null,
            object,
            old_object: Value::Null,
        }
    }

    fn patch(ops: Value) -> Vec<u8> {
        serde_json::to_vec(&ops).unwrap()
    }

    #[tokio::test]
    async fn patches_cannot_leave_an_object_the_store_would_not_take() {
        let current = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "data": {"a": "1"}});
        let mut reviewed = current.clone();
        reviewed["metadata"]["annotations"] = json!({"kcp.io/cluster": "ws"});
        let v = configmap_view(reviewed);
        // A good patch: applied, decoded, the store's fields and the
        // review's annotation as they were.
        let out = apply_patch(
            &v.def,
            &v,
            &patch(json!([
                {"op": "add", "path": "/data/b", "value": "2"},
                {"op": "replace", "path": "/metadata/uid", "value": "forged"},
                {"op": "add", "path": "/unknownField", "value": 1},
            ])),
            &current,
        )
        .await
        .ok()
        .expect("applies");
        assert_eq!(out["data"]["b"], "2");
        assert_eq!(out["metadata"]["uid"], "u1");
        assert!(out.get("unknownField").is_none(), "{out}");
        assert!(out["metadata"].get("annotations").is_none(), "{out}");
        // The root replaced, metadata removed or retyped: refused.
        for ops in [
            json!([{"op": "replace", "path": "", "value": []}]),
            json!([{"op": "remove", "path": "/metadata"}]),
            json!([{"op": "replace", "path": "/metadata", "value": "x"}]),
        ] {
            let Err(e) = apply_patch(&v.def, &v, &patch(ops.clone()), &current).await else {
                panic!("{ops} applied");
            };
            assert!(
                e.0.contains("not an object with object metadata"),
                "{}",
                e.0
            );
        }
        // Too deep: refused whatever the patch parser allowed.
        let mut deep = json!("x");
        for _ in 0..120 {
            deep = json!({"d": deep});
        }
        let Err(e) = apply_patch(
            &v.def,
            &v,
            &patch(json!([{"op": "add", "path": "/metadata/annotations/deep", "value": deep}])),
            &current,
        )
        .await
        else {
            panic!("a 120-level object was taken");
        };
        assert!(e.0.contains("levels deep"), "{}", e.0);
        // Too large: more than a request body may be.
        let big = "x".repeat(crate::request::body::MAX_BODY_BYTES);
        let Err(e) = apply_patch(
            &v.def,
            &v,
            &patch(json!([{"op": "add", "path": "/data/big", "value": big}])),
            &current,
        )
        .await
        else {
            panic!("an object over the body limit was taken");
        };
        assert!(e.0.contains("more than the"), "{}", e.0);
        // Copies that would double the object are stopped by the patch
        // code's copy budget.
        let ops: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/metadata/annotations/c{i}")}))
            .collect();
        let mut v2 = v;
        v2.object["data"]["a"] = json!("y".repeat(200_000));
        let def = v2.def.clone();
        assert!(
            apply_patch(&def, &v2, &patch(json!(ops)), &current)
                .await
                .is_err()
        );
    }
}
