//! `sudo ebpf-jsonl xdp-bench` (hidden): what the xdp program costs, side by
//! side in one run with an empty XDP_PASS program and the seed tutorial's
//! design (bpf/bench_xdp.bpf.c):
//! - per packet through BPF_PROG_TEST_RUN, on a 64-byte TCP/IPv4, UDP/IPv6 and
//!   ICMP echo (IPv4) frame;
//! - on a real path: packets per second received through a veth pair between
//!   two namespaces it creates, flooded from the peer (see veth.rs), native
//!   and generic;
//! - what draining a full flow table costs per interval.
//!
//! Interleaved rounds, medians. Absolute numbers drift on shared machines:
//! compare within a run.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, ProgramInput, ProgramMut};

use super::attach::{self, Config};
use super::veth;
use super::{interval_budget, Table};
use crate::cli::{XdpBenchArgs, XdpMode};
use crate::error::Error;
use crate::kernel;
use crate::pipeline;

bpf_skel!(baseline, "bench_xdp.skel.rs");

const ETH_SRC_DST: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

/// Ethernet + IPv4 (no options) + TCP (ACK) + 10 bytes of payload: 64 bytes.
pub fn tcp4_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&ETH_SRC_DST);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x04, 0, 0, 0, 0, 0]);
    f.resize(64, b'x');
    f
}

/// Ethernet + IPv6 + UDP + 2 bytes of payload: 64 bytes.
pub fn udp6_frame() -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&ETH_SRC_DST);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 10, 17, 64]);
    f.extend_from_slice(&std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
    f.extend_from_slice(&std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
    f.extend_from_slice(&40002u16.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&[0, 10, 0, 0]);
    f.resize(64, b'x');
    f
}

/// Ethernet + IPv4 + ICMP echo request + 22 bytes of payload: 64 bytes.
pub fn icmp4_frame() -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&ETH_SRC_DST);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 1, 0, 0]);
    f.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
    f.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
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

/// Median, min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    let m = median(&mut s);
    (m, s[0], s[s.len() - 1])
}

/// Keeps the measuring thread on the CPU it is on, so every program is
/// measured on the same one (threads it starts inherit this).
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
        let veth = if args.no_veth {
            ""
        } else {
            "; the veth sender and receive path run there too"
        };
        println!("(measuring on CPU {cpu}{veth})");
    }
    per_packet(args)?;
    drain(args)?;
    if !args.no_veth {
        on_veth(args)?;
    }
    Ok(())
}

fn load_baseline(
    obj: &mut MaybeUninit<libbpf_rs::OpenObject>,
) -> Result<baseline::BenchXdpSkel<'_>, Error> {
    baseline::BenchXdpSkelBuilder::default()
        .open(obj)
        .and_then(|o| o.load())
        .map_err(|e| kernel::bpf_error("loading the baseline programs", &e))
}

/// A test frame, and whether the seed's design counts it.
struct TestFrame {
    name: &'static str,
    bytes: Vec<u8>,
    seed_counts: bool,
}

