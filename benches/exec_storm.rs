//! Exec storm, side by side in one run: two workers fork+exec `/bin/true
//! MARKER` flat out while a tracer is attached; interleaved rounds, medians.
//!
//!   cargo bench --bench exec_storm -- [--seconds 5] [--rounds 3] [--portable PATH]
//!
//! Reports per tracer: execs/s of the storm (and slowdown against no tracer),
//! events delivered and lost, tracer CPU per event (all threads, from
//! /proc/PID/task/*/schedstat), peak RSS (VmHWM), and the in-kernel cost
//! per exec: the run time of the tracer's own BPF programs over the storm
//! (kernel.bpf_stats_enabled, set for the run and restored after), divided by
//! the storm's execs. Then the budgets for ours, PASS/FAIL (reported:
//! the bench exits 0 either way). Peers: libbpf-tools'
//! execsnoop and a bpftrace one-liner, when installed (`./dev.sh bench`
//! installs them); both need tracefs, which this mounts if it is missing.
//! `--portable PATH` adds `PATH exec` (the portable build, `./dev.sh build-portable`)
//! to every round, and the report gives its per-round ratios against ours.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl_testkit::bpf_stats::{run_time, StatsEnabled};
use ebpf_jsonl_testkit::procfs::{cpu_ns, status_kib};
use ebpf_jsonl_testkit::BIN as OURS;

#[path = "exec_storm/report.rs"]
mod report;

#[derive(Clone, Copy, PartialEq)]
enum Tracer {
    None,
    Ours,
    OursExits,
    OursFailed,
    OursExitsFailed,
    /// `--portable PATH exec`
    Portable,
    Execsnoop,
    Bpftrace,
}

impl Tracer {
    fn name(self) -> &'static str {
        match self {
            Tracer::None => "no tracer",
            Tracer::Ours => "ebpf-jsonl exec",
            Tracer::OursExits => "ebpf-jsonl exec --exits",
            Tracer::OursFailed => "ebpf-jsonl exec --failed",
            Tracer::OursExitsFailed => "ebpf-jsonl exec --exits --failed",
            Tracer::Portable => "ebpf-jsonl exec (portable build)",
            Tracer::Execsnoop => "execsnoop (libbpf-tools)",
            Tracer::Bpftrace => "bpftrace -f json",
        }
    }

    fn command(self) -> Option<Command> {
        let mut c = match self {
            Tracer::None => return None,
            Tracer::Ours => {
                let mut c = Command::new(OURS);
                c.arg("exec");
                c
            }
            Tracer::OursExits => {
                let mut c = Command::new(OURS);
                c.args(["exec", "--exits"]);
                c
            }
            Tracer::OursFailed => {
                let mut c = Command::new(OURS);
                c.args(["exec", "--failed"]);
                c
            }
            Tracer::OursExitsFailed => {
                let mut c = Command::new(OURS);
                c.args(["exec", "--exits", "--failed"]);
                c
            }
            Tracer::Portable => {
                let mut c = Command::new(PORTABLE.get().expect("--portable PATH"));
                c.arg("exec");
                c
            }
            Tracer::Execsnoop => Command::new("/usr/sbin/execsnoop"),
            Tracer::Bpftrace => {
                let mut c = Command::new("bpftrace");
                c.args([
                    "-f",
                    "json",
                    "-e",
                    "tracepoint:syscalls:sys_enter_execve { printf(\"%d %s \", pid, comm); join(args->argv); }",
                ]);
                c
            }
        };
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Some(c)
    }

    fn is_ours(self) -> bool {
        matches!(
            self,
            Tracer::Ours
                | Tracer::OursExits
                | Tracer::OursFailed
                | Tracer::OursExitsFailed
                | Tracer::Portable
        )
    }

    /// A line on stdout or stderr saying the tracer is ready.
    fn ready(self, line: &str) -> bool {
        match self {
            _ if self.is_ours() => line.contains("attached"),
            // execsnoop's stdout is block-buffered in a pipe: its header
            // may not show until much later, so it is given time instead.
            Tracer::Execsnoop => true,
            Tracer::Bpftrace => line.contains("Attaching") || line.contains("attached_probes"),
            _ => true,
        }
    }
}

/// The portable build's path (`--portable PATH`).
static PORTABLE: OnceLock<String> = OnceLock::new();

#[derive(Default, Clone, Copy)]
struct Sample {
    rate: f64,
    execs: u64,
    delivered: u64,
    cpu_per_event_us: f64,
    peak_rss_kib: u64,
    /// The tracer's BPF programs' run time over the storm per exec; NaN
    /// when it could not be read (no stats, or no program fd in the tracer).
    kernel_us_per_exec: f64,
    /// Which round it was measured in.
    round: usize,
}

fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(&pid.to_string(), "VmHWM:").unwrap_or(0)
}

/// Two workers, each spawning and reaping `/bin/true MARKER` until `secs` pass.
fn storm(marker: &str, secs: f64) -> (u64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, count, m) = (stop.clone(), count.clone(), marker.to_string());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ok = Command::new("/bin/true")
                        .arg(&m)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok();
                    if ok {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let n = count.load(Ordering::Relaxed);
    (n, n as f64 / started.elapsed().as_secs_f64())
}

