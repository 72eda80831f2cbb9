//! `exec`'s cgroup identity (path, container id, namespaces) and its filters: --uid,
//! --comm, --pid (following descendants; a full table of them counted), --cgroup, --match.

use ebpf_jsonl_testkit as common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{has_arg, lost, marker, run, run_in_cgroup, Tracer};
use serde_json::Value;

fn exit_of(t: &mut Tracer, pid: u32) -> Value {
    t.wait_for(&format!("exit of {pid}"), |v| {
        v["type"] == "exit" && v["pid"] == pid
    })
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
