// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-flow ingress counts. Every packet is passed on, and counted exactly
 * once: in its flow, or as untracked, excluded, non_ip or malformed; and once
 * more in a total of its own, so that the sum can be checked.
 *
 * The flow table is an mmap-able array used as an open-addressing hash table
 * (linear probing over XDP_PROBES slots). A packet of a known flow costs a
 * hash, an inlined array lookup or two and two atomic adds: no call. A kernel
 * hash map lookup is an out-of-line call; measured here through
 * BPF_PROG_TEST_RUN, a PERCPU_HASH with even an 8- or 16-byte key cost as much
 * over an empty program as the seed's whole design, this about half of it
 * (`ebpf-jsonl xdp-bench`). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IP_OFFSET 0x1FFF
/* IPv6 next-header values (macros in uapi/linux/in6.h, so not in vmlinux.h) */
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define IPV6_MAX_EXT 8 /* extension headers walked before giving up (malformed) */
#define CAT_FLOW CAT_N /* parse result: count it in its flow */

/* Set by userspace before load. */
const volatile __u32 slot_mask = 0; /* slots - 1; slots is a power of two */
const volatile __u64 max_flows = 0;
const volatile __u64 hash_seed[6] = {};
const volatile bool have_excludes = false;

/* Slots claimed, active or retired; userspace decrements it when it frees one. */
__u64 nflows;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* sized by userspace */
	__type(key, __u32);
	__type(value, struct flow_slot);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdp_counters);
} counters SEC(".maps");

/* Source prefixes not to count in flows; looked up only if there are any. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* sized by userspace */
	__type(key, struct exclude_key);
	__type(value, __u8);
} excludes SEC(".maps");

static __always_inline __u32 transport(void *l4, void *end, struct flow_key *k)
{
	__u8 p = k->proto;
	if (p == IPPROTO_TCP || p == IPPROTO_UDP) {
		__be16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return CAT_MALFORMED;
		k->sport = ports[0];
		k->dport = ports[1];
	} else if ((p == IPPROTO_ICMP && k->ver == 4) || (p == IPPROTO_ICMPV6 && k->ver == 6)) {
		__u8 *t = l4;
		if ((void *)(t + 2) > end)
			return CAT_MALFORMED;
		k->sport = t[0];
		k->dport = t[1];
	}
	return CAT_FLOW;
}

static __always_inline __u32 parse_ip4(void *p, void *end, struct flow_key *k)
{
	struct iphdr *ip = p;
	if ((void *)(ip + 1) > end)
		return CAT_MALFORMED;
	__u32 hl = ip->ihl * 4;
	if (ip->version != 4 || hl < sizeof(*ip) || bpf_ntohs(ip->tot_len) < hl || p + hl > end)
		return CAT_MALFORMED;
	k->ver = 4;
	k->proto = ip->protocol;
	*(__u32 *)&k->src[8] = bpf_htonl(0xffff);
	*(__u32 *)&k->src[12] = ip->saddr;
	*(__u32 *)&k->dst[8] = bpf_htonl(0xffff);
	*(__u32 *)&k->dst[12] = ip->daddr;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return CAT_FLOW; /* a later fragment: no transport header */
	return transport(p + hl, end, k);
}

static __always_inline __u32 parse_ip6(void *p, void *end, struct flow_key *k)
{
	struct ipv6hdr *ip6 = p;
	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return CAT_MALFORMED;
	k->ver = 6;
	__builtin_memcpy(k->src, &ip6->saddr, 16);
	__builtin_memcpy(k->dst, &ip6->daddr, 16);
	__u8 nh = ip6->nexthdr;
	void *l4 = ip6 + 1;
	for (int i = 0; i < IPV6_MAX_EXT; i++) {
		__u8 *h = l4;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(h + 2) > end)
				return CAT_MALFORMED;
			nh = h[0];
			l4 += (h[1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if ((void *)(h + 2) > end)
				return CAT_MALFORMED;
			nh = h[0];
			l4 += (h[1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			struct frag_hdr *f = l4;
			if ((void *)(f + 1) > end)
				return CAT_MALFORMED;
			nh = f->nexthdr;
			l4 = f + 1;
			if (f->frag_off & bpf_htons(0xFFF8)) {
				k->proto = nh; /* a later fragment: no transport header */
				return CAT_FLOW;
			}
			break;
		}
		default:
			k->proto = nh;
			return transport(l4, end, k);
		}
	}
	return CAT_MALFORMED;
}

static __always_inline __u32 parse(void *data, void *end, struct flow_key *k)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return CAT_NON_IP;
	__be16 proto = eth->h_proto;
	void *p = eth + 1;
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
		return parse_ip4(p, end, k);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ip6(p, end, k);
	return CAT_NON_IP;
}

