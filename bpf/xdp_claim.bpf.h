/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* How a new flow claims a free slot (FREE → CLAIMING, nflows + 1), in each
 * of xdp.bpf.c's two flavours; included by it after nflows and max_flows.
 * 1: claimed; 0: taken, try the next; -1: max_flows are in use. */
#ifndef EBPF_JSONL_XDP_CLAIM_BPF_H
#define EBPF_JSONL_XDP_CLAIM_BPF_H

/* The compat flavour's one claim lock (a slot can't hold one: the table is
 * mmapped, and the kernel mmaps no map whose values hold a bpf_spin_lock). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct claim_lock);
} claim_locks SEC(".maps");

/* Claims a free slot for a new flow (FREE → CLAIMING, nflows + 1) with
 * 64-bit cmpxchg and fetch-add (BPF_ATOMIC with BPF_FETCH: 5.12+). */
static __always_inline int claim_atomic(struct flow_slot *s)
{
	if (s->state != SLOT_FREE ||
	    __sync_val_compare_and_swap(&s->state, SLOT_FREE, SLOT_CLAIMING) != SLOT_FREE)
		return 0;
	if (__sync_fetch_and_add(&nflows, 1) >= max_flows) {
		__sync_fetch_and_add(&nflows, -1);
		__sync_lock_test_and_set(&s->state, SLOT_FREE);
		return -1;
	}
	return 1;
}

/* The same claim for kernels before 5.12 (the compat flavour): one
 * bpf_spin_lock (5.1+) serializes the claims of all CPUs, which are rare (a
 * new flow); the counts stay lock-free. Under the lock a claimer checks and
 * moves the state and nflows with plain loads and stores and an add whose
 * result is unused (BPF_XADD, which every kernel has). Userspace never
 * writes a FREE or CLAIMING slot (it moves ACTIVE → RETIRED → FREE) and
 * only decrements nflows atomically, so it needs no lock. */
static __always_inline int claim_locked(struct flow_slot *s, struct claim_lock *l)
{
	int won = 0;
	if (s->state != SLOT_FREE)
		return 0;
	bpf_spin_lock(&l->lock);
	if (nflows >= max_flows) {
		won = -1;
	} else if (s->state == SLOT_FREE) {
		s->state = SLOT_CLAIMING;
		__sync_fetch_and_add(&nflows, 1);
		won = 1;
	}
	bpf_spin_unlock(&l->lock);
	return won;
}

#endif
