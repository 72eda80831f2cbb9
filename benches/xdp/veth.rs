//! On a real path: packets per second received through a veth pair between
//! two network namespaces (the testkit's, always removed), flooded from the
//! peer by an AF_PACKET sender, with no program, the seed tutorial's design
//! and ours, in native and generic mode. Interleaved rounds, medians.
//! Traffic never leaves the pair.

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ebpf_jsonl::cli::XdpMode;
use ebpf_jsonl::error::Error;
use ebpf_jsonl::pipeline;
use ebpf_jsonl::xdp::attach::{self, XdpLink};
use ebpf_jsonl::xdp::{Table, CAT_TOTAL};
use ebpf_jsonl_testkit::frames;
use ebpf_jsonl_testkit::net::{in_ns_here, rx_packets, Flood, Pair, MAC_B, MAC_OTHER};
use ebpf_jsonl_testkit::stats::stats;
use libbpf_rs::ProgramMut;

use crate::args::Args;
use crate::programs::{load_baseline, load_ours};

/// Distinct TCP flows in the flood (source ports).
const FLOWS: u16 = 256;

/// The flood: 64-byte TCP/IPv4 frames (valid checksums), one per source
/// port, from the sender's MAC to another host's, so that the stack drops
/// each frame as soon as XDP has passed it (the path measured is veth → XDP
/// → drop, where a program's cost shows most).
fn flood_frames() -> Vec<Vec<u8>> {
    (0..FLOWS)
        .map(|i| {
            let mut f = frames::tcp4([10, 201, 0, 2], 10000 + i, [10, 201, 0, 1], 443);
            f.0[0..6].copy_from_slice(&MAC_OTHER);
            f.0[6..12].copy_from_slice(&MAC_B);
            f.checksummed().0
        })
        .collect()
}

