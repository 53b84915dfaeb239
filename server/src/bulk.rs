//! The bulk lane: where the server does work by the thousand items (a
//! LIST's read, filter and encoding; a watch's initial state), at a lower
//! CPU priority than everything else it does.
//!
//! Fair seats ([`crate::fairness`]) bound how many bulk requests a tenant
//! runs at once, but on a saturated machine the operating system decides
//! who runs next, and it knows nothing of requests: a GET that becomes
//! ready while both cores encode another tenant's lists waits for the
//! scheduler's next tick (4 ms at `HZ=250`), a few times per request. So the
//! bulk work runs on a runtime of its own whose threads have a lower
//! priority (on Linux, `nice` [`DEFAULT_NICE`] unless `--bulk-nice` says
//! otherwise): an interactive request that becomes ready preempts bulk work
//! on wakeup instead of waiting for a tick, and bulk work still gets what
//! interactive work leaves, and a little more (a weight of 15 against 1024
//! per busy normal thread: slow under saturation, never starved, unlike
//! `SCHED_IDLE`).
//! Sending the bytes (TLS, the socket) stays on the connection's runtime:
//! it is cheap per byte, and a response's pace is then the bulk lane's.
//!
//! The hand-over has a price when nothing competes: a small LIST took
//! 168 µs through the lane against 9 µs in place (`server/benches/authz.rs`,
//! in-process, an idle machine: the lane's parked, low-priority threads
//! must be woken and scheduled). So a job takes a [`Ticket`] first, which
//! counts it until its body's last byte: one that starts while no other
//! bulk job is in flight runs in place; as soon as another one is, jobs
//! take the lane — a flood always finds the count above zero.
//!
//! Invariants: work handed to the lane is cancelled when the request that
//! waits for it goes away (a dropped [`run`] aborts its task; a body pump
//! ends at the first chunk nobody receives); a panic in [`run`] resumes in
//! the waiting request, as if it had run there, and a panic while a body
//! is produced ends that body with an error, never as if it were whole. A
//! watch never runs here: it would live at the lane's priority.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use axum::body::Body;
use futures::{FutureExt, StreamExt};
use tokio::runtime::{Handle, Runtime};

/// The bulk lane's default niceness: the lowest priority short of
/// `SCHED_IDLE`, a weight of 15 against 1024 for each busy thread of
/// normal priority. Measured (docs/benchmarks.md, "Fairness"): 19 kept
/// another tenant's GETs within about 3x of idle under a LIST flood, 10
/// within about 5x, 0 not at all. `SCHED_IDLE` did a little better but can
/// starve LISTs outright while other work saturates the cores.
pub const DEFAULT_NICE: i32 = 19;

static NICE: AtomicI32 = AtomicI32::new(DEFAULT_NICE);

/// Sets the niceness of the bulk lane's threads, process-wide; threads
/// started before keep theirs, so call it before serving.
pub fn set_nice(nice: i32) {
    NICE.store(nice.clamp(0, 19), Ordering::Relaxed);
}

/// Chunks a pumped body may run ahead of its connection.
const AHEAD: usize = 2;

fn handle() -> &'static Handle {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(crate::fairness::cores())
            .thread_name("trellis-bulk")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("starting the bulk runtime")
    })
    .handle()
}

/// Lowers the calling thread's priority (on Linux, `setpriority` with
/// `PRIO_PROCESS` and 0 applies to the calling thread only).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; a failure (e.g. a seccomp
    // filter) leaves the thread at normal priority, which is only slower
    // for others, not wrong.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICE.load(Ordering::Relaxed));
    }
}

/// Bulk jobs in flight in this process, in place or on the lane.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A bulk job's pass: counted while it lives (hand it to [`Ticket::body`]
/// so the response body keeps it), and where the job runs.
pub struct Ticket {
    lane: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A ticket for a new bulk job: on the lane when another one is in flight.
pub fn ticket() -> Ticket {
    let others = IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    Ticket { lane: others > 0 }
}

impl Ticket {
    /// Whether the job runs on the lane.
    pub fn on_lane(&self) -> bool {
        self.lane
    }

