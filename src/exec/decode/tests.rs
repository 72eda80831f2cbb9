//! decode.rs on hand-made events.

use super::*;

fn event(h: exec_hdr, fname: &[u8], argv: &[u8]) -> Vec<u8> {
    // SAFETY: exec_hdr is Plain.
    let mut v = unsafe { plain::as_bytes(&h) }.to_vec();
    v.extend_from_slice(argv);
    v.extend_from_slice(fname);
    v
}

fn hdr(fname: &[u8], argv: &[u8], argv_size: usize, flags: u16) -> exec_hdr {
    let mut comm = exec_hdr::default().comm;
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
        kind: exec_kind::EV_EXEC,
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
    h.kind = exec_kind::EV_EXIT;
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

fn c_chars<const N: usize>(s: &[u8]) -> [std::ffi::c_char; N] {
    let mut a = [0; N];
    for (d, c) in a.iter_mut().zip(s) {
        *d = *c as std::ffi::c_char;
    }
    a
}

fn dec_hdr(h: exec_hdr) -> Record {
    decode(&event(h, b"", b""), &BootClock::new(), LIM).expect("decodes")
}

#[test]
fn identity_fields() {
    let mut h = hdr(b"", b"", 0, EXEC_F_SECUREEXEC);
    (h.euid, h.egid, h.auid, h.sessionid) = (0, 5, 1234, 7);
    h.parent_comm = c_chars(b"bash");
    h.parent_exec_ns = 3;
    let Record::Exec(r) = dec_hdr(h) else {
        panic!("exec record")
    };
    assert_eq!(
        r.ident,
        Identity {
            euid: 0,
            egid: 5,
            auid: Some(1234),
            sessionid: Some(7)
        }
    );
    assert!(r.secureexec);
    assert_eq!(r.parent_comm.bytes(), b"bash");
    assert_eq!(r.parent_exec_id, ExecId { pid: 1, boot_ns: 3 });
    assert!(!matches!(dec_hdr(hdr(b"", b"", 0, 0)), Record::Exec(e) if e.secureexec));
}

#[test]
fn unset_login_identity_is_null_on_execs_and_exits() {
    let mut h = hdr(b"", b"", 0, 0);
    (h.auid, h.sessionid) = (u32::MAX, u32::MAX);
    let Record::Exec(r) = dec_hdr(h) else {
        panic!("exec record")
    };
    assert_eq!((r.ident.auid, r.ident.sessionid), (None, None));
    h.kind = exec_kind::EV_EXIT;
    (h.euid, h.auid) = (3, 0);
    let Record::Exit(x) = dec_hdr(h) else {
        panic!("exit record")
    };
    assert_eq!(
        (x.ident.euid, x.ident.auid, x.ident.sessionid),
        (3, Some(0), None)
    );
}

#[test]
fn tty_names_become_their_dev_paths() {
    let tty = |s: &[u8]| tty_name(&c_chars::<64>(s)).map(String::from);
    assert_eq!(tty(b"pts3").as_deref(), Some("pts/3"));
    assert_eq!(tty(b"pts12").as_deref(), Some("pts/12"));
    assert_eq!(tty(b"tty1").as_deref(), Some("tty1"));
    assert_eq!(tty(b"ttyS0").as_deref(), Some("ttyS0"));
    assert_eq!(tty(b"pts").as_deref(), Some("pts"), "not a numbered slave");
    assert_eq!(tty(b"ptsx").as_deref(), Some("ptsx"));
    assert_eq!(tty(b""), None);
    let mut h = hdr(b"", b"", 0, 0);
    h.tty = c_chars(b"pts0");
    let Record::Exec(r) = dec_hdr(h) else {
        panic!("exec record")
    };
    assert_eq!(r.tty.as_deref(), Some("pts/0"));
}
#[test]
fn cwd_and_exe_from_the_sections_after_the_cgroups() {
    use crate::exec::names::{section, NAMES_F_DELETED, NAMES_F_NOLINK, NAMES_F_SENT};
    let decoded = |sections: &[Vec<u8>]| {
        let mut ev = event(hdr(b"\0", b"x\0", 2, 0), b"\0", b"x\0");
        ev.extend(sections.concat());
        match decode(&ev, &BootClock::new(), LIM) {
            Some(Record::Exec(e)) => e.paths,
            other => panic!("expected an exec record, got {other:?}"),
        }
    };
    let cgroup = section(&[b"not-a-path"], NAMES_F_SENT);
    let p = decoded(&[
        cgroup.clone(),
        section(&[b"w", b"tmp"], 0),
        section(&[b"memfd:m"], NAMES_F_DELETED | NAMES_F_NOLINK),
    ]);
    assert_eq!(p.cwd.as_deref(), Some(&b"/tmp/w"[..]));
    assert_eq!(p.exe.as_deref(), Some(&b"/memfd:m (deleted)"[..]));
    assert!(p.fileless);
    // A failed exec has no exe section.
    let p = decoded(&[cgroup, section(&[], 0)]);
    assert_eq!(
        (p.cwd.as_deref(), p.exe, p.fileless),
        (Some(&b"/"[..]), None, false)
    );
    assert_eq!(
        decoded(&[]),
        ExecPaths::default(),
        "no sections: nothing known"
    );
}
