//! `ebpf-jsonl exec`: one record per successful execve/execveat.

mod attach;
pub mod decode;

#[allow(
    clippy::all,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_imports
)]
pub mod skel {
    include!(concat!(env!("OUT_DIR"), "/exec.skel.rs"));
}

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, MapFlags, RingBufferBuilder};

use crate::cli::ExecArgs;
use crate::clock::BootClock;
use crate::error::Error;
use crate::output;
use crate::pipeline::{self, RecordSender};
use crate::record::{LostReason, Record};
use decode::ArgvLimits;

pub fn run(args: &ExecArgs) -> Result<(), Error> {
    crate::kernel::check_privileges(false)?;
    crate::kernel::raise_memlock();
    let mut objs = [MaybeUninit::uninit(), MaybeUninit::uninit()];
    let att = attach::load_and_attach(
        &mut objs,
        attach::Config {
            argv_cap: args.max_argv_bytes,
            ringbuf_size: args.ringbuf_size,
        },
    )?;
    let limits = ArgvLimits {
        max_args: args.max_args,
    };

    let (tx, rx) = pipeline::channel();
    let writer = output::spawn_writer(rx);
    let tx = RefCell::new(tx);
    let clock = RefCell::new(BootClock::new());

    let mut rb = RingBufferBuilder::new();
    rb.add(&att.skel.maps.events, |data: &[u8]| {
        if let Some(rec) = decode::decode(data, &clock.borrow(), limits) {
            tx.borrow_mut().send(Record::Exec(rec));
        }
        0
    })
    .map_err(|e| Error::Failure(format!("opening the ring buffer: {e}")))?;
    let rb = rb
        .build()
        .map_err(|e| Error::Failure(format!("opening the ring buffer: {e}")))?;
    eprintln!("ebpf-jsonl: exec: attached {}", att.hook.name());

    let deadline = args.common.duration.map(|d| Instant::now() + d);
    let mut drops = KernelDrops::default();
    let mut last_sync = Instant::now();
    let mut busy = false;
    loop {
        // Short polls while events flow (the kernel wakes us once per burst),
        // long ones when idle; both check the shutdown flag often.
        let timeout = Duration::from_millis(if busy { 10 } else { 100 });
        let _ = rb.poll(timeout);
        let n = rb.consume_raw();
        busy = n > 0;
        drops.report(&att.skel.maps.drops, &mut tx.borrow_mut());
        tx.borrow_mut().flush();
        if pipeline::shutting_down() || deadline.is_some_and(|d| Instant::now() >= d) {
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
    tx.into_inner().finish();
    output::finish(writer)
}

/// Reads the kernel's per-CPU drop counter and reports what is new.
#[derive(Default)]
struct KernelDrops {
    reported: u64,
}

impl KernelDrops {
    fn report(&mut self, map: &dyn MapCore, tx: &mut RecordSender) {
        let Ok(Some(per_cpu)) = map.lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY) else {
            return;
        };
        let total: u64 = per_cpu
            .iter()
            .filter_map(|v| {
                v.get(..8)
                    .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
            })
            .sum();
        if total > self.reported {
            tx.note_lost(LostReason::RingbufFull, total - self.reported);
            self.reported = total;
        }
    }
}
