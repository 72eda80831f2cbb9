//! Reads the flow table each interval: the counts that moved since the last
//! pass become per-flow deltas, idle flows are retired and, after a grace
//! period, freed for reuse. Works on plain slices of slots and bitmap words,
//! so the logic is unit-tested without a kernel.
//!
//! What a pass reads follows the flows, not the table's size: the slots it
//! tracks, and the ones the program claimed since the last pass (a bit each
//! in the claim bitmap, a word per 64 slots). A packet of a known flow sets
//! no bit: its slot is tracked until it is idle, and read every pass.
//!
//! Slot life (see bpf/xdp.h): the program claims a FREE slot and tags it
//! ACTIVE; we retire an idle ACTIVE slot (the program no longer matches it),
//! and free it only after GRACE, so a packet that matched it just before it
//! was retired has landed, and is counted in the last delta we read.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use super::slots::Direction;
use super::slots::{Pair, Slot, Tag, SLOT_ACTIVE, SLOT_CLAIMING, SLOT_FREE, SLOT_RETIRED};

/// How long a retired slot is kept before it is freed. The program holds a
/// slot for nanoseconds; this is a wide margin.
pub const GRACE: Duration = Duration::from_secs(1);

/// What we know of a slot we track.
#[derive(Clone, Copy)]
struct Seen {
    slot: u32,
    packets: u64,
    bytes: u64,
    /// ACTIVE: when it last moved; RETIRED: when we retired it (ms from `start`).
    since: u64,
    /// Its tag when we last looked (ACTIVE or RETIRED).
    tag: Tag,
}

/// Userspace memory per tracked slot (the drain bench reports memory); and
/// a bit per slot of the table.
pub const SEEN_BYTES: usize = size_of::<Seen>();

/// A flow's counts within one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub key: [u64; 5],
    pub pair: Pair,
    pub packets: u64,
    pub bytes: u64,
}

/// A flow: its key, interface and direction (its slots on several CPUs are one).
type FlowId = ([u64; 5], Pair);

/// The flows tracked now: ACTIVE slots per flow, distinct flows per pair.
#[derive(Default)]
struct Tracked {
    slots: HashMap<FlowId, u32>,
    per_pair: HashMap<Pair, u64>,
    /// Flows with slots on more than one CPU now.
    multi: usize,
}

impl Tracked {
    fn add(&mut self, id: FlowId) {
        let n = self.slots.entry(id).or_insert(0);
        *n += 1;
        match *n {
            1 => *self.per_pair.entry(id.1).or_insert(0) += 1,
            2 => self.multi += 1,
            _ => {}
        }
    }

    fn remove(&mut self, id: FlowId) {
        if let Entry::Occupied(mut e) = self.slots.entry(id) {
            *e.get_mut() -= 1;
            if *e.get() == 1 {
                self.multi -= 1;
            }
            if *e.get() == 0 {
                e.remove();
                if let Some(n) = self.per_pair.get_mut(&id.1) {
                    *n -= 1;
                }
            }
        }
    }
}

/// This pass's deltas, one per flow: a flow's slots on several CPUs add up
/// (when no flow has several, each delta is its flow's, and no lookup is made).
struct Out<'a> {
    out: &'a mut Vec<Delta>,
    index: &'a mut HashMap<FlowId, usize>,
    merge: bool,
}

impl Out<'_> {
    fn push(&mut self, d: Delta) {
        if !self.merge {
            self.out.push(d);
            return;
        }
        match self.index.entry((d.key, d.pair)) {
            Entry::Occupied(e) => {
                let o = &mut self.out[*e.get()];
                o.packets += d.packets;
                o.bytes += d.bytes;
            }
            Entry::Vacant(e) => {
                e.insert(self.out.len());
                self.out.push(d);
            }
        }
    }
}

pub struct Drainer {
    start: Instant,
    idle_timeout: Duration,
    /// The slots we track, and a bit per slot of the table saying which.
    seen: Vec<Seen>,
    member: Vec<u64>,
    tracked: Tracked,
    /// Claimed slots whose tag was not yet published.
    pending: Vec<u32>,
    cand: Vec<u32>,
    index: HashMap<FlowId, usize>,
    /// Slots the last pass read (the bench and tests: the cost follows the traffic).
    pub read_last: usize,
}

impl Drainer {
    pub fn new(idle_timeout: Duration, start: Instant) -> Self {
        Drainer {
            start,
            idle_timeout,
            seen: Vec::new(),
            member: Vec::new(),
            tracked: Tracked::default(),
            pending: Vec::new(),
            cand: Vec::new(),
            index: HashMap::new(),
            read_last: 0,
        }
    }

