//! What every subcommand needs before loading BPF: privileges ([`mod@caps`]), the
//! memlock rlimit, libbpf's log and its errors made actionable ([`libbpf`]),
//! per-CPU counters summed ([`sum_percpu`]).

pub mod caps;
pub mod libbpf;
mod percpu;
pub mod verifier;

pub use caps::{caps, check_privileges, Caps, Need};
pub use libbpf::{
    bpf_error, capture_libbpf_log, clear_libbpf_log, last_libbpf_error, last_refusal,
};
pub use percpu::{sum_percpu, sum_percpu_at};
pub use verifier::Refusal;

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

pub fn has_btf() -> bool {
    std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}
