//! The writer thread's loop, the only code that writes records: it takes
//! batches off the channel into its buffer (`buffer.rs`), flushes whenever the
//! queue is momentarily empty (so a quiet stream shows each line at once and
//! a busy one is written in large blocks), and when the output ends early
//! asks the run to stop, then counts all that the reader still sends.

use std::io;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::buffer::{Cut, Writer, LINE_GRACE};
use super::sink::Sink;
use crate::pipeline::{self, count_unprinted, Counts, RecordReceiver};
use crate::record::{LostReason, Record};

/// How the writer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The reader finished and everything was written.
    Drained,
    /// The consumer closed stdout.
    Closed,
    /// The stop deadline passed with records not yet written.
    Stalled,
}

/// What the writer thread hands back.
pub struct Outcome {
    pub end: io::Result<End>,
    /// What was received but not written (with `Stalled` or an error).
    pub unwritten: Counts,
    /// The last line written is cut short (the consumer took part of it,
    /// then nothing more before the deadline).
    pub torn: bool,
    /// The output, as messages name it.
    pub name: String,
}

/// How the writer asks the run to stop, and learns by when it must be done.
pub struct Stop {
    pub request: fn(),
    pub deadline: fn() -> Option<Instant>,
}

impl Stop {
    /// The run's own stop: asked for by the writer, bounded by its deadline.
    pub const RUN: Stop = Stop {
        request: pipeline::request_shutdown,
        deadline: pipeline::stop_deadline,
    };

    /// No stop and no deadline: the writer waits on its sink for good.
    pub const NEVER: Stop = Stop {
        request: || {},
        deadline: || None,
    };
}

/// Like [`write_records`], for benchmarks and tests: the error, if any.
pub fn write_all<W: Sink>(rx: RecordReceiver, out: W) -> io::Result<End> {
    write_records(rx, out, &Stop::NEVER).end
}

/// Writes every record until the reader hangs up. Records are serialised
/// into one buffer that goes out in a single write when it fills or the queue
/// is momentarily empty. The sink is asked while idle whether its consumer
/// went away (so that is noticed without waiting for the next record), and
/// between batches, with nothing buffered, whether to reopen. When the
/// output ends early (closed, failed, or past the stop deadline) the writer
/// asks the run to stop (`stop`), then keeps taking what the reader still sends, so
/// all of it is counted, until the reader hangs up.
pub fn write_records<W: Sink>(rx: RecordReceiver, mut out: W, stop: &Stop) -> Outcome {
    let mut w = Writer::new();
    let mut unwritten: Counts = [0; LostReason::ALL.len()];
    let name = out.name();
    // None: the reader hung up with everything written.
    let cut: Result<Option<(Cut, bool)>, io::Error> = (|| loop {
        let rec = match rx.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if out.closed() => {
                return Ok(Some((Cut::Closed, false)))
            }
            Err(RecvTimeoutError::Timeout) => {
                out.maybe_reopen();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        };
        let mut next = Some(rec);
        while let Some(batch) = next {
            for (i, rec) in batch.iter().enumerate() {
                if w.push(rec)? {
                    if let Err(cut) = w.flush(&mut out, &stop.deadline, &mut unwritten) {
                        for rest in &batch[i + 1..] {
                            count_unprinted(rest, &mut unwritten);
                        }
                        rx.done(batch.iter().map(Record::weight).sum());
                        return Ok(Some(cut));
                    }
                }
            }
            rx.done(batch.iter().map(Record::weight).sum());
            drop(batch);
            next = rx.rx.try_recv().ok();
        }
        if let Err(cut) = w.flush(&mut out, &stop.deadline, &mut unwritten) {
            return Ok(Some(cut));
        }
        out.maybe_reopen();
    })();
    let (why, torn) = match cut {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Outcome {
                end: Ok(End::Drained),
                unwritten,
                torn: false,
                name,
            }
        }
        Err(e) => (Cut::Failed(e), false),
    };
    (stop.request)();
    let counting = !matches!(why, Cut::Closed);
    // Take (and count) what is queued and what the reader still sends until
    // it hangs up; it stops trying at the stop deadline, so that comes soon
    // (the limit is only a safety net).
    let limit = (stop.deadline)()
        .unwrap_or_else(Instant::now)
        .max(Instant::now())
        + LINE_GRACE;
    loop {
        match rx.rx.recv_timeout(Duration::from_millis(20)) {
            Ok(batch) => {
                rx.done(batch.iter().map(Record::weight).sum());
                if counting {
                    for rec in &batch {
                        count_unprinted(rec, &mut unwritten);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() < limit => {}
            Err(_) => break,
        }
    }
    Outcome {
        end: match why {
            Cut::Stalled => Ok(End::Stalled),
            Cut::Closed => Ok(End::Closed),
            Cut::Failed(e) => Err(e),
        },
        unwritten: if counting {
            unwritten
        } else {
            [0; LostReason::ALL.len()]
        },
        torn,
        name,
    }
}