/* Seeded multiply-add over the key's five words (the products are independent,
 * so they run in parallel), then one multiply to spread the bits. */
static __always_inline __u32 hash(const struct flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = (w[0] + hash_seed[0]) * (w[1] + hash_seed[1]) +
		  (w[2] + hash_seed[2]) * (w[3] + hash_seed[3]) +
		  (w[4] + hash_seed[4]) * hash_seed[5];
	h ^= h >> 31;
	h *= 0x9E3779B97F4A7C15ULL;
	return h >> 32;
}

static __always_inline bool key_eq(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) |
		(x[4] ^ y[4])) == 0;
}

/* Adds the packet to its flow, claiming a free slot for a new one. False when
 * there is no room: max_flows are in use, or the flow's probe window is full. */
static __always_inline bool count_flow(const struct flow_key *k, __u64 len)
{
	__u32 h = hash(k);
	for (__u32 i = 0; i < XDP_PROBES; i++) {
		__u32 idx = (h + i) & slot_mask;
		struct flow_slot *s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return false;
		if (s->state == SLOT_ACTIVE && key_eq(&s->key, k)) {
			__sync_fetch_and_add(&s->packets, 1);
			__sync_fetch_and_add(&s->bytes, len);
			return true;
		}
	}
	/* A new flow, or one whose slot was retired. Two CPUs may claim a slot
	 * each for the same new flow; userspace adds such twins together. */
	if (nflows >= max_flows)
		return false;
	for (__u32 i = 0; i < XDP_PROBES; i++) {
		__u32 idx = (h + i) & slot_mask;
		struct flow_slot *s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return false;
		if (s->state != SLOT_FREE ||
		    __sync_val_compare_and_swap(&s->state, SLOT_FREE, SLOT_CLAIMING) != SLOT_FREE)
			continue;
		if (__sync_fetch_and_add(&nflows, 1) >= max_flows) {
			__sync_fetch_and_add(&nflows, -1);
			__sync_lock_test_and_set(&s->state, SLOT_FREE);
			return false;
		}
		s->key = *k;
		s->packets = 1;
		s->bytes = len;
		/* xchg is a full barrier: whoever sees ACTIVE sees the key and counts
		 * (x86-64, the only target vmlinux.h is built for, keeps loads in order). */
		__sync_lock_test_and_set(&s->state, SLOT_ACTIVE);
		return true;
	}
	return false;
}

static __always_inline bool excluded(const struct flow_key *k)
{
	struct exclude_key ek = { .prefixlen = 128 };
	__builtin_memcpy(ek.addr, k->src, 16);
	return bpf_map_lookup_elem(&excludes, &ek) != NULL;
}

SEC("xdp")
int xdp_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct flow_key k = {};
	__u32 zero = 0;

	__u32 cat = parse(data, end, &k);
	if (cat == CAT_FLOW) {
		if (have_excludes && excluded(&k))
			cat = CAT_EXCLUDED;
		else if (!count_flow(&k, len))
			cat = CAT_UNTRACKED;
	}
	struct xdp_counters *c = bpf_map_lookup_elem(&counters, &zero);
	if (c) {
		c->c[CAT_TOTAL].packets++;
		c->c[CAT_TOTAL].bytes += len;
		if (cat < CAT_TOTAL) {
			c->c[cat].packets++;
			c->c[cat].bytes += len;
		}
	}
	return XDP_PASS;
}
