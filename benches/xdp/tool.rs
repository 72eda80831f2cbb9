//! The real binary (`cargo bench` builds it as release) running `xdp` inside
//! a namespace, as the drain-cost and many-interface benches measure it: its
//! records with their arrival times, its CPU (utime + stime), peak RSS, and
//! the kernel memory of its BPF maps (/proc/PID/fdinfo).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl::error::Error;
use ebpf_jsonl_testkit::default_signals;
use ebpf_jsonl_testkit::procfs::status_kib;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ebpf-jsonl");

type Records = Arc<Mutex<Vec<(Instant, Value)>>>;

pub struct Tool {
    child: Child,
    records: Records,
    stderr: Arc<Mutex<String>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// What a stopped tool printed.
pub struct Output {
    pub records: Vec<(Instant, Value)>,
}

/// Does the binary take several interfaces and `--direction` (issue 13)?
pub fn multi_iface() -> bool {
    Command::new(BIN)
        .args(["xdp", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--direction"))
        .unwrap_or(false)
}

impl Tool {
    /// Starts `ebpf-jsonl ARGS` in namespace `ns` and waits (30 s at most)
    /// until stderr has said `attached` `attached` times.
    pub fn start(ns: &str, args: &[String], attached: usize) -> Result<Tool, Error> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, BIN]).args(args);
        default_signals(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Failure(format!("starting {BIN}: {e}")))?;
        let records: Records = Arc::default();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let (tx, rx) = channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let recs = records.clone();
        let text = stderr.clone();
        let threads = vec![
            thread::spawn(move || {
                for line in BufReader::with_capacity(1 << 20, out).lines() {
                    let Ok(line) = line else { break };
                    let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                    recs.lock().unwrap().push((Instant::now(), v));
                }
            }),
            thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    let hit = line.contains(": attached ");
                    text.lock().unwrap().push_str(&(line + "\n"));
                    if hit {
                        let _ = tx.send(());
                    }
                }
            }),
        ];
        let mut tool = Tool {
            child,
            records,
            stderr,
            threads,
        };
        tool.wait_attached(&rx, attached)?;
        Ok(tool)
    }

    fn wait_attached(&mut self, rx: &Receiver<()>, n: usize) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(left).is_err() {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(Error::Failure(format!(
                    "ebpf-jsonl did not attach; stderr:\n{}",
                    self.stderr.lock().unwrap()
                )));
            }
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, then everything printed until exit (30 s at most).
    pub fn stop(mut self) -> Result<Output, Error> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self
                .child
                .try_wait()
                .map_err(|e| Error::Failure(e.to_string()))?
            {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(Error::Failure("ebpf-jsonl did not exit on SIGINT".into()));
            }
            thread::sleep(Duration::from_millis(10));
        };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        if !status.success() {
            return Err(Error::Failure(format!(
                "ebpf-jsonl exited with {status}; stderr:\n{stderr}"
            )));
        }
        Ok(Output {
            records: std::mem::take(&mut *self.records.lock().unwrap()),
        })
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of every thread of `pid` so far (/proc/PID/stat).
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the command's ")": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: plain sysconf.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = f.iter().sum();
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// Peak resident set of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(&pid.to_string(), "VmHWM:").unwrap_or(0)
}

/// One BPF map a process holds, from /proc/PID/fdinfo.
#[derive(Clone, Debug, Default)]
pub struct MapInfo {
    pub max_entries: u64,
    pub value_size: u64,
    /// What the kernel charges for it (`memlock:`), bytes.
    pub memlock: u64,
}

/// Every BPF map `pid` holds a descriptor of, by map id.
pub fn maps(pid: u32) -> BTreeMap<u64, MapInfo> {
    let mut out = BTreeMap::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for fd in fds.filter_map(|f| f.ok()) {
        let is_map = std::fs::read_link(fd.path())
            .map(|t| t.to_string_lossy() == "anon_inode:bpf-map")
            .unwrap_or(false);
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let Some(text) = is_map.then(|| std::fs::read_to_string(info).ok()).flatten() else {
            continue;
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.insert(
            field("map_id:"),
            MapInfo {
                max_entries: field("max_entries:"),
                value_size: field("value_size:"),
                memlock: field("memlock:"),
            },
        );
    }
    out
}
