//! Attaching for real at a veth's egress in a fresh namespace (testkit's
//! Pair), with a two-instruction SCHED_CLS program (`r0 = -1; exit`), and
//! checking with `tc` and BPF_PROG_QUERY what is on the interface.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use ebpf_jsonl_testkit::net::{in_ns_here, sh, Pair};
use libbpf_rs::libbpf_sys;

use super::{detect, EgressHook, EgressLink};
use crate::error::Error;

/// A loaded SCHED_CLS program that returns TC_ACT_UNSPEC (TCX_NEXT).
fn observer() -> OwnedFd {
    let mov_r0 = u64::from(libbpf_sys::BPF_ALU64 | libbpf_sys::BPF_MOV | libbpf_sys::BPF_K);
    let insns: [u64; 2] = [
        mov_r0 | u64::from(u32::MAX) << 32, // r0 = -1
        u64::from(libbpf_sys::BPF_JMP | libbpf_sys::BPF_EXIT),
    ];
    let (kind, gpl) = (libbpf_sys::BPF_PROG_TYPE_SCHED_CLS, c"GPL".as_ptr());
    let (at, null, no_opts) = (
        insns.as_ptr().cast(),
        std::ptr::null(),
        std::ptr::null_mut(),
    );
    // SAFETY: two valid instructions (8 bytes each, as bpf_insn), a
    // NUL-terminated license, no opts.
    let fd = unsafe { libbpf_sys::bpf_prog_load(kind, null, gpl, at, 2, no_opts) };
    assert!(fd >= 0, "loading a SCHED_CLS program: {fd}");
    // SAFETY: a fresh fd nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The program's id.
fn prog_id(prog: &OwnedFd) -> u32 {
    // SAFETY: zeroed info is valid; the kernel fills in up to `len`.
    let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: a program fd and a buffer of `len` bytes.
    let rc = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len) };
    assert_eq!(rc, 0);
    info.id
}

/// (program ids, link ids) at the interface's TCX egress (this thread's namespace).
fn tcx_egress(ifindex: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut progs, mut links) = ([0u32; 8], [0u32; 8]);
    // SAFETY: zeroed opts with `sz` set; arrays of `count` entries.
    let mut q: libbpf_sys::bpf_prog_query_opts = unsafe { std::mem::zeroed() };
    q.sz = size_of::<libbpf_sys::bpf_prog_query_opts>() as _;
    q.prog_ids = progs.as_mut_ptr();
    q.link_ids = links.as_mut_ptr();
    q.__bindgen_anon_1.count = 8;
    // SAFETY: valid opts and buffers.
    let rc = unsafe {
        libbpf_sys::bpf_prog_query_opts(ifindex as i32, libbpf_sys::BPF_TCX_EGRESS, &mut q)
    };
    assert_eq!(rc, 0, "BPF_PROG_QUERY tcx egress");
    // SAFETY: the kernel set count.
    let n = unsafe { q.__bindgen_anon_1.count } as usize;
    (progs[..n].to_vec(), links[..n].to_vec())
}

fn ifindex(p: &Pair) -> u32 {
    let name = p.if_a.clone();
    p.in_a(move || crate::xdp::attach::ifindex(&name).unwrap())
}

/// `tc -n NS WHAT show dev IF [DIR]` on the tool's side.
fn show(p: &Pair, what: &str, dir: &[&str]) -> String {
    sh(&[
        &["tc", "-n", &p.ns_a, what, "show", "dev", &p.if_a][..],
        dir,
    ]
    .concat())
}

/// `tc -n NS ARGS` on the tool's side: `IF` in `args` is the tool's
/// interface, `ALL_OK` [`ALL_OK`], `_` a space inside one argument
/// (classic BPF bytecode).
fn tc(p: &Pair, args: &str) {
    let args: Vec<String> = args
        .replace("ALL_OK", ALL_OK)
        .split_whitespace()
        .map(|a| {
            if a == "IF" {
                p.if_a.clone()
            } else {
                a.replace('_', " ")
            }
        })
        .collect();
    let mut all = vec!["tc", "-n", p.ns_a.as_str()];
    all.extend(args.iter().map(String::as_str));
    sh(&all);
}

/// A filter that matches every packet and ends classification (a u32
/// match-all with no action: TC_ACT_OK), what `matchall action ok` does
/// where cls_matchall is built.
const ALL_OK: &str = "protocol all u32 match u32 0 0";

/// A fresh pair with someone's qdiscs and filters (`tc` commands), and
/// what tc shows then.
fn set_up(theirs: &[&str]) -> (Pair, String) {
    let p = Pair::unaddressed();
    for cmd in theirs {
        tc(&p, cmd);
    }
    let shown = snapshot(&p);
    (p, shown)
}

/// Everything tc shows on the tool's interface.
fn snapshot(p: &Pair) -> String {
    [
        show(p, "qdisc", &[]),
        show(p, "filter", &["ingress"]),
        show(p, "filter", &["egress"]),
    ]
    .join("--\n")
}

