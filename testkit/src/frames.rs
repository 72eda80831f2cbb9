//! The one builder of raw Ethernet frames, for the xdp program's unit tests
//! (BPF_PROG_TEST_RUN), the frames the veth tests send, and the benches.

/// IP protocol numbers.
pub const ICMP: u8 = 1;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A frame under construction (its bytes are `.0`): Ethernet, optional VLAN
/// tags, then layers. Once there is an IP header (at .1: offset and
/// version), its length field is kept covering everything appended after
/// it, as a sender's would.
pub struct Frame(pub Vec<u8>, Option<(usize, u8)>);

impl Frame {
    /// Ethernet from `src` to `dst`.
    pub fn eth_between(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Frame {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        Frame(f, None)
    }

    /// Ethernet from 02:00:00:00:00:02 to 02:00:00:00:00:01.
    pub fn eth(ethertype: u16) -> Frame {
        Frame::eth_between([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], ethertype)
    }

    /// Ethernet with VLAN tags (TPID each), then `inner` ethertype.
    pub fn vlan(tpids: &[u16], inner: u16) -> Frame {
        Frame::eth(inner).tagged(tpids)
    }

    /// VLAN tags (TPID each, VLAN 10) between the Ethernet addresses and the
    /// ethertype (right after [`Frame::eth`] or [`Frame::eth_between`]).
    pub fn tagged(mut self, tpids: &[u16]) -> Self {
        let tags: Vec<u8> = tpids
            .iter()
            .flat_map(|t| [t.to_be_bytes(), [0x00, 0x0a]].concat())
            .collect();
        self.0.splice(12..12, tags);
        self
    }

    /// IPv4 header with `opts` option bytes (a multiple of 4).
    pub fn ip4(
        mut self,
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        opts: &[u8],
        frag_off: u16,
    ) -> Self {
        let ihl = 5 + opts.len() / 4;
        self.1 = Some((self.0.len(), 4));
        self.0.push(0x40 | ihl as u8);
        self.0.push(0);
        self.0.extend_from_slice(&[0, 0]); // tot_len, see fix_len
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend_from_slice(&frag_off.to_be_bytes());
        self.0.extend_from_slice(&[64, proto, 0, 0]);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self.bytes(opts)
    }

    pub fn ip6(mut self, next: u8, src: &str, dst: &str) -> Self {
        self.1 = Some((self.0.len(), 6));
        self.0.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, next, 64]);
        for a in [src, dst] {
            let a: std::net::Ipv6Addr = a.parse().unwrap();
            self.0.extend_from_slice(&a.octets());
        }
        self.bytes(&[])
    }

    /// An IPv6 extension header: hop-by-hop/routing/dest-opts style (8 bytes).
    pub fn ext8(self, next: u8) -> Self {
        self.bytes(&[next, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Bytes inside the IP packet (its length field grows with them).
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self.fix_len();
        self
    }

    /// The IP header's tot_len / payload_len: everything after it.
    fn fix_len(&mut self) {
        if let Some((at, ver)) = self.1 {
            let (field, len) = match ver {
                4 => (at + 2, self.0.len() - at),
                _ => (at + 4, self.0.len() - at - 40),
            };
            self.0[field..field + 2].copy_from_slice(&(len as u16).to_be_bytes());
        }
    }

    /// A UDP header (8 bytes) whose length field says 8, ports only.
    pub fn ports(self, sport: u16, dport: u16) -> Self {
        let mut b = sport.to_be_bytes().to_vec();
        b.extend_from_slice(&dport.to_be_bytes());
        self.bytes(&b).bytes(&[0, 8, 0, 0])
    }

    /// A UDP datagram: header (its length covering `payload`), then `payload`.
    pub fn udp(self, sport: u16, dport: u16, payload: &[u8]) -> Self {
        let len = (8 + payload.len()) as u16;
        let mut b = [sport, dport, len, 0].map(u16::to_be_bytes).concat();
        b.extend_from_slice(payload);
        self.bytes(&b)
    }

    /// A TCP header (20 bytes, ACK).
    pub fn tcp(self, sport: u16, dport: u16) -> Self {
        self.ports(sport, dport)
            .bytes(&[0, 0, 0, 0, 0x50, 0x10, 0x04, 0, 0, 0, 0, 0])
    }

    /// Ethernet padding or other bytes past the IP packet's length field.
    pub fn trailer(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    /// Padding (zeros, past the IP packet) up to `len` bytes, if shorter.
    pub fn pad_to(mut self, len: usize) -> Self {
        self.0.resize(self.0.len().max(len), 0);
        self
    }

    /// Fills in the checksums of an IPv4 packet: its header's, and its TCP,
    /// UDP or ICMP one (over the pseudo-header for TCP and UDP), as a
    /// receiving stack checks them.
    pub fn checksummed(mut self) -> Self {
        let Some((at, 4)) = self.1 else {
            return self;
        };
        let ihl = usize::from(self.0[at] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([self.0[at + 2], self.0[at + 3]]));
        let (proto, l4) = (self.0[at + 9], at + ihl);
        let c = checksum(&self.0[at..l4]);
        self.0[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
        let (field, mut sum_over) = match proto {
            TCP => (l4 + 16, self.0[at + 12..at + 20].to_vec()),
            UDP => (l4 + 6, self.0[at + 12..at + 20].to_vec()),
            ICMP => (l4 + 2, Vec::new()),
            _ => return self,
        };
        let segment = &self.0[l4..at + total];
        if proto != ICMP {
            sum_over.extend_from_slice(&[0, proto]);
            sum_over.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        sum_over.extend_from_slice(segment);
        let c = checksum(&sum_over);
        self.0[field..field + 2].copy_from_slice(&c.to_be_bytes());
        self
    }
}

/// Ethernet + IPv4 (no options) + TCP (ACK) + 10 bytes of payload: 64
/// bytes, the benches' frame.
pub fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Frame {
    Frame::eth(0x0800)
        .ip4(TCP, src, dst, &[], 0)
        .tcp(sport, dport)
        .bytes(&[b'x'; 10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksummed_packet_sums_to_zero() {
        let f = tcp4([10, 0, 0, 2], 40001, [10, 0, 0, 1], 443).checksummed();
        assert_eq!(f.0.len(), 64);
        assert_eq!(checksum(&f.0[14..34]), 0);
        let mut pseudo = f.0[26..34].to_vec();
        pseudo.extend_from_slice(&[0, TCP, 0, 30]);
        pseudo.extend_from_slice(&f.0[34..]);
        assert_eq!(checksum(&pseudo), 0);
    }

    #[test]
    fn tags_sit_between_the_addresses_and_the_ethertype() {
        let f = Frame::vlan(&[0x88a8, 0x8100], 0x0800);
        assert_eq!(f.0[12..], [0x88, 0xa8, 0, 10, 0x81, 0, 0, 10, 8, 0]);
    }
}
