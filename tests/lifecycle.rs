//! How a run ends and how bad input is refused: signals, --duration, a closed
//! stdout, usage errors, missing privileges, and loss accounting.

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{has_arg, marker, peak_rss_kib, run, run_tool, tool_command, Tracer};
use serde_json::Value;

/// Held by the tests that flood the host with execs, and by the one a flood
/// would break (a 4 KiB ring buffer): every exec tracer sees every exec.
fn exec_flood_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn lost(records: &[Value], reason: &str) -> u64 {
    records
        .iter()
        .filter(|v| v["type"] == "lost" && v["reason"] == reason)
        .map(|v| {
            let n = v["count"].as_u64().expect("count");
            assert!(n > 0, "a lost record reports something");
            n
        })
        .sum()
}

#[test]
fn sigint_and_sigterm_drain_and_exit_zero() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let t = Tracer::start(&["exec"]);
        let m = marker("signal");
        run(Command::new("/bin/true").arg(&m));
        // Signalled right after the exec: the record must still come out.
        t.signal(sig);
        let f = t.wait();
        assert_eq!(
            f.status.code(),
            Some(0),
            "signal {sig}; stderr:\n{}",
            f.stderr
        );
        assert_eq!(f.records.iter().filter(|v| has_arg(v, &m)).count(), 1);
        assert!(!f.stderr.contains("error"), "{}", f.stderr);
    }
}

#[test]
fn duration_ends_the_run() {
    let started = Instant::now();
    let mut t = Tracer::start(&["exec", "--duration", "1500ms"]);
    let m = marker("duration");
    run(Command::new("/bin/true").arg(&m));
    t.exec_with(&m);
    let f = t.wait();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "ended early: {took:?}");
    assert!(took < Duration::from_secs(15), "ended late: {took:?}");
}

#[test]
fn closed_stdout_ends_promptly_and_quietly() {
    let mut child = tool_command(None)
        .arg("exec")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("attached"), "{line}");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let m = marker("head");
    for _ in 0..3 {
        run(Command::new("/bin/true").arg(&m));
    }
    // Read three lines, like `| head -n 3`, then close the pipe.
    for _ in 0..3 {
        line.clear();
        out.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).expect("JSON line");
    }
    drop(out);
    let closed_at = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            closed_at.elapsed() < Duration::from_secs(5),
            "still running after stdout closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(rest, "", "no noise on stderr after the pipe closed");
}

