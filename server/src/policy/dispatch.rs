//! Evaluating the matching policies of one request, as kube's validating
//! policy dispatcher and validator do.
//!
//! For each policy that matches (its `matchConstraints`), each of its
//! bindings that matches (`matchResources`), and each param the binding
//! selects (one `null` param without a `paramKind` or `paramRef`):
//! `matchConditions` (any false skips; errors go to the failurePolicy),
//! then every validation (false → a failure with the messageExpression's
//! result, else the message, else `failed expression: <expression>`, and
//! the validation's reason; a runtime error → a failure if the policy
//! fails closed), then the audit annotations. A binding's
//! `validationActions` decide what a failure does: Deny refuses the
//! request, Warn adds `Validation failed for ValidatingAdmissionPolicy
//! '<p>' with binding '<b>': <message>` to the response's warnings, Audit
//! records it in the `validation.policy.admission.k8s.io/validation_failure`
//! audit annotation. A policy or binding that cannot be used (it does not
//! compile, its param is missing under `parameterNotFoundAction: Deny`…)
//! refuses the request unless the policy's failurePolicy is `Ignore`.
//!
//! The first denial is the answer: `<resource> "<name>" is forbidden:
//! ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request:
//! <message>`, with the validation's reason (default `Invalid`, 422).
//!
//! Beyond kube: one request may spend at most [`REQUEST_BUDGET`] over all
//! its evaluations (kube bounds each binding and param, not their number),
//! and a binding may select at most [`MAX_PARAMS`] params, so that no
//! number of policies a tenant writes makes one request run for long.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use trellis_apis::cel::admission::{
    Activation, EvalError, Expression, Inputs, OUT_OF_BUDGET, Prepared, Value as CelValue,
};
use trellis_apis::{Status, StatusCause};
use trellis_storage::{ListOptions, ReadAt};

use super::compiled::{Binding, Policy};
use super::{ClusterSet, Policies, Request, matching, notes};
use crate::error::{ApiError, ApiResult};
use crate::registry::store::Store;
use crate::registry::{Registry, ResourceDef};

/// The most one request may spend on policies, in CEL cost units (ten
/// bindings' worth of kube's per-evaluation budget, about 5 s).
pub const REQUEST_BUDGET: i64 = 100_000_000;
/// The most params one binding may select.
pub const MAX_PARAMS: usize = 100;
const MAX_VALIDATION_FAILURES: usize = 50;
/// A failure's message as warned and audited (the denial keeps it whole).
const MAX_MESSAGE_BYTES: usize = 4096;
/// All warnings of one request.
const MAX_WARNING_BYTES: usize = 64 * 1024;
/// All audit annotation values of one request.
const MAX_ANNOTATION_BYTES: usize = 1024 * 1024;
const MAX_AUDIT_VALUE_BYTES: usize = 10 * 1024;
const FAILURE_KEY: &str = "validation.policy.admission.k8s.io/validation_failure";

/// A refusal: the policy, the binding if one, the message and the reason.
struct Denial {
    policy: String,
    binding: Option<String>,
    message: String,
    reason: String,
}

/// The request as seen under one matched definition.
struct View {
    def: Arc<ResourceDef>,
    object: Value,
    old_object: Value,
    request: Value,
}

/// What the request meets, in the order kube meets it (the first denial
/// is the answer, whichever kind it is).
enum Job {
    /// A policy through one binding with one param, over one view of the
    /// request.
    Evaluate {
        policy: Arc<Policy>,
        binding: Arc<Binding>,
        view: usize,
        param: Option<Value>,
    },
    /// A configuration error (or the request's budget spent) that denies.
    Deny {
        policy: String,
        binding: Option<String>,
        message: String,
    },
}

/// Params held for evaluations not yet run, in bytes as stored, beyond
/// which the evaluations collected so far run at once.
const MAX_HELD_PARAMS: usize = 8 * 1024 * 1024;

