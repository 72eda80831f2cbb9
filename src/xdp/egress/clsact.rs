//! The clsact fallback (kernels before 6.6, or forced): our filter on the
//! interface's clsact egress hook, the qdisc created if there was none. Only
//! what this run made is ever removed: our filter (by its pref and handle,
//! and only while it still holds our program), and the qdisc if this run
//! created it and nobody else's filter is on it by then. A SIGKILL leaves
//! both behind (said on stderr at attach, with the commands to remove them).
//!
//! Attach works in the calling thread's network namespace; checking and
//! removing go back to it from wherever they are called ([`Netns`]).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::libbpf_sys;

use super::netlink;
use super::netns::Netns;
use crate::diag;

pub struct Filter {
    pub iface: String,
    ifindex: u32,
    pub pref: u32,
    pub handle: u32,
    /// The prefs of others' filters that run before ours (lower), when
    /// there was no free pref below them.
    pub after: Vec<u32>,
    prog_id: u32,
    /// This run created the clsact qdisc (there was none), and has not
    /// removed it.
    created_qdisc: AtomicBool,
    /// Removed already (detach, then Drop).
    removed: bool,
    /// Where it was attached.
    netns: Netns,
}

fn hook(ifindex: u32, attach_point: libbpf_sys::bpf_tc_attach_point) -> libbpf_sys::bpf_tc_hook {
    libbpf_sys::bpf_tc_hook {
        sz: size_of::<libbpf_sys::bpf_tc_hook>() as _,
        ifindex: ifindex as i32,
        attach_point,
        ..Default::default()
    }
}

fn opts(pref: u32, handle: u32) -> libbpf_sys::bpf_tc_opts {
    libbpf_sys::bpf_tc_opts {
        sz: size_of::<libbpf_sys::bpf_tc_opts>() as _,
        handle,
        priority: pref,
        ..Default::default()
    }
}

/// Why an attach failed.
pub enum Refusal {
    /// An `ingress` qdisc (no egress hook) where clsact would go.
    IngressQdisc,
    /// The errno, and what was being done.
    Errno(i32, String),
}

/// Adds our filter, creating the clsact qdisc if there is none.
pub fn attach(prog: BorrowedFd<'_>, iface: &str, ifindex: u32) -> Result<Filter, Refusal> {
    let netns =
        Netns::current().map_err(|e| Refusal::Errno(e, "opening the network namespace".into()))?;
    let mut h = hook(ifindex, libbpf_sys::BPF_TC_EGRESS);
    // SAFETY: a valid hook; libbpf creates the clsact qdisc (exclusively).
    let created_qdisc = match unsafe { libbpf_sys::bpf_tc_hook_create(&mut h) } {
        0 => true,
        // Someone's qdisc at the ingress parent: clsact (ours to share) or
        // the older `ingress`, which has no egress hook (the kernel would
        // put an "egress" filter on its ingress block).
        rc if -rc == libc::EEXIST => match netlink::ingress_qdisc_kind(ifindex) {
            Ok(Some(k)) if k == "clsact" => false,
            Ok(Some(k)) if k == "ingress" => return Err(Refusal::IngressQdisc),
            Ok(k) => {
                let k = k.map_or("none".into(), |k| format!("`{k}`"));
                let what = format!("a qdisc was there, but its kind is {k}, not clsact");
                return Err(Refusal::Errno(libc::EEXIST, what));
            }
            Err(e) => return Err(Refusal::Errno(e, "reading the ingress qdisc's kind".into())),
        },
        rc => {
            let what = format!("creating a clsact qdisc{}", missing(-rc, "sch_ingress"));
            return Err(Refusal::Errno(-rc, what));
        }
    };
    let mut f = Filter {
        iface: iface.to_string(),
        ifindex,
        pref: 0,
        handle: 0,
        after: Vec::new(),
        prog_id: 0,
        created_qdisc: AtomicBool::new(created_qdisc),
        // Nothing of ours to remove until the filter is in.
        removed: true,
        netns,
    };
    // From here on a failure removes the qdisc again (if ours and empty).
    let (pref, after) = match free_pref(ifindex) {
        Ok(p) => p,
        Err(e) => {
            f.remove_qdisc();
            return Err(Refusal::Errno(e, "listing the egress filters".into()));
        }
    };
    let mut o = opts(pref, 0);
    o.prog_fd = prog.as_raw_fd();
    // SAFETY: a valid hook and opts; never BPF_TC_F_REPLACE, so an existing
    // filter is never replaced; the kernel picks the handle and echoes it.
    let rc = unsafe { libbpf_sys::bpf_tc_attach(&h, &mut o) };
    if rc < 0 {
        f.remove_qdisc();
        let what = format!(
            "adding a clsact egress filter (pref {pref}){}",
            missing(-rc, "cls_bpf")
        );
        return Err(Refusal::Errno(-rc, what));
    }
    (f.pref, f.handle, f.prog_id, f.after) = (o.priority, o.handle, o.prog_id, after);
    f.removed = false;
    Ok(f)
}

