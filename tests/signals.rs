//! How a run ends: SIGINT and SIGTERM drain and exit 0, --duration ends it, a closed
//! stdout ends it quietly; SIGHUP without --output drains like SIGTERM unless nohup
//! ignored it, and SIGUSR1 is harmless.

use ebpf_jsonl_testkit as common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{has_arg, marker, run, tool_command, Tracer, Wired};
use serde_json::Value;

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
    let mut child = tool_command(None)
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
fn sighup_without_output_drains_like_sigterm_and_sigusr1_is_harmless() {
    let mut t = Tracer::start(&["exec"]);
    t.signal(libc::SIGUSR1);
    let m1 = marker("usr1");
    run(Command::new("/bin/true").arg(&m1));
    t.exec_with(&m1);
    let m2 = marker("hup");
    run(Command::new("/bin/true").arg(&m2));
    t.signal(libc::SIGHUP);
    let f = t.wait();
    assert_eq!(f.status.code(), Some(0), "stderr:\n{}", f.stderr);
    assert_eq!(f.records.iter().filter(|v| has_arg(v, &m2)).count(), 1);
    assert!(!f.stderr.contains("error"), "{}", f.stderr);
}

#[test]
fn sighup_ignored_by_nohup_stays_ignored() {
    use std::os::unix::process::CommandExt;
    let mut cmd = tool_command(None);
    cmd.arg("exec");
    // SAFETY: only signal(2) between fork and exec, as nohup does.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let (mut r, w) = std::io::pipe().unwrap();
    let mut t = Wired::start(cmd, w.into());
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        out
    });
    t.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        t.child.try_wait().unwrap().is_none(),
        "SIGHUP ended a run started under nohup; stderr:\n{}",
        t.stderr()
    );
    let m = marker("nohup");
    run(Command::new("/bin/true").arg(&m));
    t.signal(libc::SIGTERM);
    let (st, _) = t.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "stderr:\n{}", t.stderr());
    let out = reader.join().unwrap();
    let n = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|v| has_arg(v, &m))
        .count();
    assert_eq!(n, 1, "still tracing after the SIGHUP");
}
