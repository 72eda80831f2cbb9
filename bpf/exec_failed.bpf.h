// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's --failed hooks, in three tiers (userspace loads the cheapest
 * this kernel takes): fexit on the execve/execveat implementations sees the
 * caller's registers and the return value at once; the syscalls:
 * sys_{enter,exit}_execve{,at} tracepoints and the raw sys_enter/sys_exit
 * keep an execve/execveat's arguments at the entry (in `inflight`) for the
 * exit. A failed call is reported with the argv read element by element from
 * the caller's memory, then measured. Uses exec.bpf.c's maps, settings,
 * begin_event and submit. */
#ifndef EBPF_JSONL_EXEC_FAILED_BPF_H
#define EBPF_JSONL_EXEC_FAILED_BPF_H

#include "exec_syscall.bpf.h"

/* argv elements a failed exec's argv is followed for, and bytes of it measured beyond the
 * cap, before its whole size is given up as unknown. */
#define ARGV_MAX_ELEMS 1024
#define ARGV_MEASURE_MAX (1024 * 1024)

static __always_inline int on_sys_enter(struct pt_regs *regs, long id)
{
	struct exec_args a = {};
	if (!exec_call(regs, id, &a))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&inflight, &tid, &a, BPF_ANY))
		count_drop(DROP_INFLIGHT);
	return 0;
}

/* argv[i] of the caller: 4-byte pointers for a 32-bit ABI. */
static __always_inline long user_argv_elem(const struct exec_args *a, __u32 i, __u64 *arg)
{
	/* 4 or 8 without a branch: one path for the verifier, not two per element */
	__u32 psize = 8 - 4 * (a->compat & 1);
	*arg = 0;
	return bpf_probe_read_user(arg, psize, (void *)(a->argv + (__u64)i * psize));
}

/* Reads argv element by element from the caller's memory (it is still there:
 * the exec failed) into `buf`: whole elements while they fit, then the exact
 * prefix of the one the byte cap cuts. Returns the bytes written to `buf`;
 * `*next` is the first element not read whole, `*whole` the bytes before it.
 * A bounded loop the verifier walks element by element (some 170,000
 * instructions per program at the default caps): kernels before 5.17. */
static __always_inline __u32 read_user_argv(char *buf, const struct exec_args *a, __u32 *next,
					    __u32 *whole, __u16 *flags)
{
	__u32 off = 0;
	__u32 i;
	for (i = 0; i < ARGV_MAX_ELEMS; i++) {
		__u64 arg;
		if (user_argv_elem(a, i, &arg)) {
			*flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
			break;
		}
		if (!arg)
			break;
		if (i >= max_args || off >= argv_cap || off >= ARGV_MAX_LEN) {
			*flags |= EXEC_F_ARGV_CUT;
			break;
		}
		__u32 room = argv_cap - off;
		if (room > ARGV_MAX_LEN - off)
			room = ARGV_MAX_LEN - off;
		/* Opaque to the compiler, so the masks below stay for the verifier:
		 * the offset is below ARGV_MAX_LEN and the size 1 to ARGV_MAX_LEN. */
		__u32 at = off;
		barrier_var(at);
		barrier_var(room);
		long n = bpf_probe_read_user_str(buf + (at & (ARGV_MAX_LEN - 1)),
						 ((room - 1) & (ARGV_MAX_LEN - 1)) + 1, (void *)arg);
		if (n <= 0) {
			*flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
			break;
		}
		if ((__u32)n >= room) {
			/* filled the room: kept as its exact prefix, NUL-closed */
			*flags |= EXEC_F_ARGV_CUT;
			*whole = off;
			*next = i;
			return off + n;
		}
		off += n;
	}
	if (i == ARGV_MAX_ELEMS)
		*flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
	*whole = off;
	*next = i;
	return off;
}

/* The bytes of argv from element `from` on, each measured in the throwaway
 * half of `buf`; EXEC_F_SIZE_UNKNOWN if that cannot be done (unreadable, an
 * element longer than that half, too many elements or bytes). */
static __always_inline __u32 measure_user_argv(char *buf, const struct exec_args *a, __u32 from,
					       __u16 *flags)
{
	__u32 total = 0;
	for (__u32 j = 0; j < ARGV_MAX_ELEMS; j++) {
		__u32 i = from + j;
		if (i >= ARGV_MAX_ELEMS)
			break;
		__u64 arg;
		if (user_argv_elem(a, i, &arg))
			break;
		if (!arg)
			return total;
		long n = bpf_probe_read_user_str(buf + ARGV_MAX_LEN, ARGV_MAX_LEN, (void *)arg);
		if (n <= 0 || n >= ARGV_MAX_LEN || total > ARGV_MEASURE_MAX)
			break;
		total += n;
	}
	*flags |= EXEC_F_SIZE_UNKNOWN;
	return total;
}

/* The same walks through bpf_loop (Linux 5.17+), whose callback the
 * verifier checks once, not once per element (about 22,000 instructions per
 * program, whatever the caps): the same steps in the same order, so the same
 * records. The loops above stay as they are, for kernels before 5.17, whose
 * verifiers they were measured on. `struct argv_walk` carries the walks'
 * variables between calls. */
