//! The writer thread: the only code that writes to stdout. Records are
//! serialised into a large buffer that is flushed whenever the queue is
//! momentarily empty, so a quiet stream shows each line at once and a busy one
//! is written in large blocks. A closed stdout is a normal end.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use crate::error::Error;
use crate::pipeline::{request_shutdown, RecordReceiver};
use crate::record::Record;

const BUF_BYTES: usize = 64 * 1024;

/// How the writer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The reader finished and everything was written.
    Drained,
    /// The consumer closed stdout.
    Closed,
}

pub fn spawn_writer(rx: RecordReceiver) -> JoinHandle<io::Result<End>> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let stdout = io::stdout();
            let fd = stdout.as_raw_fd();
            let out = io::BufWriter::with_capacity(BUF_BYTES, stdout.lock());
            let end = write_all(rx, out, || peer_closed(fd));
            if matches!(end, Ok(End::Closed)) {
                request_shutdown();
            }
            end
        })
        .expect("spawn writer thread")
}

/// Waits for the writer; a closed stdout is a normal end.
pub fn finish(writer: JoinHandle<io::Result<End>>) -> Result<(), Error> {
    match writer.join() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Failure(format!("writing records failed: {e}"))),
        Err(_) => Err(Error::Failure("the writer thread failed".into())),
    }
}

/// Writes every record until the reader hangs up. `closed` is asked while idle,
/// so a consumer that went away is noticed without waiting for the next record.
pub fn write_all<W: Write>(
    rx: RecordReceiver,
    mut out: W,
    closed: impl Fn() -> bool,
) -> io::Result<End> {
    let res: io::Result<End> = (|| loop {
        let rec = match rx.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if closed() => return Ok(End::Closed),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                out.flush()?;
                return Ok(End::Drained);
            }
        };
        let mut next = Some(rec);
        while let Some(batch) = next {
            for rec in &batch {
                serde_json::to_writer(&mut out, rec)?;
                out.write_all(b"\n")?;
            }
            rx.done(batch.iter().map(Record::weight).sum());
            next = rx.rx.try_recv().ok();
        }
        out.flush()?;
    })();
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(End::Closed),
        other => other,
    }
}

/// True when stdout is a pipe or socket whose reader has gone.
fn peer_closed(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::pipeline::channel;
    use crate::record::{LostReason, LostRecord};

    #[test]
    fn writes_ndjson_and_ends_when_reader_hangs_up() {
        let (mut tx, rx) = channel();
        for n in 1..=3 {
            tx.send(Record::Lost(LostRecord {
                timestamp: Timestamp(0),
                count: n,
                reason: LostReason::ConsumerSlow,
            }));
        }
        tx.finish();
        let mut buf = Vec::new();
        assert_eq!(write_all(rx, &mut buf, || false).unwrap(), End::Drained);
        let text = String::from_utf8(buf).unwrap();
        let counts: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["count"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(counts, [1, 2, 3]);
    }

    #[test]
    fn broken_pipe_is_a_normal_end() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        let (mut tx, rx) = channel();
        tx.send(Record::Lost(LostRecord {
            timestamp: Timestamp(0),
            count: 1,
            reason: LostReason::ConsumerSlow,
        }));
        tx.flush();
        assert_eq!(write_all(rx, Closed, || false).unwrap(), End::Closed);
    }
}
