//! Reader thread → bounded channel → writer thread. The reader never blocks on
//! the writer: what does not fit is dropped, counted, and reported in-band as
//! a `lost` record as soon as there is room again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::clock::Timestamp;
use crate::record::{LostReason, LostRecord, Record, LOST_WEIGHT};

/// Set by SIGINT/SIGTERM/SIGHUP, by `--duration`, or by the writer when its
/// output closed or failed.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// When the stop was first noticed (a signal handler cannot take it).
static STOP_AT: OnceLock<Instant> = OnceLock::new();

/// How long a stop may spend handing over and writing what is still held,
/// whatever the consumer does; what is not written by then is counted.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

pub fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::Relaxed);
    let _ = stop_deadline();
}

/// Once a stop was asked for: the moment by which everything must be
/// written or counted ([`STOP_GRACE`] after the stop was first noticed).
pub fn stop_deadline() -> Option<Instant> {
    shutting_down().then(|| *STOP_AT.get_or_init(Instant::now) + STOP_GRACE)
}

/// True once the stop deadline has passed.
pub fn past_stop_deadline() -> bool {
    stop_deadline().is_some_and(|d| Instant::now() >= d)
}

extern "C" fn on_signal(_: libc::c_int) {
    SHUTDOWN.store(true, Ordering::Relaxed);
}

extern "C" fn on_nothing(_: libc::c_int) {}

/// True when `sig` is ignored (SIG_IGN inherited across exec).
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sets `handler` for `sig` (no SA_RESTART unless `restart`).
pub fn set_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int), restart: bool) {
    // SAFETY: every handler passed here only stores to an atomic (or does
    // nothing), which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if restart {
            sa.sa_flags = libc::SA_RESTART;
        }
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// SIGINT, SIGTERM and SIGHUP (a hangup of the terminal) end the run cleanly:
/// drain, then exit 0; a SIGHUP ignored by whoever started us (`nohup`) stays
/// ignored. SIGUSR1 does nothing. With `--output`, SIGHUP and SIGUSR1 reopen
/// the file instead (see `output::Dest::new`).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        set_handler(sig, on_signal, false);
    }
    if !ignored(libc::SIGHUP) {
        set_handler(libc::SIGHUP, on_signal, false);
    }
    // A handler, not SIG_IGN, so that children do not inherit it.
    set_handler(libc::SIGUSR1, on_nothing, true);
}

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

    fn counts(batch: &[Record]) -> Vec<(u64, LostReason)> {
        batch
            .iter()
            .map(|r| match r {
                Record::Lost(l) => (l.count, l.reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn records_travel_in_batches() {
        let (mut tx, rx) = channel();
        tx.send(lost(1));
        tx.send(lost(2));
        assert!(
            rx.rx.try_recv().is_err(),
            "nothing is handed over before a flush"
        );
        tx.flush();
        let b = rx.rx.try_recv().unwrap();
        assert_eq!(
            counts(&b),
            [(1, LostReason::RingbufFull), (2, LostReason::RingbufFull)]
        );
        for _ in 0..BATCH_RECORDS {
            tx.send(lost(3));
        }
        assert_eq!(
            rx.rx.try_recv().unwrap().len(),
            BATCH_RECORDS,
            "a full batch goes at once"
        );
    }

    #[test]
    fn full_queue_drops_are_counted_and_reported_first() {
        let (mut tx, rx) = channel();
        for _ in 0..QUEUE_BATCHES {
            tx.send(lost(7));
            tx.flush();
        }
        // The queue is full: these batches cannot be handed over.
        tx.send(lost(8));
        tx.send(lost(9));
        tx.flush();
        tx.send(lost(10));
        tx.flush();
        assert_eq!(
            tx.pending[..2],
            [8 + 9 + 10, 0],
            "loss reports keep their counts"
        );
        // The writer catches up: the loss report goes out before the next record.
        let b = rx.rx.recv().unwrap();
        rx.done(b.iter().map(Record::weight).sum());
        tx.send(lost(999));
        tx.flush();
        assert_eq!(tx.pending, [0; LostReason::ALL.len()]);
        let last = rx.rx.try_iter().last().unwrap();
        assert_eq!(
            counts(&last),
            [
                (27, LostReason::RingbufFull),
                (999, LostReason::RingbufFull)
            ]
        );
    }

    #[test]
    fn send_wait_waits_for_the_writer_instead_of_dropping() {
        let (mut tx, rx) = channel();
        let n = 3 * QUEUE_BYTES / lost(0).weight();
        let writer = std::thread::spawn(move || {
            let mut got = 0u64;
            while let Ok(b) = rx.rx.recv() {
                rx.done(b.iter().map(Record::weight).sum());
                got += b.len() as u64;
            }
            got
        });
        for _ in 0..n {
            tx.send_wait(lost(1));
        }
        assert_eq!(tx.pending, [0; LostReason::ALL.len()], "nothing dropped");
        assert_eq!(
            tx.finish(),
            [0; LostReason::ALL.len()],
            "everything handed over"
        );
        assert_eq!(writer.join().unwrap(), n as u64);
    }

    #[test]
    fn byte_budget_bounds_what_is_in_flight() {
        let (mut tx, _rx) = channel();
        let n = QUEUE_BYTES / lost(0).weight() + 10;
        for _ in 0..n {
            tx.send(lost(1));
        }
        assert!(
            tx.pending[slot(LostReason::ConsumerSlow)] >= 10,
            "{:?}",
            tx.pending
        );
        assert!(tx.in_flight.load(Ordering::Relaxed) + tx.batch_weight <= QUEUE_BYTES);
        // Dropping more does not grow the batch: the count just goes up.
        let len = tx.batch.len();
        for _ in 0..1000 {
            tx.send(lost(1));
        }
        assert_eq!(tx.batch.len(), len);
        assert!(tx.in_flight.load(Ordering::Relaxed) <= QUEUE_BYTES);
    }
}
