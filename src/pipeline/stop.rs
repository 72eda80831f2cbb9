//! The run's one stop: asked for by a signal, by `--duration`, or by the
//! writer when its output ended, and the shared deadline by which everything
//! still held must be written or counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM/SIGHUP, by `--duration`, or by the writer when its
/// output closed or failed.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// When the stop was first noticed (a signal handler cannot take it).
static STOP_AT: OnceLock<Instant> = OnceLock::new();

/// How long a stop may spend handing over and writing what is still held,
/// whatever the consumer does; what is not written by then is counted.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

pub fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::Relaxed);
    let _ = stop_deadline();
}

/// Once a stop was asked for: the moment by which everything must be
/// written or counted ([`STOP_GRACE`] after the stop was first noticed).
pub fn stop_deadline() -> Option<Instant> {
    shutting_down().then(|| *STOP_AT.get_or_init(Instant::now) + STOP_GRACE)
}

/// True once the stop deadline has passed.
pub fn past_stop_deadline() -> bool {
    stop_deadline().is_some_and(|d| Instant::now() >= d)
}
