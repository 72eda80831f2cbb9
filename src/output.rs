//! The writer thread: the only code that writes records. They go to stdout,
//! or with `--output PATH` appended to a file that SIGHUP (or SIGUSR1)
//! reopens (so logrotate works). Records are serialised into a large buffer
//! that is flushed whenever the queue is momentarily empty, so a quiet stream
//! shows each line at once and a busy one is written in large blocks.
//!
//! Writes never block for good: pipes, ttys and sockets are written without
//! blocking and waited on with poll(2), so once a stop is asked for the
//! writer gives up at the stop deadline, whatever the consumer does, and
//! counts what it could not write. The consumer going away (EPIPE,
//! ECONNRESET) is a normal end; any other write error ends the run.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::error::Error;
use crate::pipeline::{self, count_unprinted, describe, request_shutdown, Counts, RecordReceiver};
use crate::record::{LostReason, Record};

const BUF_BYTES: usize = 64 * 1024;

/// After the stop deadline cut a write in the middle of a line, how long the
/// writer still tries to complete that one line.
const LINE_GRACE: Duration = Duration::from_secs(1);

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

/// What the writer writes to. `write` may return `WouldBlock`; the writer
/// then waits with [`Sink::wait_writable`], watching the stop deadline.
pub trait Sink: Write {
    /// Asked while idle: has the consumer gone away?
    fn closed(&self) -> bool {
        false
    }
    /// Asked between batches, after a flush.
    fn maybe_reopen(&mut self) {}
    /// Waits until a write may make progress (at most `timeout`).
    fn wait_writable(&self, _timeout: Duration) {}
    /// Takes back the last `n` bytes written (a cut line), if it can.
    fn unwrite(&mut self, _n: usize) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// The output, as messages name it.
    fn name(&self) -> String {
        "the output".into()
    }
}

impl Sink for io::Sink {}
impl Sink for Vec<u8> {}
impl<S: Sink + ?Sized> Sink for &mut S {
    fn closed(&self) -> bool {
        (**self).closed()
    }
    fn maybe_reopen(&mut self) {
        (**self).maybe_reopen()
    }
    fn wait_writable(&self, timeout: Duration) {
        (**self).wait_writable(timeout)
    }
    fn unwrite(&mut self, n: usize) -> io::Result<()> {
        (**self).unwrite(n)
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

/// How an fd is written so that no write blocks for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A regular file or a block device: plain write(2), which the
    /// consumer cannot stall.
    Plain,
    /// A pipe, FIFO or character device reopened with O_NONBLOCK (a
    /// description of our own, so whoever shares fd 1 is not affected).
    NonBlocking,
    /// A socket: send(2) with MSG_DONTWAIT.
    Socket,
    /// A pipe or tty that could not be reopened: poll(2) for room, then
    /// write at most PIPE_BUF bytes, which then never blocks.
    Polled,
}

/// An output fd, written without ever blocking for good.
pub struct Fd {
    fd: RawFd,
    /// Set when we own `fd` (not for fd 1 itself).
    _owned: Option<OwnedFd>,
    mode: Mode,
    regular: bool,
}

impl Fd {
    /// Wraps `fd` (kept open by someone else for the life of the process,
    /// or owned by `owned`).
    fn new(fd: RawFd, owned: Option<OwnedFd>) -> Fd {
        // SAFETY: fstat into a zeroed struct on a valid fd.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let fmt = if unsafe { libc::fstat(fd, &mut st) } == 0 {
            st.st_mode & libc::S_IFMT
        } else {
            0
        };
        let plain = |regular| Fd {
            fd,
            _owned: None,
            mode: Mode::Plain,
            regular,
        };
        match fmt {
            libc::S_IFREG => Fd {
                _owned: owned,
                ..plain(true)
            },
            libc::S_IFSOCK => Fd {
                mode: Mode::Socket,
                _owned: owned,
                ..plain(false)
            },
            libc::S_IFIFO | libc::S_IFCHR => match reopen_nonblocking(fd) {
                Some(nb) => Fd {
                    fd: nb.as_raw_fd(),
                    _owned: Some(nb),
                    mode: Mode::NonBlocking,
                    regular: false,
                },
                None => Fd {
                    mode: Mode::Polled,
                    _owned: owned,
                    ..plain(false)
                },
            },
            _ => Fd {
                _owned: owned,
                ..plain(false)
            },
        }
    }