    /// Runs `work` where the ticket says and waits for its result.
    pub async fn run<F>(&self, work: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.lane {
            run(work).await
        } else {
            work.await
        }
    }

    /// The job's response body, produced where the ticket says; the
    /// ticket lives until the body is done (or dropped).
    pub fn body(self, body: Body) -> Body {
        if self.lane {
            pump(body, self)
        } else {
            Body::from_stream(body.into_data_stream().map(move |chunk| {
                let _held = &self;
                chunk
            }))
        }
    }
}

/// Aborts the task when the waiting request goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `work` on the bulk lane and waits for its result.
pub async fn run<F>(work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut task = AbortOnDrop(handle().spawn(work));
    match (&mut task.0).await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only our own abort cancels the task, and it runs after this
            // future is gone; the runtime itself is never shut down.
            Err(e) => unreachable!("bulk task cancelled while awaited: {e}"),
        },
    }
}

/// Produces `body` on the bulk lane: its chunks are computed there, at most
/// [`AHEAD`] ahead of the connection that sends them; `keep` lives until
/// the body is done.
fn pump(body: Body, keep: impl Send + 'static) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel(AHEAD);
    handle().spawn(async move {
        let _keep = keep;
        let mut chunks = body.into_data_stream();
        loop {
            // A panic must break the response, as it would have where the
            // connection polls the body: a clean end would pass a truncated
            // list off as whole.
            let chunk = match AssertUnwindSafe(chunks.next()).catch_unwind().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => Err(axum::Error::new(std::io::Error::other(
                    "producing the response failed",
                ))),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn runs_elsewhere_and_returns() {
        let here = std::thread::current().id();
        let (v, there) = run(async { (7, std::thread::current().id()) }).await;
        assert_eq!(v, 7);
        assert_ne!(here, there);
    }

    #[tokio::test]
    async fn a_panic_resumes_in_the_caller() {
        let caught = tokio::spawn(run(async { panic!("boom") })).await;
        assert!(caught.unwrap_err().is_panic());
    }

    #[tokio::test]
    async fn a_dropped_wait_cancels_the_work() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let wait = run(async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        // Polled once so the task starts, then dropped.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), wait).await;
        // The task's sender is dropped with the aborted task.
        assert!(rx.await.is_err());
    }

    #[tokio::test]
    async fn a_pumped_body_arrives_whole() {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..100)
            .map(|i| Ok(bytes::Bytes::from(format!("{i},"))))
            .collect();
        let b = pump(Body::from_stream(futures::stream::iter(chunks)), ());
        let got = b.collect().await.unwrap().to_bytes();
        let want: String = (0..100).map(|i| format!("{i},")).collect();
        assert_eq!(got, want.as_bytes());
    }

    #[tokio::test]
    async fn a_panic_while_producing_a_body_is_an_error_not_an_end() {
        let chunks = futures::stream::iter(0..3).map(|i| {
            assert!(i < 2, "encoding failed");
            Ok::<_, std::io::Error>(bytes::Bytes::from(format!("{i},")))
        });
        let b = pump(Body::from_stream(chunks), ());
        assert!(b.collect().await.is_err());
    }

    #[test]
    fn bulk_threads_run_at_lower_priority() {
        let nice = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(run(async {
                // SAFETY: getpriority only reads.
                unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
            }))
        })
        .join()
        .unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(nice, NICE.load(Ordering::Relaxed));
        }
    }

    /// Alone, a job runs in place; with another in flight (its body not
    /// done yet) it takes the lane; the count follows the bodies.
    #[tokio::test]
    async fn tickets_take_the_lane_only_beside_another_job() {
        let here = std::thread::current().id();
        let first = ticket();
        // Other tests of this binary may hold tickets: only check the
        // lane when this one was alone.
        if first.on_lane() {
            return;
        }
        let there = first.run(async { std::thread::current().id() }).await;
        assert_eq!(here, there, "alone: in place");
        let body = first.body(Body::from("a"));
        let second = ticket();
        assert!(second.on_lane(), "beside an unfinished body: the lane");
        let there = second.run(async { std::thread::current().id() }).await;
        assert_ne!(here, there);
        let got = second
            .body(Body::from("b"))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(got, "b");
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got, "a");
    }
}
