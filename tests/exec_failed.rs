//! `exec --failed`: failed execs carry ret, error and their args (cut as exactly as
//! successful ones, sized past the caps), ia32 calls are told from native ones, and
//! execs a full table could not follow are counted.

use ebpf_jsonl_testkit as common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::exec_helper::{helper, run_helper, write_program};
use common::{args_of, has_arg, lost, marker, run, Tracer};
use serde_json::Value;

fn exec_of(t: &mut Tracer, m: &str, filename: &str) -> Value {
    t.wait_for(m, |v| has_arg(v, m) && v["filename"] == filename)
}

#[test]
fn failed_execs_carry_ret_and_error() {
    let dir = std::env::temp_dir().join(marker("failed"));
    let noexec = write_program(&dir, "not-executable", "#!/bin/sh\n", 0o644);

    let mut t = Tracer::start(&["exec", "--failed"]);
    let missing = format!("/nonexistent/{}", marker("enoent"));
    let m = marker("enoent");
    assert!(Command::new(&missing).arg(&m).arg("x y").status().is_err());
    let v = exec_of(&mut t, &m, &missing);
    assert_eq!(v["ret"], -2);
    assert_eq!(v["error"], "ENOENT");
    assert_eq!(args_of(&v), [missing.as_str(), &m, "x y"]);

    let m = marker("eacces");
    let path = noexec.to_str().unwrap();
    assert!(Command::new(path).arg(&m).status().is_err());
    let v = exec_of(&mut t, &m, path);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(v["ret"], -13);
    assert_eq!(v["error"], "EACCES");
    assert_eq!(args_of(&v), [path, &m]);

    // Successful ones carry ret 0 and no error.
    let m = marker("ok");
    run(Command::new("/bin/true").arg(&m));
    let v = exec_of(&mut t, &m, "/bin/true");
    assert_eq!(
        (v["ret"].clone(), v["error"].clone()),
        (Value::from(0), Value::Null)
    );
    assert!(
        t.stop().stderr.contains("sys_exit"),
        "stderr names the hooks in use"
    );
}

#[test]
fn failed_exec_with_the_largest_argv_cap_keeps_its_args() {
    let mut t = Tracer::start(&["exec", "--failed", "--max-argv-bytes", "64K"]);
    let m = marker("cap64k");
    let missing = format!("/nonexistent/{m}");
    let big = "y".repeat(1000);
    assert!(Command::new(&missing).arg(&m).arg(&big).status().is_err());
    let v = exec_of(&mut t, &m, &missing);
    assert_eq!(args_of(&v), [missing.as_str(), &m, &big]);
    assert_eq!(v["args_truncated"], false);
    assert_eq!(v["args_size"], missing.len() + m.len() + big.len() + 3);
}

#[test]
fn failed_exec_keeps_the_exact_prefix_of_a_cut_argument() {
    let mut t = Tracer::start(&["exec", "--failed"]);
    let m = marker("cutfail");
    let missing = format!("/nonexistent/{m}");
    let script: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert!(Command::new(&missing)
        .arg(&m)
        .arg(&script)
        .arg("after")
        .status()
        .is_err());
    let v = exec_of(&mut t, &m, &missing);
    let args = args_of(&v);
    assert_eq!(args.len(), 3, "{args:?}");
    assert_eq!(args[..2], [missing.clone(), m.clone()]);
    let kept = &args[2];
    assert!(
        !kept.is_empty() && script.starts_with(kept.as_str()),
        "an exact prefix"
    );
    // The default cap is 4 KiB: what is kept fills it (each element's NUL counted).
    let used: usize = args.iter().map(|a| a.len() + 1).sum();
    assert!((4090..=4096).contains(&used), "{used} bytes kept");
    assert_eq!(v["args_truncated"], true);
    let whole = missing.len() + m.len() + script.len() + "after".len() + 4;
    assert_eq!(v["args_size"], whole);
}

#[test]
fn failed_exec_args_size_is_measured_past_the_caps_or_null() {
    let mut t = Tracer::start(&["exec", "--failed"]);
    // 200 elements: 128 kept, the whole size measured.
    let m = marker("measured");
    let missing = format!("/nonexistent/{m}");
    let many: Vec<String> = (0..198).map(|i| format!("arg{i}")).collect();
    assert!(Command::new(&missing).arg(&m).args(&many).status().is_err());
    let v = exec_of(&mut t, &m, &missing);
    assert_eq!(args_of(&v).len(), 128);
    assert_eq!(v["args_truncated"], true);
    let whole = missing.len() + 1 + m.len() + 1 + many.iter().map(|a| a.len() + 1).sum::<usize>();
    assert_eq!(v["args_size"], whole);

    // More elements than are followed: the size is not known, and says so.
    let m = marker("unmeasured");
    let missing = format!("/nonexistent/{m}");
    let lots: Vec<String> = (0..1100).map(|i| i.to_string()).collect();
    assert!(Command::new(&missing).arg(&m).args(&lots).status().is_err());
    let v = exec_of(&mut t, &m, &missing);
    assert_eq!(args_of(&v).len(), 128);
    assert_eq!(v["args_truncated"], true);
    assert_eq!(v["args_size"], Value::Null);
}

