//! How a run ends and how bad input is refused: signals, --duration, a closed
//! stdout, usage errors, missing privileges, and loss accounting.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{has_arg, marker, peak_rss_kib, run, run_tool, Tracer, BIN};
use serde_json::Value;

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
    let mut child = Command::new(BIN)
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