/// One request's evaluation of every policy that applies to it.
pub struct Dispatch<'a> {
    policies: &'a Policies,
    req: &'a Request<'a>,
    /// The request's namespace object (kube's `namespaceObject`); `None`
    /// for cluster-scoped requests and Namespaces.
    namespace: Option<Value>,
    views: Vec<View>,
    /// What [`Dispatch::hooks`] met, run by [`Dispatch::finish`] (or
    /// sooner, when the params held grow past [`MAX_HELD_PARAMS`]).
    jobs: Vec<Job>,
    /// Bytes of params held by `jobs`.
    held: usize,
    denial: Option<Denial>,
    failures: Vec<Value>,
    warnings: Vec<String>,
    /// `<policy>/<key>` → distinct values.
    annotations: BTreeMap<String, Vec<String>>,
    /// Bytes of warnings and audit annotation values so far.
    warning_bytes: usize,
    annotation_bytes: usize,
    spent: i64,
}

/// What one validation, match condition set or annotation came to.
enum Decision {
    /// Refuse (subject to the binding's actions), with reason.
    Fail { message: String, reason: String },
}

impl<'a> Dispatch<'a> {
    pub fn new(policies: &'a Policies, req: &'a Request<'a>, namespace: Option<Value>) -> Self {
        Dispatch {
            policies,
            req,
            namespace,
            views: Vec::new(),
            jobs: Vec::new(),
            held: 0,
            denial: None,
            failures: Vec::new(),
            warnings: Vec::new(),
            annotations: BTreeMap::new(),
            warning_bytes: 0,
            annotation_bytes: 0,
            spent: 0,
        }
    }

    fn deny(&mut self, policy: &str, binding: Option<&str>, message: String, reason: &str) {
        if self.denial.is_none() {
            self.denial = Some(Denial {
                policy: policy.to_string(),
                binding: binding.map(str::to_string),
                message,
                reason: reason.to_string(),
            });
        }
    }

    /// The request's budget is spent: the policy's failurePolicy decides.
    fn out_of_budget(&mut self, policy: &Policy, binding: &Binding) {
        if !policy.fail_open {
            self.jobs.push(Job::Deny {
                policy: policy.name.clone(),
                binding: Some(binding.name.clone()),
                message: OUT_OF_BUDGET.into(),
            });
        }
    }

    /// A policy or binding that cannot be used.
    fn config_error(&mut self, policy: &Policy, binding: Option<&Binding>, why: &str) {
        if policy.fail_open {
            return;
        }
        let message = match binding {
            None => format!("failed to configure policy: {why}"),
            Some(_) => format!("failed to configure binding: {why}"),
        };
        self.jobs.push(Job::Deny {
            policy: policy.name.clone(),
            binding: binding.map(|b| b.name.clone()),
            message,
        });
    }

    /// Evaluates `set`'s policies (those of workspace `cluster`, whose
    /// resources `registry` lists).
    pub async fn hooks(
        &mut self,
        cluster: &str,
        registry: Option<&Registry>,
        set: &ClusterSet,
    ) -> ApiResult<()> {
        if set.hooks.is_empty() {
            return Ok(());
        }
        // Copied once: the loop below needs `self` mutably.
        let ns_labels = matching::labels_of(self.namespace.as_ref()).cloned();
        for hook in &set.hooks {
            let policy = &hook.policy;
            let Some(def) = matching::matches(&policy.constraints, self.req, ns_labels.as_ref())
            else {
                continue;
            };
            if let Some(why) = &policy.broken {
                self.config_error(policy, None, why);
                continue;
            }
            let param_def = match &policy.param_kind {
                None => None,
                Some((api_version, kind)) => match param_def(registry, api_version, kind) {
                    Some(d) => Some(d),
                    None => {
                        let (group, version) =
                            api_version.split_once('/').unwrap_or(("", api_version));
                        self.config_error(
                            policy,
                            None,
                            &format!(
                                "failed to find resource referenced by paramKind: '{group}/{version}, Kind={kind}'"
                            ),
                        );
                        continue;
                    }
                },
            };
            for binding in &hook.bindings {
                if let Some(why) = &binding.broken {
                    self.config_error(policy, Some(binding), why);
                    continue;
                }
                if let Some(res) = &binding.resources
                    && matching::matches(res, self.req, ns_labels.as_ref()).is_none()
                {
                    continue;
                }
                if self.spent >= REQUEST_BUDGET {
                    self.out_of_budget(policy, binding);
                    return Ok(());
                }
                let params = match self.params(param_def.as_ref(), binding, cluster).await? {
                    Ok(p) => p,
                    Err(why) => {
                        self.config_error(policy, Some(binding), &why);
                        continue;
                    }
                };
                if params.is_empty() {
                    continue;
                }
                let view = self.view(&def).await?;
                for param in params {
                    self.held = self
                        .held
                        .saturating_add(param.as_ref().map_or(0, |p| p.to_string().len()));
                    self.jobs.push(Job::Evaluate {
                        policy: policy.clone(),
                        binding: binding.clone(),
                        view,
                        param,
                    });
                }
                if self.held > MAX_HELD_PARAMS {
                    self.run_jobs();
                }
            }
        }
        Ok(())
    }

