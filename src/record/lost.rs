//! `lost` records: what the tool could not deliver, and why.

use serde::Serialize;

use crate::clock::Timestamp;

/// Events the tool could not deliver, reported in-band.
#[derive(Debug, Serialize)]
pub struct LostRecord {
    pub timestamp: Timestamp,
    pub count: u64,
    pub reason: LostReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    /// The kernel's ring buffer was full (the reader fell behind).
    RingbufFull,
    /// The writer queue was full (stdout's consumer fell behind).
    ConsumerSlow,
    /// `exec --failed`: an execve/execveat could not be followed (the table of
    /// execs in progress was full), so its failure would go unreported.
    InflightFull,
    /// `exec --pid`: a new descendant could not be followed (the table of
    /// traced processes was full); its execs and exit are not reported.
    PidsFull,
    /// `exec --exits`: an exit could not be reported exactly once (the table
    /// of ended processes was full), so it was not reported.
    ExitsFull,
    /// `exec`: an exec's boot time could not be kept (the table of exec'd
    /// processes was full): its record is printed, but its children's
    /// `parent_exec_id` and its exit's `exec_id` fall back to its fork time.
    ExecTimesFull,
    /// An event from the kernel too malformed to decode.
    Malformed,
}

impl LostReason {
    /// Every reason, in the order loss reports are printed.
    pub const ALL: [LostReason; 7] = [
        LostReason::RingbufFull,
        LostReason::ConsumerSlow,
        LostReason::InflightFull,
        LostReason::PidsFull,
        LostReason::ExitsFull,
        LostReason::ExecTimesFull,
        LostReason::Malformed,
    ];
}
