//! `sudo ebpf-jsonl xdp-bench` (hidden): what the xdp program costs per
//! packet through BPF_PROG_TEST_RUN on a 64-byte TCP/IPv4 frame, side by side
//! in one run with an empty XDP_PASS program and the seed tutorial's design
//! (bpf/bench_xdp.bpf.c); then what draining a full flow table costs per
//! interval. Absolute numbers drift on shared machines: compare within a run.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, ProgramInput, ProgramMut};

use super::attach::{self, Config};
use super::{Paced, Table};
use crate::cli::XdpBenchArgs;
use crate::error::Error;
use crate::kernel;
use crate::pipeline;

#[allow(
    clippy::all,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_imports
)]
mod baseline {
    include!(concat!(env!("OUT_DIR"), "/bench_xdp.skel.rs"));
}

/// Ethernet + IPv4 (no options) + TCP (ACK) + 10 bytes of payload: 64 bytes.
pub fn tcp4_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x04, 0, 0, 0, 0, 0]);
    f.resize(64, b'x');
    f
}

fn run_once(prog: &ProgramMut, frame: &[u8], repeat: u32) -> Result<Duration, Error> {
    let out = prog
        .test_run(ProgramInput {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        })
        .map_err(|e| Error::Kernel(format!("BPF_PROG_TEST_RUN: {e}")))?;
    if out.return_value != 2 {
        return Err(Error::Failure(format!(
            "the program returned {} instead of XDP_PASS",
            out.return_value
        )));
    }
    Ok(out.duration)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Keeps the measuring thread on the CPU it is on, so every program is
/// measured on the same one.
fn pin_to_current_cpu() -> Option<i32> {
    // SAFETY: plain calls with a valid cpu_set_t.
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return None;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        (libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0).then_some(cpu)
    }
}

pub fn run(args: &XdpBenchArgs) -> Result<(), Error> {
    kernel::check_privileges(true)?;
    kernel::raise_memlock();
    if let Some(cpu) = pin_to_current_cpu() {
        println!("(measuring on CPU {cpu})");
    }
    per_packet(args)?;
    drain(args)
}

fn per_packet(args: &XdpBenchArgs) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = baseline::BenchXdpSkelBuilder::default()
        .open(&mut bobj)
        .and_then(|o| o.load())
        .map_err(|e| kernel::bpf_error("loading the baseline programs", &e))?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = attach::load(
        &mut obj,
        &Config {
            max_flows: 65536,
            excludes: &[],
        },
    )?;
    let frame = tcp4_frame([10, 0, 0, 2], 40001, [10, 0, 0, 1], 443);
    let progs: [(&str, &ProgramMut); 3] = [
        ("empty XDP_PASS", &base.progs.xdp_empty),
        (
            "seed: LRU_HASH u64 key, lookup + atomic add",
            &base.progs.xdp_seed,
        ),
        (
            "ours: every packet, flows + categories",
            &ours.progs.xdp_flows,
        ),
    ];
    println!(
        "per packet, BPF_PROG_TEST_RUN, 64-byte TCP/IPv4 frame, repeat {}, {} interleaved rounds \
         (median [min..max] of the kernel's ns/packet)",
        args.repeat, args.rounds
    );
    let mut ns = vec![Vec::new(); progs.len()];
    for _ in 0..args.rounds {
        for (i, (_, p)) in progs.iter().enumerate() {
            ns[i].push(run_once(p, &frame, args.repeat)?.as_nanos() as f64);
        }
    }
    let raw = ns.clone();
    let mut med = Vec::new();
    for ((name, _), v) in progs.iter().zip(ns.iter_mut()) {
        let m = median(v);
        println!(
            "  {name:<48} {m:>5.0} ns  [{:.0}..{:.0}]",
            v[0],
            v[v.len() - 1]
        );
        med.push((m, v[0]));
    }
    let ratio = |a: f64, e: f64, s: f64| (a - e) / (s - e);
    // Each round's three runs are back to back, so their ratio is the
    // least disturbed by the machine's own drift.
    let mut per_round: Vec<f64> = (0..ns[0].len())
        .map(|r| ratio(raw[2][r], raw[0][r], raw[1][r]))
        .collect();
    println!(
        "  overhead over empty, ours/seed: {:.2} (median of per-round ratios), \
         {:.2} (of medians), {:.2} (of minimums)",
        median(&mut per_round),
        ratio(med[2].0, med[0].0, med[1].0),
        ratio(med[2].1, med[0].1, med[1].1)
    );

    // Ours counted every one of those runs, in one flow.
    let runs = u64::from(args.rounds) * u64::from(args.repeat);
    let mut t = Table::new(&mut ours.maps, Duration::from_secs(3600), Instant::now())?;
    let flows = t.pass(Instant::now(), true);
    let c = t.counters()?;
    let counted: u64 = t.deltas().iter().map(|d| d.packets).sum();
    println!(
        "  ours counted {counted} packets in {flows} flow(s), total {}, for {runs} runs{}",
        c[super::CAT_TOTAL].0,
        if counted == runs && c[super::CAT_TOTAL].0 == runs {
            " (exact)"
        } else {
            " (MISMATCH)"
        }
    );
    Ok(())
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
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
fn timed_interval(t: &mut Table) -> Result<Timing, Error> {
    let (tx, rx) = pipeline::channel();
    let queue = rx.rx.clone();
    let writer = std::thread::spawn(move || {
        let cpu = thread_cpu();
        crate::output::write_all(rx, io::sink()).map(|_| thread_cpu() - cpu)
    });
    let iface: Arc<str> = "bench0".into();
    let mut out = Paced {
        tx,
        queue,
        writer: &writer,
    };
    let (start, cpu) = (Instant::now(), thread_cpu());
    let flows = t.pass(Instant::now(), false);
    let read = start.elapsed();
    t.emit(&iface, &mut out, flows)?;
    let (emit, cpu) = (start.elapsed() - read, thread_cpu() - cpu);
    let records = t.deltas().len() + 1;
    out.tx.finish();
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

fn drain(args: &XdpBenchArgs) -> Result<(), Error> {
    let n = args.flows;
    let mut obj = MaybeUninit::uninit();
    let mut skel = attach::load(
        &mut obj,
        &Config {
            max_flows: n,
            excludes: &[],
        },
    )?;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            tcp4_frame([10, a, b, c], 1024 + (i % 50000) as u16, [10, 0, 0, 1], 443)
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
        rows.push(timed_interval(&mut t)?);
    }
    let idle: Vec<_> = (0..3)
        .map(|_| timed_interval(&mut t))
        .collect::<Result<_, _>>()?;
    let show = |label: &str, r: &[Timing]| {
        let med = |f: fn(&Timing) -> Duration| {
            let mut v: Vec<f64> = r.iter().map(|x| ms(f(x))).collect();
            median(&mut v)
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
        "  memory: kernel table {:.1} MiB ({slots} x {value} B), userspace per-slot state \
         {:.1} MiB, RSS {} KiB after the table was mapped and read (was {rss_before} KiB), \
         peak {} KiB",
        f64::from(slots) * f64::from(value) / 1048576.0,
        f64::from(slots) * super::drain::SEEN_BYTES as f64 / 1048576.0,
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
    let c = t.counters()?;
    let f = t.pass(Instant::now(), true);
    println!(
        "  check: {f} flows tracked, {} untracked packets",
        c[super::CAT_UNTRACKED].0
    );
    Ok(())
}