    /// kube's `CollectParams`: `Ok(Err(why))` is a configuration error.
    async fn params(
        &mut self,
        def: Option<&Arc<ResourceDef>>,
        binding: &Binding,
        cluster: &str,
    ) -> ApiResult<Result<Vec<Option<Value>>, String>> {
        let (Some(def), Some(pr)) = (def, &binding.param_ref) else {
            return Ok(Ok(vec![None]));
        };
        let deny_missing = pr.parameter_not_found_action.as_deref() == Some("Deny");
        let not_found = || {
            if deny_missing {
                Err(
                    "no params found for policy binding with `Deny` parameterNotFoundAction"
                        .to_string(),
                )
            } else {
                Ok(Vec::new())
            }
        };
        let ref_ns = pr.namespace.clone().unwrap_or_default();
        let namespace = if def.namespaced {
            let ns = if ref_ns.is_empty() {
                self.req.namespace.to_string()
            } else {
                ref_ns
            };
            if ns.is_empty() {
                return Ok(Err(
                    "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources"
                        .into(),
                ));
            }
            ns
        } else {
            if !ref_ns.is_empty() {
                return Ok(Err(
                    "paramRef.namespace must not be provided for a cluster-scoped `paramKind`"
                        .into(),
                ));
            }
            String::new()
        };
        let gr = def.group_resource();
        let storage = self.policies.storage.clone();
        let mut found = Vec::new();
        if let Some(name) = pr.name.as_deref().filter(|n| !n.is_empty()) {
            let Ok(key) = def.keyspace.object(cluster, &namespace, name) else {
                return Ok(not_found());
            };
            if let Some(rec) = storage
                .get(&key)
                .await
                .map_err(|e| ApiError::from_storage(e, &gr, name))?
            {
                self.spent = self.spent.saturating_add(read_cost(rec.value.len()));
                found.push(Some(
                    Store::served_stored(
                        def,
                        serde_json::from_slice(&rec.value)
                            .map_err(|e| ApiError::internal("stored param", e))?,
                    )
                    .await?,
                ));
            }
        } else if let Some(sel) = &pr.selector {
            let sel = serde_json::to_value(sel).unwrap_or(Value::Null);
            let selector = match trellis_apis::labels::from_label_selector(&sel) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let prefix = if def.namespaced {
                def.keyspace.namespace(cluster, &namespace)
            } else {
                def.keyspace.cluster(cluster)
            }
            .map_err(|e| ApiError::internal("param keyspace", e))?;
            let page = storage
                .list(ListOptions::all(prefix, ReadAt::Latest))
                .await
                .map_err(|e| ApiError::from_storage(e, &gr, ""))?;
            for rec in page.items {
                // Reading params is work the request pays for, like its
                // evaluations: a selector over many objects stops at the
                // request's budget.
                self.spent = self.spent.saturating_add(read_cost(rec.value.len()));
                if self.spent >= REQUEST_BUDGET {
                    return Ok(Err(OUT_OF_BUDGET.into()));
                }
                let Ok(obj) = serde_json::from_slice::<Value>(&rec.value) else {
                    continue;
                };
                if matching::matches_labels(&selector, matching::labels_of(Some(&obj))) {
                    if found.len() == MAX_PARAMS {
                        return Ok(Err(format!(
                            "paramRef selects more than {MAX_PARAMS} params"
                        )));
                    }
                    found.push(Some(Store::served_stored(def, obj).await?));
                }
            }
        }
        if found.is_empty() {
            return Ok(not_found());
        }
        Ok(Ok(found))
    }

    /// The request under `def` (the request's own definition or an
    /// equivalent one), built once per definition.
    async fn view(&mut self, def: &Arc<ResourceDef>) -> ApiResult<usize> {
        if let Some(i) = self.views.iter().position(|v| Arc::ptr_eq(&v.def, def)) {
            return Ok(i);
        }
        let req = self.req;
        let object = served_as(req, def, req.object).await?;
        let old_object = served_as(req, def, req.old_object).await?;
        let request = request_json(req, def);
        self.views.push(View {
            def: def.clone(),
            object,
            old_object,
            request,
        });
        Ok(self.views.len() - 1)
    }

