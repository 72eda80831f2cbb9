// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The "names, innermost first" sections trailing an exec event (struct
 * exec_names in exec.h): what the cgroup walk (exec_cgroup.bpf.h) and the
 * path walks (exec_path.bpf.h) share. A walk keeps its offset in the names
 * and its depth in memory, not in registers: the verifier does not track
 * their range there, so every path through one level meets the next level in
 * the same state, and a walk is checked once per level, not once per
 * combination of name lengths (which 5.10 and 6.1 give up on). */
#ifndef EBPF_JSONL_EXEC_NAMES_BPF_H
#define EBPF_JSONL_EXEC_NAMES_BPF_H

/* Starts a section at `at` bytes into e->data; NULL if `at` is past `max`
 * (cannot happen: callers pass every earlier length's bound). The offset
 * lives in the event (exit_status, unused by an exec until submit). */
static __always_inline struct exec_names *names_open(struct exec_event *e, __u64 at, __u64 max)
{
	if (at > max)
		return NULL;
	struct exec_names *s = (void *)(e->data + at);
	s->depth = 0;
	e->h.exit_status = 0;
	return s;
}

/* Appends the kernel string at `src` as the next level's name, if it can be
 * read and fits whole (NAMES_MAX bytes in all, NAME_ROOM for one name);
 * false, with nothing kept, if not. */
static __always_inline bool names_push(struct exec_event *e, struct exec_names *s, const void *src)
{
	char *names = (char *)(s + 1);
	volatile __u32 *offp = &e->h.exit_status;
	volatile __u8 *depthp = &s->depth;
	__u32 off = *offp;
	if (off >= NAMES_MAX)
		return false;
	__u32 room = NAMES_MAX - off;
	if (room > NAME_ROOM)
		room = NAME_ROOM;
	/* Opaque to the compiler, so the masks below stay for the verifier. */
	__u32 o = off;
	barrier_var(o);
	barrier_var(room);
	long n = bpf_probe_read_kernel_str(names + (o & (NAMES_MAX - 1)),
					   room & (2 * NAME_ROOM - 1), src);
	/* n == room below a whole name's room: possibly cut, so not kept */
	if (n <= 0 || ((__u32)n == room && room < NAME_ROOM))
		return false;
	*offp = off + n; /* at most NAMES_MAX */
	*depthp += 1;
	return true;
}

/* Ends the section with `flags`; returns its bytes, header included. */
static __always_inline __u32 names_close(struct exec_event *e, struct exec_names *s, __u8 flags)
{
	__u32 off = *(volatile __u32 *)&e->h.exit_status & (2 * NAMES_MAX - 1);
	e->h.exit_status = 0;
	s->len_lo = off & 0xff;
	s->len_hi = off >> 8;
	s->flags = flags;
	return sizeof(*s) + off;
}

#endif
