/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Parsing a frame into a flow key (five words) or a category; included by
 * xdp.bpf.c after its constants. */
#ifndef EBPF_JSONL_XDP_PARSE_BPF_H
#define EBPF_JSONL_XDP_PARSE_BPF_H

/* struct flow_key as five words; the last is l4 | proto << 32 | ver << 40 |
 * flags << 48.
 * For IPv4 only w[0] (both addresses) and w[4] are set: the three between are
 * zero in the key, which the hash and compare leave out and a claim writes.
 * Headers are read with wide loads at any alignment (x86-64, the only target
 * vmlinux.h is built for, allows them, and so does the verifier there). */
#define LAST(proto, ver) ((__u64)(proto) << 32 | (__u64)(ver) << 40)
#define FRAGMENT ((__u64)FLOW_FRAGMENT << 48)
#define LOAD64(p) (*(const __u64 *)(p))

/* The transport header at l4, `room` bytes of the IP packet (by its length
 * field) from l4 on: its fixed part must be inside the IP packet, not in
 * Ethernet padding or trailing bytes, and what we read inside the frame. */
static __always_inline __u32 transport(void *l4, void *end, __u32 room, __u8 proto, __u8 ver,
				       __u64 *w)
{
	__u64 last = LAST(proto, ver);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (l4 + 4 > end || room < (proto == IPPROTO_TCP ? 20 : 8))
			return CAT_MALFORMED;
		last |= *(__u32 *)l4; /* both ports */
	} else if (proto == (ver == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		if (l4 + 2 > end || room < 4)
			return CAT_MALFORMED;
		last |= *(__u16 *)l4; /* type and code */
	}
	w[4] = last;
	return CAT_FLOW;
}

static __always_inline __u32 parse_ip4(void *p, void *end, __u64 *w)
{
	struct iphdr *ip = p;
	if ((void *)(ip + 1) > end)
		return CAT_MALFORMED;
	__u8 vhl = *(__u8 *)ip;
	__u32 hl = 20;
	if (vhl != 0x45) { /* options, or not IPv4 at all */
		hl = (vhl & 0xf) * 4;
		if ((vhl & 0xf0) != 0x40 || hl < sizeof(*ip) || p + hl > end)
			return CAT_MALFORMED;
	}
	__u32 tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < hl)
		return CAT_MALFORMED;
	/* Not &ip->saddr: clang would split the load at the header's 4-byte alignment. */
	w[0] = LOAD64(p + offsetof(struct iphdr, saddr)); /* and daddr */
	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		/* A later fragment: no transport header. */
		w[4] = LAST(ip->protocol, 4) | FRAGMENT;
		return CAT_FLOW;
	}
	return transport(p + hl, end, tot_len - hl, ip->protocol, 4, w);
}

static __always_inline __u32 parse_ip6(void *p, void *end, __u64 *w)
{
	struct ipv6hdr *ip6 = p;
	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return CAT_MALFORMED;
	w[0] = LOAD64((void *)&ip6->saddr);
	w[1] = LOAD64((void *)&ip6->saddr + 8);
	w[2] = LOAD64((void *)&ip6->daddr);
	w[3] = LOAD64((void *)&ip6->daddr + 8);
	__u8 nh = ip6->nexthdr;
	void *l4 = ip6 + 1;
	/* Up to IPV6_MAX_EXT headers, then one more round for the transport
	 * header; a header still there after that is one too many. */
	for (int i = 0; i <= IPV6_MAX_EXT; i++) {
		__u8 *h = l4;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			if ((void *)(h + 2) > end)
				return CAT_MALFORMED;
			/* h[1]: the length past the first 8 bytes, in 8-byte units (AH: past
			 * the first 8, in 4-byte units) */
			l4 += nh == IPPROTO_AH ? (h[1] + 2) * 4 : (h[1] + 1) * 8;
			nh = h[0];
			break;
		case IPPROTO_FRAGMENT: {
			struct frag_hdr *f = l4;
			if ((void *)(f + 1) > end)
				return CAT_MALFORMED;
			nh = f->nexthdr;
			l4 = f + 1;
			if (f->frag_off & bpf_htons(0xFFF8)) {
				/* A later fragment: no transport header. */
				w[4] = LAST(nh, 6) | FRAGMENT;
				return CAT_FLOW;
			}
			break;
		}
		default: {
			/* What the payload length leaves after the extension headers. */
			__u32 ext = l4 - (void *)(ip6 + 1);
			__u32 plen = bpf_ntohs(ip6->payload_len);
			return transport(l4, end, ext <= plen ? plen - ext : 0, nh, 6, w);
		}
		}
	}
	return CAT_MALFORMED;
}

static __always_inline __u32 parse(void *data, void *end, __u64 *w)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return CAT_NON_IP;
	__be16 proto = eth->h_proto;
	void *p = eth + 1;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ip4(p, end, w);
	/* Up to two VLAN tags (802.1Q, 802.1ad / QinQ). */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = p;
		if ((void *)(v + 1) > end)
			return CAT_NON_IP;
		proto = v->h_vlan_encapsulated_proto;
		p = v + 1;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ip4(p, end, w);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ip6(p, end, w);
	return CAT_NON_IP;
}

#endif
