// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process events for `ebpf-jsonl exec`:
 * - sched_process_exec: every successful execve/execveat. The new image is in
 *   place, so argv is read from the new stack, already copied by the kernel.
 * - sched_process_exit (--exits): the last thread of a process ends;
 *   sched_process_free forgets it once its leader is gone.
 * - sys_enter/sys_exit (--failed): execve/execveat calls that returned an error.
 * - sched_process_fork (--pid): follows the traced processes' descendants.
 * Each hook comes as tp_btf and raw_tp; userspace loads the flavour that works. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exec.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Never read: exports exec.h's enums to the skeleton (see exec.h). */
struct exec_exports exec_exports;

#define SIGNAL_GROUP_EXIT 0x00000004
#define EEXIST 17

/* Set by userspace before load. */
const volatile __u32 argv_cap = 4096;
const volatile __u32 max_args = 128;
const volatile bool emit_exits = false;
const volatile bool filter_uid = false;
const volatile bool filter_euid = false;
const volatile bool filter_pid = false;
const volatile bool filter_comm = false;
const volatile __u32 n_cgroups = 0;

/* Wake the reader at most every WAKEUP_GAP_NS: an event after a quiet spell
 * wakes it at once, events in a burst wait for its next collection (at most
 * 50 ms later), or for WAKEUP_BYTES to pile up. Wake-ups, not events, are
 * what a reader's CPU time goes to. */
#define WAKEUP_GAP_NS (50ULL * 1000 * 1000)
#define WAKEUP_BYTES (256 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* Events not made or not delivered, per DROP_* reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Too big for the BPF stack (and for a per-CPU map value): one slot per CPU,
 * sized to the possible CPUs by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

/* tgid → boot time of its last exec, so an exit carries its exec's exec_id
 * and a child its parent's (parent_exec_id). Kept for every exec, filtered
 * out or not (a filtered-out parent still has children), and forgotten when
 * the group exits. Full (65,536 live exec'd processes), the insert is
 * counted (DROP_EXEC_TIMES) and those ids fall back to the fork time. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} exec_times SEC(".maps");

/* tid → execve/execveat arguments, between sys_enter and sys_exit (which
 * always follows: a task ends only on its way back to user space). Not LRU:
 * an eviction would lose an exec in progress silently; a full table is
 * counted (DROP_INFLIGHT) instead. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct exec_args);
} inflight SEC(".maps");

/* --exits: the thread groups whose exit was reported. Every thread that sees
 * signal->live at 0 in the exit hook is a candidate (the counter drops before
 * the hook, so threads leaving together can all see 0); the one whose
 * BPF_NOEXIST insert succeeds is the single winner. The entry goes when the
 * group leader's task is freed, which follows every thread's exit hook. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct exit_key);
	__type(value, __u8);
} exited SEC(".maps");

#include "exec_filter.bpf.h"
#include "exec_ident.bpf.h"

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

static __always_inline void count_drop(__u32 reason)
{
	__u64 *cnt = bpf_map_lookup_elem(&drops, &reason);
	if (cnt)
		*cnt += 1;
}

static __always_inline __u32 pidns_of(struct task_struct *task)
{
	struct pid *p = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level & 31]);
	return BPF_CORE_READ(up.ns, ns.inum);
}

/* A task's name, NUL-padded like bpf_get_current_comm's: it is a map key for
 * --comm, and the scratch buffer holds the bytes of earlier events. */
static __always_inline void read_comm(char comm[TASK_COMM_LEN], struct task_struct *t)
{
	bpf_probe_read_kernel(comm, TASK_COMM_LEN, &t->comm);
	bool end = false;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		end |= comm[i] == 0;
		if (end)
			comm[i] = 0;
	}
}

static __always_inline struct exec_event *scratch_event(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch, &cpu);
}

/* The scratch event for the current task with the header fields every event
 * shares filled in, or NULL if a filter excludes the task. `leader_comm`: the
 * name is the thread-group leader's (the process's), not the thread's. */
