//! `ebpf-jsonl xdp IFACE`: every interval, one `flow` record per flow that
//! moved (its deltas) and one cumulative `xdp_stats` record; every packet the
//! program saw is in exactly one flow or category, so the sums add up.

pub mod attach;
pub mod drain;
pub mod egress;
pub mod flavour;
pub mod skel;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libbpf_rs::MapCore;

use crate::cli::XdpArgs;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::output;
use crate::pipeline::{self, RecordSender};
use crate::record::{Record, XdpStatsRecord};
/// Userspace state per table slot, in bytes (the drain bench reports memory).
pub use drain::SEEN_BYTES;
use drain::{Delta, Drainer, Mapping};
use skel::types::{xdp_cat, xdp_counter, xdp_counters};

// Indexes of xdp_counters.c (enum xdp_cat in bpf/xdp.h).
pub const CAT_UNTRACKED: usize = xdp_cat::CAT_UNTRACKED.0 as usize;
pub const CAT_EXCLUDED: usize = xdp_cat::CAT_EXCLUDED.0 as usize;
pub const CAT_NON_IP: usize = xdp_cat::CAT_NON_IP.0 as usize;
pub const CAT_MALFORMED: usize = xdp_cat::CAT_MALFORMED.0 as usize;
pub const CAT_N: usize = xdp_cat::CAT_N.0 as usize;
const _: () = assert!(size_of::<xdp_counters>() == CAT_N * size_of::<xdp_counter>());
/// Index of the total in [`Table::counters`]: every packet the program saw,
/// which is every packet counted in a flow or a category. (A packet counted
/// in its flow touches nothing else in the kernel: that is the hot path.)
pub const CAT_TOTAL: usize = CAT_N;

pub fn run(args: &XdpArgs) -> Result<(), Error> {
    let ifindex = attach::ifindex(&args.iface)?;
    crate::kernel::check_privileges(true)?;
    crate::kernel::raise_memlock();
    let dest = output::Dest::new(args.common.output.as_deref())?;
    let mut obj = MaybeUninit::uninit();
    let (mut skel, flavour) = attach::load(
        &mut obj,
        &attach::Config {
            max_flows: args.max_flows,
            excludes: &args.exclude,
            flavour: args.flavour,
        },
    )?;
    let link = attach::attach(flavour.prog(&skel), &args.iface, ifindex, args.mode)?;
    eprintln!(
        "ebpf-jsonl: xdp: attached to {} (ifindex {ifindex}) in {} mode",
        args.iface,
        link.mode.name()
    );
    // After the attach, so that a refusal stays the one line on stderr.
    eprintln!("ebpf-jsonl: xdp: {}", flavour.note());
    if let Some(why) = &link.native_refused {
        eprintln!("ebpf-jsonl: xdp: native mode refused: {why}; using generic mode");
    }
    if link.mode == attach::Mode::Generic {
        eprintln!("{GENERIC_NOTE}");
    }

    // Room for a whole interval of the table, so a snapshot is queued at once
    // and printed whole.
    let (mut out, rx) = pipeline::channel_with_budget(interval_budget(args.max_flows));
    let writer = output::spawn_writer(rx, dest);
    let start = Instant::now();
    let mut table = Table::new(&mut skel.maps, args.idle_timeout, start)?;
    let iface: Arc<str> = args.iface.as_str().into();
    let deadline = args.common.duration.map(|d| start + d);
    let mut next = start + args.interval;
    let res = loop {
        let tick = deadline.map_or(next, |d| d.min(next));
        while !pipeline::shutting_down() && Instant::now() < tick {
            let left = tick.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        if pipeline::shutting_down() || deadline.is_some_and(|d| Instant::now() >= d) {
            break Ok(());
        }
        // Gone: this interval is the final one, printed below.
        if let Err(e) = still_attached(&link, &iface, ifindex) {
            break Err(e);
        }
        if let Err(e) = table.interval(&iface, &mut out, false) {
            break Err(e);
        }
        // After a stall, skip the ticks that were missed rather than bunch them.
        let now = Instant::now();
        while next <= now {
            next += args.interval;
        }
    };
    // From here on the stop deadline bounds every wait (also after an error).
    pipeline::request_shutdown();
    // Detach first: the final interval then has everything the program saw.
    link.detach();
    let last = table.interval(&iface, &mut out, true);
    drop(table);
    let pending = out.finish();
    let written = output::finish(writer, pending);
    res.and(last).and(written)
}

/// Said on stderr whenever generic mode is in effect (chosen, or auto's fallback).
pub const GENERIC_NOTE: &str = "ebpf-jsonl: xdp: note: generic mode sees packets as the \
    stack has them, after GRO (and unsegmented from a veth peer): a TCP stream counts as \
    fewer, larger packets (up to 64 KiB) than crossed the wire, without the merged segments' \
    headers in bytes; --mode native counts wire frames where the driver supports it";

/// An error once the program is no longer attached: the kernel detaches an
/// XDP link (leaving it defunct) when its interface is removed, and the
/// table would then print the same totals forever. (Down/up, a rename or a
/// move to another namespace keep the program attached, and counting.)
fn still_attached(link: &attach::XdpLink, iface: &str, ifindex: u32) -> Result<(), Error> {
    if link.attached_ifindex()?.is_some() {
        return Ok(());
    }
    Err(Error::Failure(if attach::ifindex_exists(ifindex) {
        format!(
            "the XDP program on {iface} was detached by someone else (e.g. `bpftool link \
             detach`); the last xdp_stats above are final; run again to count again"
        )
    } else {
        format!(
            "interface {iface} went away (deleted) and its XDP program with it; the last \
             xdp_stats above are final; run again once {iface} is back"
        )
    }))
}

/// Bytes of records one interval can produce: every flow moved, plus totals.
pub fn interval_budget(max_flows: u32) -> usize {
    (max_flows as usize + 1) * crate::record::FLOW_WEIGHT
}

/// The loaded program's table and counters, and what the last pass saw.
pub struct Table<'a> {
    mapping: Mapping,
    nflows: &'a AtomicU64,
    counters: &'a dyn MapCore,
    drainer: Drainer,
    deltas: Vec<Delta>,
    /// Every flow delta read so far, summed: (packets, bytes).
    in_flows: (u64, u64),
}

