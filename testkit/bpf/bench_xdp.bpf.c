// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Baselines for the xdp bench (benches/xdp; through BPF_PROG_TEST_RUN, and
 * attached to the benchmark's own veth pair): an empty XDP program, an empty
 * TC (SCHED_CLS) program to measure the egress program against, and the seed
 * tutorial's packet counter as written there: an LRU hash keyed by source
 * IPv4, source port and destination port (a u64), TCP only; lookup, then
 * update or atomic add. Sized like our table. It parses UDP over IPv4 too but
 * counts only TCP; anything else (IPv6, ICMP) it passes on untouched. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
/* linux/pkt_cls.h (a macro, so not in vmlinux.h): "no verdict", as the
 * egress program returns (TCX_NEXT for a TCX link). */
#define TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} seed_map SEC(".maps");

SEC("xdp")
int xdp_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

static __always_inline int seed_parse(struct xdp_md *ctx, __u64 *meta)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return 0;
	__u8 proto = ip->protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	/* Both headers begin with the ports; each must be there whole. */
	struct udphdr *l4 = (void *)ip + sizeof(*ip);
	if ((void *)(l4 + 1) > data_end)
		return 0;
	if (proto == IPPROTO_TCP && (void *)l4 + sizeof(struct tcphdr) > data_end)
		return 0;
	__u16 sport = bpf_ntohs(l4->source);
	__u16 dport = bpf_ntohs(l4->dest);
	*meta = ((__u64)ip->saddr << 32) | ((__u64)sport << 16) | (__u64)dport;
	return proto == IPPROTO_TCP ? 1 : 2;
}

SEC("xdp")
int xdp_seed(struct xdp_md *ctx)
{
	__u64 meta;
	if (seed_parse(ctx, &meta) != 1)
		return XDP_PASS;
	__u32 *count = bpf_map_lookup_elem(&seed_map, &meta);
	if (!count) {
		__u32 one = 1;
		bpf_map_update_elem(&seed_map, &meta, &one, BPF_ANY);
	} else {
		__sync_fetch_and_add(count, 1);
	}
	return XDP_PASS;
}
