//! Per packet at egress (informational, no budget): the egress programs
//! (SCHED_CLS) through BPF_PROG_TEST_RUN on an skb of the 64-byte TCP/IPv4
//! frame, against the testkit's empty SCHED_CLS program; rounds as for XDP,
//! each the median of interleaved runs.

use ebpf_jsonl::error::Error;
use ebpf_jsonl_testkit::frames;
use ebpf_jsonl_testkit::stats::{median, stats};
use libbpf_rs::ProgramMut;

use crate::args::Args;
use crate::programs::run_expecting;

/// Measures `progs` (the first is the empty one), named `names`; prints a row
/// each.
pub fn run(args: &Args, names: &[&str], progs: &[&ProgramMut]) -> Result<(), Error> {
    let frame = frames::tcp4([10, 0, 0, 1], 443, [10, 0, 0, 2], 40001).0;
    // What the empty program returns (TC_ACT_UNSPEC) is what every egress
    // program must return: it only observes.
    let verdict = progs[0]
        .test_run(libbpf_rs::ProgramInput {
            data_in: Some(&frame),
            repeat: 1,
            ..Default::default()
        })
        .map_err(|e| Error::Kernel(format!("BPF_PROG_TEST_RUN of a SCHED_CLS program: {e}")))?
        .return_value as i32;
    println!(
        "egress per packet (informational, no budget): BPF_PROG_TEST_RUN of SCHED_CLS programs \
         on an skb of the 64-byte TCP/IPv4 frame (from this host), repeat {}; {} rounds, each \
         the median of {} interleaved runs; ns/packet, median [min..max] of the rounds; every \
         program returns {verdict} (TC_ACT_UNSPEC) as the empty one does",
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
    let empty = stats(&ns[0]).0;
    for (name, v) in names.iter().zip(&ns) {
        let (m, lo, hi) = stats(v);
        let over: Vec<f64> = v.iter().zip(&ns[0]).map(|(x, e)| x - e).collect();
        let (om, olo, ohi) = stats(&over);
        println!(
            "  {name:<28} {m:>4.0} ns [{lo:.0}..{hi:.0}]{}",
            if v.as_ptr() == ns[0].as_ptr() {
                String::new()
            } else {
                format!(
                    "   - empty: {om:.0} ns per round [{olo:.0}..{ohi:.0}] (of medians: {:.0})",
                    m - empty
                )
            }
        );
    }
    Ok(())
}