    /// Distinct flows tracked now on `pair`.
    pub fn flows(&self, pair: Pair) -> u64 {
        self.tracked.per_pair.get(&pair).copied().unwrap_or(0)
    }

    /// Distinct flows tracked now, on every interface and direction.
    pub fn all_flows(&self) -> u64 {
        self.tracked.per_pair.values().sum()
    }

    /// One pass at `now`: appends the flows that moved since the last pass to
    /// `out`. Unless `last`, retires flows idle for the idle timeout and frees
    /// those retired for GRACE (decrementing `nflows`, the program's count of
    /// slots in use). `last` (after detaching) looks at every slot.
    pub fn pass(
        &mut self,
        slots: &[Slot],
        claimed: &[AtomicU64],
        nflows: &AtomicU64,
        now: Instant,
        last: bool,
        out: &mut Vec<Delta>,
    ) {
        let now = now.saturating_duration_since(self.start).as_millis() as u64;
        self.member.resize(slots.len().div_ceil(64), 0);
        // New claims, and those not yet published last time.
        let mut cand = std::mem::take(&mut self.cand);
        cand.clear();
        cand.append(&mut self.pending);
        if last {
            cand.extend(0..slots.len() as u32);
        } else {
            take_bits(claimed, &mut cand);
        }
        let new = cand.len();
        for &i in &cand {
            let Some(slot) = slots.get(i as usize) else {
                continue;
            };
            let tag = slot.tag();
            let (w, bit) = (i as usize / 64, 1u64 << (i % 64));
            if self.member[w] & bit != 0 {
                continue;
            }
            match tag.state() {
                SLOT_ACTIVE => {
                    self.tracked.add((slot.key(), tag.pair()));
                    self.member[w] |= bit;
                    self.seen.push(Seen {
                        slot: i,
                        packets: 0,
                        bytes: 0,
                        since: now,
                        tag,
                    });
                }
                // Its bit came before its tag (a weakly ordered CPU): next time.
                SLOT_CLAIMING if !last => self.pending.push(i),
                _ => {}
            }
        }
        self.cand = cand;
        self.index.clear();
        let mut o = Out {
            out,
            index: &mut self.index,
            merge: self.tracked.multi > 0,
        };
        let idle_ms = self.idle_timeout.as_millis() as u64;
        let grace_ms = GRACE.as_millis() as u64;
        let (tracked, member) = (&mut self.tracked, &mut self.member);
        self.seen.retain_mut(|seen| {
            let slot = &slots[seen.slot as usize];
            let (packets, bytes) = slot.counts();
            if packets != seen.packets || bytes != seen.bytes {
                o.push(Delta {
                    key: slot.key(),
                    pair: seen.tag.pair(),
                    packets: packets.wrapping_sub(seen.packets),
                    bytes: bytes.wrapping_sub(seen.bytes),
                });
                seen.packets = packets;
                seen.bytes = bytes;
                if seen.tag.state() == SLOT_ACTIVE {
                    seen.since = now;
                }
            }
            if last {
                return true;
            }
            let age = now.saturating_sub(seen.since);
            if seen.tag.state() == SLOT_ACTIVE {
                let retired = seen.tag.with_state(SLOT_RETIRED);
                if age >= idle_ms
                    && slot
                        .state
                        .compare_exchange(
                            seen.tag.0,
                            retired.0,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    tracked.remove((slot.key(), seen.tag.pair()));
                    seen.tag = retired;
                    seen.since = now;
                }
                return true;
            }
            if age < grace_ms {
                return true;
            }
            // Retired for GRACE: nothing writes it any more, and its last
            // counts were read above. Freed whole, key included (a freed slot
            // must match no packet: slots.rs).
            for w in &slot.key {
                w.store(0, Ordering::Relaxed);
            }
            slot.packets.store(0, Ordering::Relaxed);
            slot.bytes.store(0, Ordering::Relaxed);
            // Release: the zeros before FREE, for the program's claim.
            slot.state.store(SLOT_FREE, Ordering::Release);
            nflows.fetch_sub(1, Ordering::AcqRel);
            member[seen.slot as usize / 64] &= !(1u64 << (seen.slot % 64));
            false
        });
        self.read_last = self.seen.len() + new;
    }
}

/// Clears the set bits of `bits`, appending their slots to `out`.
fn take_bits(bits: &[AtomicU64], out: &mut Vec<u32>) {
    for (w, word) in bits.iter().enumerate() {
        if word.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let mut bits = word.swap(0, Ordering::AcqRel);
        while bits != 0 {
            out.push(w as u32 * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
pub mod tests;
