//! The exec storm's report: the table of medians, then the budgets
//! for our rows, each PASS or FAIL (reported only: the bench exits 0).

use ebpf_jsonl_testkit::stats::{median, stats};

use super::{Sample, Tracer};

/// Tracer CPU per exec event, against execsnoop's (at most).
const CPU_VS_EXECSNOOP: f64 = 0.25;
/// Peak RSS, MiB (at most).
const PEAK_RSS_MIB: f64 = 16.0;
/// In-kernel cost per exec, against execsnoop's (at most).
const KERNEL_VS_EXECSNOOP: f64 = 1.0;

fn of(samples: &[Sample], f: fn(&Sample) -> f64) -> Vec<f64> {
    samples.iter().map(f).filter(|v| !v.is_nan()).collect()
}

/// "median (min–max)", or "–" when no round could measure it.
fn spread(v: &[f64]) -> String {
    let (m, lo, hi) = stats(v);
    if m.is_nan() {
        return "–".into();
    }
    format!("{m:.2} ({lo:.2}–{hi:.2})")
}

fn ratio(ours: f64, theirs: Option<f64>) -> Option<f64> {
    theirs
        .filter(|t| *t > 0.0 && !ours.is_nan())
        .map(|t| ours / t)
}

fn verdict(value: Option<f64>, limit: f64, unit: &str) -> String {
    match value {
        Some(v) if !v.is_nan() => {
            let pass = if v <= limit { "PASS" } else { "FAIL" };
            format!("{v:.2}{unit} {pass}")
        }
        _ => "–".into(),
    }
}

pub fn print(tracers: &[Tracer], samples: &[Vec<Sample>], secs: f64, rounds: usize) {
    let med = |i: usize, f: fn(&Sample) -> f64| median(&of(&samples[i], f));
    let base_rate = med(0, |s| s.rate);
    let snoop = tracers.iter().position(|&t| t == Tracer::Execsnoop);
    let snoop = snoop.filter(|&i| !samples[i].is_empty());
    let snoop_cpu = snoop.map(|i| med(i, |s| s.cpu_per_event_us));
    let snoop_kernel = snoop.map(|i| med(i, |s| s.kernel_us_per_exec));
    println!(
        "\nExec storm: 2 workers, {secs}s per run, {rounds} interleaved rounds, medians ({} cores, Linux {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()
    );
    println!(
        "| tracer | execs/s | storm slowdown | lost | CPU/event (µs) | CPU/event vs execsnoop | peak RSS (MiB) | in-kernel/exec (µs), median (min–max) | in-kernel vs execsnoop |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut budgets = Vec::new();
    for (i, &t) in tracers.iter().enumerate() {
        if samples[i].is_empty() {
            continue;
        }
        let rate = med(i, |s| s.rate);
        let slowdown = base_rate / rate;
        if t == Tracer::None {
            println!(
                "| {} | {rate:.0} | 1.00 | – | – | – | – | – | – |",
                t.name()
            );
            continue;
        }
        let lost = med(i, |s| (s.execs - s.delivered) as f64);
        let cpu = med(i, |s| s.cpu_per_event_us);
        let rss = med(i, |s| s.peak_rss_kib as f64) / 1024.0;
        let kernel = of(&samples[i], |s| s.kernel_us_per_exec);
        let (cpu_vs, kernel_vs) = (ratio(cpu, snoop_cpu), ratio(median(&kernel), snoop_kernel));
        let show = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.2}"));
        println!(
            "| {} | {rate:.0} | {slowdown:.2} | {lost:.0} | {cpu:.2} | {} | {rss:.1} | {} | {} |",
            t.name(),
            show(cpu_vs),
            spread(&kernel),
            show(kernel_vs)
        );
        if t.is_ours() {
            budgets.push(format!(
                "| {} | {} | {} | {} |",
                t.name(),
                verdict(cpu_vs, CPU_VS_EXECSNOOP, "×"),
                verdict(Some(rss), PEAK_RSS_MIB, " MiB"),
                verdict(kernel_vs, KERNEL_VS_EXECSNOOP, "×")
            ));
        }
    }
    println!(
        "\nBudgets (issue 12; reported, not enforced; – where execsnoop or bpf_stats was missing)"
    );
    println!(
        "| tracer | CPU/event ≤ {CPU_VS_EXECSNOOP:.2}× execsnoop | peak RSS ≤ {PEAK_RSS_MIB:.0} MiB | in-kernel/exec ≤ {KERNEL_VS_EXECSNOOP:.2}× execsnoop |"
    );
    println!("|---|---|---|---|");
    for row in budgets {
        println!("{row}");
    }
    portable(tracers, samples);
}

/// The portable build against ours, round by round (the same storm, one after the other).
fn portable(tracers: &[Tracer], samples: &[Vec<Sample>]) {
    let at = |t| tracers.iter().position(|&x| x == t);
    let (Some(ours), Some(port)) = (at(Tracer::Ours), at(Tracer::Portable)) else {
        return;
    };
    let per_round = |f: fn(&Sample) -> f64| {
        let paired = samples[port].iter().filter_map(|p| {
            let o = samples[ours].iter().find(|o| o.round == p.round)?;
            Some(f(p) / f(o))
        });
        spread(&paired.collect::<Vec<_>>())
    };
    println!("\nPortable build / ours, per-round ratios, median (min–max)");
    println!("| CPU/event | storm execs/s | peak RSS |");
    println!("|---|---|---|");
    println!(
        "| {} | {} | {} |",
        per_round(|s| s.cpu_per_event_us),
        per_round(|s| s.rate),
        per_round(|s| s.peak_rss_kib as f64)
    );
}
