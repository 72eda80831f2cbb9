//! The two rtnetlink queries libbpf has no call for: which qdisc sits at an
//! interface's ingress parent (clsact or the older `ingress`), and which
//! filters a clsact hook holds (RTM_GETTFILTER dump), so that the qdisc this
//! run created is removed only once nobody else's filter is on it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// linux/pkt_sched.h: the ingress/clsact qdisc's parent, and clsact's two
// hooks (minor numbers under it).
const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
const TC_H_MIN_INGRESS: u32 = 0xFFF2;
const TC_H_MIN_EGRESS: u32 = 0xFFF3;

/// Parent of a clsact hook, as `tc` and the kernel spell it (ffff:fff2/3).
pub fn hook_parent(egress: bool) -> u32 {
    (TC_H_INGRESS & 0xFFFF_0000)
        | if egress {
            TC_H_MIN_EGRESS
        } else {
            TC_H_MIN_INGRESS
        }
}

/// struct tcmsg (linux/rtnetlink.h).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct TcMsg {
    family: u8,
    pad1: u8,
    pad2: u16,
    ifindex: i32,
    handle: u32,
    parent: u32,
    info: u32,
}

#[repr(C)]
struct Request {
    nh: libc::nlmsghdr,
    tc: TcMsg,
}

/// One tc object the kernel sent back: its info (priority << 16 | protocol
/// for a filter) and kind (TCA_KIND).
#[derive(Clone, Debug)]
pub struct Object {
    pub info: u32,
    pub kind: Option<String>,
}

impl Object {
    /// A filter's priority (`tc`'s pref).
    pub fn pref(&self) -> u32 {
        self.info >> 16
    }
}

/// The filters (and filter chains' headers) on one clsact hook, by anyone.
/// Empty when there is no clsact qdisc.
pub fn filters(ifindex: u32, egress: bool) -> Result<Vec<Object>, i32> {
    query(
        libc::RTM_GETTFILTER,
        libc::NLM_F_DUMP as u16,
        TcMsg {
            ifindex: ifindex as i32,
            parent: hook_parent(egress),
            ..TcMsg::default()
        },
    )
}

/// The kind of the qdisc at the interface's ingress parent (`clsact`,
/// `ingress`), if there is one.
pub fn ingress_qdisc_kind(ifindex: u32) -> Result<Option<String>, i32> {
    match query(
        libc::RTM_GETQDISC,
        // The kernel unicasts a qdisc it got only when asked to echo.
        (libc::NLM_F_ACK | libc::NLM_F_ECHO) as u16,
        TcMsg {
            ifindex: ifindex as i32,
            parent: TC_H_INGRESS,
            ..TcMsg::default()
        },
    ) {
        Ok(objs) => Ok(objs.into_iter().find_map(|o| o.kind)),
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sends one request on a fresh NETLINK_ROUTE socket (in the calling
/// thread's network namespace) and reads the replies up to the end of a dump
/// or the acknowledgement; an error reply is its errno.
fn query(kind: u16, flags: u16, tc: TcMsg) -> Result<Vec<Object>, i32> {
    // SAFETY: plain socket call.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Never wait forever on the kernel's answer.
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: a valid option value of its size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as u32,
        )
    };
    let req = Request {
        nh: libc::nlmsghdr {
            nlmsg_len: size_of::<Request>() as u32,
            nlmsg_type: kind,
            nlmsg_flags: libc::NLM_F_REQUEST as u16 | flags,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        tc,
    };
    // SAFETY: zeroed sockaddr_nl is the kernel's address.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: a buffer of its size and an address of its size.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            (&req as *const Request).cast(),
            size_of::<Request>(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(errno());
    }
    let mut found = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: a buffer of its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(errno());
        }
        if parse(&buf[..n as usize], &mut found)? {
            return Ok(found);
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Adds the tc objects of one datagram to `found`; true at the end (done,
/// or an acknowledgement); an error reply is its errno.
fn parse(mut b: &[u8], found: &mut Vec<Object>) -> Result<bool, i32> {
    const HDR: usize = size_of::<libc::nlmsghdr>();
    while b.len() >= HDR {
        let len = u32_at(b, 0).unwrap_or(0) as usize;
        let kind = u16_at(b, 4).unwrap_or(0);
        if len < HDR || len > b.len() {
            return Err(libc::EBADMSG);
        }
        let msg = &b[HDR..len];
        match i32::from(kind) {
            libc::NLMSG_DONE => return Ok(true),
            libc::NLMSG_ERROR => {
                // struct nlmsgerr: a negative errno, 0 for an acknowledgement.
                let e = u32_at(msg, 0).ok_or(libc::EBADMSG)? as i32;
                return if e == 0 { Ok(true) } else { Err(-e) };
            }
            _ => {
                if let Some(obj) = object(msg) {
                    found.push(obj);
                }
            }
        }
        b = &b[align4(len).min(b.len())..];
    }
    Ok(false)
}

/// A tcmsg and its TCA_KIND attribute.
fn object(msg: &[u8]) -> Option<Object> {
    const TC: usize = size_of::<TcMsg>();
    let mut obj = Object {
        info: u32_at(msg, 16)?,
        kind: None,
    };
    let mut attrs = msg.get(TC..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let ty = u16_at(attrs, 2)?;
        if len < 4 || len > attrs.len() {
            break;
        }
        if ty == libc::TCA_KIND {
            let s = &attrs[4..len];
            let s = s.split(|&c| c == 0).next().unwrap_or_default();
            obj.kind = Some(String::from_utf8_lossy(s).into_owned());
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Some(obj)
}