/// For ENOENT, the kernel's answer to a qdisc or classifier kind it does
/// not know: the module (sch_ingress for clsact, cls_bpf) to load.
pub(super) fn missing(errno: i32, module: &str) -> String {
    if errno != libc::ENOENT {
        return String::new();
    }
    let config = match module {
        "sch_ingress" => "CONFIG_NET_SCH_INGRESS",
        _ => "CONFIG_NET_CLS_BPF",
    };
    format!(" (the kernel has no {module}, {config}: load it with `modprobe {module}`)")
}

/// The lowest pref no filter on the egress hook has, and the prefs of
/// filters below it: ours runs before others' where it can (it only
/// observes, returning TC_ACT_UNSPEC), so a filter that ends classification
/// (`action ok`) does not hide packets from it; never shared with anyone
/// else's filters.
fn free_pref(ifindex: u32) -> Result<(u32, Vec<u32>), i32> {
    let mut used: Vec<u32> = netlink::filters(ifindex, true)?
        .iter()
        .map(netlink::Object::pref)
        .collect();
    used.sort_unstable();
    used.dedup();
    let pref = (1..=u32::from(u16::MAX))
        .find(|p| !used.contains(p))
        .unwrap_or(u32::from(u16::MAX));
    used.retain(|&p| p < pref);
    Ok((pref, used))
}

impl Filter {
    /// Whether our filter is still on the hook, holding our program (and
    /// not someone's that took its pref and handle after ours went).
    pub fn still_attached(&self) -> Result<bool, i32> {
        self.netns.run(|| self.query())?
    }

    fn query(&self) -> Result<bool, i32> {
        let h = hook(self.ifindex, libbpf_sys::BPF_TC_EGRESS);
        let mut o = opts(self.pref, self.handle);
        // SAFETY: a valid hook and opts; libbpf fills in the program's id.
        match unsafe { libbpf_sys::bpf_tc_query(&h, &mut o) } {
            0 => Ok(o.prog_id == self.prog_id),
            // No such filter, qdisc or interface.
            rc if [libc::ENOENT, libc::EINVAL, libc::ENODEV].contains(&-rc) => Ok(false),
            rc => Err(-rc),
        }
    }

    /// Whether this run created the clsact qdisc (and has not removed it).
    pub fn created_qdisc(&self) -> bool {
        self.created_qdisc.load(Ordering::Relaxed)
    }

    /// The `tc` commands that remove what this run added (for the SIGKILL note).
    pub fn removal(&self) -> String {
        let filter = format!(
            "`tc filter del dev {} egress pref {} handle 0x{:x} bpf`",
            self.iface, self.pref, self.handle
        );
        if self.created_qdisc() {
            format!("{filter} and `tc qdisc del dev {} clsact`", self.iface)
        } else {
            filter
        }
    }

