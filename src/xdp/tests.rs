//! The xdp program itself, run on crafted frames through BPF_PROG_TEST_RUN:
//! what veth can't easily carry (QinQ, IPv6 extension headers, fragments,
//! broken headers). These load BPF, so they need root; they fail, never skip.

use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libbpf_rs::ProgramInput;

use super::attach::{self, Config};
use super::drain::tests::{fragment_key, key};
use super::drain::Delta;
use super::*;
use crate::cli::{parse_cidr, Cidr};
use crate::clock::Timestamp;
use crate::record::Record;
use ebpf_jsonl_testkit::frames::{Frame, TCP, UDP};
use serde_json::json;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Loads the program, runs every frame through it once, and reads the table:
/// (deltas, flows tracked, category counters).
fn run(
    frames: &[&Frame],
    max_flows: u32,
    excludes: &[Cidr],
) -> (Vec<Delta>, u64, [(u64, u64); CAT_N + 1]) {
    crate::kernel::raise_memlock();
    let mut obj = MaybeUninit::uninit();
    let mut skel = attach::load(
        &mut obj,
        &Config {
            max_flows,
            excludes,
        },
    )
    .unwrap_or_else(|e| panic!("loading the xdp program (tests need root): {e}"));
    for f in frames {
        let out = skel
            .progs
            .xdp_flows
            .test_run(ProgramInput {
                data_in: Some(&f.0),
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        assert_eq!(out.return_value, 2, "every packet is passed on");
    }
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(60), Instant::now()).unwrap();
    let flows = t.pass(Instant::now(), true);
    let c = t.counters().unwrap();
    // Conservation, whatever the frames.
    let fp: u64 = t.deltas().iter().map(|d| d.packets).sum();
    let fb: u64 = t.deltas().iter().map(|d| d.bytes).sum();
    let cats = [CAT_UNTRACKED, CAT_EXCLUDED, CAT_NON_IP, CAT_MALFORMED];
    assert_eq!(c[CAT_TOTAL].0, frames.len() as u64);
    assert_eq!(
        fp + cats.iter().map(|&i| c[i].0).sum::<u64>(),
        c[CAT_TOTAL].0
    );
    assert_eq!(
        fb + cats.iter().map(|&i| c[i].1).sum::<u64>(),
        c[CAT_TOTAL].1
    );
    (t.deltas().to_vec(), flows, c)
}

fn one_flow(frame: &Frame) -> Delta {
    let (d, flows, c) = run(&[frame], 16, &[]);
    assert_eq!((flows, d.len()), (1, 1), "one flow: {d:?} {c:?}");
    assert_eq!((d[0].packets, d[0].bytes), (1, frame.0.len() as u64));
    d[0]
}

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
        packets,
        bytes: bytes as u64,
    });
    want.sort_by_key(|d| d.key);
    assert_eq!(d, want);
    // And as records: marked, no ports.
    let iface: Arc<str> = "eth0".into();
    let later = d.iter().find(|x| x.key == fragment_key(v4.0, v4.1, UDP));
    let r = serde_json::to_value(Record::Flow(drain::flow_record(
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

/// The transport header must be inside the IP packet by its length field,
/// not read from Ethernet padding after it (a short frame is padded to 60
/// bytes on the wire).
#[test]
fn a_transport_header_past_the_ip_length_is_malformed() {
    let head = |proto| Frame::eth(0x0800).ip4(proto, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0);
    let pad = [0x9c, 0x41, 0x23, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // tot_len 20 + 4: the "ports" would come from the padding.
    let udp_short = head(UDP).bytes(&[0x9c, 0x41, 0x23, 0x28]).trailer(&pad);
    let udp_none = head(UDP).trailer(&pad);
    // TCP: 8 of its 20 header bytes inside.
    let tcp_short = head(TCP).ports(1, 2).trailer(&pad);
    let icmp_short = head(1).bytes(&[8, 0]).trailer(&pad);
    let mut udp6_short = Frame::eth(0x86dd)
        .ip6(UDP, "fd00::2", "fd00::1")
        .ports(1, 2);
    udp6_short.0[14 + 5] = 4; // payload_len 4
    let mut ext6_short = Frame::eth(0x86dd)
        .ip6(60, "fd00::2", "fd00::1")
        .ext8(UDP)
        .ports(1, 2);
    ext6_short.0[14 + 5] = 4; // shorter than the extension header
                              // Length fields of 0 (jumbograms, BIG TCP super-packets): no length to
                              // check against, so malformed too (see README).
    let mut tcp4_zero = head(TCP).tcp(5, 6);
    tcp4_zero.0[16..18].copy_from_slice(&[0, 0]);
    let mut tcp6_zero = Frame::eth(0x86dd).ip6(TCP, "fd00::2", "fd00::1").tcp(5, 6);
    tcp6_zero.0[14 + 4..14 + 6].copy_from_slice(&[0, 0]);
    let frames = [
        &udp_short,
        &udp_none,
        &tcp_short,
        &icmp_short,
        &udp6_short,
        &ext6_short,
        &tcp4_zero,
        &tcp6_zero,
    ];
    let (d, _, c) = run(&frames, 16, &[]);
    assert!(d.is_empty(), "{d:?}");
    let bytes: u64 = frames.iter().map(|f| f.0.len() as u64).sum();
    assert_eq!(c[CAT_MALFORMED], (frames.len() as u64, bytes));
    // Exactly covered, and followed by padding: a flow, padding in its bytes.
    let udp_exact = head(UDP).ports(1, 2).trailer(&pad);
    let tcp_exact = head(TCP).tcp(3, 4).trailer(&pad);
    let icmp_exact = head(1).bytes(&[3, 1, 0, 0]).trailer(&pad);
    assert_eq!(
        one_flow(&udp_exact).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), UDP, 1, 2)
    );
    assert_eq!(
        one_flow(&tcp_exact).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), TCP, 3, 4)
    );
    assert_eq!(
        one_flow(&icmp_exact).key,
        key(ip("10.0.0.2"), ip("10.0.0.1"), 1, 3, 1)
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

#[test]
fn malformed_ip_packets() {
    let ok = || Frame::eth(0x0800).ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0);
    let mut ihl4 = ok().ports(1, 2);
    ihl4.0[14] = 0x44;
    let mut v6_in_v4 = ok().ports(1, 2);
    v6_in_v4.0[14] = 0x65;
    let mut short_total = ok().ports(1, 2);
    short_total.0[16..18].copy_from_slice(&10u16.to_be_bytes());
    let truncated_ip = Frame::eth(0x0800).bytes(&[0x45, 0, 0, 40, 0, 1, 0, 0]);
    let opts_past_end = Frame::eth(0x0800).ip4(
        UDP,
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        &[1, 1, 1, 1, 1, 1, 1, 1],
        0,
    );
    let mut opts_past_end = opts_past_end;
    opts_past_end.0.truncate(14 + 24);
    let truncated_ports = ok().bytes(&[0x9c]);
    let truncated_ip6 = Frame::eth(0x86dd).bytes(&[0x60, 0, 0, 0]);
    let frames = [
        &ihl4,
        &v6_in_v4,
        &short_total,
        &truncated_ip,
        &opts_past_end,
        &truncated_ports,
        &truncated_ip6,
    ];
    let (d, _, c) = run(&frames, 16, &[]);
    assert!(d.is_empty(), "{d:?}");
    let bytes: u64 = frames.iter().map(|f| f.0.len() as u64).sum();
    assert_eq!(c[CAT_MALFORMED], (frames.len() as u64, bytes));
}

#[test]
fn excluded_sources_make_no_flows() {
    let from = |src: [u8; 4]| {
        Frame::eth(0x0800)
            .ip4(UDP, src, [10, 0, 0, 1], &[], 0)
            .ports(1000, 2000)
    };
    let (a, b) = (from([10, 9, 1, 2]), from([10, 8, 1, 2]));
    let v6 = Frame::eth(0x86dd)
        .ip6(UDP, "fd00:9::5", "fd00::1")
        .ports(1, 2);
    let ex = [
        parse_cidr("10.9.0.0/16").unwrap(),
        parse_cidr("fd00:9::/32").unwrap(),
    ];
    let (d, flows, c) = run(&[&a, &a, &b, &v6], 16, &ex);
    assert_eq!(flows, 1);
    assert_eq!(
        d[0].key,
        key(ip("10.8.1.2"), ip("10.0.0.1"), UDP, 1000, 2000)
    );
    assert_eq!(
        c[CAT_EXCLUDED],
        (3, 2 * a.0.len() as u64 + v6.0.len() as u64)
    );
}

#[test]
fn a_full_table_counts_the_rest_as_untracked() {
    let flow = |port: u16| {
        Frame::eth(0x0800)
            .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
            .ports(port, 9)
    };
    let (f1, f2, f3) = (flow(1), flow(2), flow(3));
    let (d, flows, c) = run(&[&f1, &f2, &f3, &f3, &f1], 2, &[]);
    assert_eq!(flows, 2);
    let packets: Vec<u64> = d.iter().map(|d| d.packets).collect();
    assert_eq!(packets.iter().sum::<u64>(), 3);
    assert_eq!(c[CAT_UNTRACKED], (2, 2 * f3.0.len() as u64));
}

#[test]
fn many_flows_fill_the_table_exactly() {
    let frames: Vec<Frame> = (0..3000u16)
        .map(|i| {
            Frame::eth(0x0800)
                .ip4(TCP, [10, 1, (i >> 8) as u8, i as u8], [10, 0, 0, 1], &[], 0)
                .tcp(i, 80)
        })
        .collect();
    let refs: Vec<&Frame> = frames.iter().collect();
    let (d, flows, c) = run(&refs, 2048, &[]);
    assert_eq!(flows, 2048);
    assert_eq!(d.len() as u64, flows);
    assert_eq!(c[CAT_UNTRACKED].0, 3000 - flows);
}

#[test]
fn totals_are_cumulative_and_deltas_are_per_interval() {
    crate::kernel::raise_memlock();
    let mut obj = MaybeUninit::uninit();
    let mut skel = attach::load(
        &mut obj,
        &Config {
            max_flows: 16,
            excludes: &[],
        },
    )
    .unwrap_or_else(|e| panic!("loading the xdp program (tests need root): {e}"));
    let udp = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .ports(1, 2);
    let tcp6 = Frame::eth(0x86dd).ip6(TCP, "fd00::2", "fd00::1").tcp(3, 4);
    let arp = Frame::eth(0x0806).bytes(&[0; 28]);
    let (lu, l6, la) = (udp.0.len() as u64, tcp6.0.len() as u64, arp.0.len() as u64);
    let prog = &skel.progs.xdp_flows;
    let send = |frames: &[&Frame]| {
        for f in frames {
            let out = prog
                .test_run(ProgramInput {
                    data_in: Some(&f.0),
                    ..Default::default()
                })
                .expect("BPF_PROG_TEST_RUN");
            assert_eq!(out.return_value, 2);
        }
    };
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(60), Instant::now()).unwrap();
    send(&[&udp, &tcp6, &udp, &arp]);
    assert_eq!(t.pass(Instant::now(), false), 2);
    let mut d = t.deltas().to_vec();
    d.sort_by_key(|d| d.packets);
    assert_eq!(
        d.iter().map(|d| (d.packets, d.bytes)).collect::<Vec<_>>(),
        [(1, l6), (2, 2 * lu)]
    );
    let c = t.counters().unwrap();
    assert_eq!(c[CAT_TOTAL], (4, 2 * lu + l6 + la));
    assert_eq!(c[CAT_NON_IP], (1, la));
    // The next interval: only the flow that moved, and the totals go on.
    send(&[&udp, &arp]);
    assert_eq!(t.pass(Instant::now(), false), 2);
    assert_eq!(t.deltas().len(), 1);
    assert_eq!((t.deltas()[0].packets, t.deltas()[0].bytes), (1, lu));
    let c = t.counters().unwrap();
    assert_eq!(c[CAT_TOTAL], (6, 3 * lu + l6 + 2 * la));
    // Nothing moved: no deltas, the same totals.
    assert_eq!(t.pass(Instant::now(), true), 2);
    assert!(t.deltas().is_empty());
    assert_eq!(t.counters().unwrap()[CAT_TOTAL], c[CAT_TOTAL]);
}
