//! What is attached to an interface, asked of the kernel through libbpf
//! (not by belief, not by parsing `ip`): its XDP program and its TCX egress
//! programs; and someone else's XDP program, attached for a test to find.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use libbpf_rs::libbpf_sys as sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};

use crate::baseline::BenchXdpSkelBuilder;
use crate::net::netns::in_ns_here;

/// `ifname`'s index in namespace `ns`.
pub fn ifindex(ns: &str, ifname: &str) -> u32 {
    let name = CString::new(ifname).unwrap();
    // SAFETY: a valid C string.
    let i = in_ns_here(ns, || unsafe { libc::if_nametoindex(name.as_ptr()) });
    assert!(i > 0, "no interface {ifname} in {ns}");
    i
}

/// The ids of the XDP programs on `ifname` (in `ns`), any mode: empty when
/// none (bpf_xdp_query).
pub fn xdp_progs(ns: &str, ifname: &str) -> Vec<u32> {
    let index = ifindex(ns, ifname);
    in_ns_here(ns, || {
        // SAFETY: zeroed opts with sz set is what libbpf asks for.
        let mut o: sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
        o.sz = size_of::<sys::bpf_xdp_query_opts>() as _;
        // SAFETY: a valid ifindex and opts.
        let rc = unsafe { sys::bpf_xdp_query(index as i32, 0, &mut o) };
        assert_eq!(rc, 0, "bpf_xdp_query on {ifname} in {ns}: {rc}");
        let mut ids = vec![o.drv_prog_id, o.skb_prog_id, o.hw_prog_id];
        ids.retain(|&id| id != 0);
        ids
    })
}

/// The ids of the programs attached at `ifname`'s TCX egress hook (in
/// `ns`): BPF_PROG_QUERY with BPF_TCX_EGRESS (Linux 6.6+).
pub fn tcx_egress_progs(ns: &str, ifname: &str) -> Vec<u32> {
    let index = ifindex(ns, ifname);
    in_ns_here(ns, || {
        let mut ids = [0u32; 64];
        // SAFETY: zeroed opts with sz set; prog_ids points at room for `count`.
        let mut o: sys::bpf_prog_query_opts = unsafe { std::mem::zeroed() };
        o.sz = size_of::<sys::bpf_prog_query_opts>() as _;
        o.prog_ids = ids.as_mut_ptr();
        o.__bindgen_anon_1.count = ids.len() as u32;
        // SAFETY: a valid target ifindex and opts.
        let rc = unsafe { sys::bpf_prog_query_opts(index as i32, sys::BPF_TCX_EGRESS, &mut o) };
        assert_eq!(
            rc, 0,
            "BPF_PROG_QUERY (TCX egress) on {ifname} in {ns}: {rc}"
        );
        // SAFETY: the kernel set count.
        let n = unsafe { o.__bindgen_anon_1.count } as usize;
        ids[..n].to_vec()
    })
}

/// Attaches the testkit's empty XDP program to `ifname` (in `ns`) the old
/// way (netlink, no bpf_link): someone else's program, there until the
/// interface goes. Its id.
pub fn attach_foreign_xdp(ns: &str, ifname: &str) -> u32 {
    let index = ifindex(ns, ifname);
    let mut obj = MaybeUninit::uninit();
    let skel = BenchXdpSkelBuilder::default()
        .open(&mut obj)
        .and_then(|o| o.load())
        .expect("loading the testkit's empty XDP program");
    let fd = skel.progs.xdp_empty.as_fd();
    use std::os::fd::AsRawFd;
    // SAFETY: a loaded program's fd and a valid ifindex; no opts.
    let rc = in_ns_here(ns, || unsafe {
        sys::bpf_xdp_attach(index as i32, fd.as_raw_fd(), 0, std::ptr::null())
    });
    assert_eq!(rc, 0, "attaching an XDP program to {ifname} in {ns}: {rc}");
    let ids = xdp_progs(ns, ifname);
    assert_eq!(ids.len(), 1, "one XDP program on {ifname}: {ids:?}");
    ids[0]
}
