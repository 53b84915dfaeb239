//! The controller runtime: every background controller of the server is a
//! `reconcile(ctx, key) -> Result<Action, E>` function run by a
//! [`Controller`], shaped like kube-runtime's.
//!
//! - [`watcher`]: declared watches over storage prefixes, mapped to keys;
//!   they list first, resume a broken watch where it stopped, relist when
//!   the history expired (410), back off on failures and can resync.
//! - [`queue`]: the deduplicating work queue with per-key exponential
//!   backoff and delayed requeues; one run per key at a time, different
//!   keys concurrently up to a bound.
//! - [`controller`]: the loop tying both to a reconcile function and an
//!   `error_policy`, with graceful shutdown (in-flight reconciles finish).
//! - [`action`]: what a reconcile asks for next.
//! - [`backoff`]: the exponential delay both use.
//! - [`finalizer`]: clean up, then drop a finalizer.
//! - [`leader`]: the leader-election hook (a no-op for the single binary).
//! - [`reflector`]: caches fed by storage watches, with read-your-writes
//!   ([`Reflector::synced`]); every replica runs its own.
//!
//! Reconciles are level-triggered: a key says *what* to look at, never
//! *what happened*; the reconcile reads the current state and makes the
//! world match it, so a missed, repeated or reordered trigger costs at
//! most a no-op pass.

pub mod action;
pub mod backoff;
pub mod controller;
pub mod finalizer;
pub mod leader;
pub mod queue;
pub mod reflector;
pub mod watcher;

#[cfg(test)]
mod tests;

pub use action::Action;
pub use backoff::Backoff;
pub use controller::Controller;
pub use leader::{AlwaysLeader, LeaderElector, Lease};
pub use reflector::{Reflector, Sink};
pub use watcher::{Change, ChangeKind, Watch};
