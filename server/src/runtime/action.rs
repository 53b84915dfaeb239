//! What a reconcile asks of the runtime once it returns.
//!
//! Shaped like kube-runtime's `Action`: a reconcile that converged waits
//! for the next change ([`Action::await_change`]); one that is waiting on
//! something no watch reports (a grant, an external initializer, objects
//! still being finalized) asks to run again after a fixed delay
//! ([`Action::requeue`]). An `error_policy` usually answers
//! [`Action::backoff`]: the delay then grows with the key's consecutive
//! failures and resets on its next success.

use std::time::Duration;

/// When a key should next be reconciled if no watch event asks first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action(pub(crate) Next);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    AwaitChange,
    After(Duration),
    Backoff,
}

impl Action {
    /// Nothing to do until a watched object changes.
    pub const fn await_change() -> Action {
        Action(Next::AwaitChange)
    }

    /// Run again after `delay` (sooner if a watch event asks).
    pub const fn requeue(delay: Duration) -> Action {
        Action(Next::After(delay))
    }

    /// Run again after the key's backoff delay (see
    /// [`Backoff`](super::Backoff)): the first failure waits the base
    /// delay, each further consecutive one twice as long, up to the cap.
    pub const fn backoff() -> Action {
        Action(Next::Backoff)
    }

    /// The sooner of two actions, for reconciles made of several steps:
    /// the key runs again when the most impatient step wants it to.
    /// A backoff counts as sooner than a fixed requeue (it starts small).
    #[must_use]
    pub fn min(self, other: Action) -> Action {
        match (self.0, other.0) {
            (Next::AwaitChange, x) | (x, Next::AwaitChange) => Action(x),
            (Next::Backoff, _) | (_, Next::Backoff) => Action(Next::Backoff),
            (Next::After(a), Next::After(b)) => Action(Next::After(a.min(b))),
        }
    }

    /// Whether the reconcile asked for nothing more.
    pub fn is_await_change(&self) -> bool {
        self.0 == Next::AwaitChange
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_keeps_the_most_impatient() {
        let a = Action::requeue(Duration::from_secs(2));
        let b = Action::requeue(Duration::from_secs(1));
        assert_eq!(a.min(b), b);
        assert_eq!(Action::await_change().min(a), a);
        assert_eq!(a.min(Action::await_change()), a);
        assert_eq!(a.min(Action::backoff()), Action::backoff());
        assert!(
            Action::await_change()
                .min(Action::await_change())
                .is_await_change()
        );
    }
}