    /// Runs every evaluation collected: each view's inputs are converted
    /// for CEL once, whatever number of policies sees them.
    fn run_jobs(&mut self) {
        let jobs = std::mem::take(&mut self.jobs);
        self.held = 0;
        // Out of `self` while the prepared contexts borrow them, back after.
        let views = std::mem::take(&mut self.views);
        let namespace = self.namespace.take();
        let null = Value::Null;
        let prepared: Vec<Prepared<'_>> = views
            .iter()
            .map(|v| {
                Prepared::new(&Inputs {
                    object: &v.object,
                    old_object: &v.old_object,
                    request: &v.request,
                    namespace_object: namespace.as_ref().unwrap_or(&null),
                    params: None,
                })
            })
            .collect();
        for p in &prepared {
            self.spent = self.spent.saturating_add(p.cost());
        }
        let mut published: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for job in &jobs {
            let (policy, binding, view, param) = match job {
                Job::Deny {
                    policy,
                    binding,
                    message,
                } => {
                    self.deny(policy, binding.as_deref(), message.clone(), "");
                    continue;
                }
                Job::Evaluate {
                    policy,
                    binding,
                    view,
                    param,
                } => (policy, binding, *view, param),
            };
            if self.spent >= REQUEST_BUDGET {
                // The rest are not evaluated: each one's failurePolicy
                // decides, so a policy that fails open cannot let a later
                // one that fails closed pass.
                if !policy.fail_open {
                    self.deny(&policy.name, Some(&binding.name), OUT_OF_BUDGET.into(), "");
                }
                continue;
            }
            let params = policy
                .param_kind
                .is_some()
                .then(|| param.as_ref().unwrap_or(&null));
            let names: Vec<&str> = policy.variable_names.iter().map(String::as_str).collect();
            let mut act = Activation::prepared(&prepared[view], params, &names, &policy.variables);
            let outcome = run(policy, &mut act);
            self.spent = self.spent.saturating_add(act.spent());
            drop(act);
            let published = published.entry(policy.name.clone()).or_default();
            self.record(policy, binding, outcome, published);
        }
        drop(prepared);
        self.views = views;
        self.namespace = namespace;
        for (policy, keys) in published {
            for (key, values) in keys {
                self.annotations
                    .entry(format!("{policy}/{key}"))
                    .or_default()
                    .extend(values);
            }
        }
    }

    /// What one binding with one param decided.
    fn record(
        &mut self,
        policy: &Policy,
        binding: &Binding,
        (decisions, annotations, errors): Outcome,
        published: &mut BTreeMap<String, Vec<String>>,
    ) {
        for (i, d) in decisions.into_iter().enumerate() {
            let Some(Decision::Fail { message, reason }) = d else {
                continue;
            };
            if binding.deny {
                self.deny(&policy.name, Some(&binding.name), message.clone(), &reason);
            }
            if binding.audit && self.failures.len() < MAX_VALIDATION_FAILURES {
                self.failures.push(json!({
                    "message": truncate(&message, MAX_MESSAGE_BYTES),
                    "policy": policy.name,
                    "binding": binding.name,
                    "expressionIndex": i,
                    "validationActions": binding.actions,
                }));
            }
            if binding.warn {
                let w = format!(
                    "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                    policy.name,
                    binding.name,
                    truncate(&message, MAX_MESSAGE_BYTES)
                );
                if self.warning_bytes + w.len() <= MAX_WARNING_BYTES && !self.warnings.contains(&w)
                {
                    self.warning_bytes += w.len();
                    self.warnings.push(w);
                }
            }
        }
        for (key, value) in annotations {
            let values = published.entry(key).or_default();
            if !values.contains(&value)
                && self.annotation_bytes + value.len() <= MAX_ANNOTATION_BYTES
            {
                self.annotation_bytes += value.len();
                values.push(value);
            }
        }
        // Audit annotations that failed under failurePolicy Fail deny
        // whatever the binding's actions.
        for message in errors {
            self.deny(&policy.name, Some(&binding.name), message, "");
        }
    }

