// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's cwd and exe sections (see struct exec_names in exec.h): a
 * struct path's names, walked up the dentries at the event to the task's own
 * root (fs->root), across mount points, as getcwd() in the task resolves it
 * (bpf_d_path is not allowed in tracepoints). */
#ifndef EBPF_JSONL_EXEC_PATH_BPF_H
#define EBPF_JSONL_EXEC_PATH_BPF_H

#include "exec_names.bpf.h"

/* Past the argv, filename, cgroup and cwd sections' bounds, a section cannot
 * start: the bound each walk's writes are checked against. */
#define PATH_AT_MAX (ARGV_MAX_LEN + FILENAME_MAX_LEN + 2 * (sizeof(struct exec_names) + 2 * NAMES_MAX))

/* The struct mount a vfsmount is embedded in (fs/mount.h's real_mount). */
static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct vfsmount *mount_vfs(struct mount *m)
{
	return (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
}

/* What a level of the walk needs of a dentry: d_hash.pprev (NULL when
 * unhashed), d_parent and d_name. Adjacent in struct dentry (5.10 to 7.2),
 * so one read takes them all; field by field if a kernel ever moves them
 * (the offsets are constants at load time: the other branch is dead). */
struct dentry_level {
	void *pprev;
	struct dentry *parent;
	__u64 hash_len;
	const unsigned char *name;
};

static __always_inline void read_level(struct dentry *d, struct dentry_level *l)
{
	__u32 at = bpf_core_field_offset(d->d_hash.pprev);
	if (bpf_core_field_offset(d->d_parent) == at + 8 &&
	    bpf_core_field_offset(d->d_name.name) == at + 24) {
		bpf_probe_read_kernel(l, sizeof(*l), (void *)d + at);
	} else {
		l->pprev = BPF_CORE_READ(d, d_hash.pprev);
		l->parent = BPF_CORE_READ(d, d_parent);
		l->name = BPF_CORE_READ(d, d_name.name);
	}
}

/* Writes a path section at `at` bytes into e->data: the names from `p` up
 * to `root`, innermost first, with `flags` and those the walk finds, as the
 * kernel's d_path() and getcwd() show paths:
 * - deleted (" (deleted)"): `p`'s dentry is unlinked (d_unlinked: unhashed
 *   and not a root);
 * - a file of no filesystem tree, whose dentry is its own parent and which
 *   the kernel names with d_dname (memfd_create's files, named "memfd:NAME"):
 *   its one name, deleted, as readlink /proc/PID/exe shows it
 *   ("/memfd:NAME (deleted)");
 * - unreachable (getcwd()'s "(unreachable)"): the walk ends at the top of a
 *   mount tree, or at a disconnected dentry, without meeting `root`;
 * - cut: PATH_DEPTH_MAX levels (a mount crossing is one) or NAMES_MAX bytes
 *   of names and still not at a top.
 * Per level, two reads: the dentry's level, then its name. Returns the
 * bytes written. */
static __always_inline __u32 append_path(struct exec_event *e, __u64 at, const struct path *p,
					 const struct path *root, __u8 flags)
{
	struct exec_names *s = names_open(e, at, PATH_AT_MAX);
	if (!s)
		return 0;
	struct dentry *d = p->dentry;
	struct vfsmount *vm = p->mnt;
	if (!d || !vm)
		return names_close(e, s, NAMES_F_CUT);
	struct mount *m = real_mount(vm);
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	/* Found at the first level, kept in memory: every path through a level
	 * meets the next one in the same state (see exec_names.bpf.h). */
	volatile __u8 *found = &s->flags;
	*found = 0;
	flags |= NAMES_F_CUT;
	for (__u32 i = 0; i < PATH_DEPTH_MAX; i++) {
		if (d == root->dentry && vm == root->mnt) {
			flags &= ~NAMES_F_CUT;
			break;
		}
		if (d == mnt_root) {
			/* up to the mount point, in the parent mount */
			struct mount *parent = BPF_CORE_READ(m, mnt_parent);
			if (parent == m) {
				flags = (flags & ~NAMES_F_CUT) | NAMES_F_UNREACHABLE;
				break;
			}
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = parent;
			vm = mount_vfs(m);
			mnt_root = BPF_CORE_READ(vm, mnt_root);
			continue;
		}
		struct dentry_level l;
		read_level(d, &l);
		if (l.parent == d) {
			const struct dentry_operations *ops = BPF_CORE_READ(d, d_op);
			if (i == 0 && ops && BPF_CORE_READ(ops, d_dname)) {
				if (names_push(e, s, l.name))
					flags = (flags & ~NAMES_F_CUT) | NAMES_F_DELETED;
			} else {
				flags = (flags & ~NAMES_F_CUT) | NAMES_F_UNREACHABLE;
			}
			break;
		}
		if (i == 0 && !l.pprev)
			*found = NAMES_F_DELETED;
		if (!names_push(e, s, l.name))
			break;
		d = l.parent;
	}
	return names_close(e, s, flags | *found);
}

/* The cwd section, and for a successful exec (`exe` not NULL) the exe
 * section, of the current task. Returns the bytes written. */
static __always_inline __u32 append_paths(struct exec_event *e, __u64 at, struct file *exe)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	/* root, then pwd: adjacent in struct fs_struct, so one read */
	struct path paths[2] = {};
	struct path *root = &paths[0], *pwd = &paths[1];
	__u32 root_at = bpf_core_field_offset(fs->root);
	if (!fs) {
	} else if (bpf_core_field_offset(fs->pwd) == root_at + sizeof(*root)) {
		bpf_probe_read_kernel(paths, sizeof(paths), (void *)fs + root_at);
	} else {
		bpf_core_read(root, sizeof(*root), &fs->root);
		bpf_core_read(pwd, sizeof(*pwd), &fs->pwd);
	}
	__u32 n = append_path(e, at, pwd, root, 0);
	if (!exe)
		return n;
	struct path f = {};
	bpf_core_read(&f, sizeof(f), &exe->f_path);
	__u8 flags = BPF_CORE_READ(exe, f_inode, __i_nlink) ? 0 : NAMES_F_NOLINK;
	return n + append_path(e, at + n, &f, root, flags);
}

#endif
