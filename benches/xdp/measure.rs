//! One measured run of the real binary on the lab (netlab.rs), for the
//! drain-cost and many-interface benches: the tool process(es) started and
//! attached, steady UDP flows sent through the pairs, CPU taken over a steady
//! window after a warm-up, then everything stopped and what was printed read
//! back: xdp_stats delivered, how late each interval ran, and whether every
//! flow was counted exactly as sent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use serde_json::Value;

use crate::netlab::{Lab, Sender};
use crate::tool::{self, Output, Tool};

pub struct Plan {
    /// One argument list per process (each after `ebpf-jsonl`).
    pub procs: Vec<Vec<String>>,
    /// `attached` lines each process prints.
    pub attached: usize,
    /// Flows towards the tool, and from it (0 unless counted: egress).
    pub ingress: usize,
    pub egress: usize,
    pub period: Duration,
    pub warmup: Duration,
    pub window: Duration,
}

pub struct Measured {
    /// Every process's CPU over the window, summed.
    pub cpu: Duration,
    pub window: Duration,
    pub window_start: Instant,
    pub window_end: Instant,
    /// Sum over the processes of their peak RSS.
    pub peak_rss_kib: u64,
    /// Sum over the processes' BPF maps of what the kernel charges (memlock).
    pub map_bytes: u64,
    /// The largest map: (max_entries, value_size) — the flow table.
    pub table: (u64, u64),
    pub outputs: Vec<Output>,
    /// (flow, datagrams sent, egress?)
    pub sent: Vec<((SocketAddr, SocketAddr), u64, bool)>,
    /// How late each wake-up of the bench's own 10 ms reference loop was
    /// (ns), over the same run: the lateness the machine imposes on any
    /// thread that sleeps to a tick.
    pub reference_late_ns: Vec<i64>,
}

impl Measured {
    /// The reference loop's wake-ups more than `ms` late, and the worst (ms).
    pub fn reference_late(&self, ms: i64) -> (usize, usize, f64) {
        let r = &self.reference_late_ns;
        let n = r.iter().filter(|&&l| l > ms * 1_000_000).count();
        let worst = r.iter().copied().max().unwrap_or(0) as f64 / 1e6;
        (n, r.len(), worst)
    }

    pub fn cpu_share(&self) -> f64 {
        self.cpu.as_secs_f64() / self.window.as_secs_f64()
    }

    fn records(&self) -> impl Iterator<Item = &(Instant, Value)> {
        self.outputs.iter().flat_map(|o| &o.records)
    }

    fn stats(&self) -> impl Iterator<Item = &(Instant, Value)> {
        self.records().filter(|(_, v)| v["type"] == "xdp_stats")
    }

    /// xdp_stats records that arrived within the window, per second, per
    /// (iface, direction) stream: (median over streams, min).
    pub fn stats_per_s(&self) -> (f64, f64) {
        let mut n: BTreeMap<String, usize> = BTreeMap::new();
        for (t, v) in self.stats() {
            if *t >= self.window_start && *t <= self.window_end {
                *n.entry(stream(v)).or_default() += 1;
            }
        }
        let s = self.window.as_secs_f64();
        let v: Vec<f64> = n.values().map(|&c| c as f64 / s).collect();
        let (m, lo, _) = ebpf_jsonl_testkit::stats::stats(&v);
        (m, lo)
    }

    /// The length of every scheduled interval, ns, per stream:
    /// `interval_ns` where the records carry it (issue 13), else the deltas
    /// of their timestamps; and which of the two it is. The final interval,
    /// printed on exit (SIGINT), is left out: it is not scheduled, and it
    /// covers the detaching (an RCU grace period or more) as well.
    pub fn intervals(&self) -> (Vec<i64>, &'static str) {
        let mut by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for (_, v) in self.stats() {
            by.entry(stream(v)).or_default().push(v);
        }
        for recs in by.values_mut() {
            recs.pop();
        }
        let has = self.stats().any(|(_, v)| v.get("interval_ns").is_some());
        let mut out = Vec::new();
        for recs in by.values() {
            if has {
                out.extend(recs.iter().filter_map(|v| v["interval_ns"].as_i64()));
            } else {
                let ts: Vec<i64> = recs.iter().filter_map(|v| ns_of_day(v)).collect();
                out.extend(
                    ts.windows(2)
                        .map(|w| (w[1] - w[0]).rem_euclid(86_400_000_000_000)),
                );
            }
        }
        (
            out,
            if has {
                "interval_ns"
            } else {
                "timestamp deltas"
            },
        )
    }

    /// Each stream's first interval (attach → first pass), ns.
    pub fn first_intervals(&self) -> Vec<i64> {
        let mut first: BTreeMap<String, i64> = BTreeMap::new();
        for (_, v) in self.stats() {
            if let Some(ns) = v["interval_ns"].as_i64() {
                first.entry(stream(v)).or_insert(ns);
            }
        }
        first.into_values().collect()
    }

