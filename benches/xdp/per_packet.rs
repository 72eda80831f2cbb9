//! Per packet: the kernel's ns/packet through BPF_PROG_TEST_RUN for the
//! empty program, the seed's design and ours (both flavours), on three
//! 64-byte frames.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use ebpf_jsonl::xdp::flavour::Flavour;
use ebpf_jsonl::xdp::skel::XdpSkel;
use ebpf_jsonl::xdp::{Table, CAT_TOTAL};
use ebpf_jsonl_testkit::frames::{self, Frame, ICMP, UDP};
use ebpf_jsonl_testkit::stats::{median, stats};
use libbpf_rs::ProgramMut;

use crate::args::Args;
use crate::programs::{load_baseline, load_flavour, load_ours, run_once};

/// Ethernet + IPv6 + UDP + 2 bytes of payload: 64 bytes.
fn udp6_frame() -> Vec<u8> {
    Frame::eth(0x86dd)
        .ip6(UDP, "fd00::2", "fd00::1")
        .udp(40002, 53, b"xx")
        .0
}

/// Ethernet + IPv4 + ICMP echo request + 22 bytes of payload: 64 bytes.
fn icmp4_frame() -> Vec<u8> {
    Frame::eth(0x0800)
        .ip4(ICMP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .bytes(&[8, 0, 0, 0, 0x12, 0x34, 0, 1])
        .bytes(&[b'x'; 22])
        .0
}

/// A test frame, and whether the seed's design counts it.
struct TestFrame {
    name: &'static str,
    bytes: Vec<u8>,
    seed_counts: bool,
}

pub fn run(args: &Args) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = load_baseline(&mut bobj)?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = load_ours(&mut obj, 65536)?;
    let mut cobj = MaybeUninit::uninit();
    let mut compat = load_flavour(&mut cobj, 65536, Flavour::Compat)?;
    let frames = [
        TestFrame {
            name: "TCP/IPv4",
            bytes: frames::tcp4([10, 0, 0, 2], 40001, [10, 0, 0, 1], 443).0,
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
    let progs: [&ProgramMut; 4] = [
        &base.progs.xdp_empty,
        &base.progs.xdp_seed,
        &ours.progs.xdp_flows,
        &compat.progs.xdp_flows_compat,
    ];
    println!(
        "per packet: BPF_PROG_TEST_RUN, 64-byte frames, repeat {}; {} rounds, each the median \
         of {} interleaved runs of every program; the kernel's ns/packet, median [min..max] \
         of the rounds",
        args.repeat, args.rounds, args.runs
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
    println!(
        "  compat: ours for kernels before 5.12 (no 64-bit atomic fetch/cmpxchg): \
         a new flow claims its slot under a spin lock"
    );
    let ns = measure_rounds(&progs, &frames, args)?;
    let cell = |v: &[f64]| {
        let (m, lo, hi) = stats(v);
        format!("{m:.0} [{lo:.0}..{hi:.0}]")
    };
    println!(
        "  {:<15} {:>14} {:>14} {:>14} {:>14} {:>11} {:>13} {:>11}",
        "frame", "empty", "seed", "ours", "compat", "ours-empty", "compat-empty", "seed-empty"
    );
    for (frame, v) in frames.iter().zip(&ns) {
        let med: Vec<f64> = v.iter().map(|r| stats(r).0).collect();
        println!(
            "  {:<15} {:>14} {:>14} {:>14} {:>14} {:>11.0} {:>13.0} {:>11.0}{}",
            frame.name,
            cell(&v[0]),
            cell(&v[1]),
            cell(&v[2]),
            cell(&v[3]),
            med[2] - med[0],
            med[3] - med[0],
            med[1] - med[0],
            if frame.seed_counts { "" } else { "  (*)" }
        );
    }
    println!(
        "  (*) the seed's design understands only TCP and UDP over IPv4 (and counts TCP): \
         on UDP/IPv6 and ICMP it parses, finds nothing it counts and returns XDP_PASS \
         without touching its map, so seed-empty is just that parse and there is no \
         counting of its to compare with; ours counts these packets in their flows."
    );
    for (frame, v) in frames.iter().zip(&ns) {
        if frame.seed_counts {
            budget(frame.name, "ours", &v[0], &v[1], &v[2]);
            budget(frame.name, "compat", &v[0], &v[1], &v[3]);
        }
    }

    // Both flavours counted every one of those runs, each frame in its flow.
    let runs = u64::from(args.rounds) * u64::from(args.runs) * u64::from(args.repeat);
    check("ours", &mut ours, runs, frames.len())?;
    check("compat", &mut compat, runs, frames.len())?;
    Ok(())
}

/// ns[frame][program][round]: each round, for each frame, `args.runs` runs
/// of every program, every other run in reverse order (so that a drift of
/// the machine within the round weighs on each program alike); a round's
/// figure for a program is the median of its runs.
fn measure_rounds(
    progs: &[&ProgramMut],
    frames: &[TestFrame],
    args: &Args,
) -> Result<Vec<Vec<Vec<f64>>>, Error> {
    let mut ns = vec![vec![Vec::new(); progs.len()]; frames.len()];
    for _ in 0..args.rounds {
        for (f, frame) in frames.iter().enumerate() {
            let mut runs = vec![Vec::new(); progs.len()];
            for run in 0..args.runs {
                for k in 0..progs.len() {
                    let p = if run % 2 == 0 { k } else { progs.len() - 1 - k };
                    let d = run_once(progs[p], &frame.bytes, args.repeat)?;
                    runs[p].push(d.as_nanos() as f64);
                }
            }
            for (p, r) in runs.iter().enumerate() {
                ns[f][p].push(median(r));
            }
        }
    }
    Ok(ns)
}

/// Each round's (prog − empty) / (seed − empty) from the round's medians,
/// their median and spread, and the budget: at most 0.5 in every
/// round.
fn budget(frame: &str, name: &str, empty: &[f64], seed: &[f64], prog: &[f64]) {
    let per_round: Vec<f64> = (0..empty.len())
        .map(|r| (prog[r] - empty[r]) / (seed[r] - empty[r]))
        .collect();
    let (m, lo, hi) = stats(&per_round);
    let list: Vec<String> = per_round.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "  {frame} ({name} - empty) / (seed - empty) per round: {}; median {m:.2}, \
         spread [{lo:.2}..{hi:.2}]",
        list.join(" ")
    );
    let (worst, w) = per_round
        .iter()
        .enumerate()
        .fold((0, f64::MIN), |a, (r, &x)| if x > a.1 { (r, x) } else { a });
    println!(
        "  budget: ({name} - empty) <= 0.5 x (seed - empty) in every round: {} (worst round \
         {}: {w:.2})",
        if w <= 0.5 { "PASS" } else { "FAIL" },
        worst + 1
    );
}

/// Says whether `name`'s table holds `runs` packets in each of `frames` flows.
fn check(name: &str, skel: &mut XdpSkel, runs: u64, frames: usize) -> Result<(), Error> {
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(3600), Instant::now())?;
    let flows = t.pass(Instant::now(), true);
    let c = t.counters()?;
    let per_flow: Vec<u64> = t.deltas().iter().map(|d| d.packets).collect();
    let exact = per_flow.len() == frames
        && per_flow.iter().all(|&p| p == runs)
        && c[CAT_TOTAL].0 == runs * frames as u64;
    println!(
        "  check: {name} counted {per_flow:?} packets in {flows} flows, {} in all, for {runs} \
         runs of each frame{}",
        c[CAT_TOTAL].0,
        if exact { " (exact)" } else { " (MISMATCH)" }
    );
    Ok(())
}