fn run_one(tracer: Tracer, secs: f64, round: usize) -> Option<Sample> {
    let marker = format!("storm-{}-{round}-{}", std::process::id(), tracer as u8);
    let Some(mut cmd) = tracer.command() else {
        let (execs, rate) = storm(&marker, secs);
        return Some(Sample {
            rate,
            execs,
            round,
            ..Default::default()
        });
    };
    let mut child: Child = cmd.spawn().ok()?;
    let pid = child.id();
    let (ready_tx, ready_rx) = mpsc::channel();
    // Count delivered events on stdout; watch both streams for readiness.
    let delivered = Arc::new(AtomicU64::new(0));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (d, m, rt) = (delivered.clone(), marker.clone(), ready_tx.clone());
    let reader = thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, out);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let s = String::from_utf8_lossy(&line);
            if tracer.ready(&s) {
                let _ = rt.send(());
            }
            if s.contains(&m) {
                d.fetch_add(1, Ordering::Relaxed);
            }
            line.clear();
        }
    });
    thread::spawn(move || {
        let mut r = BufReader::new(err);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            if tracer.ready(&line) {
                let _ = ready_tx.send(());
            }
            line.clear();
        }
    });
    if tracer == Tracer::Execsnoop {
        thread::sleep(Duration::from_secs(2));
    }
    if tracer != Tracer::Execsnoop && ready_rx.recv_timeout(Duration::from_secs(30)).is_err()
        || child.try_wait().ok().flatten().is_some()
    {
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("bench: {} did not start; skipped", tracer.name());
        return None;
    }
    thread::sleep(Duration::from_millis(300));
    let cpu0 = cpu_ns(pid);
    let bpf0 = run_time(pid).ok();
    let (execs, rate) = storm(&marker, secs);
    let bpf = bpf0.and_then(|b0| Some(run_time(pid).ok()? - b0));
    // Let the tracer drain, then read its cost before it exits.
    thread::sleep(Duration::from_millis(1000));
    let cpu = cpu_ns(pid).saturating_sub(cpu0);
    let peak = peak_rss_kib(pid);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let _ = child.wait();
    let _ = reader.join();
    let delivered = delivered.load(Ordering::Relaxed).min(execs);
    Some(Sample {
        rate,
        execs,
        delivered,
        cpu_per_event_us: cpu as f64 / 1000.0 / delivered.max(1) as f64,
        peak_rss_kib: peak,
        kernel_us_per_exec: match bpf {
            Some(b) if b.count > 0 => b.ns as f64 / 1000.0 / execs.max(1) as f64,
            _ => f64::NAN,
        },
        round,
    })
}

fn ensure_tracefs() {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("tracefs"));
    if !mounted {
        let ok = Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status()
            .is_ok_and(|s| s.success());
        eprintln!(
            "bench: tracefs was not mounted; mounting it at /sys/kernel/tracing for the peers: {}",
            if ok { "done" } else { "failed" }
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str, default: f64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = get("--seconds", 5.0);
    let rounds = get("--rounds", 3.0) as usize;
    let portable = args.iter().position(|a| a == "--portable");
    if let Some(path) = portable.and_then(|i| args.get(i + 1)) {
        PORTABLE.set(path.clone()).expect("set once");
    }
    ensure_tracefs();

    let exits = Command::new(OURS)
        .args(["exec", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--exits"));
    let mut tracers = vec![Tracer::None, Tracer::Ours];
    if exits {
        tracers.push(Tracer::OursExits);
        // Hooks every syscall: its cost shows in the storm's slowdown.
        tracers.push(Tracer::OursFailed);
        tracers.push(Tracer::OursExitsFailed);
    }
    if PORTABLE.get().is_some() {
        tracers.push(Tracer::Portable);
    }
    if std::path::Path::new("/usr/sbin/execsnoop").exists() {
        tracers.push(Tracer::Execsnoop);
    }
    if Command::new("bpftrace").arg("--version").output().is_ok() {
        tracers.push(Tracer::Bpftrace);
    }

    // Restored when this guard drops, also if a round panics.
    let stats = StatsEnabled::enable()
        .map_err(|e| {
            eprintln!("bench: cannot set kernel.bpf_stats_enabled ({e}): no in-kernel column")
        })
        .ok();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tracers.len()];
    for round in 0..rounds {
        for (i, &t) in tracers.iter().enumerate() {
            if let Some(s) = run_one(t, secs, round) {
                eprintln!(
                    "bench: round {} {:<34} {:>7.0} execs/s  delivered {}/{}  {:.1} µs/event  {} KiB  in-kernel {:.2} µs/exec",
                    round + 1,
                    t.name(),
                    s.rate,
                    s.delivered,
                    s.execs,
                    s.cpu_per_event_us,
                    s.peak_rss_kib,
                    s.kernel_us_per_exec
                );
                samples[i].push(s);
            }
        }
    }
    drop(stats);
    report::print(&tracers, &samples, secs, rounds);
}
