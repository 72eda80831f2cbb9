//! Network namespaces and a veth pair between them, always removed (a Drop
//! guard); senders, captures and a flood that run inside a namespace; and the
//! tool run with `ip netns exec`. Traffic never leaves the pair.

pub mod attached;
pub mod capture;
pub mod counters;
pub mod direction;
pub mod flood;
pub mod netns;
pub mod pair;
pub mod send;
mod socket;
pub mod tc;
pub mod tcp;

pub use capture::{rx_packets, Capture};
pub use flood::Flood;
pub use netns::{in_ns, in_ns_here, spawn_in_ns};
pub use pair::{
    sh, static_neighbour, Pair, MAC_A, MAC_B, MAC_OTHER, SECOND_V4_A, SECOND_V4_B, V4_A, V4_B,
    V6_A, V6_B,
};
pub use send::{send_frames, send_icmp_echo, send_udp, send_udp_with_ip_options};

use std::process::ExitStatus;

/// The tool running in a namespace: the harness's tracer.
pub use crate::harness::tracer::Tracer as Tool;

/// Runs the tool to completion (for errors): (status, stdout, stderr).
pub fn run_tool(ns: Option<&str>, args: &[&str]) -> (ExitStatus, String, String) {
    crate::harness::command::run_tool_in(ns, args)
}
