//! ebpf-jsonl: eBPF programs in the kernel, newline-delimited JSON on stdout.

mod cli;
mod clock;
mod error;
mod exec;
mod kernel;
mod output;
mod pipeline;
mod record;
mod xdp;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::exit;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    pipeline::install_signal_handlers();
    let res = match &cli.command {
        Command::Exec(a) => {
            kernel::capture_libbpf_log(a.common.verbose);
            exec::run(a)
        }
        Command::Xdp(a) => {
            kernel::capture_libbpf_log(a.common.verbose);
            xdp::run(a)
        }
        Command::XdpBench(a) => {
            kernel::capture_libbpf_log(false);
            xdp::bench::run(a)
        }
    };
    match res {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ebpf-jsonl: error: {e}");
            e.exit_code()
        }
    }
}
