/* Test helper for the exec tests, compiled by testkit/build.rs with `cc -O2 -pthread`.
 *   int80 spoof MARKER            ia32 syscall 59 (not execve there) with native
 *                                 registers pointing at a fake "/fake/MARKER" exec
 *   int80 execve PATH ARGS...     ia32 execve (11) through int $0x80
 *   int80 execveat DIR NAME ARGS... ia32 execveat (358), relative to DIR
 *   execveat DIR NAME ARGS...     native execveat, relative to DIR; prints -errno
 *   threads N CODE                N threads named "worker" and the leader all
 *                                 leave at once with SYS_exit (the leader's CODE)
 *   leader-first N CODE           the leader leaves first (CODE), then the workers
 *   stuck-exec                    a thread's execve waits inside the kernel (its path
 *                                 is on a userfaultfd page) until a line on stdin;
 *                                 "stuck" on stdout says it waits; then it fails
 * 64-bit code: the ia32 calls use buffers below 4 GiB (MAP_32BIT). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static char *low;
static size_t low_used;

static void *low_alloc(size_t n)
{
	if (!low) {
		low = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (low == MAP_FAILED) {
			perror("mmap MAP_32BIT");
			exit(100);
		}
	}
	void *p = low + low_used;
	low_used += (n + 15) & ~(size_t)15;
	return p;
}

static char *low_str(const char *s)
{
	return strcpy(low_alloc(strlen(s) + 1), s);
}

/* argv as 4-byte pointers (ia32) */
static unsigned int *argv32(char **args, int n)
{
	unsigned int *v = low_alloc((n + 1) * 4);
	for (int i = 0; i < n; i++)
		v[i] = (unsigned int)(unsigned long)low_str(args[i]);
	v[n] = 0;
	return v;
}

static long int80(long nr, long b, long c, long d, long si, long di)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(b), "c"(c), "d"(d), "S"(si), "D"(di)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static volatile int go;
static int code;

static void *worker(void *arg)
{
	prctl(PR_SET_NAME, "worker");
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	while (!go)
		;
	syscall(SYS_exit, 0);
	return NULL;
}

static void *late_worker(void *arg)
{
	prctl(PR_SET_NAME, "worker");
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	/* until the leader is gone: getppid-free check, the leader's tid state */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", getpid());
	for (int i = 0; i < 2000; i++) {
		char buf[512] = {0};
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			break;
		read(fd, buf, sizeof(buf) - 1);
		close(fd);
		char *st = strrchr(buf, ')');
		if (st && (st[2] == 'Z' || st[2] == 'X'))
			break;
		usleep(1000);
	}
	syscall(SYS_exit, 0);
	return NULL;
}

static void threads(int n, int leader_first)
{
	static int ready;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, leader_first ? late_worker : worker, &ready))
			exit(101);
	}
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < n)
		;
	go = 1;
	syscall(SYS_exit, code);
}

static char *stuck_path;

static void *stuck_thread(void *arg)
{
	char *args[] = {"stuck", NULL};
	(void)arg;
	execve(stuck_path, args, args + 1);
	return NULL;
}

static int stuck_exec(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0) {
		perror("userfaultfd");
		return 103;
	}
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(uffd, UFFDIO_API, &api))
		return 104;
	stuck_path = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register reg = {
		.range = {.start = (unsigned long)stuck_path, .len = page},
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (stuck_path == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg))
		return 105;
	pthread_t t;
	if (pthread_create(&t, NULL, stuck_thread, NULL))
		return 106;
	struct pollfd p = {.fd = uffd, .events = POLLIN};
	if (poll(&p, 1, 20000) != 1)
		return 107;
	struct uffd_msg msg;
	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
		return 108;
	printf("stuck\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 109;
	/* a zero page: the path is "", so the execve fails with ENOENT */
	struct uffdio_zeropage zp = {.range = {.start = (unsigned long)stuck_path, .len = page}};
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &zp))
		return 110;
	pthread_join(t, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "stuck-exec"))
		return stuck_exec();
	if (argc >= 3 && !strcmp(argv[1], "int80")) {
		const char *what = argv[2];
		long r;
		if (!strcmp(what, "spoof") && argc == 4) {
			char fake[256];
			snprintf(fake, sizeof(fake), "/fake/%s", argv[3]);
			char *f = low_str(fake);
			unsigned long *v = low_alloc(3 * 8);
			v[0] = (unsigned long)f;
			v[1] = (unsigned long)low_str(argv[3]);
			v[2] = 0;
			/* ebx = NULL: i386's 59 (olduname) fails with EFAULT */
			r = int80(59, 0, 0, 0, (long)v, (long)f);
		} else if (!strcmp(what, "execve") && argc >= 4) {
			r = int80(11, (long)low_str(argv[3]), (long)argv32(argv + 3, argc - 3), 0, 0, 0);
		} else if (!strcmp(what, "execveat") && argc >= 6) {
			int dir = open(argv[3], O_RDONLY | O_DIRECTORY);
			if (dir < 0)
				return 102;
			r = int80(358, dir, (long)low_str(argv[4]), (long)argv32(argv + 5, argc - 5), 0,
				  0);
		} else {
			return 2;
		}
		printf("%ld\n", r);
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "execveat")) {
		int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dir < 0)
			return 102;
		long r = syscall(SYS_execveat, dir, argv[3], argv + 4, NULL, 0);
		printf("%ld\n", r < 0 ? -(long)errno : r);
		return 0;
	}
	/* bad-argv PATH ARG...: execve(PATH, [PATH, ARG..., <unreadable>]) fails with
	 * EFAULT; what is before the unreadable element is readable */
	if (argc >= 3 && !strcmp(argv[1], "bad-argv")) {
		char *v[argc + 1];
		for (int i = 2; i < argc; i++)
			v[i - 2] = argv[i];
		v[argc - 2] = (char *)1;
		v[argc - 1] = NULL;
		long r = syscall(SYS_execve, argv[2], v, NULL);
		printf("%ld\n", r < 0 ? -(long)errno : r);
		return 0;
	}
	if (argc == 4 && (!strcmp(argv[1], "threads") || !strcmp(argv[1], "leader-first"))) {
		code = atoi(argv[3]);
		threads(atoi(argv[2]), !strcmp(argv[1], "leader-first"));
	}
	return 2;
}
