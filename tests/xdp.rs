//! `ebpf-jsonl xdp`, end to end: each test makes its own pair of network
//! namespaces joined by veth, runs the tool on one end, sends from the other,
//! and checks the records against what was sent: exact per-flow counts, and
//! totals that add up. Needs root; fails (never skips) if it cannot attach.

use ebpf_jsonl_testkit::net;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use ebpf_jsonl_testkit::flow_records::*;
use ebpf_jsonl_testkit::frames::Frame;
use net::{Pair, V4_A, V4_B, V6_A, V6_B};
use serde_json::Value;

#[test]
fn udp_over_ipv4_exact_counts_across_intervals() {
    FLAVOURS.into_iter().for_each(udp_over_ipv4_exact_counts);
}

fn udp_over_ipv4_exact_counts(flavour: &str) {
    let pair = Pair::new(true);
    let mut tool = pair.tool(&["--flavour", flavour, "--interval", "200ms"]);
    let (src, dst) = (sa(V4_B, 40001), sa(V4_A, 9000));
    pair.in_b(move || net::send_udp(src, dst, 12, 100));
    // The second burst goes out once the first has been reported, so it
    // lands in a later interval however late the tool's tick comes.
    tool.wait_for("the first burst's flow record", udp(src, dst));
    pair.in_b(move || net::send_udp(src, dst, 8, 100));
    thread::sleep(Duration::from_millis(300));
    let out = tool.stop_ok();
    assert_udp(&out.records, src, dst, 20, 100);
    let records = flows(&out.records).filter(|f| udp(src, dst)(f)).count();
    assert!(records >= 2, "deltas in two intervals, got {records}");
    let f = flows(&out.records).find(|f| udp(src, dst)(f)).unwrap();
    assert_eq!(f["iface"], pair.if_a.as_str());
    assert!(f.get("icmp_type").is_none());
    assert!(f["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_conserved(&out.records);
    let said = format!("({flavour} flavour)");
    assert!(
        out.stderr.contains(&said),
        "{said} on stderr: {}",
        out.stderr
    );
}

#[test]
fn udp_over_ipv6_exact_counts() {
    let pair = Pair::new(true);
    let tool = pair.tool(&["--interval", "300ms"]);
    let ends = (sa(V6_B, 40002), sa(V6_A, 9001));
    send_and_check_udp(&pair, tool, ends, (15, 333), 400);
}

#[test]
fn fragments_of_a_datagram_count_apart_from_its_ports() {
    let pair = Pair::new(false);
    let tool = pair.tool(&["--interval", "300ms"]);
    let (src, dst) = (sa(V4_B, 40010), sa(V4_A, 9010));
    // 3,000 bytes over MTU 1500: IP payloads of 1480 (UDP header and the
    // first 1472 bytes), 1480 and 48.
    pair.in_b(move || net::send_udp(src, dst, 1, 3000));
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop_ok();
    let first = sum(&out.records, udp(src, dst));
    assert_eq!(
        first,
        (1, ETH + IP4 + 1480),
        "the first fragment has the ports"
    );
    let later = |f: &Value| {
        f["fragment"] == true
            && f["proto"] == "udp"
            && f["src_ip"] == V4_B.to_string()
            && f["dst_ip"] == V4_A.to_string()
    };
    assert_eq!(
        sum(&out.records, later),
        (2, 2 * (ETH + IP4) + 1480 + 48),
        "later fragments: {:?}",
        out.records
    );
    for f in flows(&out.records).filter(|f| later(f)) {
        assert!(
            f.get("src_port").is_none() && f.get("dst_port").is_none(),
            "{f}"
        );
    }
    let last = assert_conserved(&out.records);
    assert_eq!(n(&last, "packets"), 3, "{last}");
    assert_eq!(n(&last, "malformed_packets"), 0);
}

/// Ethernet B → A, then `l3` (of `ethertype`), padded to the 60-byte minimum.
fn raw_frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    Frame::eth_between(net::MAC_A, net::MAC_B, ethertype)
        .bytes(l3)
        .pad_to(60)
        .0
}

#[test]
fn hostile_headers_over_the_wire() {
    let pair = Pair::new(false);
    let tool = pair.tool(&["--interval", "300ms"]);
    // UDP whose tot_len (20 + 4) ends inside the UDP header; the "ports"
    // bytes are there, and the frame goes on with padding.
    let mut ip = vec![0x45, 0, 0, 24, 0, 1, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&V4_B.octets());
    ip.extend_from_slice(&V4_A.octets());
    ip.extend_from_slice(&[0x9c, 0x44, 0x23, 0x28]);
    let short = raw_frame(0x0800, &ip);
    // IPv6 with exactly 8 destination-options headers, then UDP 7100 → 7101.
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 8 * 8 + 8, 60, 64];
    ip6.extend_from_slice(&V6_B.octets());
    ip6.extend_from_slice(&V6_A.octets());
    for i in 0..8 {
        ip6.extend_from_slice(&[if i == 7 { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    ip6.extend_from_slice(&[0x1b, 0xbc, 0x1b, 0xbd, 0, 8, 0, 0]);
    let deep = raw_frame(0x86dd, &ip6);
    let (ls, ld) = (short.len() as u64, deep.len() as u64);
    let if_b = pair.if_b.clone();
    pair.in_b(move || net::send_frames(&if_b, &[short, deep]));
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop_ok();
    let last = assert_conserved(&out.records);
    assert_eq!(
        (n(&last, "malformed_packets"), n(&last, "malformed_bytes")),
        (1, ls),
        "{last}"
    );
    assert_eq!(sum(&out.records, |f| f["src_port"] == 0x9c44), (0, 0));
    assert_eq!(
        sum(&out.records, udp(sa(V6_B, 7100), sa(V6_A, 7101))),
        (1, ld)
    );
    assert_eq!(n(&last, "packets"), 2, "{last}");
}

#[test]
fn generic_mode_counts_the_same() {
    let pair = Pair::new(true);
    let tool = pair.tool(&["--mode", "generic", "--interval", "300ms"]);
    assert!(
        tool.stderr().contains("in generic mode"),
        "{}",
        tool.stderr()
    );
    // Said when it applies: generic mode counts packets after GRO.
    wait_stderr(&tool, "after GRO");
    let (src, dst) = (sa(V4_B, 40003), sa(V4_A, 9002));
    pair.in_b(move || net::send_udp(src, dst, 10, 1000));
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop();
    assert_udp(&out.records, src, dst, 10, 1000);
    assert_conserved(&out.records);
}

#[test]
fn icmp_echo_has_type_and_code() {
    let pair = Pair::new(true);
    let tool = pair.tool(&["--interval", "300ms"]);
    assert!(tool.stderr().contains("attached to"), "{}", tool.stderr());
    assert!(
        tool.stderr().contains("in native mode"),
        "{}",
        tool.stderr()
    );
    pair.in_b(|| net::send_icmp_echo(V4_A, 7, 56));
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop();
    let echo = |f: &Value| {
        f["proto"] == "icmp"
            && f["src_ip"] == V4_B.to_string()
            && f["dst_ip"] == V4_A.to_string()
            && f["icmp_type"] == 8
            && f["icmp_code"] == 0
    };
    assert_eq!(sum(&out.records, echo), (7, 7 * (ETH + IP4 + 8 + 56)));
    let f = flows(&out.records).find(|f| echo(f)).unwrap();
    assert!(
        f.get("src_port").is_none() && f.get("dst_port").is_none(),
        "{f}"
    );
    assert_conserved(&out.records);
}

#[test]
fn tcp_transfer_matches_what_the_sender_put_on_the_wire() {
    let pair = Pair::new(true);
    let tool = pair.tool(&["--interval", "250ms"]);
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let server = net::spawn_in_ns(&pair.ns_a, move || {
        let l = TcpListener::bind(sa(V4_A, 5201)).expect("listen");
        ready_tx.send(()).unwrap();
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read");
        got.len()
    });
    ready.recv().unwrap();
    let if_b = pair.if_b.clone();
    let (port, wire) = pair.in_b(move || {
        let cap = net::Capture::new(&if_b);
        let mut c = TcpStream::connect(sa(V4_A, 5201)).expect("connect");
        let port = c.local_addr().unwrap().port();
        c.write_all(&vec![7u8; 300_000]).expect("write");
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap(); // until the server closes
        drop(c);
        thread::sleep(Duration::from_millis(300));
        // Every TCP/IPv4 frame of this connection that B sent to A.
        let wire = cap.count(|f| {
            f.len() >= 38 && f[12..14] == [0x08, 0x00] && f[23] == 6 && {
                let l4 = 14 + usize::from(f[14] & 15) * 4;
                f.len() >= l4 + 4
                    && u16::from_be_bytes([f[l4], f[l4 + 1]]) == port
                    && u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]) == 5201
            }
        });
        (port, wire)
    });
    assert_eq!(server.join().unwrap(), 300_000);
    let out = tool.stop();
    let tcp = |f: &Value| {
        f["proto"] == "tcp"
            && f["src_ip"] == V4_B.to_string()
            && f["src_port"] == port
            && f["dst_port"] == 5201
    };
    assert!(wire.1 > 300_000, "the capture saw the transfer: {wire:?}");
    assert_eq!(sum(&out.records, tcp), wire);
    assert_conserved(&out.records);
}

#[test]
fn excluded_sources_are_counted_but_make_no_flows() {
    let pair = Pair::new(true);
    net::sh(&[
        "ip",
        "-n",
        &pair.ns_b,
        "addr",
        "add",
        "10.200.0.3/24",
        "dev",
        &pair.if_b,
    ]);
    let tool = pair.tool(&[
        "--exclude",
        "10.200.0.2/32",
        "--exclude",
        "fd00:200::2/128",
        "--interval",
        "300ms",
    ]);
    let dst = sa(V4_A, 9005);
    let kept = sa("10.200.0.3".parse::<IpAddr>().unwrap(), 32000);
    pair.in_b(move || {
        net::send_udp(sa(V4_B, 32000), dst, 5, 20);
        net::send_udp(kept, dst, 4, 20);
        net::send_udp(sa(V6_B, 32000), sa(V6_A, 9005), 3, 20);
    });
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop();
    let last = assert_conserved(&out.records);
    let from = |ip: String| move |f: &Value| f["src_ip"] == ip;
    assert_eq!(sum(&out.records, from(V4_B.to_string())), (0, 0));
    assert_eq!(sum(&out.records, from(V6_B.to_string())), (0, 0));
    assert_udp(&out.records, kept, dst, 4, 20);
    assert_eq!(n(&last, "excluded_packets"), 8);
    assert_eq!(
        n(&last, "excluded_bytes"),
        5 * (ETH + IP4 + UDP + 20) + 3 * (ETH + IP6 + UDP + 20)
    );
}

/// Ethernet (B → A) with VLAN tags, then UDP/IPv4 B → A with `payload` bytes.
fn tagged_udp(tags: &[u16], sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    Frame::eth_between(net::MAC_A, net::MAC_B, 0x0800)
        .tagged(tags)
        .ip4(17, V4_B.octets(), V4_A.octets(), &[], 0)
        .udp(sport, dport, &vec![0x33; payload])
        .0
}

#[test]
fn vlan_tagged_frames_and_ipv4_options() {
    let pair = Pair::new(false);
    let tool = pair.tool(&["--interval", "300ms"]);
    let if_b = pair.if_b.clone();
    let dot1q = tagged_udp(&[0x8100], 7000, 7001, 50);
    let qinq = tagged_udp(&[0x88a8, 0x8100], 7002, 7003, 50);
    let (l1, l2) = (dot1q.len() as u64, qinq.len() as u64);
    pair.in_b(move || {
        net::send_frames(
            &if_b,
            &[dot1q.clone(), dot1q.clone(), dot1q, qinq.clone(), qinq],
        );
        // NOP, NOP, NOP, end of options: a 24-byte IPv4 header.
        net::send_udp_with_ip_options(sa(V4_B, 7004), sa(V4_A, 7005), 4, 30, &[1, 1, 1, 0]);
    });
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop();
    assert_conserved(&out.records);
    assert_eq!(l1, ETH + 4 + IP4 + UDP + 50);
    assert_eq!(
        sum(&out.records, udp(sa(V4_B, 7000), sa(V4_A, 7001))),
        (3, 3 * l1)
    );
    assert_eq!(
        sum(&out.records, udp(sa(V4_B, 7002), sa(V4_A, 7003))),
        (2, 2 * l2)
    );
    assert_eq!(
        sum(&out.records, udp(sa(V4_B, 7004), sa(V4_A, 7005))),
        (4, 4 * (ETH + 24 + UDP + 30))
    );
}
