//! `xdp`'s flags and their parsers.

use std::time::Duration;

use clap::Args;

use super::common::Common;
use super::values::{parse_count, parse_duration, parse_iface};

#[derive(Debug, Args)]
pub struct XdpArgs {
    /// The network interfaces whose packets are counted (one or more)
    #[arg(value_name = "IFACE", required = true, num_args = 1.., value_parser = parse_iface)]
    pub ifaces: Vec<String>,

    /// Count what arrives (ingress: XDP), what leaves (egress: TC), or both
    #[arg(long, value_enum, default_value_t = Direction::Ingress)]
    pub direction: Direction,

    #[command(flatten)]
    pub common: Common,

    /// Print the flows that moved, then the totals, this often (e.g. 500ms, 1s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Flow table capacity, for all interfaces and directions (256 bytes of
    /// kernel memory per flow; a flow counted on several CPUs takes one per
    /// CPU); packets of flows that don't fit are counted as untracked
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = |s: &str| parse_count(s, 1, 1_048_576))]
    pub max_flows: u32,

    /// Remove a flow from the table once it has been idle this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Don't make flows of packets from this source prefix, count them as excluded
    /// (repeatable; IPv4 or IPv6, e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub exclude: Vec<Cidr>,

    /// Ingress: native (driver) XDP, generic (kernel) XDP, or auto: native, else generic
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub mode: XdpMode,

    /// For tests and the kernel matrix: the egress hook to use instead of the
    /// one the kernel is probed for (auto: TCX, else a clsact filter)
    #[arg(long, value_enum, default_value_t = EgressHook::Auto, hide = true)]
    pub egress_hook: EgressHook,

    /// For tests and the benchmark: the program flavour to load instead of
    /// the one the kernel is probed for (compat runs on 6.x too)
    #[arg(long, value_enum, hide = true)]
    pub flavour: Option<XdpFlavour>,
}

pub use crate::xdp::egress::EgressHook;

/// `--direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    Ingress,
    Egress,
    Both,
}

impl Direction {
    pub fn ingress(self) -> bool {
        self != Direction::Egress
    }

    pub fn egress(self) -> bool {
        self != Direction::Ingress
    }
}

/// The XDP program's flavours (src/xdp/flavour.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpFlavour {
    /// 64-bit cmpxchg, xchg and fetch-add (Linux 5.12+)
    Atomic,
    /// a spin lock for claims, for kernels before 5.12
    Compat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpMode {
    Auto,
    Native,
    Generic,
}

/// An address prefix for `--exclude`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

/// `10.0.0.0/8`, `fd00::/8`; a bare address is a single host.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = a
        .parse()
        .map_err(|_| "not an address prefix; use e.g. 10.0.0.0/8 or fd00::/8".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p.map(str::parse::<u8>) {
        None => max,
        Some(Ok(n)) if n <= max => n,
        Some(_) => {
            return Err(format!(
                "bad prefix length: use 0 to {max} for {}",
                if addr.is_ipv4() { "IPv4" } else { "IPv6" }
            ))
        }
    };
    Ok(Cidr { addr, prefix })
}
