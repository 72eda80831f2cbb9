//! What the program parses into which flow: IPv4 options, VLAN tags, IPv6
//! extension headers, fragments, ICMP, other protocols and non-IP.

use std::sync::Arc;

use ebpf_jsonl_testkit::frames::{Frame, TCP, UDP};
use serde_json::json;

use crate::clock::Timestamp;
use crate::record::Record;
use crate::xdp::drain::tests::{fragment_key, key};
use crate::xdp::drain::Delta;
use crate::xdp::tests::{ip, one_flow, run};
use crate::xdp::{CAT_MALFORMED, CAT_NON_IP};

#[test]
fn udp_over_ipv4_with_and_without_options() {
    let plain = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .ports(40001, 9000);
    // Record Route (7), 8 bytes, then NOPs: IHL 8; the ports come after.
    let opts = [7, 7, 4, 0, 0, 0, 0, 1, 1, 1, 1, 1];
    let with_opts = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &opts, 0)
        .ports(40001, 9000);
    let want = key(ip("10.0.0.2"), ip("10.0.0.1"), UDP, 40001, 9000);
    assert_eq!(one_flow(&plain).key, want);
    assert_eq!(one_flow(&with_opts).key, want);
}

#[test]
fn vlan_and_qinq_tags_are_skipped() {
    let dot1q = Frame::vlan(&[0x8100], 0x0800)
        .ip4(TCP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .tcp(5, 80);
    assert_eq!(
        one_flow(&dot1q).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), TCP, 5, 80)
    );
    let qinq = Frame::vlan(&[0x88a8, 0x8100], 0x86dd)
        .ip6(UDP, "fd00::2", "fd00::1")
        .ports(53, 5353);
    assert_eq!(
        one_flow(&qinq).key,
        key(ip("fd00::2"), ip("fd00::1"), UDP, 53, 5353)
    );
    // A third tag is more than we skip: not IP as far as we can tell.
    let three = Frame::vlan(&[0x88a8, 0x8100, 0x8100], 0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .ports(1, 2);
    let (d, _, c) = run(&[&three], 16, &[]);
    assert!(d.is_empty());
    assert_eq!(c[CAT_NON_IP], (1, three.0.len() as u64));
}

#[test]
fn ipv6_extension_headers_are_walked() {
    // Hop-by-hop → routing → destination options → fragment (first) → AH → TCP.
    let f = Frame::eth(0x86dd)
        .ip6(0, "2001:db8::2", "2001:db8::1")
        .ext8(43)
        .ext8(60)
        .ext8(44)
        .bytes(&[51, 0, 0x00, 0x01, 0, 0, 0, 7]) // fragment, offset 0, M=1
        .bytes(&[6, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]) // AH: (1+2)*4 = 12 bytes
        .tcp(443, 50000);
    assert_eq!(
        one_flow(&f).key,
        key(ip("2001:db8::2"), ip("2001:db8::1"), TCP, 443, 50000)
    );
    // IPV6_MAX_EXT (8) extension headers is the bound: still parsed; nine
    // is more than we walk.
    let chain = |n: usize| {
        let mut f = Frame::eth(0x86dd).ip6(60, "2001:db8::2", "2001:db8::1");
        for i in 0..n {
            f = f.ext8(if i + 1 == n { UDP } else { 60 });
        }
        f.ports(1, 2)
    };
    let eight = chain(8);
    assert_eq!(
        one_flow(&eight).key,
        key(ip("2001:db8::2"), ip("2001:db8::1"), UDP, 1, 2)
    );
    let nine = chain(9);
    let (d, _, c) = run(&[&nine], 16, &[]);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c[CAT_MALFORMED], (1, nine.0.len() as u64));
}

/// Later fragments (offset > 0) have no transport header: they make a flow
/// of their own, marked, that neither takes bytes of the payload for ports
/// nor passes for port 0; the first fragment has its ports.
#[test]
fn later_fragments_are_flows_of_their_own_without_ports() {
    let payload = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
    // IPv4: MF set, offset 0, then offset 185 (× 8 bytes), MF clear.
    let first4 = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0x2000)
        .ports(40001, 9000)
        .bytes(&payload);
    let later4 = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 185)
        .bytes(&payload);
    // IPv6: fragment header with offset 0 and M=1, then offset 185, M=0.
    let first6 = Frame::eth(0x86dd)
        .ip6(44, "fd00::2", "fd00::1")
        .bytes(&[UDP, 0, 0x00, 0x01, 0, 0, 0, 7])
        .ports(40002, 9001)
        .bytes(&payload);
    let later6 = Frame::eth(0x86dd)
        .ip6(44, "fd00::2", "fd00::1")
        .bytes(&[UDP, 0, 0x05, 0xc8, 0, 0, 0, 7])
        .bytes(&payload);
    // A real port-0 datagram is not a fragment: a flow apart.
    let port0 = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .ports(0, 0);
    let (v4, v6) = (
        (ip("10.0.0.2"), ip("10.0.0.1")),
        (ip("fd00::2"), ip("fd00::1")),
    );
    let frames = [&first4, &later4, &later4, &first6, &later6, &port0];
    let (mut d, flows, c) = run(&frames, 16, &[]);
    assert_eq!(flows, 5, "{d:?} {c:?}");
    d.sort_by_key(|d| d.key);
    let mut want = [
        (key(v4.0, v4.1, UDP, 40001, 9000), 1, first4.0.len()),
        (fragment_key(v4.0, v4.1, UDP), 2, 2 * later4.0.len()),
        (key(v6.0, v6.1, UDP, 40002, 9001), 1, first6.0.len()),
        (fragment_key(v6.0, v6.1, UDP), 1, later6.0.len()),
        (key(v4.0, v4.1, UDP, 0, 0), 1, port0.0.len()),
    ]
    .map(|(key, packets, bytes)| Delta {
        key,
        pair: d[0].pair,
        packets,
        bytes: bytes as u64,
    });
    want.sort_by_key(|d| d.key);
    assert_eq!(d, want);
    // And as records: marked, no ports.
    let iface: Arc<str> = "eth0".into();
    let later = d.iter().find(|x| x.key == fragment_key(v4.0, v4.1, UDP));
    let r = serde_json::to_value(Record::Flow(crate::xdp::flow_record::flow_record(
        later.unwrap(),
        Timestamp(0),
        &iface,
    )))
    .unwrap();
    assert_eq!((&r["fragment"], &r["proto"]), (&json!(true), &json!("udp")));
    assert!(
        r.get("src_port").is_none() && r.get("dst_port").is_none(),
        "{r}"
    );
}

#[test]
fn icmp_other_protocols_and_non_ip() {
    let echo = Frame::eth(0x0800)
        .ip4(1, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .bytes(&[8, 0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(
        one_flow(&echo).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), 1, 8, 0)
    );
    let echo6 = Frame::eth(0x86dd)
        .ip6(58, "fd00::2", "fd00::1")
        .bytes(&[128, 0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(
        one_flow(&echo6).key,
        key(ip("fd00::2"), ip("fd00::1"), 58, 128, 0)
    );
    let gre = Frame::eth(0x0800)
        .ip4(47, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .bytes(&[0, 0, 0x08, 0]);
    assert_eq!(
        one_flow(&gre).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), 47, 0, 0)
    );
    let arp = Frame::eth(0x0806).bytes(&[0; 28]);
    let (d, flows, c) = run(&[&arp, &arp], 16, &[]);
    assert!(d.is_empty() && flows == 0);
    assert_eq!(c[CAT_NON_IP], (2, 2 * arp.0.len() as u64));
}
