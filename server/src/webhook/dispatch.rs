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
use super::{CONCURRENT_CALLS, MAX_CALLS, review};
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
fn reviewed(def: &ResourceDef, obj: Option<&Value>, cluster: &str) -> Value {
    let Some(obj) = obj else { return Value::Null };
    let mut v = Store::served_value(def, obj.clone());
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(CLUSTER_ANNOTATION.into(), Value::String(cluster.into()));
        }
    }
    v
}

fn view(req: &Request<'_>, def: &Arc<ResourceDef>) -> View {
    View {
        def: def.clone(),
        request: crate::policy::dispatch::request_json(req, def),
        object: reviewed(def, req.object, req.cluster),
        old_object: reviewed(def, req.old_object, req.cluster),
    }
}

/// Whether `hook` applies to `req` and under which definition; a match
/// condition error is a 403 unless the webhook fails open.
fn should_call(
    hook: &Webhook,
    req: &Request<'_>,
    namespace: Option<&Value>,
) -> ApiResult<Option<View>> {
    let labels = matching::labels_of(namespace);
    let Some(def) = matching::matches(&hook.matcher, req, labels) else {
        return Ok(None);
    };
    let v = view(req, &def);
    if hook.match_conditions.is_empty() || hook.broken.is_some() {
        return Ok(Some(v));
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
            Ok(CelValue::Bool(false)) => return Ok(None),
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
        return Ok(Some(v));
    }
    if hook.fail_open {
        return Ok(None);
    }
    let why = if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    };
    Err(Status::forbidden(&req.def.group_resource(), req.name, &why).into())
}

/// One call: the verdict, or why there is none. Records the destination.
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
    let uid = uuid::Uuid::new_v4().to_string();
    let body = review::body(&uid, view.request.clone(), &view.object, &view.old_object);
    let (out, addr) = ep.post(egress, body.into(), hook.timeout).await;
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
    review::parse(&body, &uid, mutating)
        .map_err(|e| CallError(format!("received invalid webhook response: {e}")))
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
    let mut calls = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        if let Some(v) = should_call(hook, req, namespace)? {
            calls.push((i, hook.clone(), v));
        }
    }
    if calls.is_empty() {
        return Ok(());
    }
    if calls.len() > MAX_CALLS {
        return Err(too_many(req, calls.len()));
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
/// of that version is, the store's own fields kept.
fn apply_patch(view: &View, patch: &[u8], current: &Value) -> Result<Value, CallError> {
    let ops = trellis_apis::patch::parse_json_patch(patch).map_err(|e| {
        CallError(format!(
            "received undecodable patch in webhook response: {e}"
        ))
    })?;
    if ops.is_empty() {
        return Ok(current.clone());
    }
    let patched = trellis_apis::patch::apply_json_patch(&view.object, &ops)
        .map_err(|e| CallError(format!("the patch does not apply: {e}")))?;
    let mut patched = patched;
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
    let mut stored = match &view.def.converter {
        None => decoded.object,
        Some(c) => c.to_stored(decoded.object),
    };
    keep_system_fields(current, &mut stored);
    Ok(stored)
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
    let original = object.as_deref().cloned();
    // The object right after each webhook's call (by index), to know
    // whether a later webhook changed it.
    let mut after: Vec<Option<Value>> = vec![None; hooks.len()];
    let mut calls = 0usize;
    let mut changed_any = false;
    for round in 0..2 {
        if round == 1 && !changed_any {
            break;
        }
        for (i, hook) in hooks.iter().enumerate() {
            if round == 1 {
                // Reinvoked only if it asked to be, was called, and the
                // object changed after its call.
                let current = object.as_deref();
                if !hook.reinvoke_if_needed || after[i].is_none() || after[i].as_ref() == current {
                    continue;
                }
            }
            let current = object.as_deref().cloned();
            let now = Request {
                object: current.as_ref(),
                ..*req
            };
            let Some(v) = should_call(hook, &now, namespace)? else {
                continue;
            };
            calls += 1;
            if calls > MAX_CALLS {
                return Err(too_many(req, calls));
            }
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
                let outcome = match (object.as_deref_mut(), &current) {
                    (Some(obj), Some(cur)) => apply_patch(&v, patch, cur).map(|new| {
                        mutated = new != *cur;
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
            changed_any |= mutated;
            after[i] = object.as_deref().cloned();
        }
    }
    Ok(object.as_deref() != original.as_ref())
}
