// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's kernel-side filters: their sets (filled by userspace before
 * the programs attach) and the test every event passes before it is built.
 * Uses exec.bpf.c's settings (filter_*, n_cgroups). */
#ifndef EBPF_JSONL_EXEC_FILTER_BPF_H
#define EBPF_JSONL_EXEC_FILTER_BPF_H

/* Filters: uids, euids, comms, traced tgids (--pid and descendants), cgroups. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_UID_FILTERS);
	__type(key, __u32);
	__type(value, __u8);
} uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_UID_FILTERS);
	__type(key, __u32);
	__type(value, __u8);
} euids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_COMM_FILTERS);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, __u8);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MAX_CGROUP_FILTERS);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

/* The kernel-side filters, each narrowing (--uid and --euid must both
 * match); `comm` is the name the event will carry. */
static __always_inline bool wanted(__u32 tgid, __u32 uid, __u32 euid, const char *comm)
{
	if (filter_uid && !bpf_map_lookup_elem(&uids, &uid))
		return false;
	if (filter_euid && !bpf_map_lookup_elem(&euids, &euid))
		return false;
	if (filter_pid && !bpf_map_lookup_elem(&pids, &tgid))
		return false;
	if (filter_comm && !bpf_map_lookup_elem(&comms, comm))
		return false;
	if (n_cgroups) {
		bool in = false;
		for (__u32 i = 0; i < MAX_CGROUP_FILTERS && i < n_cgroups; i++) {
			if (bpf_current_task_under_cgroup(&cgroups, i) == 1) {
				in = true;
				break;
			}
		}
		if (!in)
			return false;
	}
	return true;
}

#endif
