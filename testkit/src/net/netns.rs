//! Running code inside a network namespace (`ip netns add` names): on a
//! thread of its own that entered it, or on the calling thread and back.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::thread;

/// Moves the calling thread into the namespace `file` refers to.
fn enter(file: &File, what: &str) {
    // SAFETY: a namespace fd; affects only the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {what}: {}", std::io::Error::last_os_error());
}

fn open(path: &str) -> File {
    File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn in_ns<R: Send + 'static>(ns: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    spawn_in_ns(ns, f)
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Starts `f` on a thread that has entered network namespace `ns`.
pub fn spawn_in_ns<R: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        enter(&open(&path), &path);
        f()
    })
}

/// Runs `f` with the calling thread in network namespace `ns`, then puts the
/// thread back where it was (also if `f` panics): for what cannot move to
/// another thread (a BPF program to attach).
pub fn in_ns_here<R>(ns: &str, f: impl FnOnce() -> R) -> R {
    struct Back(File);
    impl Drop for Back {
        fn drop(&mut self) {
            enter(&self.0, "back to the original network namespace");
        }
    }
    let here = open("/proc/thread-self/ns/net");
    let path = format!("/var/run/netns/{ns}");
    enter(&open(&path), &path);
    let _back = Back(here);
    f()
}
