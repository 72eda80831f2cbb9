//! STUB (core's, replaced by the tc part): TCX egress only.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EgressHook {
    Auto,
    Tcx,
    Clsact,
}

pub struct EgressLink {
    fd: OwnedFd,
}

impl EgressLink {
    pub fn attach(
        prog: BorrowedFd<'_>,
        iface: &str,
        ifindex: u32,
        _hook: EgressHook,
    ) -> Result<EgressLink, Error> {
        // SAFETY: zeroed opts with sz set.
        let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
        opts.sz = size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        // SAFETY: valid fds and opts.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(
                prog.as_raw_fd(),
                ifindex as i32,
                libbpf_sys::BPF_TCX_EGRESS,
                &opts,
            )
        };
        if fd < 0 {
            return Err(Error::Kernel(format!(
                "attaching to {iface}'s egress: {}",
                std::io::Error::from_raw_os_error(-fd)
            )));
        }
        // SAFETY: a fresh fd.
        Ok(EgressLink {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn kind(&self) -> &'static str {
        "tcx"
    }

    pub fn note(&self) -> Option<String> {
        None
    }

    pub fn still_attached(&self) -> Result<bool, Error> {
        // SAFETY: zeroed info; the kernel fills up to len.
        let mut info: libbpf_sys::bpf_link_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libbpf_sys::bpf_link_info>() as u32;
        // SAFETY: our link fd.
        let rc = unsafe {
            libbpf_sys::bpf_link_get_info_by_fd(self.fd.as_raw_fd(), &mut info, &mut len)
        };
        if rc < 0 {
            return Err(Error::Failure("reading the egress link".into()));
        }
        // SAFETY: a tcx link's info.
        Ok(unsafe { info.__bindgen_anon_1.tcx.ifindex } != 0)
    }

    pub fn detach(self) {
        // SAFETY: our link fd.
        unsafe { libbpf_sys::bpf_link_detach(self.fd.as_raw_fd()) };
    }
}

pub fn detect() -> EgressHook {
    EgressHook::Tcx
}
