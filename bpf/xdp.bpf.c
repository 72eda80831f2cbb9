// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-flow counts of what arrives (XDP) and leaves (TC egress). Every packet
 * is passed on, and counted exactly once: in its flow, or as untracked,
 * excluded, non_ip or malformed, per interface and direction.
 *
 * The flow table is an mmap-able array used as an open-addressing hash table
 * (linear probing over XDP_PROBES slots). A slot belongs to one CPU (its tag,
 * see bpf/xdp.h), so a packet of a known flow costs a few wide loads of its
 * headers, a seeded multiply hash, an inlined array lookup, a compare of the
 * tag and two key words (five for IPv6) and two plain adds in its slot: no
 * call, no atomic, and no cache line another CPU writes.
 * The per-category counters are only for packets that are not in a flow, and
 * userspace adds up the total. Measured through BPF_PROG_TEST_RUN
 * (`cargo bench --bench xdp`, README "Performance"). What did not pay:
 * - a kernel hash map: its lookup is an out-of-line call; a PERCPU_HASH with
 *   even an 8- or 16-byte key cost as much as the seed's whole design;
 * - two atomic adds in a slot shared by all CPUs (this program before issue
 *   13): lock-prefixed, they cost as much as the seed's design on some CPUs;
 * - per-CPU counts in a PERCPU_ARRAY beside the table: its inlined lookup
 *   costs what the atomics did, for 16 bytes per slot per CPU.
 * What did: counting a flow's packet in the flow only, building the key from
 * wide loads with IPv4 in two words, and slots owned by one CPU. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Never read: exports xdp.h's enums to the skeleton (see xdp.h). */
struct xdp_exports xdp_exports;

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
#define PULL_LEN 128 /* egress: bytes of headers wanted in the linear area */
#define TC_ACT_UNSPEC (-1) /* uapi pkt_cls.h (and TCX_NEXT): go on as if we weren't here */

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

/* One bit per slot, set by the claim of a new flow's slot; userspace reads
 * and clears the set ones each interval to learn of new flows, and reads the
 * slots it knows: the drain follows the flows, not the table's size, and a
 * packet of a known flow touches no bit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* sized by userspace: slots / 64 */
	__type(key, __u32);
	__type(value, __u64);
} claimed SEC(".maps");

/* Per interface and direction; userspace creates the entries of the ones it
 * attaches to, a packet of another interface (an ifindex changed by a move to
 * another namespace) creates its own. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct counters_key);
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

#include "xdp_claim.bpf.h"

#include "xdp_parse.bpf.h"

static __always_inline bool is_v6(const __u64 *w)
{
	return (w[4] >> 40 & 0xff) == 6;
}

/* Seeded multiply-add (the products are independent, so they run in
 * parallel), then one multiply to spread the bits. An IPv4 key is two words;
 * the other three are zero and left out. The tag is in: each CPU's slot of a
 * flow has a probe window of its own. */
static __always_inline __u32 hash(const __u64 *w, __u64 tag)
{
	__u64 h = (w[0] + hash_seed[0]) * (w[4] + tag + hash_seed[1]);
	if (is_v6(w))
		h += (w[1] + hash_seed[2]) * (w[2] + hash_seed[3]) +
		     (w[3] + hash_seed[4]) * hash_seed[5];
	h ^= h >> 32;
	h *= 0x9E3779B97F4A7C15ULL;
	return h >> 32;
}

/* `a` is a slot's key; both are well-formed, so the last words being equal
 * means the same IP version, and for IPv4 the rest are zero in both. */