fn attach(p: &Pair, prog: &OwnedFd, hook: EgressHook) -> Result<EgressLink, Error> {
    let index = ifindex(p);
    in_ns_here(&p.ns_a, || {
        EgressLink::attach(prog.as_fd(), &p.if_a, index, hook)
    })
}

/// Detaches in the namespace it was attached in (as the tool does: one namespace).
fn detach(p: &Pair, link: EgressLink) {
    in_ns_here(&p.ns_a, || link.detach());
}

fn still(p: &Pair, link: &EgressLink) -> bool {
    in_ns_here(&p.ns_a, || link.still_attached()).unwrap()
}

#[test]
fn auto_is_tcx_on_this_kernel() {
    // 6.18 has TCX (6.6+): check says so and auto attaches with it.
    assert_eq!(detect(), EgressHook::Tcx);
    let p = Pair::unaddressed();
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Auto).unwrap();
    assert_eq!((link.kind(), link.note()), ("tcx", None));
    assert_eq!(link.describe(), "tcx");
    detach(&p, link);
}

#[test]
fn tcx_attach_shows_in_prog_query_and_detach_or_drop_removes_it() {
    let p = Pair::unaddressed();
    let index = ifindex(&p);
    let prog = observer();
    let id = prog_id(&prog);
    let before = snapshot(&p);
    in_ns_here(&p.ns_a, || {
        let link = EgressLink::attach(prog.as_fd(), &p.if_a, index, EgressHook::Tcx).unwrap();
        assert_eq!(tcx_egress(index).0, [id]);
        assert!(link.still_attached().unwrap());
        link.detach();
        assert_eq!(tcx_egress(index), (vec![], vec![]));
        let link = EgressLink::attach(prog.as_fd(), &p.if_a, index, EgressHook::Tcx).unwrap();
        assert_eq!(tcx_egress(index).0, [id]);
        drop(link);
        assert_eq!(tcx_egress(index), (vec![], vec![]));
    });
    // No qdisc or filter of tc's either.
    assert_eq!(snapshot(&p), before);
}

#[test]
fn tcx_goes_first_and_leaves_others_programs_in_place() {
    let p = Pair::unaddressed();
    let index = ifindex(&p);
    let (theirs, ours) = (observer(), observer());
    in_ns_here(&p.ns_a, || {
        let other = super::tcx::attach(theirs.as_fd(), index).unwrap();
        let link = EgressLink::attach(ours.as_fd(), &p.if_a, index, EgressHook::Tcx).unwrap();
        assert_eq!(tcx_egress(index).0, [prog_id(&ours), prog_id(&theirs)]);
        link.detach();
        assert_eq!(tcx_egress(index).0, [prog_id(&theirs)]);
        drop(other);
    });
}

#[test]
fn tcx_still_attached_turns_false_when_someone_detaches_the_link() {
    let p = Pair::unaddressed();
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Tcx).unwrap();
    assert!(still(&p, &link));
    let super::How::Tcx(l) = &link.how else {
        panic!("tcx")
    };
    let (_, link_id) = l.info().unwrap();
    // As `bpftool link detach id N`: from another fd, obtained by id.
    // SAFETY: plain BPF syscalls on an id and the fd they give.
    unsafe {
        let fd = libbpf_sys::bpf_link_get_fd_by_id(link_id);
        assert!(fd >= 0);
        let fd = OwnedFd::from_raw_fd(fd);
        assert_eq!(libbpf_sys::bpf_link_detach(fd.as_raw_fd()), 0);
    }
    assert!(!still(&p, &link));
    detach(&p, link);
}

#[test]
fn clsact_creates_the_qdisc_and_our_filter_and_detach_removes_both() {
    let p = Pair::unaddressed();
    let before = snapshot(&p);
    assert!(!before.contains("clsact"), "{before}");
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
    assert_eq!(link.kind(), "clsact");
    assert_eq!(link.describe(), "a clsact filter (pref 1, handle 0x1)");
    assert!(show(&p, "qdisc", &[]).contains("qdisc clsact ffff: parent ffff:fff1"));
    let egress = show(&p, "filter", &["egress"]);
    assert!(
        egress.contains("pref 1 bpf chain 0 handle 0x1") && egress.contains(" direct-action "),
        "{egress}"
    );
    assert_eq!(show(&p, "filter", &["ingress"]), "");
    let note = link.note().unwrap();
    let cmds = format!(
        "`tc filter del dev {0} egress pref 1 handle 0x1 bpf` and `tc qdisc del dev {0} clsact`",
        p.if_a
    );
    assert!(
        note.starts_with("ebpf-jsonl: xdp: egress: note: clsact was chosen")
            && note.contains("a SIGKILL leaves it (and the clsact qdisc this run created)")
            && note.ends_with(&cmds),
        "{note}"
    );
    assert!(still(&p, &link));
    detach(&p, link);
    assert_eq!(snapshot(&p), before);
}

