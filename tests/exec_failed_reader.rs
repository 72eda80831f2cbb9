//! `exec --failed`'s two argv readers (bpf/exec_failed.bpf.h): bpf_loop's,
//! loaded where the kernel has bpf_loop (5.17+), and the unrolled loops of
//! older kernels, forced here with the hidden `--argv-reader`. Both print the
//! same records for the same failed execs (an ENOENT, a cut argument, argv
//! measured past the caps or beyond what is followed, an unreadable element,
//! ia32's), at the default caps and the largest, and the loop one costs the
//! verifier a fraction of the unrolled one's instructions.

use ebpf_jsonl_testkit as common;

use std::process::Command;

use common::exec_helper::run_helper;
use common::{args_of, has_arg, marker, run_tool, Tracer};
use serde_json::Value;

/// The same tracer twice, one per reader.
struct Readers {
    lp: Tracer,
    unrolled: Tracer,
}

impl Readers {
    fn start(args: &[&str]) -> Readers {
        let with = |r: &str| {
            let mut a = args.to_vec();
            a.extend(["--argv-reader", r]);
            Tracer::start(&a)
        };
        Readers {
            lp: with("loop"),
            unrolled: with("unrolled"),
        }
    }

    /// The failed exec with marker `m` as both readers report it: the same
    /// record but for the time each program took it at. Returns it.
    fn same(&mut self, m: &str) -> Value {
        let failed = |t: &mut Tracer| {
            let v = t.wait_for(m, |v| has_arg(v, m) && v["ret"].as_i64() < Some(0));
            let mut c = v.clone();
            let o = c.as_object_mut().unwrap();
            o.remove("timestamp");
            o.remove("exec_id");
            c
        };
        let a = failed(&mut self.lp);
        let b = failed(&mut self.unrolled);
        assert_eq!(a, b, "{m}: loop vs unrolled");
        a
    }

    fn stop(self) {
        self.lp.stop_ok();
        self.unrolled.stop_ok();
    }
}

/// Execs `/nonexistent/MARKER` with argv `[path, MARKER, rest...]`; returns MARKER.
fn missing(tag: &str, rest: &[String]) -> String {
    let m = marker(tag);
    let path = format!("/nonexistent/{m}");
    assert!(Command::new(&path).arg(&m).args(rest).status().is_err());
    m
}

fn size_of(path_and_args: &[String]) -> usize {
    path_and_args.iter().map(|a| a.len() + 1).sum()
}

#[test]
fn both_readers_report_failed_execs_alike_at_the_default_caps() {
    let mut r = Readers::start(&["exec", "--failed"]);

    let m = missing("enoent", &["x y".into(), String::new()]);
    let v = r.same(&m);
    assert_eq!(v["error"], "ENOENT");
    assert_eq!(args_of(&v)[1..], [m.as_str(), "x y", ""]);

    // cut inside an element: its exact prefix, the whole size measured
    let script: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let m = missing("cut", &[script.clone(), "after".into()]);
    let v = r.same(&m);
    assert_eq!(v["args_truncated"], true);
    let whole = format!("/nonexistent/{m}").len() + m.len() + script.len() + 5 + 4;
    assert_eq!(v["args_size"], whole);

    // past --max-args: 128 kept, the rest measured
    let many: Vec<String> = (0..198).map(|i| format!("arg{i}")).collect();
    let m = missing("measured", &many);
    let v = r.same(&m);
    assert_eq!(args_of(&v).len(), 128);
    let mut all = vec![format!("/nonexistent/{m}"), m.clone()];
    all.extend(many);
    assert_eq!(v["args_size"], size_of(&all));

    // 1,024 elements are followed: 1,023 and argv's end measured; with
    // 1,024, its end is past them, and the size not known
    for (tag, n, known) in [("edge1023", 1021, true), ("edge1024", 1022, false)] {
        let rest: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let m = missing(tag, &rest);
        let v = r.same(&m);
        assert_eq!(args_of(&v).len(), 128, "{tag}");
        let mut all = vec![format!("/nonexistent/{m}"), m.clone()];
        all.extend(rest);
        let want = if known {
            Value::from(size_of(&all))
        } else {
            Value::Null
        };
        assert_eq!(v["args_size"], want, "{tag}");
    }

    // an unreadable element after two readable ones: execve fails with EFAULT
    // (of a file that exists: newer kernels open it before they read argv)
    let m = marker("unreadable");
    let path = "/bin/true";
    let (_, ret) = run_helper(&["bad-argv", path, &m]);
    assert_eq!(ret, "-14");
    let v = r.same(&m);
    assert_eq!(args_of(&v), [path, &m]);
    assert_eq!(
        (v["args_truncated"].clone(), v["args_size"].clone()),
        (Value::from(true), Value::Null)
    );

    // execveat(dirfd, name)
    let m = marker("execveat");
    let name = format!("no-such-{m}");
    let (_, ret) = run_helper(&["execveat", "/bin", &name, "at", &m]);
    assert_eq!(ret, "-2");
    assert_eq!(r.same(&m)["filename"], name.as_str());
    r.stop();
}

