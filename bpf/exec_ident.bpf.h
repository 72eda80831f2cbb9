// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's identity of a process beyond its real ids: effective ids and
 * login identity (every event), and where an exec came from: its parent and
 * its terminal. Uses exec.bpf.c's exec_times. */
#ifndef EBPF_JSONL_EXEC_IDENT_BPF_H
#define EBPF_JSONL_EXEC_IDENT_BPF_H

/* egid, auid and sessionid (euid is read before the filters, which need it). */
static __always_inline void read_identity(struct exec_hdr *h, struct task_struct *task,
					  const struct cred *cred)
{
	h->egid = BPF_CORE_READ(cred, egid.val);
	/* -1 (AUDIT_UID_UNSET, AUDIT_SID_UNSET) when unset or without CONFIG_AUDIT */
	h->auid = (__u32)-1;
	h->sessionid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid)) {
		h->auid = BPF_CORE_READ(task, loginuid.val);
		h->sessionid = BPF_CORE_READ(task, sessionid);
	}
}

/* What only exec events carry about where the process came from: its
 * parent's name and current image (exec_times, else the parent's fork time,
 * as an exit's exec_id), and its controlling terminal. */
static __always_inline void exec_origin(struct exec_event *e, struct task_struct *task)
{
	struct exec_hdr *h = &e->h;
	struct task_struct *parent = BPF_CORE_READ(task, real_parent, group_leader);
	bpf_probe_read_kernel(h->parent_comm, sizeof(h->parent_comm), &parent->comm);
	__u64 *ns = bpf_map_lookup_elem(&exec_times, &h->ppid);
	h->parent_exec_ns = ns ? *ns : BPF_CORE_READ(parent, start_boottime);
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	h->tty[0] = 0;
	if (tty)
		bpf_probe_read_kernel_str(h->tty, sizeof(h->tty), &tty->name);
}

#endif