#[test]
fn ia32_syscalls_are_told_from_native_ones() {
    // The raw tier: the syscall tracepoints do not see 32-bit calls.
    let mut t = Tracer::start(&["exec", "--failed", "--failed-hook", "raw"]);

    // i386's syscall 59 is not execve: registers dressed up as a native
    // execve("/fake/MARKER") must not become an exec record.
    let spoof = marker("spoof");
    let (_, ret) = run_helper(&["int80", "spoof", &spoof]);
    assert_eq!(ret, "-14", "the ia32 call itself fails with EFAULT");

    // A real ia32 execve and execveat that fail are reported as they were made.
    let m = marker("ia32");
    let missing = format!("/nonexistent/{m}");
    let (pid, ret) = run_helper(&["int80", "execve", &missing, &m, "x y"]);
    assert_eq!(ret, "-2");
    let v = exec_of(&mut t, &m, &missing);
    assert_eq!(
        (v["ret"].clone(), v["error"].clone()),
        (Value::from(-2), Value::from("ENOENT"))
    );
    assert_eq!(args_of(&v), [missing.as_str(), &m, "x y"]);
    assert_eq!(v["pid"], pid);
    assert_eq!(v["args_size"], missing.len() + m.len() + 6);

    let m = marker("ia32at");
    let name = format!("no-such-{m}");
    let (pid, ret) = run_helper(&["int80", "execveat", "/bin", &name, "at", &m]);
    assert_eq!(ret, "-2");
    let v = exec_of(&mut t, &m, &name);
    assert_eq!(v["error"], "ENOENT");
    assert_eq!(args_of(&v), ["at", &m]);
    assert_eq!(v["pid"], pid);

    // A successful ia32 execve: exactly one record.
    let m = marker("ia32ok");
    let (pid, _) = run_helper(&["int80", "execve", "/bin/true", &m]);
    let v = exec_of(&mut t, &m, "/bin/true");
    assert_eq!(
        (v["ret"].clone(), v["pid"].clone()),
        (Value::from(0), Value::from(pid))
    );
    assert_eq!(args_of(&v), ["/bin/true", &m]);

    // Everything before this sentinel has arrived; no trace of the spoof.
    let sentinel = marker("sentinel");
    run(Command::new("/bin/true").arg(&sentinel));
    t.exec_with(&sentinel);
    let fake = format!("/fake/{spoof}");
    let planted: Vec<&Value> = t
        .seen
        .iter()
        .filter(|v| v["filename"] == fake.as_str() || (has_arg(v, &spoof) && v["ret"] != 0))
        .collect();
    assert!(planted.is_empty(), "a planted exec: {planted:?}");
    let ours = t
        .seen
        .iter()
        .filter(|v| has_arg(v, &m) && v["filename"] == "/bin/true")
        .count();
    assert_eq!(ours, 1, "one record for the successful ia32 execve");
}

#[test]
fn execs_not_followed_for_a_full_table_of_execs_in_progress_are_counted() {
    // On a busy machine another process's execve can take the slot first: try
    // until the helper's held it at least once.
    let held = (0..5).any(|_| full_table_of_execs_in_progress());
    assert!(
        held,
        "in 5 tries the helper's execve never held the table's slot"
    );
}

/// Room for 1, taken by an execve that waits inside the kernel (or by anyone
/// else's on this busy machine): the next failed exec is counted. True if the
/// helper's execve held the slot.
fn full_table_of_execs_in_progress() -> bool {
    // A tier with a table of execs in progress (fexit has none).
    let t = Tracer::start(&[
        "exec",
        "--failed",
        "--failed-hook",
        "raw",
        "--table-size",
        "1",
    ]);
    let mut stuck = Command::new(helper())
        .arg("stuck-exec")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let helper_pid = stuck.id();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stuck.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "stuck",
        "the helper's execve waits in the kernel"
    );
    let missing = format!("/nonexistent/{}", marker("unfollowed"));
    assert!(Command::new(&missing).status().is_err());
    writeln!(stuck.stdin.take().unwrap(), "go").unwrap();
    assert!(stuck.wait().unwrap().success());
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "{}", f.stderr);
    assert!(lost(&f.records, "inflight_full") >= 1, "{:?}", f.records);
    // The helper's execve failed once released: reported iff it held the slot from
    // its start to its end. Then the missing exec found the table full. (If another
    // process's execve held the slot first, the helper's was the one not followed,
    // and the missing one may have found the slot free again.)
    let held = f
        .records
        .iter()
        .any(|v| v["type"] == "exec" && v["pid"] == helper_pid && v["ret"].as_i64() < Some(0));
    let reported = f.records.iter().any(|v| v["filename"] == missing.as_str());
    assert!(!(held && reported), "not followed, so not reported");
    held
}
