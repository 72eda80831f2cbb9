//! `ebpf-jsonl xdp --direction both` and several interfaces in one process,
//! end to end on veth pairs: exact counts per (interface, direction) against
//! what was sent and what the kernel says crossed the interface, an attach
//! failure on one interface leaving nothing of ours on the others, and
//! conservation per direction with a tiny table. Needs root; fails (never
//! skips) if it cannot attach.

use ebpf_jsonl_testkit::net;

use std::net::{SocketAddr, UdpSocket};

use ebpf_jsonl_testkit::flow_records::*;
use net::attached::{attach_foreign_xdp, tcx_egress_progs, xdp_progs};
use net::counters::{if_counters, tcp_segments_sent, IfCounters};
use net::direction::{assert_conserved_per, sum_on, wait_attached, wait_packets_on, Hook};
use net::{Pair, SECOND_V4_A, SECOND_V4_B, V4_A, V4_B};
use serde_json::{json, Value};

/// A UDP receiver bound at `at` in namespace `ns`, kept open so that no
/// datagram sent to it draws an ICMP port unreachable (traffic of its own).
fn receiver(ns: &str, at: SocketAddr) -> UdpSocket {
    net::in_ns(ns, move || UdpSocket::bind(at).expect("bind UDP receiver"))
}

/// UDP/IPv4 frame length of a datagram of `payload` bytes.
fn udp4(payload: u64) -> u64 {
    ETH + IP4 + UDP + payload
}

/// The TCP flow from `src` to `dst`.
fn tcp(src: SocketAddr, dst: SocketAddr) -> impl Fn(&Value) -> bool {
    let want = json!({"proto": "tcp", "src_ip": src.ip().to_string(), "src_port": src.port(),
                      "dst_ip": dst.ip().to_string(), "dst_port": dst.port()});
    move |f| want.as_object().unwrap().iter().all(|(k, v)| &f[k] == v)
}

/// Two pairs whose a ends share one namespace: (first, second).
fn two_pairs() -> (Pair, Pair) {
    let p1 = Pair::new(false);
    let p2 = p1.second_in_a();
    (p1, p2)
}

/// (packets, bytes) into and out of `ifc` (in `ns`) since `before`, as the
/// programs see them. veth counts a sent frame whole, L2 header included;
/// under native XDP it counts a received one past its Ethernet header
/// (skb->len after eth_type_trans, in its NAPI path), so that is added back.
fn crossed(ns: &str, ifc: &str, before: IfCounters) -> ((u64, u64), (u64, u64)) {
    let c = if_counters(ns, ifc).since(before);
    let rx = (c.rx_packets, c.rx_bytes + ETH * c.rx_packets);
    (rx, (c.tx_packets, c.tx_bytes))
}

