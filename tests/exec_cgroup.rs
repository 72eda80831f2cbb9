//! cgroup attribution of exec records against the real kernel: the path
//! comes from the kernel's names at the event, so it is right without
//! CAP_DAC_READ_SEARCH, for cgroups removed right after the exec, and for
//! long and deep paths.

use ebpf_jsonl_testkit as common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{marker, run_in_cgroup, Tracer};
use serde_json::Value;

const CID: &str = "c0ffee00123456789abcdef0123456789abcdef0123456789abcdef012345678";

fn cgroup2_root() -> PathBuf {
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| PathBuf::from(f[1]))
        .expect("a cgroup2 mount")
}

/// Removes an empty cgroup directory; it can be busy for a moment after its
/// last process was reaped.
fn rmdir(d: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(d).is_err() && d.exists() {
        assert!(Instant::now() < deadline, "cannot remove {}", d.display());
        thread::sleep(Duration::from_millis(1));
    }
}

/// A uniquely named child of the cgroup2 root, and cgroups under it;
/// everything is removed on drop, innermost first.
struct TestCgroup {
    root: PathBuf,
    top: PathBuf,
    made: Vec<PathBuf>,
}

impl TestCgroup {
    fn new() -> TestCgroup {
        let root = cgroup2_root();
        let top = root.join(marker("cg"));
        std::fs::create_dir(&top).unwrap();
        TestCgroup {
            root,
            top: top.clone(),
            made: vec![top],
        }
    }

    /// Makes `top/levels…` one level at a time; returns the full directory
    /// and its path relative to the cgroup2 root.
    fn make(&mut self, levels: &[String]) -> (PathBuf, String) {
        let mut d = self.top.clone();
        for l in levels {
            d.push(l);
            std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            self.made.push(d.clone());
        }
        let rel = format!("/{}", d.strip_prefix(&self.root).unwrap().display());
        (d, rel)
    }

    fn remove(&mut self, d: &Path) {
        rmdir(d);
        self.made.retain(|m| m != d);
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for d in self.made.iter().rev() {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The capabilities a running process holds (CapEff).
fn cap_eff(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = s
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

const CAP_BPF: u32 = 39;
const CAP_PERFMON: u32 = 38;

fn minimal_tracer() -> Tracer {
    let t = Tracer::start_minimal_caps(&["exec"]);
    assert_eq!(
        cap_eff(t.pid()),
        (1 << CAP_BPF) | (1 << CAP_PERFMON),
        "the tool holds CAP_BPF and CAP_PERFMON only (no CAP_DAC_READ_SEARCH)"
    );
    t
}

#[test]
fn named_with_only_cap_bpf_and_cap_perfmon() {
    let mut cg = TestCgroup::new();
    let (dir, rel) = cg.make(&["system.slice".into(), format!("docker-{CID}.scope")]);
    let mut t = minimal_tracer();
    let m = marker("minimal");
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(v["cgroup"], rel.as_str(), "{v}");
    assert_eq!(v["container_id"], CID, "{v}");
    assert_eq!(
        v["cgroup_id"],
        std::fs::metadata(&dir).unwrap().ino(),
        "{v}"
    );

    // The root cgroup is "/", as in /proc/PID/cgroup.
    let m = marker("root");
    run_in_cgroup(&cg.root.clone(), Command::new("/bin/true").arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(
        (&v["cgroup"], &v["container_id"]),
        (&Value::from("/"), &Value::Null)
    );
    assert_eq!(v["cgroup_id"], std::fs::metadata(&cg.root).unwrap().ino());
}

/// Short-lived cgroups (think Kubernetes jobs): each is removed as soon as
/// its processes have exited, long before userspace reads the events. The
/// second exec of a cgroup has its names from the first one's event.
#[test]
fn cgroups_removed_right_after_the_exec_are_named() {
    let mut cg = TestCgroup::new();
    let mut t = Tracer::start(&["exec"]);
    let mut jobs = Vec::new();
    for i in 0..40 {
        let (dir, rel) = cg.make(&[format!("job-{i}.scope")]);
        for _ in 0..2 {
            let m = marker("job");
            run_in_cgroup(&dir, Command::new("/bin/true").arg(&m));
            jobs.push((m, rel.clone()));
        }
        cg.remove(&dir);
    }
    let wrong: Vec<String> = jobs
        .iter()
        .filter_map(|(m, rel)| {
            let v = t.exec_with(m);
            (v["cgroup"] != rel.as_str()).then(|| format!("{rel}: {}", v["cgroup"]))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of 80 wrong: {wrong:?}", wrong.len());
}

#[test]
fn long_and_deep_paths() {
    let mut cg = TestCgroup::new();
    let mut minimal = minimal_tracer();
    let mut root = Tracer::start(&["exec"]);

    // 16 levels of 240-byte names: a 3.9 KB path, whole from the kernel.
    let long: Vec<String> = (0..16)
        .map(|i| format!("{i:02}{}", "n".repeat(238)))
        .collect();
    let (dir, rel) = cg.make(&long);
    assert!(rel.len() > 3_800);
    let m = marker("long");
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&m));
    assert_eq!(minimal.exec_with(&m)["cgroup"], rel.as_str());
    assert_eq!(root.exec_with(&m)["cgroup"], rel.as_str());

    // 40 levels: more than the kernel side walks (32). The innermost 32 come
    // from the kernel, marked as cut; with CAP_DAC_READ_SEARCH the whole path
    // is looked up instead.
    let deep: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
    let (dir, rel) = cg.make(&deep);
    let m = marker("deep");
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&m));
    let inner: String = deep[8..].iter().map(|d| format!("/{d}")).collect();
    assert_eq!(
        minimal.exec_with(&m)["cgroup"],
        format!("…{inner}").as_str()
    );
    assert_eq!(root.exec_with(&m)["cgroup"], rel.as_str());
}

/// A cgroup's names come with its first exec only, so they count even when
/// `--match` filters that exec's record out.
#[test]
fn names_from_a_record_filtered_out_by_match() {
    let mut cg = TestCgroup::new();
    let (dir, rel) = cg.make(&["first-filtered.scope".into()]);
    let tag = marker("match");
    let mut t = Tracer::start_minimal_caps(&["exec", "--match", &format!("^/bin/true {tag}-yes")]);
    let (no, yes) = (format!("{tag}-no"), format!("{tag}-yes"));
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&no));
    run_in_cgroup(&dir, Command::new("/bin/true").arg(&yes));
    let v = t.exec_with(&yes);
    assert_eq!(v["cgroup"], rel.as_str(), "{v}");
    assert!(!t.seen.iter().any(|v| common::has_arg(v, &no)));
}
