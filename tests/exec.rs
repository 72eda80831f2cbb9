//! `ebpf-jsonl exec` against the real kernel: each test starts the tool, runs
//! children carrying a unique marker argument, and checks their exact records.

use ebpf_jsonl_testkit as common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use common::exec_helper::{execveat, write_program};
use common::{args_of, marker, run, Tracer};
use serde::Deserialize;
use serde_json::Value;

/// The exec record contract: every field present with its type.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Exec {
    timestamp: String,
    pid: u32,
    tid: u32,
    ppid: u32,
    uid: u32,
    gid: u32,
    comm: String,
    filename: String,
    args: Vec<String>,
    args_truncated: bool,
    args_size: Option<u32>,
    cgroup_id: u64,
}

fn typed(v: &Value) -> Exec {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("exec record {v}: {e}"))
}

/// The cgroup v2 id of this process: the inode of its cgroup directory.
fn own_cgroup_id() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let root = mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| f[1].to_string())
        .expect("a cgroup2 mount");
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line");
    std::fs::metadata(format!("{root}{path}")).unwrap().ino()
}

fn rfc3339_to_unix(ts: &str) -> f64 {
    // 2026-11-25T08:22:22.123456789Z
    assert_eq!(
        ts.len(),
        30,
        "timestamp {ts} is RFC3339 with 9 fractional digits"
    );
    assert!(ts.ends_with('Z'));
    let out = Command::new("date")
        .args(["-u", "-d", ts, "+%s.%N"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn exact_record_for_awkward_arguments() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("awkward");
    let awkward = [
        m.as_str(),
        "a b",
        "it's \"quoted\"",
        "line1\nline2",
        "",
        "tab\there",
        "back\\slash",
        "ünïcödé ✓",
        "",
    ];
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let pid = run(Command::new("/bin/true").args(awkward));
    let v = t.exec_with(&m);
    let e = typed(&v);
    let mut want = vec!["/bin/true".to_string()];
    want.extend(awkward.iter().map(|s| s.to_string()));
    assert_eq!(e.args, want);
    assert_eq!(e.filename, "/bin/true");
    assert_eq!(e.comm, "true");
    assert_eq!((e.pid, e.tid), (pid, pid));
    assert_eq!(e.ppid, std::process::id());
    assert_eq!((e.uid, e.gid), (0, 0));
    assert!(!e.args_truncated);
    let whole: usize = e.args.iter().map(|a| a.len() + 1).sum();
    assert_eq!(
        e.args_size,
        Some(whole as u32),
        "every byte of argv, NULs included"
    );
    assert_eq!(e.cgroup_id, own_cgroup_id());
    let at = rfc3339_to_unix(&e.timestamp);
    assert!(
        at >= before - 0.5 && at <= before + 10.0,
        "timestamp {} is not the time of the exec",
        e.timestamp
    );
    assert_eq!(v["type"], "exec");
}

#[test]
fn non_utf8_bytes_become_replacement_characters() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("bytes");
    run(Command::new("/bin/true")
        .arg(&m)
        .arg(OsStr::from_bytes(b"bad\xffbyte"))
        .arg(OsStr::from_bytes(b"\xc3\x28")));
    let e = typed(&t.exec_with(&m));
    assert_eq!(e.args, ["/bin/true", &m, "bad\u{fffd}byte", "\u{fffd}("]);
    assert!(!e.args_truncated);
}

#[test]
fn two_hundred_arguments_capped_by_default_and_whole_with_the_flag() {
    let m = marker("many");
    let many: Vec<String> = (0..199).map(|i| format!("arg{i}")).collect();
    let mut want = vec!["/bin/true".to_string(), m.clone()];
    want.extend(many.iter().take(198).cloned());

    let mut t = Tracer::start(&["exec"]);
    run(Command::new("/bin/true").arg(&m).args(&many));
    let e = typed(&t.exec_with(&m));
    assert_eq!(e.args.len(), 128);
    assert_eq!(e.args[..], want[..128]);
    assert!(e.args_truncated);

    let mut t = Tracer::start(&["exec", "--max-args", "256", "--max-argv-bytes", "8K"]);
    let m2 = marker("many");
    run(Command::new("/bin/true").arg(&m2).args(&many));
    let e = typed(&t.exec_with(&m2));
    assert_eq!(e.args.len(), 201);
    assert_eq!(e.args[2..], many[..]);
    assert!(!e.args_truncated);
}

#[test]
fn forty_kib_argument_truncates_exactly_and_fits_with_the_flag() {
    let big: String = "x".repeat(40 * 1024);
    let mut t = Tracer::start(&["exec"]);
    let m = marker("big");
    run(Command::new("/bin/true").arg(&m).arg(&big).arg("after"));
    let v = t.exec_with(&m);
    let e = typed(&v);
    // What was kept is exact: the cut argument's prefix, up to the 4 KiB cap.
    assert_eq!(e.args.len(), 3, "{:?}", e.args);
    assert_eq!(e.args[..2], ["/bin/true", &m]);
    let used: usize = e.args.iter().map(|a| a.len() + 1).sum();
    assert_eq!(used, 4097, "4096 bytes kept, then the cut argument's NUL");
    assert_eq!(e.args[2], big[..e.args[2].len()]);
    assert!(e.args_truncated);
    // The size of the whole argv: what was not seen.
    assert_eq!(v["args_size"], 10 + m.len() + 1 + big.len() + 1 + 6);

    let mut t = Tracer::start(&["exec", "--max-argv-bytes", "64K"]);
    let m = marker("big");
    run(Command::new("/bin/true").arg(&m).arg(&big).arg("after"));
    let v = t.exec_with(&m);
    let e = typed(&v);
    assert_eq!(e.args, ["/bin/true", &m, &big, "after"]);
    assert!(!e.args_truncated);
    assert_eq!(v["args_size"], 10 + m.len() + 1 + big.len() + 1 + 6);
}

#[test]
fn an_argument_padded_past_the_cap_still_shows_its_start() {
    // `bash -c '<5 KiB script>'`: the script's start is there, exactly.
    let mut t = Tracer::start(&["exec"]);
    let m = marker("script");
    let script = format!("echo {m}; {}", "#".repeat(5 * 1024));
    run(Command::new("/bin/sh").args(["-c", &script, &m]));
    let v = t.wait_for(&m, |v| {
        v["type"] == "exec"
            && v["filename"] == "/bin/sh"
            && args_of(v).get(1).map(String::as_str) == Some("-c")
            && args_of(v)
                .get(2)
                .is_some_and(|a| a.starts_with(&format!("echo {m};")))
    });
    let args = args_of(&v);
    assert_eq!(args.len(), 3, "argv cut inside the script");
    assert!(script.starts_with(args[2].as_str()));
    assert_eq!(v["args_truncated"], true);
    assert_eq!(v["args_size"], 8 + 3 + script.len() + 1 + m.len() + 1);
}

#[test]
fn execveat_through_a_file_descriptor() {
    use std::os::fd::AsRawFd;
    let mut t = Tracer::start(&["exec"]);

    // fexecve style: execveat(fd, "", AT_EMPTY_PATH).
    let exe = std::fs::File::open("/bin/true").unwrap();
    let m = marker("fexec");
    let pid = execveat(
        exe.as_raw_fd(),
        "",
        libc::AT_EMPTY_PATH,
        &["fexec-true", &m],
    );
    let e = typed(&t.exec_with(&m));
    assert_eq!(e.filename, "", "the path exactly as passed");
    assert_eq!(e.args, ["fexec-true", &m]);
    assert_eq!(e.pid, pid);
    assert_eq!(e.comm, "true");

    // Relative to a directory fd.
    let dir = std::fs::File::open("/bin").unwrap();
    let m = marker("dirfd");
    let pid = execveat(dir.as_raw_fd(), "true", 0, &["true", &m]);
    let e = typed(&t.exec_with(&m));
    assert_eq!(e.filename, "true");
    assert_eq!(e.args, ["true", &m]);
    assert_eq!(e.pid, pid);
}

#[test]
fn script_with_a_shebang() {
    let dir = std::env::temp_dir().join(marker("script"));
    let script = write_program(&dir, "hello.sh", "#!/bin/sh\nexit 0\n", 0o755);
    let path = script.to_str().unwrap().to_string();

    let mut t = Tracer::start(&["exec"]);
    let m = marker("shebang");
    let pid = run(Command::new(&script).arg(&m));
    let e = typed(&t.exec_with(&m));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.filename, path, "the path the caller passed");
    assert_eq!(e.comm, "hello.sh");
    // The argv the new program runs with: interpreter, script, then the rest.
    assert_eq!(e.args, ["/bin/sh", &path, &m]);
    assert_eq!(e.pid, pid);
}

