//! A table key (struct flow_key, as five native-endian words) → a record.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::drain::Delta;
use super::skel::types::{flow_flag, flow_key};
use crate::clock::Timestamp;
use crate::record::{FlowRecord, IpProto};

/// flow_key.flags: a flow of later fragments (enum flow_flag in bpf/xdp.h).
const FLOW_FRAGMENT: u16 = flow_flag::FLOW_FRAGMENT.0 as u16;

// SAFETY: flow_key is plain old data generated from BTF (bytes and a u16).
unsafe impl plain::Plain for flow_key {}

/// A table key as the five native-endian words the program hashes and
/// compares → struct flow_key.
pub fn flow_key_of(words: [u64; 5]) -> flow_key {
    let mut b = [0u8; size_of::<flow_key>()];
    for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    let mut k = flow_key::default();
    plain::copy_from_bytes(&mut k, &b).expect("a whole flow_key");
    k
}

/// The record of a delta of a flow on interface `iface`.
pub fn flow_record(d: &Delta, timestamp: Timestamp, iface: &Arc<str>) -> FlowRecord {
    let k = flow_key_of(d.key);
    let (proto, ver, b) = (k.proto, k.ver, &k.addrs);
    let fragment = k.flags & FLOW_FRAGMENT != 0;
    let ipv6 = ver == 6;
    let (src, dst) = if ipv6 {
        let v6 = |a: &[u8]| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(a).expect("16")));
        (v6(&b[0..16]), v6(&b[16..32]))
    } else {
        let v4 = |a: &[u8]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        (v4(&b[0..4]), v4(&b[4..8]))
    };
    let (mut ports, mut icmp) = (None, None);
    match (proto, ipv6) {
        _ if fragment => {}
        (6 | 17, _) => {
            ports = Some((
                u16::from_be_bytes([k.l4[0], k.l4[1]]),
                u16::from_be_bytes([k.l4[2], k.l4[3]]),
            ))
        }
        (1, false) | (58, true) => icmp = Some((k.l4[0], k.l4[1])),
        _ => {}
    }
    FlowRecord {
        timestamp,
        iface: iface.clone(),
        direction: d.pair.dir.name(),
        proto: IpProto {
            number: proto,
            ipv6,
        },
        src_ip: src,
        src_port: ports.map(|p| p.0),
        dst_ip: dst,
        dst_port: ports.map(|p| p.1),
        icmp_type: icmp.map(|i| i.0),
        icmp_code: icmp.map(|i| i.1),
        fragment,
        packets: d.packets,
        bytes: d.bytes,
    }
}
