//! Raw exec events from the ring buffer → [`ExecRecord`]. Pure: bytes in,
//! record out, unit-tested without a kernel.

use std::mem::size_of;

use super::names::{self, NAMES_F_NOLINK};
use super::skel::types::{exec_flag, exec_hdr, exec_kind};
use crate::clock::BootClock;
use crate::record::{Comm, ExecId, ExecPaths, ExecRecord, ExecText, ExitRecord, Identity, Record};

// exec_hdr.flags bits (enum exec_flag in bpf/exec.h), as the u16 the field is.
const EXEC_F_FDPATH: u16 = exec_flag::EXEC_F_FDPATH.0 as u16;
const EXEC_F_ARGV_CUT: u16 = exec_flag::EXEC_F_ARGV_CUT.0 as u16;
const EXEC_F_SIZE_UNKNOWN: u16 = exec_flag::EXEC_F_SIZE_UNKNOWN.0 as u16;
const EXEC_F_SECUREEXEC: u16 = exec_flag::EXEC_F_SECUREEXEC.0 as u16;

// SAFETY: exec_hdr is plain old data generated from BTF (integers and byte arrays).
unsafe impl plain::Plain for exec_hdr {}

/// How much of argv a record keeps.
#[derive(Clone, Copy, Debug)]
pub struct ArgvLimits {
    pub max_args: u32,
}

/// Decodes one event; None if it is malformed (shorter than its header says,
/// or of an unknown kind).
pub fn decode(data: &[u8], clock: &BootClock, limits: ArgvLimits) -> Option<Record> {
    let mut h = exec_hdr::default();
    plain::copy_from_bytes(&mut h, data).ok()?;
    let comm = Comm(h.comm.map(|c| c as u8));
    let exec_id = ExecId {
        pid: h.pid,
        boot_ns: h.exec_ns,
    };
    let ident = identity(&h);
    if h.kind == exec_kind::EV_EXIT {
        let (exit_code, signal, core_dumped) = wait_status(h.exit_status);
        return Some(Record::Exit(ExitRecord {
            timestamp: clock.wall(h.ts_boot_ns),
            pid: h.pid,
            ppid: h.ppid,
            uid: h.uid,
            gid: h.gid,
            ident,
            comm,
            exit_code,
            signal,
            core_dumped,
            duration_ns: h.ts_boot_ns.saturating_sub(h.start_ns),
            exec_id,
        }));
    }
    if h.kind != exec_kind::EV_EXEC {
        return None;
    }
    let body = &data[size_of::<exec_hdr>()..];
    let fname_len = usize::from(h.filename_len);
    let argv_len = h.argv_len as usize;
    if body.len() < fname_len + argv_len {
        return None;
    }
    // After the cgroup section (the resolver's): cwd, and exe if one ran.
    let mut sections = names::sections(&body[fname_len + argv_len..]).skip(1);
    let cwd = sections.next();
    let exe = sections.next();
    let paths = ExecPaths {
        cwd: cwd.and_then(|n| n.known_path()).map(Vec::into_boxed_slice),
        exe: exe.and_then(|n| n.known_path()).map(Vec::into_boxed_slice),
        fileless: exe.is_some_and(|n| n.has(NAMES_F_NOLINK)),
    };
    let raw_argv = &body[..argv_len];
    let fname = &body[argv_len..argv_len + fname_len];
    let fname = fname.strip_suffix(&[0]).unwrap_or(fname);
    let fname = if h.flags & EXEC_F_FDPATH != 0 {
        strip_fdpath(fname)
    } else {
        fname
    };
    let cut = h.flags & EXEC_F_ARGV_CUT != 0 || h.argv_len < h.argv_size;
    let (end, truncated) = exact_args(raw_argv, cut, limits.max_args as usize);
    // One allocation for both strings; a complete argv ends in NUL, and the
    // last element is closed if the kernel's copy somehow was not.
    let mut text = Vec::with_capacity(fname.len() + end + 1);
    text.extend_from_slice(fname);
    text.extend_from_slice(&raw_argv[..end]);
    if end > 0 && raw_argv[end - 1] != 0 {
        text.push(0);
    }
    Some(Record::Exec(ExecRecord {
        timestamp: clock.wall(h.ts_boot_ns),
        pid: h.pid,
        tid: h.tid,
        ppid: h.ppid,
        uid: h.uid,
        gid: h.gid,
        ident,
        secureexec: h.flags & EXEC_F_SECUREEXEC != 0,
        tty: tty_name(&h.tty),
        comm,
        parent_comm: Comm(h.parent_comm.map(|c| c as u8)),
        text: ExecText::from_parts(text, fname.len()),
        args_truncated: truncated,
        args_size: (h.flags & EXEC_F_SIZE_UNKNOWN == 0).then_some(h.argv_size),
        paths,
        ret: h.ret,
        error: (h.ret < 0).then(|| errno_name(-h.ret)),
        exec_id,
        parent_exec_id: ExecId {
            pid: h.ppid,
            boot_ns: h.parent_exec_ns,
        },
        cgroup_id: h.cgroup_id,
        cgroup: None,
        container_id: None,
        mntns: h.mntns,
        pidns: h.pidns,
    }))
}

