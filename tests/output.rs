//! --output: it appends, SIGHUP reopens it (and a failed reopen keeps the open file),
//! and a write error there or on stdout ends the run with one line and whole records.

use ebpf_jsonl_testkit as common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_ended_by_enospc, assert_whole_json_lines, has_arg, marker, run, run_tool, tool_command,
    SmallFs, Tracer, Wired,
};
use serde_json::Value;

fn lines_of(path: &Path) -> Vec<Value> {
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

/// Execs `/bin/true MARKER` and waits until its record is in the file at `path`.
fn exec_lands_in(path: &Path, tag: &str) -> String {
    let m = marker(tag);
    run(Command::new("/bin/true").arg(&m));
    wait_until(&format!("the {tag} record in {}", path.display()), || {
        lines_of(path).iter().any(|v| has_arg(v, &m))
    });
    m
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
    let m1 = exec_lands_in(&path, "before-rotate");
    // logrotate: rename, then SIGHUP; the tool opens a new file at the path.
    std::fs::rename(&path, &rotated).unwrap();
    t.signal(libc::SIGHUP);
    wait_until("the reopened file", || path.exists());
    let m2 = exec_lands_in(&path, "after-rotate");
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
    // The fix, in the same one line: make the directory.
    assert!(
        err.contains("install -d -m 0750 /nonexistent-dir`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn failed_reopen_keeps_writing_to_the_open_file_and_retries() {
    let base = std::env::temp_dir().join(marker("reopen"));
    let dir = base.join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("exec.jsonl");
    let moved = base.join("moved");
    let t = Tracer::start(&["exec", "--output", path.to_str().unwrap()]);
    let m1 = exec_lands_in(&path, "first");
    // The directory goes away: the reopen fails; the open file still works.
    std::fs::rename(&dir, &moved).unwrap();
    let old = moved.join("exec.jsonl");
    t.signal(libc::SIGHUP);
    wait_until("the reopen failure on stderr", || {
        t.stderr().contains("cannot reopen")
    });
    let m2 = exec_lands_in(&old, "second");
    // The directory is back: the next SIGHUP reopens.
    std::fs::create_dir_all(&dir).unwrap();
    t.signal(libc::SIGHUP);
    wait_until("the reopened file", || path.exists());
    let m3 = exec_lands_in(&path, "third");
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
    assert_ended_by_enospc(st, &t.stderr(), "/dev/full");
}

#[test]
fn full_output_filesystem_ends_the_run_with_whole_lines() {
    let fs = SmallFs::new(std::env::temp_dir().join(marker("smallfs")));
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
    assert_ended_by_enospc(st, &t.stderr(), &p);
    assert_whole_json_lines(&path);
}
