/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Event layout shared by exec.bpf.c and Rust (through the generated skeleton types). */
#ifndef EBPF_JSONL_EXEC_H
#define EBPF_JSONL_EXEC_H

/* Constants shared with Rust are enums, not #defines: enums reach the object's
 * BTF, so the generated skeleton exports them (skel::types) and Rust never
 * types a value again. TASK_COMM_LEN is vmlinux.h's. */

enum exec_limit {
	FILENAME_MAX_LEN = 4096, /* PATH_MAX: getname() refuses longer paths */
	ARGV_MAX_LEN = 65536, /* hard ceiling of captured argv bytes (--max-argv-bytes) */
	MAX_CGROUP_FILTERS = 8,
	MAX_UID_FILTERS = 64, /* distinct --uid (and --euid) values: each map's size */
	MAX_COMM_FILTERS = 64, /* distinct --comm values: the comms map's size */
};

/* exec_hdr.kind */
enum exec_kind {
	EV_EXEC = 1, /* an exec, successful (ret == 0) or failed (ret < 0) */
	EV_EXIT = 2, /* a whole process (thread group) ended */
};

/* exec_hdr.flags */
enum exec_flag {
	EXEC_F_FDPATH = 1, /* execveat(fd, ...): filename is "/dev/fd/N[/name]" */
	EXEC_F_ARGV_CUT = 2, /* argv could not be read whole (fault or cap) */
	EXEC_F_SIZE_UNKNOWN = 4, /* a failed exec's whole argv could not be measured */
	EXEC_F_SECUREEXEC = 8, /* the kernel's AT_SECURE: the exec raised privileges */
};

/* Slots of the per-CPU `drops` counters: events the kernel side could not make. */
enum drop_slot {
	DROP_RINGBUF = 0, /* the ring buffer had no room */
	DROP_INFLIGHT = 1, /* --failed: an execve could not be followed (table full) */
	DROP_PIDS = 2, /* --pid: a descendant could not be followed (table full) */
	DROP_EXITS = 3, /* --exits: an exit could not be decided once (table full) */
	DROP_EXEC_TIMES = 4, /* an exec's boot time could not be kept (exec_times full) */
	DROP_SLOTS = 5,
};

/* Header of every event. */
struct exec_hdr {
	__u64 ts_boot_ns;
	__u64 exec_ns; /* boot time of the exec that started this image (exec_id) */
	__u64 start_ns; /* boot time the process was forked */
	__u64 cgroup_id;
	__u64 parent_exec_ns; /* exec: boot time of the parent's exec (or fork) */
	enum exec_kind kind; /* 4 bytes, as a __u32 */
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid; /* effective ids (task->cred) */
	__u32 egid;
	__u32 auid; /* loginuid; (__u32)-1 when unset or the kernel has no audit */
	__u32 sessionid; /* (__u32)-1 likewise */
	__s32 ret; /* exec: 0 or -errno */
	__u32 exit_status; /* exit: the wait() status */
	__u32 mntns;
	__u32 pidns;
	__u32 argv_size; /* bytes of the whole argv, NULs included (arg_end - arg_start) */
	__u32 argv_len; /* bytes of argv captured below */
	__u16 filename_len;
	__u16 flags;
	char comm[TASK_COMM_LEN];
	char parent_comm[TASK_COMM_LEN]; /* exec: real_parent's group leader's */
	char tty[64]; /* exec: the controlling tty's name (tty_struct's, "pts3"); "" for none */
};

/* What goes into the ring buffer: the header, then `argv_len` bytes of
 * NUL-separated argv, then `filename_len` bytes of filename (NUL included),
 * then (exec events only) the sections below. */
struct exec_event {
	struct exec_hdr h;
	/* room for the verifier's bounds on each argv element's offset and size */
	char data[2 * ARGV_MAX_LEN + FILENAME_MAX_LEN];
};

/* The sections trailing an exec event (exec events only), each a "names,
 * innermost first" section: this header, then `len` bytes: one
 * NUL-terminated name per level, innermost first, walked up from a node at
 * the event, the root (which has no name) left out. In order:
 * - cgroup: the kernel's own names of the task's cgroup v2 and its ancestors
 *   (kernfs), so the path needs neither the cgroup to outlive the event nor
 *   CAP_DAC_READ_SEARCH in userspace; the root cgroup itself has none. Names
 *   whole in an event that reached the ring buffer are not sent again for
 *   the same cgroup until userspace bumps `cgroup_epoch` (its cache of names
 *   forgot): later events of that cgroup carry NAMES_F_SENT instead.
 * - cwd: the task's working directory (fs->pwd), up to the task's own root
 *   (fs->root), across mount points (exec_path.bpf.h).
 * - exe (successful execs only): the file executed (bprm->file), the same way.
 * A walk stops at the root, or after CGROUP_DEPTH_MAX / PATH_DEPTH_MAX levels
 * (a mount crossing is a level), or when the next name does not fit whole in
 * NAMES_MAX bytes: then the outermost levels are missing (NAMES_F_CUT). */
enum names_limit {
	NAMES_MAX = 4096, /* bytes of names a section carries */
	NAME_ROOM = 256, /* NAME_MAX + NUL: the longest name of a level */
	CGROUP_DEPTH_MAX = 32, /* levels a cgroup walk takes */
	PATH_DEPTH_MAX = 32, /* levels a cwd or exe walk takes */
};
/* exec_names.flags */
enum names_flag {
	NAMES_F_CUT = 1, /* the outermost levels did not fit (or could not be read) */
	NAMES_F_SENT = 2, /* cgroup: no names, an earlier event of this epoch carried them */
	NAMES_F_DELETED = 4, /* path: unlinked (d_unlinked), or a file of no filesystem tree */
	NAMES_F_UNREACHABLE = 8, /* path: not below the task's root */
	NAMES_F_NOLINK = 16, /* exe: the file has no link in any filesystem (i_nlink 0) */
};
struct exec_names {
	__u8 len_lo; /* len = len_lo | len_hi << 8; bytes, so any offset will do */
	__u8 len_hi;
	__u8 depth; /* levels in the names */
	__u8 flags;
};

/* An execve/execveat in progress (for failed-exec reports), keyed by tid. */
struct exec_args {
	__u64 filename;
	__u64 argv;
	__s32 dirfd;
	__u32 compat; /* a 32-bit ABI call (ia32, x32): argv holds 4-byte pointers */
};

/* A thread group whose exit was reported (--exits), until its leader is freed. */
struct exit_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns; /* the leader's start_boottime: tgids are reused */
};

/* Never read: one variable of this type (exec.bpf.c's `exec_exports`) puts
 * into the object's BTF the enums and types that no field or map names, so
 * the skeleton exports them to Rust. */
struct exec_exports {
	enum exec_limit limit;
	enum exec_flag flag;
	enum drop_slot drop;
	enum names_limit names_limit;
	enum names_flag names_flag;
	struct exec_names names;
};

#endif