/// Sleeps `d`, or less if asked to stop.
fn sleep(d: Duration) -> Result<(), Error> {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if pipeline::shutting_down() {
            return Err(Error::Failure("interrupted".into()));
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    Ok(())
}

/// One window of the flood: packets received per second, and sent per second.
fn measure(pair: &Pair, flood: &Flood, d: Duration) -> Result<(f64, f64), Error> {
    let (t1, s1) = (Instant::now(), flood.sent());
    let rx1 = rx_packets(&pair.ns_a, &pair.if_a);
    sleep(d)?;
    let (t2, s2) = (Instant::now(), flood.sent());
    let rx2 = rx_packets(&pair.ns_a, &pair.if_a);
    let dt = (t2 - t1).as_secs_f64();
    Ok(((rx2 - rx1) as f64 / dt, (s2 - s1) as f64 / dt))
}

/// Attaches `prog` in `mode` to the receiving end.
fn attach_to(pair: &Pair, prog: &ProgramMut, mode: XdpMode) -> Result<XdpLink, Error> {
    in_ns_here(&pair.ns_a, || {
        let ifindex = attach::ifindex(&pair.if_a)?;
        attach::attach(prog, &pair.if_a, ifindex, mode)
    })
}

/// Ours attached alone with the flood stopped at both ends, so that every
/// packet the receiving end took in while it was attached is accounted:
/// (what ours counted, what the interface received).
fn exact_run(
    pair: &Pair,
    frames: &Arc<Vec<Vec<u8>>>,
    ours: &ProgramMut,
    mode: XdpMode,
    table: &mut Table,
    d: Duration,
) -> Result<(u64, u64), Error> {
    let link = attach_to(pair, ours, mode)?;
    let before = ours_total(table)?;
    let rx0 = rx_packets(&pair.ns_a, &pair.if_a);
    let flood = Flood::start(&pair.ns_b, &pair.if_b, frames);
    let slept = sleep(d);
    flood.stop().map_err(Error::Failure)?;
    slept?;
    thread::sleep(Duration::from_millis(100)); // what is in flight lands
    let rx1 = rx_packets(&pair.ns_a, &pair.if_a);
    link.detach();
    Ok((ours_total(table)? - before, rx1 - rx0))
}

/// Every packet ours has counted so far (flows + categories).
fn ours_total(t: &mut Table) -> Result<u64, Error> {
    t.pass(Instant::now(), true);
    Ok(t.counters()?[CAT_TOTAL].0)
}

/// Packets per second received through a veth pair: no program, the seed's
/// design and ours, native and generic. The flood runs throughout; the seed's
/// program and ours are measured back to back on one attachment, the link
/// switched from one to the other, so that the machine's drift (large here)
/// falls between rounds rather than between the two.
pub fn run(args: &Args) -> Result<(), Error> {
    let mut bobj = MaybeUninit::uninit();
    let base = load_baseline(&mut bobj)?;
    let mut obj = MaybeUninit::uninit();
    let mut ours = load_ours(&mut obj, 65536)?;
    let mut table = Table::new(&mut ours.maps, Duration::from_secs(3600), Instant::now())?;
    let (seed, flows) = (&base.progs.xdp_seed, &ours.progs.xdp_flows);
    let pair = Pair::unaddressed();
    let frames = Arc::new(flood_frames());
    let d = args.veth_time;
    println!(
        "veth: 64-byte TCP/IPv4 frames ({} flows) flooded by an AF_PACKET sender (sendmmsg) \
         from namespace {} through a veth pair into {}, addressed to another host's MAC, \
         so the stack drops each one right after XDP; received = rx_packets of the \
         receiving end, counted for {:?} per measurement, {} interleaved rounds; seed and \
         ours back to back on one attachment (the link switched between them), in turn first",
        FLOWS, pair.ns_b, pair.ns_a, d, args.veth_rounds
    );
    let modes = [XdpMode::Native, XdpMode::Generic];
    let settle = Duration::from_millis(200);
    // pps[0] none; pps[1 + m] seed, pps[3 + m] ours, for mode m.
    let mut pps = vec![Vec::new(); 5];
    let (mut sent, mut got) = (0.0, 0.0);
    let flood = Flood::start(&pair.ns_b, &pair.if_b, &frames);
    sleep(Duration::from_millis(300))?;
    for round in 0..args.veth_rounds as usize {
        let rev = round % 2 == 1;
        let mut steps: Vec<Option<usize>> = vec![None, Some(0), Some(1)];
        if rev {
            steps.reverse();
        }
        for step in steps {
            let Some(m) = step else {
                let (r, s) = measure(&pair, &flood, d)?;
                pps[0].push(r);
                (got, sent) = (got + r, sent + s);
                continue;
            };
            let (first, second) = if rev { (3, 1) } else { (1, 3) };
            let prog = |i: usize| if i == 1 { seed } else { flows };
            let link = attach_to(&pair, prog(first), modes[m])?;
            sleep(settle)?;
            let (r, s) = measure(&pair, &flood, d)?;
            pps[first + m].push(r);
            (got, sent) = (got + r, sent + s);
            link.update(prog(second))?;
            sleep(settle / 4)?;
            let (r, s) = measure(&pair, &flood, d)?;
            pps[second + m].push(r);
            (got, sent) = (got + r, sent + s);
            link.detach();
            sleep(settle)?;
        }
    }
    flood.stop().map_err(Error::Failure)?;
    let cell = |v: &[f64]| {
        let (m, lo, hi) = stats(v);
        format!("{:.0} [{:.0}..{:.0}]", m / 1e3, lo / 1e3, hi / 1e3)
    };
    println!(
        "  {:<9} {:>24} {:>24}   (thousand packets/s received, median [min..max])",
        "program", "native", "generic"
    );
    for (name, n, g) in [("none", 0, 0), ("seed", 1, 2), ("ours", 3, 4)] {
        println!("  {name:<9} {:>24} {:>24}", cell(&pps[n]), cell(&pps[g]));
    }
    // Ratios within each round, then their median.
    let ratio = |a: usize, b: usize| {
        let v: Vec<f64> = pps[a].iter().zip(&pps[b]).map(|(x, y)| x / y).collect();
        let (m, lo, hi) = stats(&v);
        format!("{m:.3} [{lo:.2}..{hi:.2}]")
    };
    println!(
        "  {:<9} {:>24} {:>24}   (median [min..max] of per-round ratios)",
        "ours/seed",
        ratio(3, 1),
        ratio(4, 2)
    );
    println!(
        "  {:<9} {:>24} {:>24}",
        "ours/none",
        ratio(3, 0),
        ratio(4, 0)
    );
    println!(
        "  (none is one measurement, shown in both columns: without a program veth takes \
         the netif_rx path; native XDP switches it to its NAPI ring. The sender shares the \
         CPU with the receive path, so a costlier path shows as fewer packets sent; \
         {:.2}% of what was sent was not received.)",
        (100.0 * (1.0 - got / sent)).max(0.0)
    );
    // Ours alone, with the flood started and stopped while it is attached:
    // it counted every packet the interface received.
    let mut check = Vec::new();
    for mode in modes {
        check.push(exact_run(&pair, &frames, flows, mode, &mut table, d)?);
    }
    println!(
        "  check: ours counted {} of the {} packets received while it was attached alone in \
         native mode, {} of {} in generic mode{}",
        check[0].0,
        check[0].1,
        check[1].0,
        check[1].1,
        if check.iter().all(|(a, b)| a == b) {
            " (exact)"
        } else {
            " (MISMATCH)"
        }
    );
    Ok(())
}
