//! Fair shares of the server between tenants, in the spirit of API
//! Priority and Fairness.
//!
//! Every authenticated request holds a *seat* from when it is admitted
//! until its response has been sent (a streamed list holds it while it
//! streams; a watch holds a watch seat for its whole life). Seats are
//! counted per user and per workspace, in three classes:
//!
//! * **lists** are where a tenant spends the server's CPU in bulk (reading,
//!   filtering and encoding up to every object of a resource). A user may
//!   run about as many at once as the server has cores, so a LIST storm
//!   keeps at most that many of its requests runnable and another tenant's
//!   request waits behind a handful of them, not behind dozens. (APF gets
//!   the same effect by giving a LIST more seats than a GET.)
//! * **other requests** (gets, writes) are short or wait on the disk, where
//!   concurrency is what makes group commit pay; they get a wide share.
//! * **watches** are long-lived and mostly idle; they get their own count.
//!
//! A request beyond a share waits in a first-come queue (up to
//! [`Limits::queue_wait`]) and takes the first seat freed that it fits, so
//! one tenant's waiters never stand in front of another tenant's free share;
//! then it is refused with 429 and `Retry-After`, which every Kubernetes
//! client honours. `system:masters` and the server's own controllers (which
//! do not come through HTTP) are exempt.
//!
//! Invariants: the counters equal the number of live [`Seat`]s; a key with
//! no seat is removed, so the maps hold only tenants with requests in
//! flight; a seat freed while someone waits who fits goes to the oldest
//! such waiter before the lock is released.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::auth::UserInfo;
use crate::error::ApiError;

/// What kind of seat a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A LIST (not a watch).
    List,
    /// A watch, for its whole life.
    Watch,
    /// Anything else.
    Request,
}

impl Class {
    /// The class of a request with RBAC verb `verb`.
    pub fn of_verb(verb: &str) -> Class {
        match verb {
            "list" => Class::List,
            "watch" => Class::Watch,
            _ => Class::Request,
        }
    }
}

/// Whether a watch with this query string starts with the current state
/// (every object as ADDED): without `resourceVersion` (or with "0"), or with
/// `sendInitialEvents=true`. That start is a LIST's work.
pub fn watch_sends_initial_state(query: Option<&str>) -> bool {
    let (mut rv, mut send_initial) = (None, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "resourceVersion" => rv = Some(v.into_owned()),
            "sendInitialEvents" => send_initial = Some(v == "true"),
            _ => {}
        }
    }
    send_initial.unwrap_or(matches!(rv.as_deref(), None | Some("" | "0")))
}

/// How many items a bulk loop (a list's filter, a watch's initial state)
/// handles between yields.
const PACE: usize = 128;

/// Called with a bulk loop's item index: every [`PACE`] items the task
/// yields, so one request never holds a worker thread for long and the
/// runtime gets to poll for I/O. A LIST of thousands of objects otherwise
/// runs as one multi-millisecond poll, and every request readied meanwhile
/// (another tenant's GET) waits behind it without even being noticed.
pub async fn pace(i: usize) {
    if i % PACE == PACE - 1 {
        tokio::task::yield_now().await;
    }
}

/// The seats one request holds: its class's for its whole life and, for a
/// watch that starts with the current state, a LIST seat until that state
/// has been sent.
pub struct Seats {
    seat: Option<Seat>,
    initial: Option<Seat>,
}

impl Seats {
    /// Makes `resp` hold the seats as long as they are due.
    pub fn hold(self, resp: axum::response::Response) -> axum::response::Response {
        let resp = crate::response::hold(resp, self.seat);
        match self.initial {
            Some(seat) => crate::response::hold_until_idle(resp, seat),
            None => resp,
        }
    }
}

/// How many requests may be in flight at once.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests (lists and watches excepted) per user.
    pub requests_per_user: usize,
    /// Requests (lists and watches excepted) per workspace.
    pub requests_per_workspace: usize,
    /// LISTs running at once per user.
    pub lists_per_user: usize,
    /// LISTs running at once per workspace.
    pub lists_per_workspace: usize,
    /// Open watches per user.
    pub watches_per_user: usize,
    /// Open watches per workspace.
    pub watches_per_workspace: usize,
    /// How long a request waits for a seat before 429.
    pub queue_wait: Duration,
}

