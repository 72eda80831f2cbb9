//! The writer thread: the only code that writes records. They go to stdout,
//! or with `--output PATH` appended to a file that SIGHUP reopens (so
//! logrotate works). Records are serialised into a large buffer that is
//! flushed whenever the queue is momentarily empty, so a quiet stream shows
//! each line at once and a busy one is written in large blocks. A closed
//! stdout is a normal end.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Where records go.
pub enum Dest {
    Stdout,
    /// An output file, already opened (so a bad path fails before attaching).
    File(FileSink),
}

impl Dest {
    /// `--output PATH` if given, else stdout.
    pub fn new(path: Option<&Path>) -> Result<Dest, Error> {
        match path {
            None => Ok(Dest::Stdout),
            Some(p) => {
                let sink = FileSink::open(p).map_err(|e| {
                    Error::Usage(format!(
                        "--output {}: cannot open it for appending: {e}",
                        p.display()
                    ))
                })?;
                install_reopen_handler();
                Ok(Dest::File(sink))
            }
        }
    }
}

/// What the writer writes to.
pub trait Sink: Write {
    /// Asked while idle: has the consumer gone away?
    fn closed(&self) -> bool {
        false
    }
    /// Asked between batches, after a flush.
    fn maybe_reopen(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for io::Sink {}
impl Sink for Vec<u8> {}
impl<S: Sink + ?Sized> Sink for &mut S {
    fn closed(&self) -> bool {
        (**self).closed()
    }
    fn maybe_reopen(&mut self) -> io::Result<()> {
        (**self).maybe_reopen()
    }
}

/// fd 1 as a file: the writer does its own buffering, so std's line
/// buffering is bypassed.
struct StdoutSink {
    out: std::mem::ManuallyDrop<File>,
}

impl StdoutSink {
    fn new() -> Self {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop
        // keeps it from being closed here.
        StdoutSink {
            out: std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(1) }),
        }
    }
}

impl Write for StdoutSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.out.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for StdoutSink {
    /// True when stdout is a pipe or socket whose reader has gone.
    fn closed(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.out.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n == 1 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
    }
}

/// Set by SIGHUP: reopen the output file at the next batch boundary.
static REOPEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    REOPEN.store(true, Ordering::Relaxed);
}

fn install_reopen_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_hup as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
    }
}

/// An output file opened for appending (created 0640, never truncated).
/// Lines are only ever split across a reopen at a batch boundary, after a
/// flush, so each line lands whole in one file.
pub struct FileSink {
    path: PathBuf,
    out: File,
}

impl FileSink {
    pub fn open(path: &Path) -> io::Result<FileSink> {
        let out = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        Ok(FileSink {
            path: path.to_path_buf(),
            out,
        })
    }
}

impl Write for FileSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.out.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for FileSink {
    fn maybe_reopen(&mut self) -> io::Result<()> {
        if REOPEN.swap(false, Ordering::Relaxed) {
            *self = FileSink::open(&self.path.clone())?;
        }
        Ok(())
    }
}

pub fn spawn_writer(rx: RecordReceiver, dest: Dest) -> JoinHandle<io::Result<End>> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let end = match dest {
                Dest::Stdout => write_all(rx, StdoutSink::new()),
                Dest::File(f) => write_all(rx, f),
            };
            if matches!(end, Ok(End::Closed)) {
                request_shutdown();
            }
            end
        })
        .expect("spawn writer thread")
}

/// Prints one JSON value on stdout (for `check` and `schema`).
pub fn print_json(v: &serde_json::Value) -> Result<(), Error> {
    let mut text = serde_json::to_vec(v).expect("a JSON value serialises");
    text.push(b'\n');
    print_bytes(&text)
}

/// Writes `text` to stdout; a closed stdout is not an error.
pub fn print_bytes(text: &[u8]) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    match out.write_all(text).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Error::Failure(format!("writing to stdout failed: {e}")))
        }
        _ => Ok(()),
    }
}

/// Waits for the writer; a closed stdout is a normal end.
pub fn finish(writer: JoinHandle<io::Result<End>>) -> Result<(), Error> {
    match writer.join() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Failure(format!("writing records failed: {e}"))),
        Err(_) => Err(Error::Failure("the writer thread failed".into())),
    }
}

/// Writes every record until the reader hangs up. Records are serialised
/// into one buffer that goes out in a single write when it fills or the queue
/// is momentarily empty. The sink is asked while idle whether its consumer
/// went away (so that is noticed without waiting for the next record), and
/// between batches, with nothing buffered, whether to reopen.
pub fn write_all<W: Sink>(rx: RecordReceiver, mut out: W) -> io::Result<End> {
    let mut buf: Vec<u8> = Vec::with_capacity(BUF_BYTES + 16 * 1024);
    let res: io::Result<End> = (|| loop {
        let rec = match rx.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if out.closed() => return Ok(End::Closed),
            Err(RecvTimeoutError::Timeout) => {
                out.maybe_reopen()?;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(End::Drained),
        };
        let mut next = Some(rec);
        while let Some(batch) = next {
            for rec in &batch {
                serde_json::to_writer(&mut buf, rec)?;
                buf.push(b'\n');
                if buf.len() >= BUF_BYTES {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            rx.done(batch.iter().map(Record::weight).sum());
            drop(batch);
            next = rx.rx.try_recv().ok();
        }
        out.write_all(&buf)?;
        buf.clear();
        out.maybe_reopen()?;
    })();
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(End::Closed),
        other => other,
    }
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
        tx.send(Record::Lost(LostRecord {
            timestamp: Timestamp(0),
            count: 1,
            reason: LostReason::ConsumerSlow,
        }));
        tx.flush();
        assert_eq!(write_all(rx, Closed).unwrap(), End::Closed);
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
        sink.maybe_reopen().unwrap();
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
}