fn per_packet(args: &XdpBenchArgs) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = load_baseline(&mut bobj)?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = attach::load(
        &mut obj,
        &Config {
            max_flows: 65536,
            excludes: &[],
        },
    )?;
    let frames = [
        TestFrame {
            name: "TCP/IPv4",
            bytes: tcp4_frame([10, 0, 0, 2], 40001, [10, 0, 0, 1], 443),
            seed_counts: true,
        },
        TestFrame {
            name: "UDP/IPv6",
            bytes: udp6_frame(),
            seed_counts: false,
        },
        TestFrame {
            name: "ICMP echo/IPv4",
            bytes: icmp4_frame(),
            seed_counts: false,
        },
    ];
    let progs: [&ProgramMut; 3] = [
        &base.progs.xdp_empty,
        &base.progs.xdp_seed,
        &ours.progs.xdp_flows,
    ];
    println!(
        "per packet: BPF_PROG_TEST_RUN, 64-byte frames, repeat {}, {} interleaved rounds; \
         the kernel's ns/packet, median [min..max]",
        args.repeat, args.rounds
    );
    println!("  empty: an XDP_PASS program");
    println!(
        "  seed:  the seed tutorial's design: LRU_HASH keyed by IPv4 source, source and \
         destination port (u64); lookup, then update or atomic add"
    );
    println!(
        "  ours:  every packet in its flow (IPv4/IPv6, ports, ICMP type) or a category; \
         the table holds every flow"
    );
    // ns[frame][program][round]
    let mut ns = vec![vec![Vec::new(); progs.len()]; frames.len()];
    for round in 0..args.rounds {
        for (f, frame) in frames.iter().enumerate() {
            // Every other round backwards, so that a drift of the machine
            // within a round weighs on each program alike.
            for k in 0..progs.len() {
                let p = if round % 2 == 0 {
                    k
                } else {
                    progs.len() - 1 - k
                };
                ns[f][p].push(run_once(progs[p], &frame.bytes, args.repeat)?.as_nanos() as f64);
            }
        }
    }
    let cell = |v: &[f64]| {
        let (m, lo, hi) = stats(v);
        format!("{m:.0} [{lo:.0}..{hi:.0}]")
    };
    println!(
        "  {:<15} {:>14} {:>14} {:>14} {:>11} {:>11}  (ours-empty)/(seed-empty)",
        "frame", "empty", "seed", "ours", "ours-empty", "seed-empty"
    );
    let mut skipped = false;
    for (frame, v) in frames.iter().zip(&ns) {
        let med: Vec<f64> = v.iter().map(|r| stats(r).0).collect();
        let ratio = if frame.seed_counts {
            // Each round's three runs are back to back, so their ratio is
            // the least disturbed by the machine's own drift.
            let per_round: Vec<f64> = (0..v[0].len())
                .map(|r| (v[2][r] - v[0][r]) / (v[1][r] - v[0][r]))
                .collect();
            let (m, lo, hi) = stats(&per_round);
            format!(
                "{m:.2} [{lo:.2}..{hi:.2}] (per-round ratios; {:.2} of the medians)",
                (med[2] - med[0]) / (med[1] - med[0])
            )
        } else {
            skipped = true;
            "n/a: the seed skips this frame (*)".into()
        };
        println!(
            "  {:<15} {:>14} {:>14} {:>14} {:>11.0} {:>11.0}  {ratio}",
            frame.name,
            cell(&v[0]),
            cell(&v[1]),
            cell(&v[2]),
            med[2] - med[0],
            med[1] - med[0],
        );
    }
    if skipped {
        println!(
            "  (*) the seed's design understands only TCP and UDP over IPv4 (and counts TCP): \
             on UDP/IPv6 and ICMP it parses, finds nothing it counts and returns XDP_PASS \
             without touching its map, so seed-empty is just that parse and there is no \
             counting of its to compare with; ours counts these packets in their flows."
        );
    }

    // Ours counted every one of those runs, each frame in its flow.
    let runs = u64::from(args.rounds) * u64::from(args.repeat);
    let mut t = Table::new(&mut ours.maps, Duration::from_secs(3600), Instant::now())?;
    let flows = t.pass(Instant::now(), true);
    let c = t.counters()?;
    let per_flow: Vec<u64> = t.deltas().iter().map(|d| d.packets).collect();
    let exact = per_flow.len() == frames.len()
        && per_flow.iter().all(|&p| p == runs)
        && c[super::CAT_TOTAL].0 == runs * frames.len() as u64;
    println!(
        "  check: ours counted {per_flow:?} packets in {flows} flows, {} in all, for {runs} \
         runs of each frame{}",
        c[super::CAT_TOTAL].0,
        if exact { " (exact)" } else { " (MISMATCH)" }
    );
    Ok(())
}

