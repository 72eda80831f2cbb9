//! The xdp bench's flags (after `--`: `cargo bench --bench xdp -- --rounds 5`).

use std::time::Duration;

use clap::Parser;
use ebpf_jsonl::cli::{parse_count, parse_duration};

#[derive(Debug, Parser)]
#[command(
    about = "Measures the XDP and egress programs per packet and on a veth path against \
             baselines, the table drain, and the real binary's drain cost and many interfaces"
)]
pub struct Args {
    /// BPF_PROG_TEST_RUN repetitions per measurement (at least 1,000,000)
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = |s: &str| parse_count(s, 1_000_000, u32::MAX))]
    pub repeat: u32,

    /// Per-packet rounds; each is the median of --runs interleaved runs of
    /// every program, and the budget must hold in every round
    #[arg(long, value_name = "N", default_value_t = 9,
          value_parser = |s: &str| parse_count(s, 1, 1000))]
    pub rounds: u32,

    /// Interleaved runs of each program within a per-packet round
    #[arg(long, value_name = "N", default_value_t = 9,
          value_parser = |s: &str| parse_count(s, 1, 101))]
    pub runs: u32,

    /// Flows in the table for the drain measurement
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = |s: &str| parse_count(s, 1, 1_048_576))]
    pub flows: u32,

    /// How long each veth measurement counts received packets (e.g. 500ms, 3s)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub veth_time: Duration,

    /// Measurements of each veth configuration, interleaved; the median is reported
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = |s: &str| parse_count(s, 1, 1000))]
    pub veth_rounds: u32,

    /// Skip the veth measurement (it creates two network namespaces)
    #[arg(long)]
    pub no_veth: bool,

    /// Skip the per-packet measurement and the in-process table drain
    #[arg(long)]
    pub no_per_packet: bool,

    /// Skip the drain-cost measurement (the real binary on a veth pair, two table sizes)
    #[arg(long)]
    pub no_drain_cost: bool,

    /// Skip the many-interfaces measurement (one process on 4 interfaces vs 4 processes)
    #[arg(long)]
    pub no_ifaces: bool,

    /// Drain-cost and many-interface runs of each configuration, interleaved
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = |s: &str| parse_count(s, 1, 100))]
    pub drain_rounds: u32,

    /// The steady window each drain-cost / many-interface run measures CPU over
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub drain_time: Duration,

    /// Traffic before the steady window starts (the tool settles)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    pub bench: bool,
}
