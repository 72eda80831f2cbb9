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

/* Writes a path section at `at` bytes into e->data: the names from `p` up
 * to `root`, innermost first. Flags as the kernel's d_path() would show the
 * path: " (deleted)" for an unlinked dentry, and a file of no filesystem tree
 * (one whose dentry the kernel names with d_dname: memfd_create's files,
 * named "memfd:NAME") as its one name, deleted, as readlink /proc/PID/exe
 * shows it ("/memfd:NAME (deleted)"); unreachable, as getcwd() says, when the
 * walk ends at the top of a mount tree, or at a disconnected dentry, without
 * meeting `root`. Returns the bytes written. */
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
	const struct dentry_operations *ops = BPF_CORE_READ(d, d_op);
	if (ops && BPF_CORE_READ(ops, d_dname)) {
		if (!names_push(e, s, BPF_CORE_READ(d, d_name.name)))
			return names_close(e, s, NAMES_F_CUT);
		return names_close(e, s, flags | NAMES_F_DELETED);
	}
	/* d_unlinked(): unhashed and not a root */
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (!BPF_CORE_READ(d, d_hash.pprev) && up != d)
		flags |= NAMES_F_DELETED;

	struct mount *m = real_mount(vm);
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
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
		up = BPF_CORE_READ(d, d_parent);
		if (up == d) {
			flags = (flags & ~NAMES_F_CUT) | NAMES_F_UNREACHABLE;
			break;
		}
		if (!names_push(e, s, BPF_CORE_READ(d, d_name.name)))
			break;
		d = up;
	}
	return names_close(e, s, flags);
}

/* The cwd section, and for a successful exec (`exe` not NULL) the exe
 * section, of the current task. Returns the bytes written. */
static __always_inline __u32 append_paths(struct exec_event *e, __u64 at, struct file *exe)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct path root = {}, pwd = {};
	if (fs) {
		bpf_core_read(&root, sizeof(root), &fs->root);
		bpf_core_read(&pwd, sizeof(pwd), &fs->pwd);
	}
	__u32 n = append_path(e, at, &pwd, &root, 0);
	if (!exe)
		return n;
	struct path f = {};
	bpf_core_read(&f, sizeof(f), &exe->f_path);
	__u8 flags = BPF_CORE_READ(exe, f_inode, __i_nlink) ? 0 : NAMES_F_NOLINK;
	return n + append_path(e, at + n, &f, &root, flags);
}

#endif
