//! What admission adds to a request's response and audit line: `Warning`
//! headers and audit annotations.
//!
//! The request dispatcher runs each request inside [`scope`], and reads the
//! notes when the response is known; admission code anywhere below (the
//! generic store's policy step) adds to them with [`warn`] and
//! [`annotate`]. A task-local, because warnings must reach the client
//! whatever the outcome — a denied request carries them too — and through
//! every verb, where the return values of the store's operations differ.
//! Outside a scope (the server's own writes, unit tests) notes are dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Notes of one request.
#[derive(Debug, Default)]
pub struct Notes {
    pub warnings: Vec<String>,
    /// Audit annotations, by key.
    pub annotations: BTreeMap<String, String>,
    /// When the request's admission webhook calls must be over (set by
    /// the first call).
    pub webhook_deadline: Option<std::time::Instant>,
}

tokio::task_local! {
    static NOTES: Arc<Mutex<Notes>>;
}

/// Runs `f` collecting notes; returns its output and what was noted.
pub async fn scope<F: std::future::Future>(f: F) -> (F::Output, Notes) {
    let notes = Arc::new(Mutex::new(Notes::default()));
    let out = NOTES.scope(notes.clone(), f).await;
    let taken = std::mem::take(&mut *notes.lock());
    (out, taken)
}

/// The deadline of all admission webhook calls of this request: `budget`
/// from its first call. Outside a scope, `budget` from now.
pub fn admission_deadline(budget: std::time::Duration) -> std::time::Instant {
    NOTES
        .try_with(|n| {
            *n.lock()
                .webhook_deadline
                .get_or_insert_with(|| std::time::Instant::now() + budget)
        })
        .unwrap_or_else(|_| std::time::Instant::now() + budget)
}

/// Adds a warning for the client (`Warning: 299 - "…"`).
pub fn warn(message: String) {
    let _ = NOTES.try_with(|n| {
        let mut n = n.lock();
        if !n.warnings.contains(&message) {
            n.warnings.push(message);
        }
    });
}

/// Sets an audit annotation; a later value for the key replaces an
/// earlier one (a write retried after a conflict is admitted again, and
/// its last attempt is the one that counts).
pub fn annotate(key: String, value: String) {
    let _ = NOTES.try_with(|n| {
        n.lock().annotations.insert(key, value);
    });
}
