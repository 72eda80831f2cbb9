//! Attaches the XDP program to an interface through a bpf_link: the kernel
//! detaches it when the link's last fd closes, so it goes away with the
//! process, even on SIGKILL.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::ProgramMut;

use crate::cli::XdpMode;
use crate::error::Error;

/// The mode that took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Native,
    Generic,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Generic => "generic",
        }
    }

    fn flags(self) -> u32 {
        match self {
            Mode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            Mode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }
}

/// An attached program; dropping it (or the process ending) detaches it.
pub struct XdpLink {
    fd: OwnedFd,
    pub mode: Mode,
    /// Why native mode failed, when `auto` fell back to generic.
    pub native_refused: Option<String>,
}

impl XdpLink {
    /// The interface the program is attached to now, or None once the
    /// kernel has detached it: the link stays, defunct, when its interface
    /// is removed (or when someone detaches it, e.g. `bpftool link detach`).
    pub fn attached_ifindex(&self) -> Result<Option<u32>, Error> {
        // SAFETY: zeroed bpf_link_info is valid; the kernel fills in up to `len`.
        let mut info: libbpf_sys::bpf_link_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libbpf_sys::bpf_link_info>() as u32;
        // SAFETY: a bpf_link fd we own and a buffer of `len` bytes.
        let rc = unsafe {
            libbpf_sys::bpf_link_get_info_by_fd(self.fd.as_raw_fd(), &mut info, &mut len)
        };
        if rc < 0 {
            return Err(Error::Failure(format!(
                "reading the state of the XDP link: {}",
                std::io::Error::from_raw_os_error(-rc)
            )));
        }
        // SAFETY: an XDP link's info is the xdp member of the union.
        let ifindex = unsafe { info.__bindgen_anon_1.xdp.ifindex };
        Ok((ifindex != 0).then_some(ifindex))
    }

    /// Detaches now; packets are no longer seen once this returns.
    pub fn detach(self) {
        // SAFETY: a bpf_link fd we own. Closing it would detach too.
        unsafe { libbpf_sys::bpf_link_detach(self.fd.as_raw_fd()) };
    }

    /// Puts `prog` in place of the attached program, atomically: every
    /// packet meets one or the other (the benchmark's side-by-side runs).
    pub fn update(&self, prog: &ProgramMut) -> Result<(), Error> {
        // SAFETY: a bpf_link fd we own and a loaded program's fd; no opts.
        let rc = unsafe {
            libbpf_sys::bpf_link_update(
                self.fd.as_raw_fd(),
                prog.as_fd().as_raw_fd(),
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(Error::Failure(format!(
                "replacing the XDP program: {}",
                std::io::Error::from_raw_os_error(-rc)
            )));
        }
        Ok(())
    }
}

/// Attaches in the given mode; auto tries native, then generic. An interface
/// that already carries an XDP program is left as it is.
pub fn attach(
    prog: &ProgramMut,
    iface: &str,
    ifindex: u32,
    mode: XdpMode,
) -> Result<XdpLink, Error> {
    let modes: &[Mode] = match mode {
        XdpMode::Native => &[Mode::Native],
        XdpMode::Generic => &[Mode::Generic],
        XdpMode::Auto => &[Mode::Native, Mode::Generic],
    };
    let mut errors = Vec::new();
    let mut native_refused = None;
    for &m in modes {
        match link_create(prog, ifindex, m) {
            Ok(fd) => {
                return Ok(XdpLink {
                    fd,
                    mode: m,
                    native_refused,
                })
            }
            Err(errno) if errno == libc::EBUSY || errno == libc::EEXIST => {
                return Err(Error::Failure(busy(iface, ifindex)));
            }
            Err(errno) if errno == libc::EPERM || errno == libc::EACCES => {
                return Err(Error::Privilege(format!(
                    "attaching XDP to {iface}: {}: run as root, or grant CAP_BPF and CAP_NET_ADMIN",
                    std::io::Error::from_raw_os_error(errno)
                )));
            }
            Err(errno) if errno == libc::ERANGE && m == Mode::Native => {
                let why = mtu_too_large(iface);
                if mode == XdpMode::Native {
                    return Err(Error::Kernel(format!(
                        "attaching XDP to {iface} in native mode: {why}: lower the MTU \
                         (`ip link set dev {iface} mtu 1500`; on veth, the peer's counts too) \
                         or use --mode generic, which takes any MTU but counts packets after \
                         GRO (see README, generic mode)"
                    )));
                }
                errors.push(format!("native mode: {why}"));
                native_refused = Some(why);
            }
            Err(errno) => {
                let why = std::io::Error::from_raw_os_error(errno).to_string();
                errors.push(format!("{} mode: {why}", m.name()));
                if m == Mode::Native {
                    native_refused = Some(why);
                }
            }
        }
    }
    Err(Error::Kernel(format!(
        "attaching XDP to {iface} failed ({})",
        errors.join("; ")
    )))
}

/// Why native attach failed with ERANGE: the driver takes no frames larger
/// than a page for a program without multi-buffer (frags) support.
fn mtu_too_large(iface: &str) -> String {
    let mtu = mtu(iface).map_or_else(String::new, |m| format!(" ({m})"));
    format!(
        "its MTU{mtu} is too large for native XDP here (Numerical result out of range, ERANGE: \
         the driver needs every frame in one page for this program)"
    )
}

/// The interface's MTU (SIOCGIFMTU), in this network namespace.
fn mtu(iface: &str) -> Option<u32> {
    // SAFETY: zeroed ifreq is valid; the name fits (checked), NUL-terminated.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, &c) in req.ifr_name.iter_mut().zip(name) {
        *d = c as libc::c_char;
    }
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: SIOCGIFMTU reads ifr_name and writes ifr_mtu.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success the union holds the MTU.
    Some(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// Whether the interface with this index is still there (this namespace).
pub fn ifindex_exists(ifindex: u32) -> bool {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: a buffer of IF_NAMESIZE bytes, as if_indextoname needs.
    !unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) }.is_null()
}

fn link_create(prog: &ProgramMut, ifindex: u32, mode: Mode) -> Result<OwnedFd, i32> {
    // SAFETY: an all-zero opts struct is valid; `sz` tells libbpf its size.
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    opts.flags = mode.flags();
    // SAFETY: valid program fd and opts; returns a new fd or -errno.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(
            prog.as_fd().as_raw_fd(),
            ifindex as i32,
            libbpf_sys::BPF_XDP,
            &opts,
        )
    };
    if fd < 0 {
        return Err(-fd);
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The error for an interface that already has an XDP program, naming it.
fn busy(iface: &str, ifindex: u32) -> String {
    // SAFETY: zeroed opts with `sz` set; the kernel fills in the ids.
    let mut q: libbpf_sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
    q.sz = size_of::<libbpf_sys::bpf_xdp_query_opts>() as _;
    // SAFETY: valid out-pointer.
    let ok = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut q) } == 0;
    let which = [
        (q.drv_prog_id, "native"),
        (q.skb_prog_id, "generic"),
        (q.hw_prog_id, "offloaded"),
    ]
    .iter()
    .find(|(id, _)| *id != 0)
    .map(|(id, m)| format!(" (program id {id}, {m} mode)"))
    .filter(|_| ok)
    .unwrap_or_default();
    format!(
        "{iface} already has an XDP program{which}; left it untouched. \
         Detach it first (see `bpftool net show dev {iface}`), or choose another interface"
    )
}
