//! An interface's tc state as `tc` shows it (qdiscs, filters at both hooks),
//! and someone else's clsact qdisc with an egress filter, set up the way an
//! operator would. This kernel has cls_u32 and cls_bpf (no matchall), so
//! the foreign filter is a u32 one matching every packet.

use crate::net::pair::sh;

/// `tc -n NS ARGS...`, its stdout (failing the test if tc fails).
pub fn tc(ns: &str, args: &[&str]) -> String {
    sh(&[&["tc", "-n", ns][..], args].concat())
}

/// Everything tc says is on `ifname`: its qdiscs and both hooks' filters
/// (without statistics, so two readings compare equal when nothing changed).
pub fn tc_state(ns: &str, ifname: &str) -> String {
    let q = tc(ns, &["qdisc", "show", "dev", ifname]);
    let e = tc(ns, &["filter", "show", "dev", ifname, "egress"]);
    let i = tc(ns, &["filter", "show", "dev", ifname, "ingress"]);
    format!("qdiscs:\n{q}egress filters:\n{e}ingress filters:\n{i}")
}

/// True if `ifname` has a clsact qdisc.
pub fn has_clsact(ns: &str, ifname: &str) -> bool {
    tc(ns, &["qdisc", "show", "dev", ifname]).contains("qdisc clsact")
}

/// The egress filters on `ifname`, as `tc filter show` prints them (empty:
/// none).
pub fn egress_filters(ns: &str, ifname: &str) -> String {
    tc(ns, &["filter", "show", "dev", ifname, "egress"])
}

/// Someone else's: a clsact qdisc on `ifname` and an egress u32 filter at
/// `pref` that matches everything (and does nothing).
pub fn add_foreign_clsact(ns: &str, ifname: &str, pref: u16) {
    tc(ns, &["qdisc", "add", "dev", ifname, "clsact"]);
    let pref = pref.to_string();
    let filter = ["filter", "add", "dev", ifname, "egress", "pref", &pref];
    tc(
        ns,
        &[&filter[..], &["u32", "match", "u32", "0", "0"]].concat(),
    );
}

/// The packets the clsact qdisc on `ifname` has seen (its `Sent ... pkt`),
/// which grow while its filters run.
pub fn clsact_packets(ns: &str, ifname: &str) -> u64 {
    let s = tc(ns, &["-s", "qdisc", "show", "dev", ifname]);
    let after = s
        .split("qdisc clsact")
        .nth(1)
        .unwrap_or_else(|| panic!("no clsact qdisc on {ifname}: {s}"));
    after
        .split(" bytes ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no packet count for clsact: {s}"))
}
