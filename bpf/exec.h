/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Event layout shared by exec.bpf.c and Rust (through the generated skeleton types). */
#ifndef EBPF_JSONL_EXEC_H
#define EBPF_JSONL_EXEC_H

#define TASK_COMM_LEN 16
#define FILENAME_MAX_LEN 4096 /* PATH_MAX: getname() refuses longer paths */
#define ARGV_MAX_LEN 65536 /* hard ceiling of captured argv bytes (--max-argv-bytes) */

/* exec_event.flags */
#define EXEC_F_FDPATH 1 /* execveat(fd, ...): filename is "/dev/fd/N[/name]" */
#define EXEC_F_ARGV_FAULT 2 /* argv could not be read from the new stack */

/* Header of every exec event. */
struct exec_hdr {
	__u64 ts_boot_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 argc;
	__u32 argv_size; /* bytes of argv in the new process (arg_end - arg_start) */
	__u32 argv_len; /* bytes of argv captured below */
	__u16 filename_len;
	__u16 flags;
	char comm[TASK_COMM_LEN];
};

/* What goes into the ring buffer: the header, then `filename_len` bytes of
 * filename (NUL included), then `argv_len` bytes of NUL-separated argv. */
struct exec_event {
	struct exec_hdr h;
	char data[FILENAME_MAX_LEN + ARGV_MAX_LEN];
};

#endif
