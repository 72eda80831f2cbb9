//! The records of `ebpf-jsonl xdp` as the veth tests check them: flows
//! picked and summed, exact UDP counts, conservation (flows plus categories
//! equal the totals), and waiting for the tool.

use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::tracer::{Finished, Tracer};
use crate::net::pair::Pair;
use crate::net::send::send_udp;

/// Header lengths, in bytes.
pub const ETH: u64 = 14;
pub const IP4: u64 = 20;
pub const IP6: u64 = 40;
pub const UDP: u64 = 8;

/// An address and port.
pub fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// The flow records.
pub fn flows(recs: &[Value]) -> impl Iterator<Item = &Value> {
    recs.iter().filter(|r| r["type"] == "flow")
}

/// The xdp_stats records.
pub fn stats(recs: &[Value]) -> Vec<&Value> {
    recs.iter().filter(|r| r["type"] == "xdp_stats").collect()
}

/// (packets, bytes) over every flow record `pick` selects.
pub fn sum(recs: &[Value], pick: impl Fn(&Value) -> bool) -> (u64, u64) {
    flows(recs).filter(|f| pick(f)).fold((0, 0), |(p, b), f| {
        (
            p + f["packets"].as_u64().unwrap(),
            b + f["bytes"].as_u64().unwrap(),
        )
    })
}

/// A UDP flow by its addresses and ports.
pub fn udp(src: SocketAddr, dst: SocketAddr) -> impl Fn(&Value) -> bool {
    move |f| {
        f["proto"] == "udp"
            && f["src_ip"] == src.ip().to_string()
            && f["src_port"] == src.port()
            && f["dst_ip"] == dst.ip().to_string()
            && f["dst_port"] == dst.port()
    }
}

/// A numeric field that must be there.
pub fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// The output ends with an xdp_stats record, and everything adds up: the
/// flows' packets and bytes plus the four categories equal the totals.
pub fn assert_conserved(recs: &[Value]) -> Value {
    let last = recs.last().expect("some output").clone();
    assert_eq!(last["type"], "xdp_stats", "the output ends with the totals");
    let (fp, fb) = sum(recs, |_| true);
    let cats = ["untracked", "excluded", "non_ip", "malformed"];
    let cp: u64 = cats.iter().map(|c| n(&last, &format!("{c}_packets"))).sum();
    let cb: u64 = cats.iter().map(|c| n(&last, &format!("{c}_bytes"))).sum();
    assert_eq!(fp + cp, n(&last, "packets"), "packets add up: {last}");
    assert_eq!(fb + cb, n(&last, "bytes"), "bytes add up: {last}");
    for f in flows(recs) {
        assert!(n(f, "packets") > 0, "a flow record moved: {f}");
    }
    last
}

/// The flow from `src` to `dst` counted exactly `count` datagrams of
/// `payload` bytes (IPv4 or IPv6 by the addresses), in packets and bytes.
pub fn assert_udp(recs: &[Value], src: SocketAddr, dst: SocketAddr, count: u64, payload: u64) {
    let ip = if src.is_ipv4() { IP4 } else { IP6 };
    assert_eq!(
        sum(recs, udp(src, dst)),
        (count, count * (ETH + ip + UDP + payload)),
        "{src} → {dst}"
    );
}

/// Sends `count` datagrams of `payload` bytes from `src` (in B) to `dst`
/// (in A), lets the tool run `settle_ms` more, stops it (it must exit
/// successfully) and checks its records: exactly those datagrams, and
/// everything adds up. Its output.
pub fn send_and_check_udp(
    pair: &Pair,
    tool: Tracer,
    (src, dst): (SocketAddr, SocketAddr),
    (count, payload): (usize, usize),
    settle_ms: u64,
) -> Finished {
    pair.in_b(move || send_udp(src, dst, count, payload));
    thread::sleep(Duration::from_millis(settle_ms));
    let out = tool.stop_ok();
    assert_udp(&out.records, src, dst, count as u64, payload as u64);
    assert_conserved(&out.records);
    out
}

/// Waits (generously) until the tool's stderr holds `what`.
pub fn wait_stderr(tool: &Tracer, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let err = tool.stderr();
        if err.contains(what) {
            return err;
        }
        assert!(Instant::now() < deadline, "no {what:?} on stderr: {err}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the tool has printed an xdp_stats record with `packets`.
pub fn wait_packets(tool: &mut Tracer, packets: u64) {
    tool.wait_for(&format!("xdp_stats with {packets} packets"), |v| {
        v["type"] == "xdp_stats" && v["packets"].as_u64() >= Some(packets)
    });
}

/// `xdp --flavour` values (src/xdp/flavour.rs): the exactness tests run each.
pub const FLAVOURS: [&str; 2] = ["atomic", "compat"];