static __always_inline bool key_eq(const __u64 *a, const __u64 *b)
{
	if (a[0] != b[0] || a[4] != b[4])
		return false;
	return !is_v6(b) || ((a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* Says slot idx was claimed, after its tag is published. Only its claimer
 * sets its bit, and only when it is clear, so an add sets it (BPF_XADD, which
 * every kernel has); userspace clears whole words with xchg. */
static __always_inline void mark_claimed(__u32 idx)
{
	__u32 word = idx / 64;
	__u64 bit = 1ULL << (idx % 64);
	__u64 *d = bpf_map_lookup_elem(&claimed, &word);
	if (d && !(*d & bit))
		__sync_fetch_and_add(d, bit);
}

/* Adds the packet to its flow, claiming a free slot for a new one. False when
 * there is no room: max_flows are in use, or the flow's probe window is full.
 * `tag` is the packet's own ACTIVE tag; `compat` is a constant in each
 * program (see xdp_flows_compat). */
static __always_inline bool count_flow(const __u64 *w, __u64 len, __u64 tag, bool compat)
{
	__u32 h = hash(w, tag);
	for (__u32 i = 0; i < XDP_PROBES; i++) {
		__u32 idx = (h + i) & slot_mask;
		struct flow_slot *s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return false;
		if (s->state == tag && key_eq((const __u64 *)&s->key, w)) {
			/* This CPU's slot: nothing else writes these. */
			s->packets++;
			s->bytes += len;
			return true;
		}
	}
	/* A new flow on this CPU, or one whose slot was retired. */
	if (nflows >= max_flows)
		return false;
	__u32 zero = 0;
	struct claim_lock *l = NULL;
	if (compat) {
		l = bpf_map_lookup_elem(&claim_locks, &zero);
		if (!l)
			return false;
	}
	for (__u32 i = 0; i < XDP_PROBES; i++) {
		__u32 idx = (h + i) & slot_mask;
		struct flow_slot *s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return false;
		int won = compat ? claim_locked(s, l) : claim_atomic(s);
		if (won < 0)
			return false;
		if (!won)
			continue;
		__u64 *key = (__u64 *)&s->key;
		bool v6 = is_v6(w);
		key[0] = w[0];
		key[1] = v6 ? w[1] : 0;
		key[2] = v6 ? w[2] : 0;
		key[3] = v6 ? w[3] : 0;
		key[4] = w[4];
		s->packets = 1;
		s->bytes = len;
		if (compat) {
			/* No xchg before 5.12: a plain store after a compiler barrier;
			 * x86-64 keeps stores in order, so whoever sees the tag sees the
			 * key and counts (and keeps its loads in order). */
			asm volatile("" ::: "memory");
			s->state = tag;
		} else {
			/* xchg is a full barrier: whoever sees the tag sees the key and
			 * counts (x86-64 keeps loads in order). */
			__sync_lock_test_and_set(&s->state, tag);
		}
		mark_claimed(idx);
		return true;
	}
	return false;
}

/* The source address, IPv4 as v4-mapped (::ffff:a.b.c.d), in the LPM trie. */
static __always_inline bool excluded(const __u64 *w)
{
	struct exclude_key ek = { .prefixlen = 128 };
	if (is_v6(w)) {
		__builtin_memcpy(ek.addr, w, 16);
	} else {
		*(__u32 *)&ek.addr[8] = bpf_htonl(0xffff);
		*(__u32 *)&ek.addr[12] = (__u32)w[0];
	}
	return bpf_map_lookup_elem(&excludes, &ek) != NULL;
}

/* Counts one packet of `len` bytes, data..end, on interface `ifindex` in
 * direction `dir`. */
static __always_inline void count(void *data, void *end, __u64 len, __u32 ifindex, __u32 dir,
				  bool compat)
{
	__u64 w[5];
	__u32 cat = parse(data, end, w);
	if (cat == CAT_FLOW) {
		__u64 tag = SLOT_ACTIVE | (__u64)dir << TAG_DIR_SHIFT |
			    (__u64)(bpf_get_smp_processor_id() & 0xffff) << TAG_CPU_SHIFT |
			    (__u64)ifindex << TAG_IFINDEX_SHIFT;
		if (have_excludes && excluded(w))
			cat = CAT_EXCLUDED;
		else if (count_flow(w, len, tag, compat))
			return;
		else
			cat = CAT_UNTRACKED;
	}
	struct counters_key k = { .ifindex = ifindex, .dir = dir };
	struct xdp_counters *c = bpf_map_lookup_elem(&counters, &k);
	if (!c) {
		struct xdp_counters zero = {};
		bpf_map_update_elem(&counters, &k, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counters, &k);
	}
	if (c && cat < CAT_N) {
		c->c[cat].packets++;
		c->c[cat].bytes += len;
	}
}

static __always_inline int count_xdp(struct xdp_md *ctx, bool compat)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	count(data, end, end - data, ctx->ingress_ifindex, DIR_INGRESS, compat);
	return XDP_PASS;
}

/* Egress: the frame as the device will send it, `len` its whole length (a
 * GSO packet is one packet, as generic XDP sees one after GRO). Headers the
 * stack left outside the linear area are pulled in first. */
static __always_inline int count_tc(struct __sk_buff *skb, bool compat)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 want = skb->len < PULL_LEN ? skb->len : PULL_LEN;
	if (data + want > end) {
		bpf_skb_pull_data(skb, want);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	count(data, end, skb->len, skb->ifindex, DIR_EGRESS, compat);
	return TC_ACT_UNSPEC;
}

/* Each hook's two flavours; userspace loads one (src/xdp/flavour.rs): the
 * same records and guarantees, differing only in how a new flow claims its
 * slot. NAME_compat is for kernels without 64-bit cmpxchg, xchg and
 * fetch-add (before 5.12). */
#define FLAVOURS(sec, name, ctx_type, count_fn)                                  \
	SEC(sec) int name(ctx_type *ctx) { return count_fn(ctx, false); }        \
	SEC(sec) int name##_compat(ctx_type *ctx) { return count_fn(ctx, true); }

FLAVOURS("xdp", xdp_flows, struct xdp_md, count_xdp)
FLAVOURS("tc", tc_flows, struct __sk_buff, count_tc)