/// Packets per second received through a veth pair: no program, the seed's
/// design and ours, native and generic. The flood runs throughout; the seed's
/// program and ours are measured back to back on one attachment, the link
/// switched from one to the other, so that the machine's drift (large here)
/// falls between rounds rather than between the two.
fn on_veth(args: &XdpBenchArgs) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = load_baseline(&mut bobj)?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = attach::load(
        &mut obj,
        &Config {
            max_flows: 65536,
            excludes: &[],
        },
    )?;
    let mut table = Table::new(&mut ours.maps, Duration::from_secs(3600), Instant::now())?;
    let (seed, flows) = (&base.progs.xdp_seed, &ours.progs.xdp_flows);
    let pair = veth::Pair::new()?;
    let frames = Arc::new(veth::flood_frames());
    let d = args.veth_time;
    println!(
        "veth: 64-byte TCP/IPv4 frames ({} flows) flooded by an AF_PACKET sender (sendmmsg) \
         from namespace {} through a veth pair into {}, addressed to another host's MAC, \
         so the stack drops each one right after XDP; received = rx_packets of the \
         receiving end, counted for {:?} per measurement, {} interleaved rounds; seed and \
         ours back to back on one attachment (the link switched between them), in turn first",
        veth::FLOWS,
        pair.ns_b,
        pair.ns_a,
        d,
        args.veth_rounds
    );
    let modes = [XdpMode::Native, XdpMode::Generic];
    let settle = Duration::from_millis(200);
    // pps[0] none; pps[1 + m] seed, pps[3 + m] ours, for mode m.
    let mut pps = vec![Vec::new(); 5];
    let (mut sent, mut got) = (0.0, 0.0);
    let flood = veth::Flood::start(&pair, &frames);
    veth::sleep(Duration::from_millis(300))?;
    for round in 0..args.veth_rounds as usize {
        let rev = round % 2 == 1;
        let mut steps: Vec<Option<usize>> = vec![None, Some(0), Some(1)];
        if rev {
            steps.reverse();
        }
        for step in steps {
            let Some(m) = step else {
                let (r, s) = veth::measure(&pair, &flood, d)?;
                pps[0].push(r);
                (got, sent) = (got + r, sent + s);
                continue;
            };
            let (first, second) = if rev { (3, 1) } else { (1, 3) };
            let prog = |i: usize| if i == 1 { seed } else { flows };
            let link = veth::attach_to(&pair, prog(first), modes[m])?;
            veth::sleep(settle)?;
            let (r, s) = veth::measure(&pair, &flood, d)?;
            pps[first + m].push(r);
            (got, sent) = (got + r, sent + s);
            link.update(prog(second))?;
            veth::sleep(settle / 4)?;
            let (r, s) = veth::measure(&pair, &flood, d)?;
            pps[second + m].push(r);
            (got, sent) = (got + r, sent + s);
            link.detach();
            veth::sleep(settle)?;
        }
    }
    flood.stop()?;
    let cell = |v: &[f64]| {
        let (m, lo, hi) = stats(v);
        format!("{:.0} [{:.0}..{:.0}]", m / 1e3, lo / 1e3, hi / 1e3)
    };
    println!(
        "  {:<9} {:>24} {:>24}   (thousand packets/s received, median [min..max])",
        "program", "native", "generic"
    );
    for (name, n, g) in [("none", 0, 0), ("seed", 1, 2), ("ours", 3, 4)] {
        println!("  {name:<9} {:>24} {:>24}", cell(&pps[n]), cell(&pps[g]));
    }
    // Ratios within each round, then their median.
    let ratio = |a: usize, b: usize| {
        let v: Vec<f64> = pps[a].iter().zip(&pps[b]).map(|(x, y)| x / y).collect();
        let (m, lo, hi) = stats(&v);
        format!("{m:.3} [{lo:.2}..{hi:.2}]")
    };
    println!(
        "  {:<9} {:>24} {:>24}   (median [min..max] of per-round ratios)",
        "ours/seed",
        ratio(3, 1),
        ratio(4, 2)
    );
    println!(
        "  {:<9} {:>24} {:>24}",
        "ours/none",
        ratio(3, 0),
        ratio(4, 0)
    );
    println!(
        "  (none is one measurement, shown in both columns: without a program veth takes \
         the netif_rx path; native XDP switches it to its NAPI ring. The sender shares the \
         CPU with the receive path, so a costlier path shows as fewer packets sent; \
         {:.2}% of what was sent was not received.)",
        (100.0 * (1.0 - got / sent)).max(0.0)
    );
    // Ours alone, with the flood started and stopped while it is attached:
    // it counted every packet the interface received.
    let mut check = Vec::new();
    for mode in modes {
        check.push(veth::exact_run(&pair, &frames, flows, mode, &mut table, d)?);
    }
    println!(
        "  check: ours counted {} of the {} packets received while it was attached alone in \
         native mode, {} of {} in generic mode{}",
        check[0].0,
        check[0].1,
        check[1].0,
        check[1].1,
        if check.iter().all(|(a, b)| a == b) {
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
fn timed_interval(t: &mut Table, flows: u32) -> Result<Timing, Error> {
    let (mut out, rx) = pipeline::channel_with_budget(interval_budget(flows));
    let writer = std::thread::spawn(move || {
        let cpu = thread_cpu();
        crate::output::write_all(rx, io::sink()).map(|_| thread_cpu() - cpu)
    });
    let iface: Arc<str> = "bench0".into();
    let (start, cpu) = (Instant::now(), thread_cpu());
    let flows = t.pass(Instant::now(), false);
    let read = start.elapsed();
    t.emit(&iface, &mut out, flows)?;
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
        rows.push(timed_interval(&mut t, n)?);
    }
    let idle: Vec<_> = (0..3)
        .map(|_| timed_interval(&mut t, n))
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
