//! Lines on stdout outside the record stream: `check` and `schema` output
//! (the tool's own messages on stderr are [`crate::diag`]'s).

use std::io::{self, Write};

use crate::error::Error;

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
