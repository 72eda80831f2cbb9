//! A flood of raw frames out of one end of a pair, from a thread of its own:
//! sendmmsg on an AF_PACKET socket (bypassing the qdisc) round and round
//! through a set of frames, counting what it sent, until stopped.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crate::net::netns::in_ns_here;
use crate::net::socket::{packet_socket, set_option};

/// SOL_PACKET options (linux/if_packet.h).
const PACKET_QDISC_BYPASS: i32 = 20;
const BATCH: usize = 64;

/// Sends `frames` round and round out of `ifname` (in namespace `ns`) until
/// `stop`, adding to `sent` as it goes.
fn flood(
    ns: &str,
    ifname: &str,
    frames: &[Vec<u8>],
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> Result<(), String> {
    // Protocol 0: this socket receives nothing.
    let fd = in_ns_here(ns, || packet_socket(ifname, 0));
    if !set_option(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1) {
        let e = std::io::Error::last_os_error();
        return Err(format!("PACKET_QDISC_BYPASS on {ifname}: {e}"));
    }
    let mut iov: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        })
        .collect();
    let n = iov.len();
    let mut next = 0usize;
    // SAFETY: zeroed mmsghdr are valid; each is pointed at one iovec below.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    while !stop.load(Ordering::Relaxed) {
        for (j, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_iov = &mut iov[(next + j) % n];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: BATCH valid messages on our socket; the frames outlive the call.
        let r = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if r > 0 {
            sent.fetch_add(r as u64, Ordering::Relaxed);
            next = (next + r as usize) % n;
        } else {
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.raw_os_error(),
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR)
            ) {
                return Err(format!("sending the flood: {e}"));
            }
        }
    }
    Ok(())
}

/// The flood, until stopped (or dropped).
pub struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<Result<(), String>>>,
}

impl Flood {
    /// Starts flooding `frames` out of `ifname` in namespace `ns`.
    pub fn start(ns: &str, ifname: &str, frames: &Arc<Vec<Vec<u8>>>) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (ns, ifname) = (ns.to_string(), ifname.to_string());
        let (frames, st, se) = (frames.clone(), stop.clone(), sent.clone());
        let thread = thread::spawn(move || flood(&ns, &ifname, &frames, &st, &se));
        Flood {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the sender; an error if it failed.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the sender thread panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
