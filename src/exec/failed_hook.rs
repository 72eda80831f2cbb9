//! `--failed`'s hook tiers, cheapest first: fexit on the execve/execveat
//! implementations (only failing execs run a program), the
//! `syscalls:sys_{enter,exit}_execve{,at}` tracepoints (every execve does),
//! then the raw `sys_enter`/`sys_exit` (every syscall on the host does).
//! What each needs before load: fexit's targets, resolved in the running
//! kernel's BTF; the tracepoints' ids, read from tracefs.

use std::os::fd::RawFd;

use libbpf_rs::Link;

use crate::diag;
use crate::error::Error;
use crate::kernel;

/// `--failed-hook`: a tier, or the cheapest that loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FailedHook {
    /// fexit, else the syscall tracepoints, else raw
    #[default]
    Auto,
    /// fexit on the execve/execveat implementations (no program on other syscalls)
    Fexit,
    /// the syscalls:sys_{enter,exit}_execve{,at} tracepoints (not 32-bit processes' execs)
    Tracepoint,
    /// raw sys_enter/sys_exit: a program on every syscall of the host
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Fexit,
    Tracepoint,
    Raw,
}

impl Tier {
    /// In the order `auto` tries them.
    pub const ALL: [Tier; 3] = [Tier::Fexit, Tier::Tracepoint, Tier::Raw];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Fexit => "fexit",
            Tier::Tracepoint => "tracepoint",
            Tier::Raw => "raw",
        }
    }

    /// What stderr calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Tier::Fexit => "fexit on execve/execveat",
            Tier::Tracepoint => "the syscalls:sys_{enter,exit}_execve{,at} tracepoints",
            Tier::Raw => "raw sys_enter/sys_exit",
        }
    }
}

impl FailedHook {
    /// The tiers to try, in order.
    pub fn tiers(self) -> &'static [Tier] {
        match self {
            FailedHook::Auto => &Tier::ALL,
            FailedHook::Fexit => &Tier::ALL[..1],
            FailedHook::Tracepoint => &Tier::ALL[1..2],
            FailedHook::Raw => &Tier::ALL[2..],
        }
    }
}

/// Each fexit program (bpf/exec.bpf.c) and the names its target has had.
#[cfg(target_arch = "x86_64")]
const FEXIT: [(&str, &[&str]); 6] = [
    ("fexit_execve", &["__x64_sys_execve"]),
    ("fexit_execveat", &["__x64_sys_execveat"]),
    ("fexit_compat_execve", &["__ia32_compat_sys_execve"]),
    ("fexit_compat_execveat", &["__ia32_compat_sys_execveat"]),
    // x32's stubs: __x64_compat_* since 5.7-ish, __x32_compat_* before.
    (
        "fexit_x32_execve",
        &["__x64_compat_sys_execve", "__x32_compat_sys_execve"],
    ),
    (
        "fexit_x32_execveat",
        &["__x64_compat_sys_execveat", "__x32_compat_sys_execveat"],
    ),
];
#[cfg(not(target_arch = "x86_64"))]
const FEXIT: [(&str, &[&str]); 4] = [
    ("fexit_execve", &["__arm64_sys_execve"]),
    ("fexit_execveat", &["__arm64_sys_execveat"]),
    ("fexit_compat_execve", &["__arm64_compat_sys_execve"]),
    ("fexit_compat_execveat", &["__arm64_compat_sys_execveat"]),
];

fn btf_has(btf: &libbpf_rs::btf::Btf<'_>, name: &str) -> bool {
    btf.type_by_name::<libbpf_rs::btf::types::Func<'_>>(name)
        .is_some()
}

