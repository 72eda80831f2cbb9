//! Reads the flow table each interval: the counts that moved since the last
//! pass become per-flow deltas, idle flows are retired and, after a grace
//! period, freed for reuse. Works on a plain slice of slots, so the logic is
//! unit-tested without a kernel.
//!
//! Slot life (see bpf/xdp.h): the program claims a FREE slot and makes it
//! ACTIVE; we retire an idle ACTIVE slot (the program no longer matches it),
//! and free it only after GRACE, so a packet that matched it just before it
//! was retired has landed, and is counted in the last delta we read.

use std::collections::VecDeque;
use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attach::PROBES;
use super::skel::types::flow_slot;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::record::{FlowRecord, IpProto};

// flow_slot.state, as in bpf/xdp.h (SLOT_CLAIMING, 1, is skipped like FREE).
pub const SLOT_FREE: u64 = 0;
pub const SLOT_ACTIVE: u64 = 2;
pub const SLOT_RETIRED: u64 = 3;
/// flow_key.flags: a flow of later fragments (bpf/xdp.h).
pub const FLOW_FRAGMENT: u16 = 1;

/// How long a retired slot is kept before it is freed. The program holds a
/// slot for nanoseconds; this is a wide margin.
pub const GRACE: Duration = Duration::from_secs(1);

/// `struct flow_slot` as shared memory: every field is written by the kernel
/// while we read, so all are atomics.
#[repr(C)]
pub struct Slot {
    pub state: AtomicU64,
    pub key: [AtomicU64; 5],
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

const _: () = {
    assert!(size_of::<Slot>() == size_of::<flow_slot>());
    assert!(offset_of!(Slot, key) == offset_of!(flow_slot, key));
    assert!(offset_of!(Slot, packets) == offset_of!(flow_slot, packets));
    assert!(offset_of!(Slot, bytes) == offset_of!(flow_slot, bytes));
    assert!(size_of::<super::skel::types::flow_key>() == 40);
};

impl Slot {
    fn key(&self) -> [u64; 5] {
        self.key.each_ref().map(|w| w.load(Ordering::Relaxed))
    }
}

/// The kernel's flow array, mapped into our memory.
pub struct Mapping {
    ptr: *mut libc::c_void,
    bytes: usize,
    slots: usize,
}

impl Mapping {
    /// Maps `slots` slots of the BPF_F_MMAPABLE array behind `fd`.
    pub fn new(fd: std::os::fd::BorrowedFd<'_>, slots: usize) -> Result<Mapping, Error> {
        use std::os::fd::AsRawFd;
        let bytes = slots * size_of::<Slot>();
        // SAFETY: maps a BPF array of exactly this size; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::Failure(format!(
                "mapping the flow table: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Mapping { ptr, bytes, slots })
    }

    pub fn slots(&self) -> &[Slot] {
        // SAFETY: page-aligned shared memory of `slots` slots, alive while
        // self is; Slot is all atomics, so concurrent kernel writes are fine.
        unsafe { std::slice::from_raw_parts(self.ptr as *const Slot, self.slots) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ptr, self.bytes) };
    }
}

/// What one pass saw of one slot.
#[derive(Clone, Copy)]
struct Seen {
    packets: u64,
    bytes: u64,
    /// ACTIVE: when it last moved; RETIRED: when we retired it (ms from `start`).
    since: u64,
}

/// Userspace memory per slot.
pub const SEEN_BYTES: usize = size_of::<Seen>();

/// A flow's counts within one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub key: [u64; 5],
    pub packets: u64,
    pub bytes: u64,
}

pub struct Drainer {
    start: Instant,
    seen: Vec<Seen>,
    idle_timeout: Duration,
    /// (slot, output index) of the slots that moved in the last PROBES
    /// slots, and in the first PROBES (for windows that wrap around): twin
    /// slots of one flow are always within one probe window.
    recent: VecDeque<(usize, usize)>,
    head: Vec<(usize, usize)>,
}

impl Drainer {
    pub fn new(slots: usize, idle_timeout: Duration, start: Instant) -> Self {
        let zero = Seen {
            packets: 0,
            bytes: 0,
            since: 0,
        };
        Drainer {
            start,
            seen: vec![zero; slots],
            idle_timeout,
            recent: VecDeque::new(),
            head: Vec::new(),
        }
    }

