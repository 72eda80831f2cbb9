//! Signal handlers: the ones that stop the run, and [`set_handler`] for the
//! output's own (SIGHUP/SIGUSR1 reopen an `--output` file).

use std::sync::atomic::Ordering;

use super::stop::SHUTDOWN;

extern "C" fn on_signal(_: libc::c_int) {
    SHUTDOWN.store(true, Ordering::Relaxed);
}

extern "C" fn on_nothing(_: libc::c_int) {}

/// True when `sig` is ignored (SIG_IGN inherited across exec).
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sets `handler` for `sig` (no SA_RESTART unless `restart`).
pub fn set_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int), restart: bool) {
    // SAFETY: every handler passed here only stores to an atomic (or does
    // nothing), which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if restart {
            sa.sa_flags = libc::SA_RESTART;
        }
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// SIGINT, SIGTERM and SIGHUP (a hangup of the terminal) end the run cleanly:
/// drain, then exit 0; a SIGHUP ignored by whoever started us (`nohup`) stays
/// ignored. SIGUSR1 does nothing. With `--output`, SIGHUP and SIGUSR1 reopen
/// the file instead (see `output::Dest::new`).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        set_handler(sig, on_signal, false);
    }
    if !ignored(libc::SIGHUP) {
        set_handler(libc::SIGHUP, on_signal, false);
    }
    // A handler, not SIG_IGN, so that children do not inherit it.
    set_handler(libc::SIGUSR1, on_nothing, true);
}