#[test]
fn both_directions_count_exactly_what_crossed_the_interface() {
    let pair = Pair::new(false);
    let (ns_a, ns_b, if_a) = (pair.ns_a.as_str(), pair.ns_b.as_str(), pair.if_a.as_str());
    let (ingress, egress): (Hook, Hook) = ((if_a, "ingress"), (if_a, "egress"));
    let (to_b, to_a) = (sa(V4_B, 9101), sa(V4_A, 9100));
    let _rx = (receiver(ns_a, to_a), receiver(ns_b, to_b));
    let (before, segs_before) = (if_counters(ns_a, if_a), tcp_segments_sent(ns_a));
    let mut tool = pair.tool(&["--direction", "both", "--interval", "200ms"]);
    wait_attached(&tool, 2);
    // UDP both ways: 37 datagrams out of A (egress), 23 into it (ingress).
    let (from_a, from_b) = (sa(V4_A, 40100), sa(V4_B, 40101));
    pair.in_a(move || net::send_udp(from_a, to_b, 37, 200));
    pair.in_b(move || net::send_udp(from_b, to_a, 23, 300));
    let (udp_in, udp_out) = ((23, 23 * udp4(300)), (37, 37 * udp4(200)));
    let raw = if_counters(ns_a, if_a).since(before);
    assert_eq!((raw.tx_packets, raw.tx_bytes), udp_out, "sent: L2 included");
    assert_eq!(
        (raw.rx_packets, raw.rx_bytes + 23 * ETH),
        udp_in,
        "received: L2 not"
    );
    // A TCP transfer B → A: its data comes in, its ACKs go out.
    let port = net::tcp::transfer(ns_a, sa(V4_A, 5201), ns_b, 1_000_000);
    let (into_a, out_of_a) = crossed(ns_a, if_a, before);
    assert!(into_a.1 > 1_000_000, "{into_a:?}");
    wait_packets_on(&mut tool, ingress, into_a.0);
    wait_packets_on(&mut tool, egress, out_of_a.0);
    let out = tool.stop_ok();
    assert_eq!(
        crossed(ns_a, if_a, before),
        (into_a, out_of_a),
        "nothing since"
    );

    let recs = &out.records;
    let last = assert_conserved_per(recs, &[ingress, egress]);
    let total = |s: &Value| (n(s, "packets"), n(s, "bytes"));
    assert_eq!(total(&last[0]), into_a, "{}", last[0]);
    assert_eq!(total(&last[1]), out_of_a, "{}", last[1]);
    for s in &last {
        assert_eq!(n(s, "untracked_packets") + n(s, "non_ip_packets"), 0, "{s}");
    }
    assert_eq!(sum_on(recs, egress, udp(from_a, to_b)), udp_out);
    assert_eq!(sum_on(recs, ingress, udp(from_b, to_a)), udp_in);
    // Neither direction's flow shows in the other.
    assert_eq!(sum_on(recs, ingress, udp(from_a, to_b)), (0, 0));
    assert_eq!(sum_on(recs, egress, udp(from_b, to_a)), (0, 0));
    // The TCP flows are everything else that crossed, each way.
    let (client, server) = (sa(V4_B, port), sa(V4_A, 5201));
    let data = sum_on(recs, ingress, tcp(client, server));
    let acks = sum_on(recs, egress, tcp(server, client));
    assert_eq!(data, (into_a.0 - udp_in.0, into_a.1 - udp_in.1));
    assert_eq!(acks, (out_of_a.0 - udp_out.0, out_of_a.1 - udp_out.1));
    // And TCP itself says it sent as many segments out of A.
    let segs = tcp_segments_sent(ns_a) - segs_before;
    assert_eq!(acks.0, segs, "A's Tcp OutSegs+RetransSegs");
    assert!(acks.0 > 10, "the ACKs of 1 MB: {acks:?}");
}

/// The port a sender to `to` uses: its receiver's, plus 1000.
fn from(to: SocketAddr, ip: impl Into<std::net::IpAddr>) -> SocketAddr {
    sa(ip, to.port() + 1000)
}

/// Sends `count` datagrams of `payload` bytes each way between `a` (in
/// namespace `ns_a`) and `b` (in `ns_b`), to receivers bound there, from
/// [`from`]'s ports.
fn udp_both_ways(
    ns_a: &str,
    a: SocketAddr,
    ns_b: &str,
    b: SocketAddr,
    count: usize,
    payload: usize,
) {
    net::in_ns(ns_a, move || {
        net::send_udp(from(b, a.ip()), b, count, payload)
    });
    net::in_ns(ns_b, move || {
        net::send_udp(from(a, b.ip()), a, count, payload)
    });
}

/// Both directions of `if1` then `if2`, the order the tool prints them in.
fn four_hooks<'a>(if1: &'a str, if2: &'a str) -> [Hook<'a>; 4] {
    [
        (if1, "ingress"),
        (if1, "egress"),
        (if2, "ingress"),
        (if2, "egress"),
    ]
}

