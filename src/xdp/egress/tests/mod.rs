//! Attaching for real at a veth's egress in a fresh namespace (testkit's
//! Pair), with a two-instruction SCHED_CLS program (`r0 = -1; exit`), and
//! checking with `tc` and BPF_PROG_QUERY what is on the interface.

mod clsact;
mod tcx;

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

/// A fresh pair, its interface's index (in its namespace), what tc shows
/// on it, and a program to attach.
struct Fresh {
    p: Pair,
    index: u32,
    before: String,
    prog: OwnedFd,
}

fn fresh() -> Fresh {
    let p = Pair::unaddressed();
    Fresh {
        index: ifindex(&p),
        before: snapshot(&p),
        prog: observer(),
        p,
    }
}

/// A fresh pair, what tc showed on it before, and our program attached
/// there with `hook` (the link holds the program).
fn attached(hook: EgressHook) -> (Pair, String, EgressLink) {
    let f = fresh();
    let link = attach(&f.p, &f.prog, hook).unwrap();
    (f.p, f.before, link)
}

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
