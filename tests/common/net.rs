//! Network namespaces and a veth pair for the xdp tests, always removed (a
//! Drop guard); senders and a capture that run inside a namespace (setns on a
//! thread of their own); and the tool run with `ip netns exec`. Traffic never
//! leaves the pair.
#![allow(dead_code)]

use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

pub const MAC_A: [u8; 6] = [0x02, 0xeb, 0, 0, 0, 0x01];
pub const MAC_B: [u8; 6] = [0x02, 0xeb, 0, 0, 0, 0x02];

fn mac(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// Runs a command, failing the test with its stderr if it fails.
/// A permanent neighbour entry: `peer` is at `peer_mac` on `ifc` in `ns`, so
/// nothing but the test's own frames (no ARP or ND) crosses the link.
pub fn static_neighbour(ns: &str, ifc: &str, peer: &str, peer_mac: [u8; 6]) {
    let m = mac(peer_mac);
    sh(&[
        "ip",
        "-n",
        ns,
        "neigh",
        "replace",
        peer,
        "lladdr",
        &m,
        "dev",
        ifc,
        "nud",
        "permanent",
    ]);
}

pub fn sh(cmd: &[&str]) -> String {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair: `a` is where the tool runs, `b`
/// sends. Addresses 10.200.0.1/.2 and fd00:200::1/::2, static neighbours
/// (no ARP or neighbour discovery in the counts).
pub struct Pair {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
}

pub const V4_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const V4_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
pub const V6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 1);
pub const V6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 2);

