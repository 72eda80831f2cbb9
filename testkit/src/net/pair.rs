//! Two network namespaces joined by a veth pair, removed on drop (which
//! removes the pair, and with it any XDP program still attached).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::harness::tracer::Tracer;
use crate::net::netns::in_ns;

pub const MAC_A: [u8; 6] = [0x02, 0xeb, 0, 0, 0, 0x01];
pub const MAC_B: [u8; 6] = [0x02, 0xeb, 0, 0, 0, 0x02];
/// Neither end's: a frame to it crosses the pair and the receiving stack
/// drops it right after XDP.
pub const MAC_OTHER: [u8; 6] = [0x02, 0xeb, 0, 0, 0, 0x99];

pub const V4_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const V4_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
/// The addresses of [`Pair::second_in_a`]'s ends.
pub const SECOND_V4_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
pub const SECOND_V4_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
pub const V6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 1);
pub const V6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 2);

fn mac(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// Runs a command, failing the test with its stderr if it fails; its stdout.
pub fn sh(cmd: &[&str]) -> String {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A permanent neighbour entry: `peer` is at `peer_mac` on `ifc` in `ns`, so
/// nothing but the test's own frames (no ARP or ND) crosses the link.
pub fn static_neighbour(ns: &str, ifc: &str, peer: &str, peer_mac: [u8; 6]) {
    let m = mac(peer_mac);
    let neigh = ["neigh", "replace", peer, "lladdr", &m, "dev", ifc];
    sh(&[&["ip", "-n", ns][..], &neigh, &["nud", "permanent"]].concat());
}

/// Two namespaces joined by a veth pair: `a` is where the tool runs (at
/// [`MAC_A`]), `b` sends (at [`MAC_B`]).
pub struct Pair {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
}

impl Pair {
    /// Addresses 10.200.0.1/.2 and (if `ipv6`) fd00:200::1/::2, static
    /// neighbours (no ARP or neighbour discovery in the counts). `ipv6:
    /// false` turns IPv6 off on both ends, so that nothing but what a test
    /// sends (no MLD reports) crosses the pair.
    pub fn new(ipv6: bool) -> Pair {
        let p = Pair::create(ipv6);
        for (ns, ifc, me, peer, me6, peer6, peer_mac) in [
            (&p.ns_a, &p.if_a, V4_A, V4_B, V6_A, V6_B, MAC_B),
            (&p.ns_b, &p.if_b, V4_B, V4_A, V6_B, V6_A, MAC_A),
        ] {
            let mut addrs = vec![(format!("{me}/24"), peer.to_string(), &[][..])];
            if ipv6 {
                addrs.push((format!("{me6}/64"), peer6.to_string(), &["nodad"][..]));
            }
            for (addr, peer, flags) in addrs {
                sh(&[
                    &["ip", "-n", ns, "addr", "add", &addr, "dev", ifc][..],
                    flags,
                ]
                .concat());
                static_neighbour(ns, ifc, &peer, peer_mac);
            }
        }
        p
    }

    /// No addresses and no IPv6 at all: nothing but the frames sent raw
    /// (the xdp bench's flood) crosses the pair.
    pub fn unaddressed() -> Pair {
        Pair::create(false)
    }

    /// A second pair whose `a` end joins this pair's namespace a (its own
    /// namespace a stays empty), IPv6 off, addressed 10.201.0.1/24 (there)
    /// and 10.201.0.2/24 (its b), static neighbours: two interfaces for one
    /// tool. Dropped, it goes with both ends.
    pub fn second_in_a(&self) -> Pair {
        let p = Pair::create(false);
        sh(&[
            "ip", "-n", &p.ns_a, "link", "set", &p.if_a, "netns", &self.ns_a,
        ]);
        p.sysctl(
            &self.ns_a,
            &format!("net/ipv6/conf/{}/disable_ipv6", p.if_a),
            "1",
        );
        sh(&["ip", "-n", &self.ns_a, "link", "set", &p.if_a, "up"]);
        for (ns, ifc, me, peer, peer_mac) in [
            (&self.ns_a, &p.if_a, SECOND_V4_A, SECOND_V4_B, MAC_B),
            (&p.ns_b, &p.if_b, SECOND_V4_B, SECOND_V4_A, MAC_A),
        ] {
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
            static_neighbour(ns, ifc, &peer.to_string(), peer_mac);
        }
        p
    }

    /// The namespaces and the pair, up (lo too), IPv6 off unless `ipv6`.
    fn create(ipv6: bool) -> Pair {
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
        // From here on, drop removes whatever was made.
        sh(&["ip", "netns", "add", &p.ns_a]);
        sh(&["ip", "netns", "add", &p.ns_b]);
        let (mac_a, mac_b) = (mac(MAC_A), mac(MAC_B));
        sh(&[
            "ip", "link", "add", &p.if_a, "address", &mac_a, "netns", &p.ns_a, "type", "veth",
            "peer", "name", &p.if_b, "address", &mac_b, "netns", &p.ns_b,
        ]);
        for (ns, ifc) in [(&p.ns_a, &p.if_a), (&p.ns_b, &p.if_b)] {
            if !ipv6 {
                p.sysctl(ns, &format!("net/ipv6/conf/{ifc}/disable_ipv6"), "1");
            }
            for dev in ["lo", ifc.as_str()] {
                sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
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
    pub fn tool(&self, args: &[&str]) -> Tracer {
        let mut all = vec!["xdp", self.if_a.as_str()];
        all.extend_from_slice(args);
        Tracer::start_in(&self.ns_a, &all)
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