    /// Removes our filter, then the qdisc if this run created it and it is
    /// empty. Problems are said on stderr (this runs on the way out).
    pub fn remove(&mut self) {
        if std::mem::replace(&mut self.removed, true) {
            return;
        }
        if let Err(e) = self.netns.run(|| self.remove_here()) {
            diag::warn(&format!(
                "xdp: egress: entering the network namespace of {} failed: {}; \
                 remove what is left there with {}",
                self.iface,
                std::io::Error::from_raw_os_error(e),
                self.removal()
            ));
        }
    }

    fn remove_here(&self) {
        match self.query() {
            Ok(true) => {
                let h = hook(self.ifindex, libbpf_sys::BPF_TC_EGRESS);
                let o = opts(self.pref, self.handle);
                // SAFETY: a valid hook; opts name our filter only.
                let rc = unsafe { libbpf_sys::bpf_tc_detach(&h, &o) };
                if rc < 0 && -rc != libc::ENOENT && -rc != libc::ENODEV {
                    diag::warn(&format!(
                        "xdp: egress: removing our filter from {} failed: {}; \
                         remove it with {}",
                        self.iface,
                        std::io::Error::from_raw_os_error(-rc),
                        self.removal()
                    ));
                    return;
                }
            }
            // Taken away by someone (or with its interface): nothing of
            // ours to remove but the qdisc, if ours and empty.
            Ok(false) => {}
            Err(e) => {
                diag::warn(&format!(
                    "xdp: egress: checking our filter on {} failed: {}; \
                     if it is still there, remove it with {}",
                    self.iface,
                    std::io::Error::from_raw_os_error(e),
                    self.removal()
                ));
                return;
            }
        }
        self.remove_qdisc();
    }

    /// Deletes the clsact qdisc if this run created it and no filter of
    /// anyone's is on either of its hooks. (Never bpf_tc_hook_destroy on one
    /// direction: libbpf then flushes every filter of that hook.) Netlink
    /// has no conditional delete: a filter someone adds between the dump
    /// and the delete, a few microseconds, would go with the qdisc.
    fn remove_qdisc(&self) {
        if !self.created_qdisc.swap(false, Ordering::Relaxed) {
            return;
        }
        let others = netlink::filters(self.ifindex, false).and_then(|mut i| {
            i.extend(netlink::filters(self.ifindex, true)?);
            Ok(i.len())
        });
        match others {
            Ok(0) => {}
            Ok(_) => {
                diag::warn(&format!(
                    "xdp: egress: left the clsact qdisc this run created on {} in \
                     place: others' filters are on it now",
                    self.iface
                ));
                return;
            }
            Err(libc::ENODEV) => return,
            Err(e) => {
                diag::warn(&format!(
                    "xdp: egress: left the clsact qdisc this run created on {} in \
                     place: listing its filters failed ({}); if it is empty, remove it with \
                     `tc qdisc del dev {} clsact`",
                    self.iface,
                    std::io::Error::from_raw_os_error(e),
                    self.iface
                ));
                return;
            }
        }
        let mut h = hook(
            self.ifindex,
            libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS,
        );
        // SAFETY: a valid hook; both directions: libbpf deletes the clsact
        // qdisc itself (and the kernel refuses if it is not clsact).
        let rc = unsafe { libbpf_sys::bpf_tc_hook_destroy(&mut h) };
        if rc < 0 && -rc != libc::ENOENT && -rc != libc::ENODEV && -rc != libc::EINVAL {
            diag::warn(&format!(
                "xdp: egress: removing the clsact qdisc from {} failed: {}; \
                 remove it with `tc qdisc del dev {} clsact`",
                self.iface,
                std::io::Error::from_raw_os_error(-rc),
                self.iface
            ));
        }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        self.remove();
    }
}
