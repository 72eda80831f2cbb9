//! The reader → writer channel: records go over in batches, bounded by a
//! byte budget, and what does not fit is counted and reported as `lost`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::losses::{count_unprinted, slot, Counts};
use super::stop::{past_stop_deadline, stop_deadline, STOP_GRACE};
use crate::clock::Timestamp;
use crate::record::{LostReason, LostRecord, Record, LOST_WEIGHT};

#[cfg(test)]
mod tests;

/// Batches in flight at most.
const QUEUE_BATCHES: usize = 1024;
/// A batch is handed over when it holds this many records, or at [`RecordSender::flush`].
const BATCH_RECORDS: usize = 512;
/// Bytes in flight at most (see [`Record::weight`]); keeps RSS bounded when
/// records carry long argv.
const QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The reader's end of the channel. Records are handed over in batches (one
/// per ring-buffer drain or map snapshot), so the writer is woken once per
/// batch, not once per record.
pub struct RecordSender {
    tx: Sender<Vec<Record>>,
    in_flight: Arc<AtomicUsize>,
    batch: Vec<Record>,
    batch_weight: usize,
    /// Drops not yet reported, indexed like [`LostReason::ALL`].
    pending: Counts,
    /// The writer has hung up.
    gone: bool,
    /// Bytes in flight at most.
    budget: usize,
}

/// The writer's end: batches plus the shared in-flight byte count.
pub struct RecordReceiver {
    pub rx: Receiver<Vec<Record>>,
    in_flight: Arc<AtomicUsize>,
}

impl RecordReceiver {
    /// Call once a record has been written.
    pub fn done(&self, weight: usize) {
        self.in_flight.fetch_sub(weight, Ordering::Relaxed);
    }
}

pub fn channel() -> (RecordSender, RecordReceiver) {
    channel_with_budget(QUEUE_BYTES)
}

/// A channel that holds up to `bytes` of records in flight (at least the
/// default): `xdp` sizes it to a whole interval of its flow table, so the
/// reader never waits on the writer in the middle of a snapshot.
pub fn channel_with_budget(bytes: usize) -> (RecordSender, RecordReceiver) {
    let (tx, rx) = bounded(QUEUE_BATCHES.max(bytes / (BATCH_RECORDS * LOST_WEIGHT) + 1));
    let in_flight = Arc::new(AtomicUsize::new(0));
    (
        RecordSender {
            tx,
            in_flight: in_flight.clone(),
            batch: Vec::new(),
            batch_weight: 0,
            pending: [0; LostReason::ALL.len()],
            gone: false,
            budget: bytes.max(QUEUE_BYTES),
        },
        RecordReceiver { rx, in_flight },
    )
}

impl RecordSender {
    /// Adds a record to the current batch without blocking; counts it as
    /// `consumer_slow` if the writer is too far behind. Pending loss reports
    /// go first, so they stay in order.
    pub fn send(&mut self, rec: Record) {
        let w = rec.weight();
        let room = |me: &Self, extra: usize| {
            me.in_flight.load(Ordering::Relaxed) + me.batch_weight + extra <= me.budget
        };
        let reports = self.pending.iter().filter(|&&n| n > 0).count();
        if reports > 0 && room(self, w + reports * LOST_WEIGHT) {
            self.queue_lost();
        }
        if self.pending[slot(LostReason::ConsumerSlow)] > 0 || !room(self, w) {
            self.pending[slot(LostReason::ConsumerSlow)] += 1;
            return;
        }
        self.push(rec, w);
        if self.batch.len() >= BATCH_RECORDS {
            self.flush();
        }
    }

    /// Like [`RecordSender::send`], but waits for the writer instead of
    /// dropping: for sources that lose nothing by waiting (a benchmark, a map
    /// snapshot). Gives up waiting, and drops as `send` would, once the stop
    /// deadline has passed (one deadline for the whole stop, not one per
    /// record) or the writer is gone.
    pub fn send_wait(&mut self, rec: Record) {
        let w = rec.weight();
        while self.in_flight.load(Ordering::Relaxed) + self.batch_weight + w > self.budget {
            if !self.batch.is_empty() {
                self.queue_lost();
                self.hand_over(Some(Duration::from_millis(100)));
            }
            if self.gone || past_stop_deadline() {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        self.send(rec);
    }

    pub fn note_lost(&mut self, reason: LostReason, count: u64) {
        self.pending[slot(reason)] += count;
    }

    /// Hands the current batch (with any pending loss reports) to the writer.
    pub fn flush(&mut self) {
        self.queue_lost();
        self.hand_over(None);
    }

    /// At shutdown: waits (until the stop deadline) for room so the final
    /// records and loss counts are printed. Returns the counts it could not
    /// hand over, for the caller to report on stderr (see `output::finish`).
    pub fn finish(mut self) -> Counts {
        self.queue_lost();
        let wait =
            stop_deadline().map_or(STOP_GRACE, |d| d.saturating_duration_since(Instant::now()));
        self.hand_over(Some(wait));
        self.pending
    }

    fn push(&mut self, rec: Record, w: usize) {
        self.batch_weight += w;
        self.batch.push(rec);
    }

    /// Moves pending loss counts into the batch as `lost` records.
    fn queue_lost(&mut self) {
        for reason in LostReason::ALL {
            let count = std::mem::take(&mut self.pending[slot(reason)]);
            if count > 0 {
                let rec = Record::Lost(LostRecord {
                    timestamp: Timestamp::now(),
                    count,
                    reason,
                });
                let w = rec.weight();
                self.push(rec, w);
            }
        }
    }

    fn hand_over(&mut self, wait: Option<Duration>) {
        if self.batch.is_empty() {
            return;
        }
        // After a full batch, expect another: start the next one at full
        // size instead of growing it record by record.
        let cap = if self.batch.len() >= BATCH_RECORDS {
            BATCH_RECORDS
        } else {
            0
        };
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(cap));
        let weight = std::mem::take(&mut self.batch_weight);
        self.in_flight.fetch_add(weight, Ordering::Relaxed);
        use crossbeam_channel::{SendTimeoutError, TrySendError};
        let res = match wait {
            None => self.tx.try_send(batch).map_err(|e| {
                self.gone |= matches!(e, TrySendError::Disconnected(_));
                e.into_inner()
            }),
            Some(t) => self.tx.send_timeout(batch, t).map_err(|e| {
                self.gone |= matches!(e, SendTimeoutError::Disconnected(_));
                e.into_inner()
            }),
        };
        if let Err(batch) = res {
            // The writer is gone or hopelessly behind: count what is not
            // printed; loss reports inside the batch keep their counts.
            self.in_flight.fetch_sub(weight, Ordering::Relaxed);
            for rec in &batch {
                count_unprinted(rec, &mut self.pending);
            }
        }
    }
}
