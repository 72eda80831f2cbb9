//! `ebpf-jsonl exec`: one record per execve/execveat (and, on request, per
//! failed exec and per process exit).

pub(crate) mod attach;
pub(crate) mod cgroup;
pub mod decode;
pub mod failed_hook;
pub(crate) mod names;
pub mod reader;
pub mod skel;

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, RingBufferBuilder};

use crate::cli::ExecArgs;
use crate::clock::BootClock;
use crate::diag;
use crate::error::Error;
use crate::output;
use crate::pipeline::{self, RecordSender};
use crate::record::{ExecId, LostReason, Record};
use decode::ArgvLimits;

pub fn run(args: &ExecArgs) -> Result<(), Error> {
    let cgroups = args
        .cgroup
        .iter()
        .map(|c| cgroup::open_cgroup(c).map_err(|e| Error::Usage(format!("--cgroup: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if cgroups.len() > skel::MAX_CGROUP_FILTERS {
        return Err(Error::Usage(format!(
            "--cgroup: at most {} cgroups",
            skel::MAX_CGROUP_FILTERS
        )));
    }
    crate::kernel::check_privileges(false)?;
    crate::kernel::raise_memlock();
    let dest = output::Dest::new(args.common.output.as_deref())?;
    let cfg = attach::Config {
        argv_cap: args.max_argv_bytes,
        max_args: args.max_args,
        ringbuf_size: args.ringbuf_size,
        exits: args.exits,
        failed: args.failed,
        failed_hook: args.failed_hook,
        uids: args.uid.clone(),
        euids: args.euid.clone(),
        pids: args.pid.clone(),
        comms: args.comm.clone(),
        cgroups,
        table_size: args.table_size,
        argv_reader: reader::choose(args.argv_reader)?,
    };
    let mut objs = [const { MaybeUninit::uninit() }; attach::SLOTS];
    let mut att = attach::load_and_attach(&mut objs, &cfg)?;

    // SAFETY: bss_data is the mmap of the loaded object's .bss, alive as long
    // as the skeleton; cgroup_epoch is an aligned u32 the BPF side only reads.
    let cgroup_epoch = att
        .skel
        .maps
        .bss_data
        .as_deref_mut()
        .map(|b| unsafe { AtomicU32::from_ptr(&mut b.cgroup_epoch) });

    let (tx, rx) = pipeline::channel();
    let writer = output::spawn_writer(rx, dest);
    let tx = RefCell::new(tx);
    let clock = RefCell::new(BootClock::new());
    let mut shaper = Shaper {
        limits: ArgvLimits {
            max_args: args.max_args,
        },
        cgroups: cgroup::Resolver::new(),
        cgroup_epoch,
        matches: args.matches.clone(),
        matched: HashMap::new(),
        exits: args.exits,
    };

    let mut rb = RingBufferBuilder::new();
    rb.add(&att.skel.maps.events, |data: &[u8]| {
        match shaper.shape(data, &clock.borrow()) {
            Ok(Some(rec)) => tx.borrow_mut().send(rec),
            Ok(None) => {}
            Err(Malformed) => tx.borrow_mut().note_lost(LostReason::Malformed, 1),
        }
        0
    })
    .map_err(|e| Error::Failure(format!("opening the ring buffer: {e}")))?;
    let rb = rb
        .build()
        .map_err(|e| Error::Failure(format!("opening the ring buffer: {e}")))?;
    diag::info(&format!("exec: attached {}", att.hooks.join(", ")));

    let deadline = args.common.duration.map(|d| Instant::now() + d);
    let mut drops = KernelDrops::default();
    let mut last_sync = Instant::now();
    let mut busy = false;
    loop {
        // The kernel wakes us for the first event after a quiet spell; while
        // events flow, we collect them every 50 ms (or when 256 KiB wait).
        let timeout = Duration::from_millis(if busy { 50 } else { 100 });
        let _ = rb.poll(timeout);
        busy = rb.consume_raw() > 0;
        drops.report(&att.skel.maps.drops, &mut tx.borrow_mut());
        tx.borrow_mut().flush();
        if pipeline::shutting_down() || deadline.is_some_and(|d| Instant::now() >= d) {
            // From here on the stop deadline bounds every wait.
            pipeline::request_shutdown();
            break;
        }
        if last_sync.elapsed() >= Duration::from_secs(1) {
            clock.borrow_mut().resync();
            last_sync = Instant::now();
        }
    }
    // Drain what the kernel still holds, then report the final loss counts.
    let _ = rb.consume();
    drops.report(&att.skel.maps.drops, &mut tx.borrow_mut());
    drop(rb);
    let pending = tx.into_inner().finish();
    output::finish(writer, pending)
}

/// An event that did not decode (counted as lost, `malformed`).
struct Malformed;

/// Raw event → the record to print (or none): decode, the userspace filter,
/// and the cgroup path and container id.
struct Shaper<'a> {
    limits: ArgvLimits,
    cgroups: cgroup::Resolver,
    /// The kernel's `cgroup_epoch`, kept at the resolver's.
    cgroup_epoch: Option<&'a AtomicU32>,
    matches: Option<regex::Regex>,
    /// With --match and --exits: the exec each live matched process runs.
    matched: HashMap<u32, ExecId>,
    exits: bool,
}

impl Shaper<'_> {
    fn shape(&mut self, data: &[u8], clock: &BootClock) -> Result<Option<Record>, Malformed> {
        let mut rec = decode::decode(data, clock, self.limits).ok_or(Malformed)?;
        match &mut rec {
            Record::Exec(e) => {
                // Even for a record filtered out below: the kernel sends a
                // cgroup's names only once.
                let r = self.cgroups.resolve(e.cgroup_id, decode::trailer(data));
                if let Some(ep) = self.cgroup_epoch {
                    if ep.load(Ordering::Relaxed) != self.cgroups.epoch() {
                        ep.store(self.cgroups.epoch(), Ordering::Relaxed);
                    }
                }
                e.cgroup = r.path;
                e.container_id = r.container_id;
                if let Some(re) = &self.matches {
                    let joined = e
                        .text
                        .args()
                        .iter()
                        .map(String::from_utf8_lossy)
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !re.is_match(&joined) {
                        if e.ret == 0 {
                            self.matched.remove(&e.pid);
                        }
                        return Ok(None);
                    }
                    if self.exits && e.ret == 0 {
                        self.matched.insert(e.pid, e.exec_id);
                    }
                }
            }
            Record::Exit(x)
                if self.matches.is_some() && self.matched.remove(&x.pid) != Some(x.exec_id) =>
            {
                return Ok(None);
            }
            _ => {}
        }
        Ok(Some(rec))
    }
}

/// The kernel's per-CPU drop counters, slot by slot as bpf/exec.h's enum
/// drop_slot numbers them (DROP_RINGBUF, DROP_INFLIGHT, DROP_PIDS, DROP_EXITS,
/// DROP_EXEC_TIMES).
const KERNEL_DROPS: [LostReason; skel::DROP_SLOTS] = [
    LostReason::RingbufFull,
    LostReason::InflightFull,
    LostReason::PidsFull,
    LostReason::ExitsFull,
    LostReason::ExecTimesFull,
];

/// Reads the kernel's per-CPU drop counters and reports what is new.
#[derive(Default)]
struct KernelDrops {
    reported: [u64; KERNEL_DROPS.len()],
}

impl KernelDrops {
    fn report(&mut self, map: &dyn MapCore, tx: &mut RecordSender) {
        for (slot, reason) in KERNEL_DROPS.iter().enumerate() {
            let Ok(Some([total])) = crate::kernel::sum_percpu::<1>(map, slot as u32) else {
                continue;
            };
            if total > self.reported[slot] {
                tx.note_lost(*reason, total - self.reported[slot]);
                self.reported[slot] = total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_that_does_not_decode_is_counted_as_malformed() {
        let mut shaper = Shaper {
            limits: ArgvLimits { max_args: 128 },
            cgroups: cgroup::Resolver::new(),
            cgroup_epoch: None,
            matches: None,
            matched: HashMap::new(),
            exits: false,
        };
        let clock = BootClock::new();
        assert!(shaper.shape(&[1, 2, 3], &clock).is_err(), "too short");
        let mut unknown_kind = vec![0u8; std::mem::size_of::<skel::types::exec_hdr>()];
        unknown_kind[std::mem::offset_of!(skel::types::exec_hdr, kind)] = 9;
        assert!(shaper.shape(&unknown_kind, &clock).is_err(), "unknown kind");
    }
}
