//! Raw exec events from the ring buffer → [`ExecRecord`]. Pure: bytes in,
//! record out, unit-tested without a kernel.

use std::mem::size_of;

use super::skel::types::exec_hdr;
use crate::clock::BootClock;
use crate::record::{Argv, Bytes, ExecRecord};

// Flag bits of exec_hdr.flags, as in bpf/exec.h.
pub const EXEC_F_FDPATH: u16 = 1;
pub const EXEC_F_ARGV_FAULT: u16 = 2;

// SAFETY: exec_hdr is plain old data generated from BTF (integers and byte arrays).
unsafe impl plain::Plain for exec_hdr {}

/// How much of argv a record keeps.
#[derive(Clone, Copy, Debug)]
pub struct ArgvLimits {
    pub max_args: u32,
}

/// Decodes one event; None if it is shorter than its header says.
pub fn decode(data: &[u8], clock: &BootClock, limits: ArgvLimits) -> Option<ExecRecord> {
    let mut h = exec_hdr::default();
    plain::copy_from_bytes(&mut h, data).ok()?;
    let body = &data[size_of::<exec_hdr>()..];
    let fname_len = usize::from(h.filename_len);
    let argv_len = h.argv_len as usize;
    if body.len() < fname_len + argv_len {
        return None;
    }
    let fname = &body[..fname_len];
    let fname = fname.strip_suffix(&[0]).unwrap_or(fname);
    let fname = if h.flags & EXEC_F_FDPATH != 0 {
        strip_fdpath(fname)
    } else {
        fname
    };
    let raw_argv = &body[fname_len..fname_len + argv_len];
    let cut = h.flags & EXEC_F_ARGV_FAULT != 0 || h.argv_len < h.argv_size;
    let (argv, truncated) = exact_args(raw_argv, cut, limits.max_args as usize);

    let comm_len = h.comm.iter().position(|&c| c == 0).unwrap_or(h.comm.len());
    let comm: Vec<u8> = h.comm[..comm_len].iter().map(|&c| c as u8).collect();
    Some(ExecRecord {
        timestamp: clock.wall(h.ts_boot_ns),
        pid: h.pid,
        tid: h.tid,
        ppid: h.ppid,
        uid: h.uid,
        gid: h.gid,
        comm: Bytes(comm.into()),
        filename: Bytes(fname.into()),
        args: Argv(argv.into()),
        args_truncated: truncated,
        cgroup_id: h.cgroup_id,
    })
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

/// Keeps only whole arguments: an argument cut by the byte cap is dropped,
/// and at most `max_args` are kept. Returns (argv, truncated).
fn exact_args(raw: &[u8], cut: bool, max_args: usize) -> (Vec<u8>, bool) {
    let mut end = if cut {
        raw.iter().rposition(|&c| c == 0).map_or(0, |i| i + 1)
    } else {
        raw.len()
    };
    let mut truncated = cut;
    // Index just past the max_args-th NUL, if there are more arguments than that.
    let mut seen = 0;
    for (i, &c) in raw[..end].iter().enumerate() {
        if c == 0 {
            seen += 1;
            if seen == max_args && i + 1 < end {
                end = i + 1;
                truncated = true;
                break;
            }
        }
    }
    let mut v = raw[..end].to_vec();
    // A complete argv always ends in NUL; make sure the last element is closed.
    if !v.is_empty() && v.last() != Some(&0) {
        v.push(0);
    }
    (v, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(h: exec_hdr, fname: &[u8], argv: &[u8]) -> Vec<u8> {
        // SAFETY: exec_hdr is Plain.
        let mut v = unsafe { plain::as_bytes(&h) }.to_vec();
        v.extend_from_slice(fname);
        v.extend_from_slice(argv);
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
            argc: 3,
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
        decode(&ev, &BootClock::new(), lim).expect("decodes")
    }

    fn args(r: &ExecRecord) -> Vec<String> {
        r.args
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
        assert_eq!(&*r.comm.lossy(), "true");
        assert_eq!(&*r.filename.lossy(), "/bin/true");
        assert_eq!(args(&r), ["/bin/true", "a b", ""]);
        assert!(!r.args_truncated);
    }

    #[test]
    fn byte_cap_drops_the_partial_argument() {
        let r = dec(b"/x\0", b"/x\0one\0tw", 20, 0, LIM);
        assert_eq!(args(&r), ["/x", "one"]);
        assert!(r.args_truncated);
    }

    #[test]
    fn argument_count_cap() {
        let r = dec(b"/x\0", b"/x\0a\0b\0c\0", 10, 0, ArgvLimits { max_args: 2 });
        assert_eq!(args(&r), ["/x", "a"]);
        assert!(r.args_truncated);
        let r = dec(b"/x\0", b"/x\0a\0", 5, 0, ArgvLimits { max_args: 2 });
        assert_eq!(args(&r), ["/x", "a"]);
        assert!(!r.args_truncated);
    }

    #[test]
    fn unreadable_argv_is_marked_truncated() {
        let r = dec(b"/x\0", b"", 10, EXEC_F_ARGV_FAULT, LIM);
        assert!(args(&r).is_empty());
        assert!(r.args_truncated);
    }

    #[test]
    fn execveat_paths_are_given_back_as_passed() {
        let r = dec(b"/dev/fd/3/true\0", b"t\0", 2, EXEC_F_FDPATH, LIM);
        assert_eq!(&*r.filename.lossy(), "true");
        let r = dec(b"/dev/fd/12\0", b"t\0", 2, EXEC_F_FDPATH, LIM);
        assert_eq!(&*r.filename.lossy(), "");
        // Without the flag, a literal /dev/fd path stays as it is.
        let r = dec(b"/dev/fd/3/true\0", b"t\0", 2, 0, LIM);
        assert_eq!(&*r.filename.lossy(), "/dev/fd/3/true");
    }

    #[test]
    fn short_event_is_rejected() {
        let ev = event(hdr(b"/bin/true\0", b"abc\0", 4, 0), b"/bin", b"");
        assert!(decode(&ev, &BootClock::new(), LIM).is_none());
        assert!(decode(&ev[..10], &BootClock::new(), LIM).is_none());
    }
}
