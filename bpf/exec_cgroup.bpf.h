// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's cgroup section (see struct exec_names in exec.h): the task's
 * cgroup v2 names, walked up kernfs at the event, sent once per epoch. */
#ifndef EBPF_JSONL_EXEC_CGROUP_BPF_H
#define EBPF_JSONL_EXEC_CGROUP_BPF_H

#include "exec_names.bpf.h"

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
	struct exec_names *c = names_open(e, at, ARGV_MAX_LEN + FILENAME_MAX_LEN);
	if (!c)
		return 0;
	bool top = false;

	/* cgroup_id is the helper's: the id of the node walked below */
	__u32 *sent = bpf_map_lookup_elem(&cgroup_sent, &e->h.cgroup_id);
	if (sent && *sent == cgroup_epoch)
		return names_close(e, c, NAMES_F_SENT);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	/* The same node the helper read, unless the task moved in between. */
	e->h.cgroup_id = BPF_CORE_READ(kn, id);
	for (__u32 i = 0; i < CGROUP_DEPTH_MAX; i++) {
		struct kernfs_node *parent = kn ? kn_parent(kn) : NULL;
		if (!parent) {
			top = true;
			break;
		}
		if (!names_push(e, c, BPF_CORE_READ(kn, name)))
			break;
		kn = parent;
	}
	*whole = top;
	return names_close(e, c, top ? 0 : NAMES_F_CUT);
}

#endif
