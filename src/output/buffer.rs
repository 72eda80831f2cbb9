//! The writer's buffer: records serialised into it and written out whole,
//! waiting for room until the stop deadline. When a write is cut short
//! (past the deadline, the consumer gone, a failed write) it leaves no
//! partial line where it can help it and counts exactly what did not get
//! out, `lost` records by their own counts.

use std::io;
use std::time::{Duration, Instant};

use super::print::consumer_gone;
use super::sink::Sink;
use crate::pipeline::{slot, Counts};
use crate::record::{LostReason, Record};

/// The buffer goes out once it holds this much (or the queue is empty).
const BUF_BYTES: usize = 64 * 1024;

/// After the stop deadline cut a write in the middle of a line, how long the
/// writer still tries to complete that one line.
pub(super) const LINE_GRACE: Duration = Duration::from_secs(1);

/// A stop deadline, if a stop was asked for.
pub(super) type Deadline<'a> = &'a dyn Fn() -> Option<Instant>;

/// How a write of the buffer was cut short.
pub(super) enum Cut {
    /// The stop deadline passed.
    Stalled,
    /// The consumer went away.
    Closed,
    Failed(io::Error),
}

/// Writes `buf` whole, or says how far it got and why not: waits for room
/// while the consumer is slow, and gives up once `deadline()` has passed.
fn put<W: Sink>(out: &mut W, buf: &[u8], deadline: Deadline) -> Result<(), (usize, Cut)> {
    let mut off = 0;
    while off < buf.len() {
        match out.write(&buf[off..]) {
            Ok(0) => return Err((off, Cut::Failed(io::ErrorKind::WriteZero.into()))),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let d = deadline();
                let left = d.map(|d| d.saturating_duration_since(Instant::now()));
                match left {
                    Some(Duration::ZERO) => return Err((off, Cut::Stalled)),
                    Some(l) => out.wait_writable(l.min(Duration::from_millis(100))),
                    None => out.wait_writable(Duration::from_millis(100)),
                }
            }
            Err(e) if consumer_gone(&e) => return Err((off, Cut::Closed)),
            Err(e) => return Err((off, Cut::Failed(e))),
        }
    }
    Ok(())
}

/// The writer's state: the serialisation buffer and where its `lost`
/// records end (so a cut buffer is counted exactly).
pub(super) struct Writer {
    buf: Vec<u8>,
    /// (end offset in `buf`, reason, count) for each `lost` record in `buf`.
    lost_marks: Vec<(usize, LostReason, u64)>,
}

impl Writer {
    pub(super) fn new() -> Writer {
        Writer {
            buf: Vec::with_capacity(BUF_BYTES + 16 * 1024),
            lost_marks: Vec::new(),
        }
    }

    /// Serialises one record as a line; true once the buffer should go out.
    pub(super) fn push(&mut self, rec: &Record) -> io::Result<bool> {
        serde_json::to_writer(&mut self.buf, rec)?;
        self.buf.push(b'\n');
        if let Record::Lost(l) = rec {
            self.lost_marks.push((self.buf.len(), l.reason, l.count));
        }
        Ok(self.buf.len() >= BUF_BYTES)
    }

    /// Writes the buffer; on a cut, leaves no partial line where it can help
    /// it and returns how the output ended, with what was not written
    /// counted into `unwritten`.
    pub(super) fn flush<W: Sink>(
        &mut self,
        out: &mut W,
        deadline: Deadline,
        unwritten: &mut Counts,
    ) -> Result<(), (Cut, bool)> {
        let res = put(out, &self.buf, deadline);
        let Err((mut done, why)) = res else {
            self.buf.clear();
            self.lost_marks.clear();
            return Ok(());
        };
        let line_start = self.buf[..done]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let mut torn = false;
        if done > line_start {
            match why {
                // Complete the line in progress if the consumer takes it soon.
                Cut::Stalled => {
                    let end = done
                        + self.buf[done..]
                            .iter()
                            .position(|&b| b == b'\n')
                            .expect("a buffer ends with a newline")
                        + 1;
                    let until = Instant::now() + LINE_GRACE;
                    match put(out, &self.buf[done..end], &|| Some(until)) {
                        Ok(()) => done = end,
                        Err(_) => torn = true,
                    }
                }
                // A full filesystem: take the cut line back out of the file.
                Cut::Failed(_) => match out.unwrite(done - line_start) {
                    Ok(()) => done = line_start,
                    Err(_) => torn = true,
                },
                Cut::Closed => {}
            }
        }
        if !matches!(why, Cut::Closed) {
            // Every line that did not get out whole, lost records by their counts.
            let lines = self.buf[done..].iter().filter(|&&b| b == b'\n').count() as u64;
            let mut lost_lines = 0;
            for &(end, reason, count) in &self.lost_marks {
                if end > done {
                    unwritten[slot(reason)] += count;
                    lost_lines += 1;
                }
            }
            unwritten[slot(LostReason::ConsumerSlow)] += lines - lost_lines;
        }
        self.buf.clear();
        self.lost_marks.clear();
        Err((why, torn))
    }
}
