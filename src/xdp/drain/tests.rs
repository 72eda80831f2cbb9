//! drain.rs on plain slices of slots and bitmap words, with the program's
//! moves played by hand.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::clock::Timestamp;
use crate::xdp::flow_record::flow_record;
use crate::xdp::skel::types::{flow_flag, flow_key, slot_state};

const SLOT_CLAIMING: u64 = slot_state::SLOT_CLAIMING.0 as u64;
const FLOW_FRAGMENT: u16 = flow_flag::FLOW_FRAGMENT.0 as u16;
/// A key as the program builds it (see struct flow_key in bpf/xdp.h).
pub fn key(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> [u64; 5] {
    key_with_flags(src, dst, proto, sport, dport, 0)
}

/// The key of a flow of later fragments: no ports, FLOW_FRAGMENT set.
pub fn fragment_key(src: IpAddr, dst: IpAddr, proto: u8) -> [u64; 5] {
    key_with_flags(src, dst, proto, 0, 0, FLOW_FRAGMENT)
}

fn key_with_flags(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    flags: u16,
) -> [u64; 5] {
    let mut k = flow_key::default();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            k.addrs[0..4].copy_from_slice(&s.octets());
            k.addrs[4..8].copy_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            k.addrs[0..16].copy_from_slice(&s.octets());
            k.addrs[16..32].copy_from_slice(&d.octets());
        }
        _ => panic!("one IP version"),
    }
    let ipv6 = src.is_ipv6();
    k.l4 = if matches!((proto, ipv6), (1, false) | (58, true)) {
        // Type and code, as the bytes they are on the wire.
        [sport as u8, dport as u8, 0, 0]
    } else {
        let (s, d) = (sport.to_be_bytes(), dport.to_be_bytes());
        [s[0], s[1], d[0], d[1]]
    };
    k.proto = proto;
    k.ver = if ipv6 { 6 } else { 4 };
    k.flags = flags;
    // SAFETY: flow_key is Plain.
    let b = unsafe { plain::as_bytes(&k) };
    let mut w = [0u64; 5];
    for (w, c) in w.iter_mut().zip(b.chunks_exact(8)) {
        *w = u64::from_ne_bytes(c.try_into().unwrap());
    }
    w
}

/// The tag of a packet on CPU `cpu`, interface `ifindex`, direction `dir`
/// (enum slot_tag in bpf/xdp.h).
fn tag(cpu: u64, ifindex: u32, dir: Direction) -> u64 {
    SLOT_ACTIVE | u64::from(dir.code()) << 8 | cpu << 16 | u64::from(ifindex) << 32
}

const IN: Direction = Direction::Ingress;

fn pair(ifindex: u32, dir: Direction) -> Pair {
    Pair { ifindex, dir }
}

/// A flow table as the program and a drainer share it, from time `t0` on.
struct Rig {
    t0: Instant,
    t: Vec<Slot>,
    claimed: Vec<AtomicU64>,
    nflows: AtomicU64,
    d: Drainer,
}