/// The effective ids and the login identity; the kernel's "unset" (-1, as
/// /proc/PID/loginuid and sessionid show it, and what the kernel side sends
/// without audit) is None.
fn identity(h: &exec_hdr) -> Identity {
    let set = |v: u32| (v != u32::MAX).then_some(v);
    Identity {
        euid: h.euid,
        egid: h.egid,
        auid: set(h.auid),
        sessionid: set(h.sessionid),
    }
}

/// The kernel's name of a tty (tty_struct.name, NUL-padded) → the name of
/// its device under /dev, as ps prints it; None for no tty. Names are the
/// driver's name and the line's number ("tty1", "ttyS0") and so is the
/// device node, except for pty slaves: devpts names them "pts" + number but
/// their nodes are /dev/pts/N, so "pts3" → "pts/3".
pub fn tty_name(raw: &[std::ffi::c_char]) -> Option<Box<str>> {
    let raw: Vec<u8> = raw
        .iter()
        .map(|&c| c as u8)
        .take_while(|&c| c != 0)
        .collect();
    if raw.is_empty() {
        return None;
    }
    let name = String::from_utf8_lossy(&raw);
    match name.strip_prefix("pts") {
        Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
            Some(format!("pts/{n}").into())
        }
        _ => Some(name.into()),
    }
}

/// What an exec event carries after its filename: the cgroup, cwd and exe
/// sections (see `names`). None if the event is shorter than its header says.
pub fn trailer(data: &[u8]) -> Option<&[u8]> {
    let mut h = exec_hdr::default();
    plain::copy_from_bytes(&mut h, data).ok()?;
    let at = size_of::<exec_hdr>() + h.argv_len as usize + usize::from(h.filename_len);
    data.get(at..)
}

/// A wait() status → (exit code, killing signal, core dumped). A process
/// killed by a signal gets the shell's convention, 128 + signal number.
pub fn wait_status(status: u32) -> (u8, Option<&'static str>, bool) {
    let sig = status & 0x7f;
    if sig == 0 {
        return (((status >> 8) & 0xff) as u8, None, false);
    }
    (
        (128 + sig).min(255) as u8,
        Some(signal_name(sig)),
        status & 0x80 != 0,
    )
}

pub fn signal_name(sig: u32) -> &'static str {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    const RT: [&str; 33] = [
        "SIGRTMIN",
        "SIGRTMIN+1",
        "SIGRTMIN+2",
        "SIGRTMIN+3",
        "SIGRTMIN+4",
        "SIGRTMIN+5",
        "SIGRTMIN+6",
        "SIGRTMIN+7",
        "SIGRTMIN+8",
        "SIGRTMIN+9",
        "SIGRTMIN+10",
        "SIGRTMIN+11",
        "SIGRTMIN+12",
        "SIGRTMIN+13",
        "SIGRTMIN+14",
        "SIGRTMIN+15",
        "SIGRTMIN+16",
        "SIGRTMIN+17",
        "SIGRTMIN+18",
        "SIGRTMIN+19",
        "SIGRTMIN+20",
        "SIGRTMIN+21",
        "SIGRTMIN+22",
        "SIGRTMIN+23",
        "SIGRTMIN+24",
        "SIGRTMIN+25",
        "SIGRTMIN+26",
        "SIGRTMIN+27",
        "SIGRTMIN+28",
        "SIGRTMIN+29",
        "SIGRTMIN+30",
        "SIGRTMIN+31",
        "SIGRTMAX",
    ];
    match sig {
        0..=31 => NAMES[sig as usize],
        32..=64 => RT[sig as usize - 32],
        _ => "SIGUNKNOWN",
    }
}

/// The symbolic name of an errno an exec can return.
pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ELOOP => "ELOOP",
        libc::ELIBBAD => "ELIBBAD",
        libc::EINTR => "EINTR",
        libc::ENXIO => "ENXIO",
        _ => "EUNKNOWN",
    }
}

/// execveat(fd, name) reaches the kernel as "/dev/fd/N/name" (or "/dev/fd/N"
/// for AT_EMPTY_PATH): give back the path as the caller passed it.
fn strip_fdpath(f: &[u8]) -> &[u8] {
    let Some(rest) = f.strip_prefix(b"/dev/fd/") else {
        return f;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    match &rest[digits..] {
        [] => b"",
        [b'/', name @ ..] => name,
        _ => f,
    }
}

/// Keeps at most `max_args` arguments; an argument cut by the byte cap stays
/// as its exact prefix (the last element). Returns (bytes of `raw` kept,
/// truncated).
fn exact_args(raw: &[u8], cut: bool, max_args: usize) -> (usize, bool) {
    // Just past the max_args-th NUL, if there are more arguments than that.
    match raw
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == 0)
        .nth(max_args.saturating_sub(1))
    {
        Some((i, _)) if max_args > 0 && i + 1 < raw.len() => (i + 1, true),
        _ => (raw.len(), cut),
    }
}

#[cfg(test)]
mod tests;
