//! The finalizer helper: clean up before an object may go.
//!
//! kube-runtime's `finalizer` in this server's terms. Finalizers here are
//! added when the object is created (by its strategy or admission, so no
//! object ever exists unguarded), so the helper has two parts:
//!
//! - [`phase`] tells a reconcile what an object needs: normal work
//!   ([`Phase::Apply`]), cleanup because it is being deleted and still
//!   carries our finalizer ([`Phase::Cleanup`]), or nothing because it is
//!   being deleted and our part is done ([`Phase::Released`]);
//! - [`finalize`] runs a cleanup and, once it reports [`Cleanup::Done`],
//!   drops the finalizer, which lets the store complete the deletion.
//!
//! Cleanups must be idempotent: a pass can be cut short (an error, a
//! restart) and is simply run again.

use std::future::Future;

use serde_json::{Value, json};

use super::action::Action;
use crate::error::ApiError;
use crate::meta;
use crate::registry::store::{Mutation, Store, WriteCtx};

/// What an object needs from the controller owning `finalizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Apply,
    Cleanup,
    Released,
}

pub fn phase(obj: &Value, finalizer: &str) -> Phase {
    match (
        meta::is_deleting(obj),
        meta::finalizers(obj).iter().any(|f| f == finalizer),
    ) {
        (false, _) => Phase::Apply,
        (true, true) => Phase::Cleanup,
        (true, false) => Phase::Released,
    }
}

/// How far a cleanup pass got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing is left: the finalizer may go.
    Done,
    /// Work remains (e.g. dependents still finalizing): run again as asked.
    Pending(Action),
}

/// Dropping a finalizer failed.
#[derive(Debug, thiserror::Error)]
#[error("removing finalizer {finalizer}: {error}")]
pub struct RemoveError {
    pub finalizer: String,
    pub error: ApiError,
}

/// Runs `cleanup` for `obj` (being deleted, carrying `finalizer`) and, once
/// it is done, removes the finalizer through `ctx` — only from the same
/// object (same uid), never from one recreated under its name meanwhile.
pub async fn finalize<E, Fut>(
    store: &Store,
    ctx: &WriteCtx<'_>,
    obj: &Value,
    finalizer: &str,
    cleanup: impl FnOnce() -> Fut,
) -> Result<Action, E>
where
    Fut: Future<Output = Result<Cleanup, E>>,
    E: From<RemoveError>,
{
    match cleanup().await? {
        Cleanup::Pending(a) => Ok(a),
        Cleanup::Done => {
            let uid = meta::str_field(obj, "uid");
            remove(store, ctx, meta::name(obj), finalizer, Some(uid)).await?;
            Ok(Action::await_change())
        }
    }
}

/// Drops `finalizer` from object `name` (only while it has `uid`, when
/// given). An object that is gone, recreated or already without the
/// finalizer needs nothing and is left unwritten.
pub async fn remove(
    store: &Store,
    ctx: &WriteCtx<'_>,
    name: &str,
    finalizer: &str,
    uid: Option<&str>,
) -> Result<(), RemoveError> {
    let res = store
        .update_with(ctx, name, |cur| {
            let Some(mut cur) = cur else {
                return Ok(Mutation::Unchanged);
            };
            let fins = meta::finalizers(&cur);
            if uid.is_some_and(|u| meta::str_field(&cur, "uid") != u)
                || !fins.iter().any(|f| f == finalizer)
            {
                return Ok(Mutation::Unchanged);
            }
            let kept: Vec<String> = fins.into_iter().filter(|f| f != finalizer).collect();
            meta::meta_mut(&mut cur).insert("finalizers".into(), json!(kept));
            Ok(Mutation::Update {
                body: cur,
                pinned_rv: None,
                warnings: Vec::new(),
            })
        })
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 404 => Ok(()),
        Err(error) => Err(RemoveError {
            finalizer: finalizer.to_string(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases() {
        let f = "x.io/f";
        assert_eq!(
            phase(&json!({"metadata": {"finalizers": [f]}}), f),
            Phase::Apply
        );
        let deleting = |fins: Value| json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": fins}});
        assert_eq!(phase(&deleting(json!([f])), f), Phase::Cleanup);
        assert_eq!(phase(&deleting(json!(["other"])), f), Phase::Released);
    }
}
