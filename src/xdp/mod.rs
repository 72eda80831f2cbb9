//! `ebpf-jsonl xdp IFACE...`: every interval, one `flow` record per flow that
//! moved (its deltas) and one cumulative `xdp_stats` record per interface and
//! direction; every packet the programs saw is in exactly one flow or
//! category, so the sums add up.

pub mod attach;
mod cats;
pub mod drain;
pub mod egress;
pub mod flavour;
pub mod flow_record;
pub mod link;
pub mod skel;
pub mod slots;
pub mod table;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::XdpArgs;
use crate::clock::Timestamp;
use crate::diag;
use crate::error::Error;
use crate::output;
use crate::pipeline::{self, RecordSender};
use crate::record::{Record, XdpStatsRecord};
/// Userspace state per tracked slot, in bytes (the drain bench reports memory).
pub use drain::SEEN_BYTES;
use egress::EgressLink;
pub use slots::{Direction, Pair};
pub use table::{Counts, Table};

pub use cats::{CAT_EXCLUDED, CAT_MALFORMED, CAT_N, CAT_NON_IP, CAT_TOTAL, CAT_UNTRACKED};

/// An interface we count on.
struct Iface {
    name: Arc<str>,
    ifindex: u32,
}

/// What is attached where; dropping it detaches.
enum Hook {
    Xdp(link::XdpLink),
    Egress(EgressLink),
}

struct Attached {
    iface: usize,
    hook: Hook,
}

impl Attached {
    fn dir(&self) -> Direction {
        match self.hook {
            Hook::Xdp(_) => Direction::Ingress,
            Hook::Egress(_) => Direction::Egress,
        }
    }
}

pub fn run(args: &XdpArgs) -> Result<(), Error> {
    let ifaces = resolve(&args.ifaces)?;
    crate::kernel::check_privileges(true)?;
    crate::kernel::raise_memlock();
    let dest = output::Dest::new(args.common.output.as_deref())?;
    let (ingress, egress) = (args.direction.ingress(), args.direction.egress());
    let mut obj = MaybeUninit::uninit();
    let (mut skel, flavour) = attach::load(
        &mut obj,
        &attach::Config {
            max_flows: args.max_flows,
            excludes: &args.exclude,
            flavour: args.flavour,
            ingress,
            egress,
        },
    )?;
    // The table is mapped before the first attach: counting starts with it.
    let mut table = Table::new(&mut skel.maps, args.idle_timeout, Instant::now())?;
    // Every hook, before counting starts; a failure drops (detaches) the ones before.
    let mut hooks = Vec::new();
    let mut generic = false;
    for (i, f) in ifaces.iter().enumerate() {
        if ingress {
            let link = link::attach(flavour.prog(&skel.progs), &f.name, f.ifindex, args.mode)?;
            diag::info(&format!(
                "xdp: attached to {} (ifindex {}) in {} mode",
                f.name,
                f.ifindex,
                link.mode.name()
            ));
            if let Some(why) = &link.native_refused {
                diag::warn(&format!(
                    "xdp: native mode refused on {}: {why}; using generic mode",
                    f.name
                ));
            }
            generic |= link.mode == link::Mode::Generic;
            hooks.push(Attached {
                iface: i,
                hook: Hook::Xdp(link),
            });
        }
        if egress {
            let prog = flavour.tc_prog(&skel.progs).as_fd();
            let link = EgressLink::attach(prog, &f.name, f.ifindex, args.egress_hook)?;
            diag::info(&format!(
                "xdp: egress: attached to {} (ifindex {}) with {}",
                f.name,
                f.ifindex,
                link.describe()
            ));
            if let Some(note) = link.note() {
                diag::info(&format!("xdp: {note}"));
            }
            hooks.push(Attached {
                iface: i,
                hook: Hook::Egress(link),
            });
        }
    }
    // After the attach, so that a refusal stays the one line on stderr.
    diag::info(&format!("xdp: {}", flavour.note()));
    if generic {
        diag::info(GENERIC_NOTE);
    }
    let pairs: Vec<Pair> = hooks
        .iter()
        .map(|h| Pair {
            ifindex: ifaces[h.iface].ifindex,
            dir: h.dir(),
        })
        .collect();
    table.register(&pairs)?;

    // Room for a whole interval of the table, so a snapshot is queued at once
    // and printed whole.
    let budget = interval_budget(args.max_flows, pairs.len());
    let (mut out, rx) = pipeline::channel_with_budget(budget);
    let writer = output::spawn_writer(rx, dest);
    let start = Instant::now();
    let names = ifaces.iter().map(|f| (f.ifindex, f.name.clone())).collect();
    let mut emitter = Emitter::new(names, pairs, start);
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
        if let Err(e) = hooks.iter().try_for_each(|h| still_attached(h, &ifaces)) {
            break Err(e);
        }
        if let Err(e) = emitter.interval(&mut table, &mut out, false) {
            break Err(e);
        }
        // After a stall, skip the ticks that were missed rather than bunch
        // them (interval_ns says how long the late one was).
        let now = Instant::now();
        while next <= now {
            next += args.interval;
        }
    };
    // From here on the stop deadline bounds every wait (also after an error).
    pipeline::request_shutdown();
    // Detach first: the final interval then has everything the programs saw.
    for h in hooks {
        match h.hook {
            Hook::Xdp(l) => l.detach(),
            Hook::Egress(l) => l.detach(),
        }
    }
    let last = emitter.interval(&mut table, &mut out, true);
    drop(table);
    let pending = out.finish();
    let written = output::finish(writer, pending);
    res.and(last).and(written)
}