/// The server's cores: what a user's running LISTs are sized to.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Limits {
    fn default() -> Self {
        let cores = cores().max(2);
        Limits {
            requests_per_user: 32,
            requests_per_workspace: 64,
            lists_per_user: cores,
            lists_per_workspace: 2 * cores,
            watches_per_user: 512,
            watches_per_workspace: 2048,
            queue_wait: Duration::from_secs(1),
        }
    }
}

impl Limits {
    fn of(&self, class: Class) -> (usize, usize) {
        match class {
            Class::Request => (self.requests_per_user, self.requests_per_workspace),
            Class::List => (self.lists_per_user, self.lists_per_workspace),
            Class::Watch => (self.watches_per_user, self.watches_per_workspace),
        }
    }
}

struct Waiter {
    user: String,
    workspace: String,
    tx: oneshot::Sender<Seat>,
}

/// The seats of one class.
#[derive(Default)]
struct Counts {
    users: HashMap<String, usize>,
    workspaces: HashMap<String, usize>,
    waiting: VecDeque<Waiter>,
}

impl Counts {
    fn fits(&self, user: &str, ws: &str, (max_user, max_ws): (usize, usize)) -> bool {
        self.users.get(user).copied().unwrap_or(0) < max_user
            && self.workspaces.get(ws).copied().unwrap_or(0) < max_ws
    }

    fn take(&mut self, user: &str, ws: &str) {
        *self.users.entry(user.to_string()).or_default() += 1;
        *self.workspaces.entry(ws.to_string()).or_default() += 1;
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
    lists: Mutex<Counts>,
    watches: Mutex<Counts>,
}

/// A held seat; dropping it frees it (and hands it to a waiter who fits).
pub struct Seat {
    owner: Arc<Fairness>,
    class: Class,
    user: String,
    workspace: String,
    /// False for a seat whose counts were already given back by hand.
    armed: bool,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if self.armed {
            self.owner.release(self.class, &self.user, &self.workspace);
        }
    }
}

impl Fairness {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Fairness {
            limits,
            requests: Mutex::new(Counts::default()),
            lists: Mutex::new(Counts::default()),
            watches: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self, class: Class) -> &Mutex<Counts> {
        match class {
            Class::Request => &self.requests,
            Class::List => &self.lists,
            Class::Watch => &self.watches,
        }
    }

    fn seat(self: &Arc<Self>, class: Class, user: String, workspace: String) -> Seat {
        Seat {
            owner: self.clone(),
            class,
            user,
            workspace,
            armed: true,
        }
    }

    /// A seat of `class` for `user`'s request in `workspace`; `None` for
    /// exempt users. Waits up to the queue time, then refuses with 429.
    pub async fn admit(
        self: &Arc<Self>,
        user: &UserInfo,
        workspace: &str,
        class: Class,
    ) -> Result<Option<Seat>, ApiError> {
        if user.in_group(crate::auth::MASTERS) {
            return Ok(None);
        }
        let limits = self.limits.of(class);
        let rx = {
            let mut c = self.counts(class).lock();
            if c.fits(&user.name, workspace, limits) {
                c.take(&user.name, workspace);
                drop(c);
                return Ok(Some(self.seat(
                    class,
                    user.name.clone(),
                    workspace.to_string(),
                )));
            }
            // Waiters whose requests gave up are dropped here as well as
            // when a seat frees, so an idle server does not keep them.
            c.waiting.retain(|w| !w.tx.is_closed());
            let (tx, rx) = oneshot::channel();
            c.waiting.push_back(Waiter {
                user: user.name.clone(),
                workspace: workspace.to_string(),
                tx,
            });
            rx
        };
        match tokio::time::timeout(self.limits.queue_wait, rx).await {
            Ok(Ok(seat)) => Ok(Some(seat)),
            // A seat sent just as the wait ended is in the dropped channel;
            // dropping it frees it again.
            _ => Err(trellis_apis::Status::too_many_requests(
                "Too many requests, please try again later.",
                1,
            )
            .into()),
        }
    }

    /// The seats for a request with RBAC verb `verb` and query `query`.
    pub async fn admit_request(
        self: &Arc<Self>,
        user: &UserInfo,
        workspace: &str,
        verb: &str,
        query: Option<&str>,
    ) -> Result<Seats, ApiError> {
        let class = Class::of_verb(verb);
        let initial = if class == Class::Watch && watch_sends_initial_state(query) {
            self.admit(user, workspace, Class::List).await?
        } else {
            None
        };
        let seat = self.admit(user, workspace, class).await?;
        Ok(Seats { seat, initial })
    }

