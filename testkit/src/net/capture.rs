//! Counting what crosses the pair: a capture of what an interface transmits,
//! and an interface's own receive counter.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::net::socket::{packet_socket, set_option};

/// Counts the frames `ifname` transmits (its own outgoing traffic), for an
/// independent count of what the other end receives.
pub struct Capture {
    fd: OwnedFd,
}

/// SOL_PACKET options and packet types (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;
const PACKET_STATISTICS: i32 = 6;
const SO_RCVBUFFORCE: i32 = 33;

impl Capture {
    /// Call inside the interface's namespace.
    pub fn new(ifname: &str) -> Capture {
        let fd = packet_socket(ifname, libc::ETH_P_ALL as u16);
        // Best effort: a smaller buffer only makes a dropped frame (which
        // `count` reports) likelier.
        set_option(&fd, libc::SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20);
        Capture { fd }
    }

    /// Frames sent so far that `keep(frame head)` accepts: (count, bytes).
    /// Fails if the socket dropped any.
    pub fn count(&self, keep: impl Fn(&[u8]) -> bool) -> (u64, u64) {
        let (mut packets, mut bytes) = (0, 0);
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: zeroed sockaddr_ll is valid as an out-parameter.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: valid buffers; MSG_TRUNC returns the frame's full length.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                break;
            }
            let head = &buf[..(n as usize).min(buf.len())];
            if sll.sll_pkttype == PACKET_OUTGOING && keep(head) {
                packets += 1;
                bytes += n as u64;
            }
        }
        let mut stats = [0u32; 2];
        let mut len = 8u32;
        // SAFETY: struct tpacket_stats is two u32s.
        unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                stats.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(stats[1], 0, "the capture dropped {} frames", stats[1]);
        (packets, bytes)
    }
}

/// The interface's received packets (rx_packets, as in `ip -s link`), read
/// in namespace `ns` (on this thread).
pub fn rx_packets(ns: &str, ifname: &str) -> u64 {
    crate::net::counters::if_counters(ns, ifname).rx_packets
}
