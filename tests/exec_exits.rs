//! `exec --exits`: exit codes and signals, core dumps, one exit record per process
//! (whatever its threads do) paired with its exec, and exits a full table could not decide.

use ebpf_jsonl_testkit as common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::exec_helper::helper;
use common::{default_signals, has_arg, lost, marker, run, Tracer};
use serde_json::Value;

fn exit_of(t: &mut Tracer, pid: u32) -> Value {
    t.wait_for(&format!("exit of {pid}"), |v| {
        v["type"] == "exit" && v["pid"] == pid
    })
}

/// How many exit records of `pid` the tracer has seen so far.
fn exits_seen(t: &Tracer, pid: u32) -> usize {
    let exits = t.seen.iter().filter(|v| v["type"] == "exit");
    exits.filter(|v| v["pid"] == pid).count()
}

fn exec_of(t: &mut Tracer, m: &str, filename: &str) -> Value {
    t.wait_for(m, |v| has_arg(v, m) && v["filename"] == filename)
}

#[test]
fn exit_codes_signals_and_pairing_by_exec_id() {
    let mut t = Tracer::start(&["exec", "--exits"]);
    for code in [0, 3, 255] {
        let m = marker("exit");
        let script = format!("exit {code}");
        let pid = run(Command::new("/bin/sh").args(["-c", &script, &m]));
        let exec = exec_of(&mut t, &m, "/bin/sh");
        let exit = exit_of(&mut t, pid);
        assert_eq!(exit["exit_code"], code, "{exit}");
        assert_eq!(exit["signal"], Value::Null);
        assert_eq!(exit["core_dumped"], false);
        assert_eq!(exit["ppid"], std::process::id());
        assert_eq!(exit["comm"], "sh");
        assert_eq!(exec["ret"], 0);
        assert_eq!(exec["error"], Value::Null);
        assert_eq!(exit["exec_id"], exec["exec_id"], "exec and exit pair up");
        assert!(exit["exec_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{pid}-")));
        let d = exit["duration_ns"].as_u64().unwrap();
        assert!(d > 0 && d < 10_000_000_000, "duration {d}");
    }
    // Killed by SIGKILL.
    let m = marker("kill");
    let pid = run(Command::new("/bin/sh").args(["-c", "kill -9 $$", &m]));
    let exit = exit_of(&mut t, pid);
    assert_eq!(exit["signal"], "SIGKILL");
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["core_dumped"], false);
}

#[test]
fn core_dump_is_reported() {
    let dir = std::env::temp_dir().join(marker("core"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = Tracer::start(&["exec", "--exits"]);
    let m = marker("core");
    // A live process dumping core on SIGQUIT, in a directory of our own.
    let mut cmd = Command::new("/bin/sh");
    cmd.current_dir(&dir)
        .args(["-c", "ulimit -c unlimited; exec /bin/sleep 30"])
        .arg(&m);
    // SIGQUIT must kill it even if the test runner ignores SIGQUIT.
    default_signals(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
    child.wait().unwrap();
    let exit = exit_of(&mut t, child.id());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(exit["signal"], "SIGQUIT");
    assert_eq!(exit["exit_code"], 131);
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    if pattern.trim() == "core" {
        assert_eq!(
            exit["core_dumped"], true,
            "core_pattern is `core` and ulimit -c unlimited"
        );
    }
}

#[test]
fn threads_ending_before_the_leader_make_one_exit_record() {
    let mut t = Tracer::start(&["exec", "--exits"]);
    let m = marker("threads");
    let pid = run(Command::new("perl").args([
        "-Mthreads",
        "-e",
        "threads->create(sub { 1 })->join for 1..4; exit 7",
        &m,
    ]));
    let exit = exit_of(&mut t, pid);
    assert_eq!(exit["exit_code"], 7);
    // Give any stray per-thread record time to arrive, then count.
    let m2 = marker("sentinel");
    run(Command::new("/bin/true").arg(&m2));
    t.exec_with(&m2);
    assert_eq!(
        exits_seen(&t, pid),
        1,
        "one exit record per process, not per thread"
    );
}

#[test]
fn one_exit_per_process_named_after_its_leader() {
    // Threads named "worker" leave with the leader, or after it; the exit is
    // the process's, once, with its name, and passes a --comm filter on it.
    let mut t = Tracer::start(&["exec", "--exits", "--comm", "exec_helper"]);
    let mut pids = Vec::new();
    for i in 0..60 {
        let mode = if i % 3 == 0 {
            "leader-first"
        } else {
            "threads"
        };
        let mut child = Command::new(helper())
            .args([mode, "6", "0"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let st = child.wait().unwrap();
        pids.push((child.id(), st.code()));
    }
    let sentinel = marker("sentinel");
    run(Command::new(helper()).arg(&sentinel));
    t.exec_with(&sentinel);
    for &(pid, code) in &pids {
        let exit = exit_of(&mut t, pid);
        assert_eq!(exit["comm"], "exec_helper", "the leader's name: {exit}");
        assert_eq!(
            Some(exit["exit_code"].as_i64().unwrap() as i32),
            code,
            "{exit}"
        );
    }
    // Stray duplicates would have come before the sentinel's exit.
    let sentinel_pid = t.exec_with(&sentinel)["pid"].as_u64().unwrap() as u32;
    exit_of(&mut t, sentinel_pid);
    for &(pid, _) in &pids {
        assert_eq!(exits_seen(&t, pid), 1, "exactly one exit record for {pid}");
    }
}

#[test]
fn exits_not_decided_for_a_full_exit_table_are_counted() {
    // Room for 1: a zombie holds it until reaped, so the next exit is counted.
    let t = Tracer::start(&["exec", "--exits", "--table-size", "1"]);
    let mut zombie = Command::new("/bin/true").spawn().unwrap();
    let stat = format!("/proc/{}/stat", zombie.id());
    for _ in 0..1000 {
        let s = std::fs::read_to_string(&stat).unwrap();
        if s.rsplit(')').next().unwrap().trim_start().starts_with('Z') {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    run(&mut Command::new("/bin/true"));
    zombie.wait().unwrap();
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "{}", f.stderr);
    assert!(lost(&f.records, "exits_full") >= 1, "{:?}", f.records);
}