impl Rig {
    /// `slots` free slots; flows idle for `idle` are retired.
    fn new(slots: usize, idle: Duration) -> Rig {
        let t0 = Instant::now();
        let free = || Slot {
            state: AtomicU64::new(SLOT_FREE),
            key: Default::default(),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        };
        Rig {
            t0,
            t: (0..slots).map(|_| free()).collect(),
            claimed: (0..slots.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            nflows: AtomicU64::new(0),
            d: Drainer::new(idle, t0),
        }
    }

    /// What the program does for a packet of `k` on CPU 0 of ifindex 2,
    /// ingress, that finds or claims slot `i`.
    fn packet(&self, i: usize, k: [u64; 5], len: u64) {
        self.packet_as(i, k, len, tag(0, 2, IN));
    }

    /// The same with the packet's own tag.
    fn packet_as(&self, i: usize, k: [u64; 5], len: u64, tag: u64) {
        let s = &self.t[i];
        if s.state.load(Ordering::Acquire) == SLOT_FREE {
            s.state.store(SLOT_CLAIMING, Ordering::SeqCst);
            self.nflows.fetch_add(1, Ordering::SeqCst);
            for (w, v) in s.key.iter().zip(k) {
                w.store(v, Ordering::Relaxed);
            }
            s.packets.store(1, Ordering::Relaxed);
            s.bytes.store(len, Ordering::Relaxed);
            s.state.store(tag, Ordering::SeqCst);
            self.claimed[i / 64].fetch_or(1 << (i % 64), Ordering::SeqCst);
        } else {
            self.land(i, 1, len);
        }
    }

    /// Counts that land in slot `i` (a packet of the flow it holds, or one
    /// that matched it before it was retired).
    fn land(&self, i: usize, packets: u64, bytes: u64) {
        self.t[i].packets.fetch_add(packets, Ordering::Relaxed);
        self.t[i].bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A pass `at` after t0: (flows tracked, the deltas it made).
    fn pass(&mut self, at: Duration, last: bool) -> (u64, Vec<Delta>) {
        let mut out = Vec::new();
        let now = self.t0 + at;
        self.d
            .pass(&self.t, &self.claimed, &self.nflows, now, last, &mut out);
        (self.d.all_flows(), out)
    }

    fn state(&self, i: usize) -> u64 {
        self.t[i].state.load(Ordering::Relaxed) & 0xff
    }
}

fn delta(key: [u64; 5], packets: u64, bytes: u64) -> Delta {
    Delta {
        key,
        pair: pair(2, IN),
        packets,
        bytes,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn k(port: u16) -> [u64; 5] {
    key(
        "10.0.0.2".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
        17,
        port,
        9000,
    )
}

#[test]
fn deltas_then_idle_removal_then_reuse() {
    let mut r = Rig::new(4, secs(3));
    r.packet(1, k(1), 100);
    r.packet(1, k(1), 100);
    assert_eq!(r.pass(secs(1), false), (1, vec![delta(k(1), 2, 200)]));
    // Nothing moved: no records, still tracked.
    assert_eq!(r.pass(secs(2), false), (1, vec![]));
    r.packet(1, k(1), 50);
    assert_eq!(r.pass(secs(3), false), (1, vec![delta(k(1), 1, 50)]));
    // Idle for 3 s: retired (not matched any more, not yet free).
    assert_eq!(r.pass(secs(6), false), (0, vec![]));
    assert_eq!(r.state(1), SLOT_RETIRED);
    assert_eq!(r.nflows.load(Ordering::Relaxed), 1);
    // A packet that had matched it just before lands late: still counted.
    r.land(1, 1, 70);
    assert_eq!(
        r.pass(secs(6) + GRACE, false),
        (0, vec![delta(k(1), 1, 70)])
    );
    assert_eq!(r.state(1), SLOT_FREE);
    assert_eq!(r.nflows.load(Ordering::Relaxed), 0);
    // Freed whole: an all-zero key (IP version 0) matches no packet, even read
    // ahead of the state by a program on a weakly ordered CPU.
    assert_eq!(r.t[1].key(), [0; 5], "a freed slot keeps its key");
    assert_eq!(r.t[1].packets.load(Ordering::Relaxed), 0);
    // The slot is reused from zero by another flow.
    r.packet(1, k(2), 10);
    assert_eq!(r.pass(secs(9), false), (1, vec![delta(k(2), 1, 10)]));
}

#[test]
fn a_flow_on_several_cpus_is_one_flow_and_one_delta() {
    let mut r = Rig::new(64, secs(30));
    r.packet_as(3, k(7), 10, tag(0, 2, IN));
    r.packet_as(50, k(7), 20, tag(1, 2, IN));
    r.packet_as(20, k(8), 5, tag(1, 2, IN));
    let (flows, mut out) = r.pass(secs(0), false);
    assert_eq!(flows, 2);
    out.sort_by_key(|d| d.bytes);
    assert_eq!(out, [delta(k(8), 1, 5), delta(k(7), 2, 30)]);
    assert_eq!(r.d.flows(pair(2, IN)), 2);
}

#[test]
fn interfaces_and_directions_are_flows_of_their_own() {
    let mut r = Rig::new(64, secs(30));
    let eg = Direction::Egress;
    r.packet_as(1, k(7), 10, tag(0, 2, IN));
    r.packet_as(2, k(7), 20, tag(0, 2, eg));
    r.packet_as(3, k(7), 30, tag(0, 5, IN));
    let (flows, out) = r.pass(secs(0), false);
    assert_eq!(flows, 3);
    let mut pairs: Vec<(Pair, u64)> = out.iter().map(|d| (d.pair, d.bytes)).collect();
    pairs.sort_by_key(|p| p.1);
    assert_eq!(
        pairs,
        [(pair(2, IN), 10), (pair(2, eg), 20), (pair(5, IN), 30)]
    );
    assert_eq!(r.d.flows(pair(2, eg)), 1);
    assert_eq!(r.d.flows(pair(9, eg)), 0);
}

#[test]
fn a_pass_reads_the_flows_not_the_table() {
    let mut r = Rig::new(1 << 16, secs(30));
    for (i, slot) in [5, 4000, 65000].into_iter().enumerate() {
        r.packet(slot, k(i as u16), 10);
    }
    r.pass(secs(1), false);
    assert_eq!(r.d.read_last, 3 + 3, "three claims, then their three slots");
    // Packets of known flows set no bit: their slots are read every pass.
    r.packet(4000, k(1), 10);
    assert_eq!(r.pass(secs(2), false).1, [delta(k(1), 1, 10)]);
    assert_eq!(r.d.read_last, 3);
    assert_eq!(r.pass(secs(3), false).1, []);
    assert_eq!(r.d.read_last, 3);
}

#[test]
fn a_claim_seen_before_its_tag_is_taken_the_pass_after() {
    let mut r = Rig::new(64, secs(30));
    r.t[7].state.store(SLOT_CLAIMING, Ordering::SeqCst);
    r.claimed[0].fetch_or(1 << 7, Ordering::SeqCst);
    assert_eq!(r.pass(secs(1), false), (0, vec![]));
    for (w, v) in r.t[7].key.iter().zip(k(3)) {
        w.store(v, Ordering::Relaxed);
    }
    r.land(7, 2, 20);
    r.t[7].state.store(tag(0, 2, IN), Ordering::SeqCst);
    assert_eq!(r.pass(secs(2), false), (1, vec![delta(k(3), 2, 20)]));
}

#[test]
fn the_last_pass_reads_every_slot() {
    let mut r = Rig::new(128, secs(30));
    r.packet(100, k(1), 10);
    // A claim whose bit was never seen.
    r.claimed[1].store(0, Ordering::SeqCst);
    assert_eq!(r.pass(secs(1), false).1, []);
    assert_eq!(r.pass(secs(2), true).1, [delta(k(1), 1, 10)]);
}

#[test]
fn a_cpu_s_idle_slot_is_retired_while_the_flow_goes_on_elsewhere() {
    let mut r = Rig::new(64, secs(3));
    r.packet_as(1, k(1), 10, tag(0, 2, IN));
    r.packet_as(2, k(1), 10, tag(1, 2, IN));
    r.pass(secs(1), false);
    r.packet_as(2, k(1), 10, tag(1, 2, IN));
    r.pass(secs(3), false);
    r.packet_as(2, k(1), 10, tag(1, 2, IN));
    assert_eq!(r.pass(secs(5), false), (1, vec![delta(k(1), 1, 10)]));
    assert_eq!((r.state(1), r.state(2)), (SLOT_RETIRED, SLOT_ACTIVE));
}

#[test]
fn last_pass_retires_nothing_and_skips_claims_in_progress() {
    let mut r = Rig::new(2, Duration::from_millis(1));
    r.packet(0, k(1), 10);
    r.t[1].state.store(SLOT_CLAIMING, Ordering::Relaxed);
    let (active, out) = r.pass(secs(60), true);
    assert_eq!(active, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(r.state(0), SLOT_ACTIVE);
}

#[test]
fn keys_become_records() {
    let iface: Arc<str> = "eth0".into();
    let rec = |key| {
        let r = flow_record(
            &Delta {
                key,
                pair: pair(2, Direction::Egress),
                packets: 3,
                bytes: 300,
            },
            Timestamp(0),
            &iface,
        );
        serde_json::to_value(Record::Flow(r)).unwrap()
    };
    use crate::record::Record;
    use serde_json::json;
    let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
    let r = rec(key(v4("10.0.0.2"), v4("10.0.0.1"), 6, 40001, 443));
    assert_eq!(
        (
            &r["proto"],
            &r["src_ip"],
            &r["src_port"],
            &r["dst_ip"],
            &r["dst_port"]
        ),
        (
            &json!("tcp"),
            &json!("10.0.0.2"),
            &json!(40001),
            &json!("10.0.0.1"),
            &json!(443)
        )
    );
    let r = rec(key(v4("fd00::2"), v4("fd00::1"), 58, 128, 0));
    assert_eq!(
        (&r["proto"], &r["src_ip"], &r["icmp_type"], &r["icmp_code"]),
        (&json!("icmpv6"), &json!("fd00::2"), &json!(128), &json!(0))
    );
    assert!(r.get("src_port").is_none());
    let r = rec(key(v4("10.0.0.2"), v4("10.0.0.1"), 1, 8, 0));
    assert_eq!((&r["proto"], &r["icmp_type"]), (&json!("icmp"), &json!(8)));
    let r = rec(key(v4("10.0.0.2"), v4("10.0.0.1"), 47, 0, 0));
    assert_eq!(&r["proto"], &json!("47"));
    assert!(r.get("src_port").is_none() && r.get("icmp_type").is_none());
    assert_eq!((&r["packets"], &r["bytes"]), (&json!(3), &json!(300)));
    assert_eq!(
        (&r["iface"], &r["direction"]),
        (&json!("eth0"), &json!("egress"))
    );
    assert!(r.get("fragment").is_none());
    // Later fragments: no ports even for UDP, no type for ICMP; marked.
    let r = rec(fragment_key(v4("10.0.0.2"), v4("10.0.0.1"), 17));
    assert_eq!((&r["proto"], &r["fragment"]), (&json!("udp"), &json!(true)));
    assert!(r.get("src_port").is_none() && r.get("dst_port").is_none());
    let r = rec(fragment_key(v4("fd00::2"), v4("fd00::1"), 58));
    assert_eq!(&r["fragment"], &json!(true));
    assert!(r.get("icmp_type").is_none());
}