struct argv_walk {
	char *buf;
	struct exec_args a;
	__u32 off;	/* bytes of the elements read whole */
	__u32 len;	/* bytes written to buf */
	__u32 next;	/* elements read whole: the first to measure */
	__u32 total;	/* bytes measured from `next` on */
	__u16 flags;	/* EXEC_F_ARGV_CUT, EXEC_F_SIZE_UNKNOWN */
	bool known;	/* measuring reached argv's end */
};

/* read_user_argv's element `i`; 1 once the walk is over. */
static int read_step(__u32 i, void *ctx)
{
	struct argv_walk *w = ctx;
	__u64 arg;
	if (user_argv_elem(&w->a, i, &arg)) {
		w->flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
		return 1;
	}
	if (!arg)
		return 1;
	__u32 off = w->off;
	if (i >= max_args || off >= argv_cap || off >= ARGV_MAX_LEN) {
		w->flags |= EXEC_F_ARGV_CUT;
		return 1;
	}
	/* the room the caps leave, masked for the verifier as above */
	__u32 room = argv_cap - off < ARGV_MAX_LEN - off ? argv_cap - off : ARGV_MAX_LEN - off;
	__u32 at = off;
	barrier_var(at);
	barrier_var(room);
	char *dst = w->buf + (at & (ARGV_MAX_LEN - 1));
	long n = bpf_probe_read_user_str(dst, ((room - 1) & (ARGV_MAX_LEN - 1)) + 1, (void *)arg);
	if (n <= 0) {
		w->flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
		return 1;
	}
	w->len = w->off + n;
	if ((__u32)n >= room) {
		w->flags |= EXEC_F_ARGV_CUT; /* the exact prefix, as above */
		return 1;
	}
	w->off = w->len;
	w->next = i + 1;
	return 0;
}

/* measure_user_argv's element `next + j`; 1 once the walk is over. */
static int measure_step(__u32 j, void *ctx)
{
	struct argv_walk *w = ctx;
	__u32 i = w->next + j;
	__u64 arg;
	if (i >= ARGV_MAX_ELEMS || user_argv_elem(&w->a, i, &arg))
		return 1;
	if (!arg) {
		w->known = true;
		return 1;
	}
	/* measure_user_argv's step (the same bounds) */
	long n = bpf_probe_read_user_str(w->buf + ARGV_MAX_LEN, ARGV_MAX_LEN, (void *)arg);
	if (n > 0 && n < ARGV_MAX_LEN && w->total <= ARGV_MEASURE_MAX) {
		w->total += n;
		return 0;
	}
	return 1;
}

/* read_user_argv, then (when it cut argv at a cap) measure_user_argv, as
 * bpf_loop walks: the bytes written to `buf`; `*size` is argv's size as
 * far as known. */
static __always_inline __u32 loop_user_argv(char *buf, const struct exec_args *a, __u32 *size,
					    __u16 *flags)
{
	struct argv_walk w = { .buf = buf, .a = *a };
	bpf_loop(ARGV_MAX_ELEMS, read_step, &w, 0);
	if (w.next == ARGV_MAX_ELEMS)
		w.flags |= EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN;
	*size = w.off;
	if ((w.flags & (EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN)) == EXEC_F_ARGV_CUT) {
		bpf_loop(ARGV_MAX_ELEMS, measure_step, &w, 0);
		if (!w.known)
			w.flags |= EXEC_F_SIZE_UNKNOWN;
		*size += w.total;
	}
	*flags |= w.flags;
	return w.len;
}

/* Reports a failed execve/execveat (ret < 0) with the caller's arguments
 * `args`; with `loop`, argv is walked with bpf_loop (the program's `_loop`
 * twin), else with the loops the verifier walks. */
static __always_inline int report_failed(const struct exec_args *a, long ret, bool loop)
{
	struct exec_args args = *a;
	struct exec_event *e = begin_event((struct task_struct *)bpf_get_current_task(), false);
	if (!e)
		return 0;
	e->h.kind = EV_EXEC;
	e->h.ret = ret;
	e->h.exec_ns = e->h.ts_boot_ns;
	exec_origin(e, (struct task_struct *)bpf_get_current_task());
	__u32 len;
	if (loop) {
		__u32 size = 0;
		len = loop_user_argv(e->data, &args, &size, &e->h.flags);
		len &= 2 * ARGV_MAX_LEN - 1;
		e->h.argv_len = len;
		e->h.argv_size = size;
	} else {
		__u32 next = 0, whole = 0;
		len = read_user_argv(e->data, &args, &next, &whole, &e->h.flags);
		/* at most ARGV_MAX_LEN; the mask (a no-op) shows the verifier the filename's room */
		len &= 2 * ARGV_MAX_LEN - 1;
		e->h.argv_len = len;
		/* The whole argv's size: what was read whole, plus the rest measured.
		 * `next` goes through the event (exit_status, unused by an exec), so the
		 * verifier checks the measuring loop once, not once per exit of the first. */
		e->h.argv_size = whole;
		e->h.exit_status = next;
		if ((e->h.flags & (EXEC_F_ARGV_CUT | EXEC_F_SIZE_UNKNOWN)) == EXEC_F_ARGV_CUT)
			e->h.argv_size += measure_user_argv(e->data, &args,
							    *(volatile __u32 *)&e->h.exit_status,
							    &e->h.flags);
		e->h.exit_status = 0;
	}
	long n = bpf_probe_read_user_str(e->data + len, FILENAME_MAX_LEN, (void *)args.filename);
	if (n < 0)
		n = 0;
	e->h.filename_len = n;
	submit(e, n + len, NULL);
	return 0;
}

