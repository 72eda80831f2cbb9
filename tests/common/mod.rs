//! Runs the built binary, reads its JSON records, and hands tests the ones
//! their own children produced (picked out by a unique marker argument: the
//! machine runs many processes of its own).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ebpf-jsonl");

/// Checks a record against `ebpf-jsonl schema` (JSON Schema 2020-12), so the
/// schema and the output cannot drift: every record a test sees goes here.
pub fn validate(v: &Value) {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let out = Command::new(BIN)
            .arg("schema")
            .output()
            .expect("ebpf-jsonl schema");
        assert!(out.status.success(), "ebpf-jsonl schema failed");
        let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
        jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema")
    });
    if let Err(e) = validator.validate(v) {
        panic!("record does not match the schema: {e}\n{v}");
    }
}

/// A marker unique to this test process and call.
pub fn marker(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ebpfjsonl-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The running tool.
pub struct Tracer {
    pub child: Child,
    /// Each stdout line, parsed (or why it is not JSON), in order.
    records: Receiver<Result<Value, String>>,
    pub seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
    /// The stderr reader: done once the tool (and so its stderr) has ended.
    stderr_reader: Option<thread::JoinHandle<()>>,
    gate: Option<Sender<()>>,
}

pub struct Finished {
    pub status: ExitStatus,
    pub records: Vec<Value>,
    pub stderr: String,
}

impl Tracer {
    /// Starts `ebpf-jsonl ARGS` and waits until it says it is attached.
    pub fn start(args: &[&str]) -> Tracer {
        Self::spawn(None, args, true)
    }

    /// Like `start`, inside network namespace `ns` (`ip netns exec`).
    pub fn start_in(ns: &str, args: &[&str]) -> Tracer {
        Self::spawn(Some(ns), args, true)
    }

    /// Like `start`, but nobody reads stdout until [`Tracer::resume`].
    pub fn start_stalled(args: &[&str]) -> Tracer {
        Self::spawn(None, args, false)
    }

    /// Like `start`, as nobody holding only CAP_BPF and CAP_PERFMON (the
    /// minimum README states), through setpriv's ambient capabilities.
    pub fn start_minimal_caps(args: &[&str]) -> Tracer {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+bpf,+perfmon",
            "--ambient-caps=-all,+bpf,+perfmon",
            "--bounding-set=-all,+bpf,+perfmon",
            BIN,
        ]);
        Self::spawn_command(c, args, true)
    }

    fn spawn(ns: Option<&str>, args: &[&str], reading: bool) -> Tracer {
        Self::spawn_command(tool_command(ns), args, reading)
    }

    fn spawn_command(mut cmd: Command, args: &[&str], reading: bool) -> Tracer {
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ebpf-jsonl");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = channel();
        let stderr_reader = {
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let stderr = stderr.clone();
            thread::spawn(move || {
                let mut line = String::new();
                while err.read_line(&mut line).unwrap_or(0) > 0 {
                    // Stored before readiness is signalled: whatever a test
                    // reads once `start` returns is already in `stderr`.
                    let attached = line.contains(": attached ");
                    stderr.lock().unwrap().push_str(&line);
                    if attached {
                        let _ = ready_tx.send(());
                    }
                    line.clear();
                }
            })
        };
        let (tx, records) = channel();
        let (gate_tx, gate_rx) = channel::<()>();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            if !reading {
                let _ = gate_rx.recv();
            }
            for line in BufReader::with_capacity(1 << 20, out).lines() {
                let Ok(line) = line else { break };
                // A line that is not JSON goes to the test as an error, so it
                // fails naming the line (a panic here would only end the thread).
                let v = serde_json::from_str::<Value>(&line)
                    .map_err(|e| format!("stdout line is not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut t = Tracer {
            child,
            records,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            gate: (!reading).then_some(gate_tx),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return t,
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(st)) = t.child.try_wait() {
                        t.join_stderr();
                        panic!(
                            "ebpf-jsonl {args:?} exited ({st}) before attaching; stderr:\n{}",
                            t.stderr()
                        );
                    }
                }
                _ => {
                    let _ = t.child.kill();
                    let _ = t.child.wait();
                    t.join_stderr();
                    panic!(
                        "ebpf-jsonl {args:?} did not attach; stderr:\n{}",
                        t.stderr()
                    );
                }
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Once the tool has exited: waits until its stderr is read to the end.
    fn join_stderr(&mut self) {
        if let Some(h) = self.stderr_reader.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !h.is_finished() {
                // Still open: something else holds the pipe; report what we have.
                if Instant::now() > deadline {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = h.join();
        }
    }

    /// The next stdout record, validated against the schema (an error on
    /// timeout or at the end of output). A line that is not JSON fails the test here.
    fn next_record(&self, timeout: Duration) -> Result<Value, RecvTimeoutError> {
        let v = self.records.recv_timeout(timeout)?;
        let v = v.unwrap_or_else(|e| panic!("{e}"));
        validate(&v);
        Ok(v)
    }

    pub fn resume(&mut self) {
        self.gate.take();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first record matching `pred` (also searching what was seen).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_record(left) {
                Ok(v) => {
                    let hit = pred(&v);
                    self.seen.push(v);
                    if hit {
                        return self.seen.last().unwrap().clone();
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no record for {what} after {} records; stderr:\n{}",
                    self.seen.len(),
                    self.stderr()
                ),
            }
        }
    }

    /// The exec record whose argv holds `marker`.
    pub fn exec_with(&mut self, marker: &str) -> Value {
        self.wait_for(marker, |v| has_arg(v, marker))
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGINT, then everything printed until exit.
    pub fn stop(self) -> Finished {
        self.signal(libc::SIGINT);
        self.wait()
    }

    /// Waits for exit (at most 30 s) and collects everything printed.
    pub fn wait(mut self) -> Finished {
        self.gate.take();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ebpf-jsonl did not exit; stderr:\n{}", self.stderr());
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The tool has exited, so stdout ends: read it to the end (the
        // reader disconnects at EOF) rather than until a pause.
        let mut records = std::mem::take(&mut self.seen);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_record(left) {
                Ok(v) => records.push(v),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "stdout of ebpf-jsonl did not end after it exited; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
        self.join_stderr();
        Finished {
            status,
            records,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn has_arg(v: &Value, marker: &str) -> bool {
    v["type"] == "exec"
        && v["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == marker))
}

pub fn args_of(v: &Value) -> Vec<String> {
    v["args"]
        .as_array()
        .expect("args is an array")
        .iter()
        .map(|a| a.as_str().expect("each arg is a string").to_string())
        .collect()
}

/// Runs a command to completion and returns its pid.
pub fn run(cmd: &mut Command) -> u32 {
    let mut c = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let pid = c.id();
    c.wait().expect("wait child");
    pid
}

/// `ebpf-jsonl`, or `ip netns exec NS ebpf-jsonl` inside a network namespace.
/// Runs `cmd` to completion after moving the child into `cgroup` (before it
/// execs); returns its pid.
pub fn run_in_cgroup(cgroup: &std::path::Path, cmd: &mut Command) -> u32 {
    use std::os::unix::process::CommandExt;
    let procs = std::ffi::CString::new(cgroup.join("cgroup.procs").to_str().unwrap()).unwrap();
    // SAFETY: open/write/close only, on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    run(cmd)
}

/// `ebpf-jsonl` (inside network namespace `ns` if given) as a command to
/// add arguments to, with default signal dispositions.
pub fn tool_command(ns: Option<&str>) -> Command {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    };
    default_signals(&mut c);
    c
}

/// Gives `cmd` the default disposition of every signal the tests send, and
/// an empty signal mask, whatever the test runner inherited: a runner
/// started in the background of a non-interactive shell ignores SIGINT and
/// SIGQUIT, under nohup SIGHUP, and children inherit that.
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGUSR1,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Runs `ebpf-jsonl ARGS` without waiting for an attach (usage errors and the like).
pub fn run_tool(args: &[&str]) -> (ExitStatus, String, String) {
    run_tool_in(None, args)
}

/// Like [`run_tool`], inside network namespace `ns` if given.
pub fn run_tool_in(ns: Option<&str>, args: &[&str]) -> (ExitStatus, String, String) {
    let out = tool_command(ns)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ebpf-jsonl");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `ebpf-jsonl ARGS` as nobody with no capabilities at all (setpriv).
pub fn run_unprivileged(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)")
}

/// Runs `ebpf-jsonl ARGS` as root but without the capabilities in `drop`
/// (names as setpriv spells them: `sys_admin`, `perfmon`): they leave the
/// bounding set, so the tool's effective set lacks them. Inside network
/// namespace `ns` if given.
pub fn run_without_caps(ns: Option<&str>, drop: &[&str], args: &[&str]) -> std::process::Output {
    let bounding = drop
        .iter()
        .map(|c| format!("-{c}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "setpriv"]);
            c
        }
        None => Command::new("setpriv"),
    };
    c.args([
        "--inh-caps=-all",
        &format!("--bounding-set={bounding}"),
        BIN,
    ])
    .args(args)
    .stdin(Stdio::null())
    .output()
    .expect("setpriv (util-linux)")
}

/// Peak resident set of a live process, in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/status"))
        .and_then(|mut f| f.read_to_string(&mut s))
        .expect("read /proc/PID/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}
