//! `--direction egress`: a loaded SCHED_CLS program at an interface's egress
//! hook. TCX (Linux 6.6+) where the kernel has it: a bpf_link, gone with the
//! process even on SIGKILL. Else a filter on a clsact qdisc (created if
//! there is none), removed on every exit but SIGKILL; nothing that was there
//! before is ever touched. See [`clsact`] and [`tcx`].

mod clsact;
mod netlink;
mod netns;
mod tcx;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;

use crate::error::Error;

/// Which egress hook to use (the hidden `--egress-hook`): auto is TCX where
/// the kernel has it, else clsact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EgressHook {
    Auto,
    Tcx,
    Clsact,
}

impl EgressHook {
    pub fn name(self) -> &'static str {
        match self {
            EgressHook::Auto => "auto",
            EgressHook::Tcx => "tcx",
            EgressHook::Clsact => "clsact",
        }
    }
}

/// What `auto` picks on this kernel, for `check`: TCX if the kernel's BTF
/// knows BPF_TCX_EGRESS (enum bpf_attach_type), which came with TCX itself
/// (6.6). Reading BTF needs no privileges, attaches nothing and creates no
/// namespace; `attach` still falls back to clsact if TCX is refused anyway.
pub fn detect() -> EgressHook {
    if has_tcx() {
        EgressHook::Tcx
    } else {
        EgressHook::Clsact
    }
}

fn has_tcx() -> bool {
    use libbpf_rs::btf::{types::Enum, Btf};
    let Ok(btf) = Btf::from_vmlinux() else {
        return false;
    };
    btf.type_by_name::<Enum<'_>>("bpf_attach_type")
        .is_some_and(|e| {
            e.iter()
                .any(|m| m.name == Some(OsStr::new("BPF_TCX_EGRESS")))
        })
}

/// An attached egress program; dropping it detaches it (every exit path:
/// tcx::Link and clsact::Filter each detach in their own Drop).
pub struct EgressLink {
    iface: String,
    how: How,
}

enum How {
    Tcx(tcx::Link),
    /// Our filter, and why clsact (the note's first words).
    Clsact(clsact::Filter, String),
}

impl EgressLink {
    /// Attaches the loaded SCHED_CLS program `prog` at `iface`'s egress
    /// (`ifindex` in the calling thread's network namespace).
    pub fn attach(
        prog: BorrowedFd<'_>,
        iface: &str,
        ifindex: u32,
        hook: EgressHook,
    ) -> Result<EgressLink, Error> {
        let how = match hook {
            EgressHook::Tcx => How::Tcx(
                tcx::attach(prog, ifindex).map_err(|e| refused(iface, "tcx", "", e, None))?,
            ),
            EgressHook::Clsact => {
                let why = "clsact was chosen (--egress-hook clsact), not tcx".to_string();
                on_clsact(prog, iface, ifindex, why, None)?
            }
            EgressHook::Auto => match tcx::attach(prog, ifindex) {
                Ok(link) => How::Tcx(link),
                Err(e) if fatal(e) => return Err(refused(iface, "tcx", "", e, None)),
                Err(e) => {
                    let tcx_err = std::io::Error::from_raw_os_error(e).to_string();
                    let why = if has_tcx() {
                        format!("the kernel refused the TCX attach ({tcx_err})")
                    } else {
                        "this kernel has no TCX (Linux 6.6+)".to_string()
                    };
                    on_clsact(prog, iface, ifindex, why, Some(&tcx_err))?
                }
            },
        };
        Ok(EgressLink {
            iface: iface.to_string(),
            how,
        })
    }

