//! The network namespace a clsact filter was attached in. Netlink requests
//! (ours and libbpf's) go to the calling thread's namespace, and an
//! interface index means something only there: checking or removing the
//! filter from a thread in another namespace first moves into this one,
//! and back after.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use crate::diag;

pub struct Netns(File);

impl Netns {
    /// The calling thread's.
    pub fn current() -> Result<Netns, i32> {
        File::open("/proc/thread-self/ns/net")
            .map(Netns)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }

    fn id(&self) -> Option<(u64, u64)> {
        let m = self.0.metadata().ok()?;
        Some((m.dev(), m.ino()))
    }

    fn enter(&self) -> Result<(), i32> {
        // SAFETY: a namespace fd; moves only the calling thread.
        match unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWNET) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)),
        }
    }

    /// Runs `f` with the calling thread in this namespace (then back).
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, i32> {
        let here = Netns::current()?;
        if here.id().is_some() && here.id() == self.id() {
            return Ok(f());
        }
        self.enter()?;
        let r = f();
        if let Err(e) = here.enter() {
            diag::warn(&format!(
                "xdp: egress: returning to the thread's network namespace failed: {}",
                std::io::Error::from_raw_os_error(e)
            ));
        }
        Ok(r)
    }
}
