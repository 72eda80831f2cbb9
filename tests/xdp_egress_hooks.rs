//! `ebpf-jsonl xdp --direction egress|both` and the egress hooks: TCX links
//! that go with the process even on SIGKILL, and clsact filters that never
//! disturb someone else's qdisc and filters, and whose SIGKILL leftovers
//! stderr says how to remove. What is attached is asked of the kernel
//! (libbpf's queries, `tc`), not believed. Needs root; fails (never skips).

use ebpf_jsonl_testkit::net;

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl_testkit::flow_records::*;
use net::attached::{tcx_egress_progs, xdp_progs};
use net::direction::{assert_conserved_per, sum_on, wait_attached, wait_packets_on, Hook};
use net::tc::{add_foreign_clsact, clsact_packets, egress_filters, has_clsact, tc_state};
use net::{Pair, Tool, V4_A, V4_B};

/// Waits (5 s at most) until `gone()` holds, failing with `what()`.
fn until(gone: impl Fn() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() {
        assert!(Instant::now() < deadline, "{}", what());
        thread::sleep(Duration::from_millis(50));
    }
}

/// A UDP receiver at B's `port` (no ICMP unreachable back), and A's sender.
fn ends(pair: &Pair, port: u16) -> (UdpSocket, SocketAddr, SocketAddr) {
    let to = sa(V4_B, port);
    let rx = pair.in_b(move || UdpSocket::bind(to).expect("bind UDP receiver"));
    (rx, sa(V4_A, port + 1000), to)
}

/// The egress hook stderr's `egress: attached to IFC ... with HOOK` line
/// names: "tcx" or "clsact" (`with clsact`, or contract.md's `with a clsact
/// filter (pref P, handle 0xH)`).
fn egress_hook<'e>(err: &'e str, ifc: &str) -> &'e str {
    let line = err
        .lines()
        .find(|l| l.contains(&format!("egress: attached to {ifc} ")))
        .unwrap_or_else(|| panic!("no egress attachment on {ifc}: {err}"));
    let with = line.rsplit_once(" with ").map_or("", |(_, w)| w);
    let hook = with.split_whitespace().find(|w| *w != "a").unwrap_or("");
    assert!(hook == "tcx" || hook == "clsact", "{line}");
    hook
}

/// The tool on the pair's a end with `--direction both --egress-hook HOOK`,
/// both directions attached; its stderr.
fn both(pair: &Pair, hook: &str) -> (Tool, String) {
    let tool = pair.tool(&[
        "--direction",
        "both",
        "--egress-hook",
        hook,
        "--interval",
        "200ms",
    ]);
    let err = wait_attached(&tool, 2);
    (tool, err)
}

#[test]
fn sigkill_on_a_tcx_kernel_leaves_nothing_attached() {
    let pair = Pair::new(false);
    let (ns, ifc) = (pair.ns_a.as_str(), pair.if_a.as_str());
    let before = tc_state(ns, ifc);
    for hook in ["auto", "tcx"] {
        let (tool, err) = both(&pair, hook);
        assert_eq!(
            egress_hook(&err, ifc),
            "tcx",
            "this kernel has TCX (6.6+): {err}"
        );
        assert!(
            !err.contains("SIGKILL"),
            "nothing to say about SIGKILL with tcx: {err}"
        );
        assert_eq!(xdp_progs(ns, ifc).len(), 1, "{err}");
        assert_eq!(tcx_egress_progs(ns, ifc).len(), 1, "{err}");
        assert_eq!(tc_state(ns, ifc), before, "tcx makes no qdisc or filter");
        tool.signal(libc::SIGKILL);
        assert!(!tool.wait().status.success());
        until(
            || xdp_progs(ns, ifc).is_empty() && tcx_egress_progs(ns, ifc).is_empty(),
            || {
                let (x, t) = (xdp_progs(ns, ifc), tcx_egress_progs(ns, ifc));
                format!("--egress-hook {hook}: still attached: XDP {x:?}, TCX egress {t:?}")
            },
        );
        assert_eq!(tc_state(ns, ifc), before);
    }
}

/// Someone else's clsact qdisc and egress filter (pref 7) on the pair's a
/// end: runs with each hook, stopped by SIGINT, count exactly and leave
/// them as they were, and they go on seeing the traffic.
#[test]
fn someone_elses_clsact_and_filter_are_left_untouched() {
    let pair = Pair::new(false);
    let (ns, ifc) = (pair.ns_a.as_str(), pair.if_a.as_str());
    add_foreign_clsact(ns, ifc, 7);
    let theirs = tc_state(ns, ifc);
    let (_rx, from, to) = ends(&pair, 9400);
    let egress: Hook = (ifc, "egress");
    for hook in ["tcx", "clsact"] {
        let (mut tool, err) = both(&pair, hook);
        assert_eq!(egress_hook(&err, ifc), hook, "{err}");
        let seen = clsact_packets(ns, ifc);
        pair.in_a(move || net::send_udp(from, to, 9, 70));
        wait_packets_on(&mut tool, egress, 9);
        let out = tool.stop_ok();
        let last = assert_conserved_per(&out.records, &[(ifc, "ingress"), egress]);
        assert_eq!(
            sum_on(&out.records, egress, udp(from, to)),
            (9, 9 * (ETH + IP4 + UDP + 70))
        );
        assert_eq!(n(&last[1], "packets"), 9, "{}", last[1]);
        assert_eq!(
            tc_state(ns, ifc),
            theirs,
            "--egress-hook {hook}: theirs as it was"
        );
        assert_eq!(tcx_egress_progs(ns, ifc), Vec::<u32>::new());
        assert_eq!(
            clsact_packets(ns, ifc) - seen,
            9,
            "their qdisc saw the traffic"
        );
    }
}

