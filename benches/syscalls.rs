//! A syscall-heavy process under `ebpf-jsonl exec --failed`, for each tier of
//! failed-exec hooks that loads here, side by side with no tracer:
//! `dd if=/dev/zero of=/dev/null bs=1 count=N` (two syscalls per byte),
//! interleaved rounds, medians.
//!
//!   cargo bench --bench syscalls -- [--count 1000000] [--rounds 3]
//!
//! Reports per tracer: dd's wall time (and slowdown against no tracer), and
//! the BPF run time per syscall: Δ(run_time_ns of the tracer's programs, from
//! /proc/PID/fdinfo, kernel.bpf_stats_enabled set for the run and restored)
//! / (2 N). The budget: ≤ 5 ns per syscall where a per-syscall hook
//! (fexit or the syscall tracepoints) is available.

use std::process::{Command, Stdio};
use std::time::Instant;

use ebpf_jsonl_testkit::bpf_stats::{run_time, StatsEnabled};
use ebpf_jsonl_testkit::stats::median;
use ebpf_jsonl_testkit::{run_tool, Tracer};

const TIERS: [&str; 3] = ["fexit", "tracepoint", "raw"];
/// The budget per syscall of the tiers that hook only execve's.
const BUDGET_NS: f64 = 5.0;

struct Args {
    count: u64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        count: 1_000_000,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--count" => a.count = value(),
            "--rounds" => a.rounds = value() as usize,
            "--bench" => {}
            other => panic!("unknown flag {other}: use --count N, --rounds N"),
        }
    }
    a
}

/// dd's wall time in seconds.
fn dd(count: u64) -> f64 {
    let start = Instant::now();
    let st = Command::new("dd")
        .args([
            "if=/dev/zero",
            "of=/dev/null",
            "bs=1",
            &format!("count={count}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running dd");
    assert!(st.success(), "dd failed: {st}");
    start.elapsed().as_secs_f64()
}

/// The tiers `check` says load and attach here.
fn tiers_here() -> Vec<&'static str> {
    let (_, out, err) = run_tool(&["check"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("check: {e}: {out}{err}"));
    TIERS
        .into_iter()
        .filter(|t| {
            let ok = v["failed_hooks"][t]["attaches"] == true;
            if !ok {
                println!(
                    "--failed-hook {t}: unavailable here ({})",
                    v["failed_hooks"][t]["error"].as_str().unwrap_or("?")
                );
            }
            ok
        })
        .collect()
}

#[derive(Default)]
struct Samples {
    secs: Vec<f64>,
    ns_per_syscall: Vec<f64>,
}

fn main() {
    let a = args();
    let tiers = tiers_here();
    let _stats = StatsEnabled::enable().expect("setting kernel.bpf_stats_enabled (root?)");
    let mut untraced = Samples::default();
    let mut traced: Vec<Samples> = tiers.iter().map(|_| Samples::default()).collect();
    let syscalls = 2.0 * a.count as f64;
    for _ in 0..a.rounds {
        untraced.secs.push(dd(a.count));
        for (tier, s) in tiers.iter().zip(traced.iter_mut()) {
            let t = Tracer::start(&["exec", "--failed", "--failed-hook", tier]);
            let before = run_time(t.pid()).expect("reading the tracer's fdinfo");
            s.secs.push(dd(a.count));
            let d = run_time(t.pid()).expect("reading the tracer's fdinfo") - before;
            s.ns_per_syscall.push(d.ns as f64 / syscalls);
            t.stop_ok();
        }
    }
    let base = median(&untraced.secs);
    println!(
        "dd bs=1 count={} ({} syscalls), {} rounds, medians:",
        a.count, syscalls, a.rounds
    );
    println!(
        "{:<40} {:>8} {:>9} {:>18}",
        "tracer", "dd s", "slowdown", "BPF ns/syscall"
    );
    println!(
        "{:<40} {:>8.3} {:>9} {:>18}",
        "no tracer", base, "1.00", "-"
    );
    for (tier, s) in tiers.iter().zip(&traced) {
        let secs = median(&s.secs);
        let ns = median(&s.ns_per_syscall);
        println!(
            "{:<40} {:>8.3} {:>9.2} {:>18.2}",
            format!("exec --failed --failed-hook {tier}"),
            secs,
            secs / base,
            ns
        );
    }
    let cheap = tiers
        .iter()
        .zip(&traced)
        .find(|(t, _)| **t != "raw")
        .map(|(t, s)| (t, median(&s.ns_per_syscall)));
    match cheap {
        Some((t, ns)) => println!(
            "budget (≤ {BUDGET_NS} ns per syscall with a per-syscall hook): {} ({t}: {ns:.2} ns)",
            if ns <= BUDGET_NS { "PASS" } else { "FAIL" }
        ),
        None => println!("budget: no per-syscall hook (fexit, tracepoint) loads here"),
    }
}
