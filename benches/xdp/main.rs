//! What the xdp program costs, side by side in one run with an empty XDP_PASS
//! program and the seed tutorial's design (the testkit's baseline):
//! - per packet through BPF_PROG_TEST_RUN, on a 64-byte TCP/IPv4, UDP/IPv6 and
//!   ICMP echo (IPv4) frame, with a budget per round (per_packet.rs); the
//!   egress (TC) programs against an empty SCHED_CLS one (per_packet_tc.rs);
//! - on a real path: packets per second received through a veth pair between
//!   two namespaces it creates, flooded from the peer, native and generic
//!   (veth.rs);
//! - what draining a full flow table costs per interval (drain.rs);
//! - the real binary's drain cost at `--interval 10ms` with 50 flows, a table
//!   of 65,536 and of 1,048,576 slots (drain_cost.rs);
//! - one process on 4 interfaces against 4 processes on one each (ifaces.rs).
//!
//! Interleaved rounds, medians. Absolute numbers drift on shared machines:
//! compare within a run. Needs root.
//!
//!   cargo bench --bench xdp -- [--rounds 21] [--repeat N] [--flows N]
//!                              [--veth-time 1s] [--veth-rounds 10] [--no-veth]
//!                              [--drain-rounds 3] [--drain-time 3s] [--warmup 1s]
//!                              [--no-per-packet] [--no-drain-cost] [--no-ifaces]

mod args;
mod drain;
mod drain_cost;
mod ifaces;
mod measure;
mod netlab;
mod per_packet;
mod per_packet_tc;
mod programs;
mod tool;
mod veth;

use clap::Parser;
use ebpf_jsonl::error::Error;
use ebpf_jsonl::{kernel, pipeline};

use args::Args;

fn main() {
    pipeline::install_signal_handlers();
    kernel::capture_libbpf_log(false);
    if let Err(e) = run(&Args::parse()) {
        eprintln!("xdp bench: {e}");
        std::process::exit(e.exit_code());
    }
}

/// Keeps the measuring thread on the CPU it is on, so every program is
/// measured on the same one (threads it starts inherit this): that CPU, and
/// the affinity it had before.
fn pin_to_current_cpu() -> Option<(i32, libc::cpu_set_t)> {
    // SAFETY: plain calls with valid cpu_set_t.
    unsafe {
        let mut before: libc::cpu_set_t = std::mem::zeroed();
        let size = size_of::<libc::cpu_set_t>();
        let cpu = libc::sched_getcpu();
        if cpu < 0 || libc::sched_getaffinity(0, size, &mut before) != 0 {
            return None;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        (libc::sched_setaffinity(0, size, &set) == 0).then_some((cpu, before))
    }
}

fn run(args: &Args) -> Result<(), Error> {
    kernel::check_privileges(true)?;
    kernel::raise_memlock();
    let pinned = pin_to_current_cpu();
    if let Some((cpu, _)) = pinned {
        let veth = if args.no_veth {
            ""
        } else {
            "; the veth sender and receive path run there too"
        };
        println!("(measuring per packet, the table drain and veth on CPU {cpu}{veth})");
    }
    if !args.no_per_packet {
        per_packet::run(args)?;
        per_packet_tc::run(args)?;
        drain::run(args)?;
    }
    if !args.no_veth {
        veth::run(args)?;
    }
    // The real binary's runs: the tool, its senders and the kernel's receive
    // path go wherever the scheduler puts them, as in production.
    if let Some((_, before)) = pinned {
        // SAFETY: the set sched_getaffinity gave.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &before) };
    }
    if !args.no_drain_cost {
        drain_cost::run(args)?;
    }
    if !args.no_ifaces {
        ifaces::run(args)?;
    }
    Ok(())
}
