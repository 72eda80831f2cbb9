//! The records ebpf-jsonl prints: one enum, serialised with a `type` tag, so
//! every subcommand shares the reader → channel → writer path. Each record
//! also knows what it weighs in the writer queue ([`Record::weight`]), which
//! the queue's memory budget ([`crate::pipeline`]) counts in.
//!
//! - [`exec`](mod@exec): `exec` and `exit` records and the kernel-byte types they print.
//! - [`flow`]: `flow` and `xdp_stats` records.
//! - [`lost`]: `lost` records and their reasons.
//! - [`text`]: kernel bytes as strings, with their exact bytes (`*_b64`)
//!   when they are not valid UTF-8.

use serde::Serialize;

pub mod exec;
pub mod flow;
pub mod lost;
#[cfg(test)]
mod tests;
pub mod text;

pub use exec::{Argv, Comm, ExecId, ExecPaths, ExecRecord, ExecText, ExitRecord, Identity};
pub use flow::{FlowRecord, IpProto, XdpStatsRecord};
pub use lost::{LostReason, LostRecord};

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Exec(ExecRecord),
    Exit(ExitRecord),
    Lost(LostRecord),
    Flow(FlowRecord),
    XdpStats(XdpStatsRecord),
}

/// What an exec record weighs in the writer queue, besides its text.
const EXEC_WEIGHT: usize = 224;
/// What an exit record weighs in the writer queue.
const EXIT_WEIGHT: usize = 128;
/// What a `lost` record weighs in the writer queue.
pub const LOST_WEIGHT: usize = 64;
/// What a flow record weighs in the writer queue (it owns no heap memory).
pub const FLOW_WEIGHT: usize = 128;
/// What an `xdp_stats` record weighs in the writer queue.
const XDP_STATS_WEIGHT: usize = 160;

impl Record {
    /// Rough heap + inline size, for the writer queue's memory budget.
    pub fn weight(&self) -> usize {
        match self {
            Record::Exec(e) => EXEC_WEIGHT + e.text.len() + e.paths.heap_bytes(),
            Record::Exit(_) => EXIT_WEIGHT,
            Record::Lost(_) => LOST_WEIGHT,
            Record::Flow(_) => FLOW_WEIGHT,
            Record::XdpStats(_) => XDP_STATS_WEIGHT,
        }
    }
}
