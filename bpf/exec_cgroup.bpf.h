// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's cgroup section (see struct exec_cgroup in exec.h): the task's
 * cgroup v2 names, walked up kernfs at the event, sent once per epoch. */
#ifndef EBPF_JSONL_EXEC_CGROUP_BPF_H
#define EBPF_JSONL_EXEC_CGROUP_BPF_H

/* cgroup id → the cgroup_epoch its names were last sent in. LRU: an id it
 * forgets just has its names sent again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} cgroup_sent SEC(".maps");

/* Set by userspace each time its cache of names forgets (see exec.h). */
__u32 cgroup_epoch;

/* Before 6.15, kernfs_node's parent was `parent`; now it is `__parent`. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* Writes the cgroup section at `at` bytes into e->data: the current task's
 * cgroup v2 names, read from kernfs at the event, unless this epoch already
 * sent them. Names sent go with cgroup_id read from the same node, so id and
 * names always agree.
 * Returns the bytes written; `*whole` says whether they hold every name. */
static __always_inline __u32 append_cgroup(struct exec_event *e, __u64 at, bool *whole)
{
	if (at > ARGV_MAX_LEN + FILENAME_MAX_LEN)
		return 0;
	struct exec_cgroup *c = (void *)(e->data + at);
	char *names = e->data + at + sizeof(*c);
	/* The offset lives in the event (exit_status, unused by an exec until
	 * submit), not in a register: the verifier does not track its range
	 * there, so every path through one level meets the next level in the
	 * same state, and the walk is checked once per level, not once per
	 * combination of name lengths (which 5.10 and 6.1 give up on). */
	volatile __u32 *offp = &e->h.exit_status;
	__u32 off;
	__u8 depth = 0, flags = 0;
	bool top = false;

	/* cgroup_id is the helper's: the id of the node walked below */
	__u32 *sent = bpf_map_lookup_elem(&cgroup_sent, &e->h.cgroup_id);
	if (sent && *sent == cgroup_epoch) {
		c->len_lo = 0;
		c->len_hi = 0;
		c->depth = 0;
		c->flags = CGROUP_F_SENT;
		return sizeof(*c);
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	/* The same node the helper read, unless the task moved in between. */
	e->h.cgroup_id = BPF_CORE_READ(kn, id);
	*offp = 0;
	for (__u32 i = 0; i < CGROUP_DEPTH_MAX; i++) {
		struct kernfs_node *parent = kn ? kn_parent(kn) : NULL;
		if (!parent) {
			top = true;
			break;
		}
		off = *offp;
		if (off >= CGROUP_NAMES_MAX)
			break;
		__u32 room = CGROUP_NAMES_MAX - off;
		if (room > CGROUP_NAME_ROOM)
			room = CGROUP_NAME_ROOM;
		/* Opaque to the compiler, so the masks below stay for the verifier. */
		__u32 o = off;
		barrier_var(o);
		barrier_var(room);
		long n = bpf_probe_read_kernel_str(names + (o & (CGROUP_NAMES_MAX - 1)),
						   room & (2 * CGROUP_NAME_ROOM - 1),
						   BPF_CORE_READ(kn, name));
		/* n == room below a whole name's room: possibly cut, so not kept */
		if (n <= 0 || ((__u32)n == room && room < CGROUP_NAME_ROOM))
			break;
		*offp = off + n; /* at most CGROUP_NAMES_MAX */
		depth++;
		kn = parent;
	}
	off = *offp & (2 * CGROUP_NAMES_MAX - 1);
	e->h.exit_status = 0;
	if (!top)
		flags |= CGROUP_F_CUT;
	*whole = top;
	c->len_lo = off & 0xff;
	c->len_hi = off >> 8;
	c->depth = depth;
	c->flags = flags;
	return sizeof(*c) + off;
}

#endif
