//! The tool's own sinks: stdout, or with `--output PATH` a file appended to
//! that SIGHUP (or SIGUSR1) reopens, so logrotate works. Both write through
//! the non-blocking [`Fd`].

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::fd::Fd;
use super::sink::Sink;
use crate::diag;
use crate::pipeline;

/// Set by SIGHUP or SIGUSR1 with `--output`: reopen the file at the next
/// batch boundary.
pub(super) static REOPEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    REOPEN.store(true, Ordering::Relaxed);
}

/// With `--output`: SIGHUP and SIGUSR1 reopen the file (instead of
/// stopping the run, or doing nothing).
pub(super) fn install_reopen_handler() {
    for sig in [libc::SIGHUP, libc::SIGUSR1] {
        pipeline::set_handler(sig, on_hup, true);
    }
}

/// fd 1 or an output file, written through [`Fd`]: the writer does its own
/// buffering, so std's line buffering is bypassed.
///
/// A file is opened for appending (created 0640, never truncated). Lines are
/// only ever split across a reopen at a batch boundary, after a flush, so
/// each line lands whole in one file. A reopen that fails keeps the file
/// already open (said once on stderr) and is retried at the next signal.
pub struct FdSink {
    out: Fd,
    /// The file's path, to reopen it (None for stdout).
    path: Option<PathBuf>,
    /// The output, as messages name it.
    name: String,
}

/// An `--output` file: an [`FdSink`] made by [`FdSink::open`].
pub type FileSink = FdSink;

impl FdSink {
    /// fd 1, named by what it is (`stdout (/path/of/file)`) if it can tell.
    pub fn stdout() -> FdSink {
        let name = match std::fs::read_link("/proc/self/fd/1") {
            Ok(p) if p.is_absolute() => format!("stdout ({})", p.display()),
            _ => "stdout".to_string(),
        };
        FdSink {
            out: Fd::new(1, None),
            path: None,
            name,
        }
    }

    /// `path`, opened for appending (created 0640 if need be).
    pub fn open(path: &Path) -> io::Result<FdSink> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        let fd: OwnedFd = File::into(file);
        Ok(FdSink {
            out: Fd::new(fd.as_raw_fd(), Some(fd)),
            path: Some(path.to_path_buf()),
            name: format!("--output {}", path.display()),
        })
    }
}

impl Write for FdSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.out.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for FdSink {
    fn closed(&self) -> bool {
        self.out.hung_up()
    }
    fn maybe_reopen(&mut self) {
        let Some(path) = &self.path else { return };
        if REOPEN.swap(false, Ordering::Relaxed) {
            match FdSink::open(path) {
                Ok(f) => *self = f,
                Err(e) => diag::warn(&format!(
                    "--output {}: cannot reopen it: {e}; still writing to the file already \
                     open, will retry at the next SIGHUP",
                    path.display()
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
        self.name.clone()
    }
}