impl Pair {
    /// `ipv6: false` turns IPv6 off on both ends, so that nothing but what a
    /// test sends (no MLD reports) crosses the pair.
    pub fn new(ipv6: bool) -> Pair {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let p = Pair {
            ns_a: format!("ejxa{id}"),
            ns_b: format!("ejxb{id}"),
            if_a: format!("xa{id}"),
            if_b: format!("xb{id}"),
        };
        assert!(p.if_a.len() <= 15, "interface name {} too long", p.if_a);
        sh(&["ip", "netns", "add", &p.ns_a]);
        sh(&["ip", "netns", "add", &p.ns_b]);
        sh(&[
            "ip",
            "link",
            "add",
            &p.if_a,
            "address",
            &mac(MAC_A),
            "netns",
            &p.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &p.if_b,
            "address",
            &mac(MAC_B),
            "netns",
            &p.ns_b,
        ]);
        for (ns, ifc, me, peer, me6, peer6, peer_mac) in [
            (&p.ns_a, &p.if_a, V4_A, V4_B, V6_A, V6_B, MAC_B),
            (&p.ns_b, &p.if_b, V4_B, V4_A, V6_B, V6_A, MAC_A),
        ] {
            if !ipv6 {
                p.sysctl(ns, &format!("net/ipv6/conf/{ifc}/disable_ipv6"), "1");
            }
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{me}/24"),
                "dev",
                ifc,
            ]);
            if ipv6 {
                sh(&[
                    "ip",
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{me6}/64"),
                    "dev",
                    ifc,
                    "nodad",
                ]);
            }
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
            static_neighbour(ns, ifc, &peer.to_string(), peer_mac);
            if ipv6 {
                static_neighbour(ns, ifc, &peer6.to_string(), peer_mac);
            }
        }
        p
    }

    /// Writes a sysctl of namespace `ns` (path under /proc/sys).
    pub fn sysctl(&self, ns: &str, path: &str, value: &str) {
        let path = format!("/proc/sys/{path}");
        let value = value.to_string();
        in_ns(ns, move || {
            std::fs::write(&path, value).unwrap_or_else(|e| panic!("writing {path}: {e}"))
        });
    }

    /// `ip -d link show` of the tool's interface.
    pub fn link_details(&self) -> String {
        sh(&[
            "ip", "-n", &self.ns_a, "-d", "link", "show", "dev", &self.if_a,
        ])
    }

    /// True while an XDP program is attached to the tool's interface.
    pub fn has_xdp(&self) -> bool {
        self.link_details().contains("prog/xdp")
    }

    /// The id of the XDP program attached to the tool's interface.
    pub fn xdp_prog_id(&self) -> u32 {
        let d = self.link_details();
        d.split("prog/xdp id ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no XDP program attached: {d}"))
    }

    /// Detaches the bpf_link that holds the tool's program, as `bpftool
    /// link detach` would: someone else taking it away.
    pub fn detach_xdp_link(&self) {
        use libbpf_rs::libbpf_sys as sys;
        let prog = self.xdp_prog_id();
        let mut id = 0u32;
        // SAFETY: plain BPF syscalls on ids and fds we own.
        unsafe {
            while sys::bpf_link_get_next_id(id, &mut id) == 0 {
                let fd = sys::bpf_link_get_fd_by_id(id);
                if fd < 0 {
                    continue;
                }
                let fd = OwnedFd::from_raw_fd(fd);
                let mut info: sys::bpf_link_info = std::mem::zeroed();
                let mut len = size_of::<sys::bpf_link_info>() as u32;
                if sys::bpf_link_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) == 0
                    && info.type_ == sys::BPF_LINK_TYPE_XDP
                    && info.prog_id == prog
                {
                    let rc = sys::bpf_link_detach(fd.as_raw_fd());
                    assert_eq!(rc, 0, "BPF_LINK_DETACH: {rc}");
                    return;
                }
            }
        }
        panic!("no bpf_link holds XDP program {prog}");
    }

    pub fn in_a<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        in_ns(&self.ns_a, f)
    }

    pub fn in_b<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        in_ns(&self.ns_b, f)
    }

    /// Starts the tool in namespace a on the pair's interface, with `args`.
    pub fn tool(&self, args: &[&str]) -> Tool {
        let mut all = vec!["xdp", self.if_a.as_str()];
        all.extend_from_slice(args);
        Tool::start_in(&self.ns_a, &all)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn in_ns<R: Send + 'static>(ns: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    spawn_in_ns(ns, f)
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Starts `f` on a thread that has entered network namespace `ns`.
pub fn spawn_in_ns<R: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a namespace fd; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// Sends `count` UDP datagrams of `payload` bytes from `from` to `to`
/// (call inside a namespace). Returns the local address.
pub fn send_udp(from: SocketAddr, to: SocketAddr, count: usize, payload: usize) -> SocketAddr {
    let s = UdpSocket::bind(from).expect("bind UDP sender");
    let buf = vec![0x5a; payload];
    for _ in 0..count {
        assert_eq!(s.send_to(&buf, to).expect("send UDP"), payload);
    }
    s.local_addr().unwrap()
}

/// Like [`send_udp`] over IPv4, with `opts` as IP options (IP_OPTIONS).
pub fn send_udp_with_ip_options(
    from: SocketAddr,
    to: SocketAddr,
    count: usize,
    payload: usize,
    opts: &[u8],
) {
    let s = UdpSocket::bind(from).expect("bind UDP sender");
    // SAFETY: a valid socket and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_OPTIONS,
            opts.as_ptr().cast(),
            opts.len() as u32,
        )
    };
    assert_eq!(rc, 0, "IP_OPTIONS: {}", std::io::Error::last_os_error());
    let buf = vec![0x5a; payload];
    for _ in 0..count {
        s.send_to(&buf, to).expect("send UDP");
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends `count` ICMP echo requests with `payload` bytes to `to` through a
/// raw socket (call inside a namespace).
pub fn send_icmp_echo(to: Ipv4Addr, count: u16, payload: usize) {
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(
        fd >= 0,
        "raw ICMP socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    for seq in 1..=count {
        let mut m = vec![8, 0, 0, 0, 0x12, 0x34];
        m.extend_from_slice(&seq.to_be_bytes());
        m.resize(8 + payload, 0xa5);
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        // SAFETY: valid buffer and address.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                m.as_ptr().cast(),
                m.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        assert_eq!(
            n,
            m.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn packet_socket(ifname: &str) -> OwnedFd {
    // SAFETY: plain socket call.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        )
    };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = CString::new(ifname).unwrap();
    // SAFETY: a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex > 0, "no interface {ifname}");
    // SAFETY: zeroed sockaddr_ll is valid; we fill what bind needs.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: valid socket and address.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
    fd
}

/// Sends raw Ethernet frames out of `ifname` (call inside its namespace).
pub fn send_frames(ifname: &str, frames: &[Vec<u8>]) {
    let fd = packet_socket(ifname);
    for f in frames {
        // SAFETY: valid buffer on a bound packet socket.
        let n = unsafe { libc::send(fd.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) };
        assert_eq!(
            n,
            f.len() as isize,
            "send frame: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Counts the frames `ifname` transmits (its own outgoing traffic), for an
/// independent count of what the other end receives.
pub struct Capture {
    fd: OwnedFd,
}

/// SOL_PACKET options and packet types (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;
const PACKET_STATISTICS: i32 = 6;
const SO_RCVBUFFORCE: i32 = 33;

impl Capture {
    /// Call inside the interface's namespace.
    pub fn new(ifname: &str) -> Capture {
        let fd = packet_socket(ifname);
        let size: i32 = 32 << 20;
        // SAFETY: valid socket and option.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_RCVBUFFORCE,
                (&size as *const i32).cast(),
                4,
            )
        };
        Capture { fd }
    }

    /// Frames sent so far that `keep(frame head)` accepts: (count, bytes).
    /// Fails if the socket dropped any.
    pub fn count(&self, keep: impl Fn(&[u8]) -> bool) -> (u64, u64) {
        let (mut packets, mut bytes) = (0, 0);
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: zeroed sockaddr_ll is valid as an out-parameter.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: valid buffers; MSG_TRUNC returns the frame's full length.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                break;
            }
            let head = &buf[..(n as usize).min(buf.len())];
            if sll.sll_pkttype == PACKET_OUTGOING && keep(head) {
                packets += 1;
                bytes += n as u64;
            }
        }
        let mut stats = [0u32; 2];
        let mut len = 8u32;
        // SAFETY: struct tpacket_stats is two u32s.
        unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                stats.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(stats[1], 0, "the capture dropped {} frames", stats[1]);
        (packets, bytes)
    }
}

/// The tool running in a namespace: the common harness's tracer.
pub use crate::common::Tracer as Tool;

/// Runs the tool to completion (for errors): (status, stdout, stderr).
pub fn run_tool(ns: Option<&str>, args: &[&str]) -> (ExitStatus, String, String) {
    crate::common::run_tool_in(ns, args)
}
