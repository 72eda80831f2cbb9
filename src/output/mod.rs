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
//!
//! - [`sink`]: what the writer writes to (the [`Sink`] trait).
//! - [`fd`]: the non-blocking fd writer under every real output.
//! - [`fd_sink`]: stdout and `--output` files (reopened on SIGHUP/SIGUSR1).
//! - `buffer.rs`: the serialisation buffer, cut writes and their exact counts.
//! - [`writer`]: the writer thread's loop.
//! - `report.rs`: how the output ended ([`finish`]), said once.
//! - [`print`](mod@print): `check`/`schema` output (stderr lines are [`crate::diag`]'s).

use std::path::Path;
use std::thread::JoinHandle;

use crate::error::Error;
use crate::pipeline::RecordReceiver;

mod buffer;
pub mod fd;
pub mod fd_sink;
pub mod print;
mod report;
pub mod sink;
#[cfg(test)]
mod tests;
pub mod writer;

pub use fd::Fd;
pub use fd_sink::{FdSink, FileSink};
pub use print::{print_bytes, print_json};
pub use report::finish;
pub use sink::Sink;
pub use writer::{write_all, write_records, End, Outcome, Stop};

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
                    let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
                    let fix = match dir {
                        Some(d) if e.kind() == std::io::ErrorKind::NotFound && !d.is_dir() => {
                            format!(
                                " (its directory {} does not exist: create it first, e.g. \
                                 `install -d -m 0750 {}`)",
                                d.display(),
                                d.display()
                            )
                        }
                        _ => String::new(),
                    };
                    Error::Usage(format!(
                        "--output {}: cannot open it for appending: {e}{fix}",
                        p.display()
                    ))
                })?;
                fd_sink::install_reopen_handler();
                Ok(Dest::File(sink))
            }
        }
    }
}

/// Starts the writer thread, writing what `rx` brings to `dest`.
pub fn spawn_writer(rx: RecordReceiver, dest: Dest) -> JoinHandle<Outcome> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || match dest {
            Dest::Stdout => write_records(rx, FdSink::stdout(), &Stop::RUN),
            Dest::File(f) => write_records(rx, f, &Stop::RUN),
        })
        .expect("spawn writer thread")
}
