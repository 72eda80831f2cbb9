//! `exec` in depth: exit records, failed execs, container identity, filters.

use ebpf_jsonl_testkit as common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{args_of, default_signals, has_arg, marker, run, run_in_cgroup, Tracer};
use serde_json::Value;

fn exit_of(t: &mut Tracer, pid: u32) -> Value {
    t.wait_for(&format!("exit of {pid}"), |v| {
        v["type"] == "exit" && v["pid"] == pid
    })
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
    let n = t
        .seen
        .iter()
        .filter(|v| v["type"] == "exit" && v["pid"] == pid)
        .count();
    assert_eq!(n, 1, "one exit record per process, not per thread");
}

#[test]
fn failed_execs_carry_ret_and_error() {
    let dir = std::env::temp_dir().join(marker("failed"));
    std::fs::create_dir_all(&dir).unwrap();
    let noexec = dir.join("not-executable");
    std::fs::write(&noexec, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).unwrap();

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

/// A cgroup v2 directory the test makes and removes.
struct TestCgroup {
    dirs: Vec<PathBuf>,
}

impl TestCgroup {
    fn new(leaf: &str) -> (TestCgroup, PathBuf, String) {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let root = mounts
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.get(2) == Some(&"cgroup2"))
            .map(|f| PathBuf::from(f[1]))
            .expect("a cgroup2 mount");
        let top = root.join(marker("cg"));
        let full = top.join(leaf);
        std::fs::create_dir_all(&full).unwrap();
        let rel = format!("/{}", full.strip_prefix(&root).unwrap().display());
        (
            TestCgroup {
                dirs: vec![full.clone(), top],
            },
            full,
            rel,
        )
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

const CID: &str = "4c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345678";

#[test]
fn cgroup_path_container_id_and_namespaces() {
    let (_cg, dir, rel) = TestCgroup::new(&format!("docker-{CID}.scope"));
    let mut t = Tracer::start(&["exec"]);
    let m = marker("cgroup");
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(v["cgroup"], rel.as_str());
    assert_eq!(v["container_id"], CID);
    assert_eq!(v["cgroup_id"], std::fs::metadata(&dir).unwrap().ino());
    let ns = |kind: &str| {
        std::fs::metadata(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .ino()
    };
    assert_eq!(v["mntns"], ns("mnt"));
    assert_eq!(v["pidns"], ns("pid"));

    // Outside any container: a path, and container_id null.
    let m = marker("host");
    run(Command::new("/bin/true").arg(&m));
    let v = t.exec_with(&m);
    assert!(v["cgroup"].as_str().unwrap().starts_with('/'));
    assert_eq!(v["container_id"], Value::Null);
}

/// Runs `wanted` and `unwanted` execs, then a sentinel that passes the filter;
/// returns the markers seen once the sentinel arrived.
fn filtered(t: &mut Tracer, sentinel: &str) -> Vec<Value> {
    t.exec_with(sentinel);
    std::thread::sleep(Duration::from_millis(200));
    t.seen.clone()
}

#[test]
fn uid_filter() {
    let mut t = Tracer::start(&["exec", "--uid", "65534"]);
    let (yes, no) = (marker("uid-yes"), marker("uid-no"));
    run(Command::new("/bin/true").arg(&no));
    run(Command::new("/bin/true").arg(&yes).uid(65534).gid(65534));
    let seen = filtered(&mut t, &yes);
    assert!(seen.iter().all(|v| v["uid"] == 65534), "only uid 65534");
    assert!(!seen.iter().any(|v| has_arg(v, &no)));
}

#[test]
fn comm_filter() {
    let mut t = Tracer::start(&["exec", "--comm", "true", "--comm", "nothing"]);
    let (yes, no) = (marker("comm-yes"), marker("comm-no"));
    run(Command::new("/bin/echo").arg(&no));
    run(Command::new("/bin/true").arg(&yes));
    let seen = filtered(&mut t, &yes);
    assert!(seen.iter().all(|v| v["comm"] == "true"));
    assert!(!seen.iter().any(|v| has_arg(v, &no)));
}

#[test]
fn pid_filter_follows_descendants_started_later() {
    let mut sh = Command::new("/bin/sh")
        .args([
            "-c",
            "read go; /bin/true \"$1\"; /bin/sh -c '/bin/true \"$1\"' - \"$2\"",
            "sh",
        ])
        .arg(marker("child"))
        .arg(marker("grandchild"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = sh.id().to_string();
    let mut t = Tracer::start(&["exec", "--pid", &pid, "--exits"]);
    let outsider = marker("outsider");
    run(Command::new("/bin/true").arg(&outsider));
    writeln!(sh.stdin.take().unwrap(), "go").unwrap();
    sh.wait().unwrap();
    let exit = exit_of(&mut t, sh.id());
    assert_eq!(exit["exit_code"], 0);
    // Without --exits, the exit hook only follows the tree: no exit records.
    let own = std::process::id().to_string();
    let mut quiet = Tracer::start(&["exec", "--pid", &own]);
    let m = marker("quiet");
    run(Command::new("/bin/true").arg(&m));
    quiet.exec_with(&m);
    std::thread::sleep(Duration::from_millis(200));
    let f = quiet.stop();
    assert!(!f.records.iter().any(|v| v["type"] == "exit"));
    let execs: Vec<&Value> = t.seen.iter().filter(|v| v["type"] == "exec").collect();
    let trues: Vec<&&Value> = execs
        .iter()
        .filter(|v| v["filename"] == "/bin/true")
        .collect();
    assert_eq!(trues.len(), 2, "child and grandchild: {execs:?}");
    assert!(!t.seen.iter().any(|v| has_arg(v, &outsider)));

    let (st, _, err) = common::run_tool(&["exec", "--pid", "999999999"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("999999999"), "{err}");
}

#[test]
fn cgroup_filter() {
    let (_cg, dir, rel) = TestCgroup::new("filtered");
    let mut t = Tracer::start(&["exec", "--cgroup", &rel]);
    let (yes, no) = (marker("cg-yes"), marker("cg-no"));
    run(Command::new("/bin/true").arg(&no));
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&yes));
    let seen = filtered(&mut t, &yes);
    assert!(seen.iter().all(|v| v["cgroup"] == rel.as_str()), "{seen:?}");
    assert!(!seen.iter().any(|v| has_arg(v, &no)));

    let (st, _, err) = common::run_tool(&["exec", "--cgroup", "/no/such/cgroup"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("/no/such/cgroup"), "{err}");
}

#[test]
fn match_filter_in_userspace() {
    let tag = marker("needle");
    let re = format!("{tag}-[0-9]+$");
    let mut t = Tracer::start(&["exec", "--match", &re, "--exits"]);
    let (yes, no) = (format!("{tag}-42"), format!("{tag}-x"));
    run(Command::new("/bin/true").arg(&no));
    let pid = run(Command::new("/bin/true").arg(&yes));
    let seen = filtered(&mut t, &yes);
    assert!(!seen.iter().any(|v| has_arg(v, &no)));
    let exit = exit_of(&mut t, pid);
    assert_eq!(exit["exec_id"], t.exec_with(&yes)["exec_id"]);

    let (st, _, err) = common::run_tool(&["exec", "--match", "("]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("regular expression"), "{err}");
}

/// tests/data/exec_helper.c, built once per test run with `cc`.
fn helper() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exec_helper.c");
        // In cargo's scratch directory for tests; built under a name of its
        // own, then renamed, so test runs side by side never see half a file.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let exe = dir.join("exec_helper");
        let tmp = dir.join(format!("exec_helper.{}", std::process::id()));
        let out = Command::new("cc")
            .args(["-O2", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("cc (gcc) compiles the test helper");
        assert!(
            out.status.success(),
            "cc {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &exe).unwrap();
        exe
    })
}

/// Runs the helper; returns (pid, its stdout).
fn run_helper(args: &[&str]) -> (u32, String) {
    let child = Command::new(helper())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn ia32_syscalls_are_told_from_native_ones() {
    let mut t = Tracer::start(&["exec", "--failed"]);

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
        let n = t
            .seen
            .iter()
            .filter(|v| v["type"] == "exit" && v["pid"] == pid)
            .count();
        assert_eq!(n, 1, "exactly one exit record for {pid}");
    }
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

/// The `count`s of the `lost` records with this reason.
fn lost(records: &[Value], reason: &str) -> u64 {
    records
        .iter()
        .filter(|v| v["type"] == "lost" && v["reason"] == reason)
        .map(|v| v["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn descendants_not_followed_for_a_full_pid_table_are_counted() {
    // Room for 2: the traced shell and one child; three children live at once.
    let mut sh = Command::new("/bin/sh")
        .args([
            "-c",
            "read go; /bin/sleep 0.5 & /bin/sleep 0.5 & /bin/sleep 0.5 & wait",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = sh.id().to_string();
    let t = Tracer::start(&["exec", "--pid", &pid, "--table-size", "2"]);
    writeln!(sh.stdin.take().unwrap(), "go").unwrap();
    sh.wait().unwrap();
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "{}", f.stderr);
    let n = lost(&f.records, "pids_full");
    assert!((1..=3).contains(&n), "children not followed: {n}");
}

#[test]
fn execs_not_followed_for_a_full_table_of_execs_in_progress_are_counted() {
    // Room for 1, taken by an execve that waits inside the kernel (or by
    // anyone else's on this busy machine): the next failed exec is counted.
    let t = Tracer::start(&["exec", "--failed", "--table-size", "1"]);
    let mut stuck = Command::new(helper())
        .arg("stuck-exec")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
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
    assert!(
        !f.records.iter().any(|v| v["filename"] == missing.as_str()),
        "not followed, so not reported"
    );
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
