//! Senders that run inside a namespace: UDP (optionally with IP options),
//! ICMP echo through a raw socket, raw Ethernet frames.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::frames::checksum;
use crate::net::socket::packet_socket;

/// Sends `count` UDP datagrams of `payload` bytes from `from` to `to`
/// (call inside a namespace). Returns the local address.
pub fn send_udp(from: SocketAddr, to: SocketAddr, count: usize, payload: usize) -> SocketAddr {
    let s = UdpSocket::bind(from).expect("bind UDP sender");
    let buf = vec![0x5a; payload];
    for _ in 0..count {
        assert_eq!(s.send_to(&buf, to).expect("send UDP"), payload);
    }
    s.local_addr().unwrap()
}

/// Like [`send_udp`] over IPv4, with `opts` as IP options (IP_OPTIONS).
pub fn send_udp_with_ip_options(
    from: SocketAddr,
    to: SocketAddr,
    count: usize,
    payload: usize,
    opts: &[u8],
) {
    let s = UdpSocket::bind(from).expect("bind UDP sender");
    // SAFETY: a valid socket and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_OPTIONS,
            opts.as_ptr().cast(),
            opts.len() as u32,
        )
    };
    assert_eq!(rc, 0, "IP_OPTIONS: {}", std::io::Error::last_os_error());
    let buf = vec![0x5a; payload];
    for _ in 0..count {
        s.send_to(&buf, to).expect("send UDP");
    }
}

/// Sends `count` ICMP echo requests with `payload` bytes to `to` through a
/// raw socket (call inside a namespace).
pub fn send_icmp_echo(to: Ipv4Addr, count: u16, payload: usize) {
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(
        fd >= 0,
        "raw ICMP socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    for seq in 1..=count {
        let mut m = vec![8, 0, 0, 0, 0x12, 0x34];
        m.extend_from_slice(&seq.to_be_bytes());
        m.resize(8 + payload, 0xa5);
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        // SAFETY: valid buffer and address.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                m.as_ptr().cast(),
                m.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        assert_eq!(
            n,
            m.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Sends raw Ethernet frames out of `ifname` (call inside its namespace).
pub fn send_frames(ifname: &str, frames: &[Vec<u8>]) {
    let fd = packet_socket(ifname, libc::ETH_P_ALL as u16);
    for f in frames {
        // SAFETY: valid buffer on a bound packet socket.
        let n = unsafe { libc::send(fd.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) };
        assert_eq!(
            n,
            f.len() as isize,
            "send frame: {}",
            std::io::Error::last_os_error()
        );
    }
}
