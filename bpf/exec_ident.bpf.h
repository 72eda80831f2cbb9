// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's identity of a process beyond its real ids: effective ids and
 * login identity (every event), and where an exec came from: its parent and
 * its terminal. Uses exec.bpf.c's exec_times. */
#ifndef EBPF_JSONL_EXEC_IDENT_BPF_H
#define EBPF_JSONL_EXEC_IDENT_BPF_H

/* Each pair of ids is read in one go where the kernel's two fields are
 * adjacent, as they are in every kernel so far (checked at load, through
 * CO-RE offsets); exec_hdr has them adjacent too. */
#define HDR_ADJACENT(a, b) \
	(__builtin_offsetof(struct exec_hdr, b) == __builtin_offsetof(struct exec_hdr, a) + 4)
_Static_assert(HDR_ADJACENT(euid, egid), "exec_hdr: egid right after euid");
_Static_assert(HDR_ADJACENT(auid, sessionid), "exec_hdr: sessionid right after auid");

/* euid and egid: task->cred, the subjective creds (the new ones once an exec
 * committed). Read before the filters, which need the euid. */
static __always_inline void read_effective_ids(struct exec_hdr *h, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	if (bpf_core_field_offset(cred->egid) == bpf_core_field_offset(cred->euid) + 4) {
		bpf_probe_read_kernel(&h->euid, 8, &cred->euid);
	} else {
		h->euid = BPF_CORE_READ(cred, euid.val);
		h->egid = BPF_CORE_READ(cred, egid.val);
	}
}

/* auid and sessionid: -1 (AUDIT_UID_UNSET, AUDIT_SID_UNSET) when unset, and
 * when the kernel has no audit (no such fields). */
static __always_inline void read_login_ids(struct exec_hdr *h, struct task_struct *task)
{
	h->auid = (__u32)-1;
	h->sessionid = (__u32)-1;
	if (!bpf_core_field_exists(task->loginuid))
		return;
	if (bpf_core_field_offset(task->sessionid) == bpf_core_field_offset(task->loginuid) + 4) {
		bpf_probe_read_kernel(&h->auid, 8, &task->loginuid);
	} else {
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
