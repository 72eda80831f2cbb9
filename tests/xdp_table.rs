//! `ebpf-jsonl xdp`'s flow table, end to end, in each program flavour
//! (compat forced: here it is not the one the kernel is probed for): a table
//! too small for the flows sent, and idle flows retired, freed and their room
//! reused. Needs root; fails (never skips) if it cannot attach.

use ebpf_jsonl_testkit::net;

use std::thread;
use std::time::Duration;

use ebpf_jsonl_testkit::flow_records::*;
use net::{Pair, V4_A, V4_B};

#[test]
fn conservation_with_a_tiny_table_and_many_flows() {
    FLAVOURS.into_iter().for_each(tiny_table);
}

fn tiny_table(flavour: &str) {
    let pair = Pair::new(false); // nothing but our datagrams crosses
    let tool = pair.tool(&[
        "--flavour",
        flavour,
        "--max-flows",
        "4",
        "--interval",
        "100ms",
    ]);
    let dst = sa(V4_A, 9003);
    pair.in_b(move || {
        for i in 0..40 {
            net::send_udp(sa(V4_B, 30000 + i), dst, 3, 64);
        }
    });
    thread::sleep(Duration::from_millis(300));
    let out = tool.stop_ok();
    let last = assert_conserved(&out.records);
    for s in stats(&out.records) {
        assert!(n(s, "flows") <= 4, "never more flows than --max-flows: {s}");
    }
    let frame = ETH + IP4 + UDP + 64;
    let ours = sum(&out.records, |f| f["dst_port"] == 9003);
    assert!(n(&last, "untracked_packets") > 0);
    assert!(ours.0 >= 4 * 3, "the table was used: {ours:?}");
    assert_eq!(ours.0 + n(&last, "untracked_packets"), 120);
    assert_eq!(ours.1 + n(&last, "untracked_bytes"), 120 * frame);
    assert_eq!(n(&last, "packets"), 120);
    assert_eq!(
        n(&last, "non_ip_packets") + n(&last, "malformed_packets"),
        0
    );
}

#[test]
fn idle_flows_are_removed_and_their_room_reused() {
    FLAVOURS.into_iter().for_each(idle_flows_removed);
}

fn idle_flows_removed(flavour: &str) {
    let pair = Pair::new(false);
    let tool = pair.tool(&[
        "--flavour",
        flavour,
        "--max-flows",
        "2",
        "--idle-timeout",
        "1s",
        "--interval",
        "200ms",
    ]);
    let dst = sa(V4_A, 9004);
    let first = [sa(V4_B, 31001), sa(V4_B, 31002)];
    let second = [sa(V4_B, 31003), sa(V4_B, 31004)];
    pair.in_b(move || first.map(|s| net::send_udp(s, dst, 5, 10)));
    // Idle 1 s, then retired, then freed after the 1 s grace period.
    thread::sleep(Duration::from_millis(3500));
    pair.in_b(move || second.map(|s| net::send_udp(s, dst, 5, 10)));
    thread::sleep(Duration::from_millis(400));
    let out = tool.stop();
    let last = assert_conserved(&out.records);
    assert_eq!(n(&last, "untracked_packets"), 0, "room was reused: {last}");
    for s in first.iter().chain(&second) {
        assert_eq!(
            sum(&out.records, udp(*s, dst)),
            (5, 5 * (ETH + IP4 + UDP + 10))
        );
    }
    let counts: Vec<u64> = stats(&out.records).iter().map(|s| n(s, "flows")).collect();
    let emptied = counts.windows(2).any(|w| w[0] == 2 && w[1] == 0);
    assert!(emptied, "flows went 2 → 0 → 2: {counts:?}");
    assert_eq!(counts.last(), Some(&2));
}