static __always_inline struct exec_event *begin_event(struct task_struct *task, bool leader_comm)
{
	struct exec_event *e = scratch_event();
	if (!e)
		return NULL;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	struct exec_hdr *h = &e->h;
	read_effective_ids(h, task);
	if (leader_comm)
		read_comm(h->comm, BPF_CORE_READ(task, group_leader));
	else
		bpf_get_current_comm(h->comm, sizeof(h->comm));
	if (!wanted(id >> 32, (__u32)ugid, h->euid, h->comm))
		return NULL;

	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)ugid;
	h->gid = ugid >> 32;
	read_login_ids(h, task);
	h->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	h->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	h->pidns = pidns_of(task);
	h->ret = 0;
	h->exit_status = 0;
	h->flags = 0;
	h->argv_size = 0;
	h->argv_len = 0;
	h->filename_len = 0;
	return e;
}

#include "exec_cgroup.bpf.h"
#include "exec_path.bpf.h"

/* `exe`: the file a successful exec executed (NULL for other events). */
static __always_inline void submit(struct exec_event *e, __u64 used, struct file *exe)
{
	bool names = false;
	if (e->h.kind == EV_EXEC) {
		used += append_cgroup(e, used, &names);
		used += append_paths(e, used, exe);
	}
	__u64 total = offsetof(struct exec_event, data) + used;
	if (total > sizeof(*e)) /* cannot happen: every length is bounded */
		total = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, total, wakeup_flag(e->h.ts_boot_ns))) {
		count_drop(DROP_RINGBUF);
		return;
	}
	/* Only now: an event of this cgroup that omits the names is behind
	 * this one in the ring buffer. */
	if (names) {
		__u32 epoch = cgroup_epoch;
		bpf_map_update_elem(&cgroup_sent, &e->h.cgroup_id, &epoch, BPF_ANY);
	}
}

static __always_inline int on_exec(struct task_struct *task, pid_t old_pid,
				   struct linux_binprm *bprm)
{
	bpf_map_delete_elem(&inflight, &old_pid);

	/* Before the filters: a filtered-out process's children still name it. */
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_update_elem(&exec_times, &tgid, &now, BPF_ANY))
		count_drop(DROP_EXEC_TIMES);

	struct exec_event *e = begin_event(task, false);
	if (!e)
		return 0;
	e->h.kind = EV_EXEC;
	e->h.tid = old_pid; /* the thread that called exec; it is the leader now */
	e->h.ts_boot_ns = now;
	e->h.exec_ns = now;
	exec_origin(e, task);
	if (bpf_core_field_exists(bprm->fdpath) && BPF_CORE_READ(bprm, fdpath))
		e->h.flags |= EXEC_F_FDPATH;
	if (BPF_CORE_READ_BITFIELD_PROBED(bprm, secureexec))
		e->h.flags |= EXEC_F_SECUREEXEC;

	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u64 size = end > start ? end - start : 0;
	__u64 len = size < argv_cap ? size : argv_cap;
	if (len > ARGV_MAX_LEN)
		len = ARGV_MAX_LEN;
	e->h.argv_size = size;
	if (len && bpf_probe_read_user(e->data, len, (void *)start)) {
		e->h.flags |= EXEC_F_ARGV_CUT;
		len = 0;
	}
	e->h.argv_len = len;

	long n = bpf_probe_read_kernel_str(e->data + len, FILENAME_MAX_LEN,
					   BPF_CORE_READ(bprm, filename));
	if (n < 0)
		n = 0;
	e->h.filename_len = n;
	submit(e, n + len, BPF_CORE_READ(bprm, file));
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	/* Only the group's last threads: signal->live is already decremented. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!emit_exits) {
		/* Without --exits this hook only forgets the group: its exec time
		 * and its place in the --pid set. */
		bpf_map_delete_elem(&exec_times, &tgid);
		if (filter_pid)
			bpf_map_delete_elem(&pids, &tgid);
		return 0;
	}
	/* One winner among the threads that saw live at 0; it does the rest. */
	struct exit_key k = {
		.tgid = tgid,
		.start_ns = BPF_CORE_READ(task, group_leader, start_boottime),
	};
	__u8 one = 1;
	long err = bpf_map_update_elem(&exited, &k, &one, BPF_NOEXIST);
	if (err) {
		if (err != -EEXIST) {
			count_drop(DROP_EXITS);
			/* no exit to report it on: forget it all the same */
			bpf_map_delete_elem(&exec_times, &tgid);
		}
		return 0;
	}
	__u64 *exec_ns = bpf_map_lookup_elem(&exec_times, &tgid);
	__u64 exec_time = exec_ns ? *exec_ns : 0;
	if (exec_ns)
		bpf_map_delete_elem(&exec_times, &tgid);

	struct exec_event *e = begin_event(task, true);
	if (filter_pid)
		bpf_map_delete_elem(&pids, &tgid);
	if (!e)
		return 0;
	e->h.kind = EV_EXIT;
	e->h.tid = e->h.pid;
	e->h.exec_ns = exec_time ? exec_time : e->h.start_ns;
	/* What the parent's wait() sees: the group's code, or the leader's. */
	if (BPF_CORE_READ(task, signal, flags) & SIGNAL_GROUP_EXIT)
		e->h.exit_status = BPF_CORE_READ(task, signal, group_exit_code);
	else
		e->h.exit_status = BPF_CORE_READ(task, group_leader, exit_code);
	submit(e, 0, NULL);
	return 0;
}

