//! The drain-cost and many-interface benches' network: one namespace where
//! the tool runs, one where the peers are, joined by N veth pairs (the
//! testkit's Pair, 10.200.0.1/.2, then 10.210.i.1 at the tool and .2 at the
//! peer; static neighbours, IPv6 off, so
//! nothing but the bench's own datagrams crosses), removed on drop. UDP
//! senders that run at a steady rate, counting each datagram sent, and
//! bound receivers (so no ICMP port-unreachable answers add traffic).
//! Traffic never leaves the pairs.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use ebpf_jsonl_testkit::net::{in_ns, spawn_in_ns, static_neighbour, Pair, V4_A, V4_B};

/// The port the tool's side listens on (flows towards the tool: ingress).
pub const TOOL_PORT: u16 = 9000;
/// The port the peer's side listens on (flows from the tool: egress).
pub const PEER_PORT: u16 = 9001;
/// Source ports of the flows start here.
pub const FIRST_SPORT: u16 = 20000;

/// One veth pair of the lab.
pub struct Link {
    pub tool_if: String,
    pub peer_if: String,
    pub tool_ip: Ipv4Addr,
    pub peer_ip: Ipv4Addr,
}

pub struct Lab {
    pub tool_ns: String,
    pub peer_ns: String,
    pub links: Vec<Link>,
    /// The namespaces and the first link (the testkit's; drop removes the
    /// namespaces and with them every link).
    _pair: Pair,
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Failure(format!("running ip: {e} (install iproute2)")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Failure(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn mac(i: usize, end: u8) -> [u8; 6] {
    [0x02, 0xeb, 0x10, 0, i as u8, end]
}

fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

impl Lab {
    /// The two namespaces and `n` pairs, up, addressed.
    pub fn new(n: usize) -> Result<Lab, Error> {
        let pair = Pair::new(false);
        let mut lab = Lab {
            tool_ns: pair.ns_a.clone(),
            peer_ns: pair.ns_b.clone(),
            links: vec![Link {
                tool_if: pair.if_a.clone(),
                peer_if: pair.if_b.clone(),
                tool_ip: V4_A,
                peer_ip: V4_B,
            }],
            _pair: pair,
        };
        for i in 1..n {
            let link = Link {
                tool_if: format!("{}i{i}", lab.links[0].tool_if),
                peer_if: format!("{}i{i}", lab.links[0].peer_if),
                tool_ip: Ipv4Addr::new(10, 210, i as u8, 1),
                peer_ip: Ipv4Addr::new(10, 210, i as u8, 2),
            };
            if link.tool_if.len() > 15 || link.peer_if.len() > 15 {
                return Err(Error::Failure(format!(
                    "interface name {} too long",
                    link.tool_if
                )));
            }
            ip(&[
                "link",
                "add",
                &link.tool_if,
                "address",
                &mac_text(mac(i, 1)),
                "netns",
                &lab.tool_ns,
                "type",
                "veth",
                "peer",
                "name",
                &link.peer_if,
                "address",
                &mac_text(mac(i, 2)),
                "netns",
                &lab.peer_ns,
            ])?;
            for (ns, ifc, me, peer, peer_mac) in [
                (
                    &lab.tool_ns,
                    &link.tool_if,
                    link.tool_ip,
                    link.peer_ip,
                    mac(i, 2),
                ),
                (
                    &lab.peer_ns,
                    &link.peer_if,
                    link.peer_ip,
                    link.tool_ip,
                    mac(i, 1),
                ),
            ] {
                let path = format!("/proc/sys/net/ipv6/conf/{ifc}/disable_ipv6");
                in_ns(ns, move || std::fs::write(&path, "1"))
                    .map_err(|e| Error::Failure(format!("turning IPv6 off on {ifc}: {e}")))?;
                ip(&["-n", ns, "addr", "add", &format!("{me}/24"), "dev", ifc])?;
                ip(&["-n", ns, "link", "set", ifc, "up"])?;
                static_neighbour(ns, ifc, &peer.to_string(), peer_mac);
            }
            lab.links.push(link);
        }
        Ok(lab)
    }

    /// The tool's interface names.
    pub fn tool_ifs(&self) -> Vec<&str> {
        self.links.iter().map(|l| l.tool_if.as_str()).collect()
    }

    /// Bound UDP sockets on every link's receiving end of both directions:
    /// datagrams to them are taken (or dropped when the buffer is full)
    /// without an ICMP answer. Keep them while traffic runs.
    pub fn receivers(&self) -> Result<Vec<UdpSocket>, Error> {
        let mut socks = Vec::new();
        for (ns, ips, port) in [
            (
                &self.tool_ns,
                self.links.iter().map(|l| l.tool_ip).collect::<Vec<_>>(),
                TOOL_PORT,
            ),
            (
                &self.peer_ns,
                self.links.iter().map(|l| l.peer_ip).collect(),
                PEER_PORT,
            ),
        ] {
            let bound = in_ns(ns, move || {
                ips.iter()
                    .map(|&a| UdpSocket::bind(SocketAddrV4::new(a, port)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| Error::Failure(format!("binding a receiver: {e}")))?;
            socks.extend(bound);
        }
        Ok(socks)
    }

    /// `flows` flows spread round-robin over the links, towards the tool
    /// (ingress, sent from the peer namespace) or from it (egress): (source,
    /// destination) of each, source ports from [`FIRST_SPORT`].
    pub fn flows(&self, flows: usize, egress: bool) -> Vec<(SocketAddr, SocketAddr)> {
        (0..flows)
            .map(|k| {
                let l = &self.links[k % self.links.len()];
                let sport = FIRST_SPORT + k as u16;
                if egress {
                    (
                        SocketAddrV4::new(l.tool_ip, sport).into(),
                        SocketAddrV4::new(l.peer_ip, PEER_PORT).into(),
                    )
                } else {
                    (
                        SocketAddrV4::new(l.peer_ip, sport).into(),
                        SocketAddrV4::new(l.tool_ip, TOOL_PORT).into(),
                    )
                }
            })
            .collect()
    }
}

/// A steady sender: every `period`, one 64-byte datagram on each flow.
pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<Vec<u64>, String>>,
}

impl Sender {
    /// Starts sending `flows` from namespace `ns`.
    pub fn start(ns: &str, flows: Vec<(SocketAddr, SocketAddr)>, period: Duration) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = spawn_in_ns(ns, move || {
            let socks = flows
                .iter()
                .map(|(from, _)| UdpSocket::bind(from))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("binding a sender: {e}"))?;
            let mut sent = vec![0u64; flows.len()];
            let buf = [0x5a; 22]; // 14 + 20 + 8 + 22 = a 64-byte frame
            let mut next = Instant::now();
            while !halt.load(Ordering::Relaxed) {
                for (k, (s, (_, to))) in socks.iter().zip(&flows).enumerate() {
                    // A datagram the stack refuses (ENOBUFS) was not sent.
                    if s.send_to(&buf, to).is_ok() {
                        sent[k] += 1;
                    }
                }
                next += period;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(d);
                } else {
                    next = Instant::now();
                }
            }
            Ok(sent)
        });
        Sender { stop, thread }
    }

    /// Stops; datagrams sent on each flow.
    pub fn stop(self) -> Result<Vec<u64>, Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| Error::Failure("the sender thread panicked".into()))?
            .map_err(Error::Failure)
    }
}
