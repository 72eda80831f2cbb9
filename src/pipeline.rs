//! Reader thread → bounded channel → writer thread. The reader never blocks on
//! the writer: what does not fit is dropped, counted, and reported in-band as
//! a `lost` record as soon as there is room again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::clock::Timestamp;
use crate::record::{LostReason, LostRecord, Record};

/// Set by SIGINT/SIGTERM, by `--duration`, or by the writer on a closed stdout.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

pub fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::Relaxed);
}

extern "C" fn on_signal(_: libc::c_int) {
    SHUTDOWN.store(true, Ordering::Relaxed);
}

/// SIGINT and SIGTERM end the run cleanly (drain, then exit 0).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Records in flight at most, whatever their size.
const QUEUE_RECORDS: usize = 16 * 1024;
/// Bytes in flight at most (see [`Record::weight`]); keeps RSS bounded when
/// records carry long argv.
const QUEUE_BYTES: usize = 6 * 1024 * 1024;

/// The reader's end of the channel.
pub struct RecordSender {
    tx: Sender<Record>,
    in_flight: Arc<AtomicUsize>,
    /// Drops not yet reported, indexed like [`LostReason`].
    pending: [u64; 2],
}

/// The writer's end: records plus the shared in-flight byte count.
pub struct RecordReceiver {
    pub rx: Receiver<Record>,
    in_flight: Arc<AtomicUsize>,
}

impl RecordReceiver {
    /// Call once a record has been written.
    pub fn done(&self, weight: usize) {
        self.in_flight.fetch_sub(weight, Ordering::Relaxed);
    }
}

pub fn channel() -> (RecordSender, RecordReceiver) {
    let (tx, rx) = bounded(QUEUE_RECORDS);
    let in_flight = Arc::new(AtomicUsize::new(0));
    (
        RecordSender {
            tx,
            in_flight: in_flight.clone(),
            pending: [0; 2],
        },
        RecordReceiver { rx, in_flight },
    )
}

fn slot(reason: LostReason) -> usize {
    match reason {
        LostReason::RingbufFull => 0,
        LostReason::ConsumerSlow => 1,
    }
}

impl RecordSender {
    /// Queues a record without blocking; counts it as `consumer_slow` if the
    /// queue is full. Pending loss reports go first, so they stay in order.
    pub fn send(&mut self, rec: Record) {
        if self.pending != [0; 2] {
            self.flush_lost();
        }
        let w = rec.weight();
        if self.in_flight.load(Ordering::Relaxed) + w > QUEUE_BYTES {
            self.pending[slot(LostReason::ConsumerSlow)] += 1;
            return;
        }
        self.in_flight.fetch_add(w, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(rec) {
            self.in_flight.fetch_sub(w, Ordering::Relaxed);
            self.pending[slot(LostReason::ConsumerSlow)] += 1;
        }
    }

    pub fn note_lost(&mut self, reason: LostReason, count: u64) {
        self.pending[slot(reason)] += count;
    }

    /// Tries to queue a `lost` record for every reason with pending drops.
    pub fn flush_lost(&mut self) {
        self.emit_lost(None);
    }

    /// At shutdown: waits (bounded) for room so the final counts are printed.
    pub fn finish(mut self) {
        self.emit_lost(Some(Duration::from_secs(2)));
    }

    fn emit_lost(&mut self, wait: Option<Duration>) {
        for reason in [LostReason::RingbufFull, LostReason::ConsumerSlow] {
            let count = self.pending[slot(reason)];
            if count == 0 {
                continue;
            }
            let rec = Record::Lost(LostRecord {
                timestamp: Timestamp::now(),
                count,
                reason,
            });
            let w = rec.weight();
            self.in_flight.fetch_add(w, Ordering::Relaxed);
            let sent = match wait {
                None => self.tx.try_send(rec).is_ok(),
                Some(t) => self.tx.send_timeout(rec, t).is_ok(),
            };
            if sent {
                self.pending[slot(reason)] = 0;
            } else {
                self.in_flight.fetch_sub(w, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn lost(n: u64) -> Record {
        Record::Lost(LostRecord {
            timestamp: Timestamp(0),
            count: n,
            reason: LostReason::RingbufFull,
        })
    }

    #[test]
    fn full_queue_drops_are_counted_and_reported_first() {
        let (mut tx, rx) = channel();
        for i in 0..QUEUE_RECORDS as u64 + 5 {
            tx.send(lost(i));
        }
        assert_eq!(tx.pending, [0, 5]);
        // The writer catches up a little: the loss report goes out before the next record.
        for _ in 0..3 {
            let r = rx.rx.recv().unwrap();
            rx.done(r.weight());
        }
        tx.send(lost(999));
        assert_eq!(tx.pending, [0, 0]);
        let rest: Vec<Record> = rx.rx.try_iter().collect();
        let n = rest.len();
        match &rest[n - 2] {
            Record::Lost(l) => assert_eq!((l.count, l.reason), (5, LostReason::ConsumerSlow)),
            other => panic!("expected the loss report, got {other:?}"),
        }
        match &rest[n - 1] {
            Record::Lost(l) => assert_eq!(l.count, 999),
            other => panic!("expected the last record, got {other:?}"),
        }
    }
}