/// The commands stderr gave to remove what a SIGKILL leaves: each `tc ...`
/// quoted in backticks (the filter's, then the qdisc's if the run made it).
fn removal_commands(note: &str) -> Vec<String> {
    let tc: Vec<String> = note
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("tc "))
        .map(String::from)
        .collect();
    assert!(
        !tc.is_empty(),
        "no `tc ...` command to remove the filter: {note}"
    );
    tc
}

#[test]
fn sigkill_with_a_clsact_filter_leaves_it_and_stderr_says_how_to_remove_it() {
    let pair = Pair::new(false);
    let (ns, ifc) = (pair.ns_a.as_str(), pair.if_a.as_str());
    // On a bare interface (the run makes the clsact qdisc), then beside
    // someone else's qdisc and filter (it must not remove theirs).
    for foreign in [false, true] {
        if foreign {
            add_foreign_clsact(ns, ifc, 7);
        }
        let before = tc_state(ns, ifc);
        let (tool, _) = both(&pair, "clsact");
        // The note follows the attached line.
        let err = wait_stderr(&tool, "SIGKILL");
        assert_eq!(egress_hook(&err, ifc), "clsact", "{err}");
        let note = err
            .lines()
            .skip_while(|l| !l.contains("egress: attached to"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            note.contains("SIGKILL"),
            "stderr says a SIGKILL leaves the filter: {err}"
        );
        let remove = removal_commands(&note);
        let made_qdisc = remove.iter().any(|c| c.starts_with("tc qdisc del"));
        assert_eq!(
            made_qdisc, !foreign,
            "the qdisc's removal only if the run made it: {note}"
        );
        assert_eq!(tcx_egress_progs(ns, ifc), Vec::<u32>::new(), "{err}");
        tool.signal(libc::SIGKILL);
        assert!(!tool.wait().status.success());
        until(
            || xdp_progs(ns, ifc).is_empty(),
            || format!("XDP left: {err}"),
        );
        // The filter is still there, as stderr said, with the pref and handle it named.
        let left = egress_filters(ns, ifc);
        assert!(left.contains(" bpf "), "our filter is left: {left}");
        assert!(has_clsact(ns, ifc));
        for cmd in &remove {
            net::sh(&["ip", "netns", "exec", ns, "sh", "-c", cmd]);
        }
        assert_eq!(tc_state(ns, ifc), before, "after {remove:?}");
    }
}

#[test]
fn each_direction_attaches_only_its_own_hook() {
    let pair = Pair::new(false);
    let (ns, ifc) = (pair.ns_a.as_str(), pair.if_a.as_str());
    let before = tc_state(ns, ifc);
    let (_rx, from, to) = ends(&pair, 9500);
    // (--direction, XDP programs, TCX egress programs); none: today's command.
    for (direction, xdp, tcx) in [
        (None, 1, 0),
        (Some("ingress"), 1, 0),
        (Some("egress"), 0, 1),
    ] {
        let mut args = vec!["--interval", "200ms"];
        args.extend(direction.map(|d| ["--direction", d]).iter().flatten());
        let mut tool = pair.tool(&args);
        assert_eq!(xdp_progs(ns, ifc).len(), xdp, "{direction:?}");
        assert_eq!(tcx_egress_progs(ns, ifc).len(), tcx, "{direction:?}");
        assert_eq!(tc_state(ns, ifc), before);
        let hook: Hook = (ifc, direction.unwrap_or("ingress"));
        pair.in_a(move || net::send_udp(from, to, 4, 10));
        if hook.1 == "egress" {
            wait_packets_on(&mut tool, hook, 4);
        }
        let out = tool.stop_ok();
        assert_conserved_per(&out.records, &[hook]);
        let sent = if hook.1 == "egress" {
            (4, 4 * (ETH + IP4 + UDP + 10))
        } else {
            (0, 0)
        };
        assert_eq!(
            sum_on(&out.records, hook, udp(from, to)),
            sent,
            "{direction:?}"
        );
    }
    assert!(xdp_progs(ns, ifc).is_empty() && tcx_egress_progs(ns, ifc).is_empty());
}

#[test]
fn our_clsact_filter_removed_by_someone_else_ends_the_run() {
    let pair = Pair::new(false);
    let (ns, ifc) = (pair.ns_a.as_str(), pair.if_a.as_str());
    let (_rx, from, to) = ends(&pair, 9700);
    let (mut tool, _) = both(&pair, "clsact");
    let note = wait_stderr(&tool, "SIGKILL");
    pair.in_a(move || net::send_udp(from, to, 3, 30));
    wait_packets_on(&mut tool, (ifc, "egress"), 3);
    // Only the filter: the qdisc stays, as someone's `tc filter del` leaves it.
    let filter = removal_commands(&note)
        .into_iter()
        .find(|c| c.starts_with("tc filter del"))
        .unwrap();
    net::sh(&["ip", "netns", "exec", ns, "sh", "-c", &filter]);
    let out = tool.wait(); // at most 30 s, or it fails
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let error: Vec<&str> = out.stderr.lines().filter(|l| l.contains("error")).collect();
    assert!(
        error.len() == 1 && error[0].contains(ifc) && error[0].contains("`tc filter del`"),
        "one error naming {ifc} and how a filter goes: {}",
        out.stderr
    );
    let last = assert_conserved_per(&out.records, &[(ifc, "ingress"), (ifc, "egress")]);
    assert_eq!(n(&last[1], "packets"), 3, "{}", last[1]);
    assert!(xdp_progs(ns, ifc).is_empty());
    // The clsact qdisc the run made goes with it, as on any exit.
    assert!(
        !has_clsact(ns, ifc),
        "{}\n{}",
        out.stderr,
        tc_state(ns, ifc)
    );
}
