//! What every subcommand needs before loading BPF: privileges, the memlock
//! rlimit, libbpf's log, and turning libbpf errors into actionable ones.

use std::collections::VecDeque;
use std::sync::Mutex;

use libbpf_rs::PrintLevel;

use crate::error::Error;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// The privileges that matter for loading BPF.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub euid: u32,
    pub bpf: bool,
    pub perfmon: bool,
    pub net_admin: bool,
    pub sys_admin: bool,
}

pub fn caps() -> Caps {
    let eff = effective_caps();
    let has = |c: u32| eff & (1 << c) != 0;
    Caps {
        // SAFETY: geteuid cannot fail.
        euid: unsafe { libc::geteuid() },
        bpf: has(CAP_BPF),
        perfmon: has(CAP_PERFMON),
        net_admin: has(CAP_NET_ADMIN),
        sys_admin: has(CAP_SYS_ADMIN),
    }
}

/// Fails with one line naming what is missing, before libbpf tries anything.
pub fn check_privileges(need_net_admin: bool) -> Result<(), Error> {
    let c = caps();
    let mut missing = Vec::new();
    if !c.sys_admin {
        if !c.bpf {
            missing.push("CAP_BPF");
        }
        if !c.perfmon {
            missing.push("CAP_PERFMON");
        }
    }
    if need_net_admin && !c.net_admin {
        missing.push("CAP_NET_ADMIN");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Privilege(format!(
        "not privileged enough to load eBPF programs (missing {}): run as root (sudo), or grant {}",
        missing.join(", "),
        if need_net_admin {
            "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
        } else {
            "CAP_BPF and CAP_PERFMON"
        }
    )))
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. Raising it may be
/// refused (no CAP_SYS_RESOURCE); newer kernels don't need it, so that's fine.
pub fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}

static LOG: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn on_libbpf_log(_: PrintLevel, msg: String) {
    let msg = msg.trim_end().to_string();
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{msg}");
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

pub fn clear_libbpf_log() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

pub fn has_btf() -> bool {
    std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
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
/// EPERM means missing privileges (or lockdown); EACCES from a load is the
/// verifier refusing a program, which is a kernel-compatibility problem.
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
    if errno(e) == Some(libc::EACCES) {
        return Error::Kernel(format!(
            "{what}: the kernel's verifier refused the program{detail}; rerun with --verbose \
             for its log and report it with your kernel version"
        ));
    }
    Error::Kernel(format!("{what}: {e}{detail}"))
}