    /// Gives a seat back, then hands one to the oldest waiter who now fits.
    fn release(self: &Arc<Self>, class: Class, user: &str, workspace: &str) {
        let limits = self.limits.of(class);
        let mut c = self.counts(class).lock();
        c.give(user, workspace);
        let mut i = 0;
        while i < c.waiting.len() {
            let w = &c.waiting[i];
            if w.tx.is_closed() {
                c.waiting.remove(i);
                continue;
            }
            if !c.fits(&w.user, &w.workspace, limits) {
                i += 1;
                continue;
            }
            let w = c.waiting.remove(i).expect("index in range");
            c.take(&w.user, &w.workspace);
            if let Err(mut seat) = w.tx.send(self.seat(class, w.user, w.workspace)) {
                // The waiter left between the check and the send: undo by
                // hand, since dropping the seat here would re-enter the lock.
                seat.armed = false;
                c.give(&seat.user, &seat.workspace);
                continue;
            }
            return;
        }
    }

    /// Seats held now, (requests, lists, watches), for tests and metrics.
    pub fn held(&self) -> (usize, usize, usize) {
        let sum = |c: &Mutex<Counts>| c.lock().users.values().sum();
        (sum(&self.requests), sum(&self.lists), sum(&self.watches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            requests_per_user: 2,
            requests_per_workspace: 3,
            lists_per_user: 1,
            lists_per_workspace: 2,
            watches_per_user: 1,
            watches_per_workspace: 5,
            queue_wait: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn per_user_and_per_workspace_shares() {
        let f = Fairness::new(limits());
        let (a, b, c) = (UserInfo::new("a"), UserInfo::new("b"), UserInfo::new("c"));
        let a1 = f.admit(&a, "w", Class::Request).await.unwrap();
        let _a2 = f.admit(&a, "w", Class::Request).await.unwrap();
        // a's share is used up; b still gets in.
        let e = f.admit(&a, "w", Class::Request).await.err().unwrap();
        assert_eq!(e.code(), 429);
        assert_eq!(e.status().details.retry_after_seconds, Some(1));
        let _b1 = f.admit(&b, "w", Class::Request).await.unwrap();
        // The workspace's share is used up for everyone in it, not elsewhere.
        assert_eq!(
            f.admit(&c, "w", Class::Request).await.err().unwrap().code(),
            429
        );
        let _c1 = f.admit(&c, "other", Class::Request).await.unwrap();
        // A freed seat goes to a waiter.
        let waiter = {
            let f = f.clone();
            let c = c.clone();
            tokio::spawn(async move { f.admit(&c, "w", Class::Request).await.map(|s| s.is_some()) })
        };
        while f.requests.lock().waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        drop(a1);
        assert!(waiter.await.unwrap().unwrap());
        // Watches and lists have their own counters.
        let _w = f.admit(&a, "w", Class::Watch).await.unwrap();
        assert_eq!(
            f.admit(&a, "w", Class::Watch).await.err().unwrap().code(),
            429
        );
        let _l = f.admit(&a, "w", Class::List).await.unwrap();
        assert_eq!(
            f.admit(&a, "w", Class::List).await.err().unwrap().code(),
            429
        );
        // a2, b1 and c1 (the waiter has dropped its seat), a list, a watch.
        assert_eq!(f.held(), (3, 1, 1));
    }

    #[tokio::test]
    async fn a_freed_seat_goes_to_the_oldest_waiter_who_fits() {
        let mut l = limits();
        l.queue_wait = Duration::from_secs(30);
        l.lists_per_workspace = 10;
        let f = Fairness::new(l);
        let (a, b) = (UserInfo::new("a"), UserInfo::new("b"));
        let a_running = f.admit(&a, "wa", Class::List).await.unwrap();
        let b_running = f.admit(&b, "wb", Class::List).await.unwrap();
        // Two of a's lists queue, then one of b's.
        let wait = |u: &UserInfo, ws: &'static str| {
            let (f, u) = (f.clone(), u.clone());
            tokio::spawn(async move { f.admit(&u, ws, Class::List).await })
        };
        let queued = |n: usize| {
            let f = f.clone();
            async move {
                while f.lists.lock().waiting.len() < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        let a2 = wait(&a, "wa");
        queued(1).await;
        let a3 = wait(&a, "wa");
        queued(2).await;
        let b2 = wait(&b, "wb");
        queued(3).await;
        // b's seat frees: b's waiter takes it although a's waited longer,
        // since a's share is still in use.
        drop(b_running);
        let b2 = b2.await.unwrap().unwrap();
        assert!(b2.is_some());
        assert!(!a2.is_finished() && !a3.is_finished());
        // a's seat frees: a's older waiter goes first.
        drop(a_running);
        let a2 = a2.await.unwrap().unwrap();
        assert!(a2.is_some());
        assert!(!a3.is_finished());
        drop(a2);
        assert!(a3.await.unwrap().unwrap().is_some());
        drop(b2);
        assert_eq!(f.held(), (0, 0, 0));
        assert!(f.lists.lock().waiting.is_empty());
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_a_seat() {
        let f = Fairness::new(limits());
        let a = UserInfo::new("a");
        let first = f.admit(&a, "w", Class::List).await.unwrap();
        // Times out (50 ms) and leaves its queue entry behind.
        assert_eq!(
            f.admit(&a, "w", Class::List).await.err().unwrap().code(),
            429
        );
        drop(first);
        assert_eq!(f.held(), (0, 0, 0));
        assert!(f.lists.lock().waiting.is_empty());
        assert!(f.admit(&a, "w", Class::List).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn masters_are_exempt_and_counters_empty_out() {
        let f = Fairness::new(limits());
        let mut m = UserInfo::new("admin");
        m.groups = vec![crate::auth::MASTERS.into()];
        for class in [Class::Request, Class::List, Class::Watch] {
            for _ in 0..10 {
                assert!(f.admit(&m, "w", class).await.unwrap().is_none());
            }
        }
        let s = f
            .admit(&UserInfo::new("a"), "w", Class::Request)
            .await
            .unwrap();
        drop(s);
        assert_eq!(f.held(), (0, 0, 0));
        assert!(f.requests.lock().users.is_empty());
        assert!(f.requests.lock().workspaces.is_empty());
    }

    #[test]
    fn a_watch_from_the_current_state_is_a_list_first() {
        for (q, initial) in [
            (None, true),
            (Some("watch=1"), true),
            (Some("watch=1&resourceVersion=0"), true),
            (Some("watch=1&resourceVersion="), true),
            (Some("watch=1&resourceVersion=42"), false),
            (
                Some("watch=1&resourceVersion=42&sendInitialEvents=true"),
                true,
            ),
            (Some("watch=1&sendInitialEvents=false"), false),
        ] {
            assert_eq!(watch_sends_initial_state(q), initial, "{q:?}");
        }
    }

    #[tokio::test]
    async fn an_initial_watch_holds_a_list_seat_until_its_body_idles() {
        use http_body_util::BodyExt;
        let f = Fairness::new(limits());
        let a = UserInfo::new("a");
        let seats = f
            .admit_request(&a, "w", "watch", Some("watch=1"))
            .await
            .unwrap();
        assert_eq!(f.held(), (0, 1, 1));
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
        tx.send(Ok(bytes::Bytes::from_static(b"head")))
            .await
            .unwrap();
        let body = axum::body::Body::from_stream(tokio_stream_from(rx));
        let mut body = seats.hold(axum::response::Response::new(body)).into_body();
        // The initial state is still being sent: the list seat is held.
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "head");
        assert_eq!(f.held(), (0, 1, 1));
        // Nothing more ready: the watch idles and gives the list seat back.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), body.frame())
                .await
                .is_err()
        );
        assert_eq!(f.held(), (0, 0, 1));
        drop(tx);
        assert!(body.frame().await.is_none());
        drop(body);
        assert_eq!(f.held(), (0, 0, 0));
        // A watch from a resourceVersion takes no list seat.
        let seats = f
            .admit_request(&a, "w", "watch", Some("watch=1&resourceVersion=7"))
            .await
            .unwrap();
        assert_eq!(f.held(), (0, 0, 1));
        drop(seats);
    }

    fn tokio_stream_from<T: 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[test]
    fn classes_follow_the_verb() {
        assert_eq!(Class::of_verb("list"), Class::List);
        assert_eq!(Class::of_verb("watch"), Class::Watch);
        assert_eq!(Class::of_verb("get"), Class::Request);
        assert_eq!(Class::of_verb("create"), Class::Request);
    }
}
