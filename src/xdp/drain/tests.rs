//! drain.rs on a plain slice of slots, with the program's moves played by hand.

use super::*;

const SLOT_CLAIMING: u64 = slot_state::SLOT_CLAIMING.0 as u64;

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

/// A flow table as the program and a drainer share it, from time `t0` on.
struct Rig {
    t0: Instant,
    t: Vec<Slot>,
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
            nflows: AtomicU64::new(0),
            d: Drainer::new(slots, idle, t0),
        }
    }

    /// What the program does for a packet of `k` that finds or claims slot `i`.
    fn packet(&self, i: usize, k: [u64; 5], len: u64) {
        let s = &self.t[i];
        if s.state.load(Ordering::Acquire) == SLOT_FREE {
            s.state.store(SLOT_CLAIMING, Ordering::SeqCst);
            self.nflows.fetch_add(1, Ordering::SeqCst);
            for (w, v) in s.key.iter().zip(k) {
                w.store(v, Ordering::Relaxed);
            }
            s.packets.store(1, Ordering::Relaxed);
            s.bytes.store(len, Ordering::Relaxed);
            s.state.store(SLOT_ACTIVE, Ordering::SeqCst);
        } else {
            s.packets.fetch_add(1, Ordering::Relaxed);
            s.bytes.fetch_add(len, Ordering::Relaxed);
        }
    }

    /// A pass `at` after t0: (flows tracked, the deltas it made).
    fn pass(&mut self, at: Duration, last: bool) -> (u64, Vec<Delta>) {
        let mut out = Vec::new();
        let now = self.t0 + at;
        let active = self.d.pass(&self.t, &self.nflows, now, last, &mut out);
        (active, out)
    }

    fn state(&self, i: usize) -> u64 {
        self.t[i].state.load(Ordering::Relaxed)
    }
}

fn delta(key: [u64; 5], packets: u64, bytes: u64) -> Delta {
    Delta {
        key,
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
    r.t[1].packets.fetch_add(1, Ordering::Relaxed);
    r.t[1].bytes.fetch_add(70, Ordering::Relaxed);
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

/// The deltas of one pass over a table of `slots` where flow 7 has two slots
/// (`twins`: both CPUs claimed one for it) and flow 8 one (`other`).
fn twins(slots: usize, twins: [usize; 2], other: usize) -> Vec<Delta> {
    let mut r = Rig::new(slots, secs(30));
    r.packet(twins[0], k(7), 10);
    r.packet(twins[1], k(7), 20);
    r.packet(other, k(8), 5);
    r.pass(secs(0), false).1
}

#[test]
fn twin_slots_of_one_flow_make_one_delta() {
    let out = twins(4, [0, 3], 2);
    assert_eq!(out, [delta(k(7), 2, 30), delta(k(8), 1, 5)]);
}

#[test]
fn twins_are_found_across_the_end_of_the_table() {
    // A window that starts at slot 60 wraps to slot 27.
    let out = twins(64, [62, 1], 40);
    let mut got: Vec<(u64, u64)> = out.iter().map(|d| (d.packets, d.bytes)).collect();
    got.sort();
    assert_eq!(got, [(1, 5), (2, 30)]);
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
    assert!(r.get("fragment").is_none());
    // Later fragments: no ports even for UDP, no type for ICMP; marked.
    let r = rec(fragment_key(v4("10.0.0.2"), v4("10.0.0.1"), 17));
    assert_eq!((&r["proto"], &r["fragment"]), (&json!("udp"), &json!(true)));
    assert!(r.get("src_port").is_none() && r.get("dst_port").is_none());
    let r = rec(fragment_key(v4("fd00::2"), v4("fd00::1"), 58));
    assert_eq!(&r["fragment"], &json!(true));
    assert!(r.get("icmp_type").is_none());
}
