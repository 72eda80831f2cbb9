//! `exec --failed --failed-hook`: the tiers of failed-exec hooks. The syscall
//! tracepoints report native failed execs exactly as the raw hooks do, miss
//! 32-bit ones (the kernel's syscall tracepoints skip compat calls) and say
//! so, and leave the host's mounts as they were when tracefs had to be mounted
//! to read their ids; a forced tier that cannot load is one line, exit 4.

use ebpf_jsonl_testkit as common;

use std::process::Command;

use common::exec_helper::{run_helper, write_program};
use common::{has_arg, marker, run, run_tool, Tracer};
use serde_json::Value;

/// A failed exec's record without what differs between two tracers seeing
/// the same call (the time each program took it at).
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("timestamp");
    o.remove("exec_id");
    v
}

fn failed_with(t: &mut Tracer, m: &str) -> Value {
    t.wait_for(m, |v| has_arg(v, m) && v["ret"].as_i64() < Some(0))
}

/// A native exec of a missing file, with a new marker, and its record.
fn missing_exec(t: &mut Tracer, tag: &str) -> Value {
    let m = marker(tag);
    let missing = format!("/nonexistent/{m}");
    assert!(Command::new(&missing).arg(&m).status().is_err());
    failed_with(t, &m)
}

#[test]
fn the_tracepoint_tier_reports_native_failed_execs_like_the_raw_one() {
    let dir = std::env::temp_dir().join(marker("tiers"));
    let noexec = write_program(&dir, "not-executable", "#!/bin/sh\n", 0o644);
    let mut tp = Tracer::start(&["exec", "--failed", "--failed-hook", "tracepoint"]);
    let mut raw = Tracer::start(&["exec", "--failed", "--failed-hook", "raw"]);

    let enoent = marker("enoent");
    let missing = format!("/nonexistent/{enoent}");
    let long = "z".repeat(5000);
    assert!(Command::new(&missing)
        .args([enoent.as_str(), "x y", "", &long])
        .status()
        .is_err());
    let eacces = marker("eacces");
    assert!(Command::new(&noexec).arg(&eacces).status().is_err());
    // execveat(dirfd, name): through the helper's native execveat.
    let at = marker("execveat");
    let name = format!("no-such-{at}");
    let (_, ret) = run_helper(&["execveat", "/bin", &name, "at", &at]);
    assert_eq!(ret, "-2");

    for m in [&enoent, &eacces, &at] {
        let a = failed_with(&mut tp, m);
        let b = failed_with(&mut raw, m);
        assert_eq!(comparable(&a), comparable(&b), "{m}");
    }
    let v = failed_with(&mut tp, &enoent);
    assert_eq!(
        (v["error"].as_str(), v["args_truncated"].as_bool()),
        (Some("ENOENT"), Some(true))
    );
    assert_eq!(
        v["args_size"],
        missing.len() + 1 + enoent.len() + 1 + 4 + 1 + 5001
    );
    assert_eq!(failed_with(&mut tp, &at)["filename"], name.as_str());
    std::fs::remove_dir_all(&dir).unwrap();

    let tp = tp.stop_ok();
    assert!(
        tp.stderr.contains("tracepoint/syscalls/sys_exit_execve")
            && !tp.stderr.contains("/sys_enter,"),
        "the syscall tracepoints, not the raw sys_enter: {}",
        tp.stderr
    );
    let raw = raw.stop_ok();
    assert!(
        raw.stderr
            .contains("every syscall on the host runs a BPF program"),
        "the raw tier says what it costs: {}",
        raw.stderr
    );
}

#[test]
fn the_tracepoint_tier_misses_32_bit_execs_and_says_so() {
    let mut t = Tracer::start(&["exec", "--failed", "--failed-hook", "tracepoint"]);
    let ia32 = marker("ia32");
    let missing = format!("/nonexistent/{ia32}");
    let (_, ret) = run_helper(&["int80", "execve", &missing, &ia32]);
    assert_eq!(ret, "-2", "the ia32 execve itself fails");
    // A native failed exec after it: once it is here, the ia32 one would be.
    missing_exec(&mut t, "native");
    let sentinel = marker("sentinel");
    run(Command::new("/bin/true").arg(&sentinel));
    t.exec_with(&sentinel);
    let reported = t.seen.iter().find(|v| v["filename"] == missing.as_str());
    assert!(
        reported.is_none(),
        "the kernel's syscall tracepoints do not fire for ia32 calls: {reported:?}"
    );
    let f = t.stop_ok();
    assert!(
        f.stderr.contains("do not see 32-bit") && f.stderr.contains("--failed-hook raw"),
        "stderr names the tier that sees them: {}",
        f.stderr
    );
}

fn tracefs_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("tracefs"))
        .map(String::from)
        .collect()
}

#[test]
fn reading_the_tracepoint_ids_leaves_the_host_mounts_as_they_were() {
    let before = tracefs_mounts();
    let mut t = Tracer::start(&["exec", "--failed", "--failed-hook", "tracepoint"]);
    let during = tracefs_mounts();
    missing_exec(&mut t, "mounts");
    let f = t.stop_ok();
    assert_eq!(before, during, "no tracefs mount appeared while it ran");
    assert_eq!(before, tracefs_mounts(), "nor after");
    if before.is_empty() {
        assert!(
            f.stderr.contains("private tracefs mount"),
            "stderr says tracefs was mounted privately: {}",
            f.stderr
        );
    }
}

#[test]
fn a_forced_tier_that_cannot_load_is_one_line_and_exit_4() {
    // fexit is refused on some kernels (this CI's), loads on others (Debian's,
    // the kernel matrix proves it): either it attaches and reports, or it says
    // so in one line and exits 4.
    let (st, out, err) = run_tool(&[
        "exec",
        "--failed",
        "--failed-hook",
        "fexit",
        "--duration",
        "1s",
    ]);
    if err.contains("fexit/__") {
        assert_eq!(st.code(), Some(0), "{err}");
    } else {
        assert_eq!(st.code(), Some(4), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("--failed-hook fexit"), "{err}");
        assert!(!err.contains("run as root"), "root is not the fix: {err}");
        assert!(out.is_empty(), "{out}");
    }
}

#[test]
fn failed_hook_needs_failed() {
    let (st, _, err) = run_tool(&["exec", "--failed-hook", "raw", "--duration", "1s"]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("--failed"), "{err}");
}

#[test]
fn check_says_what_each_tier_does_and_which_exec_would_use() {
    let (st, out, err) = run_tool(&["check"]);
    assert_eq!(st.code(), Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let tiers = &v["failed_hooks"];
    for t in ["fexit", "tracepoint", "raw"] {
        let p = &tiers[t];
        assert!(
            p["loads"].is_boolean() && p["attaches"].is_boolean(),
            "{t}: {p}"
        );
        if p["attaches"] == false {
            assert!(p["error"].is_string(), "{t}: {p}");
        }
    }
    assert_eq!(tiers["tracepoint"]["attaches"], true, "{tiers}");
    assert_eq!(tiers["raw"]["attaches"], true, "{tiers}");
    let first = ["fexit", "tracepoint", "raw"]
        .into_iter()
        .find(|t| tiers[t]["attaches"] == true);
    assert_eq!(v["exec"]["failed_hook"].as_str(), first, "{v}");
    assert!(tiers["tracepoint"]["hooks"]
        .as_array()
        .unwrap()
        .contains(&Value::from("tracepoint/syscalls/sys_enter_execveat")));
}
