//! `ebpf-jsonl xdp` over a run's life, on its own veth pair: the interface
//! going away, down and up, the program detached by someone else, MTU 9000,
//! signals, a busy interface, bad values, a closed stdout, and `check`
//! leaving the interface as it was. Needs root; fails (never skips).

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl_testkit::flow_records::*;
use ebpf_jsonl_testkit::Tracer;
use net::{Pair, V4_A, V4_B};
use serde_json::Value;

fn restore_neighbours(pair: &Pair) {
    for (ns, ifc, peer, m) in [
        (&pair.ns_a, &pair.if_a, V4_B, net::MAC_B),
        (&pair.ns_b, &pair.if_b, V4_A, net::MAC_A),
    ] {
        net::static_neighbour(ns, ifc, &peer.to_string(), m);
    }
}

/// The tool (200 ms intervals) on a fresh pair without IPv6, once it has
/// counted `count` datagrams of 100 bytes from B's port `ports.0` to A's
/// `ports.1`: the pair, the tool, and those two ends.
fn counted(ports: (u16, u16), count: usize) -> (Pair, Tracer, (SocketAddr, SocketAddr)) {
    let pair = Pair::new(false);
    let mut tool = pair.tool(&["--interval", "200ms"]);
    let (src, dst) = (sa(V4_B, ports.0), sa(V4_A, ports.1));
    pair.in_b(move || net::send_udp(src, dst, count, 100));
    wait_packets(&mut tool, count as u64);
    (pair, tool, (src, dst))
}

#[test]
fn the_interface_going_away_ends_the_run_with_a_final_interval() {
    let (pair, tool, (src, dst)) = counted((40020, 9020), 9);
    let gone = Instant::now();
    net::sh(&["ip", "-n", &pair.ns_a, "link", "del", &pair.if_a]);
    let out = tool.wait(); // at most 30 s, or it fails: it used to run forever
    let took = gone.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        took < Duration::from_secs(15),
        "noticed within a few 200 ms intervals, took {took:?}"
    );
    let want = format!("ebpf-jsonl: error: interface {} went away", pair.if_a);
    let err: Vec<&str> = out.stderr.lines().filter(|l| l.contains("error")).collect();
    assert!(
        err.len() == 1 && err[0].starts_with(&want),
        "one error line naming the interface: {}",
        out.stderr
    );
    // The final interval is there, and complete.
    let last = assert_conserved(&out.records);
    assert_udp(&out.records, src, dst, 9, 100);
    assert_eq!(n(&last, "packets"), 9, "{last}");
}

#[test]
fn a_program_detached_by_someone_else_ends_the_run() {
    let (pair, tool, (src, dst)) = counted((40023, 9023), 3);
    pair.detach_xdp_link();
    let out = tool.wait();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "ebpf-jsonl: error: the XDP program on {} was detached",
            pair.if_a
        )),
        "{}",
        out.stderr
    );
    assert_eq!(sum(&out.records, udp(src, dst)).0, 3);
    assert_conserved(&out.records);
}

#[test]
fn down_and_up_keeps_counting() {
    let (pair, mut tool, (src, dst)) = counted((40021, 9021), 5);
    net::sh(&["ip", "-n", &pair.ns_a, "link", "set", &pair.if_a, "down"]);
    // Several intervals down: still attached, still running.
    thread::sleep(Duration::from_millis(1000));
    assert!(
        tool.child.try_wait().unwrap().is_none(),
        "{}",
        tool.stderr()
    );
    assert!(
        pair.has_xdp(),
        "attached while down: {}",
        pair.link_details()
    );
    net::sh(&["ip", "-n", &pair.ns_a, "link", "set", &pair.if_a, "up"]);
    restore_neighbours(&pair);
    pair.in_b(move || net::send_udp(src, dst, 7, 100));
    wait_packets(&mut tool, 12);
    let out = tool.stop_ok();
    assert!(!out.stderr.contains("error"), "{}", out.stderr);
    assert_udp(&out.records, src, dst, 12, 100);
    assert_conserved(&out.records);
}

