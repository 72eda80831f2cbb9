//! The drain: what one interval costs with a full flow table, through the
//! real pipeline (records serialised to a sink), and the memory it takes.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use ebpf_jsonl::xdp::{
    interval_budget, Direction, Emitter, Pair, Table, CAT_UNTRACKED, SEEN_BYTES,
};
use ebpf_jsonl::{output, pipeline};
use ebpf_jsonl_testkit::frames;
use ebpf_jsonl_testkit::procfs::status_kib;
use ebpf_jsonl_testkit::stats::median;
use libbpf_rs::MapCore;

use crate::args::Args;
use crate::programs::{load_ours, run_once};

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// This process's `VmRSS:` or `VmHWM:`, in KiB (0 if unreadable).
fn rss_kib(field: &str) -> u64 {
    status_kib("self", field).unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One interval's timings: reading the table (wall), then building and
/// queueing the records (wall), the reader's CPU for both, the writer's CPU,
/// and the records printed.
struct Timing {
    read: Duration,
    emit: Duration,
    cpu: Duration,
    writer_cpu: Duration,
    records: usize,
}

/// One interval through the real pipeline, printed to a sink.
fn timed_interval(t: &mut Table, flows: u32) -> Result<Timing, Error> {
    let (mut out, rx) = pipeline::channel_with_budget(interval_budget(flows, 1));
    let writer = std::thread::spawn(move || {
        let cpu = thread_cpu();
        output::write_all(rx, io::sink()).map(|_| thread_cpu() - cpu)
    });
    // BPF_PROG_TEST_RUN runs XDP programs on the loopback device.
    let lo = Pair {
        ifindex: 1,
        dir: Direction::Ingress,
    };
    let iface: Arc<str> = "bench0".into();
    let mut e = Emitter::new(vec![(lo.ifindex, iface)], vec![lo], Instant::now());
    let (start, cpu) = (Instant::now(), thread_cpu());
    t.pass(Instant::now(), false);
    let read = start.elapsed();
    e.emit(t, &mut out)?;
    let (emit, cpu) = (start.elapsed() - read, thread_cpu() - cpu);
    let records = t.deltas().len() + 1;
    out.finish();
    let writer_cpu = writer
        .join()
        .map_err(|_| Error::Failure("writer thread failed".into()))?
        .map_err(|e| Error::Failure(format!("writing: {e}")))?;
    Ok(Timing {
        read,
        emit,
        cpu,
        writer_cpu,
        records,
    })
}

pub fn run(args: &Args) -> Result<(), Error> {
    let n = args.flows;
    let mut obj = MaybeUninit::uninit();
    let mut skel = load_ours(&mut obj, n)?;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            frames::tcp4([10, a, b, c], 1024 + (i % 50000) as u16, [10, 0, 0, 1], 443).0
        })
        .collect();
    let prog = &skel.progs.xdp_flows;
    let fill = || -> Result<(), Error> {
        for f in &frames {
            run_once(prog, f, 1)?;
        }
        Ok(())
    };
    fill()?;
    let slots = skel.maps.flows.max_entries();
    let value = skel.maps.flows.value_size();
    let rss_before = rss_kib("VmRSS:");
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(3600), Instant::now())?;
    println!(
        "drain: {n} flows in a table of {slots} slots, one interval through the real \
         pipeline (records serialised to a sink)"
    );
    let mut rows = Vec::new();
    for round in 0..6 {
        if round > 0 {
            fill()?; // every flow moves again
        }
        rows.push(timed_interval(&mut t, n)?);
    }
    let idle: Vec<_> = (0..3)
        .map(|_| timed_interval(&mut t, n))
        .collect::<Result<_, _>>()?;
    let show = |label: &str, r: &[Timing]| {
        let med = |f: fn(&Timing) -> Duration| {
            let v: Vec<f64> = r.iter().map(|x| ms(f(x))).collect();
            median(&v)
        };
        println!(
            "  {label:<16} read {:>6.2} ms, records {:>6.2} ms (reader CPU {:>6.2} ms); \
             writer CPU {:>6.2} ms; {} records (medians of {})",
            med(|x| x.read),
            med(|x| x.emit),
            med(|x| x.cpu),
            med(|x| x.writer_cpu),
            r[0].records,
            r.len()
        );
    };
    show("all flows moved", &rows);
    show("nothing moved", &idle);
    println!(
        "  memory: kernel table {:.1} MiB ({slots} x {value} B), userspace state \
         {:.1} MiB ({n} tracked slots), RSS {} KiB after the table was mapped and read (was {rss_before} KiB), \
         peak {} KiB",
        f64::from(slots) * f64::from(value) / 1048576.0,
        f64::from(n) * SEEN_BYTES as f64 / 1048576.0,
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
    let c = t.counters()?;
    let f = t.pass(Instant::now(), true);
    println!(
        "  check: {f} flows tracked, {} untracked packets",
        c[CAT_UNTRACKED].0
    );
    Ok(())
}