/* A group leader's task is freed: its group's threads have all passed the
 * exit hook (the leader is reaped only once they are gone). */
static __always_inline int on_free(struct task_struct *p)
{
	struct exit_key k = {
		.tgid = BPF_CORE_READ(p, tgid),
		.start_ns = BPF_CORE_READ(p, start_boottime),
	};
	if (BPF_CORE_READ(p, pid) == k.tgid)
		bpf_map_delete_elem(&exited, &k);
	return 0;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (!bpf_map_lookup_elem(&pids, &ptgid))
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ctgid == ptgid) /* a new thread, not a new process */
		return 0;
	__u8 one = 1;
	if (bpf_map_update_elem(&pids, &ctgid, &one, BPF_ANY))
		count_drop(DROP_PIDS);
	return 0;
}

#include "exec_failed.bpf.h"

/* Each hook as tp_btf and raw_tp (NAME_btf, NAME_raw), with the same body:
 * userspace loads the flavour that works. */
#define HOOK(name, tp, call, args...)                              \
	SEC("tp_btf/" tp) int BPF_PROG(name##_btf, args) { return call; } \
	SEC("raw_tp/" tp) int BPF_PROG(name##_raw, args) { return call; }

HOOK(exec, "sched_process_exec", on_exec(p, old_pid, bprm), struct task_struct *p, pid_t old_pid,
     struct linux_binprm *bprm)
HOOK(exit, "sched_process_exit", on_exit(p), struct task_struct *p)
HOOK(free, "sched_process_free", on_free(p), struct task_struct *p)
HOOK(fork, "sched_process_fork", on_fork(parent, child), struct task_struct *parent,
     struct task_struct *child)
HOOK(sys_enter, "sys_enter", on_sys_enter(regs, id), struct pt_regs *regs, long id)
/* sys_exit reads the syscall's number from the registers: tp_btf's are
 * typed, a plain load; raw_tp's only through a probe read. Each has a
 * bpf_loop twin (exec_failed.bpf.h). */
#define SYS_EXIT(suffix, loop)                                                  \
	SEC("tp_btf/sys_exit")                                                  \
	int BPF_PROG(sys_exit_btf##suffix, struct pt_regs *regs, long ret)      \
	{ return on_sys_exit(regs->REGS_SYSCALL_NR, ret, loop); }               \
	SEC("raw_tp/sys_exit")                                                  \
	int BPF_PROG(sys_exit_raw##suffix, struct pt_regs *regs, long ret)      \
	{ return on_sys_exit(BPF_CORE_READ(regs, REGS_SYSCALL_NR), ret, loop); }

SYS_EXIT(, false)
SYS_EXIT(_loop, true)
