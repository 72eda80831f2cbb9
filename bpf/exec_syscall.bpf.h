// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec.bpf.c's --failed hooks: which syscalls are execve/execveat, in every
 * ABI this architecture runs, and their arguments. */
#ifndef EBPF_JSONL_EXEC_SYSCALL_BPF_H
#define EBPF_JSONL_EXEC_SYSCALL_BPF_H

#if defined(__TARGET_ARCH_arm64)
#define NR_execve 221
#define NR_execveat 281
/* AArch32 tasks use the arm table. Their user registers say so: PSTATE.M[4]
 * (nRW) is set in AArch32 state; an architectural bit, unlike TIF_32BIT's
 * number, which the kernel may renumber. */
#define PSR_MODE32_BIT 0x10
#define NR_compat_execve 11
#define NR_compat_execveat 387
#else
#define NR_execve 59
#define NR_execveat 322
/* int $0x80 / sysenter (ia32): thread_info.status & TS_COMPAT, the i386 table. */
#define TS_COMPAT 0x0002
#define NR_compat_execve 11
#define NR_compat_execveat 358
/* x32: the syscall number carries __X32_SYSCALL_BIT. */
#define X32_SYSCALL_BIT 0x40000000
#define NR_x32_execve 520
#define NR_x32_execveat 545
#endif

#define AT_FDCWD -100

/* Is the current syscall a 32-bit compat one (ia32 on x86-64, AArch32 on
 * arm64)? Their numbers index another table: i386's 59 is not execve. */
static __always_inline bool compat_syscall(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(regs, pstate) & PSR_MODE32_BIT;
#else
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(t, thread_info.status) & TS_COMPAT;
#endif
}

/* The register layouts an execve/execveat's arguments come in. */
enum exec_abi {
	ABI_NATIVE,	/* native registers, 8-byte pointers */
	ABI_NATIVE32,	/* native registers, 4-byte pointers (x32, AArch32) */
	ABI_IA32,	/* i386's ebx, ecx, edx; 4-byte pointers */
};

/* execve's (or with `at`, execveat's) arguments from the caller's registers. */
static __always_inline void regs_args(struct pt_regs *regs, enum exec_abi abi, bool at,
				      struct exec_args *a)
{
	a->compat = abi != ABI_NATIVE;
#if defined(__TARGET_ARCH_x86)
	if (abi == ABI_IA32) {
		if (at) {
			a->dirfd = (__s32)BPF_CORE_READ(regs, bx);
			a->filename = (__u32)BPF_CORE_READ(regs, cx);
			a->argv = (__u32)BPF_CORE_READ(regs, dx);
		} else {
			a->dirfd = AT_FDCWD;
			a->filename = (__u32)BPF_CORE_READ(regs, bx);
			a->argv = (__u32)BPF_CORE_READ(regs, cx);
		}
		return;
	}
#endif
	/* native, x32, and AArch32 (r0-r2 are x0-x2: what the PARM macros read) */
	if (at) {
		a->dirfd = PT_REGS_PARM1_CORE_SYSCALL(regs);
		a->filename = PT_REGS_PARM2_CORE_SYSCALL(regs);
		a->argv = PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else {
		a->dirfd = AT_FDCWD;
		a->filename = PT_REGS_PARM1_CORE_SYSCALL(regs);
		a->argv = PT_REGS_PARM2_CORE_SYSCALL(regs);
	}
	if (a->compat) {
		a->filename = (__u32)a->filename;
		a->argv = (__u32)a->argv;
	}
}

/* Is `id` execve's or execveat's number in some ABI's table? A few compares,
 * no memory read: what sys_exit asks before it looks up the table. */
static __always_inline bool exec_nr(long id)
{
	return id == NR_execve || id == NR_execveat || id == NR_compat_execve ||
	       id == NR_compat_execveat
#if defined(__TARGET_ARCH_x86)
	       || id == (X32_SYSCALL_BIT | NR_x32_execve) ||
	       id == (X32_SYSCALL_BIT | NR_x32_execveat)
#endif
		;
}

/* The field of the user registers that holds the syscall's number. */
#if defined(__TARGET_ARCH_arm64)
#define REGS_SYSCALL_NR syscallno
#else
#define REGS_SYSCALL_NR orig_ax
#endif

/* execve/execveat's arguments, or false if syscall `id` is neither. Most
 * syscalls cost a few compares; the task (x86) or PSTATE (arm64) is read only
 * for execve's and execveat's numbers in either table (i386's 11 is also
 * native munmap). */
static __always_inline bool exec_call(struct pt_regs *regs, long id, struct exec_args *a)
{
	if (id == NR_execve || id == NR_execveat) {
		if (compat_syscall(regs))
			return false;
		regs_args(regs, ABI_NATIVE, id == NR_execveat, a);
#if defined(__TARGET_ARCH_x86)
	} else if (id == (X32_SYSCALL_BIT | NR_x32_execve) ||
		   id == (X32_SYSCALL_BIT | NR_x32_execveat)) {
		regs_args(regs, ABI_NATIVE32, id == (X32_SYSCALL_BIT | NR_x32_execveat), a);
#endif
	} else if (id == NR_compat_execve || id == NR_compat_execveat) {
		if (!compat_syscall(regs))
			return false;
#if defined(__TARGET_ARCH_x86)
		regs_args(regs, ABI_IA32, id == NR_compat_execveat, a);
#else
		regs_args(regs, ABI_NATIVE32, id == NR_compat_execveat, a);
#endif
	} else {
		return false;
	}
	return true;
}

#endif