    fn poll(&self, events: libc::c_short, timeout: Duration) -> libc::c_short {
        let mut p = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n == 1 {
            p.revents
        } else {
            0
        }
    }
}

/// A description of our own for the pipe, FIFO or device behind `fd`,
/// opened non-blocking through /proc (None if that is not possible).
fn reopen_nonblocking(fd: RawFd) -> Option<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    // SAFETY: a NUL-terminated path; the result is checked.
    let nb = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    // SAFETY: a fresh fd that nothing else owns.
    (nb >= 0).then(|| unsafe { OwnedFd::from_raw_fd(nb) })
}

impl Write for Fd {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        // SAFETY: b is a valid buffer of b.len() bytes; fd is open.
        let n = unsafe {
            match self.mode {
                Mode::Plain | Mode::NonBlocking => libc::write(self.fd, b.as_ptr().cast(), b.len()),
                Mode::Socket => libc::send(
                    self.fd,
                    b.as_ptr().cast(),
                    b.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                ),
                Mode::Polled => {
                    if self.poll(libc::POLLOUT, Duration::ZERO) & libc::POLLOUT == 0 {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    libc::write(self.fd, b.as_ptr().cast(), b.len().min(libc::PIPE_BUF))
                }
            }
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Fd {
    /// True when a pipe or socket's reader has gone.
    fn hung_up(&self) -> bool {
        self.mode != Mode::Plain
            && self.poll(0, Duration::ZERO) & (libc::POLLERR | libc::POLLHUP) != 0
    }

    fn wait(&self, timeout: Duration) {
        if self.mode != Mode::Plain {
            self.poll(libc::POLLOUT, timeout);
        }
    }

    /// Cuts the last `n` bytes off a regular file.
    fn unwrite(&mut self, n: usize) -> io::Result<()> {
        if !self.regular {
            return Err(io::ErrorKind::Unsupported.into());
        }
        // SAFETY: fstat/ftruncate on a valid fd.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(self.fd, &mut st) != 0
                || libc::ftruncate(self.fd, st.st_size - n as libc::off_t) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// fd 1, written through [`Fd`]: the writer does its own buffering, so std's
/// line buffering is bypassed.
struct StdoutSink {
    out: Fd,
    name: String,
}

impl StdoutSink {
    fn new() -> Self {
        let name = match std::fs::read_link("/proc/self/fd/1") {
            Ok(p) if p.is_absolute() => format!("stdout ({})", p.display()),
            _ => "stdout".to_string(),
        };
        StdoutSink {
            out: Fd::new(1, None),
            name,
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
    fn closed(&self) -> bool {
        self.out.hung_up()
    }
    fn wait_writable(&self, timeout: Duration) {
        self.out.wait(timeout)
    }
    fn unwrite(&mut self, n: usize) -> io::Result<()> {
        self.out.unwrite(n)
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Set by SIGHUP or SIGUSR1 with `--output`: reopen the file at the next
/// batch boundary.
static REOPEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    REOPEN.store(true, Ordering::Relaxed);
}

fn install_reopen_handler() {
    for sig in [libc::SIGHUP, libc::SIGUSR1] {
        pipeline::set_handler(sig, on_hup, true);
    }
}

/// An output file opened for appending (created 0640, never truncated).
/// Lines are only ever split across a reopen at a batch boundary, after a
/// flush, so each line lands whole in one file. A reopen that fails keeps
/// the file already open (said once on stderr) and is retried at the next
/// signal.
pub struct FileSink {
    path: PathBuf,
    out: Fd,
}

impl FileSink {
    pub fn open(path: &Path) -> io::Result<FileSink> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        let fd: OwnedFd = File::into(file);
        Ok(FileSink {
            path: path.to_path_buf(),
            out: Fd::new(fd.as_raw_fd(), Some(fd)),
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
    fn closed(&self) -> bool {
        self.out.hung_up()
    }
    fn maybe_reopen(&mut self) {
        if REOPEN.swap(false, Ordering::Relaxed) {
            match FileSink::open(&self.path) {
                Ok(f) => *self = f,
                Err(e) => diag(&format!(
                    "--output {}: cannot reopen it: {e}; still writing to the file already \
                     open, will retry at the next SIGHUP",
                    self.path.display()
                )),
            }
        }
    }
    fn wait_writable(&self, timeout: Duration) {
        self.out.wait(timeout)
    }
    fn unwrite(&mut self, n: usize) -> io::Result<()> {
        self.out.unwrite(n)
    }
    fn name(&self) -> String {
        format!("--output {}", self.path.display())
    }
}

/// The run's own stop: asked for by the writer, bounded by its deadline.
const RUN: Stop = Stop {
    request: request_shutdown,
    deadline: pipeline::stop_deadline,
};

/// How the writer asks the run to stop, and learns by when it must be done.
pub struct Stop {
    pub request: fn(),
    pub deadline: fn() -> Option<Instant>,
}

pub fn spawn_writer(rx: RecordReceiver, dest: Dest) -> JoinHandle<Outcome> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || match dest {
            Dest::Stdout => write_records(rx, StdoutSink::new(), &RUN),
            Dest::File(f) => write_records(rx, f, &RUN),
        })
        .expect("spawn writer thread")
}

/// One line on stderr, `ebpf-jsonl: MSG`. Never panics and never blocks for
/// long: a stderr that takes nothing within a second is skipped (it may be
/// the very pipe that stalled).
pub fn diag(msg: &str) {
    let line = format!("ebpf-jsonl: {msg}\n");
    let mut p = libc::pollfd {
        fd: 2,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd; then a write of a valid buffer to fd 2.
    unsafe {
        if libc::poll(&mut p, 1, 1000) == 1 && p.revents & libc::POLLOUT != 0 {
            libc::write(2, line.as_ptr().cast(), line.len());
        }
    }
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
        Err(e) if !consumer_gone(&e) => {
            Err(Error::Failure(format!("writing to stdout failed: {e}")))
        }
        _ => Ok(()),
    }
}

/// EPIPE or ECONNRESET: the consumer went away, a normal end.
fn consumer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// What a user can do about a write error.
fn fix_for(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => "; free space on that filesystem or write elsewhere",
        Some(libc::EDQUOT) => "; raise the disk quota or write elsewhere",
        Some(libc::EFBIG) => "; rotate the file (SIGHUP reopens it) or write elsewhere",
        Some(libc::EIO) => "; the device failed (see dmesg): write elsewhere",
        _ => "",
    }
}

/// Waits for the writer (bounded: it gives up at the stop deadline) and
/// reports how the output ended. `pending` is what the reader could not hand
/// over ([`pipeline::RecordSender::finish`]): counts that did not make it
/// into a `lost` record go to stderr, with what the writer could not write.
/// A closed stdout is a normal end, reported nowhere.
pub fn finish(writer: JoinHandle<Outcome>, pending: Counts) -> Result<(), Error> {
    let limit = pipeline::stop_deadline().unwrap_or_else(Instant::now) + LINE_GRACE * 3;
    while !writer.is_finished() && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !writer.is_finished() {
        // Only a plain write(2) to a file that hangs (a dead NFS server) gets
        // here: the process ends without it.
        diag("the output is stuck in a write; records still queued are not written");
        return Ok(());
    }
    let o = writer
        .join()
        .map_err(|_| Error::Failure("the writer thread failed".into()))?;
    let mut lost = o.unwritten;
    for (l, p) in lost.iter_mut().zip(pending) {
        *l += p;
    }
    let any = lost.iter().any(|&n| n > 0);
    let torn = if o.torn {
        "; its last line is cut short"
    } else {
        ""
    };
    match o.end {
        Ok(End::Closed) => Ok(()),
        Ok(End::Drained) if !any => Ok(()),
        Ok(End::Drained) => {
            diag(&format!(
                "lost at exit, not reported in-band: {}",
                describe(&lost)
            ));
            Ok(())
        }
        Ok(End::Stalled) => {
            diag(&format!(
                "{} took nothing more before the stop deadline ({}s){torn}; lost at exit: {}",
                o.name,
                pipeline::STOP_GRACE.as_secs(),
                if any {
                    describe(&lost)
                } else {
                    "nothing".into()
                }
            ));
            Ok(())
        }
        Err(e) => Err(Error::Failure(format!(
            "writing records to {} failed: {e}{}; stopped{torn}{}",
            o.name,
            fix_for(&e),
            if any {
                format!("; lost: {}", describe(&lost))
            } else {
                String::new()
            }
        ))),
    }
}

/// How a write of the buffer was cut short.
enum Cut {
    /// The stop deadline passed.
    Stalled,
    /// The consumer went away.
    Closed,
    Failed(io::Error),
}

/// Writes `buf` whole, or says how far it got and why not: waits for room
/// while the consumer is slow, and gives up once `deadline()` has passed.
fn put<W: Sink>(
    out: &mut W,
    buf: &[u8],
    deadline: &dyn Fn() -> Option<Instant>,
) -> Result<(), (usize, Cut)> {
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
struct Writer {
    buf: Vec<u8>,
    /// (end offset in `buf`, reason, count) for each `lost` record in `buf`.
    lost_marks: Vec<(usize, LostReason, u64)>,
}

impl Writer {
    /// Writes the buffer; on a cut, leaves no partial line where it can help
    /// it and returns how the output ended, with what was not written
    /// counted into `unwritten`.
    fn flush<W: Sink>(
        &mut self,
        out: &mut W,
        stop: &Stop,
        unwritten: &mut Counts,
    ) -> Result<(), (Cut, bool)> {
        let res = put(out, &self.buf, &stop.deadline);
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
                    unwritten[pipeline::slot(reason)] += count;
                    lost_lines += 1;
                }
            }
            unwritten[pipeline::slot(LostReason::ConsumerSlow)] += lines - lost_lines;
        }
        self.buf.clear();
        self.lost_marks.clear();
        Err((why, torn))
    }
}

/// Like [`write_records`], for benchmarks and tests: the error, if any.
pub fn write_all<W: Sink>(rx: RecordReceiver, out: W) -> io::Result<End> {
    let never = Stop {
        request: || {},
        deadline: || None,
    };
    write_records(rx, out, &never).end
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
    let mut w = Writer {
        buf: Vec::with_capacity(BUF_BYTES + 16 * 1024),
        lost_marks: Vec::new(),
    };
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
                serde_json::to_writer(&mut w.buf, rec)?;
                w.buf.push(b'\n');
                if let Record::Lost(l) = rec {
                    w.lost_marks.push((w.buf.len(), l.reason, l.count));
                }
                if w.buf.len() >= BUF_BYTES {
                    if let Err(cut) = w.flush(&mut out, stop, &mut unwritten) {
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
        if let Err(cut) = w.flush(&mut out, stop, &mut unwritten) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::pipeline::{channel, slot};
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
        tx.send(Record::Lost(LostRecord {
            timestamp: Timestamp(0),
            count: 1,
            reason: LostReason::ConsumerSlow,
        }));
        tx.flush();
        drop(tx);
        assert_eq!(write_all(rx, Closed).unwrap(), End::Closed);
    }

    /// Takes `room` bytes, then nothing more (a consumer that stopped reading).
    struct Trickle {
        taken: Vec<u8>,
        room: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
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
    impl Sink for Trickle {}

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
        let mut sink = Trickle {
            taken: Vec::new(),
            room,
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
        struct Full {
            file: Vec<u8>,
            room: usize,
        }
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.room == 0 {
                    return Err(io::Error::from_raw_os_error(libc::ENOSPC));
                }
                let n = b.len().min(self.room);
                self.room -= n;
                self.file.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Sink for Full {
            fn unwrite(&mut self, n: usize) -> io::Result<()> {
                self.file.truncate(self.file.len() - n);
                Ok(())
            }
        }
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
        let mut sink = Full {
            file: Vec::new(),
            room: line + 3,
        };
        let o = write_records(rx, &mut sink, &RUN_NEVER);
        assert_eq!(o.end.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        assert!(!o.torn);
        assert_eq!(sink.file.len(), line, "only the whole line is left");
        assert_eq!(o.unwritten[..2], [0, 3]);
    }

    const RUN_NEVER: Stop = Stop {
        request: || {},
        deadline: || None,
    };

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
}
