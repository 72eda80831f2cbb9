/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Flow table layout shared by xdp.bpf.c and Rust (through the generated skeleton types). */
#ifndef EBPF_JSONL_XDP_H
#define EBPF_JSONL_XDP_H

/* Constants shared with Rust are enums, not #defines: enums reach the object's
 * BTF, so the generated skeleton exports them (skel::types) and Rust never
 * types a value again. */

enum xdp_limit {
	/* A flow may live in any of the PROBES slots after its hash (open addressing). */
	XDP_PROBES = 32,
};

/* flow_slot.state's low byte. The program moves FREE → CLAIMING → ACTIVE;
 * userspace moves ACTIVE → RETIRED (idle) → FREE, after a grace period, so that
 * a packet that matched the slot just before it was retired still lands in it
 * and is read. */
enum slot_state {
	SLOT_FREE = 0,
	SLOT_CLAIMING = 1,
	SLOT_ACTIVE = 2,
	SLOT_RETIRED = 3,
};

/* flow_slot.state is a tag: the state, then whose slot it is. A packet
 * matches a slot only if the whole tag is its own (ACTIVE, its direction, the
 * CPU it runs on, its interface), so one CPU alone writes a slot's counts:
 * plain adds, no atomics. A flow counted on several CPUs has a slot on each,
 * which userspace adds together. */
enum slot_tag {
	TAG_STATE_MASK = 0xff,
	TAG_DIR_SHIFT = 8,
	TAG_CPU_SHIFT = 16, /* 16 bits */
	TAG_IFINDEX_SHIFT = 32,
};

/* A packet's direction through the interface (in the tag and counters_key). */
enum flow_dir {
	DIR_INGRESS = 0, /* the XDP program */
	DIR_EGRESS = 1, /* the TC program */
};

/* 40 bytes, hashed and compared as five u64 words, laid out so that the
 * program builds it from a few wide loads of the headers, as on the wire:
 * - IPv6: addrs = source address, then destination address.
 *   IPv4: addrs[0..4] = source, addrs[4..8] = destination, the rest zero
 *   (so an IPv4 key is two words: addrs[0..8] and the last).
 * - l4: TCP/UDP: source port, then destination port (network byte order);
 *   ICMP/ICMPv6: type, code, 0, 0; other protocols and later fragments: 0.
 * - flags: FLOW_FRAGMENT for a later fragment (offset > 0) of a datagram, which
 *   has no transport header: its own flow, never taken for port 0. */
struct flow_key {
	__u8 addrs[32];
	__u8 l4[4];
	__u8 proto;
	__u8 ver; /* 4 or 6 */
	__u16 flags;
};

/* flow_key.flags */
enum flow_flag {
	FLOW_FRAGMENT = 1,
};

/* One cache line, written by its owner CPU alone (see slot_tag). */
struct flow_slot {
	__u64 state; /* the tag; 64-bit: clang's default BPF CPU has only 64-bit cmpxchg */
	struct flow_key key;
	__u64 packets;
	__u64 bytes;
};

/* The compat flavour's claim lock (xdp.bpf.c's claim_locks). */
struct claim_lock {
	struct bpf_spin_lock lock;
};

/* Every packet lands in exactly one flow or one of these categories; a packet
 * counted in a flow touches nothing else, so the total is what userspace adds
 * up (flows read so far + categories). */
enum xdp_cat {
	CAT_UNTRACKED = 0, /* no room in the flow table */
	CAT_EXCLUDED = 1, /* source in --exclude */
	CAT_NON_IP = 2,
	CAT_MALFORMED = 3,
	CAT_N = 4,
};

struct xdp_counter {
	__u64 packets;
	__u64 bytes;
};

struct xdp_counters {
	struct xdp_counter c[CAT_N];
};

/* The category counters of one interface and direction. */
struct counters_key {
	__u32 ifindex;
	__u32 dir; /* enum flow_dir */
};

/* --exclude prefix; IPv4 as v4-mapped with prefixlen + 96. */
struct exclude_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Never read: one variable of this type (xdp.bpf.c's `xdp_exports`) puts
 * into the object's BTF the enums that no field names, so the skeleton
 * exports them to Rust. */
struct xdp_exports {
	enum xdp_limit limit;
	enum slot_state state;
	enum slot_tag tag;
	enum flow_dir dir;
	enum flow_flag flow_flag;
	enum xdp_cat cat;
};

#endif