/// The interfaces by name, each once, or the error naming the first missing one.
fn resolve(names: &[String]) -> Result<Vec<Iface>, Error> {
    let mut ifaces: Vec<Iface> = Vec::new();
    for n in names {
        if ifaces.iter().any(|f| &*f.name == n.as_str()) {
            return Err(Error::Usage(format!(
                "interface `{n}` is given twice; name each interface once"
            )));
        }
        let ifindex = attach::ifindex(n)?;
        ifaces.push(Iface {
            name: n.as_str().into(),
            ifindex,
        });
    }
    Ok(ifaces)
}

/// Said on stderr whenever generic mode is in effect (chosen, or auto's fallback).
pub const GENERIC_NOTE: &str = "xdp: note: generic mode sees packets as the \
    stack has them, after GRO (and unsegmented from a veth peer): a TCP stream counts as \
    fewer, larger packets (up to 64 KiB) than crossed the wire, without the merged segments' \
    headers in bytes; --mode native counts wire frames where the driver supports it";

/// An error once a program is no longer attached: the kernel detaches an XDP
/// or TCX link (leaving it defunct) when its interface is removed, and the
/// table would then print the same totals forever. (Down/up, a rename or a
/// move to another namespace keep the programs attached, and counting.)
fn still_attached(h: &Attached, ifaces: &[Iface]) -> Result<(), Error> {
    let Iface { name, ifindex } = &ifaces[h.iface];
    let (attached, what, how) = match &h.hook {
        Hook::Xdp(l) => (
            l.attached_ifindex()?.is_some(),
            "XDP program",
            "`bpftool link detach`",
        ),
        Hook::Egress(l) if l.kind() == "clsact" => {
            (l.still_attached()?, "egress filter", "`tc filter del`")
        }
        Hook::Egress(l) => (
            l.still_attached()?,
            "egress program",
            "`bpftool link detach`",
        ),
    };
    if attached {
        return Ok(());
    }
    Err(Error::Failure(if attach::ifindex_exists(*ifindex) {
        format!(
            "the {what} on {name} was detached by someone else (e.g. {how}); the last \
             xdp_stats above are final; run again to count again"
        )
    } else {
        format!(
            "interface {name} went away (deleted) and its {what} with it; the last \
             xdp_stats above are final; run again once {name} is back"
        )
    }))
}

/// Bytes of records one interval can produce: every flow moved, plus the
/// totals of each of `pairs` interfaces and directions.
pub fn interval_budget(max_flows: u32, pairs: usize) -> usize {
    (max_flows as usize + pairs.max(1)) * crate::record::FLOW_WEIGHT
}

/// Sends each interval's records: flows, then totals per interface and
/// direction, in the order they were attached, then any others the program
/// counted (an interface whose index changed).
pub struct Emitter {
    /// Interface names by index.
    names: Vec<(u32, Arc<str>)>,
    pairs: Vec<Pair>,
    /// When the last interval ended.
    last: Instant,
}

impl Emitter {
    /// `names`: (ifindex, name); `pairs`: the totals to print, in order;
    /// `start`: when counting started.
    pub fn new(names: Vec<(u32, Arc<str>)>, pairs: Vec<Pair>, start: Instant) -> Emitter {
        Emitter {
            names,
            pairs,
            last: start,
        }
    }

    fn name(&self, ifindex: u32) -> Arc<str> {
        match self.names.iter().find(|f| f.0 == ifindex) {
            Some(f) => f.1.clone(),
            // Counted under an index it got later (a move to another namespace).
            None => format!("ifindex {ifindex}").into(),
        }
    }

    /// Reads the table and sends what moved; `last` after detaching.
    pub fn interval(
        &mut self,
        table: &mut Table,
        out: &mut RecordSender,
        last: bool,
    ) -> Result<(), Error> {
        table.pass(Instant::now(), last);
        self.emit(table, out)
    }

    /// Sends the flows the last pass saw move, then the totals.
    pub fn emit(&mut self, table: &Table, out: &mut RecordSender) -> Result<(), Error> {
        let now = Instant::now();
        let interval_ns = now.saturating_duration_since(self.last).as_nanos() as u64;
        self.last = now;
        // The categories are read after the flows, so on a busy interface
        // the totals may be a little ahead of the flows, never behind; once
        // it is quiet they are exact.
        let counts = table.pair_counters()?;
        let ts = Timestamp::now();
        let mut name = (u32::MAX, self.name(u32::MAX));
        for d in table.deltas() {
            if name.0 != d.pair.ifindex {
                name = (d.pair.ifindex, self.name(d.pair.ifindex));
            }
            out.send_wait(Record::Flow(flow_record::flow_record(d, ts, &name.1)));
        }
        let others = counts.keys().filter(|p| !self.pairs.contains(p));
        let all: Vec<Pair> = self.pairs.iter().chain(others).copied().collect();
        for pair in all {
            let c = counts.get(&pair).copied().unwrap_or_default();
            out.send_wait(Record::XdpStats(XdpStatsRecord {
                timestamp: ts,
                iface: self.name(pair.ifindex),
                direction: pair.dir.name(),
                interval_ns,
                packets: c[CAT_TOTAL].0,
                bytes: c[CAT_TOTAL].1,
                flows: table.flows(pair),
                untracked_packets: c[CAT_UNTRACKED].0,
                untracked_bytes: c[CAT_UNTRACKED].1,
                excluded_packets: c[CAT_EXCLUDED].0,
                excluded_bytes: c[CAT_EXCLUDED].1,
                non_ip_packets: c[CAT_NON_IP].0,
                non_ip_bytes: c[CAT_NON_IP].1,
                malformed_packets: c[CAT_MALFORMED].0,
                malformed_bytes: c[CAT_MALFORMED].1,
            }));
        }
        out.flush();
        Ok(())
    }
}