#[test]
fn unknown_flag_and_bad_values_exit_2_naming_them() {
    let (st, out, err) = run_tool(&["exec", "--bogus"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("--bogus"), "{err}");
    assert!(err.contains("Usage:"), "{err}");
    assert_eq!(out, "");

    let (st, _, err) = run_tool(&["exec", "--duration", "ten"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("--duration") && err.contains("ten"), "{err}");

    let (st, _, err) = run_tool(&["exec", "--max-argv-bytes", "1M"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("out of range"), "{err}");

    let (st, _, err) = run_tool(&["nonsense"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("nonsense"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unprivileged_run_fails_with_one_line() {
    let out = common::run_unprivileged(&["exec"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("CAP_BPF") && err.contains("root"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn stalled_consumer_loses_counted_records_and_memory_stays_bounded() {
    let _flood = exec_flood_lock();
    const N: usize = 300;
    let big = "y".repeat(60 * 1024);
    let mut t = Tracer::start_stalled(&["exec", "--max-argv-bytes", "64K"]);
    let pid = t.pid();
    let m = marker("stall");
    for _ in 0..N {
        run(Command::new("/bin/true").arg(&m).arg(&big));
    }
    std::thread::sleep(Duration::from_millis(300));
    let peak = peak_rss_kib(pid);
    t.resume();
    // Let the writer catch up before stopping, so the end is not itself a stall.
    std::thread::sleep(Duration::from_secs(2));
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    let ours = f.records.iter().filter(|v| has_arg(v, &m)).count();
    let slow = lost(&f.records, "consumer_slow");
    let full = lost(&f.records, "ringbuf_full");
    assert!(slow > 0, "a stalled consumer must cause counted drops");
    assert!(ours < N, "some of ours were dropped");
    assert!(
        ours as u64 + slow + full >= N as u64,
        "every exec is either printed or counted: {ours} printed + {slow} + {full} lost < {N}"
    );
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB ≥ 32 MiB");
}

#[test]
fn full_ring_buffer_is_counted() {
    let _flood = exec_flood_lock();
    // Each of these events is larger than the whole ring buffer.
    let mut t = Tracer::start(&["exec", "--ringbuf-size", "4K", "--max-argv-bytes", "16K"]);
    let m = marker("full");
    let big = "z".repeat(8 * 1024);
    for _ in 0..20 {
        run(Command::new("/bin/true").arg(&m).arg(&big));
    }
    let m2 = marker("small");
    run(Command::new("/bin/true").arg(&m2));
    t.exec_with(&m2);
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0));
    assert_eq!(f.records.iter().filter(|v| has_arg(v, &m)).count(), 0);
    assert!(lost(&f.records, "ringbuf_full") >= 20);
}

fn lines_of(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("broken line ({e}): {l}")))
        .collect()
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn output_file_appends_and_sighup_reopens_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(marker("output"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("exec.jsonl");
    let rotated = dir.join("exec.jsonl.1");
    std::fs::write(&path, "{\"type\":\"earlier\"}\n").unwrap();

    let p = path.to_str().unwrap();
    let t = Tracer::start(&["exec", "--output", p]);
    let m1 = marker("before-rotate");
    run(Command::new("/bin/true").arg(&m1));
    wait_until("the first record in the file", || {
        lines_of(&path).iter().any(|v| has_arg(v, &m1))
    });
    // logrotate: rename, then SIGHUP; the tool opens a new file at the path.
    std::fs::rename(&path, &rotated).unwrap();
    t.signal(libc::SIGHUP);
    wait_until("the reopened file", || path.exists());
    let m2 = marker("after-rotate");
    run(Command::new("/bin/true").arg(&m2));
    wait_until("the second record in the new file", || {
        lines_of(&path).iter().any(|v| has_arg(v, &m2))
    });
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    assert!(f.records.is_empty(), "nothing on stdout with --output");

    let old = lines_of(&rotated);
    let new = lines_of(&path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(old[0]["type"], "earlier", "appended, never truncated");
    assert_eq!(old.iter().filter(|v| has_arg(v, &m1)).count(), 1);
    assert_eq!(new.iter().filter(|v| has_arg(v, &m2)).count(), 1);
    assert!(!old.iter().any(|v| has_arg(v, &m2)), "no line twice");
    assert!(!new.iter().any(|v| has_arg(v, &m1)), "no line twice");
    assert_eq!(mode, 0o640);

    let (st, _, err) = run_tool(&["exec", "--output", "/nonexistent-dir/x.jsonl"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("/nonexistent-dir/x.jsonl"), "{err}");
}

/// The tool with stdout wired to whatever a test gives it (a FIFO, a socket,
/// /dev/full), stderr collected, started once it says it is attached.
struct Wired {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Wired {
    fn start(mut cmd: Command, stdout: Stdio) -> Wired {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ebpf-jsonl");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let text = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).unwrap_or(0) > 0 {
                // Kept before saying ready, so a test's snapshot has the line.
                text.lock().unwrap().push_str(&line);
                if line.contains(": attached ") {
                    let _ = ready_tx.send(());
                }
                line.clear();
            }
        });
        let mut w = Wired { child, stderr };
        if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = w.child.kill();
            let _ = w.child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!("ebpf-jsonl did not attach; stderr:\n{}", w.stderr());
        }
        w
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for exit, failing the test (after killing the tool) past `limit`.
    fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Let the stderr thread read the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (st, t.elapsed());
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "ebpf-jsonl still running {limit:?} later; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Wired {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A FIFO with a reader that never reads: (the reader, the writer end for
/// the tool). The directory goes when the test ends.
struct Fifo {
    dir: std::path::PathBuf,
    reader: std::fs::File,
}

impl Fifo {
    fn new() -> (Fifo, std::fs::File) {
        let dir = std::env::temp_dir().join(marker("fifo"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        (Fifo { dir, reader }, writer)
    }

    /// Bytes waiting in the pipe.
    fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD into an int.
        unsafe { libc::ioctl(self.reader.as_raw_fd(), libc::FIONREAD, &mut n) };
        n as usize
    }

    /// Everything in the pipe (the writer must have exited).
    fn take(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return all,
                Err(e) => panic!("reading the FIFO: {e}"),
            }
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `reason=N` counts from the tool's "lost at exit" stderr line.
fn lost_at_exit(stderr: &str) -> std::collections::HashMap<String, u64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("lost at exit"))
        .unwrap_or_else(|| panic!("no loss report on stderr:\n{stderr}"));
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.trim_end_matches(';').parse().ok()?))
        })
        .collect()
}

/// Spawns `/bin/true MARKER` flat out on a thread until the flag is set.
fn storm(m: String) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            run(Command::new("/bin/true").arg(&m));
        }
    });
    (stop, h)
}

#[test]
fn sigterm_with_a_stalled_consumer_ends_in_bounded_time_and_counts_the_rest() {
    let _flood = exec_flood_lock();
    let (mut fifo, w) = Fifo::new();
    let mut t = Wired::start(
        {
            let mut c = tool_command(None);
            c.args(["exec", "--max-argv-bytes", "8K"]);
            c
        },
        w.into(),
    );
    // Fill the pipe, then the queue behind it, with execs of our own: 400
    // records of 4 KiB are far more than a pipe holds. (Its byte count is
    // no gauge of full: pipe pages written in pieces stay partly empty.)
    let m = marker("fifo-stall");
    let big = "x".repeat(4096);
    let n = 400u64;
    for _ in 0..n {
        run(Command::new("/bin/true").arg(&m).arg(&big));
    }
    if let Some(st) = t.child.try_wait().unwrap() {
        panic!("ebpf-jsonl ended ({st}) early:\n{}", t.stderr());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while fifo.queued() == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing written; stderr:\n{}",
            t.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stop under an exec storm.
    let (stop, h) = storm(marker("fifo-storm"));
    std::thread::sleep(Duration::from_millis(300));
    t.signal(libc::SIGTERM);
    let (st, took) = t.wait_exit(Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let err = t.stderr();
    assert_eq!(st.code(), Some(0), "stderr:\n{err}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    let at_exit = lost_at_exit(&err);
    assert!(at_exit["consumer_slow"] > 0, "{err}");
    assert!(!err.contains("error"), "{err}");

    // Every exec of ours is printed whole, or counted (in-band or on stderr).
    let text = fifo.take();
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        assert!(err.contains("cut short"), "a cut last line is said: {err}");
    }
    let records: Vec<Value> = text[..whole]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("whole lines are JSON"))
        .collect();
    let printed = records.iter().filter(|v| has_arg(v, &m)).count() as u64;
    let in_band = lost(&records, "consumer_slow") + lost(&records, "ringbuf_full");
    let on_stderr: u64 = at_exit.values().sum();
    assert!(
        printed + in_band + on_stderr >= n,
        "{printed} printed + {in_band} + {on_stderr} lost < {n} execs; stderr:\n{err}"
    );
}

/// From namespace b, one datagram to each of 4000 ports of a, over and over
/// (4000 flows moving every interval), until the flag is set.
fn flow_flood(pair: &net::Pair) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let sender = net::spawn_in_ns(&pair.ns_b, move || {
        let sock = std::net::UdpSocket::bind((net::V4_B, 0)).unwrap();
        while !s.load(Ordering::Relaxed) {
            for port in 10_000..14_000u16 {
                let _ = sock.send_to(b"x", (net::V4_A, port));
            }
        }
    });
    (stop, sender)
}

#[test]
fn xdp_full_output_filesystem_ends_the_run_and_detaches() {
    let fs = SmallFs::new();
    let path = fs.0.join("flows.jsonl");
    let p = path.to_str().unwrap().to_string();
    let pair = net::Pair::new(false);
    let mut cmd = tool_command(Some(&pair.ns_a));
    cmd.args(["xdp", &pair.if_a])
        .args(["--interval", "100ms", "--output", &p]);
    let mut t = Wired::start(cmd, Stdio::null());
    let (stop, sender) = flow_flood(&pair);
    let (st, _) = t.wait_exit(Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let err = t.stderr();
    assert_eq!(st.code(), Some(1), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(
        errors[0].contains(&p) && errors[0].contains("No space left"),
        "{err}"
    );
    assert!(!pair.has_xdp(), "the program is detached");
    let text = std::fs::read(&path).unwrap();
    assert_eq!(text.last(), Some(&b'\n'), "no torn last line");
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<Value>(l).expect("every line whole JSON");
    }
}

#[test]
fn xdp_sigterm_with_a_stalled_consumer_ends_in_bounded_time() {
    let pair = net::Pair::new(false);
    let (_fifo, w) = Fifo::new();
    let mut cmd = tool_command(Some(&pair.ns_a));
    cmd.args(["xdp", &pair.if_a]).args(["--interval", "100ms"]);
    let mut t = Wired::start(cmd, w.into());
    // Thousands of flows moving every interval: the pipe and then the queue fill.
    let (stop, sender) = flow_flood(&pair);
    std::thread::sleep(Duration::from_secs(3));
    t.signal(libc::SIGTERM);
    let (st, took) = t.wait_exit(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let err = t.stderr();
    assert_eq!(st.code(), Some(0), "stderr:\n{err}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(lost_at_exit(&err)["consumer_slow"] > 0, "{err}");
    assert!(!pair.has_xdp(), "the program is detached");
}

#[test]
fn consumer_reset_is_a_quiet_normal_end() {
    let _flood = exec_flood_lock();
    // stdout a stream socket whose peer closes with records unread: the
    // tool's next write gets ECONNRESET (over loopback TCP; a unix socket
    // gets EPIPE instead).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (theirs, _) = l.accept().unwrap();
    let mut t = Wired::start(
        {
            let mut c = tool_command(None);
            c.arg("exec");
            c
        },
        Stdio::from(OwnedFd::from(theirs)),
    );
    let m = marker("reset");
    let (stop, h) = storm(m.clone());
    // Wait for records, then close our end with them unread.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut b = [0u8; 1];
    while ours.peek(&mut b).unwrap_or(0) < 1 {
        assert!(
            Instant::now() < deadline,
            "no records; stderr:\n{}",
            t.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = t.stderr();
    drop(ours);
    let (st, took) = t.wait_exit(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let err = t.stderr();
    assert_eq!(st.code(), Some(0), "stderr:\n{err}");
    assert!(took < Duration::from_secs(5), "took {took:?} to notice");
    assert_eq!(&err[before.len()..], "", "nothing on stderr: {err}");
}

#[test]
fn write_error_on_stdout_ends_the_run_with_one_line() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut t = Wired::start(
        {
            let mut c = tool_command(None);
            c.arg("exec");
            c
        },
        full.into(),
    );
    run(Command::new("/bin/true").arg(marker("full")));
    let (st, _) = t.wait_exit(Duration::from_secs(20));
    let err = t.stderr();
    assert_eq!(st.code(), Some(1), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(
        errors[0].contains("/dev/full") && errors[0].contains("No space left"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A 64 KiB tmpfs of our own, unmounted (and removed) when the test ends.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn new() -> SmallFs {
        let dir = std::env::temp_dir().join(marker("smallfs"));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn full_output_filesystem_ends_the_run_with_whole_lines() {
    let fs = SmallFs::new();
    let path = fs.0.join("exec.jsonl");
    let p = path.to_str().unwrap().to_string();
    let mut t = Wired::start(
        {
            let mut c = tool_command(None);
            c.args(["exec", "--max-argv-bytes", "8K", "--output", &p]);
            c
        },
        Stdio::null(),
    );
    let m = marker("enospc");
    let big = "e".repeat(3000);
    // Each record is ~3 KiB: the 64 KiB filesystem fills within a few dozen.
    let mut n = 0;
    while t.child.try_wait().unwrap().is_none() && n < 2000 {
        run(Command::new("/bin/true").arg(&m).arg(&big));
        n += 1;
    }
    let (st, _) = t.wait_exit(Duration::from_secs(20));
    let err = t.stderr();
    assert_eq!(st.code(), Some(1), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(
        errors[0].contains(&p) && errors[0].contains("No space left"),
        "{err}"
    );
    let text = std::fs::read(&path).unwrap();
    assert!(!text.is_empty());
    assert_eq!(text.last(), Some(&b'\n'), "no torn last line");
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<Value>(l).expect("every line whole JSON");
    }
}

#[test]
fn failed_reopen_keeps_writing_to_the_open_file_and_retries() {
    let base = std::env::temp_dir().join(marker("reopen"));
    let dir = base.join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("exec.jsonl");
    let moved = base.join("moved");
    let t = Tracer::start(&["exec", "--output", path.to_str().unwrap()]);
    let m1 = marker("first");
    run(Command::new("/bin/true").arg(&m1));
    wait_until("the first record", || {
        lines_of(&path).iter().any(|v| has_arg(v, &m1))
    });
    // The directory goes away: the reopen fails; the open file still works.
    std::fs::rename(&dir, &moved).unwrap();
    let old = moved.join("exec.jsonl");
    t.signal(libc::SIGHUP);
    wait_until("the reopen failure on stderr", || {
        t.stderr().contains("cannot reopen")
    });
    let m2 = marker("second");
    run(Command::new("/bin/true").arg(&m2));
    wait_until("the second record in the open file", || {
        lines_of(&old).iter().any(|v| has_arg(v, &m2))
    });
    // The directory is back: the next SIGHUP reopens.
    std::fs::create_dir_all(&dir).unwrap();
    t.signal(libc::SIGHUP);
    wait_until("the reopened file", || path.exists());
    let m3 = marker("third");
    run(Command::new("/bin/true").arg(&m3));
    wait_until("the third record in the new file", || {
        lines_of(&path).iter().any(|v| has_arg(v, &m3))
    });
    let f = t.stop();
    let (old, new) = (lines_of(&old), lines_of(&path));
    std::fs::remove_dir_all(&base).unwrap();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    assert_eq!(
        f.stderr.matches("cannot reopen").count(),
        1,
        "said once: {}",
        f.stderr
    );
    for m in [&m1, &m2] {
        assert_eq!(old.iter().filter(|v| has_arg(v, m)).count(), 1, "{m}");
    }
    assert_eq!(new.iter().filter(|v| has_arg(v, &m3)).count(), 1);
    assert!(!new.iter().any(|v| has_arg(v, &m1) || has_arg(v, &m2)));
}

#[test]
fn sighup_without_output_drains_like_sigterm_and_sigusr1_is_harmless() {
    let mut t = Tracer::start(&["exec"]);
    t.signal(libc::SIGUSR1);
    let m1 = marker("usr1");
    run(Command::new("/bin/true").arg(&m1));
    t.exec_with(&m1);
    let m2 = marker("hup");
    run(Command::new("/bin/true").arg(&m2));
    t.signal(libc::SIGHUP);
    let f = t.wait();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    assert_eq!(f.records.iter().filter(|v| has_arg(v, &m2)).count(), 1);
    assert!(!f.stderr.contains("error"), "{}", f.stderr);
}

#[test]
fn sighup_ignored_by_nohup_stays_ignored() {
    use std::os::unix::process::CommandExt;
    let mut cmd = tool_command(None);
    cmd.arg("exec");
    // SAFETY: only signal(2) between fork and exec, as nohup does.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let (mut r, w) = std::io::pipe().unwrap();
    let mut t = Wired::start(cmd, w.into());
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        out
    });
    t.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        t.child.try_wait().unwrap().is_none(),
        "SIGHUP ended a run started under nohup; stderr:\n{}",
        t.stderr()
    );
    let m = marker("nohup");
    run(Command::new("/bin/true").arg(&m));
    t.signal(libc::SIGTERM);
    let (st, _) = t.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "stderr:\n{}", t.stderr());
    let out = reader.join().unwrap();
    let n = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|v| has_arg(v, &m))
        .count();
    assert_eq!(n, 1, "still tracing after the SIGHUP");
}