/// The tool in `ns` on `if1` and `if2`, both directions (200 ms intervals),
/// once all four are attached; its stderr then.
fn both_on(ns: &str, if1: &str, if2: &str) -> (net::Tool, String) {
    let args = [
        "xdp",
        if1,
        if2,
        "--direction",
        "both",
        "--interval",
        "200ms",
    ];
    let tool = net::Tool::start_in(ns, &args);
    let err = wait_attached(&tool, 4);
    (tool, err)
}

#[test]
fn two_interfaces_in_one_process_each_count_their_own() {
    let (p1, p2) = two_pairs();
    let (ns, if1, if2) = (p1.ns_a.as_str(), p1.if_a.as_str(), p2.if_a.as_str());
    let hooks = four_hooks(if1, if2);
    let (a1, b1) = (sa(V4_A, 9200), sa(V4_B, 9201));
    let (a2, b2) = (sa(SECOND_V4_A, 9202), sa(SECOND_V4_B, 9203));
    let _rx = [
        receiver(ns, a1),
        receiver(&p1.ns_b, b1),
        receiver(ns, a2),
        receiver(&p2.ns_b, b2),
    ];
    let (mut tool, err) = both_on(ns, if1, if2);
    for ifc in [if1, if2] {
        let at = format!("attached to {ifc} ");
        assert_eq!(
            err.matches(&at).count(),
            2,
            "{ifc}: ingress and egress: {err}"
        );
    }
    udp_both_ways(ns, a1, &p1.ns_b, b1, 11, 100);
    udp_both_ways(ns, a2, &p2.ns_b, b2, 7, 50);
    for (h, count) in hooks.iter().zip([11, 11, 7, 7]) {
        wait_packets_on(&mut tool, *h, count);
    }
    let out = tool.stop_ok();
    let recs = &out.records;
    let last = assert_conserved_per(recs, &hooks);
    let want = [
        (from(a1, b1.ip()), a1, 11, 100),
        (from(b1, a1.ip()), b1, 11, 100),
        (from(a2, b2.ip()), a2, 7, 50),
        (from(b2, a2.ip()), b2, 7, 50),
    ];
    for ((&h, s), (src, dst, count, payload)) in hooks.iter().zip(&last).zip(want) {
        let exact = (count, count * udp4(payload));
        assert_eq!(sum_on(recs, h, udp(src, dst)), exact, "{h:?}");
        assert_eq!((n(s, "packets"), n(s, "bytes")), exact, "{h:?}: {s}");
    }
    // The other pair's flows never show on an interface.
    assert_eq!(sum_on(recs, hooks[0], udp(want[2].0, a2)), (0, 0));
    assert_eq!(sum_on(recs, hooks[3], udp(want[1].0, b1)), (0, 0));
}

#[test]
fn one_interface_failing_to_attach_leaves_nothing_on_the_others() {
    let (p1, p2) = two_pairs();
    let (ns, if1, if2) = (p1.ns_a.as_str(), p1.if_a.as_str(), p2.if_a.as_str());
    let theirs = attach_foreign_xdp(ns, if2);
    let tc_before = net::tc::tc_state(ns, if1);
    for direction in ["both", "ingress"] {
        let (st, stdout, stderr) =
            net::run_tool(Some(ns), &["xdp", if1, if2, "--direction", direction]);
        assert_eq!(st.code(), Some(1), "--direction {direction}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let error: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert!(
            error.len() == 1
                && error[0].contains(if2)
                && error[0].contains("already has an XDP program"),
            "one error naming {if2}: {stderr}"
        );
        // Nothing of ours anywhere: if1 as before, if2's program still theirs.
        assert_eq!(xdp_progs(ns, if1), Vec::<u32>::new(), "{stderr}");
        assert_eq!(tcx_egress_progs(ns, if1), Vec::<u32>::new(), "{stderr}");
        assert_eq!(net::tc::tc_state(ns, if1), tc_before);
        assert_eq!(xdp_progs(ns, if2), vec![theirs]);
        assert_eq!(tcx_egress_progs(ns, if2), Vec::<u32>::new(), "{stderr}");
    }
}

