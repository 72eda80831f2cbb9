//! Lines on stdout and stderr outside the record stream: `check` and
//! `schema` output, and the tool's own messages.

use std::io::{self, Write};

use crate::error::Error;

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
pub(super) fn consumer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}
