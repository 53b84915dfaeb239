//! Fair shares of the server between tenants, in the spirit of API
//! Priority and Fairness.
//!
//! Every authenticated request holds a *seat* from when it is admitted
//! until its response has been sent (a streamed list holds it while it
//! streams; a watch holds a watch seat for its whole life). Seats are
//! counted per user and per workspace: one user's LIST storm can take at
//! most its per-user share, and a workspace full of ServiceAccounts at most
//! the workspace's share, so other tenants' requests still find room.
//!
//! A request beyond a limit waits (up to [`Limits::queue_wait`]) for a seat
//! to free, then is refused with 429 and `Retry-After`, which every
//! Kubernetes client honours. `system:masters` and the server's own
//! controllers (which do not come through HTTP) are exempt.
//!
//! Invariant: the counters equal the number of live [`Seat`]s; a key with
//! no seat is removed, so the maps hold only tenants with requests in
//! flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::auth::UserInfo;
use crate::error::ApiError;

/// How many requests may be in flight at once.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests (watches excepted) per user.
    pub requests_per_user: usize,
    /// Requests (watches excepted) per workspace.
    pub requests_per_workspace: usize,
    /// Open watches per user.
    pub watches_per_user: usize,
    /// Open watches per workspace.
    pub watches_per_workspace: usize,
    /// How long a request waits for a seat before 429.
    pub queue_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_user: 32,
            requests_per_workspace: 64,
            watches_per_user: 512,
            watches_per_workspace: 2048,
            queue_wait: Duration::from_secs(1),
        }
    }
}

#[derive(Default)]
struct Counts {
    users: HashMap<String, usize>,
    workspaces: HashMap<String, usize>,
}

impl Counts {
    fn take(&mut self, user: &str, ws: &str, max_user: usize, max_ws: usize) -> bool {
        let u = self.users.get(user).copied().unwrap_or(0);
        let w = self.workspaces.get(ws).copied().unwrap_or(0);
        if u >= max_user || w >= max_ws {
            return false;
        }
        *self.users.entry(user.to_string()).or_default() += 1;
        *self.workspaces.entry(ws.to_string()).or_default() += 1;
        true
    }

    fn give(&mut self, user: &str, ws: &str) {
        for (map, k) in [(&mut self.users, user), (&mut self.workspaces, ws)] {
            if let Some(n) = map.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
    }
}

/// The seat counters of one server.
pub struct Fairness {
    limits: Limits,
    requests: Mutex<Counts>,
    watches: Mutex<Counts>,
    freed: Notify,
}

/// A held seat; dropping it frees it.
pub struct Seat {
    owner: Arc<Fairness>,
    watch: bool,
    user: String,
    workspace: String,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let counts = if self.watch {
            &self.owner.watches
        } else {
            &self.owner.requests
        };
        counts.lock().give(&self.user, &self.workspace);
        self.owner.freed.notify_waiters();
    }
}

impl Fairness {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Fairness {
            limits,
            requests: Mutex::new(Counts::default()),
            watches: Mutex::new(Counts::default()),
            freed: Notify::new(),
        })
    }

    /// A seat for `user`'s request in `workspace`; `None` for exempt users.
    /// Waits up to the queue time, then refuses with 429.
    pub async fn admit(
        self: &Arc<Self>,
        user: &UserInfo,
        workspace: &str,
        watch: bool,
    ) -> Result<Option<Seat>, ApiError> {
        if user.in_group(crate::auth::MASTERS) {
            return Ok(None);
        }
        let (counts, max_user, max_ws) = if watch {
            (
                &self.watches,
                self.limits.watches_per_user,
                self.limits.watches_per_workspace,
            )
        } else {
            (
                &self.requests,
                self.limits.requests_per_user,
                self.limits.requests_per_workspace,
            )
        };
        let deadline = tokio::time::Instant::now() + self.limits.queue_wait;
        loop {
            // Register interest before checking, so a seat freed between the
            // check and the wait is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if counts.lock().take(&user.name, workspace, max_user, max_ws) {
                return Ok(Some(Seat {
                    owner: self.clone(),
                    watch,
                    user: user.name.clone(),
                    workspace: workspace.to_string(),
                }));
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(trellis_apis::Status::too_many_requests(
                    "Too many requests, please try again later.",
                    1,
                )
                .into());
            }
        }
    }

    /// Seats held now, (requests, watches), for tests and metrics.
    pub fn held(&self) -> (usize, usize) {
        let sum = |c: &Mutex<Counts>| c.lock().users.values().sum();
        (sum(&self.requests), sum(&self.watches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            requests_per_user: 2,
            requests_per_workspace: 3,
            watches_per_user: 1,
            watches_per_workspace: 5,
            queue_wait: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn per_user_and_per_workspace_shares() {
        let f = Fairness::new(limits());
        let (a, b, c) = (UserInfo::new("a"), UserInfo::new("b"), UserInfo::new("c"));
        let a1 = f.admit(&a, "w", false).await.unwrap();
        let _a2 = f.admit(&a, "w", false).await.unwrap();
        // a's share is used up; b still gets in.
        let e = f.admit(&a, "w", false).await.err().unwrap();
        assert_eq!(e.code(), 429);
        assert_eq!(e.status().details.retry_after_seconds, Some(1));
        let _b1 = f.admit(&b, "w", false).await.unwrap();
        // The workspace's share is used up for everyone in it, not elsewhere.
        assert_eq!(f.admit(&c, "w", false).await.err().unwrap().code(), 429);
        let _c1 = f.admit(&c, "other", false).await.unwrap();
        // A freed seat goes to a waiter.
        let waiter = {
            let f = f.clone();
            let c = c.clone();
            tokio::spawn(async move { f.admit(&c, "w", false).await.map(|s| s.is_some()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a1);
        assert!(waiter.await.unwrap().unwrap());
        // Watches have their own counters.
        let _w = f.admit(&a, "w", true).await.unwrap();
        assert_eq!(f.admit(&a, "w", true).await.err().unwrap().code(), 429);
        // a2, b1 and c1 (the waiter has dropped its seat) and one watch.
        assert_eq!(f.held(), (3, 1));
    }

    #[tokio::test]
    async fn masters_are_exempt_and_counters_empty_out() {
        let f = Fairness::new(limits());
        let mut m = UserInfo::new("admin");
        m.groups = vec![crate::auth::MASTERS.into()];
        for _ in 0..10 {
            assert!(f.admit(&m, "w", false).await.unwrap().is_none());
        }
        let s = f.admit(&UserInfo::new("a"), "w", false).await.unwrap();
        drop(s);
        assert_eq!(f.held(), (0, 0));
        assert!(f.requests.lock().users.is_empty());
        assert!(f.requests.lock().workspaces.is_empty());
    }
}
