//! Reads the flow table each interval: the counts that moved since the last
//! pass become per-flow deltas, idle flows are retired and, after a grace
//! period, freed for reuse. Works on a plain slice of slots, so the logic is
//! unit-tested without a kernel.
//!
//! Slot life (see bpf/xdp.h): the program claims a FREE slot and makes it
//! ACTIVE; we retire an idle ACTIVE slot (the program no longer matches it),
//! and free it only after GRACE, so a packet that matched it just before it
//! was retired has landed, and is counted in the last delta we read.
//!
//! Ordering (it matters on arm64, where loads and stores to different words
//! are reordered; x86 keeps them in order): the program writes a claimed
//! slot's key and counts, then publishes ACTIVE with a release (or a fully
//! ordered xchg), so our Acquire load of the state comes before every read of
//! the key and counts. We free a slot by zeroing it, key included, then
//! storing FREE with Release: an all-zero key (IP version 0) matches no packet,
//! so a program whose key load ran ahead of its state load cannot take a dead
//! flow's key for the new claim's.

use std::collections::VecDeque;
use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attach::PROBES;
use super::skel::types::{flow_flag, flow_key, flow_slot, slot_state};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::record::{FlowRecord, IpProto};

// flow_slot.state (enum slot_state in bpf/xdp.h), as the u64 the field is;
// SLOT_CLAIMING is skipped like FREE.
const SLOT_FREE: u64 = slot_state::SLOT_FREE.0 as u64;
const SLOT_ACTIVE: u64 = slot_state::SLOT_ACTIVE.0 as u64;
const SLOT_RETIRED: u64 = slot_state::SLOT_RETIRED.0 as u64;
/// flow_key.flags: a flow of later fragments (enum flow_flag in bpf/xdp.h).
const FLOW_FRAGMENT: u16 = flow_flag::FLOW_FRAGMENT.0 as u16;

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
    assert!(size_of::<flow_key>() == 40);
};

impl Slot {
    /// Only after an Acquire load of `state` saw ACTIVE or RETIRED (see the module doc).
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
                // The key goes too: a freed slot must match no packet (module doc).
                for w in &slot.key {
                    w.store(0, Ordering::Relaxed);
                }
                slot.packets.store(0, Ordering::Relaxed);
                slot.bytes.store(0, Ordering::Relaxed);
                *seen = Seen {
                    packets: 0,
                    bytes: 0,
                    since: now,
                };
                // Release: the zeros before FREE, for the program's claim.
                slot.state.store(SLOT_FREE, Ordering::Release);
                nflows.fetch_sub(1, Ordering::AcqRel);
            }
        }
        active
    }
}

// SAFETY: flow_key is plain old data generated from BTF (bytes and a u16).
unsafe impl plain::Plain for flow_key {}

/// A table key as the five native-endian words the program hashes and
/// compares → struct flow_key.
fn flow_key_of(words: [u64; 5]) -> flow_key {
    let mut b = [0u8; size_of::<flow_key>()];
    for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    let mut k = flow_key::default();
    plain::copy_from_bytes(&mut k, &b).expect("a whole flow_key");
    k
}

/// A table key (struct flow_key, as five native-endian words) → a record.
pub fn flow_record(d: &Delta, timestamp: Timestamp, iface: &Arc<str>) -> FlowRecord {
    let k = flow_key_of(d.key);
    let (proto, ver, b) = (k.proto, k.ver, &k.addrs);
    let fragment = k.flags & FLOW_FRAGMENT != 0;
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
                u16::from_be_bytes([k.l4[0], k.l4[1]]),
                u16::from_be_bytes([k.l4[2], k.l4[3]]),
            ))
        }
        (1, false) | (58, true) => icmp = Some((k.l4[0], k.l4[1])),
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
pub mod tests;
