//! How bad input is refused (usage errors, missing privileges) and how loss is
//! accounted when the consumer stalls or the ring buffer fills. How a run ends on
//! signals is tests/signals.rs's; --output and write errors, tests/output.rs's.

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use common::{
    assert_ended_by_enospc, assert_whole_json_lines, has_arg, lost, marker, peak_rss_kib, run,
    run_tool, tool_command, Fifo, SmallFs, Tracer, Wired,
};
use serde_json::Value;

/// Held by the tests that flood the host with execs, and by the one a flood
/// would break (a 4 KiB ring buffer): every exec tracer sees every exec.
fn exec_flood_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
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

/// SIGTERM `after` into a flood (stopped once the run has ended, or `limit_s` has
/// passed): the run must exit 0 within 10 s. Its stderr.
fn sigterm_during(
    t: &mut Wired,
    (stop, flood): (Arc<AtomicBool>, std::thread::JoinHandle<()>),
    after: Duration,
    limit_s: u64,
) -> String {
    std::thread::sleep(after);
    t.signal(libc::SIGTERM);
    let (st, took) = t.wait_exit(Duration::from_secs(limit_s));
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    let err = t.stderr();
    assert_eq!(st.code(), Some(0), "stderr:\n{err}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    err
}

#[test]
fn sigterm_with_a_stalled_consumer_ends_in_bounded_time_and_counts_the_rest() {
    let _flood = exec_flood_lock();
    let (mut fifo, w) = Fifo::new(std::env::temp_dir().join(marker("fifo")));
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
    let storm = storm(marker("fifo-storm"));
    let err = sigterm_during(&mut t, storm, Duration::from_millis(300), 30);
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
    let fs = SmallFs::new(std::env::temp_dir().join(marker("smallfs")));
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
    assert_ended_by_enospc(st, &t.stderr(), &p);
    assert!(!pair.has_xdp(), "the program is detached");
    assert_whole_json_lines(&path);
}

#[test]
fn xdp_sigterm_with_a_stalled_consumer_ends_in_bounded_time() {
    let pair = net::Pair::new(false);
    let (_fifo, w) = Fifo::new(std::env::temp_dir().join(marker("fifo")));
    let mut cmd = tool_command(Some(&pair.ns_a));
    cmd.args(["xdp", &pair.if_a]).args(["--interval", "100ms"]);
    let mut t = Wired::start(cmd, w.into());
    // Thousands of flows moving every interval: the pipe and then the queue fill.
    let err = sigterm_during(&mut t, flow_flood(&pair), Duration::from_secs(3), 60);
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
