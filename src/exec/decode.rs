//! Raw exec events from the ring buffer → [`ExecRecord`]. Pure: bytes in,
//! record out, unit-tested without a kernel.

use std::mem::size_of;

use super::skel::types::exec_hdr;
use crate::clock::BootClock;
use crate::record::{Comm, ExecId, ExecRecord, ExecText, ExitRecord, Record};

// Values of exec_hdr.kind and .flags, as in bpf/exec.h.
pub const EV_EXEC: u32 = 1;
pub const EV_EXIT: u32 = 2;
pub const EXEC_F_FDPATH: u16 = 1;
pub const EXEC_F_ARGV_CUT: u16 = 2;
pub const EXEC_F_SIZE_UNKNOWN: u16 = 4;

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
    if h.kind == EV_EXIT {
        let (exit_code, signal, core_dumped) = wait_status(h.exit_status);
        return Some(Record::Exit(ExitRecord {
            timestamp: clock.wall(h.ts_boot_ns),
            pid: h.pid,
            ppid: h.ppid,
            uid: h.uid,
            comm,
            exit_code,
            signal,
            core_dumped,
            duration_ns: h.ts_boot_ns.saturating_sub(h.start_ns),
            exec_id,
        }));
    }
    if h.kind != EV_EXEC {
        return None;
    }
    let body = &data[size_of::<exec_hdr>()..];
    let fname_len = usize::from(h.filename_len);
    let argv_len = h.argv_len as usize;
    if body.len() < fname_len + argv_len {
        return None;
    }
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
        comm,
        text: ExecText::from_parts(text, fname.len()),
        args_truncated: truncated,
        args_size: (h.flags & EXEC_F_SIZE_UNKNOWN == 0).then_some(h.argv_size),
        ret: h.ret,
        error: (h.ret < 0).then(|| errno_name(-h.ret)),
        exec_id,
        cgroup_id: h.cgroup_id,
        cgroup: None,
        container_id: None,
        mntns: h.mntns,
        pidns: h.pidns,
    }))
}

/// What an exec event carries after its filename: the cgroup section (see
/// `cgroup::Names`). None if the event is shorter than its header says.
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
mod tests {
    use super::*;

    fn event(h: exec_hdr, fname: &[u8], argv: &[u8]) -> Vec<u8> {
        // SAFETY: exec_hdr is Plain.
        let mut v = unsafe { plain::as_bytes(&h) }.to_vec();
        v.extend_from_slice(argv);
        v.extend_from_slice(fname);
        v
    }

    fn hdr(fname: &[u8], argv: &[u8], argv_size: usize, flags: u16) -> exec_hdr {
        let mut comm = [0i8; 16];
        for (d, s) in comm.iter_mut().zip(b"true") {
            *d = *s as i8;
        }
        exec_hdr {
            ts_boot_ns: 5,
            cgroup_id: 77,
            pid: 10,
            tid: 11,
            ppid: 1,
            uid: 1000,
            gid: 100,
            kind: EV_EXEC,
            exec_ns: 5,
            argv_size: argv_size as u32,
            argv_len: argv.len() as u32,
            filename_len: fname.len() as u16,
            flags,
            comm,
            ..Default::default()
        }
    }

    const LIM: ArgvLimits = ArgvLimits { max_args: 128 };

    fn dec(fname: &[u8], argv: &[u8], size: usize, flags: u16, lim: ArgvLimits) -> ExecRecord {
        let ev = event(hdr(fname, argv, size, flags), fname, argv);
        match decode(&ev, &BootClock::new(), lim) {
            Some(Record::Exec(e)) => e,
            other => panic!("expected an exec record, got {other:?}"),
        }
    }

