//! The xdp program itself, run on crafted frames (the testkit's builder)
//! through BPF_PROG_TEST_RUN: what veth can't easily carry (QinQ, IPv6
//! extension headers, fragments, broken headers). These load BPF, so they
//! need root; they fail, never skip.
//!
//! Here: loading the program and running frames through it; the tests are
//! in headers.rs (what is parsed into which flow), malformed.rs and table.rs
//! (exclusions, a full table, totals over intervals).

mod headers;
mod malformed;
mod table;

use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ebpf_jsonl_testkit::frames::Frame;
use libbpf_rs::{OpenObject, ProgramInput};

use crate::cli::Cidr;
use crate::xdp::attach::{self, Config};
use crate::xdp::drain::Delta;
use crate::xdp::skel::XdpSkel;
use crate::xdp::{Table, CAT_EXCLUDED, CAT_MALFORMED, CAT_N, CAT_NON_IP, CAT_TOTAL, CAT_UNTRACKED};

/// The program loaded with a table of `max_flows` and `excludes` (as root).
pub fn load<'o>(
    obj: &'o mut MaybeUninit<OpenObject>,
    max_flows: u32,
    excludes: &[Cidr],
) -> XdpSkel<'o> {
    crate::kernel::raise_memlock();
    attach::load(
        obj,
        &Config {
            max_flows,
            excludes,
            // The tests here run `xdp_flows`; tests/xdp.rs runs both.
            flavour: Some(crate::xdp::flavour::Flavour::Atomic),
            ingress: true,
            egress: true,
        },
    )
    .map(|(skel, _)| skel)
    .unwrap_or_else(|e| panic!("loading the xdp program (tests need root): {e}"))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Loads the program, runs every frame through it once, and reads the table:
/// (deltas, flows tracked, category counters).
pub fn run(
    frames: &[&Frame],
    max_flows: u32,
    excludes: &[Cidr],
) -> (Vec<Delta>, u64, [(u64, u64); CAT_N + 1]) {
    let mut obj = MaybeUninit::uninit();
    let mut skel = load(&mut obj, max_flows, excludes);
    for f in frames {
        let out = skel
            .progs
            .xdp_flows
            .test_run(ProgramInput {
                data_in: Some(&f.0),
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        assert_eq!(out.return_value, 2, "every packet is passed on");
    }
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(60), Instant::now()).unwrap();
    let flows = t.pass(Instant::now(), true);
    let c = t.counters().unwrap();
    // Conservation, whatever the frames.
    let fp: u64 = t.deltas().iter().map(|d| d.packets).sum();
    let fb: u64 = t.deltas().iter().map(|d| d.bytes).sum();
    let cats = [CAT_UNTRACKED, CAT_EXCLUDED, CAT_NON_IP, CAT_MALFORMED];
    assert_eq!(c[CAT_TOTAL].0, frames.len() as u64);
    assert_eq!(
        fp + cats.iter().map(|&i| c[i].0).sum::<u64>(),
        c[CAT_TOTAL].0
    );
    assert_eq!(
        fb + cats.iter().map(|&i| c[i].1).sum::<u64>(),
        c[CAT_TOTAL].1
    );
    (t.deltas().to_vec(), flows, c)
}

pub fn one_flow(frame: &Frame) -> Delta {
    let (d, flows, c) = run(&[frame], 16, &[]);
    assert_eq!((flows, d.len()), (1, 1), "one flow: {d:?} {c:?}");
    assert_eq!((d[0].packets, d[0].bytes), (1, frame.0.len() as u64));
    d[0]
}

/// Every one of `frames` is malformed, and nothing else is counted.
pub fn assert_all_malformed(frames: &[&Frame]) {
    let (d, _, c) = run(frames, 16, &[]);
    assert!(d.is_empty(), "{d:?}");
    let bytes: u64 = frames.iter().map(|f| f.0.len() as u64).sum();
    assert_eq!(c[CAT_MALFORMED], (frames.len() as u64, bytes));
}
