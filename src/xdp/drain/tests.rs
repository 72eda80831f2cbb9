//! drain.rs on a plain slice of slots, with the program's moves played by hand.

use super::*;
use crate::xdp::skel::SLOT_CLAIMING;

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

fn table(n: usize) -> Vec<Slot> {
    (0..n)
        .map(|_| Slot {
            state: AtomicU64::new(SLOT_FREE),
            key: Default::default(),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
        .collect()
}

/// What the program does for a packet of `k` that finds or claims slot `i`.
fn packet(t: &[Slot], nflows: &AtomicU64, i: usize, k: [u64; 5], len: u64) {
    let s = &t[i];
    if s.state.load(Ordering::Acquire) == SLOT_FREE {
        s.state.store(SLOT_CLAIMING, Ordering::SeqCst);
        nflows.fetch_add(1, Ordering::SeqCst);
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
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let t = table(4);
    let nflows = AtomicU64::new(0);
    let mut d = Drainer::new(4, Duration::from_secs(3), t0);
    let mut out = Vec::new();

    packet(&t, &nflows, 1, k(1), 100);
    packet(&t, &nflows, 1, k(1), 100);
    assert_eq!(d.pass(&t, &nflows, s(1), false, &mut out), 1);
    assert_eq!(
        out,
        [Delta {
            key: k(1),
            packets: 2,
            bytes: 200
        }]
    );
    out.clear();
    // Nothing moved: no records, still tracked.
    assert_eq!(d.pass(&t, &nflows, s(2), false, &mut out), 1);
    assert!(out.is_empty());
    packet(&t, &nflows, 1, k(1), 50);
    assert_eq!(d.pass(&t, &nflows, s(3), false, &mut out), 1);
    assert_eq!((out[0].packets, out[0].bytes), (1, 50));
    out.clear();
    // Idle for 3 s: retired (not matched any more, not yet free).
    assert_eq!(d.pass(&t, &nflows, s(6), false, &mut out), 0);
    assert_eq!(t[1].state.load(Ordering::Relaxed), SLOT_RETIRED);
    assert_eq!(nflows.load(Ordering::Relaxed), 1);
    // A packet that had matched it just before lands late: still counted.
    t[1].packets.fetch_add(1, Ordering::Relaxed);
    t[1].bytes.fetch_add(70, Ordering::Relaxed);
    assert_eq!(d.pass(&t, &nflows, s(6) + GRACE, false, &mut out), 0);
    assert_eq!(
        out,
        [Delta {
            key: k(1),
            packets: 1,
            bytes: 70
        }]
    );
    assert_eq!(t[1].state.load(Ordering::Relaxed), SLOT_FREE);
    assert_eq!(nflows.load(Ordering::Relaxed), 0);
    out.clear();
    // The slot is reused from zero by another flow.
    packet(&t, &nflows, 1, k(2), 10);
    assert_eq!(d.pass(&t, &nflows, s(9), false, &mut out), 1);
    assert_eq!(
        out,
        [Delta {
            key: k(2),
            packets: 1,
            bytes: 10
        }]
    );
}

#[test]
fn twin_slots_of_one_flow_make_one_delta() {
    let t0 = Instant::now();
    let t = table(4);
    let nflows = AtomicU64::new(0);
    let mut d = Drainer::new(4, Duration::from_secs(30), t0);
    packet(&t, &nflows, 0, k(7), 10);
    packet(&t, &nflows, 3, k(7), 20);
    packet(&t, &nflows, 2, k(8), 5);
    let mut out = Vec::new();
    d.pass(&t, &nflows, t0, false, &mut out);
    assert_eq!(
        out,
        [
            Delta {
                key: k(7),
                packets: 2,
                bytes: 30
            },
            Delta {
                key: k(8),
                packets: 1,
                bytes: 5
            }
        ]
    );
}

#[test]
fn twins_are_found_across_the_end_of_the_table() {
    let t0 = Instant::now();
    let t = table(64);
    let nflows = AtomicU64::new(0);
    let mut d = Drainer::new(64, Duration::from_secs(30), t0);
    // A window that starts at slot 60 wraps to slot 27.
    packet(&t, &nflows, 62, k(7), 10);
    packet(&t, &nflows, 1, k(7), 20);
    packet(&t, &nflows, 40, k(8), 5);
    let mut out = Vec::new();
    d.pass(&t, &nflows, t0, false, &mut out);
    let mut got: Vec<(u64, u64)> = out.iter().map(|d| (d.packets, d.bytes)).collect();
    got.sort();
    assert_eq!(got, [(1, 5), (2, 30)]);
}

#[test]
fn last_pass_retires_nothing_and_skips_claims_in_progress() {
    let t0 = Instant::now();
    let t = table(2);
    let nflows = AtomicU64::new(0);
    let mut d = Drainer::new(2, Duration::from_millis(1), t0);
    packet(&t, &nflows, 0, k(1), 10);
    t[1].state.store(SLOT_CLAIMING, Ordering::Relaxed);
    let mut out = Vec::new();
    let later = t0 + Duration::from_secs(60);
    assert_eq!(d.pass(&t, &nflows, later, true, &mut out), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(t[0].state.load(Ordering::Relaxed), SLOT_ACTIVE);
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
