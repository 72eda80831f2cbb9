// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Empty programs for `ebpf-jsonl check`: the hook kinds exec does not use
 * (reported for information) and a ring buffer probe, each loaded and
 * attached on its own. exec's and xdp's own programs are checked for real. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_rb SEC(".maps");

/* An empty program in section `sec`: the context's type does not matter to
 * a program that never reads it. */
#define EMPTY(sec, name)              \
	SEC(sec) int name(void *ctx) \
	{                            \
		return 0;            \
	}

EMPTY("tracepoint/sched/sched_process_exec", probe_tracepoint)
EMPTY("kprobe/do_exit", probe_kprobe)
EMPTY("fentry/do_exit", probe_fentry)

/* Loads only if the kernel has BPF ring buffers (5.8+). */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(probe_ringbuf)
{
	bpf_ringbuf_output(&probe_rb, &ctx, 0, 0);
	return 0;
}
