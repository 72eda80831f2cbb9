//! What the kernel says crossed an interface and what TCP sent, read inside
//! a namespace: /proc/net/dev's counters (those of `ip -s link` and
//! /sys/class/net/IF/statistics; /sys shows only the namespace it was
//! mounted in, /proc/thread-self/net the thread's) and /proc/net/snmp's Tcp.

use crate::net::netns::in_ns_here;

/// An interface's counters; veth's bytes are the frames' lengths, L2
/// header included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl IfCounters {
    /// What moved between `before` and `self`.
    pub fn since(self, before: IfCounters) -> IfCounters {
        IfCounters {
            rx_packets: self.rx_packets - before.rx_packets,
            rx_bytes: self.rx_bytes - before.rx_bytes,
            tx_packets: self.tx_packets - before.tx_packets,
            tx_bytes: self.tx_bytes - before.tx_bytes,
        }
    }
}

fn read_here(ns: &str, file: &str) -> String {
    in_ns_here(ns, || {
        std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
    })
    .unwrap_or_else(|e| panic!("reading /proc/net/{file} in {ns}: {e}"))
}

/// `ifname`'s counters in namespace `ns`.
pub fn if_counters(ns: &str, ifname: &str) -> IfCounters {
    let text = read_here(ns, "dev");
    let f: Vec<u64> = text
        .lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == ifname).then(|| {
                rest.split_whitespace()
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
        })
        .unwrap_or_else(|| panic!("no counters for {ifname} in {ns}: {text}"));
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets ...
    IfCounters {
        rx_bytes: f[0],
        rx_packets: f[1],
        tx_bytes: f[8],
        tx_packets: f[9],
    }
}

/// Namespace `ns`'s TCP segments sent: Tcp OutSegs + RetransSegs.
pub fn tcp_segments_sent(ns: &str) -> u64 {
    let text = read_here(ns, "snmp");
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let field = |want: &str| -> u64 {
        let i = names.split_whitespace().position(|n| n == want).unwrap();
        values.split_whitespace().nth(i).unwrap().parse().unwrap()
    };
    field("OutSegs") + field("RetransSegs")
}