    /// Every flow counted exactly as sent, and conservation per stream
    /// (flow packets + categories == the last xdp_stats' packets): (ok, why not).
    pub fn exact(&self) -> (bool, String) {
        let mut counted: BTreeMap<(String, u64, bool), u64> = BTreeMap::new();
        let mut flow_sum: BTreeMap<String, u64> = BTreeMap::new();
        for (_, v) in self.records().filter(|(_, v)| v["type"] == "flow") {
            let p = v["packets"].as_u64().unwrap_or(0);
            *flow_sum.entry(stream(v)).or_default() += p;
            let key = (
                v["src_ip"].as_str().unwrap_or("").to_string(),
                v["src_port"].as_u64().unwrap_or(0),
                v["direction"] == "egress",
            );
            *counted.entry(key).or_default() += p;
        }
        let mut bad = Vec::new();
        for ((from, _), sent, egress) in &self.sent {
            let key = (from.ip().to_string(), u64::from(from.port()), *egress);
            let got = counted.get(&key).copied().unwrap_or(0);
            if got != *sent {
                bad.push(format!("{from}: sent {sent}, counted {got}"));
            }
        }
        let mut last: BTreeMap<String, &Value> = BTreeMap::new();
        for (_, v) in self.stats() {
            last.insert(stream(v), v);
        }
        for (s, v) in &last {
            let cats: u64 = ["untracked", "excluded", "non_ip", "malformed"]
                .iter()
                .map(|c| v[format!("{c}_packets")].as_u64().unwrap_or(0))
                .sum();
            let total = v["packets"].as_u64().unwrap_or(0);
            let flows = flow_sum.get(s).copied().unwrap_or(0);
            if flows + cats != total {
                bad.push(format!("{s}: flows {flows} + categories {cats} != {total}"));
            }
        }
        let ok = bad.is_empty();
        bad.truncate(3);
        (ok, bad.join("; "))
    }
}

/// Per round, a's CPU over b's: "median [min..max]".
pub fn cpu_ratio(a: &[Measured], b: &[Measured]) -> String {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.cpu_share() / y.cpu_share())
        .collect();
    let (m, lo, hi) = ebpf_jsonl_testkit::stats::stats(&r);
    format!("{m:.2} [{lo:.2}..{hi:.2}]")
}

/// An xdp_stats' or flow's stream: "iface/direction".
fn stream(v: &Value) -> String {
    format!(
        "{}/{}",
        v["iface"].as_str().unwrap_or(""),
        v["direction"].as_str().unwrap_or("ingress")
    )
}

/// An RFC 3339 timestamp's time of day, ns (`...THH:MM:SS.fffffffffZ`).
fn ns_of_day(v: &Value) -> Option<i64> {
    let t = v["timestamp"]
        .as_str()?
        .split_once('T')?
        .1
        .trim_end_matches('Z');
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let mut p = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (p.next()??, p.next()??, p.next()??);
    let frac: i64 = format!("{frac:0<9}")[..9].parse().ok()?;
    Some(((h * 60 + m) * 60 + s) * 1_000_000_000 + frac)
}

/// Sleeps `d`, or returns an error once asked to stop (SIGINT).
fn sleep(d: Duration) -> Result<(), Error> {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if ebpf_jsonl::pipeline::shutting_down() {
            return Err(Error::Failure("interrupted".into()));
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    Ok(())
}

/// A thread that sleeps to every 10 ms tick (absolute deadlines, as a timer
/// would) and records how late it woke each time; a tick missed altogether
/// counts once, as late as the wake-up that followed.
struct Reference {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<i64>>,
}

impl Reference {
    fn start(tick: Duration) -> Reference {
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = thread::spawn(move || {
            let mut late = Vec::new();
            let mut next = Instant::now() + tick;
            while !halt.load(Ordering::Relaxed) {
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(d);
                }
                let now = Instant::now();
                late.push((now - next).as_nanos() as i64);
                while next <= now {
                    next += tick;
                }
            }
            late
        });
        Reference { stop, thread }
    }

    fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Runs `plan` on `lab` once.
pub fn run(lab: &Lab, plan: &Plan) -> Result<Measured, Error> {
    let _receivers = lab.receivers()?;
    let reference = Reference::start(Duration::from_millis(10));
    let tools = plan
        .procs
        .iter()
        .map(|args| Tool::start(&lab.tool_ns, args, plan.attached))
        .collect::<Result<Vec<_>, _>>()?;
    let pids: Vec<u32> = tools.iter().map(Tool::pid).collect();
    let inflows = lab.flows(plan.ingress, false);
    let outflows = lab.flows(plan.egress, true);
    let senders = [
        Sender::start(&lab.peer_ns, inflows.clone(), plan.period),
        Sender::start(&lab.tool_ns, outflows.clone(), plan.period),
    ];
    let cpu = || pids.iter().map(|&p| tool::cpu_time(p)).sum::<Duration>();
    let slept = sleep(plan.warmup);
    let (t0, c0) = (Instant::now(), cpu());
    let slept = slept.and_then(|_| sleep(plan.window));
    let (t1, c1) = (Instant::now(), cpu());
    let mut sent = Vec::new();
    for (s, (flows, egress)) in senders
        .into_iter()
        .zip([(inflows, false), (outflows, true)])
    {
        let n = s.stop()?;
        sent.extend(flows.into_iter().zip(n).map(|(f, n)| (f, n, egress)));
    }
    slept?;
    // What is in flight lands and is drained by a few more intervals.
    thread::sleep(Duration::from_millis(200));
    let peak_rss_kib = pids.iter().map(|&p| tool::peak_rss_kib(p)).sum();
    let all_maps: Vec<_> = pids
        .iter()
        .flat_map(|&p| tool::maps(p).into_values())
        .collect();
    let map_bytes = all_maps.iter().map(|m| m.memlock).sum();
    let table = all_maps
        .iter()
        .max_by_key(|m| m.max_entries * m.value_size)
        .map_or((0, 0), |m| (m.max_entries, m.value_size));
    let outputs = tools
        .into_iter()
        .map(Tool::stop)
        .collect::<Result<Vec<_>, _>>()?;
    let reference_late_ns = reference.stop();
    Ok(Measured {
        cpu: c1 - c0,
        window: t1 - t0,
        window_start: t0,
        window_end: t1,
        peak_rss_kib,
        map_bytes,
        table,
        outputs,
        sent,
        reference_late_ns,
    })
}
