//! TCX (Linux 6.6+): the program at an interface's egress through a
//! bpf_link, so the kernel detaches it when the link's last fd closes, even
//! on SIGKILL. Put first in the interface's TCX chain: it returns TCX_NEXT
//! (only observes), so whatever was there runs after it as before, and it
//! sees every packet that reaches the hook.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;

pub struct Link {
    fd: OwnedFd,
}

/// Creates the link; the errno on refusal.
pub fn attach(prog: BorrowedFd<'_>, ifindex: u32) -> Result<Link, i32> {
    // SAFETY: an all-zero opts struct is valid; `sz` tells libbpf its size.
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    // Before all others (no relative program: the front of the chain).
    opts.flags = libbpf_sys::BPF_F_BEFORE;
    // SAFETY: a valid program fd and opts; returns a new fd or -errno.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(
            prog.as_raw_fd(),
            ifindex as i32,
            libbpf_sys::BPF_TCX_EGRESS,
            &opts,
        )
    };
    if fd < 0 {
        return Err(-fd);
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(Link {
        fd: unsafe { OwnedFd::from_raw_fd(fd) },
    })
}

impl Link {
    /// The link's (interface index, link id): the index is 0 once the
    /// kernel has left the link defunct (its interface deleted, or someone
    /// detached it, as `bpftool link detach` does).
    pub fn info(&self) -> Result<(u32, u32), i32> {
        // SAFETY: zeroed bpf_link_info is valid; the kernel fills in up to `len`.
        let mut info: libbpf_sys::bpf_link_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libbpf_sys::bpf_link_info>() as u32;
        // SAFETY: a bpf_link fd we own and a buffer of `len` bytes.
        let rc = unsafe {
            libbpf_sys::bpf_link_get_info_by_fd(self.fd.as_raw_fd(), &mut info, &mut len)
        };
        if rc < 0 {
            return Err(-rc);
        }
        // SAFETY: a TCX link's info is the tcx member of the union.
        Ok((unsafe { info.__bindgen_anon_1.tcx.ifindex }, info.id))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // SAFETY: a bpf_link fd we own. Closing it (right after) detaches
        // too; detaching first makes it so even if the fd was shared.
        unsafe { libbpf_sys::bpf_link_detach(self.fd.as_raw_fd()) };
    }
}
