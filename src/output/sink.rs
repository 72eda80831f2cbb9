//! What the writer writes to: the [`Sink`] trait, which lets it wait for
//! room, notice a consumer that went away and reopen a file between batches.

use std::io::{self, Write};
use std::time::Duration;

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