    /// One pass at `now`: appends the flows that moved since the last pass to
    /// `out` and returns how many flows are active. Unless `last`, retires
    /// flows idle for the idle timeout and frees those retired for GRACE
    /// (decrementing `nflows`, the program's count of slots in use).
    pub fn pass(
        &mut self,
        slots: &[Slot],
        nflows: &AtomicU64,
        now: Instant,
        last: bool,
        out: &mut Vec<Delta>,
    ) -> u64 {
        self.recent.clear();
        self.head.clear();
        let now = now.saturating_duration_since(self.start).as_millis() as u64;
        let idle_ms = self.idle_timeout.as_millis() as u64;
        let n = slots.len();
        let window = PROBES as usize;
        let mut active = 0;
        for (i, (slot, seen)) in slots.iter().zip(self.seen.iter_mut()).enumerate() {
            let state = slot.state.load(Ordering::Acquire);
            if state != SLOT_ACTIVE && state != SLOT_RETIRED {
                continue;
            }
            let packets = slot.packets.load(Ordering::Relaxed);
            let bytes = slot.bytes.load(Ordering::Relaxed);
            if packets != seen.packets || bytes != seen.bytes {
                let d = Delta {
                    key: slot.key(),
                    packets: packets.wrapping_sub(seen.packets),
                    bytes: bytes.wrapping_sub(seen.bytes),
                };
                while self.recent.front().is_some_and(|&(j, _)| j + window <= i) {
                    self.recent.pop_front();
                }
                // A window that wraps ends in the first slots.
                let wrapped = self.head.iter().filter(|&&(j, _)| i + window > n + j);
                let twin = self
                    .recent
                    .iter()
                    .chain(wrapped)
                    .map(|&(_, o)| o)
                    .find(|&o| out[o].key == d.key);
                match twin {
                    Some(o) => {
                        out[o].packets += d.packets;
                        out[o].bytes += d.bytes;
                    }
                    None => {
                        self.recent.push_back((i, out.len()));
                        if i < window {
                            self.head.push((i, out.len()));
                        }
                        out.push(d);
                    }
                }
                seen.packets = packets;
                seen.bytes = bytes;
                if state == SLOT_ACTIVE {
                    seen.since = now;
                }
            }
            if last {
                active += u64::from(state == SLOT_ACTIVE);
                continue;
            }
            let age = now.saturating_sub(seen.since);
            if state == SLOT_ACTIVE {
                if age >= idle_ms
                    && slot
                        .state
                        .compare_exchange(
                            SLOT_ACTIVE,
                            SLOT_RETIRED,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    seen.since = now;
                } else {
                    active += 1;
                }
            } else if age >= GRACE.as_millis() as u64 {
                // Its last counts were read above; nothing writes it any more.
                slot.packets.store(0, Ordering::Relaxed);
                slot.bytes.store(0, Ordering::Relaxed);
                *seen = Seen {
                    packets: 0,
                    bytes: 0,
                    since: now,
                };
                slot.state.store(SLOT_FREE, Ordering::Release);
                nflows.fetch_sub(1, Ordering::AcqRel);
            }
        }
        active
    }
}

/// A table key (struct flow_key, as five native-endian words) → a record.
pub fn flow_record(d: &Delta, timestamp: Timestamp, iface: &Arc<str>) -> FlowRecord {
    let mut b = [0u8; 40];
    for (chunk, w) in b.chunks_exact_mut(8).zip(d.key) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    let (proto, ver) = (b[36], b[37]);
    // flow_key.flags (native-endian u16), FLOW_FRAGMENT in bpf/xdp.h.
    let fragment = u16::from_ne_bytes([b[38], b[39]]) & FLOW_FRAGMENT != 0;
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
                u16::from_be_bytes([b[32], b[33]]),
                u16::from_be_bytes([b[34], b[35]]),
            ))
        }
        (1, false) | (58, true) => icmp = Some((b[32], b[33])),
        _ => {}
    }
    FlowRecord {
        timestamp,
        iface: iface.clone(),
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

#[cfg(test)]
pub mod tests {
    use super::*;

    const SLOT_CLAIMING: u64 = 1;

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
        let mut b = [0u8; 40];
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                b[0..4].copy_from_slice(&s.octets());
                b[4..8].copy_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                b[0..16].copy_from_slice(&s.octets());
                b[16..32].copy_from_slice(&d.octets());
            }
            _ => panic!("one IP version"),
        }
        let ipv6 = src.is_ipv6();
        if matches!((proto, ipv6), (1, false) | (58, true)) {
            // Type and code, as the bytes they are on the wire.
            b[32] = sport as u8;
            b[33] = dport as u8;
        } else {
            b[32..34].copy_from_slice(&sport.to_be_bytes());
            b[34..36].copy_from_slice(&dport.to_be_bytes());
        }
        b[36] = proto;
        b[37] = if ipv6 { 6 } else { 4 };
        b[38..40].copy_from_slice(&flags.to_ne_bytes());
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
}