    /// "tcx" | "clsact".
    pub fn kind(&self) -> &'static str {
        match self.how {
            How::Tcx(_) => "tcx",
            How::Clsact(..) => "clsact",
        }
    }

    /// What follows `with` in the `attached` line: `tcx`, or `a clsact
    /// filter (pref P, handle 0xH)`.
    pub fn describe(&self) -> String {
        match &self.how {
            How::Tcx(_) => "tcx".into(),
            How::Clsact(f, _) => {
                format!("a clsact filter (pref {}, handle 0x{:x})", f.pref, f.handle)
            }
        }
    }

    /// The stderr line to print after `attached` (None for tcx), without
    /// the `ebpf-jsonl: xdp: ` prefix (as [`super::flavour::Flavour::note`]):
    /// why clsact, and that a SIGKILL leaves its filter (and the qdisc this
    /// run created) behind, with the commands that remove them.
    pub fn note(&self) -> Option<String> {
        let How::Clsact(f, why) = &self.how else {
            return None;
        };
        let qdisc = if f.created_qdisc() {
            " (and the clsact qdisc this run created)"
        } else {
            ""
        };
        let after = if f.after.is_empty() {
            String::new()
        } else {
            let prefs: Vec<String> = f.after.iter().map(u32::to_string).collect();
            format!(
                "; it runs after the filters already at pref {} (one that ends classification \
                 hides packets from it)",
                prefs.join(", ")
            )
        };
        Some(format!(
            "egress: note: {why}: any exit removes the filter, but a SIGKILL \
             leaves it{qdisc} on {}; then remove it with {}{after}",
            self.iface,
            f.removal()
        ))
    }

    /// Still attached? (tcx: the link's ifindex is not 0; clsact: our
    /// filter is still there, with our program.)
    pub fn still_attached(&self) -> Result<bool, Error> {
        let r = match &self.how {
            How::Tcx(link) => link.info().map(|(ifindex, _)| ifindex != 0),
            How::Clsact(f, _) => f.still_attached(),
        };
        r.map_err(|e| {
            Error::Failure(format!(
                "reading the state of the egress program on {} ({}): {}",
                self.iface,
                self.kind(),
                std::io::Error::from_raw_os_error(e)
            ))
        })
    }

    /// Detaches now (Drop would too): packets are no longer seen once this returns.
    pub fn detach(self) {
        drop(self);
    }
}

/// Errors auto does not fall back on: privileges, or the interface gone.
/// Kernels without TCX refuse the attach type with EINVAL (measured on
/// Debian's 5.10 and 6.1 in the qemu matrix); any other refusal falls back
/// too, and the note says which it was.
fn fatal(errno: i32) -> bool {
    [libc::EPERM, libc::EACCES, libc::ENODEV, libc::ENXIO].contains(&errno)
}

fn on_clsact(
    prog: BorrowedFd<'_>,
    iface: &str,
    ifindex: u32,
    why: String,
    tcx_err: Option<&str>,
) -> Result<How, Error> {
    match clsact::attach(prog, iface, ifindex) {
        Ok(f) => Ok(How::Clsact(f, why)),
        Err(clsact::Refusal::IngressQdisc) => Err(Error::Failure(format!(
            "{iface} has an `ingress` qdisc, which has no egress hook for ebpf-jsonl's clsact \
             filter; left it untouched. Replace it with a clsact qdisc (`tc qdisc del dev \
             {iface} ingress`, `tc qdisc add dev {iface} clsact`, then add its filters again \
             with `ingress`), or use a kernel with TCX (Linux 6.6+)"
        ))),
        Err(clsact::Refusal::Errno(e, what)) => Err(refused(iface, "clsact", &what, e, tcx_err)),
    }
}

/// The error for an attach the kernel refused (`errno` while doing `what`).
fn refused(iface: &str, kind: &str, what: &str, errno: i32, tcx_err: Option<&str>) -> Error {
    let err = std::io::Error::from_raw_os_error(errno);
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    };
    let tcx = tcx_err.map_or_else(String::new, |t| format!("tcx: {t}; "));
    match errno {
        libc::EPERM | libc::EACCES => Error::Privilege(format!(
            "attaching the egress program to {iface} ({kind}): {err}: run as root, or grant \
             CAP_BPF and CAP_NET_ADMIN"
        )),
        libc::ENODEV | libc::ENXIO => Error::Failure(format!(
            "attaching the egress program to {iface}: the interface went away ({err})"
        )),
        libc::EINVAL if kind == "tcx" && !has_tcx() => Error::Kernel(format!(
            "attaching the egress program to {iface} with tcx: {err}: this kernel has no TCX \
             (Linux 6.6+); use --egress-hook auto, which falls back to a clsact filter"
        )),
        _ => Error::Kernel(format!(
            "attaching the egress program to {iface} failed ({tcx}{kind}: {what}{err})"
        )),
    }
}
