//! The CRD naming controller's decision (`NamingConditionController`) and
//! the status conditions the CRD controllers write, as pure functions.
//!
//! Naming: a CRD asks for names in `spec.names`; the controller records in
//! `status.acceptedNames` those it may serve. Every name is judged
//! separately against the names *accepted* (not requested) by all CRDs of
//! the same group, the CRD itself included, plus any reserved names. A name
//! the CRD already holds is always kept, so a CRD never loses a name it
//! serves to a newcomer; a conflicting new name leaves the old accepted one
//! in place and sets `NamesAccepted=False` with the reason of the last
//! conflict found (upstream's order: plural, singular, shortNames, kind,
//! listKind). Categories are never contested.
//!
//! Conditions: [`set_condition`] replaces a condition of the same type and
//! moves `lastTransitionTime` only when the status flips (or the time is
//! missing). The timestamp is a parameter: this crate never reads a clock.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::model::{Crd, Names};

/// Names that CRDs of a group may not take (e.g. built-in resources served
/// in that group). Normally empty.
#[derive(Clone, Debug, Default)]
pub struct ReservedNames {
    /// Resource names: plurals, singulars and short names.
    pub resources: BTreeSet<String>,
    /// Kinds and list kinds.
    pub kinds: BTreeSet<String>,
}

/// One `status.conditions` entry (without its timestamp).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The JSON form with the given `lastTransitionTime`.
    pub fn to_value(&self, last_transition_time: &str) -> Value {
        json!({
            "type": self.type_,
            "status": self.status,
            "lastTransitionTime": last_transition_time,
            "reason": self.reason,
            "message": self.message,
        })
    }
}

/// `Established=True`, set by the establishing controller once names are
/// accepted.
pub fn established_condition() -> Condition {
    Condition::new(
        "Established",
        "True",
        "InitialNamesAccepted",
        "the initial names have been accepted",
    )
}

/// `Established=False` the establishing controller of newer releases writes
/// instead of [`established_condition`] when the conversion webhook CA
/// bundle does not parse.
pub fn invalid_ca_bundle_condition() -> Condition {
    Condition::new(
        "Established",
        "False",
        "InvalidCABundle",
        "The conversion webhook CABundle is invalid",
    )
}

/// `Terminating=True` written when a delete request first marks the CRD.
pub fn terminating_pending_condition() -> Condition {
    Condition::new(
        "Terminating",
        "True",
        "InstanceDeletionPending",
        "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
    )
}

/// `Terminating=True` while the finalizer deletes the instances.
pub fn terminating_condition() -> Condition {
    Condition::new(
        "Terminating",
        "True",
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
    )
}

/// `Terminating=False` once every instance is gone.
pub fn instances_deleted_condition() -> Condition {
    Condition::new(
        "Terminating",
        "False",
        "InstanceDeletionCompleted",
        "removed all instances",
    )
}

/// `Terminating=False` for a CRD that was never established (nothing to
/// delete).
pub fn never_established_condition() -> Condition {
    Condition::new(
        "Terminating",
        "False",
        "NeverEstablished",
        "resource was never established",
    )
}

fn conditions_mut(crd: &mut Value) -> Option<&mut Vec<Value>> {
    let root = crd.as_object_mut()?;
    let status = root
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    let conds = status
        .as_object_mut()?
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !conds.is_array() {
        *conds = Value::Array(Vec::new());
    }
    conds.as_array_mut()
}

/// The condition of that type in `status.conditions`, if any.
pub fn find_condition<'v>(crd: &'v Value, type_: &str) -> Option<&'v Value> {
    crd.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// `IsCRDConditionTrue`.
pub fn is_condition_true(crd: &Value, type_: &str) -> bool {
    find_condition(crd, type_)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

/// `SetCRDCondition`: appends, or updates status/reason/message in place,
/// moving `lastTransitionTime` to `now` only when the status changes or the
/// existing time is empty.
pub fn set_condition(crd: &mut Value, cond: &Condition, now: &str) {
    let Some(conds) = conditions_mut(crd) else {
        return;
    };
    let existing = conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(cond.type_.as_str()));
    let Some(existing) = existing.and_then(Value::as_object_mut) else {
        conds.push(cond.to_value(now));
        return;
    };
    let old_status = existing.get("status").and_then(Value::as_str).unwrap_or("");
    let old_time = existing
        .get("lastTransitionTime")
        .and_then(Value::as_str)
        .unwrap_or("");
    if old_status != cond.status || old_time.is_empty() {
        existing.insert("lastTransitionTime".into(), json!(now));
    }
    existing.insert("status".into(), json!(cond.status));
    existing.insert("reason".into(), json!(cond.reason));
    existing.insert("message".into(), json!(cond.message));
}

/// `RemoveCRDCondition`.
pub fn remove_condition(crd: &mut Value, type_: &str) {
    if let Some(conds) = conditions_mut(crd) {
        conds.retain(|c| c.get("type").and_then(Value::as_str) != Some(type_));
    }
}

/// What the naming controller decided for one CRD.
#[derive(Clone, Debug, PartialEq)]
pub struct Naming {
    /// The new `status.acceptedNames`.
    pub accepted_names: Value,
    /// The `NamesAccepted` condition.
    pub names_accepted: Condition,
    /// The `Established` condition to write along with it.
    pub established: Condition,
}

fn names_value(n: &Names) -> Value {
    let mut m = Map::new();
    m.insert("plural".into(), json!(n.plural));
    if !n.singular.is_empty() {
        m.insert("singular".into(), json!(n.singular));
    }
    if !n.short_names.is_empty() {
        m.insert("shortNames".into(), json!(n.short_names));
    }
    m.insert("kind".into(), json!(n.kind));
    if !n.list_kind.is_empty() {
        m.insert("listKind".into(), json!(n.list_kind));
    }
    if !n.categories.is_empty() {
        m.insert("categories".into(), json!(n.categories));
    }
    Value::Object(m)
}

