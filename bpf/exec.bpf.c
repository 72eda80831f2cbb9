// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* One event per successful execve/execveat, taken at sched_process_exec: the
 * new image is in place, so argv is read from the new stack, already copied
 * and faulted in by the kernel. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exec.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace before load. */
const volatile __u32 argv_cap = 4096;

/* Wake the reader for the first event after a quiet spell, or when this much
 * is waiting; otherwise it collects on its own timer. One wake-up per burst,
 * not per event. */
#define WAKEUP_GAP_NS (10ULL * 1000 * 1000)
#define WAKEUP_BYTES (256 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Events the ring buffer had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Too big for the BPF stack (and for a per-CPU map value): one slot per CPU,
 * sized to the possible CPUs by userspace; the event is built here, then only
 * the used part is copied to the ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

__u64 last_wakeup_ns;

static __always_inline __u64 wakeup_flag(__u64 now)
{
	if (now - last_wakeup_ns > WAKEUP_GAP_NS ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES) {
		last_wakeup_ns = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline int on_exec(struct task_struct *task, pid_t old_pid,
				   struct linux_binprm *bprm)
{
	__u32 zero = 0, cpu = bpf_get_smp_processor_id();
	struct exec_event *e = bpf_map_lookup_elem(&scratch, &cpu);
	if (!e)
		return 0;

	__u64 ugid = bpf_get_current_uid_gid();
	e->h.ts_boot_ns = bpf_ktime_get_boot_ns();
	e->h.cgroup_id = bpf_get_current_cgroup_id();
	e->h.pid = bpf_get_current_pid_tgid() >> 32;
	e->h.tid = old_pid; /* the thread that called exec; it is the leader now */
	e->h.ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->h.uid = (__u32)ugid;
	e->h.gid = ugid >> 32;
	e->h.argc = BPF_CORE_READ(bprm, argc);
	e->h.flags = 0;
	if (bpf_core_field_exists(bprm->fdpath) && BPF_CORE_READ(bprm, fdpath))
		e->h.flags |= EXEC_F_FDPATH;
	bpf_get_current_comm(e->h.comm, sizeof(e->h.comm));

	long n = bpf_probe_read_kernel_str(e->data, FILENAME_MAX_LEN,
					   BPF_CORE_READ(bprm, filename));
	if (n < 0)
		n = 0;
	if (n > FILENAME_MAX_LEN)
		n = FILENAME_MAX_LEN;
	e->h.filename_len = n;

	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u64 size = end > start ? end - start : 0;
	__u64 len = size < argv_cap ? size : argv_cap;
	if (len > ARGV_MAX_LEN)
		len = ARGV_MAX_LEN;
	e->h.argv_size = size;
	if (len && bpf_probe_read_user(e->data + n, len, (void *)start)) {
		e->h.flags |= EXEC_F_ARGV_FAULT;
		len = 0;
	}
	e->h.argv_len = len;

	__u64 total = offsetof(struct exec_event, data) + n + len;
	if (total > sizeof(*e))
		return 0;
	if (bpf_ringbuf_output(&events, e, total, wakeup_flag(e->h.ts_boot_ns))) {
		__u64 *cnt = bpf_map_lookup_elem(&drops, &zero);
		if (cnt)
			*cnt += 1;
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}
