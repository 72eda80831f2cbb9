//! Broken headers are counted as malformed, never read past the packet.

use ebpf_jsonl_testkit::frames::{Frame, TCP, UDP};

use crate::xdp::drain::tests::key;
use crate::xdp::tests::{assert_all_malformed, ip, one_flow};

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
    assert_all_malformed(&frames);
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
    assert_all_malformed(&frames);
}