    /// Ends the request: evaluates what was collected, publishes warnings
    /// and audit annotations, and answers the first denial.
    pub fn finish(mut self) -> ApiResult<()> {
        self.run_jobs();
        for w in self.warnings {
            notes::warn(w);
        }
        for (key, values) in self.annotations {
            notes::annotate(key, values.join(", "));
        }
        if !self.failures.is_empty() {
            let mut failures = self.failures;
            failures.truncate(MAX_VALIDATION_FAILURES);
            notes::annotate(FAILURE_KEY.into(), Value::Array(failures).to_string());
        }
        let Some(d) = self.denial else {
            return Ok(());
        };
        let message = match &d.binding {
            Some(b) => format!(
                "ValidatingAdmissionPolicy '{}' with binding '{b}' denied request: {}",
                d.policy, d.message
            ),
            None => format!(
                "ValidatingAdmissionPolicy '{}' denied request: {}",
                d.policy, d.message
            ),
        };
        let reason = if d.reason.is_empty() {
            "Invalid".to_string()
        } else {
            d.reason
        };
        let mut status = Status::forbidden(&self.req.def.group_resource(), self.req.name, &message);
        status.code = match reason.as_str() {
            "Forbidden" => 403,
            "Unauthorized" => 401,
            "RequestEntityTooLarge" => 413,
            _ => 422,
        };
        status.reason = reason;
        status.details.causes.push(StatusCause {
            reason: String::new(),
            message,
            field: String::new(),
        });
        Err(status.into())
    }
}

/// One of the request's objects (working form) as `def` serves it; `Null`
/// when absent.
pub(crate) async fn served_as(
    req: &Request<'_>,
    def: &ResourceDef,
    obj: Option<&Value>,
) -> ApiResult<Value> {
    match obj {
        None => Ok(Value::Null),
        Some(o) => Store::served_as(req.def, def, o).await,
    }
}

/// The admission request as CEL expressions and webhooks see it under
/// `def` (the request's own definition or an equivalent one): kube's
/// `AdmissionRequest` without uid and objects.
pub(crate) fn request_json(req: &Request<'_>, def: &ResourceDef) -> Value {
    let user = req.user;
    let options_kind = match req.operation {
        super::Operation::Create => "CreateOptions",
        super::Operation::Update => "UpdateOptions",
        super::Operation::Delete => "DeleteOptions",
    };
    let mut options = json!({"apiVersion": "meta.k8s.io/v1", "kind": options_kind});
    if req.dry_run {
        options["dryRun"] = json!(["All"]);
    }
    json!({
        "kind": {"group": def.group, "version": def.version, "kind": def.kind},
        "resource": {"group": def.group, "version": def.version, "resource": def.resource},
        "subResource": req.subresource,
        "requestKind": {"group": req.def.group, "version": req.def.version, "kind": req.def.kind},
        "requestResource": {"group": req.def.group, "version": req.def.version, "resource": req.def.resource},
        "requestSubResource": req.subresource,
        "name": req.name,
        // kube's request attributes give a Namespace its own name.
        "namespace": if req.def.group.is_empty() && req.def.resource == "namespaces" {
            req.name
        } else {
            req.namespace
        },
        "operation": req.operation.as_str(),
        "userInfo": {
            "username": user.name,
            "uid": user.uid,
            "groups": user.groups,
            "extra": user.extra,
        },
        "dryRun": req.dry_run,
        "options": options,
    })
}

/// Validations' decisions (by index; `None` = admitted), published audit
/// annotations, and audit-annotation errors that deny.
type Outcome = (Vec<Option<Decision>>, Vec<(String, String)>, Vec<String>);

fn error_decision(policy: &Policy, message: String) -> Option<Decision> {
    (!policy.fail_open).then(|| Decision::Fail {
        message,
        reason: String::new(),
    })
}

