//! The programs the xdp bench measures: ours (the product's, through the
//! library) and the baselines (the testkit's), loaded, and run once through
//! BPF_PROG_TEST_RUN.

use std::mem::MaybeUninit;
use std::time::Duration;

use ebpf_jsonl::error::Error;
use ebpf_jsonl::kernel;
use ebpf_jsonl::xdp::attach::{self, Config};
use ebpf_jsonl::xdp::flavour::Flavour;
use ebpf_jsonl::xdp::skel::XdpSkel;
use ebpf_jsonl_testkit::baseline::{BenchXdpSkel, BenchXdpSkelBuilder};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{OpenObject, ProgramInput, ProgramMut};

/// Our program in the given flavour with a table of `max_flows` flows,
/// nothing excluded.
pub fn load_flavour(
    obj: &mut MaybeUninit<OpenObject>,
    max_flows: u32,
    flavour: Flavour,
) -> Result<XdpSkel<'_>, Error> {
    let config = Config {
        max_flows,
        excludes: &[],
        flavour: Some(flavour),
        ingress: true,
        egress: true,
    };
    attach::load(obj, &config).map(|(skel, _)| skel)
}

/// Our program's atomic flavour (its `xdp_flows`).
pub fn load_ours(obj: &mut MaybeUninit<OpenObject>, max_flows: u32) -> Result<XdpSkel<'_>, Error> {
    load_flavour(obj, max_flows, Flavour::Atomic)
}

/// The empty program and the seed tutorial's design.
pub fn load_baseline(obj: &mut MaybeUninit<OpenObject>) -> Result<BenchXdpSkel<'_>, Error> {
    BenchXdpSkelBuilder::default()
        .open(obj)
        .and_then(|o| o.load())
        .map_err(|e| kernel::bpf_error("loading the baseline programs", &e))
}

/// `repeat` runs of the XDP program `prog` on `frame`: the kernel's total
/// duration.
pub fn run_once(prog: &ProgramMut, frame: &[u8], repeat: u32) -> Result<Duration, Error> {
    let pass = libbpf_rs::libbpf_sys::XDP_PASS as i32;
    run_expecting(prog, frame, repeat, pass, "XDP_PASS")
}

/// `repeat` runs of `prog` on `frame` (an skb's data for a SCHED_CLS
/// program), which must return `expect` (named `what`).
pub fn run_expecting(
    prog: &ProgramMut,
    frame: &[u8],
    repeat: u32,
    expect: i32,
    what: &str,
) -> Result<Duration, Error> {
    let out = prog
        .test_run(ProgramInput {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        })
        .map_err(|e| Error::Kernel(format!("BPF_PROG_TEST_RUN: {e}")))?;
    if out.return_value as i32 != expect {
        return Err(Error::Failure(format!(
            "the program returned {} instead of {what}",
            out.return_value as i32
        )));
    }
    Ok(out.duration)
}
