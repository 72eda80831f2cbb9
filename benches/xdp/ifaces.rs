//! Many interfaces: the real binary on 4 veth pairs, one process for all 4
//! (one flow table) against 4 processes with one interface each (a table
//! each), `--interval 10ms`, 50 UDP flows towards the tool spread over the
//! pairs (and, with `--direction both`, 50 from it): total CPU, peak RSS and
//! the kernel memory of the BPF maps, side by side in interleaved rounds.

use ebpf_jsonl::error::Error;
use ebpf_jsonl_testkit::stats::stats;

use crate::args::Args;
use crate::drain_cost::{lateness, pass, FLOWS, LATE_MS, PERIOD};
use crate::measure::{self, Measured, Plan};
use crate::netlab::Lab;
use crate::tool;

const IFACES: usize = 4;
const MAX_FLOWS: u32 = 65536;

struct Config {
    name: String,
    procs: Vec<Vec<String>>,
    attached: usize,
}

fn args_for(ifaces: &[&str], max_flows: u32, both: bool) -> Vec<String> {
    let mut a = vec!["xdp".to_string()];
    a.extend(ifaces.iter().map(|s| s.to_string()));
    a.extend(["--interval", "10ms", "--max-flows"].map(String::from));
    a.push(max_flows.to_string());
    if both {
        a.extend(["--direction", "both"].map(String::from));
    }
    a
}

pub fn run(args: &Args) -> Result<(), Error> {
    let lab = Lab::new(IFACES)?;
    let ifs = lab.tool_ifs();
    let multi = tool::multi_iface();
    let dirs = if multi { 2 } else { 1 };
    let mut configs = vec![Config {
        name: format!("{IFACES} processes x 1 iface, --max-flows {MAX_FLOWS} each"),
        procs: ifs
            .iter()
            .map(|i| args_for(&[i], MAX_FLOWS, multi))
            .collect(),
        attached: dirs,
    }];
    if multi {
        for n in [MAX_FLOWS, MAX_FLOWS * IFACES as u32] {
            configs.push(Config {
                name: format!("1 process x {IFACES} ifaces, --max-flows {n}"),
                procs: vec![args_for(&ifs, n, true)],
                attached: IFACES * dirs,
            });
        }
    }
    println!(
        "many interfaces: {IFACES} veth pairs, `--interval 10ms`{}, {FLOWS} UDP flows x {} \
         datagrams/s towards the tool{} spread over the pairs; {:?} warm-up, CPU over {:?}; \
         {} interleaved rounds{}",
        if multi { " --direction both" } else { "" },
        1000 / PERIOD.as_millis(),
        if multi { " and as many from it" } else { "" },
        args.warmup,
        args.drain_time,
        args.drain_rounds,
        if multi {
            ""
        } else {
            "; this binary takes one interface and no --direction (before issue 13), so only \
             the one-process-per-interface configuration runs"
        }
    );
    let mut runs: Vec<Vec<Measured>> = configs.iter().map(|_| Vec::new()).collect();
    for round in 0..args.drain_rounds as usize {
        for k in 0..configs.len() {
            let c = if round % 2 == 0 {
                k
            } else {
                configs.len() - 1 - k
            };
            let plan = Plan {
                procs: configs[c].procs.clone(),
                attached: configs[c].attached,
                ingress: FLOWS,
                egress: if multi { FLOWS } else { 0 },
                period: PERIOD,
                warmup: args.warmup,
                window: args.drain_time,
            };
            runs[c].push(measure::run(&lab, &plan)?);
        }
    }
    println!(
        "  {:<44} {:>20} {:>14} {:>22} {:>16} {:>14}  counts",
        "configuration",
        "CPU, % of a core",
        "peak RSS, MiB",
        "kernel maps, MiB",
        "xdp_stats/s min",
        "late > 5 ms"
    );
    for (cfg, rs) in configs.iter().zip(&runs) {
        let cpu: Vec<f64> = rs.iter().map(|m| 100.0 * m.cpu_share()).collect();
        let (cm, clo, chi) = stats(&cpu);
        let rss = stats(
            &rs.iter()
                .map(|m| m.peak_rss_kib as f64 / 1024.0)
                .collect::<Vec<_>>(),
        )
        .0;
        let maps = rs[0].map_bytes as f64 / 1048576.0;
        let (entries, value) = rs[0].table;
        let rate = rs
            .iter()
            .map(|m| m.stats_per_s().1)
            .fold(f64::INFINITY, f64::min);
        let late: usize = rs.iter().map(|m| lateness(m).1).sum();
        let total: usize = rs.iter().map(|m| lateness(m).2).sum();
        let bad = rs.iter().map(Measured::exact).find(|(ok, _)| !ok);
        println!(
            "  {:<44} {:>20} {:>14.1} {:>22} {:>16.0} {:>14}  {}",
            cfg.name,
            format!("{cm:.1} [{clo:.1}..{chi:.1}]"),
            rss,
            format!("{maps:.1} (table {entries}x{value} B)"),
            rate,
            format!("{late}/{total}"),
            bad.map_or("exact".into(), |(_, w)| format!("MISMATCH: {w}"))
        );
    }
    let (mut rl, mut rt) = (0, 0);
    for m in runs.iter().flatten() {
        let (n, t, _) = m.reference_late(LATE_MS);
        (rl, rt) = (rl + n, rt + t);
    }
    println!(
        "  reference: a 10 ms sleeper in the bench woke > {LATE_MS} ms late {rl} / {rt} times \
         over the same runs"
    );
    println!(
        "  (CPU and peak RSS are summed over the processes; kernel maps = the memlock the \
         kernel charges for every BPF map the processes hold, /proc/PID/fdinfo; table = the \
         largest map, max_entries x value_size of one process; late = intervals covering \
         more than --interval + {LATE_MS} ms)"
    );
    if multi {
        println!(
            "  CPU(1 process) / CPU({IFACES} processes) at the same --max-flows per process: \
             {} (per round); every run exact: {}",
            measure::cpu_ratio(&runs[1], &runs[0]),
            pass(runs.iter().flatten().all(|m| m.exact().0))
        );
    }
    Ok(())
}