fn run(policy: &Policy, act: &mut Activation<'_>) -> Outcome {
    // Match conditions: any false skips the policy for this binding.
    let mut errors = Vec::new();
    for (_, cond) in &policy.match_conditions {
        match act.eval(cond) {
            Ok(CelValue::Bool(false)) => return (Vec::new(), Vec::new(), Vec::new()),
            Ok(CelValue::Bool(true)) => {}
            Ok(other) => errors.push(non_bool(cond, &other)),
            Err(EvalError::Failed(m)) => errors.push(m),
            Err(EvalError::OutOfBudget) => {
                errors.push(OUT_OF_BUDGET.to_string());
                break;
            }
        }
    }
    if !errors.is_empty() {
        let message = if errors.len() == 1 {
            errors.remove(0)
        } else {
            format!("[{}]", errors.join(", "))
        };
        return (
            vec![error_decision(policy, message)],
            Vec::new(),
            Vec::new(),
        );
    }
    let mut decisions = Vec::with_capacity(policy.validations.len());
    for v in &policy.validations {
        let d = match act.eval(&v.expression) {
            Ok(CelValue::Bool(true)) => None,
            Ok(CelValue::Bool(false)) => {
                let message = match &v.message_expression {
                    None => Ok(None),
                    Some(me) => match act.eval(me) {
                        Ok(CelValue::String(s)) => {
                            let s = s.trim();
                            Ok((!s.is_empty() && s.len() <= 5 * 1024 && !s.contains('\n'))
                                .then(|| s.to_string()))
                        }
                        Ok(_) | Err(EvalError::Failed(_)) => Ok(None),
                        Err(EvalError::OutOfBudget) => Err(()),
                    },
                };
                match message {
                    Err(()) => {
                        error_decision(policy, format!("failed messageExpression: {OUT_OF_BUDGET}"))
                    }
                    Ok(m) => Some(Decision::Fail {
                        message: m
                            .or_else(|| (!v.message.is_empty()).then(|| v.message.clone()))
                            .unwrap_or_else(|| {
                                format!("failed expression: {}", v.expression.source().trim())
                            }),
                        reason: v.reason.clone(),
                    }),
                }
            }
            Ok(other) => error_decision(policy, non_bool(&v.expression, &other)),
            Err(EvalError::Failed(m)) => error_decision(policy, m),
            Err(EvalError::OutOfBudget) => {
                // kube: the whole evaluation becomes one error decision.
                return (
                    vec![error_decision(policy, OUT_OF_BUDGET.to_string())],
                    Vec::new(),
                    Vec::new(),
                );
            }
        };
        decisions.push(d);
    }
    let mut published = Vec::new();
    let mut denied = Vec::new();
    if !policy.audit_annotations.is_empty() {
        act.renew_budget();
    }
    for a in &policy.audit_annotations {
        match act.eval(&a.value) {
            Ok(CelValue::String(s)) => {
                let s = s.trim();
                if !s.is_empty() {
                    let s = truncate(s, MAX_AUDIT_VALUE_BYTES).to_string();
                    published.push((a.key.clone(), s));
                }
            }
            Ok(CelValue::Null) => {}
            Ok(other) => {
                if !policy.fail_open {
                    denied.push(format!(
                        "valueExpression '{}' resulted in unsupported return type: {}. Return type must be either string or null.",
                        a.value.source(),
                        type_of(&other)
                    ));
                }
            }
            Err(EvalError::Failed(m)) => {
                if !policy.fail_open {
                    denied.push(m);
                }
            }
            Err(EvalError::OutOfBudget) => {
                if !policy.fail_open {
                    denied.push(OUT_OF_BUDGET.to_string());
                }
                break;
            }
        }
    }
    (decisions, published, denied)
}

/// What reading a stored param of `bytes` costs the request: a unit a
/// byte, since params are parsed, kept until the request's evaluations run
/// and converted for each (so one request holds at most
/// [`REQUEST_BUDGET`] bytes of them).
fn read_cost(bytes: usize) -> i64 {
    100i64.saturating_add(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The registry's definition of a param kind.
fn param_def(
    registry: Option<&Registry>,
    api_version: &str,
    kind: &str,
) -> Option<Arc<ResourceDef>> {
    registry?
        .all()
        .find(|d| d.api_version() == api_version && d.kind == kind)
        .cloned()
}

/// At most `max` bytes of `s`, cut at a character boundary.
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

fn type_of(v: &CelValue) -> String {
    match v {
        CelValue::Bool(_) => "bool".into(),
        CelValue::String(_) => "string".into(),
        CelValue::Null => "null_type".into(),
        CelValue::Other(t) => t.clone(),
    }
}

fn non_bool(e: &Expression, v: &CelValue) -> String {
    format!(
        "expression '{}' resulted in error: no such overload: expected bool, got {}",
        e.source(),
        type_of(v)
    )
}
