//! The non-blocking writer under every output: an fd written so that no
//! write blocks for good (pipes and ttys reopened O_NONBLOCK, sockets with
//! MSG_DONTWAIT, poll(2) to wait for room), whatever the consumer does.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

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
    pub(super) fn new(fd: RawFd, owned: Option<OwnedFd>) -> Fd {
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
    pub(super) fn hung_up(&self) -> bool {
        self.mode != Mode::Plain
            && self.poll(0, Duration::ZERO) & (libc::POLLERR | libc::POLLHUP) != 0
    }

    pub(super) fn wait(&self, timeout: Duration) {
        if self.mode != Mode::Plain {
            self.poll(libc::POLLOUT, timeout);
        }
    }

    /// Cuts the last `n` bytes off a regular file.
    pub(super) fn unwrite(&mut self, n: usize) -> io::Result<()> {
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
