//! `ebpf-jsonl xdp --direction` and several interfaces, as the tests check
//! their records: flows and totals per (interface, direction), conservation
//! per pair, the shape of each interval, and waiting for every attachment.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::flow_records::{flows, n, stats, sum};
use crate::harness::tracer::Tracer;

/// An (interface, direction) pair: "ingress" or "egress".
pub type Hook<'a> = (&'a str, &'a str);

/// Records of `hook` (flow or xdp_stats).
pub fn on(hook: Hook<'_>) -> impl Fn(&Value) -> bool + '_ {
    move |r| r["iface"] == hook.0 && r["direction"] == hook.1
}

/// (packets, bytes) over `hook`'s flow records that `pick` selects.
pub fn sum_on(recs: &[Value], hook: Hook<'_>, pick: impl Fn(&Value) -> bool) -> (u64, u64) {
    sum(recs, |f| on(hook)(f) && pick(f))
}

/// `hook`'s last xdp_stats record.
pub fn last_stats<'r>(recs: &'r [Value], hook: Hook<'_>) -> &'r Value {
    let all = stats(recs);
    all.into_iter()
        .rev()
        .find(|s| on(hook)(s))
        .unwrap_or_else(|| panic!("no xdp_stats for {hook:?}"))
}

/// For each of `hooks` (in the order the tool must print them: interfaces
/// as given, ingress before egress): every flow and xdp_stats record names
/// one of them; each interval ends with one xdp_stats per hook, in that
/// order, with `interval_ns` > 0; and that hook's flows so far plus its four
/// categories equal its last totals, packets and bytes. The last totals.
pub fn assert_conserved_per(recs: &[Value], hooks: &[Hook<'_>]) -> Vec<Value> {
    for r in recs
        .iter()
        .filter(|r| r["type"] == "flow" || r["type"] == "xdp_stats")
    {
        assert!(
            hooks.iter().any(|&h| on(h)(r)),
            "a record of one of {hooks:?} (with its direction): {r}"
        );
    }
    let all = stats(recs);
    assert!(!all.is_empty() && all.len() % hooks.len() == 0, "{all:?}");
    for interval in all.chunks(hooks.len()) {
        for (s, &h) in interval.iter().zip(hooks) {
            assert!(
                on(h)(s),
                "interval's totals in order {hooks:?}: {interval:?}"
            );
            assert!(n(s, "interval_ns") > 0, "{s}");
            assert_eq!(s["timestamp"], interval[0]["timestamp"], "{interval:?}");
        }
    }
    // Each interval: its flows, then its totals; nothing after the last ones.
    let tail = &recs[recs.len() - hooks.len()..];
    assert!(tail.iter().all(|r| r["type"] == "xdp_stats"), "{tail:?}");
    for f in flows(recs) {
        assert!(n(f, "packets") > 0, "a flow record moved: {f}");
    }
    let cats = ["untracked", "excluded", "non_ip", "malformed"];
    let conserved = |&h: &Hook<'_>| {
        let last = last_stats(recs, h).clone();
        let (fp, fb) = sum_on(recs, h, |_| true);
        let cp: u64 = cats.iter().map(|c| n(&last, &format!("{c}_packets"))).sum();
        let cb: u64 = cats.iter().map(|c| n(&last, &format!("{c}_bytes"))).sum();
        assert_eq!(
            fp + cp,
            n(&last, "packets"),
            "{h:?}'s packets add up: {last}"
        );
        assert_eq!(fb + cb, n(&last, "bytes"), "{h:?}'s bytes add up: {last}");
        last
    };
    hooks.iter().map(conserved).collect()
}

/// Waits (generously) until the tool's stderr has `count` `: attached`
/// lines (with `--direction both`, two per interface); the stderr.
pub fn wait_attached(tool: &Tracer, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let err = tool.stderr();
        if err.lines().filter(|l| l.contains(": attached ")).count() >= count {
            return err;
        }
        assert!(Instant::now() < deadline, "not {count} attachments: {err}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `hook`'s xdp_stats counts at least `packets`.
pub fn wait_packets_on(tool: &mut Tracer, hook: Hook<'_>, packets: u64) {
    tool.wait_for(&format!("{hook:?} xdp_stats with {packets} packets"), |v| {
        v["type"] == "xdp_stats" && on(hook)(v) && v["packets"].as_u64() >= Some(packets)
    });
}