impl<'a> Table<'a> {
    pub fn new(
        maps: &'a mut skel::XdpMaps<'_>,
        idle_timeout: Duration,
        now: Instant,
    ) -> Result<Self, Error> {
        let slots = maps.flows.max_entries() as usize;
        let mapping = Mapping::new(maps.flows.as_fd(), slots)?;
        let bss = maps
            .bss_data
            .as_deref_mut()
            .ok_or_else(|| Error::Failure("the xdp BPF object has no .bss".into()))?;
        // SAFETY: the mmap-ed .bss lives as long as the maps; the program
        // changes nflows only atomically.
        let nflows = unsafe { AtomicU64::from_ptr(&mut bss.nflows) };
        Ok(Table {
            mapping,
            nflows,
            counters: &maps.counters,
            drainer: Drainer::new(slots, idle_timeout, now),
            deltas: Vec::new(),
            in_flows: (0, 0),
        })
    }

    /// Reads the table: the flows that moved are then in [`Self::deltas`].
    /// Returns how many flows are tracked.
    pub fn pass(&mut self, now: Instant, last: bool) -> u64 {
        self.deltas.clear();
        let active = self.drainer.pass(
            self.mapping.slots(),
            self.nflows,
            now,
            last,
            &mut self.deltas,
        );
        for d in &self.deltas {
            self.in_flows.0 += d.packets;
            self.in_flows.1 += d.bytes;
        }
        active
    }

    pub fn deltas(&self) -> &[Delta] {
        &self.deltas
    }

    /// The per-CPU category counters, summed: (packets, bytes) per category,
    /// then at `CAT_TOTAL` every packet so far: those in the flows read so
    /// far, plus the categories.
    pub fn counters(&self) -> Result<[(u64, u64); CAT_N + 1], Error> {
        let cats = read_counters(self.counters)?;
        let mut all = [self.in_flows; CAT_N + 1];
        all[..CAT_N].copy_from_slice(&cats);
        for c in cats {
            all[CAT_TOTAL].0 += c.0;
            all[CAT_TOTAL].1 += c.1;
        }
        Ok(all)
    }

    /// Sends the flows that moved, then the totals; `last` after detaching.
    pub fn interval(
        &mut self,
        iface: &Arc<str>,
        out: &mut RecordSender,
        last: bool,
    ) -> Result<(), Error> {
        let flows = self.pass(Instant::now(), last);
        self.emit(iface, out, flows)
    }

    /// Sends the flows the last pass saw move, then the totals.
    pub fn emit(&self, iface: &Arc<str>, out: &mut RecordSender, flows: u64) -> Result<(), Error> {
        // The categories are read after the flows, so on a busy interface
        // the totals may be a little ahead of the flows, never behind; once
        // it is quiet they are exact.
        let c = self.counters()?;
        let ts = Timestamp::now();
        for d in &self.deltas {
            out.send_wait(Record::Flow(drain::flow_record(d, ts, iface)));
        }
        out.send_wait(Record::XdpStats(XdpStatsRecord {
            timestamp: ts,
            iface: iface.clone(),
            packets: c[CAT_TOTAL].0,
            bytes: c[CAT_TOTAL].1,
            flows,
            untracked_packets: c[CAT_UNTRACKED].0,
            untracked_bytes: c[CAT_UNTRACKED].1,
            excluded_packets: c[CAT_EXCLUDED].0,
            excluded_bytes: c[CAT_EXCLUDED].1,
            non_ip_packets: c[CAT_NON_IP].0,
            non_ip_bytes: c[CAT_NON_IP].1,
            malformed_packets: c[CAT_MALFORMED].0,
            malformed_bytes: c[CAT_MALFORMED].1,
        }));
        out.flush();
        Ok(())
    }
}

fn read_counters(map: &dyn MapCore) -> Result<[(u64, u64); CAT_N], Error> {
    // struct xdp_counters: (packets, bytes) per category.
    let words: [u64; 2 * CAT_N] = crate::kernel::sum_percpu(map, 0)
        .map_err(|e| Error::Failure(format!("reading the xdp counters: {e}")))?
        .ok_or_else(|| Error::Failure("reading the xdp counters: no entry".into()))?;
    Ok(std::array::from_fn(|cat| {
        (words[2 * cat], words[2 * cat + 1])
    }))
}