/// Whether function `name`'s first argument points to a struct fexit can
/// read: 5.10's BTF has `__x64_sys_execveat`'s `struct pt_regs *` as a
/// forward declaration, and the verifier refuses any access to it.
fn btf_regs_readable(btf: &libbpf_rs::btf::Btf<'_>, name: &str) -> bool {
    use libbpf_rs::btf::{types, BtfKind, BtfType};
    let arg = || -> Option<BtfType<'_>> {
        let f = btf.type_by_name::<types::Func<'_>>(name)?;
        let proto = types::FuncProto::try_from(f.next_type()?).ok()?;
        let param = proto.iter().next()?;
        let ptr = btf
            .type_by_id::<BtfType<'_>>(param.ty)?
            .skip_mods_and_typedefs();
        (ptr.kind() == BtfKind::Ptr).then_some(())?;
        Some(ptr.next_type()?.skip_mods_and_typedefs())
    };
    arg().is_some_and(|t| t.kind() == BtfKind::Struct)
}

/// fexit's (program, target) pairs whose target this kernel's BTF has; the
/// native execve and execveat must be among them, and every target's
/// registers readable.
pub fn fexit_targets() -> Result<Vec<(&'static str, &'static str)>, String> {
    let btf = libbpf_rs::btf::Btf::from_vmlinux()
        .map_err(|e| format!("reading the kernel's BTF: {e}"))?;
    let found: Vec<_> = FEXIT
        .iter()
        .filter_map(|(prog, names)| names.iter().find(|n| btf_has(&btf, n)).map(|n| (*prog, *n)))
        .collect();
    for (prog, names) in &FEXIT[..2] {
        if !found.iter().any(|(p, _)| p == prog) {
            return Err(format!("the kernel's BTF has no function {}", names[0]));
        }
    }
    if let Some((_, t)) = found.iter().find(|(_, t)| !btf_regs_readable(&btf, t)) {
        return Err(format!(
            "the kernel's BTF types {t}'s argument as a forward declaration, not struct \
             pt_regs, so fexit cannot read the caller's registers (as in Linux 5.10's BTF)"
        ));
    }
    Ok(found)
}

/// Whether this kernel runs 32-bit processes' execs (a compat execve in its
/// BTF): what the tracepoint tier does not see.
pub fn has_compat_execve() -> bool {
    let Ok(btf) = libbpf_rs::btf::Btf::from_vmlinux() else {
        return false;
    };
    FEXIT[2..]
        .iter()
        .any(|(_, names)| names.iter().any(|n| btf_has(&btf, n)))
}

/// The syscall tracepoints the tracepoint tier attaches to.
pub const TRACEPOINTS: [&str; 4] = [
    "sys_enter_execve",
    "sys_enter_execveat",
    "sys_exit_execve",
    "sys_exit_execveat",
];

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The ids of TRACEPOINTS, and a note for stderr when tracefs had to be
/// mounted to read them.
pub struct TracepointIds {
    pub ids: [u64; TRACEPOINTS.len()],
    pub note: Option<String>,
}

fn read_ids(root: &str) -> std::io::Result<[u64; TRACEPOINTS.len()]> {
    let mut ids = [0; TRACEPOINTS.len()];
    for (id, tp) in ids.iter_mut().zip(TRACEPOINTS) {
        let path = format!("{root}/events/syscalls/{tp}/id");
        let text = std::fs::read_to_string(&path)?;
        *id = text.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{path} is not a number"),
            )
        })?;
    }
    Ok(ids)
}

fn tracefs_mounted_at(dir: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let mut f = l.split_whitespace();
            f.nth(1) == Some(dir) && f.next() == Some("tracefs")
        })
}

/// The tracepoints' ids: from a mounted tracefs, else from one mounted for
/// the moment in a mount namespace of a thread of our own, which takes it
/// away when it ends: the host's mounts stay exactly as they were.
pub fn tracepoint_ids() -> Result<TracepointIds, String> {
    let no_events = "the kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)";
    for root in TRACEFS {
        if tracefs_mounted_at(root) {
            return read_ids(root)
                .map(|ids| TracepointIds { ids, note: None })
                .map_err(|e| format!("{no_events}: {root}: {e}"));
        }
    }
    let ids = std::thread::spawn(read_ids_privately)
        .join()
        .map_err(|_| "reading the tracepoint ids panicked".to_string())??;
    Ok(TracepointIds {
        ids,
        note: Some(
            "tracefs is not mounted: read the tracepoint ids from a private tracefs mount, \
             gone with its mount namespace (the host's mounts are unchanged)"
                .into(),
        ),
    })
}

