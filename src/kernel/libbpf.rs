//! libbpf's log (kept off stderr unless --verbose, its tail kept for errors)
//! and libbpf failures turned into actionable errors.

use std::collections::VecDeque;
use std::sync::Mutex;

use libbpf_rs::PrintLevel;

use super::verifier::Refusal;
use crate::diag;
use crate::error::Error;

static LOG: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn on_libbpf_log(level: PrintLevel, msg: String) {
    let msg = msg.trim_end().to_string();
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        let level = match level {
            PrintLevel::Warn => diag::Level::Warn,
            PrintLevel::Info | PrintLevel::Debug => diag::Level::Info,
        };
        diag::forward(level, &msg);
    }
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() == 64 {
        log.pop_front();
    }
    log.push_back(msg);
}

/// Keeps libbpf's chatter off stderr unless `--verbose`; the tail is kept for errors.
pub fn capture_libbpf_log(verbose: bool) {
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
    libbpf_rs::set_print(Some((
        if verbose {
            PrintLevel::Debug
        } else {
            PrintLevel::Warn
        },
        on_libbpf_log,
    )));
}

/// The last libbpf line that looks like the cause, for error messages.
pub fn last_libbpf_error() -> Option<String> {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    log.iter()
        .rev()
        .find(|l| l.contains("failed") || l.contains("error") || l.contains("Error"))
        .cloned()
}

/// The verifier refusal in libbpf's log since it was last cleared, if any.
pub fn last_refusal() -> Option<Refusal> {
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    super::verifier::refusal(log.make_contiguous())
}

pub fn clear_libbpf_log() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// The errno behind a libbpf error, if any.
fn errno(e: &libbpf_rs::Error) -> Option<i32> {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        src = s.source();
    }
    let text = e.to_string();
    let at = text.rfind("(os error ")? + "(os error ".len();
    text[at..].trim_end_matches(')').parse().ok()
}

/// Classifies a libbpf failure at `what` (e.g. "loading exec programs").
/// EPERM means missing privileges (or lockdown); a program the verifier
/// refused (whatever the errno: EINVAL, E2BIG, EACCES, ...) is a
/// kernel-compatibility problem, said in one line: the program, the verifier
/// log's reason and what it needs.
pub fn bpf_error(what: &str, e: &libbpf_rs::Error) -> Error {
    let detail = last_libbpf_error()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    if errno(e) == Some(libc::EPERM) {
        return Error::Privilege(format!(
            "{what}: operation not permitted{detail}: run as root, or grant CAP_BPF and CAP_PERFMON \
             (check also kernel lockdown and kernel.unprivileged_bpf_disabled); on kernels before \
             5.11 raise RLIMIT_MEMLOCK too (ulimit -l unlimited)"
        ));
    }
    if let Some(r) = last_refusal() {
        return Error::Kernel(refusal_message(what, &r, &errno_text(e)));
    }
    if errno(e) == Some(libc::EACCES) {
        return Error::Kernel(format!(
            "{what}: the kernel's verifier refused the program{detail}; rerun with --verbose \
             for its log and report it with your kernel version"
        ));
    }
    Error::Kernel(format!("{what}: {e}{detail}"))
}

/// The errno's text ("Invalid argument (os error 22)"), else the error's.
fn errno_text(e: &libbpf_rs::Error) -> String {
    match errno(e) {
        Some(n) => std::io::Error::from_raw_os_error(n).to_string(),
        None => e.to_string(),
    }
}

/// One line for a refusal: what failed, which program, why, what it needs.
pub fn refusal_message(what: &str, r: &Refusal, err: &str) -> String {
    let why = r.reason.as_deref().unwrap_or("the kernel logged no reason");
    let needs = match r.needs {
        Some(n) => format!("; it needs {n}"),
        None => "; rerun with --verbose for the verifier's log and report it with your kernel \
                 version"
            .to_string(),
    };
    format!(
        "{what}: the kernel's verifier refused program '{}': {why} ({err}){needs}",
        r.prog
    )
}