#[test]
fn exec_from_a_thread_other_than_the_leader() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("thread");
    let pid = run(Command::new("perl").args([
        "-Mthreads",
        "-e",
        r#"threads->create(sub { exec { "/bin/true" } "/bin/true", @ARGV })->join"#,
        &m,
    ]));
    // The marker is on perl's own exec too: pick the one perl's thread made.
    let v = t.wait_for("exec from thread", |v| {
        common::has_arg(v, &m) && v["filename"] == "/bin/true"
    });
    let e = typed(&v);
    assert_eq!(e.args, ["/bin/true", &m]);
    assert_eq!(e.pid, pid, "pid is the thread group");
    assert_ne!(e.tid, pid, "tid is the thread that called exec");
    assert!(e.tid > pid);
    assert_eq!(e.ppid, std::process::id());
}

#[test]
fn every_exec_of_a_burst_arrives_in_order() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("burst");
    let pids: Vec<u32> = (0..50)
        .map(|i| run(Command::new("/bin/true").arg(&m).arg(i.to_string())))
        .collect();
    let got: Vec<u32> = (0..50)
        .map(|i| {
            let i = i.to_string();
            let v = t.wait_for("burst", |v| {
                common::has_arg(v, &m) && args_of(v).last() == Some(&i)
            });
            typed(&v).pid
        })
        .collect();
    assert_eq!(got, pids);
    let ours: Vec<&Value> = t.seen.iter().filter(|v| common::has_arg(v, &m)).collect();
    assert_eq!(ours.len(), 50, "each exec exactly once");
}
