//! The table: excluded sources, a full table, many flows, and totals that
//! are cumulative while deltas are per interval.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use ebpf_jsonl_testkit::frames::{Frame, TCP, UDP};
use libbpf_rs::ProgramInput;

use crate::cli::parse_cidr;
use crate::xdp::drain::tests::key;
use crate::xdp::tests::{ip, load, run};
use crate::xdp::{Table, CAT_EXCLUDED, CAT_NON_IP, CAT_TOTAL, CAT_UNTRACKED};

#[test]
fn excluded_sources_make_no_flows() {
    let from = |src: [u8; 4]| {
        Frame::eth(0x0800)
            .ip4(UDP, src, [10, 0, 0, 1], &[], 0)
            .ports(1000, 2000)
    };
    let (a, b) = (from([10, 9, 1, 2]), from([10, 8, 1, 2]));
    let v6 = Frame::eth(0x86dd)
        .ip6(UDP, "fd00:9::5", "fd00::1")
        .ports(1, 2);
    let ex = [
        parse_cidr("10.9.0.0/16").unwrap(),
        parse_cidr("fd00:9::/32").unwrap(),
    ];
    let (d, flows, c) = run(&[&a, &a, &b, &v6], 16, &ex);
    assert_eq!(flows, 1);
    assert_eq!(
        d[0].key,
        key(ip("10.8.1.2"), ip("10.0.0.1"), UDP, 1000, 2000)
    );
    assert_eq!(
        c[CAT_EXCLUDED],
        (3, 2 * a.0.len() as u64 + v6.0.len() as u64)
    );
}

#[test]
fn a_full_table_counts_the_rest_as_untracked() {
    let flow = |port: u16| {
        Frame::eth(0x0800)
            .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
            .ports(port, 9)
    };
    let (f1, f2, f3) = (flow(1), flow(2), flow(3));
    let (d, flows, c) = run(&[&f1, &f2, &f3, &f3, &f1], 2, &[]);
    assert_eq!(flows, 2);
    let packets: Vec<u64> = d.iter().map(|d| d.packets).collect();
    assert_eq!(packets.iter().sum::<u64>(), 3);
    assert_eq!(c[CAT_UNTRACKED], (2, 2 * f3.0.len() as u64));
}

#[test]
fn many_flows_fill_the_table_exactly() {
    let frames: Vec<Frame> = (0..3000u16)
        .map(|i| {
            Frame::eth(0x0800)
                .ip4(TCP, [10, 1, (i >> 8) as u8, i as u8], [10, 0, 0, 1], &[], 0)
                .tcp(i, 80)
        })
        .collect();
    let refs: Vec<&Frame> = frames.iter().collect();
    let (d, flows, c) = run(&refs, 2048, &[]);
    assert_eq!(flows, 2048);
    assert_eq!(d.len() as u64, flows);
    assert_eq!(c[CAT_UNTRACKED].0, 3000 - flows);
}

#[test]
fn totals_are_cumulative_and_deltas_are_per_interval() {
    let mut obj = MaybeUninit::uninit();
    let mut skel = load(&mut obj, 16, &[]);
    let udp = Frame::eth(0x0800)
        .ip4(UDP, [10, 0, 0, 2], [10, 0, 0, 1], &[], 0)
        .ports(1, 2);
    let tcp6 = Frame::eth(0x86dd).ip6(TCP, "fd00::2", "fd00::1").tcp(3, 4);
    let arp = Frame::eth(0x0806).bytes(&[0; 28]);
    let (lu, l6, la) = (udp.0.len() as u64, tcp6.0.len() as u64, arp.0.len() as u64);
    let prog = &skel.progs.xdp_flows;
    let send = |frames: &[&Frame]| {
        for f in frames {
            let out = prog
                .test_run(ProgramInput {
                    data_in: Some(&f.0),
                    ..Default::default()
                })
                .expect("BPF_PROG_TEST_RUN");
            assert_eq!(out.return_value, 2);
        }
    };
    let mut t = Table::new(&mut skel.maps, Duration::from_secs(60), Instant::now()).unwrap();
    send(&[&udp, &tcp6, &udp, &arp]);
    assert_eq!(t.pass(Instant::now(), false), 2);
    let mut d = t.deltas().to_vec();
    d.sort_by_key(|d| d.packets);
    assert_eq!(
        d.iter().map(|d| (d.packets, d.bytes)).collect::<Vec<_>>(),
        [(1, l6), (2, 2 * lu)]
    );
    let c = t.counters().unwrap();
    assert_eq!(c[CAT_TOTAL], (4, 2 * lu + l6 + la));
    assert_eq!(c[CAT_NON_IP], (1, la));
    // The next interval: only the flow that moved, and the totals go on.
    send(&[&udp, &arp]);
    assert_eq!(t.pass(Instant::now(), false), 2);
    assert_eq!(t.deltas().len(), 1);
    assert_eq!((t.deltas()[0].packets, t.deltas()[0].bytes), (1, lu));
    let c = t.counters().unwrap();
    assert_eq!(c[CAT_TOTAL], (6, 3 * lu + l6 + 2 * la));
    // Nothing moved: no deltas, the same totals.
    assert_eq!(t.pass(Instant::now(), true), 2);
    assert!(t.deltas().is_empty());
    assert_eq!(t.counters().unwrap()[CAT_TOTAL], c[CAT_TOTAL]);
}
