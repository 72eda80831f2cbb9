//! The writer end to end: NDJSON out, a consumer gone, stalls and failed
//! writes counted exactly, and an `--output` file reopened.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::fd_sink::{FileSink, REOPEN};
use super::sink::Sink;
use super::writer::{write_all, write_records, End, Outcome, Stop};
use crate::clock::Timestamp;
use crate::pipeline::{channel, slot};
use crate::record::{LostReason, LostRecord, Record};

#[test]
fn writes_ndjson_and_ends_when_reader_hangs_up() {
    let (mut tx, rx) = channel();
    for n in 1..=3 {
        tx.send(lost_rec(n, LostReason::ConsumerSlow));
    }
    assert_eq!(tx.finish(), [0; LostReason::ALL.len()]);
    let mut buf = Vec::new();
    assert_eq!(write_all(rx, &mut buf).unwrap(), End::Drained);
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
    impl Sink for Closed {}
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }
    let (mut tx, rx) = channel();
    tx.send(lost_rec(1, LostReason::ConsumerSlow));
    tx.flush();
    drop(tx);
    assert_eq!(write_all(rx, Closed).unwrap(), End::Closed);
}

/// Takes `room` bytes, then fails every write with `then()`: WouldBlock
/// for a consumer that stopped reading, ENOSPC for a full filesystem (whose
/// file can be cut back, like a regular file's).
struct Takes {
    taken: Vec<u8>,
    room: usize,
    then: fn() -> io::Error,
}
impl Write for Takes {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err((self.then)());
        }
        let n = b.len().min(self.room);
        self.room -= n;
        self.taken.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Sink for Takes {
    fn unwrite(&mut self, n: usize) -> io::Result<()> {
        self.taken.truncate(self.taken.len() - n);
        Ok(())
    }
}

fn lost_rec(count: u64, reason: LostReason) -> Record {
    Record::Lost(LostRecord {
        timestamp: Timestamp(0),
        count,
        reason,
    })
}

/// The i-th record of [`stalled_after`].
fn nth(i: usize) -> Record {
    let reason = [LostReason::RingbufFull, LostReason::ConsumerSlow][i % 2];
    lost_rec(1 << i, reason)
}

/// Bytes of the first `n` lines of [`stalled_after`].
fn lines_len(n: usize) -> usize {
    (0..n)
        .map(|i| serde_json::to_vec(&nth(i)).unwrap().len() + 1)
        .sum()
}

/// Sends 1, 2, 4, … 512 as `lost` counts (ring buffer, then queue) and
/// has a stalled sink past its deadline take `room` bytes of them.
fn stalled_after(room: usize) -> (Outcome, Vec<u8>, u64) {
    let (mut tx, rx) = channel();
    let mut total = 0;
    for i in 0..10 {
        tx.send(nth(i));
        total += 1 << i;
    }
    assert_eq!(tx.finish(), [0; LostReason::ALL.len()]);
    let mut sink = Takes {
        taken: Vec::new(),
        room,
        then: || io::ErrorKind::WouldBlock.into(),
    };
    let past = Stop {
        request: || {},
        deadline: || Some(Instant::now()),
    };
    let o = write_records(rx, &mut sink, &past);
    (o, sink.taken, total)
}

fn printed_counts(text: &[u8]) -> u64 {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn a_stall_past_the_deadline_counts_exactly_what_was_not_written() {
    // Three whole lines taken: the other seven are counted by their counts.
    let (o, taken, total) = stalled_after(lines_len(3));
    assert_eq!(o.end.unwrap(), End::Stalled);
    assert!(!o.torn);
    assert_eq!(printed_counts(&taken), 1 + 2 + 4);
    assert_eq!(o.unwritten.iter().sum::<u64>() + 7, total);
    // Ring buffer drops (even powers) and queue drops keep their reasons.
    let rb = 16 + 64 + 256;
    assert_eq!(o.unwritten[slot(LostReason::RingbufFull)], rb);
    assert_eq!(o.unwritten[slot(LostReason::ConsumerSlow)], total - 7 - rb);
}

#[test]
fn a_line_cut_by_the_deadline_is_counted_and_said_to_be_cut() {
    let (o, taken, total) = stalled_after(lines_len(2) + 5);
    assert_eq!(o.end.unwrap(), End::Stalled);
    assert!(o.torn, "the third line is cut");
    assert_eq!(taken.len(), lines_len(2) + 5);
    assert_eq!(printed_counts(&taken[..lines_len(2)]), 1 + 2);
    // The cut line is not printed, so it is counted.
    assert_eq!(o.unwritten.iter().sum::<u64>() + 3, total);
}

#[test]
fn a_failed_write_takes_the_cut_line_back() {
    let (mut tx, rx) = channel();
    for _ in 0..4 {
        tx.send(lost_rec(1, LostReason::ConsumerSlow));
    }
    tx.flush();
    drop(tx);
    let line = serde_json::to_vec(&lost_rec(1, LostReason::ConsumerSlow))
        .unwrap()
        .len()
        + 1;
    let mut sink = Takes {
        taken: Vec::new(),
        room: line + 3,
        then: || io::Error::from_raw_os_error(libc::ENOSPC),
    };
    let o = write_records(rx, &mut sink, &Stop::NEVER);
    assert_eq!(o.end.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
    assert!(!o.torn);
    assert_eq!(sink.taken.len(), line, "only the whole line is left");
    assert_eq!(o.unwritten[..2], [0, 3]);
}

#[test]
fn output_file_is_appended_and_reopened_on_request() {
    let dir = std::env::temp_dir().join(format!("ebpf-jsonl-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    std::fs::write(&path, "{\"old\":1}\n").unwrap();
    let mut sink = FileSink::open(&path).unwrap();
    sink.write_all(b"{\"a\":1}\n").unwrap();
    // logrotate: rename, then SIGHUP.
    std::fs::rename(&path, dir.join("out.jsonl.1")).unwrap();
    REOPEN.store(true, Ordering::Relaxed);
    sink.maybe_reopen();
    sink.write_all(b"{\"b\":2}\n").unwrap();
    sink.flush().unwrap();
    let old = std::fs::read_to_string(dir.join("out.jsonl.1")).unwrap();
    let new = std::fs::read_to_string(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(old, "{\"old\":1}\n{\"a\":1}\n", "appended, never truncated");
    assert_eq!(new, "{\"b\":2}\n");
    assert_eq!(mode, 0o640);
}
