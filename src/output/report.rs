//! How the output ended, said once at the end of the run: a closed stdout is
//! a normal end; a stall or a failed write is said on stderr (or is the
//! run's error) with what was lost and what a user can do about it.

use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::buffer::LINE_GRACE;
use super::writer::{End, Outcome};
use crate::diag;
use crate::error::Error;
use crate::pipeline::{self, describe, Counts};

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
        diag::warn("the output is stuck in a write; records still queued are not written");
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
            diag::warn(&format!(
                "lost at exit, not reported in-band: {}",
                describe(&lost)
            ));
            Ok(())
        }
        Ok(End::Stalled) => {
            diag::warn(&format!(
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