/// `equalToAcceptedOrFresh`.
fn accepted_or_fresh(
    requested: &str,
    accepted: &str,
    used: &BTreeSet<String>,
) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{requested:?} is already in use"))
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several in
/// brackets, duplicates dropped.
fn aggregate(msgs: &[String]) -> String {
    let mut seen = BTreeSet::new();
    let unique: Vec<&String> = msgs.iter().filter(|m| seen.insert(m.as_str())).collect();
    if unique.len() == 1 {
        unique[0].clone()
    } else {
        format!(
            "[{}]",
            unique
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `calculateNamesAndConditions` for `crd`, given every CRD of the logical
/// cluster (`all`, which may or may not contain `crd` itself: entries with
/// its `metadata.name` are ignored and its own accepted names are always
/// counted, as upstream's lister includes it).
pub fn calculate(crd: &Value, all: &[&Value], reserved: &ReservedNames) -> Naming {
    let me = Crd::parse(crd);
    let mut resources = reserved.resources.clone();
    let mut kinds = reserved.kinds.clone();
    let others = all
        .iter()
        .map(|v| Crd::parse(v))
        .filter(|c| c.name != me.name);
    for c in others.chain(std::iter::once(me.clone())) {
        if c.spec.group != me.spec.group {
            continue;
        }
        let a = &c.status.accepted_names;
        resources.insert(a.plural.clone());
        resources.insert(a.singular.clone());
        resources.extend(a.short_names.iter().cloned());
        kinds.insert(a.kind.clone());
        kinds.insert(a.list_kind.clone());
    }

    let requested = &me.spec.names;
    let accepted = &me.status.accepted_names;
    let mut new = accepted.clone();
    let mut failure: Option<(&str, String)> = None;

    match accepted_or_fresh(&requested.plural, &accepted.plural, &resources) {
        Ok(()) => new.plural = requested.plural.clone(),
        Err(e) => failure = Some(("PluralConflict", e)),
    }
    match accepted_or_fresh(&requested.singular, &accepted.singular, &resources) {
        Ok(()) => new.singular = requested.singular.clone(),
        Err(e) => failure = Some(("SingularConflict", e)),
    }
    if requested.short_names != accepted.short_names {
        let mine: BTreeSet<&String> = accepted.short_names.iter().collect();
        let errs: Vec<String> = requested
            .short_names
            .iter()
            .filter(|s| !mine.contains(s))
            // Our own accepted plural/singular are in `resources`; a short
            // name equal to them must not conflict with ourselves.
            .filter(|s| **s != accepted.plural && **s != accepted.singular)
            .filter_map(|s| accepted_or_fresh(s, "", &resources).err())
            .collect();
        if errs.is_empty() {
            new.short_names = requested.short_names.clone();
        } else {
            failure = Some(("ShortNamesConflict", aggregate(&errs)));
        }
    }
    match accepted_or_fresh(&requested.kind, &accepted.kind, &kinds) {
        Ok(()) => new.kind = requested.kind.clone(),
        Err(e) => failure = Some(("KindConflict", e)),
    }
    match accepted_or_fresh(&requested.list_kind, &accepted.list_kind, &kinds) {
        Ok(()) => new.list_kind = requested.list_kind.clone(),
        Err(e) => failure = Some(("ListKindConflict", e)),
    }
    new.categories = requested.categories.clone();

    let names_accepted = match &failure {
        None => Condition::new("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        Some((reason, msg)) => Condition::new("NamesAccepted", "False", reason, msg),
    };

    let mut established = match find_condition(crd, "Established") {
        Some(c) => {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Condition {
                type_: "Established".into(),
                status: s("status"),
                reason: s("reason"),
                message: s("message"),
            }
        }
        None => Condition::new(
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
        ),
    };
    if established.status != "True" && names_accepted.status == "True" {
        established = Condition::new(
            "Established",
            "False",
            "Installing",
            "the initial names have been accepted",
        );
    }

    Naming {
        accepted_names: names_value(&new),
        names_accepted,
        established,
    }
}

/// One naming-controller `sync` for `crd`: returns `false` (and leaves it
/// untouched) when there is nothing to write, otherwise updates
/// `status.acceptedNames` and the `NamesAccepted`/`Established` conditions
/// and returns `true`. After a change, the other CRDs of the group should be
/// re-synced: a name may have been released.
pub fn sync(crd: &mut Value, all: &[&Value], reserved: &ReservedNames, now: &str) -> bool {
    let parsed = Crd::parse(crd);
    if parsed.spec.names == parsed.status.accepted_names {
        return false;
    }
    let naming = calculate(crd, all, reserved);
    let current = Names::parse(
        naming
            .accepted_names
            .as_object()
            .map(|_| &naming.accepted_names),
    );
    let existing = find_condition(crd, "NamesAccepted").map(|c| {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Condition {
            type_: s("type"),
            status: s("status"),
            reason: s("reason"),
            message: s("message"),
        }
    });
    if current == parsed.status.accepted_names && existing.as_ref() == Some(&naming.names_accepted)
    {
        return false;
    }
    if let Some(root) = crd.as_object_mut() {
        let status = root
            .entry("status")
            .or_insert_with(|| Value::Object(Map::new()));
        if !status.is_object() {
            *status = Value::Object(Map::new());
        }
        if let Some(status) = status.as_object_mut() {
            status.insert("acceptedNames".into(), naming.accepted_names.clone());
        }
    }
    set_condition(crd, &naming.names_accepted, now);
    set_condition(crd, &naming.established, now);
    true
}
