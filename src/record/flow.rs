//! xdp's records: per-flow counts within an interval, and the running totals.

use serde::ser::Serializer;
use serde::Serialize;

use crate::clock::Timestamp;

/// `xdp`: the packets and bytes of one flow within one interval; `timestamp`
/// is the interval's end. Ports only for TCP and UDP, type and code for ICMP,
/// neither for a flow of later fragments (`fragment`).
#[derive(Debug, Serialize)]
pub struct FlowRecord {
    pub timestamp: Timestamp,
    pub iface: std::sync::Arc<str>,
    pub direction: &'static str, // `ingress` (XDP) or `egress` (TC)
    pub proto: IpProto,
    pub src_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dst_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Later fragments (offset > 0) of IP datagrams: no transport header, so
    /// no ports or ICMP type; present (true) only on such flows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fragment: bool,
    pub packets: u64,
    pub bytes: u64,
}

/// An IP protocol number, printed as `tcp`, `udp`, `icmp` (IPv4), `icmpv6`
/// (IPv6) or the number as a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpProto {
    pub number: u8,
    pub ipv6: bool,
}

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.number, self.ipv6) {
            (6, _) => s.serialize_str("tcp"),
            (17, _) => s.serialize_str("udp"),
            (1, false) => s.serialize_str("icmp"),
            (58, true) => s.serialize_str("icmpv6"),
            (n, _) => s.collect_str(&n),
        }
    }
}

/// `xdp`: cumulative counts since the start of one interface and direction,
/// after each interval's flows. `packets` is every packet seen; each one is in
/// exactly one flow or one of the four categories.
#[derive(Debug, Serialize)]
pub struct XdpStatsRecord {
    pub timestamp: Timestamp,
    pub iface: std::sync::Arc<str>,
    pub direction: &'static str,
    /// The length of the interval this record ends, as measured: `--interval`
    /// give or take scheduling, more when the pass ran late.
    pub interval_ns: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Flows in the table now.
    pub flows: u64,
    pub untracked_packets: u64,
    pub untracked_bytes: u64,
    pub excluded_packets: u64,
    pub excluded_bytes: u64,
    pub non_ip_packets: u64,
    pub non_ip_bytes: u64,
    pub malformed_packets: u64,
    pub malformed_bytes: u64,
}