#[test]
fn native_mode_at_mtu_9000_says_what_to_do_and_auto_falls_back() {
    let pair = Pair::new(false);
    for (ns, ifc) in [(&pair.ns_a, &pair.if_a), (&pair.ns_b, &pair.if_b)] {
        net::sh(&["ip", "-n", ns, "link", "set", ifc, "mtu", "9000"]);
    }
    let (st, stdout, stderr) =
        net::run_tool(Some(&pair.ns_a), &["xdp", &pair.if_a, "--mode", "native"]);
    assert_eq!(st.code(), Some(4), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for what in [
        pair.if_a.as_str(),
        "MTU (9000)",
        "mtu 1500",
        "--mode generic",
        "GRO",
    ] {
        assert!(stderr.contains(what), "names {what:?}: {stderr}");
    }
    assert!(!pair.has_xdp());
    // auto: native is refused, generic takes it, and stderr says both.
    let tool = pair.tool(&["--interval", "200ms"]);
    let err = wait_stderr(&tool, "after GRO");
    assert!(err.contains("in generic mode"), "{err}");
    assert!(
        err.contains("native mode refused") && err.contains("MTU (9000)"),
        "{err}"
    );
    let ends = (sa(V4_B, 40022), sa(V4_A, 9022));
    send_and_check_udp(&pair, tool, ends, (4, 5000), 300);
}

#[test]
fn sigkill_leaves_nothing_attached() {
    let pair = Pair::new(true);
    let tool = pair.tool(&[]);
    assert!(pair.has_xdp(), "attached: {}", pair.link_details());
    tool.signal(libc::SIGKILL);
    let out = tool.wait();
    assert!(!out.status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pair.has_xdp() {
        assert!(
            Instant::now() < deadline,
            "still attached: {}",
            pair.link_details()
        );
        thread::sleep(Duration::from_millis(50));
    }
    // And the interface takes a new program at once.
    let again = pair.tool(&[]);
    assert!(again.stop().status.success());
    assert!(!pair.has_xdp());
}

#[test]
fn a_busy_interface_is_left_untouched() {
    let pair = Pair::new(true);
    let first = pair.tool(&["--interval", "200ms"]);
    let before = pair.link_details();
    for mode in ["auto", "native", "generic"] {
        let (st, stdout, stderr) =
            net::run_tool(Some(&pair.ns_a), &["xdp", &pair.if_a, "--mode", mode]);
        assert_eq!(st.code(), Some(1), "--mode {mode}: {stderr}");
        assert!(stdout.is_empty());
        assert!(
            stderr.contains(&pair.if_a) && stderr.contains("already has an XDP program"),
            "--mode {mode}: {stderr}"
        );
    }
    assert_eq!(pair.link_details(), before, "the attachment did not change");
    // The first one still counts.
    let (src, dst) = (sa(V4_B, 40005), sa(V4_A, 9006));
    pair.in_b(move || net::send_udp(src, dst, 6, 10));
    thread::sleep(Duration::from_millis(300));
    let out = first.stop();
    assert_eq!(sum(&out.records, udp(src, dst)).0, 6);
}

#[test]
fn stops_cleanly_on_sigterm_and_duration() {
    let pair = Pair::new(true);
    let tool = pair.tool(&["--interval", "10s"]);
    tool.signal(libc::SIGTERM);
    let out = tool.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert_conserved(&out.records); // the final interval
    let t = Instant::now();
    let (st, stdout, stderr) = net::run_tool(
        Some(&pair.ns_a),
        &[
            "xdp",
            &pair.if_a,
            "--duration",
            "700ms",
            "--interval",
            "500ms",
        ],
    );
    assert!(st.success(), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let recs: Vec<Value> = stdout
        .lines()
        .map(|l| {
            let v = serde_json::from_str(l).unwrap();
            common::validate(&v);
            v
        })
        .collect();
    assert_eq!(
        stats(&recs).len(),
        2,
        "one interval, then the final one: {stdout}"
    );
    assert!(!pair.has_xdp());
}

#[test]
fn missing_interface_and_bad_values() {
    let (st, stdout, stderr) = net::run_tool(None, &["xdp", "nosuchif0"]);
    assert_eq!(st.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("`nosuchif0`"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for (args, names) in [
        (&["--exclude", "10.0.0.0/33"][..], "10.0.0.0/33"),
        (&["--exclude", "10.0.0"][..], "10.0.0"),
        (&["--interval", "5x"][..], "5x"),
        (&["--idle-timeout", "0s"][..], "0s"),
        (&["--max-flows", "0"][..], "--max-flows"),
        (&["--max-flows", "lots"][..], "lots"),
        (&["--mode", "turbo"][..], "turbo"),
    ] {
        let mut all = vec!["xdp", "lo"];
        all.extend_from_slice(args);
        let (st, _, stderr) = net::run_tool(None, &all);
        assert_eq!(st.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?} named: {stderr}");
    }
}

#[test]
fn a_closed_stdout_ends_the_run_cleanly() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let pair = Pair::new(true);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &pair.ns_a, common::BIN, "xdp", &pair.if_a])
        .args(["--interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ebpf-jsonl");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // then the pipe's read end closes
    assert!(first.contains("\"type\":"), "{first}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after its stdout closed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!pair.has_xdp());
}

#[test]
fn check_tries_xdp_on_an_interface_and_leaves_it_clean() {
    let pair = net::Pair::new(false);
    let (st, out, err) = net::run_tool(Some(&pair.ns_a), &["check", "--iface", &pair.if_a]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(st.code(), Some(0), "{v:#}");
    assert_eq!(v["xdp_attach"]["iface"], pair.if_a.as_str());
    // veth takes both native and generic XDP.
    assert_eq!(v["xdp_attach"]["generic"]["attaches"], true, "{v:#}");
    assert_eq!(v["xdp_attach"]["native"]["attaches"], true, "{v:#}");
    // And the egress program, through the hook `xdp --direction egress` takes here.
    assert_eq!(v["xdp_attach"]["egress"]["attaches"], true, "{v:#}");
    assert_eq!(
        v["xdp_attach"]["egress"]["hook"], v["xdp"]["egress_hook"],
        "{v:#}"
    );
    assert_eq!(v["xdp"]["can_run"], true);
    assert!(!pair.has_xdp(), "check detaches what it tried");
    let tcx = net::attached::tcx_egress_progs(&pair.ns_a, &pair.if_a);
    assert!(tcx.is_empty(), "and its egress program: {tcx:?}");

    // An interface that is not there: xdp cannot run, and check says so.
    let (st, out, _) = net::run_tool(Some(&pair.ns_a), &["check", "--iface", "nosuchif0"]);
    assert_eq!(st.code(), Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["xdp"]["can_run"], false);
    for hook in ["native", "egress"] {
        let e = v["xdp_attach"][hook]["error"].as_str().unwrap_or_default();
        assert!(e.contains("nosuchif0"), "{hook}: {v:#}");
    }
}
