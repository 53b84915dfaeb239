//! Giving freed memory back to the operating system.
//!
//! A burst of requests allocates and frees a lot of short-lived memory
//! interleaved with long-lived object values; glibc's allocator keeps the
//! freed pages, so RSS stays at the burst's peak. Measured on the reference
//! machine: 359 MiB resident after creating 100k 1 KiB ConfigMaps, 251 MiB
//! after `malloc_trim(0)` — and 225 MiB when the same data is loaded fresh.
//! A background task therefore trims when RSS has grown noticeably since
//! the last trim; idle or steady servers never pay for it.

use std::time::Duration;

/// Check this often.
const INTERVAL: Duration = Duration::from_secs(10);
/// Trim only after RSS grew this much since the last trim.
const GROWTH: u64 = 64 << 20;

/// Resident set size in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only asks glibc to release free heap pages; it
    // has no preconditions and does not touch live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// Runs until `shutdown` flips.
pub async fn run(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut baseline = rss_bytes().unwrap_or(0);
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let Some(now) = rss_bytes() else { return };
        if now > baseline + GROWTH {
            let _ = tokio::task::spawn_blocking(trim).await;
            baseline = rss_bytes().unwrap_or(now);
            tracing::debug!(
                before = now,
                after = baseline,
                "returned freed memory to the OS"
            );
        } else if now < baseline {
            baseline = now;
        }
    }
}