#[test]
fn the_notes_commands_remove_what_a_sigkill_leaves() {
    let p = Pair::unaddressed();
    let before = snapshot(&p);
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
    let note = link.note().unwrap();
    // As if killed: nothing of ours runs on the way out.
    std::mem::forget(link);
    assert_ne!(snapshot(&p), before);
    for cmd in note.split('`').skip(1).step_by(2) {
        tc(&p, cmd.strip_prefix("tc ").unwrap());
    }
    assert_eq!(snapshot(&p), before);
}

#[test]
fn someone_elses_clsact_qdisc_and_filters_are_left_exactly_as_they_were() {
    let (p, before) = set_up(&[
        "qdisc add dev IF clsact",
        "filter add dev IF egress pref 7 ALL_OK",
        "filter add dev IF egress pref 1 bpf bytecode 1,6_0_0_0",
        "filter add dev IF ingress pref 2 ALL_OK",
    ]);
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
    // The lowest pref free: before their match-all u32 at 7, which ends
    // classification (TC_ACT_OK) and would hide every packet from a filter
    // after it.
    assert_eq!(link.describe(), "a clsact filter (pref 2, handle 0x1)");
    let note = link.note().unwrap();
    assert!(
        !note.contains("qdisc") && note.ends_with("pref 2 handle 0x1 bpf`"),
        "not our qdisc: {note}"
    );
    let during = show(&p, "filter", &["egress"]);
    assert!(
        during.contains("pref 7 u32") && during.contains("pref 2 bpf"),
        "{during}"
    );
    detach(&p, link);
    assert_eq!(snapshot(&p), before);
}

#[test]
fn a_filter_someone_adds_to_our_qdisc_keeps_it() {
    for dir in ["egress", "ingress"] {
        let p = Pair::unaddressed();
        let prog = observer();
        let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
        tc(&p, &format!("filter add dev IF {dir} pref 9 ALL_OK"));
        let theirs = show(&p, "filter", &[dir]);
        detach(&p, link);
        assert!(show(&p, "qdisc", &[]).contains("qdisc clsact"), "{dir}");
        let after = show(&p, "filter", &[dir]);
        assert!(!after.contains(" bpf "), "ours is gone: {after}");
        if dir == "ingress" {
            assert_eq!(after, theirs);
        } else {
            assert!(after.contains("pref 9 u32"), "{after}");
        }
    }
}

#[test]
fn clsact_still_attached_turns_false_when_someone_deletes_our_filter() {
    for replaced in [false, true] {
        let p = Pair::unaddressed();
        let before = snapshot(&p);
        let prog = observer();
        let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
        assert!(still(&p, &link));
        tc(&p, "filter del dev IF egress pref 1 handle 0x1 bpf");
        assert!(!still(&p, &link));
        if !replaced {
            detach(&p, link);
            // The qdisc this run created, empty again, went too.
            assert_eq!(snapshot(&p), before);
            continue;
        }
        // Someone's filter at our pref and handle is not ours either, and
        // stays, with the qdisc it is on.
        tc(
            &p,
            "filter add dev IF egress pref 1 handle 1 bpf bytecode 1,6_0_0_0",
        );
        assert!(!still(&p, &link));
        let during = snapshot(&p);
        detach(&p, link);
        assert_eq!(snapshot(&p), during);
    }
}

#[test]
fn a_deleted_interface_ends_both_kinds_quietly() {
    let p = Pair::unaddressed();
    let prog = observer();
    let links = [EgressHook::Tcx, EgressHook::Clsact].map(|h| attach(&p, &prog, h).unwrap());
    sh(&["ip", "-n", &p.ns_a, "link", "del", &p.if_a]);
    for link in links {
        assert!(!still(&p, &link), "{}", link.kind());
        detach(&p, link);
    }
}

#[test]
fn an_ingress_qdisc_is_a_clear_error_and_left_alone() {
    let (p, before) = set_up(&[
        "qdisc add dev IF ingress",
        "filter add dev IF ingress pref 3 ALL_OK",
    ]);
    let prog = observer();
    let Err(e) = attach(&p, &prog, EgressHook::Clsact) else {
        panic!("attached on an ingress qdisc");
    };
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 1, "{msg}");
    assert!(
        msg.starts_with(&format!("{} has an `ingress` qdisc", p.if_a))
            && msg.contains(&format!("`tc qdisc del dev {} ingress`", p.if_a)),
        "{msg}"
    );
    assert_eq!(snapshot(&p), before);
}

#[test]
fn refusals_say_what_and_how_to_fix() {
    let e = super::refused("eth9", "tcx", "", libc::EPERM, None);
    assert_eq!(e.exit_code(), 3);
    let msg = e.to_string();
    assert!(
        msg.contains("eth9") && msg.contains("CAP_NET_ADMIN"),
        "{msg}"
    );
    let e = super::refused(
        "eth9",
        "clsact",
        "adding",
        libc::ENOSPC,
        Some("Invalid argument"),
    );
    assert_eq!(e.exit_code(), 4);
    assert_eq!(
        e.to_string(),
        "attaching the egress program to eth9 failed (tcx: Invalid argument; clsact: adding: \
         No space left on device (os error 28))"
    );
}
