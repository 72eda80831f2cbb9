//! What the xdp program costs, side by side in one run with an empty XDP_PASS
//! program and the seed tutorial's design (the testkit's baseline):
//! - per packet through BPF_PROG_TEST_RUN, on a 64-byte TCP/IPv4, UDP/IPv6 and
//!   ICMP echo (IPv4) frame (per_packet.rs);
//! - on a real path: packets per second received through a veth pair between
//!   two namespaces it creates, flooded from the peer, native and generic
//!   (veth.rs);
//! - what draining a full flow table costs per interval (drain.rs).
//!
//! Interleaved rounds, medians. Absolute numbers drift on shared machines:
//! compare within a run. Needs root.
//!
//!   cargo bench --bench xdp -- [--rounds 21] [--repeat N] [--flows N]
//!                              [--veth-time 1s] [--veth-rounds 10] [--no-veth]

mod args;
mod drain;
mod per_packet;
mod programs;
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
/// measured on the same one (threads it starts inherit this).
fn pin_to_current_cpu() -> Option<i32> {
    // SAFETY: plain calls with a valid cpu_set_t.
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return None;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        (libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0).then_some(cpu)
    }
}

fn run(args: &Args) -> Result<(), Error> {
    kernel::check_privileges(true)?;
    kernel::raise_memlock();
    if let Some(cpu) = pin_to_current_cpu() {
        let veth = if args.no_veth {
            ""
        } else {
            "; the veth sender and receive path run there too"
        };
        println!("(measuring on CPU {cpu}{veth})");
    }
    per_packet::run(args)?;
    drain::run(args)?;
    if !args.no_veth {
        veth::run(args)?;
    }
    Ok(())
}
