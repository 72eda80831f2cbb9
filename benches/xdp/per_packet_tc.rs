//! Per packet at egress (informational, no budget): the egress programs
//! (SCHED_CLS `tc_flows`, and its compat flavour) through BPF_PROG_TEST_RUN
//! on an skb of a 64-byte TCP/IPv4 frame, against the testkit's empty
//! SCHED_CLS program; rounds as for XDP, each the median of interleaved
//! runs; then a check that each counted every run in one egress flow.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use ebpf_jsonl::xdp::flavour::Flavour;
use ebpf_jsonl::xdp::skel::XdpSkel;
use ebpf_jsonl::xdp::{Direction, Table, CAT_TOTAL};
use ebpf_jsonl_testkit::frames;
use ebpf_jsonl_testkit::stats::{median, stats};
use libbpf_rs::ProgramMut;

use crate::args::Args;
use crate::programs::{load_baseline, load_flavour, run_expecting};

pub fn run(args: &Args) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = load_baseline(&mut bobj)?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = load_flavour(&mut obj, 65536, Flavour::Atomic)?;
    let mut cobj = MaybeUninit::uninit();
    let mut compat = load_flavour(&mut cobj, 65536, Flavour::Compat)?;
    // A packet this host sends: from its address and service port.
    let frame = frames::tcp4([10, 0, 0, 1], 443, [10, 0, 0, 2], 40001).0;
    let empty = &base.progs.tc_empty;
    // What the empty program returns (TC_ACT_UNSPEC) is what every egress
    // program must return: it only observes.
    let verdict = empty
        .test_run(libbpf_rs::ProgramInput {
            data_in: Some(&frame),
            repeat: 1,
            ..Default::default()
        })
        .map_err(|e| Error::Kernel(format!("BPF_PROG_TEST_RUN of a SCHED_CLS program: {e}")))?
        .return_value as i32;
    let names = ["empty", "ours (tc_flows)", "compat (tc_flows_compat)"];
    let progs: [&ProgramMut; 3] = [
        empty,
        Flavour::Atomic.tc_prog(&ours.progs),
        Flavour::Compat.tc_prog(&compat.progs),
    ];
    println!(
        "egress per packet (informational, no budget): BPF_PROG_TEST_RUN of the SCHED_CLS \
         programs on an skb of the 64-byte TCP/IPv4 frame, repeat {}; {} rounds, each the \
         median of {} interleaved runs; ns/packet, median [min..max] of the rounds; every \
         program returns {verdict} (TC_ACT_UNSPEC), as the empty one does",
        args.repeat, args.rounds, args.runs
    );
    let mut ns = vec![Vec::new(); progs.len()];
    for _ in 0..args.rounds {
        let mut runs = vec![Vec::new(); progs.len()];
        for run in 0..args.runs {
            for k in 0..progs.len() {
                let p = if run % 2 == 0 { k } else { progs.len() - 1 - k };
                let d = run_expecting(progs[p], &frame, args.repeat, verdict, "TC_ACT_UNSPEC")?;
                runs[p].push(d.as_nanos() as f64);
            }
        }
        for (p, r) in runs.iter().enumerate() {
            ns[p].push(median(r));
        }
    }
    for (p, (name, v)) in names.iter().zip(&ns).enumerate() {
        let (m, lo, hi) = stats(v);
        let over = if p == 0 {
            String::new()
        } else {
            let d: Vec<f64> = v.iter().zip(&ns[0]).map(|(x, e)| x - e).collect();
            let (dm, dlo, dhi) = stats(&d);
            format!("   - empty, per round: {dm:.0} ns [{dlo:.0}..{dhi:.0}]")
        };
        println!("  {name:<26} {m:>4.0} ns [{lo:.0}..{hi:.0}]{over}");
    }
    let runs = u64::from(args.rounds) * u64::from(args.runs) * u64::from(args.repeat);
    check("ours", &mut ours, runs)?;
    check("compat", &mut compat, runs)
}

/// Says whether `name`'s table holds `runs` packets in one egress flow.
fn check(name: &str, skel: &mut XdpSkel, runs: u64) -> Result<(), Error> {
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(3600), Instant::now())?;
    t.pass(Instant::now(), true);
    let c = t.counters()?;
    let per_flow: Vec<(u64, bool)> = t
        .deltas()
        .iter()
        .map(|d| (d.packets, d.pair.dir == Direction::Egress))
        .collect();
    let exact = per_flow == [(runs, true)] && c[CAT_TOTAL].0 == runs;
    println!(
        "  check: {name} counted {} packets in {} egress flow(s), {} in all, for {runs} runs{}",
        per_flow.first().map_or(0, |f| f.0),
        per_flow.iter().filter(|f| f.1).count(),
        c[CAT_TOTAL].0,
        if exact { " (exact)" } else { " (MISMATCH)" }
    );
    Ok(())
}