/// In this (short-lived) thread only: a new mount namespace, private all
/// through so nothing propagates back, with tracefs on /sys/kernel/tracing.
fn read_ids_privately() -> Result<[u64; TRACEPOINTS.len()], String> {
    let os = || std::io::Error::last_os_error();
    let how = "mount it (mount -t tracefs nodev /sys/kernel/tracing) or use --failed-hook raw";
    // SAFETY: plain syscalls on this thread's own namespace, valid C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!(
                "tracefs is not mounted and a private mount namespace to read the tracepoint ids \
                 cannot be made ({}): {how}",
                os()
            ));
        }
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "tracefs is not mounted and the private mount namespace cannot be made private \
                 ({}): {how}",
                os()
            ));
        }
        if libc::mount(
            c"nodev".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "tracefs is not mounted and cannot be mounted privately ({}): {how}",
                os()
            ));
        }
    }
    read_ids(TRACEFS[0]).map_err(|e| format!("reading the syscall tracepoints' ids: {e}"))
}

/// A perf event on tracepoint `id` (CPU 0 stands for all: a BPF program on
/// a tracepoint runs wherever it fires), for Program::attach_perf_event.
pub fn open_tracepoint(id: u64) -> std::io::Result<RawFd> {
    const PERF_TYPE_TRACEPOINT: u32 = 2;
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    // struct perf_event_attr: type (u32), size (u32), config (u64), the rest 0.
    let mut attr = [0u64; 16];
    attr[0] = PERF_TYPE_TRACEPOINT as u64 | ((std::mem::size_of_val(&attr) as u64) << 32);
    attr[1] = id;
    // SAFETY: the attr buffer outlives the call; the kernel reads `size` bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1 as libc::pid_t,
            0 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd as RawFd)
}

/// What a tier needs before load: fexit's targets, the tracepoints' ids.
pub enum Prepared {
    None,
    Fexit(Vec<(&'static str, &'static str)>),
    Tracepoint(TracepointIds),
}

pub fn prepare(tier: Option<Tier>) -> Result<Prepared, Error> {
    // (the tier is named by the caller: exec's "--failed-hook T:", check's key)
    match tier {
        None | Some(Tier::Raw) => Ok(Prepared::None),
        Some(Tier::Fexit) => fexit_targets().map(Prepared::Fexit).map_err(Error::Kernel),
        Some(Tier::Tracepoint) => tracepoint_ids()
            .map(|ids| {
                if let Some(note) = &ids.note {
                    diag::info(&format!("exec: {note}"));
                }
                Prepared::Tracepoint(ids)
            })
            .map_err(Error::Kernel),
    }
}

/// A tier's error as text, without the advice to get privileges that a
/// refused fexit's EPERM brings.
pub fn strip_privilege(e: Error) -> String {
    match e {
        Error::Privilege(m) => m
            .split_once(": run as root")
            .map_or(m.clone(), |(head, _)| head.to_string()),
        e => e.to_string(),
    }
}

/// Attaches a syscall tracepoint's program through a perf event of its id.
pub fn attach_tracepoint(
    prog: &libbpf_rs::ProgramMut<'_>,
    name: &str,
    ids: &TracepointIds,
) -> Result<Link, Error> {
    let tp = name.rsplit('/').next().unwrap_or("");
    let id = TRACEPOINTS
        .iter()
        .position(|t| *t == tp)
        .map(|i| ids.ids[i])
        .ok_or_else(|| Error::Failure(format!("{name}: no tracepoint id")))?;
    let pfd = open_tracepoint(id)
        .map_err(|e| Error::Kernel(format!("attaching {name}: perf_event_open: {e}")))?;
    // libbpf's link owns the perf event from here (it closes it on detach).
    prog.attach_perf_event(pfd).map_err(|e| {
        // SAFETY: pfd is ours and not yet handed over.
        unsafe { libc::close(pfd) };
        kernel::bpf_error(&format!("attaching {name}"), &e)
    })
}