    fn args(r: &ExecRecord) -> Vec<String> {
        r.text
            .args()
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn whole_event() {
        let argv = b"/bin/true\0a b\0\0";
        let r = dec(b"/bin/true\0", argv, argv.len(), 0, LIM);
        assert_eq!(
            (r.pid, r.tid, r.ppid, r.uid, r.gid, r.cgroup_id),
            (10, 11, 1, 1000, 100, 77)
        );
        assert_eq!(&*String::from_utf8_lossy(r.comm.bytes()), "true");
        assert_eq!(&*String::from_utf8_lossy(r.text.filename()), "/bin/true");
        assert_eq!(args(&r), ["/bin/true", "a b", ""]);
        assert!(!r.args_truncated);
    }

    #[test]
    fn byte_cap_keeps_the_exact_prefix_of_the_cut_argument() {
        let r = dec(b"/x\0", b"/x\0one\0tw", 20, 0, LIM);
        assert_eq!(args(&r), ["/x", "one", "tw"]);
        assert!(r.args_truncated);
        assert_eq!(r.args_size, Some(20));
        // A failed exec's prefix comes NUL-closed, with the cut flag.
        let r = dec(b"/x\0", b"/x\0tw\0", 20, EXEC_F_ARGV_CUT, LIM);
        assert_eq!(args(&r), ["/x", "tw"]);
        assert!(r.args_truncated);
        // Cut at an element's end: nothing partial, still truncated.
        let r = dec(b"/x\0", b"/x\0one\0", 20, 0, LIM);
        assert_eq!(args(&r), ["/x", "one"]);
        assert!(r.args_truncated);
    }

    #[test]
    fn unmeasured_argv_size_is_null() {
        let r = dec(
            b"/x\0",
            b"/x\0",
            3,
            EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN,
            LIM,
        );
        assert_eq!(r.args_size, None);
        assert!(r.args_truncated);
        let r = dec(b"/x\0", b"/x\0", 3, 0, LIM);
        assert_eq!(r.args_size, Some(3));
    }

    #[test]
    fn argument_count_cap() {
        let r = dec(b"/x\0", b"/x\0a\0b\0c\0", 10, 0, ArgvLimits { max_args: 2 });
        assert_eq!(args(&r), ["/x", "a"]);
        assert!(r.args_truncated);
        let r = dec(b"/x\0", b"/x\0a\0", 5, 0, ArgvLimits { max_args: 2 });
        assert_eq!(args(&r), ["/x", "a"]);
        assert!(!r.args_truncated);
        // Both caps: the count wins, no partial element after it.
        let r = dec(b"/x\0", b"/x\0a\0bc", 12, 0, ArgvLimits { max_args: 2 });
        assert_eq!(args(&r), ["/x", "a"]);
        assert!(r.args_truncated);
    }

    #[test]
    fn unreadable_argv_is_marked_truncated() {
        let r = dec(b"/x\0", b"", 10, EXEC_F_ARGV_CUT, LIM);
        assert!(args(&r).is_empty());
        assert!(r.args_truncated);
    }

    #[test]
    fn execveat_paths_are_given_back_as_passed() {
        let r = dec(b"/dev/fd/3/true\0", b"t\0", 2, EXEC_F_FDPATH, LIM);
        assert_eq!(&*String::from_utf8_lossy(r.text.filename()), "true");
        let r = dec(b"/dev/fd/12\0", b"t\0", 2, EXEC_F_FDPATH, LIM);
        assert_eq!(&*String::from_utf8_lossy(r.text.filename()), "");
        // Without the flag, a literal /dev/fd path stays as it is.
        let r = dec(b"/dev/fd/3/true\0", b"t\0", 2, 0, LIM);
        assert_eq!(
            &*String::from_utf8_lossy(r.text.filename()),
            "/dev/fd/3/true"
        );
    }

    #[test]
    fn failed_exec_carries_ret_and_errno_name() {
        let mut h = hdr(b"/nope\0", b"/nope\0", 6, 0);
        h.ret = -2;
        let ev = event(h, b"/nope\0", b"/nope\0");
        let Some(Record::Exec(e)) = decode(&ev, &BootClock::new(), LIM) else {
            panic!("exec record")
        };
        assert_eq!((e.ret, e.error), (-2, Some("ENOENT")));
        assert_eq!(
            e.exec_id,
            ExecId {
                pid: 10,
                boot_ns: 5
            }
        );
    }

    #[test]
    fn exit_event() {
        let mut h = hdr(b"", b"", 0, 0);
        h.kind = EV_EXIT;
        h.ts_boot_ns = 2_000;
        h.start_ns = 500;
        h.exec_ns = 700;
        h.exit_status = 3 << 8;
        let Some(Record::Exit(x)) = decode(&event(h, b"", b""), &BootClock::new(), LIM) else {
            panic!("exit record")
        };
        assert_eq!((x.exit_code, x.signal, x.core_dumped), (3, None, false));
        assert_eq!(x.duration_ns, 1_500);
        assert_eq!(
            x.exec_id,
            ExecId {
                pid: 10,
                boot_ns: 700
            }
        );
    }

    #[test]
    fn wait_statuses() {
        assert_eq!(wait_status(0), (0, None, false));
        assert_eq!(wait_status(255 << 8), (255, None, false));
        assert_eq!(wait_status(9), (137, Some("SIGKILL"), false));
        assert_eq!(wait_status(11 | 0x80), (139, Some("SIGSEGV"), true));
        assert_eq!(signal_name(34), "SIGRTMIN+2");
        assert_eq!(errno_name(libc::EACCES), "EACCES");
    }

    #[test]
    fn trailer_is_what_follows_the_filename() {
        let mut ev = event(hdr(b"/x\0", b"/x\0a\0", 5, 0), b"/x\0", b"/x\0a\0");
        assert_eq!(trailer(&ev), Some(&b""[..]));
        ev.extend_from_slice(b"\x02\0\x01\0a\0");
        assert_eq!(trailer(&ev), Some(&b"\x02\0\x01\0a\0"[..]));
        assert_eq!(trailer(&ev[..ev.len() - 12]), None);
    }

    #[test]
    fn short_event_is_rejected() {
        let ev = event(hdr(b"/bin/true\0", b"abc\0", 4, 0), b"/bin", b"");
        assert!(decode(&ev, &BootClock::new(), LIM).is_none());
        assert!(decode(&ev[..10], &BootClock::new(), LIM).is_none());
    }
}
