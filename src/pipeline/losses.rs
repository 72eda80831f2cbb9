//! Loss accounting: a count per [`LostReason`], for what was dropped or
//! not written, and how it reads on stderr.

use crate::record::{LostReason, Record};

/// A count per loss reason, indexed like [`LostReason::ALL`].
pub type Counts = [u64; LostReason::ALL.len()];

/// Adds what a record not printed stands for: its own count for a `lost`
/// record, else one `consumer_slow`.
pub fn count_unprinted(rec: &Record, counts: &mut Counts) {
    match rec {
        Record::Lost(l) => counts[slot(l.reason)] += l.count,
        _ => counts[slot(LostReason::ConsumerSlow)] += 1,
    }
}

/// `consumer_slow=3 ringbuf_full=1`: the non-zero counts, for stderr.
pub fn describe(counts: &Counts) -> String {
    LostReason::ALL
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(r, n)| {
            let name = serde_json::to_value(r).expect("a reason serialises");
            format!("{}={n}", name.as_str().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn slot(reason: LostReason) -> usize {
    reason as usize
}