/* An exit of the execve/execveat whose arguments sys_enter kept: reported
 * if it failed. */
static __always_inline int report_inflight(long ret, bool loop)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args *a = bpf_map_lookup_elem(&inflight, &tid);
	if (!a)
		return 0;
	struct exec_args args = *a;
	bpf_map_delete_elem(&inflight, &tid);
	if (ret >= 0)
		return 0;
	return report_failed(&args, ret, loop);
}

/* raw sys_exit, given the syscall's number `nr`: only execve/execveat's
 * numbers (in any ABI) look up the table, so the other syscalls cost a
 * register read and a few compares. */
static __always_inline int on_sys_exit(long nr, long ret, bool loop)
{
	if (!exec_nr(nr))
		return 0;
	return report_inflight(ret, loop);
}

/* syscalls:sys_enter_execve{,at}: native calls only (the kernel's syscall
 * tracepoints skip 32-bit compat ones). */
static __always_inline int on_tp_enter(struct trace_event_raw_sys_enter *ctx, bool at)
{
	struct exec_args a = {};
	if (at) {
		a.dirfd = (__s32)ctx->args[0];
		a.filename = ctx->args[1];
		a.argv = ctx->args[2];
	} else {
		a.dirfd = AT_FDCWD;
		a.filename = ctx->args[0];
		a.argv = ctx->args[1];
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&inflight, &tid, &a, BPF_ANY))
		count_drop(DROP_INFLIGHT);
	return 0;
}

static __always_inline int on_tp_exit(struct trace_event_raw_sys_exit *ctx, bool loop)
{
	return report_inflight(ctx->ret, loop);
}

/* fexit on an execve/execveat implementation: its argument is the caller's
 * registers, intact when the exec failed. No table. */
static __always_inline int on_fexit(struct pt_regs *regs, long ret, enum exec_abi abi, bool at,
				    bool loop)
{
	if (ret >= 0)
		return 0;
	struct exec_args a = {};
	regs_args(regs, abi, at, &a);
	return report_failed(&a, ret, loop);
}

/* --failed's cheaper tiers. The tracepoints attach through perf events
 * userspace opens (their ids come from tracefs). Every program that reports
 * failed execs comes twice: NAME walks argv with unrolled loops (any
 * kernel), NAME_loop with bpf_loop (5.17+, far less for the verifier);
 * userspace loads one. Separate programs: kernels without bpf_loop refuse a
 * callback's reference anywhere in a program, dead code included. */
SEC("tracepoint/syscalls/sys_enter_execve")
int tp_enter_execve(struct trace_event_raw_sys_enter *ctx) { return on_tp_enter(ctx, false); }
SEC("tracepoint/syscalls/sys_enter_execveat")
int tp_enter_execveat(struct trace_event_raw_sys_enter *ctx) { return on_tp_enter(ctx, true); }
#define TP_EXIT(name)                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                     \
	int tp_exit_##name(struct trace_event_raw_sys_exit *ctx) { return on_tp_exit(ctx, false); } \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                     \
	int tp_exit_##name##_loop(struct trace_event_raw_sys_exit *ctx) { return on_tp_exit(ctx, true); }

TP_EXIT(execve)
TP_EXIT(execveat)

/* fexit on each ABI's execve/execveat implementation; userspace sets each
 * one's target from the running kernel's BTF (names differ by arch and
 * version) and loads only those whose target exists. */
#define FEXIT(name, abi, at)                                                          \
	SEC("fexit") int BPF_PROG(fexit_##name, struct pt_regs *regs, long ret)             \
	{ return on_fexit(regs, ret, abi, at, false); }                                     \
	SEC("fexit") int BPF_PROG(fexit_##name##_loop, struct pt_regs *regs, long ret)      \
	{ return on_fexit(regs, ret, abi, at, true); }

FEXIT(execve, ABI_NATIVE, false)
FEXIT(execveat, ABI_NATIVE, true)
#if defined(__TARGET_ARCH_x86)
FEXIT(compat_execve, ABI_IA32, false)
FEXIT(compat_execveat, ABI_IA32, true)
#else
FEXIT(compat_execve, ABI_NATIVE32, false)
FEXIT(compat_execveat, ABI_NATIVE32, true)
#endif
/* x32's (on arm64 there is no target: never loaded, there to keep both
 * architectures' objects alike) */
FEXIT(x32_execve, ABI_NATIVE32, false)
FEXIT(x32_execveat, ABI_NATIVE32, true)

#endif
