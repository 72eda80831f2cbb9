//! TCX, auto's choice and fallback, and what both kinds share.

use super::*;

#[test]
fn auto_is_tcx_on_this_kernel() {
    // 6.18 has TCX (6.6+): check says so and auto attaches with it.
    assert_eq!(detect(), EgressHook::Tcx);
    let Fresh { p, prog, .. } = fresh();
    let link = attach(&p, &prog, EgressHook::Auto).unwrap();
    assert_eq!((link.kind(), link.note()), ("tcx", None));
    assert_eq!(link.describe(), "tcx");
    detach(&p, link);
}

#[test]
fn tcx_attach_shows_in_prog_query_and_detach_or_drop_removes_it() {
    let Fresh { p, index, prog, .. } = fresh();
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
        let other = crate::xdp::egress::tcx::attach(theirs.as_fd(), index).unwrap();
        let link = EgressLink::attach(ours.as_fd(), &p.if_a, index, EgressHook::Tcx).unwrap();
        assert_eq!(tcx_egress(index).0, [prog_id(&ours), prog_id(&theirs)]);
        link.detach();
        assert_eq!(tcx_egress(index).0, [prog_id(&theirs)]);
        drop(other);
    });
}

#[test]
fn tcx_still_attached_turns_false_when_someone_detaches_the_link() {
    let Fresh { p, prog, .. } = fresh();
    let link = attach(&p, &prog, EgressHook::Tcx).unwrap();
    assert!(still(&p, &link));
    let crate::xdp::egress::How::Tcx(l) = &link.how else {
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
fn auto_falls_back_to_clsact_when_tcx_refuses_and_says_why() {
    // A full TCX chain (BPF_MPROG_MAX programs) refuses one more (ERANGE),
    // as a kernel without TCX refuses the attach type.
    let Fresh { p, index, prog, .. } = fresh();
    let mut full = Vec::new();
    in_ns_here(&p.ns_a, || loop {
        // One program once per chain: a new one each time.
        let other = observer();
        match crate::xdp::egress::tcx::attach(other.as_fd(), index) {
            Ok(link) => full.push((link, other)),
            Err(e) => break assert_eq!(e, libc::ERANGE),
        }
        assert!(full.len() < 1000);
    });
    let link = attach(&p, &prog, EgressHook::Auto).unwrap();
    assert_eq!(link.kind(), "clsact");
    let note = link.note().unwrap();
    assert!(
        note.starts_with(
            "egress: note: the kernel refused the TCX attach (Numerical result \
             out of range"
        ) && note.contains("a SIGKILL leaves it (and the clsact qdisc this run created)"),
        "{note}"
    );
    assert!(show(&p, "filter", &["egress"]).contains("pref 1 bpf"));
    detach(&p, link);
    assert!(!show(&p, "qdisc", &[]).contains("clsact"));
    drop(full);
}

#[test]
fn a_deleted_interface_ends_both_kinds_quietly() {
    let Fresh { p, prog, .. } = fresh();
    let links = [EgressHook::Tcx, EgressHook::Clsact].map(|h| attach(&p, &prog, h).unwrap());
    sh(&["ip", "-n", &p.ns_a, "link", "del", &p.if_a]);
    for link in links {
        assert!(!still(&p, &link), "{}", link.kind());
        detach(&p, link);
    }
}

#[test]
fn refusals_say_what_and_how_to_fix() {
    let e = crate::xdp::egress::refused("eth9", "tcx", "", libc::EPERM, None);
    assert_eq!(e.exit_code(), 3);
    let msg = e.to_string();
    assert!(
        msg.contains("eth9") && msg.contains("CAP_NET_ADMIN"),
        "{msg}"
    );
    let e = crate::xdp::egress::refused(
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