#[test]
fn both_readers_report_ia32_failed_execs_alike() {
    // the raw tier: sys_exit's twins, and the only one that sees ia32 calls
    let mut r = Readers::start(&["exec", "--failed", "--failed-hook", "raw"]);
    let m = marker("ia32");
    let path = format!("/nonexistent/{m}");
    let (_, ret) = run_helper(&["int80", "execve", &path, &m, "x y"]);
    assert_eq!(ret, "-2");
    let v = r.same(&m);
    assert_eq!(args_of(&v), [path.as_str(), &m, "x y"]);
    assert_eq!(v["args_size"], path.len() + m.len() + 6);

    let m = marker("ia32at");
    let name = format!("no-such-{m}");
    let (_, ret) = run_helper(&["int80", "execveat", "/bin", &name, "at", &m]);
    assert_eq!(ret, "-2");
    assert_eq!(args_of(&r.same(&m)), ["at", &m]);

    let m = missing("native", &["z".repeat(5000)]);
    assert_eq!(r.same(&m)["args_truncated"], true);
    r.stop();
}

/// Each BPF program `pid` holds: (kernel's program id, verified_insns).
fn verified_insns(pid: u32) -> Vec<(u64, u64)> {
    let mut progs = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let fd = fd.unwrap();
        let Ok(link) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if link.to_str() != Some("anon_inode:bpf-prog") {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let text = std::fs::read_to_string(info).unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {k} in fdinfo: {text}"))
        };
        progs.push((field("prog_id:"), field("verified_insns:")));
    }
    progs
}

#[test]
fn at_the_largest_caps_the_loop_reader_reports_alike_for_a_fraction_of_the_verifiers_work() {
    let mut r = Readers::start(&[
        "exec",
        "--failed",
        "--failed-hook",
        "raw",
        "--max-args",
        "65536",
        "--max-argv-bytes",
        "64K",
    ]);
    // 100 elements of 1,000 bytes: the 64 KiB cap cuts the 66th, the rest measured
    let big: Vec<String> = (0..100).map(|i| format!("{i:04}").repeat(250)).collect();
    let m = missing("bigcut", &big);
    let v = r.same(&m);
    assert_eq!(v["args_truncated"], true);
    let mut all = vec![format!("/nonexistent/{m}"), m.clone()];
    all.extend(big);
    assert_eq!(v["args_size"], size_of(&all));
    let kept: usize = args_of(&v).iter().map(|a| a.len() + 1).sum();
    assert!((65530..=65536).contains(&kept), "{kept} bytes kept");

    // more elements than are followed: 1,024 kept, the size not known
    let lots: Vec<String> = (0..1100).map(|i| i.to_string()).collect();
    let m = missing("lots", &lots);
    let v = r.same(&m);
    assert_eq!(args_of(&v).len(), 1024);
    assert_eq!(v["args_size"], Value::Null);

    // The same programs but sys_exit's twin, which verifies alike otherwise:
    // the programs both hold cancel out, leaving the twins. The loop one costs
    // the verifier under half the unrolled one (the cwd walk, the same in
    // both, is most of the loop one's).
    let insns = |t: &Tracer| -> Vec<u64> {
        let mut v: Vec<u64> = verified_insns(t.pid()).iter().map(|(_, n)| *n).collect();
        v.sort_unstable();
        v
    };
    let (mut lp, mut unrolled) = (insns(&r.lp), insns(&r.unrolled));
    assert_eq!(lp.len(), unrolled.len(), "{lp:?} {unrolled:?}");
    let common: Vec<u64> = lp
        .iter()
        .filter(|n| unrolled.contains(n))
        .copied()
        .collect();
    for n in common {
        lp.remove(lp.iter().position(|&x| x == n).unwrap());
        unrolled.remove(unrolled.iter().position(|&x| x == n).unwrap());
    }
    let (lp, unrolled) = match (&lp[..], &unrolled[..]) {
        ([l], [u]) => (*l, *u),
        _ => panic!("not one twin each: loop {lp:?}, unrolled {unrolled:?}"),
    };
    assert!(
        lp * 2 < unrolled,
        "verified instructions of sys_exit: loop {lp}, unrolled {unrolled}"
    );
    r.stop();
}

#[test]
fn check_names_the_reader_exec_would_load() {
    let (st, out, err) = run_tool(&["check"]);
    assert_eq!(st.code(), Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // this host's kernel (6.x) has bpf_loop
    assert_eq!(v["exec"]["failed_argv_reader"], "loop", "{}", v["exec"]);
}

#[test]
fn the_argv_reader_flag_takes_only_its_two_values() {
    let (st, _, err) = run_tool(&[
        "exec",
        "--failed",
        "--argv-reader",
        "fast",
        "--duration",
        "1s",
    ]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("--argv-reader"), "{err}");
}
