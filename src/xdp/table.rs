//! The loaded program's table, claim bits and category counters, and what
//! the passes over them saw: deltas per flow, totals per interface and
//! direction.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, MapFlags};

use super::cats::{CAT_N, CAT_TOTAL};
use super::drain::{Delta, Drainer};
use super::skel::{self, types::counters_key, types::xdp_counters};
use super::slots::{Direction, Mapping, Pair, Slot};
use crate::error::Error;

/// (packets, bytes) per category, then at `CAT_TOTAL` every packet so far:
/// those in the flows read so far, plus the categories.
pub type Counts = [(u64, u64); CAT_N + 1];

// SAFETY: counters_key is plain old data generated from BTF (two u32).
unsafe impl plain::Plain for counters_key {}

fn key_of(p: Pair) -> counters_key {
    counters_key {
        ifindex: p.ifindex,
        dir: p.dir.code(),
    }
}

pub struct Table<'a> {
    flows: Mapping,
    claimed: Mapping,
    nflows: &'a AtomicU64,
    counters: &'a dyn MapCore,
    drainer: Drainer,
    deltas: Vec<Delta>,
    /// Every flow delta read so far, summed per pair: (packets, bytes).
    in_flows: HashMap<Pair, (u64, u64)>,
}

impl<'a> Table<'a> {
    pub fn new(
        maps: &'a mut skel::XdpMaps<'_>,
        idle_timeout: Duration,
        now: Instant,
    ) -> Result<Self, Error> {
        let slots = maps.flows.max_entries() as usize;
        let flows = Mapping::new(maps.flows.as_fd(), slots * size_of::<Slot>(), "flow table")?;
        let words = maps.claimed.max_entries() as usize;
        let claimed = Mapping::new(maps.claimed.as_fd(), words * 8, "flow table's claim bits")?;
        let bss = maps
            .bss_data
            .as_deref_mut()
            .ok_or_else(|| Error::Failure("the xdp BPF object has no .bss".into()))?;
        // SAFETY: the mmap-ed .bss lives as long as the maps; the program
        // changes nflows only atomically.
        let nflows = unsafe { AtomicU64::from_ptr(&mut bss.nflows) };
        Ok(Table {
            flows,
            claimed,
            nflows,
            counters: &maps.counters,
            drainer: Drainer::new(idle_timeout, now),
            deltas: Vec::new(),
            in_flows: HashMap::new(),
        })
    }

    /// Creates the counters of the pairs we attach to, so that each has its
    /// totals from the first interval on.
    pub fn register(&self, pairs: &[Pair]) -> Result<(), Error> {
        let cpus = libbpf_rs::num_possible_cpus()
            .map_err(|e| Error::Failure(format!("counting the CPUs: {e}")))?;
        let zero = vec![vec![0u8; size_of::<xdp_counters>()]; cpus];
        for &p in pairs {
            let key = key_of(p);
            // SAFETY: counters_key is Plain.
            let key = unsafe { plain::as_bytes(&key) };
            self.counters
                .update_percpu(key, &zero, MapFlags::NO_EXIST)
                .or_else(|e| match e.kind() {
                    libbpf_rs::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| Error::Failure(format!("creating the xdp counters: {e}")))?;
        }
        Ok(())
    }

    /// Reads what moved: the flows that did are then in [`Self::deltas`].
    /// Returns how many flows are tracked (all interfaces and directions).
    pub fn pass(&mut self, now: Instant, last: bool) -> u64 {
        self.deltas.clear();
        self.drainer.pass(
            self.flows.slots(),
            self.claimed.words(),
            self.nflows,
            now,
            last,
            &mut self.deltas,
        );
        for d in &self.deltas {
            let f = self.in_flows.entry(d.pair).or_default();
            f.0 += d.packets;
            f.1 += d.bytes;
        }
        self.drainer.all_flows()
    }

    pub fn deltas(&self) -> &[Delta] {
        &self.deltas
    }

    /// Slots the last pass read (the flows it tracks, and new claims).
    pub fn read_last(&self) -> usize {
        self.drainer.read_last
    }

    /// Distinct flows tracked now on `pair`.
    pub fn flows(&self, pair: Pair) -> u64 {
        self.drainer.flows(pair)
    }

    /// The counters of every pair that has any (summed over the CPUs), with
    /// the flows read so far in each total.
    pub fn pair_counters(&self) -> Result<BTreeMap<Pair, Counts>, Error> {
        let mut all = BTreeMap::new();
        for key in self.counters.keys() {
            let mut k = counters_key::default();
            if plain::copy_from_bytes(&mut k, &key).is_err() {
                continue;
            }
            let words: [u64; 2 * CAT_N] = crate::kernel::sum_percpu_at(self.counters, &key)
                .map_err(|e| Error::Failure(format!("reading the xdp counters: {e}")))?
                .unwrap_or([0; 2 * CAT_N]);
            let pair = Pair {
                ifindex: k.ifindex,
                dir: Direction::from_code(u64::from(k.dir)),
            };
            all.insert(pair, counts(words, self.in_flows.get(&pair).copied()));
        }
        // Flows of a pair without counters (none yet): totals all the same.
        for (&pair, &f) in &self.in_flows {
            all.entry(pair)
                .or_insert_with(|| counts([0; 2 * CAT_N], Some(f)));
        }
        Ok(all)
    }

    /// Every pair's counters added up.
    pub fn counters(&self) -> Result<Counts, Error> {
        let mut sum = [(0, 0); CAT_N + 1];
        for c in self.pair_counters()?.values() {
            for (s, v) in sum.iter_mut().zip(c) {
                s.0 += v.0;
                s.1 += v.1;
            }
        }
        Ok(sum)
    }
}

/// struct xdp_counters' words, plus the flows' counts, as [`Counts`].
fn counts(words: [u64; 2 * CAT_N], in_flows: Option<(u64, u64)>) -> Counts {
    let mut c = [in_flows.unwrap_or_default(); CAT_N + 1];
    for cat in 0..CAT_N {
        c[cat] = (words[2 * cat], words[2 * cat + 1]);
        c[CAT_TOTAL].0 += c[cat].0;
        c[CAT_TOTAL].1 += c[cat].1;
    }
    c
}