#[test]
fn a_tiny_table_conserves_per_direction() {
    let pair = Pair::new(false);
    let (ns_a, ns_b) = (pair.ns_a.as_str(), pair.ns_b.as_str());
    let hooks: [Hook; 2] = [(&pair.if_a, "ingress"), (&pair.if_a, "egress")];
    let (to_a, to_b) = (sa(V4_A, 9300), sa(V4_B, 9301));
    let _rx = (receiver(ns_a, to_a), receiver(ns_b, to_b));
    let mut tool = pair.tool(&[
        "--direction",
        "both",
        "--max-flows",
        "2",
        "--interval",
        "200ms",
    ]);
    wait_attached(&tool, 2);
    // 12 flows each way (one source port each), 3 datagrams per flow.
    let flows = |from: std::net::Ipv4Addr, base: u16, to: SocketAddr, payload: usize| {
        move || {
            for i in 0..12 {
                net::send_udp(sa(from, base + i), to, 3, payload);
            }
        }
    };
    pair.in_a(flows(V4_A, 41000, to_b, 40));
    pair.in_b(flows(V4_B, 42000, to_a, 60));
    wait_packets_on(&mut tool, hooks[0], 36);
    wait_packets_on(&mut tool, hooks[1], 36);
    let out = tool.stop_ok();
    let last = assert_conserved_per(&out.records, &hooks);
    for (s, payload) in last.iter().zip([60, 40]) {
        assert_eq!(
            (n(s, "packets"), n(s, "bytes")),
            (36, 36 * udp4(payload)),
            "{s}"
        );
        // At most 2 of the 24 flows have a slot, so both directions overflow.
        assert!(n(s, "untracked_packets") >= 30, "{s}");
        assert_eq!(
            n(s, "untracked_bytes"),
            n(s, "untracked_packets") * udp4(payload)
        );
    }
}

#[test]
fn one_of_two_interfaces_going_away_ends_the_run_with_a_final_interval_for_all() {
    // Traffic on the first pair only; the second's a end is deleted.
    let (a1, b1) = (sa(V4_A, 9600), sa(V4_B, 9601));
    let (p1, p2) = two_pairs();
    let _rx = [receiver(&p1.ns_a, a1), receiver(&p1.ns_b, b1)];
    let (ns, if1, if2) = (p1.ns_a.as_str(), p1.if_a.as_str(), p2.if_a.as_str());
    let (mut tool, _) = both_on(ns, if1, if2);
    let hooks = four_hooks(if1, if2);
    udp_both_ways(ns, a1, &p1.ns_b, b1, 5, 20);
    wait_packets_on(&mut tool, hooks[0], 5);
    wait_packets_on(&mut tool, hooks[1], 5);
    net::sh(&["ip", "-n", ns, "link", "del", if2]);
    let out = tool.wait(); // at most 30 s, or it fails
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let error: Vec<&str> = out.stderr.lines().filter(|l| l.contains("error")).collect();
    assert!(
        error.len() == 1 && error[0].contains(&format!("interface {if2} went away")),
        "one error naming {if2}: {}",
        out.stderr
    );
    // The final interval: every (interface, direction), complete.
    let last = assert_conserved_per(&out.records, &hooks);
    let exact = (5, 5 * udp4(20));
    assert_eq!(
        sum_on(&out.records, hooks[0], udp(from(a1, V4_B), a1)),
        exact
    );
    assert_eq!(
        sum_on(&out.records, hooks[1], udp(from(b1, V4_A), b1)),
        exact
    );
    assert_eq!((n(&last[0], "packets"), n(&last[1], "packets")), (5, 5));
    // Nothing of ours is left on the one still there.
    assert_eq!(xdp_progs(ns, if1), Vec::<u32>::new());
    assert_eq!(tcx_egress_progs(ns, if1), Vec::<u32>::new());
}
