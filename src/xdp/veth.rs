//! The veth part of `ebpf-jsonl xdp-bench`: packets per second received
//! through a veth pair between two network namespaces that it creates (and
//! always removes), flooded from the peer by an AF_PACKET sender, with no
//! program, the seed tutorial's design and ours, in native and generic mode.
//! Interleaved rounds, medians. Traffic never leaves the pair.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use libbpf_rs::ProgramMut;

use super::attach::{self, XdpLink};
use super::Table;
use crate::cli::XdpMode;
use crate::error::Error;
use crate::pipeline;

/// The sender's MAC, and the one its frames go to: not the receiver's, so
/// that the stack drops each frame as soon as XDP has passed it (the path
/// measured is veth → XDP → drop, where a program's cost shows most).
const MAC_B: [u8; 6] = [0x02, 0xeb, 0xbe, 0, 0, 0x02];
const MAC_A: [u8; 6] = [0x02, 0xeb, 0xbe, 0, 0, 0x01];
const MAC_OTHER: [u8; 6] = [0x02, 0xeb, 0xbe, 0, 0, 0x99];
/// Distinct TCP flows in the flood (source ports).
pub const FLOWS: u16 = 256;

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Failure(format!("running `ip` (iproute2): {e}")))?;
    if !out.status.success() {
        return Err(Error::Failure(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Two namespaces joined by a veth pair; removed on drop (which removes the
/// pair, and with it any XDP program still attached).
pub struct Pair {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
}

impl Pair {
    pub fn new() -> Result<Pair, Error> {
        let id = std::process::id();
        let p = Pair {
            ns_a: format!("ejbench-a-{id}"),
            ns_b: format!("ejbench-b-{id}"),
            if_a: format!("ejba{id}"),
            if_b: format!("ejbb{id}"),
        };
        // From here on, drop removes whatever was made.
        ip(&["netns", "add", &p.ns_a])?;
        ip(&["netns", "add", &p.ns_b])?;
        let mac = |m: [u8; 6]| m.map(|b| format!("{b:02x}")).join(":");
        ip(&[
            "link",
            "add",
            &p.if_a,
            "address",
            &mac(MAC_A),
            "netns",
            &p.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &p.if_b,
            "address",
            &mac(MAC_B),
            "netns",
            &p.ns_b,
        ])?;
        for (ns, ifc) in [(&p.ns_a, &p.if_a), (&p.ns_b, &p.if_b)] {
            // No IPv6 (no MLD or neighbour discovery) and no addresses: nothing
            // but the flood crosses the pair.
            let path = format!("/proc/sys/net/ipv6/conf/{ifc}/disable_ipv6");
            in_netns(ns, || std::fs::write(&path, "1"))?
                .map_err(|e| Error::Failure(format!("writing {path}: {e}")))?;
            ip(&["-n", ns, "link", "set", ifc, "up"])?;
        }
        Ok(p)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn setns(f: &File) -> std::io::Result<()> {
    // SAFETY: a namespace fd; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` with the calling thread in network namespace `ns`, then puts the
/// thread back where it was (also if `f` panics).
pub fn in_netns<R>(ns: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
    struct Back(File);
    impl Drop for Back {
        fn drop(&mut self) {
            setns(&self.0).expect("returning to the original network namespace");
        }
    }
    let here = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::Failure(format!("/proc/thread-self/ns/net: {e}")))?;
    let path = format!("/var/run/netns/{ns}");
    let there = File::open(&path).map_err(|e| Error::Failure(format!("{path}: {e}")))?;
    setns(&there).map_err(|e| Error::Failure(format!("entering {ns}: {e}")))?;
    let _back = Back(here);
    Ok(f())
}

/// The interface's received packets (rx_packets, as in `ip -s link`), read
/// in namespace `ns`.
fn rx_packets(ns: &str, ifname: &str) -> Result<u64, Error> {
    let text = in_netns(ns, || std::fs::read_to_string("/proc/thread-self/net/dev"))?
        .map_err(|e| Error::Failure(format!("reading /proc/net/dev in {ns}: {e}")))?;
    text.lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == ifname).then(|| rest.split_whitespace().nth(1)?.parse().ok())?
        })
        .ok_or_else(|| Error::Failure(format!("no rx counters for {ifname} in {ns}")))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The flood: 64-byte TCP/IPv4 frames (ACK, 10 bytes of payload, valid
/// checksums), one per source port, from the sender's MAC to another host's.
pub fn flood_frames() -> Vec<Vec<u8>> {
    (0..FLOWS)
        .map(|i| {
            let (src, dst) = ([10, 201, 0, 2], [10, 201, 0, 1]);
            let mut f = super::bench::tcp4_frame(src, 10000 + i, dst, 443);
            f[0..6].copy_from_slice(&MAC_OTHER);
            f[6..12].copy_from_slice(&MAC_B);
            let c = checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            // TCP checksum over the pseudo-header and the segment.
            let mut ph = Vec::with_capacity(12 + 30);
            ph.extend_from_slice(&src);
            ph.extend_from_slice(&dst);
            ph.extend_from_slice(&[0, 6, 0, 30]);
            ph.extend_from_slice(&f[34..64]);
            let c = checksum(&ph);
            f[50..52].copy_from_slice(&c.to_be_bytes());
            f
        })
        .collect()
}

/// SOL_PACKET options (linux/if_packet.h).
const SOL_PACKET: i32 = 263;
const PACKET_QDISC_BYPASS: i32 = 20;

/// Sends `frames` round and round out of `ifname` (in namespace `ns`) with
/// sendmmsg on an AF_PACKET socket until `stop`, adding to `sent` as it goes.
fn flood(
    ns: &str,
    ifname: &str,
    frames: &[Vec<u8>],
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> Result<(), Error> {
    let fd = in_netns(ns, || -> Result<OwnedFd, Error> {
        // SAFETY: plain socket call; protocol 0: this socket receives nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(Error::Failure(format!(
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = CString::new(ifname).expect("no NUL");
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        // SAFETY: zeroed sockaddr_ll is valid; we fill what bind needs.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        let one: i32 = 1;
        // SAFETY: valid socket, address and option.
        let ok = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            ) == 0
                && libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_PACKET,
                    PACKET_QDISC_BYPASS,
                    (&one as *const i32).cast(),
                    4,
                ) == 0
        };
        if ifindex == 0 || !ok {
            return Err(Error::Failure(format!(
                "AF_PACKET socket on {ifname}: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(fd)
    })??;
    const BATCH: usize = 64;
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
                return Err(Error::Failure(format!("sending the flood: {e}")));
            }
        }
    }
    Ok(())
}

/// Sleeps `d`, or less if asked to stop.
pub fn sleep(d: Duration) -> Result<(), Error> {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if pipeline::shutting_down() {
            return Err(Error::Failure("interrupted".into()));
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    Ok(())
}

/// The flood, from the pair's far end, until stopped (or dropped).
pub struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<Result<(), Error>>>,
}

impl Flood {
    pub fn start(pair: &Pair, frames: &Arc<Vec<Vec<u8>>>) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (ns, ifname) = (pair.ns_b.clone(), pair.if_b.clone());
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
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Failure("the sender thread panicked".into())),
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

/// One window of the flood: packets received per second, and sent per second.
pub fn measure(pair: &Pair, flood: &Flood, d: Duration) -> Result<(f64, f64), Error> {
    let (t1, s1) = (Instant::now(), flood.sent());
    let rx1 = rx_packets(&pair.ns_a, &pair.if_a)?;
    sleep(d)?;
    let (t2, s2) = (Instant::now(), flood.sent());
    let rx2 = rx_packets(&pair.ns_a, &pair.if_a)?;
    let dt = (t2 - t1).as_secs_f64();
    Ok(((rx2 - rx1) as f64 / dt, (s2 - s1) as f64 / dt))
}

/// Attaches `prog` in `mode` to the receiving end.
pub fn attach_to(pair: &Pair, prog: &ProgramMut, mode: XdpMode) -> Result<XdpLink, Error> {
    in_netns(&pair.ns_a, || {
        let ifindex = attach::ifindex(&pair.if_a)?;
        attach::attach(prog, &pair.if_a, ifindex, mode)
    })?
}

/// Ours attached alone with the flood stopped at both ends, so that every
/// packet the receiving end took in while it was attached is accounted:
/// (what ours counted, what the interface received).
pub fn exact_run(
    pair: &Pair,
    frames: &Arc<Vec<Vec<u8>>>,
    ours: &ProgramMut,
    mode: XdpMode,
    table: &mut Table,
    d: Duration,
) -> Result<(u64, u64), Error> {
    let link = attach_to(pair, ours, mode)?;
    let before = ours_total(table)?;
    let rx0 = rx_packets(&pair.ns_a, &pair.if_a)?;
    let flood = Flood::start(pair, frames);
    let slept = sleep(d);
    flood.stop()?;
    slept?;
    thread::sleep(Duration::from_millis(100)); // what is in flight lands
    let rx1 = rx_packets(&pair.ns_a, &pair.if_a)?;
    link.detach();
    Ok((ours_total(table)? - before, rx1 - rx0))
}

/// Every packet ours has counted so far (flows + categories).
fn ours_total(t: &mut Table) -> Result<u64, Error> {
    t.pass(Instant::now(), true);
    Ok(t.counters()?[super::CAT_TOTAL].0)
}
