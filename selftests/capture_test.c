// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot_capture(): what the image of a process holds, and every way the
 * call can fail.
 *
 * The test reads the images with a reader of its own (struct image, in
 * snapshot_image_util.h), written from the "Image format" part of
 * <linux/snapshot.h> and nothing else: it checks the header, the CRC32C of
 * the header and of every section, and the invariants the format states
 * (sorted tables, indices in range, extents inside their VMA and inside the
 * data area, the working set first), so every capture a test makes is also
 * a test of the format. The tests then compare what the image says with
 * what the process is: /proc/self/maps, getrlimit(), sigaction(), the bytes
 * in memory, PTRACE_GETREGS of a stopped child...
 *
 * Pages: word w of page i of a pattern with seed s holds s << 40 | i << 12 |
 * w (seed 0 stands for zeroes), so a page stored from the wrong address, or
 * stale, shows in its value.
 *
 * Files and images go under /scratch when it is a writable directory (a
 * disk in the test guest, whose st_dev has a non-zero major number), else
 * under /tmp. The test process closes every descriptor above 2 it inherits
 * (run_tests.sh leaves a pipe open on fd 4, which would make every capture
 * fail with SNAPSHOT_REASON_FD_PIPE), so the file table it captures is the
 * one the test builds.
 *
 * Whatever alters the process in a way that cannot be undone -- threads,
 * ptrace, an AIO context, dropped capabilities -- happens in a forked child
 * that reports back through a MAP_SHARED page (struct shared). Children
 * that serve as capture targets are killed by the teardown if a test ends
 * early.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <sys/auxv.h>
#include <sys/capability.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <asm/prctl.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"
#include "snapshot_image_util.h"

static_assert(sizeof(struct snapshot_capture_args) ==
	      SNAPSHOT_CAPTURE_ARGS_SIZE_VER0, "capture args size");
static_assert(sizeof(struct snapshot_image_regs) ==
	      sizeof(struct user_regs_struct), "regs are user_regs_struct");

#ifndef SA_RESTORER
#define SA_RESTORER	0x04000000
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM	0x80000000U
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK	18
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT	0x01
#endif
#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS	40
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

/* The kernel's O_LARGEFILE: user space on x86_64 defines it as 0. */
#define K_O_LARGEFILE	0100000

/* The open flags <linux/snapshot.h> says struct snapshot_image_fd keeps. */
#define FD_DOC_FLAGS	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | \
			 O_NOATIME | O_SYNC | O_DSYNC | O_PATH)

/* What the entry code puts in ax before a system call runs: -ENOSYS. */
#define K_ENTRY_AX		(-38LL)

/* The kernel's errno values for restartable system calls. */
#define K_ERESTARTSYS		512
#define K_ERESTARTNOINTR	513
#define K_ERESTARTNOHAND	514
#define K_ERESTART_RESTARTBLOCK	516

#define USER_SEL_CS	0x33
#define USER_SEL_SS	0x2b
/* The syscall instruction, 0f 05, read as a little-endian u16. */
#define SYSCALL_INSN	0x050f

/* Pattern seeds, at most 24 bits. */
#define FILE_SEED	0xf11e00ULL	/* the contents of mapped files */
#define TARGET_SEED	0x7a76e7ULL	/* a capture target's mapping */
#define REGION_SEED	0x4e6100ULL	/* plus a test's own number */

static unsigned long psz;	/* the page size */

/*
 * Patterns.
 */

/* The first word of the page at @p that is not page @page of @seed, or -1. */
static long pattern_diff(const void *p, __u64 seed, unsigned long page)
{
	const unsigned long words = psz / sizeof(__u64);
	const __u64 *w = p;
	unsigned long j;

	for (j = 0; j < words; j++)
		if (w[j] != snapshot_pattern(seed, page, j))
			return j;
	return -1;
}

/* Read the word at @p: the access happens, its value is not used. */
static void touch_word(const void *p)
{
	__u64 v = __atomic_load_n((const __u64 *)p, __ATOMIC_RELAXED);

	__asm__ volatile("" : : "r" (v));
}

/*
 * Small system call wrappers.
 */

static long sys_capture(const struct snapshot_capture_args *args)
{
	return snapshot_syscall(__NR_snapshot_capture, args, sizeof(*args));
}

static int sys_pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

static void close_from(unsigned int first)
{
	unsigned int fd;

	if (!syscall(SYS_close_range, first, ~0U, 0))
		return;
	for (fd = first; fd < 4096; fd++)
		close(fd);
}

static void nap_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
}

static __u64 now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Load the image in @fd, which must be valid. */
static void image_open(struct __test_metadata *_metadata, struct image *img,
		       int fd)
{
	bool ok = image_load(img, fd);

	ASSERT_TRUE(ok) TH_LOG("invalid image: %s", img->why);
}

static const struct snapshot_image_vma *
image_vma_at(const struct image *img, unsigned long addr)
{
	__u32 i;

	for (i = 0; i < img->nr_vmas; i++)
		if (addr >= img->vmas[i].start && addr < img->vmas[i].end)
			return &img->vmas[i];
	return NULL;
}

static __u32 image_vma_index(const struct image *img,
			     const struct snapshot_image_vma *v)
{
	return v - img->vmas;
}

static const struct snapshot_image_extent *
image_extent_at(const struct image *img, unsigned long addr)
{
	__u32 lo = 0, hi = img->nr_extents, mid;
	const struct snapshot_image_extent *e;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		e = &img->extents[mid];
		if (addr < e->addr)
			hi = mid;
		else if (addr >= e->addr + e->len)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

/* Extents of the VMA @v. */
static unsigned long image_vma_extents(const struct image *img,
				       const struct snapshot_image_vma *v)
{
	unsigned long n = 0;
	__u32 i, idx = image_vma_index(img, v);

	for (i = 0; i < img->nr_extents; i++)
		n += img->extents[i].vma == idx;
	return n;
}

static const struct snapshot_image_file *
image_file(const struct image *img, __u32 index)
{
	return index < img->nr_files ? &img->files[index] : NULL;
}

static const struct snapshot_image_fd *image_fd(const struct image *img,
						int fd)
{
	__u32 i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return &img->fds[i];
	return NULL;
}

static char page_buf[1 << 16];

/*
 * The stored page at @addr into @buf: 1, or 0 if the image does not store
 * it, or -errno.
 */
static int image_page(const struct image *img, unsigned long addr, void *buf)
{
	const struct snapshot_image_extent *e = image_extent_at(img, addr);

	if (!e)
		return 0;
	return read_all(img->fd, buf, psz, e->data_off + (addr - e->addr)) ?:
	       1;
}

/*
 * The page at @addr is stored holding page @page of @seed's pattern (seed
 * 0: zeroes), or, if !@stored, is not stored.
 */
static void check_page(struct __test_metadata *_metadata,
		       const struct image *img, const char *what,
		       unsigned long addr, bool stored, __u64 seed,
		       unsigned long page)
{
	int ret = image_page(img, addr, page_buf);
	long word;

	ASSERT_LE(0, ret) TH_LOG("%s: read the page at %#lx: %s", what, addr,
				 strerror(-ret));
	ASSERT_EQ(stored, ret == 1)
		TH_LOG("%s: the page at %#lx is %s, it should %sbe", what,
		       addr, ret ? "stored" : "not stored",
		       stored ? "" : "not ");
	if (!stored)
		return;
	word = pattern_diff(page_buf, seed, page);
	ASSERT_EQ(-1, word)
		TH_LOG("%s: page at %#lx, word %ld: %#llx, expected %#llx",
		       what, addr, word,
		       (unsigned long long)((__u64 *)page_buf)[word],
		       (unsigned long long)snapshot_pattern(seed, page, word));
}

/*
 * /proc/PID/maps, parsed into a static table (reading it allocates
 * nothing, so it does not change what it reads).
 */

struct maps_entry {
	unsigned long start, end, offset, inode;
	unsigned int major, minor;
	char perms[8];
	char name[256];
};

#define MAPS_MAX	(256 * 1024)
#define MAPS_ENTRIES	2048

static char maps_text[MAPS_MAX];
static struct maps_entry maps[MAPS_ENTRIES];
static unsigned int nr_maps;

static int maps_load(pid_t pid)
{
	char path[64], *line, *nl;
	struct maps_entry *m;
	size_t len = 0;
	ssize_t n;
	int fd, pos;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, maps_text + len, sizeof(maps_text) - 1 - len);
		if (n > 0)
			len += n;
	} while (n > 0 && len < sizeof(maps_text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if (len == sizeof(maps_text) - 1)
		return -EFBIG;
	maps_text[len] = '\0';
	nr_maps = 0;
	for (line = maps_text; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (nr_maps == MAPS_ENTRIES)
			return -EFBIG;
		m = &maps[nr_maps];
		pos = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &m->start,
			   &m->end, m->perms, &m->offset, &m->major,
			   &m->minor, &m->inode, &pos) < 7)
			return -EINVAL;
		snprintf(m->name, sizeof(m->name), "%s", pos ? line + pos : "");
		nr_maps++;
	}
	return 0;
}

static const struct maps_entry *maps_at(unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < nr_maps; i++)
		if (addr >= maps[i].start && addr < maps[i].end)
			return &maps[i];
	return NULL;
}

static const struct maps_entry *maps_named(const char *name)
{
	unsigned int i;

	for (i = 0; i < nr_maps; i++)
		if (!strcmp(maps[i].name, name))
			return &maps[i];
	return NULL;
}

/* "rwxp" / "rwxs" of an image VMA. */
static void vma_perms(const struct snapshot_image_vma *v, char *perms)
{
	perms[0] = v->prot & PROT_READ ? 'r' : '-';
	perms[1] = v->prot & PROT_WRITE ? 'w' : '-';
	perms[2] = v->prot & PROT_EXEC ? 'x' : '-';
	perms[3] = v->flags & SNAPSHOT_VMA_SHARED ? 's' : 'p';
	perms[4] = '\0';
}

/*
 * The image's VMAs are the lines of /proc/PID/maps (loaded with maps_load()
 * after the capture), but for [vsyscall], which is no VMA, and for the
 * start of [stack], which may have moved down since the capture: same
 * range, permissions, and a kind that fits the name.
 */
static void check_vmas_are_maps(struct __test_metadata *_metadata,
				const struct image *img)
{
	const struct snapshot_image_file *f;
	const struct snapshot_image_vma *v;
	const struct maps_entry *m;
	unsigned int i, n = 0;
	char perms[8];
	bool stack;

	for (i = 0; i < nr_maps; i++) {
		m = &maps[i];
		if (!strcmp(m->name, "[vsyscall]"))
			continue;
		ASSERT_LT(n, img->nr_vmas)
			TH_LOG("maps line %lx-%lx %s is not in the image",
			       m->start, m->end, m->name);
		v = &img->vmas[n++];
		stack = !strcmp(m->name, "[stack]");
		ASSERT_TRUE(v->end == m->end &&
			    (v->start == m->start ||
			     (stack && v->start > m->start)))
			TH_LOG("VMA %u is %#llx-%#llx, maps says %lx-%lx %s",
			       n - 1, (unsigned long long)v->start,
			       (unsigned long long)v->end, m->start, m->end,
			       m->name);
		vma_perms(v, perms);
		ASSERT_EQ(0, strncmp(perms, m->perms, 4))
			TH_LOG("VMA %#llx-%#llx (%s): %s, maps says %s",
			       (unsigned long long)v->start,
			       (unsigned long long)v->end, m->name, perms,
			       m->perms);
		if (!strcmp(m->name, "[vdso]")) {
			ASSERT_EQ((__u32)SNAPSHOT_VMA_VDSO, v->kind);
		} else if (!strcmp(m->name, "[vvar]")) {
			ASSERT_EQ((__u32)SNAPSHOT_VMA_VVAR, v->kind);
		} else if (m->perms[3] == 's' && strlen(m->name) > 10 &&
			   !strcmp(m->name + strlen(m->name) - 10,
				   " (deleted)")) {
			ASSERT_EQ((__u32)SNAPSHOT_VMA_SHMEM, v->kind)
				TH_LOG("shared anonymous %lx-%lx", m->start,
				       m->end);
		} else if (m->name[0] == '/') {
			ASSERT_EQ((__u32)SNAPSHOT_VMA_FILE, v->kind)
				TH_LOG("%lx-%lx %s", m->start, m->end,
				       m->name);
			f = image_file(img, v->file);
			ASSERT_NE(NULL, f);
			ASSERT_STREQ(m->name, image_str(img, f->path));
			ASSERT_EQ((__u64)m->inode, f->ino);
			ASSERT_EQ((__u64)makedev(m->major, m->minor), f->dev)
				TH_LOG("%s: dev %#llx, maps says %x:%x",
				       m->name, (unsigned long long)f->dev,
				       m->major, m->minor);
			ASSERT_EQ((__u64)m->offset, v->pgoff);
		} else {
			ASSERT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind)
				TH_LOG("%lx-%lx \"%s\"", m->start, m->end,
				       m->name);
		}
	}
	ASSERT_EQ(n, img->nr_vmas)
		TH_LOG("%u maps lines, %u VMAs", n, img->nr_vmas);
}

/*
 * The fixture.
 */

/* What a forked child reports, in a MAP_SHARED page. */
struct shared {
	int ready;		/* the child is set up */
	int go;			/* the parent lets it go on */
	unsigned long addr;	/* an address the child chose */
	int fd;			/* a descriptor the child chose, or -1 */
	long ret, ret2;		/* what its calls returned */
	struct snapshot_reason reason;
	bool magic;		/* the image had the magic after the call */
	bool skip;		/* skip the test, for the reason in @msg */
	char msg[512];
	/* A file for the child; fork_child() leaves it as it is. */
	char path[PATH_MAX];
};

#define MAX_KIDS	8
#define MAX_FILES	6

FIXTURE(capture) {
	char dir[16];			/* /scratch or /tmp */
	char image_path[PATH_MAX];
	int image_fd;			/* open for reading and writing */
	char files[MAX_FILES][PATH_MAX];	/* to remove; "" if none */
	char mnt[PATH_MAX];		/* a tmpfs mount point, or "" */
	bool mounted;
	pid_t kids[MAX_KIDS];		/* children to kill, or 0 */
	struct shared *sh;
};

FIXTURE_SETUP(capture)
{
	struct stat st;
	bool scratch;

	SNAPSHOT_REQUIRE(return);

	psz = getpagesize();
	ASSERT_EQ(0xe3069283U, crc32c("123456789", 9))
		TH_LOG("the test's CRC32C is wrong");
	/* Descriptors the test did not open would end up in the images. */
	close_from(3);
	scratch = !stat("/scratch", &st) && S_ISDIR(st.st_mode) &&
		  !access("/scratch", W_OK);
	snprintf(self->dir, sizeof(self->dir), "%s",
		 scratch ? "/scratch" : "/tmp");
	snprintf(self->image_path, sizeof(self->image_path),
		 "%s/capture_test.%d.image", self->dir, getpid());
	self->image_fd = open(self->image_path,
			      O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, self->image_fd)
		TH_LOG("create %s: %s", self->image_path, strerror(errno));
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
}

/* In the parent, after the test process is gone. */
FIXTURE_TEARDOWN_PARENT(capture)
{
	unsigned int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (self->kids[i] > 0)
			kill(self->kids[i], SIGKILL);
	if (self->image_path[0])
		unlink(self->image_path);
	for (i = 0; i < MAX_FILES; i++)
		if (self->files[i][0])
			unlink(self->files[i]);
	if (self->mounted)
		umount2(self->mnt, MNT_DETACH);
	if (self->mnt[0])
		rmdir(self->mnt);
}

/*
 * Create the file @tag in the fixture's directory with @nr pages of @seed's
 * pattern; return it open for reading and writing, its path in *@path.
 */
static int new_file(struct __test_metadata *_metadata,
		    struct _test_data_capture *self, const char *tag,
		    unsigned long nr, __u64 seed, const char **path)
{
	unsigned long i;
	char *slot = NULL, dir[sizeof(self->dir)];
	int fd, err;

	for (i = 0; i < MAX_FILES && !slot; i++)
		if (!self->files[i][0])
			slot = self->files[i];
	ASSERT_NE(NULL, slot) TH_LOG("too many files");
	memcpy(dir, self->dir, sizeof(dir));
	snprintf(slot, PATH_MAX, "%s/capture_test.%d.%s", dir, getpid(), tag);
	fd = open(slot, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", slot, strerror(errno));
	for (i = 0; i < nr; i++) {
		snapshot_pattern_fill(page_buf, 1, seed, i);
		err = snapshot_write_all(fd, page_buf, psz, i * psz);
		ASSERT_EQ(0, err) TH_LOG("write %s: %s", slot, strerror(-err));
	}
	*path = slot;
	return fd;
}

/*
 * @nr pages mapped with @prot and @flags (from @fd at @off, or anonymous),
 * with an unmapped page on each side: a VMA of its own, that cannot merge
 * with a neighbour.
 */
static void *mmap_isolated(unsigned long nr, int prot, int flags, int fd,
			   off_t off)
{
	char *r, *p;

	r = mmap(NULL, (nr + 2) * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	p = mmap(r + psz, nr * psz, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		munmap(r, (nr + 2) * psz);
		return MAP_FAILED;
	}
	if (munmap(r, psz) || munmap(r + (nr + 1) * psz, psz))
		return MAP_FAILED;
	return p;
}

static char *map_isolated(struct __test_metadata *_metadata, unsigned long nr,
			  int prot, int flags, int fd, off_t off)
{
	char *p = mmap_isolated(nr, prot, flags, fd, off);

	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	return p;
}

/* Capture the calling process into @image_fd: 0 or -errno. */
static long capture_into(int image_fd, __u64 flags,
			 struct snapshot_reason *reason)
{
	struct snapshot_capture_args args = {
		.flags = flags,
		.image_fd = image_fd,
		.reason = (uintptr_t)reason,
	};

	return sys_capture(&args);
}

/* Capture the calling process into the fixture's image, and load it. */
static void capture_self(struct __test_metadata *_metadata,
			 struct _test_data_capture *self, __u64 flags,
			 struct image *img)
{
	struct snapshot_reason r = { .fd = -1 };
	long ret = capture_into(self->image_fd, flags, &r);

	ASSERT_EQ(0, ret)
		TH_LOG("snapshot_capture: %s (reason %u, fd %d, addr %#llx)",
		       strerror(-ret), r.code, r.fd,
		       (unsigned long long)r.addr);
	image_open(_metadata, img, self->image_fd);
}

/* Capture the process @pidfd refers to: 0 or -errno. */
static long capture_pidfd(int pidfd, __u64 flags, int image_fd,
			  struct snapshot_reason *reason)
{
	struct snapshot_capture_args args = {
		.flags = SNAPSHOT_CAPTURE_PIDFD | flags,
		.image_fd = image_fd,
		.pidfd = pidfd,
		.reason = (uintptr_t)reason,
	};

	return sys_capture(&args);
}

/* Capture process @pid: 0 or -errno. */
static long capture_pid(struct __test_metadata *_metadata, pid_t pid,
			__u64 flags, int image_fd,
			struct snapshot_reason *reason)
{
	int pidfd = sys_pidfd_open(pid);
	long ret;

	ASSERT_LE(0, pidfd) TH_LOG("pidfd_open: %s", strerror(errno));
	ret = capture_pidfd(pidfd, flags, image_fd, reason);
	close(pidfd);
	return ret;
}

/* Fill the image with bytes that are no image, to see what a call leaves. */
static void image_scribble(int fd)
{
	memset(page_buf, 0xa5, psz);
	if (ftruncate(fd, 0) || snapshot_write_all(fd, page_buf, psz, 0))
		abort();
}

/*
 * Children.
 */

static struct shared *child_sh;		/* in a child: where to report */

static __noreturn __printf(1, 2) void child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(child_sh->msg, sizeof(child_sh->msg), fmt, ap);
	va_end(ap);
	_exit(1);
}

static __noreturn __printf(1, 2) void child_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(child_sh->msg, sizeof(child_sh->msg), fmt, ap);
	va_end(ap);
	child_sh->skip = true;
	_exit(0);
}

static void track(struct _test_data_capture *self, pid_t pid, bool add)
{
	unsigned int i;

	for (i = 0; i < MAX_KIDS; i++) {
		if (add && !self->kids[i]) {
			self->kids[i] = pid;
			return;
		}
		if (!add && self->kids[i] == pid) {
			self->kids[i] = 0;
			return;
		}
	}
}

/* fork(): 0 in the child, which reports in self->sh. */
static pid_t fork_child(struct __test_metadata *_metadata,
			struct _test_data_capture *self)
{
	pid_t pid;

	memset(self->sh, 0, offsetof(struct shared, path));
	self->sh->fd = -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		child_sh = self->sh;
		return 0;
	}
	track(self, pid, true);
	return pid;
}

static int wait_for(pid_t pid, int *status, int options)
{
	pid_t r;

	do {
		r = waitpid(pid, status, options);
	} while (r < 0 && errno == EINTR);
	return r;
}

/* Wait for the child @pid to exit, which it must do with status 0. */
static void child_wait(struct __test_metadata *_metadata,
		       struct _test_data_capture *self, pid_t pid)
{
	int status = 0;
	pid_t r = wait_for(pid, &status, 0);

	track(self, pid, false);
	ASSERT_EQ(pid, r) TH_LOG("waitpid: %s", strerror(errno));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: %s (wait status %#x)",
		       self->sh->msg[0] ? self->sh->msg : "failed", status);
}

static void kill_kid(struct _test_data_capture *self, pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	wait_for(pid, &status, 0);
	track(self, pid, false);
}

/* What a capture target does once set up. */
enum target_mode {
	T_STOP,		/* raise(SIGSTOP) */
	T_PAUSE,	/* pause() */
	T_NANOSLEEP,	/* nanosleep() for an hour */
	T_LOCKWAIT,	/* F_SETLKW on sh->path, which the parent locked */
	T_SPIN,		/* loop in user space until sh->go */
	T_GETPPID,	/* call getppid() in a loop */
};

#define TARGET_PAGES	16

typedef void (*child_setup_t)(struct _test_data_capture *self,
			      struct shared *sh);

static __noreturn void target_main(struct _test_data_capture *self,
				   enum target_mode mode, child_setup_t setup)
{
	struct shared *sh = self->sh;
	struct timespec ts = { .tv_sec = 3600 };
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char *p;
	int fd = -1;

	close_from(3);
	prctl(PR_SET_NAME, "capture-target");
	p = mmap_isolated(TARGET_PAGES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		child_fail("mmap: %s", strerror(errno));
	snapshot_pattern_fill(p, TARGET_PAGES, TARGET_SEED, 0);
	sh->addr = (uintptr_t)p;
	if (setup)
		setup(self, sh);
	if (mode == T_LOCKWAIT) {
		fd = open(sh->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			child_fail("open %s: %s", sh->path, strerror(errno));
	}
	__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
	switch (mode) {
	case T_STOP:
		raise(SIGSTOP);
		break;
	case T_PAUSE:
		syscall(SYS_pause);
		break;
	case T_NANOSLEEP:
		syscall(SYS_nanosleep, &ts, NULL);
		break;
	case T_LOCKWAIT:
		syscall(SYS_fcntl, fd, F_SETLKW, &fl);
		break;
	case T_SPIN:
		while (!__atomic_load_n(&sh->go, __ATOMIC_RELAXED))
			;
		break;
	case T_GETPPID:
		while (!__atomic_load_n(&sh->go, __ATOMIC_RELAXED))
			syscall(SYS_getppid);
		break;
	}
	for (;;)
		pause();
}

/* Wait until the child @pid has set sh->ready. */
static void wait_ready(struct __test_metadata *_metadata,
		       struct _test_data_capture *self, pid_t pid)
{
	unsigned int i;
	int status;

	for (i = 0; i < 20000; i++) {
		if (__atomic_load_n(&self->sh->ready, __ATOMIC_SEQ_CST))
			return;
		if (wait_for(pid, &status, WNOHANG) == pid) {
			track(self, pid, false);
			ASSERT_TRUE(false)
				TH_LOG("child died: %s (status %#x)",
				       self->sh->msg, status);
		}
		nap_ms(1);
	}
	ASSERT_TRUE(false) TH_LOG("child %d not ready after 20 s", pid);
}

/* A child with TARGET_PAGES pages of TARGET_SEED at sh->addr. */
static pid_t spawn_target(struct __test_metadata *_metadata,
			  struct _test_data_capture *self,
			  enum target_mode mode, child_setup_t setup)
{
	pid_t pid = fork_child(_metadata, self);

	if (!pid)
		target_main(self, mode, setup);
	wait_ready(_metadata, self, pid);
	return pid;
}

/* Stop @pid (sending SIGSTOP if @send) and wait until it is stopped. */
static void stop_target(struct __test_metadata *_metadata, pid_t pid,
			bool send)
{
	int status = 0;

	if (send)
		ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, wait_for(pid, &status, WUNTRACED))
		TH_LOG("waitpid: %s", strerror(errno));
	ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP)
		TH_LOG("wait status %#x", status);
}

/*
 * /proc/PID/syscall: the system call @pid is blocked in (-1 if none,
 * LONG_MIN if it runs), its stack pointer and instruction pointer.
 */
static int proc_syscall(pid_t pid, long *nr, unsigned long *sp,
			unsigned long *pc)
{
	unsigned long a[6];
	char path[64], buf[512];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	err = snapshot_read_text(path, buf, sizeof(buf));
	if (err)
		return err;
	if (!strncmp(buf, "running", 7)) {
		*nr = LONG_MIN;
		return 0;
	}
	if (sscanf(buf, "%ld 0x%lx 0x%lx 0x%lx 0x%lx 0x%lx 0x%lx 0x%lx 0x%lx",
		   nr, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], sp, pc) == 9)
		return 0;
	if (sscanf(buf, "%ld 0x%lx 0x%lx", nr, sp, pc) == 3 && *nr < 0)
		return 0;
	return -EINVAL;
}

/* Wait until @pid sleeps in system call @want; return its ip. */
static unsigned long wait_in_syscall(struct __test_metadata *_metadata,
				     pid_t pid, long want)
{
	unsigned long sp = 0, pc = 0;
	unsigned int i;
	long nr = LONG_MIN;
	int err;

	for (i = 0; i < 20000; i++) {
		err = proc_syscall(pid, &nr, &sp, &pc);
		ASSERT_EQ(0, err)
			TH_LOG("/proc/%d/syscall: %s", pid, strerror(-err));
		if (nr == want)
			return pc;
		nap_ms(1);
	}
	ASSERT_EQ(want, nr) TH_LOG("child %d not in system call %ld", pid,
				   want);
	return 0;
}

/* The bytes at @addr in process @pid, from /proc/PID/mem. */
static int peek(pid_t pid, unsigned long addr, void *buf, size_t len)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = read_all(fd, buf, len, addr);
	close(fd);
	return err;
}

/* The 2 bytes at @addr in process @pid are a syscall instruction. */
static void check_syscall_insn(struct __test_metadata *_metadata, pid_t pid,
			       unsigned long addr)
{
	__u16 insn = 0;
	int err = peek(pid, addr, &insn, sizeof(insn));

	ASSERT_EQ(0, err) TH_LOG("read %#lx in %d: %s", addr, pid,
				 strerror(-err));
	ASSERT_EQ(SYSCALL_INSN, insn)
		TH_LOG("%#lx holds %02x %02x, not a syscall instruction",
		       addr, insn & 0xff, insn >> 8);
}

static const char * const reg_names[] = {
	"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
	"ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp",
	"ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
};

static_assert(ARRAY_SIZE(reg_names) * 8 == SNAPSHOT_IMAGE_REGS_SIZE_VER0,
	      "one name per register");

/* The image's registers are @want, register by register. */
static void check_regs(struct __test_metadata *_metadata,
		       const struct snapshot_image_regs *regs,
		       const struct user_regs_struct *want)
{
	const __u64 *a = (const __u64 *)regs;
	const __u64 *b = (const __u64 *)want;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(reg_names); i++) {
		ASSERT_EQ(b[i], a[i])
			TH_LOG("register %s: image %#llx, expected %#llx",
			       reg_names[i], (unsigned long long)a[i],
			       (unsigned long long)b[i]);
	}
}

/* The target's mapping is in the image, with its contents. */
static void check_target_memory(struct __test_metadata *_metadata,
				const struct image *img, unsigned long addr)
{
	const struct snapshot_image_vma *v = image_vma_at(img, addr);
	unsigned long i;

	ASSERT_NE(NULL, v) TH_LOG("no VMA at the target's %#lx", addr);
	ASSERT_EQ((__u64)addr, v->start);
	ASSERT_EQ((__u64)addr + TARGET_PAGES * psz, v->end);
	ASSERT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind);
	ASSERT_EQ((__u32)(PROT_READ | PROT_WRITE), v->prot);
	for (i = 0; i < TARGET_PAGES; i++)
		check_page(_metadata, img, "target", addr + i * psz, true,
			   TARGET_SEED, i);
}

/*
 * A self capture: the header, the task, signals, limits, registers.
 */

/* struct sigaction as rt_sigaction() takes it. */
struct k_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	__u64 mask;
};

static void usr1_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

/* Fields of /proc/self/stat, by number as proc(5) counts them, from 1. */
#define STAT_FIELDS	53

static int read_stat(unsigned long long *v)
{
	static char buf[4096];
	char *p, *end;
	int i, err;

	err = snapshot_read_text("/proc/self/stat", buf, sizeof(buf));
	if (err)
		return err;
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	memset(v, 0, STAT_FIELDS * sizeof(*v));
	p += 2;
	for (i = 3; i < STAT_FIELDS && p; i++) {
		v[i] = strtoull(p, &end, 10);
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	/* Fields 3 to 52 (exit_code). */
	return i == STAT_FIELDS ? 0 : -EINVAL;
}

static bool sig_bit(__u64 mask, int sig)
{
	return mask & (1ULL << (sig - 1));
}

TEST_F(capture, self_basics)
{
	static char altstack[65536];
	static __u64 auxv[1024];
	static const struct {
		int res;
		rlim_t cur, max;
	} limits[] = {
		{ RLIMIT_NOFILE, 777, 2048 },
		{ RLIMIT_CORE, 12345 * 4096, RLIM_INFINITY },
		{ RLIMIT_RTTIME, 5000000, 6000000 },
		{ RLIMIT_MSGQUEUE, 100000, 200000 },
	};
	struct snapshot_capture_args args = { .image_fd = self->image_fd };
	struct k_sigaction ka[NR_SIGNALS + 1];
	struct rlimit rl[NR_RLIMITS];
	unsigned long long st[STAT_FIELDS];
	char comm[17] = "", cwd[PATH_MAX], exe[PATH_MAX];
	const struct snapshot_image_vma *v;
	const struct snapshot_image_file *f;
	const struct snapshot_image_task *t;
	struct sigaction sa = { };
	struct stat exe_st;
	stack_t ss = {
		.ss_sp = altstack,
		.ss_size = sizeof(altstack),
		.ss_flags = SS_AUTODISARM,
	};
	unsigned long fs_base = 0, gs_base = 0, tid_addr = 0;
	unsigned long brk_now, local = 0;
	struct robust_list_head *robust = NULL;
	size_t robust_len = 0;
	unsigned int mxcsr, i, nr_auxv;
	__u64 blocked = 0, t0, t1, want_mask;
	sigset_t set;
	struct image img;
	int pers, fd, err;
	ssize_t n;
	long ret;

	/* Make the state distinctive. */
	ASSERT_EQ(0, prctl(PR_SET_NAME, "cap-basics"));
	ASSERT_EQ(0, prctl(PR_GET_NAME, comm));
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_NE(NULL, getcwd(cwd, sizeof(cwd)));
	umask(027);
	for (i = 0; i < ARRAY_SIZE(limits); i++) {
		struct rlimit r = { limits[i].cur, limits[i].max };

		ASSERT_EQ(0, setrlimit(limits[i].res, &r))
			TH_LOG("setrlimit(%d): %s", limits[i].res,
			       strerror(errno));
	}
	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGRTMIN + 2);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_NE(SIG_ERR, signal(SIGPIPE, SIG_IGN));
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGRTMIN + 5);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, raise(SIGUSR2));	/* blocked: stays pending */
	ASSERT_EQ(0, sigaltstack(&ss, NULL));
	/* Flush to zero and denormals are zero, on top of the default. */
	__builtin_ia32_ldmxcsr(0x1f80 | 0x8000 | 0x0040);
	mxcsr = __builtin_ia32_stmxcsr();

	/* What the kernel says, through the ordinary interfaces. */
	for (i = 1; i <= NR_SIGNALS; i++) {
		ASSERT_EQ(0, syscall(SYS_rt_sigaction, i, NULL, &ka[i], 8))
			TH_LOG("rt_sigaction(%u): %s", i, strerror(errno));
	}
	ASSERT_EQ(0, syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked,
			     8));
	for (i = 0; i < NR_RLIMITS; i++) {
		ret = prlimit(0, i, NULL, &rl[i]);
		ASSERT_EQ(0, ret)
			TH_LOG("getrlimit(%u): %s", i, strerror(errno));
	}
	ASSERT_EQ(0, syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base));
	ASSERT_EQ(0, syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_base));
	ASSERT_EQ(0, prctl(PR_GET_TID_ADDRESS, &tid_addr));
	ASSERT_EQ(0, syscall(SYS_get_robust_list, 0, &robust, &robust_len));
	pers = personality(0xffffffff);
	ASSERT_LE(0, pers);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	ASSERT_EQ(0, stat(exe, &exe_st));
	ASSERT_EQ(0, read_stat(st));
	fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = read(fd, auxv, sizeof(auxv));
	close(fd);
	ASSERT_LT(0, n);
	nr_auxv = n / sizeof(__u64);

	brk_now = (unsigned long)sbrk(0);
	t0 = now_ns(CLOCK_REALTIME);
	ret = sys_capture(&args);
	t1 = now_ns(CLOCK_REALTIME);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);

	/* The header. */
	EXPECT_EQ(SNAPSHOT_IMAGE_SELF, img.hdr.flags);
	EXPECT_EQ(0ULL, img.hdr.ws_size);
	EXPECT_TRUE(img.hdr.time_ns >= t0 && img.hdr.time_ns <= t1)
		TH_LOG("time_ns %llu outside [%llu, %llu]",
		       (unsigned long long)img.hdr.time_ns,
		       (unsigned long long)t0, (unsigned long long)t1);

	/* The task. */
	t = &img.task;
	EXPECT_STREQ(comm, t->comm);
	EXPECT_STREQ(cwd, image_str(&img, t->cwd));
	EXPECT_STREQ(exe, image_str(&img, t->exe));
	EXPECT_EQ(027U, t->umask);
	EXPECT_EQ((__u32)pers, t->personality);
	EXPECT_EQ(blocked, t->sigmask);
	want_mask = 1ULL << (SIGUSR2 - 1) | 1ULL << (SIGHUP - 1) |
		    1ULL << (SIGRTMIN + 5 - 1);
	EXPECT_EQ(want_mask, t->sigmask & want_mask);
	EXPECT_EQ(1ULL << (SIGUSR2 - 1), t->sigpending);
	EXPECT_EQ((__u64)(uintptr_t)altstack, t->sas_ss_sp);
	EXPECT_EQ((__u64)sizeof(altstack), t->sas_ss_size);
	EXPECT_EQ((__u32)SS_AUTODISARM, t->sas_ss_flags);
	EXPECT_EQ((__u64)tid_addr, t->clear_child_tid);
	EXPECT_EQ((__u64)(uintptr_t)robust, t->robust_list);
	EXPECT_EQ((__u64)robust_len, t->robust_list_len);
	if (__rseq_size) {
		EXPECT_EQ((__u64)(fs_base + __rseq_offset), t->rseq);
		EXPECT_EQ((__u32)RSEQ_SIG, t->rseq_sig);
		EXPECT_LE(32U, t->rseq_len);
	} else {
		EXPECT_EQ(0ULL, t->rseq);
		EXPECT_EQ(0U, t->rseq_len);
	}

	/* Signal dispositions: all 64 as rt_sigaction() reports them. */
	for (i = 1; i <= NR_SIGNALS; i++) {
		const struct snapshot_image_sigaction *s;

		s = &img.sigactions[i - 1];

		EXPECT_TRUE(s->handler == ka[i].handler &&
			    s->flags == ka[i].flags &&
			    s->restorer == ka[i].restorer &&
			    s->mask == ka[i].mask)
			TH_LOG("signal %u: %#llx/%#llx/%#llx/%#llx, not %#lx/%#lx/%#lx/%#llx",
			       i, (unsigned long long)s->handler,
			       (unsigned long long)s->flags,
			       (unsigned long long)s->restorer,
			       (unsigned long long)s->mask, ka[i].handler,
			       ka[i].flags, ka[i].restorer,
			       (unsigned long long)ka[i].mask);
	}
	EXPECT_EQ((__u64)(uintptr_t)usr1_handler,
		  img.sigactions[SIGUSR1 - 1].handler);
	EXPECT_EQ((__u64)(SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_RESTORER),
		  img.sigactions[SIGUSR1 - 1].flags);
	EXPECT_NE(0ULL, img.sigactions[SIGUSR1 - 1].restorer);
	want_mask = 1ULL << (SIGUSR2 - 1) | 1ULL << (SIGTERM - 1) |
		    1ULL << (SIGRTMIN + 2 - 1);
	EXPECT_EQ(want_mask, img.sigactions[SIGUSR1 - 1].mask);
	/* SIG_IGN */
	EXPECT_EQ(1ULL, img.sigactions[SIGPIPE - 1].handler);
	EXPECT_TRUE(sig_bit(img.task.sigmask, SIGUSR2));

	/* Resource limits: all 16 as getrlimit() reports them. */
	for (i = 0; i < NR_RLIMITS; i++) {
		EXPECT_TRUE(img.rlimits[i].cur == rl[i].rlim_cur &&
			    img.rlimits[i].max == rl[i].rlim_max)
			TH_LOG("rlimit %u: image %#llx/%#llx, getrlimit %#lx/%#lx",
			       i, (unsigned long long)img.rlimits[i].cur,
			       (unsigned long long)img.rlimits[i].max,
			       rl[i].rlim_cur, rl[i].rlim_max);
	}
	EXPECT_EQ(777ULL, img.rlimits[RLIMIT_NOFILE].cur);
	EXPECT_EQ(~0ULL, img.rlimits[RLIMIT_CORE].max);

	/* Registers: a return from this system call with SNAPSHOT_RESUMED. */
	EXPECT_EQ((__u64)SNAPSHOT_RESUMED, img.regs.ax);
	EXPECT_EQ(~0ULL, img.regs.orig_ax);
	EXPECT_EQ(SYSCALL_INSN, *(const __u16 *)(uintptr_t)(img.regs.ip - 2))
		TH_LOG("ip %#llx does not follow a syscall instruction",
		       (unsigned long long)img.regs.ip);
	EXPECT_EQ((__u64)(uintptr_t)&args, img.regs.di);
	EXPECT_EQ((__u64)sizeof(args), img.regs.si);
	EXPECT_EQ((__u64)USER_SEL_CS, img.regs.cs);
	EXPECT_EQ((__u64)USER_SEL_SS, img.regs.ss);
	EXPECT_EQ((__u64)fs_base, img.regs.fs_base);
	EXPECT_EQ((__u64)gs_base, img.regs.gs_base);
	EXPECT_TRUE(!!(img.regs.flags & 0x200));	/* IF */
	v = image_vma_at(&img, (uintptr_t)&local);
	ASSERT_NE(NULL, v) TH_LOG("no VMA holds the stack");
	EXPECT_TRUE(img.regs.sp >= v->start && img.regs.sp < v->end)
		TH_LOG("sp %#llx outside the stack %#llx-%#llx",
		       (unsigned long long)img.regs.sp,
		       (unsigned long long)v->start,
		       (unsigned long long)v->end);
	EXPECT_LE(576ULL, img.xsave_size);
	EXPECT_EQ(mxcsr, *(const __u32 *)(img.xsave + 24))
		TH_LOG("MXCSR in the XSAVE area: %#x, expected %#x",
		       *(const __u32 *)(img.xsave + 24), mxcsr);

	/* The memory map's fields. */
	EXPECT_EQ((__u64)st[26], img.mm.start_code);
	EXPECT_EQ((__u64)st[27], img.mm.end_code);
	EXPECT_EQ((__u64)st[28], img.mm.start_stack);
	EXPECT_EQ((__u64)st[45], img.mm.start_data);
	EXPECT_EQ((__u64)st[46], img.mm.end_data);
	EXPECT_EQ((__u64)st[47], img.mm.start_brk);
	EXPECT_EQ((__u64)st[48], img.mm.arg_start);
	EXPECT_EQ((__u64)st[49], img.mm.arg_end);
	EXPECT_EQ((__u64)st[50], img.mm.env_start);
	EXPECT_EQ((__u64)st[51], img.mm.env_end);
	EXPECT_EQ((__u64)brk_now, img.mm.brk);
	EXPECT_EQ((__u64)getauxval(AT_SYSINFO_EHDR), img.mm.vdso);
	EXPECT_NE(0ULL, img.mm.mmap_base);
	EXPECT_EQ(0ULL, img.mm.mmap_base % psz);
	EXPECT_EQ(0U, img.mm.flags);
	EXPECT_EQ(nr_auxv, img.nr_auxv);
	EXPECT_EQ(0, memcmp(auxv, img.auxv,
			    (nr_auxv < img.nr_auxv ? nr_auxv : img.nr_auxv) *
			    sizeof(__u64)))
		TH_LOG("the auxiliary vector differs from /proc/self/auxv");

	/* The program text: a private file mapping, by reference only. */
	v = image_vma_at(&img, (uintptr_t)pattern_diff);
	ASSERT_NE(NULL, v) TH_LOG("no VMA holds the program text");
	EXPECT_EQ((__u32)SNAPSHOT_VMA_FILE, v->kind);
	EXPECT_EQ((__u32)(PROT_READ | PROT_EXEC), v->prot);
	EXPECT_EQ(0ULL, v->flags & SNAPSHOT_VMA_SHARED);
	EXPECT_EQ(0UL, image_vma_extents(&img, v))
		TH_LOG("pages of the unmodified program text are stored");
	f = image_file(&img, v->file);
	ASSERT_NE(NULL, f);
	EXPECT_STREQ(exe, image_str(&img, f->path));
	EXPECT_EQ((__u64)exe_st.st_ino, f->ino);
	EXPECT_EQ((__u64)exe_st.st_dev, f->dev)
		TH_LOG("dev %#llx; stat() says %#llx (%u:%u)",
		       (unsigned long long)f->dev,
		       (unsigned long long)exe_st.st_dev,
		       major(exe_st.st_dev), minor(exe_st.st_dev));
	EXPECT_EQ((__u64)exe_st.st_size, f->size);
	EXPECT_EQ((__u32)exe_st.st_mode, f->mode);
	EXPECT_EQ((__s64)exe_st.st_mtim.tv_sec, f->mtime_sec);
	EXPECT_EQ((__u32)exe_st.st_mtim.tv_nsec, f->mtime_nsec);

	/* The image is not in its own file table; standard streams are. */
	EXPECT_EQ(NULL, image_fd(&img, self->image_fd));
	for (i = 0; i < 3; i++) {
		const struct snapshot_image_fd *d = image_fd(&img, i);

		if (fcntl(i, F_GETFD) < 0) {
			EXPECT_EQ(NULL, d);
			continue;
		}
		ASSERT_NE(NULL, d) TH_LOG("fd %u is not in the image", i);
		EXPECT_EQ((__u32)SNAPSHOT_FD_STDIO, d->kind);
	}

	err = maps_load(0);
	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));
	check_vmas_are_maps(_metadata, &img);
	image_free(&img);
}

/*
 * The reader's own check: one flipped bit in the header, in the section
 * table or in a section makes a checksum fail, so the checks every test
 * makes of the images it loads can fail.
 */
TEST_F(capture, reader_detects_corruption)
{
	const struct snapshot_image_section *vmas;
	struct image img;
	__u64 where[3];
	unsigned int i;
	char what[sizeof(img.why)];
	__u8 byte;
	bool ok;

	capture_self(_metadata, self, 0, &img);
	vmas = &img.sec[SNAPSHOT_SECTION_VMAS];
	where[0] = offsetof(struct snapshot_image_header, time_ns);
	where[1] = img.hdr.sections_off + 8;	/* a section's offset */
	where[2] = vmas->offset + vmas->size / 2;
	image_free(&img);
	for (i = 0; i < ARRAY_SIZE(where); i++) {
		ASSERT_EQ(1, pread(self->image_fd, &byte, 1, where[i]));
		byte ^= 0x10;
		ASSERT_EQ(1, pwrite(self->image_fd, &byte, 1, where[i]));
		ok = image_load(&img, self->image_fd);
		snprintf(what, sizeof(what), "%s", img.why);
		image_free(&img);
		EXPECT_FALSE(ok) TH_LOG("bit flipped at %llu: image accepted",
					(unsigned long long)where[i]);
		EXPECT_NE(NULL, strstr(what, "csum"))
			TH_LOG("bit flipped at %llu: %s",
			       (unsigned long long)where[i], what);
		byte ^= 0x10;
		ASSERT_EQ(1, pwrite(self->image_fd, &byte, 1, where[i]));
	}
	image_open(_metadata, &img, self->image_fd);
	image_free(&img);
}

/* The main stack, the vDSO and its data pages. */
TEST_F(capture, self_special_vmas)
{
	const struct snapshot_image_vma *v;
	const struct maps_entry *m;
	unsigned long local = 0;
	struct image img;
	int err;

	capture_self(_metadata, self, 0, &img);
	err = maps_load(0);
	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));

	v = image_vma_at(&img, (uintptr_t)&local);
	ASSERT_NE(NULL, v);
	EXPECT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind);
	EXPECT_TRUE(!!(v->flags & SNAPSHOT_VMA_GROWSDOWN))
		TH_LOG("stack flags %#llx", (unsigned long long)v->flags);
	m = maps_named("[stack]");
	ASSERT_NE(NULL, m);
	EXPECT_EQ((__u64)m->end, v->end);
	EXPECT_NE(0UL, image_vma_extents(&img, v));

	v = image_vma_at(&img, getauxval(AT_SYSINFO_EHDR));
	ASSERT_NE(NULL, v) TH_LOG("no VMA at the vDSO");
	EXPECT_EQ((__u32)SNAPSHOT_VMA_VDSO, v->kind);
	EXPECT_EQ(img.mm.vdso, v->start);
	EXPECT_EQ(SNAPSHOT_IMAGE_NONE, v->file);
	EXPECT_EQ(0UL, image_vma_extents(&img, v));
	m = maps_named("[vdso]");
	ASSERT_NE(NULL, m);
	EXPECT_EQ((__u64)m->start, v->start);
	EXPECT_EQ((__u64)m->end, v->end);

	m = maps_named("[vvar]");
	ASSERT_NE(NULL, m) TH_LOG("no [vvar] in /proc/self/maps");
	v = image_vma_at(&img, m->start);
	ASSERT_NE(NULL, v) TH_LOG("no VMA at [vvar]");
	EXPECT_EQ((__u32)SNAPSHOT_VMA_VVAR, v->kind);
	EXPECT_EQ((__u64)m->start, v->start);
	EXPECT_EQ((__u64)m->end, v->end);
	EXPECT_EQ(0UL, image_vma_extents(&img, v));

	m = maps_named("[heap]");
	if (m) {
		v = image_vma_at(&img, m->start);
		ASSERT_NE(NULL, v);
		EXPECT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind);
		EXPECT_EQ((__u64)m->start, v->start);
		EXPECT_TRUE(img.mm.start_brk <= v->start + 0 &&
			    img.mm.brk <= v->end)
			TH_LOG("heap %#llx-%#llx, brk %#llx-%#llx",
			       (unsigned long long)v->start,
			       (unsigned long long)v->end,
			       (unsigned long long)img.mm.start_brk,
			       (unsigned long long)img.mm.brk);
	}
	image_free(&img);
}

/*
 * Every kind of mapping: {none, R, RW, RX} x {private, shared} x
 * {anonymous, file}, MX_PAGES pages each, written as mx_plan says before
 * the protection is set.
 */

#define MX_PAGES	6

enum mx_action { MX_WRITE, MX_UNTOUCHED, MX_ZERO, MX_READ };

static const enum mx_action mx_plan[MX_PAGES] = {
	MX_WRITE, MX_UNTOUCHED, MX_ZERO, MX_WRITE, MX_READ, MX_WRITE,
};

struct mx_mapping {
	char *addr;
	int prot;
	bool shared, file;
	__u64 seed;
	unsigned long file_page;	/* offset in the file, in pages */
	char name[48];
};

TEST_F(capture, mapping_matrix)
{
	static const int prots[] = {
		PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_EXEC,
	};
	static const char * const prot_names[] = { "none", "R", "RW", "RX" };
	const unsigned long slot = MX_PAGES + 1, nr_maps = 16;
	const struct snapshot_image_vma *v;
	const struct snapshot_image_file *f;
	const struct maps_entry *me;
	struct mx_mapping mx[16], *m;
	unsigned long i, k, files = 0;
	__u32 file_index = SNAPSHOT_IMAGE_NONE;
	char *area, perms[8], what[96];
	const char *path;
	struct stat fst;
	struct image img;
	bool stored;
	int fd, err;

	fd = new_file(_metadata, self, "matrix", 8 * MX_PAGES, FILE_SEED,
		      &path);
	area = mmap(NULL, (nr_maps * slot + 1) * psz, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, munmap(area, (nr_maps * slot + 1) * psz));
	for (i = 0; i < nr_maps; i++) {
		m = &mx[i];
		m->prot = prots[i % 4];
		m->shared = i / 4 % 2;
		m->file = i / 8;
		m->seed = REGION_SEED + 0x100 + i;
		m->file_page = m->file ? files++ * MX_PAGES : 0;
		snprintf(m->name, sizeof(m->name), "%s %s %s",
			 prot_names[i % 4], m->shared ? "shared" : "private",
			 m->file ? "file" : "anonymous");
		m->addr = area + (1 + i * slot) * psz;
		ASSERT_EQ(m->addr,
			  mmap(m->addr, MX_PAGES * psz, PROT_READ | PROT_WRITE,
			       (m->shared ? MAP_SHARED : MAP_PRIVATE) |
			       (m->file ? 0 : MAP_ANONYMOUS) |
			       MAP_FIXED_NOREPLACE,
			       m->file ? fd : -1, m->file_page * psz))
			TH_LOG("%s: mmap: %s", m->name, strerror(errno));
		for (unsigned long pg = 0; pg < MX_PAGES; pg++) {
			char *p = m->addr + pg * psz;

			switch (mx_plan[pg]) {
			case MX_WRITE:
				snapshot_pattern_fill(p, 1, m->seed, pg);
				break;
			case MX_ZERO:
				memset(p, 0, psz);
				break;
			case MX_READ:
				touch_word(p);
				break;
			case MX_UNTOUCHED:
				break;
			}
		}
		ASSERT_EQ(0, mprotect(m->addr, MX_PAGES * psz, m->prot))
			TH_LOG("%s: mprotect: %s", m->name, strerror(errno));
	}

	capture_self(_metadata, self, 0, &img);
	ASSERT_EQ(0, fstat(fd, &fst));
	err = maps_load(0);
	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));

	/* Shared anonymous memory last: private file mappings first. */
	for (k = 0; k < nr_maps; k++) {
		i = (k + 8) % nr_maps;
		m = &mx[i];
		v = image_vma_at(&img, (uintptr_t)m->addr);
		ASSERT_NE(NULL, v) TH_LOG("%s: no VMA", m->name);
		ASSERT_EQ((__u64)(uintptr_t)m->addr, v->start)
			TH_LOG("%s: VMA starts at %#llx", m->name,
			       (unsigned long long)v->start);
		ASSERT_EQ((__u64)(uintptr_t)m->addr + MX_PAGES * psz, v->end)
			TH_LOG("%s: VMA ends at %#llx", m->name,
			       (unsigned long long)v->end);
		EXPECT_EQ((__u32)m->prot, v->prot) TH_LOG("%s", m->name);
		f = image_file(&img, v->file);
		EXPECT_EQ((__u32)(m->file ? SNAPSHOT_VMA_FILE :
				  m->shared ? SNAPSHOT_VMA_SHMEM :
					      SNAPSHOT_VMA_ANON), v->kind)
			TH_LOG("%s: kind %u, file \"%s\"", m->name, v->kind,
			       f ? image_str(&img, f->path) : "(none)");
		/* Mapped writable: private memory is committed. */
		EXPECT_EQ(SNAPSHOT_VMA_MAYWRITE |
			  (m->shared ? SNAPSHOT_VMA_SHARED :
				       SNAPSHOT_VMA_ACCOUNT), v->flags)
			TH_LOG("%s: flags %#llx", m->name,
			       (unsigned long long)v->flags);
		me = maps_at((uintptr_t)m->addr);
		ASSERT_NE(NULL, me);
		vma_perms(v, perms);
		EXPECT_TRUE(me->start == v->start && me->end == v->end &&
			    !strncmp(me->perms, perms, 4))
			TH_LOG("%s: image %s, maps %lx-%lx %s", m->name, perms,
			       me->start, me->end, me->perms);
		if (m->file) {
			f = image_file(&img, v->file);
			ASSERT_NE(NULL, f) TH_LOG("%s: file %u", m->name,
						  v->file);
			if (file_index == SNAPSHOT_IMAGE_NONE)
				file_index = v->file;
			EXPECT_EQ(file_index, v->file)
				TH_LOG("%s: one file, two records", m->name);
			EXPECT_STREQ(path, image_str(&img, f->path));
			EXPECT_EQ((__u64)fst.st_ino, f->ino);
			EXPECT_EQ((__u64)fst.st_dev, f->dev)
				TH_LOG("dev %#llx; stat() says %#llx (%u:%u)",
				       (unsigned long long)f->dev,
				       (unsigned long long)fst.st_dev,
				       major(fst.st_dev), minor(fst.st_dev));
			EXPECT_EQ((__u64)fst.st_size, f->size);
			EXPECT_EQ((__u32)fst.st_mode, f->mode);
			EXPECT_EQ((__s64)fst.st_mtim.tv_sec, f->mtime_sec);
			EXPECT_EQ((__u32)fst.st_mtim.tv_nsec, f->mtime_nsec);
			EXPECT_EQ((__u64)m->file_page * psz, v->pgoff)
				TH_LOG("%s: pgoff %#llx", m->name,
				       (unsigned long long)v->pgoff);
		} else {
			EXPECT_EQ(SNAPSHOT_IMAGE_NONE, v->file);
		}
		for (unsigned long pg = 0; pg < MX_PAGES; pg++) {
			/*
			 * Anonymous memory, private or shared: the pages
			 * that are not zero. A private file mapping: the
			 * pages it modified, zeroes included (the file holds
			 * something else there). A shared file: nothing.
			 */
			if (m->file && m->shared)
				stored = false;
			else if (m->file)
				stored = mx_plan[pg] == MX_WRITE ||
					 mx_plan[pg] == MX_ZERO;
			else
				stored = mx_plan[pg] == MX_WRITE;
			snprintf(what, sizeof(what), "%s, page %lu (%s)",
				 m->name, pg,
				 mx_plan[pg] == MX_WRITE ? "written" :
				 mx_plan[pg] == MX_ZERO ? "written with zeroes" :
				 mx_plan[pg] == MX_READ ? "read" : "untouched");
			check_page(_metadata, &img, what,
				   (uintptr_t)m->addr + pg * psz, stored,
				   mx_plan[pg] == MX_WRITE ? m->seed : 0, pg);
		}
	}
	image_free(&img);
	close(fd);
}

/*
 * A shared mapping of a memfd, from page 2 of the object on: stored by
 * value, what the object holds under the mapping, whoever wrote it.
 */
TEST_F(capture, memfd_shared)
{
	const unsigned long nr = 4, off = 2;
	const __u64 seed = REGION_SEED + 1;
	const struct snapshot_image_vma *v;
	struct image img;
	char *p;
	int fd, err;

	fd = memfd_create("capture_test", MFD_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("memfd_create: %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(fd, 8 * psz));
	/* Object pages 1 (not mapped) and 5 (mapping page 3), by write(). */
	snapshot_pattern_fill(page_buf, 1, seed, 99);
	err = snapshot_write_all(fd, page_buf, psz, 1 * psz);
	ASSERT_EQ(0, err);
	snapshot_pattern_fill(page_buf, 1, seed, 3);
	err = snapshot_write_all(fd, page_buf, psz, 5 * psz);
	ASSERT_EQ(0, err);
	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 off * psz);
	/* A memfd is a file without a path: it cannot stay open. */
	close(fd);
	snapshot_pattern_fill(p, 1, seed, 0);		/* mapping page 0 */
	memset(p + psz, 0, psz);		/* page 1: zeroes */
	snapshot_pattern_fill(p + 2 * psz, 1, seed, 2);	/* page 2 */

	capture_self(_metadata, self, 0, &img);
	v = image_vma_at(&img, (uintptr_t)p);
	ASSERT_NE(NULL, v);
	EXPECT_EQ((__u64)(uintptr_t)p, v->start);
	EXPECT_EQ((__u64)(uintptr_t)p + nr * psz, v->end);
	EXPECT_EQ((__u32)SNAPSHOT_VMA_SHMEM, v->kind)
		TH_LOG("kind %u, file \"%s\"", v->kind,
		       image_file(&img, v->file) ?
		       image_str(&img, image_file(&img, v->file)->path) :
		       "(none)");
	EXPECT_EQ(SNAPSHOT_VMA_SHARED | SNAPSHOT_VMA_MAYWRITE, v->flags);
	EXPECT_EQ(SNAPSHOT_IMAGE_NONE, v->file);
	check_page(_metadata, &img, "memfd page 0", (uintptr_t)p, true, seed,
		   0);
	check_page(_metadata, &img, "memfd page 1 (zeroes)",
		   (uintptr_t)p + psz, false, 0, 0);
	check_page(_metadata, &img, "memfd page 2", (uintptr_t)p + 2 * psz,
		   true, seed, 2);
	check_page(_metadata, &img, "memfd page 3 (written through the fd)",
		   (uintptr_t)p + 3 * psz, true, seed, 3);
	image_free(&img);
}

/*
 * 64 pages with every third one made read-only: the image has the VMAs
 * /proc/self/maps shows, and every page once.
 */
TEST_F(capture, mprotect_holes)
{
	const unsigned long nr = 64;
	const __u64 seed = REGION_SEED + 2;
	const struct snapshot_image_vma *v;
	unsigned long i, start, end;
	unsigned int n_maps = 0, n_img = 0, j;
	struct image img;
	char perms[8];
	char *p;
	int err;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_EQ(0, madvise(p, nr * psz, MADV_NOHUGEPAGE) && errno != EINVAL);
	snapshot_pattern_fill(p, nr, seed, 0);
	for (i = 0; i < nr; i += 3) {
		err = mprotect(p + i * psz, psz, PROT_READ);
		ASSERT_EQ(0, err) TH_LOG("mprotect page %lu: %s", i,
					 strerror(errno));
	}

	capture_self(_metadata, self, 0, &img);
	err = maps_load(0);
	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));
	start = (uintptr_t)p;
	end = start + nr * psz;
	for (j = 0; j < nr_maps; j++)
		n_maps += maps[j].start >= start && maps[j].end <= end;
	EXPECT_EQ(43U, n_maps) TH_LOG("mprotect() did not split the region");
	for (j = 0; j < img.nr_vmas; j++) {
		v = &img.vmas[j];
		if (v->end <= start || v->start >= end)
			continue;
		n_img++;
		ASSERT_TRUE(v->start >= start && v->end <= end)
			TH_LOG("VMA %#llx-%#llx sticks out of %#lx-%#lx",
			       (unsigned long long)v->start,
			       (unsigned long long)v->end, start, end);
		const struct maps_entry *me = maps_at(v->start);

		ASSERT_NE(NULL, me);
		vma_perms(v, perms);
		EXPECT_TRUE(me->start == v->start && me->end == v->end &&
			    !strncmp(perms, me->perms, 4))
			TH_LOG("VMA %#llx-%#llx %s, maps %lx-%lx %s",
			       (unsigned long long)v->start,
			       (unsigned long long)v->end, perms, me->start,
			       me->end, me->perms);
		EXPECT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind);
	}
	EXPECT_EQ(n_maps, n_img);
	for (i = 0; i < nr; i++)
		check_page(_metadata, &img, "split region",
			   (uintptr_t)p + i * psz, true, seed, i);
	image_free(&img);
}

/*
 * 256 MiB with holes: 1 MiB written, 1 MiB untouched, alternately; the
 * first half may use transparent huge pages, the second does not; and in
 * every fourth written MiB, one page in 16 is written with zeroes. Exactly
 * the written pages that are not zero are stored, with their data.
 *
 * To keep this quick under emulation, a written page gets its first and
 * last words only; the rest of it is zero.
 */

#define BIG_SIZE	(256UL << 20)
#define BIG_CHUNK	(1024UL * 1024)

static bool big_written(unsigned long page, unsigned long chunk_pages)
{
	return !(page / chunk_pages % 2);
}

static bool big_zeroed(unsigned long page, unsigned long chunk_pages)
{
	return big_written(page, chunk_pages) &&
	       !(page / chunk_pages % 8) && page % 16 == 5;
}

TEST_F_TIMEOUT(capture, large_sparse, 300)
{
	const unsigned long nr = BIG_SIZE / psz, cp = BIG_CHUNK / psz;
	const unsigned long words = psz / sizeof(__u64);
	const __u64 seed = REGION_SEED + 3;
	const struct snapshot_image_extent *e;
	unsigned long i, stored = 0, expected = 0, done, len;
	unsigned char *bitmap;
	const size_t buf_size = 4UL << 20;
	struct image img;
	char *p, *buf;
	__u64 *w;
	int err;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise(p, BIG_SIZE / 2, MADV_HUGEPAGE))
		ASSERT_EQ(EINVAL, errno);
	if (madvise(p + BIG_SIZE / 2, BIG_SIZE / 2, MADV_NOHUGEPAGE))
		ASSERT_EQ(EINVAL, errno);
	for (i = 0; i < nr; i++) {
		w = (__u64 *)(p + i * psz);
		if (big_zeroed(i, cp)) {
			w[0] = 0;
		} else if (big_written(i, cp)) {
			w[0] = snapshot_pattern(seed, i, 0);
			w[words - 1] = snapshot_pattern(seed, i, words - 1);
			expected++;
		}
	}

	capture_self(_metadata, self, 0, &img);

	/* Which pages are stored: exactly the written, non-zero ones. */
	bitmap = calloc(nr / 8 + 1, 1);
	ASSERT_NE(NULL, bitmap);
	for (i = 0; i < img.nr_extents; i++) {
		e = &img.extents[i];
		if (e->addr + e->len <= (uintptr_t)p ||
		    e->addr >= (uintptr_t)p + BIG_SIZE)
			continue;
		for (len = 0; len < e->len; len += psz) {
			unsigned long pg = (e->addr + len - (uintptr_t)p) / psz;

			bitmap[pg / 8] |= 1 << (pg % 8);
			stored++;
		}
	}
	for (i = 0; i < nr; i++) {
		bool want = big_written(i, cp) && !big_zeroed(i, cp);
		bool have = bitmap[i / 8] & (1 << (i % 8));

		ASSERT_EQ(want, have)
			TH_LOG("page %lu (MiB %lu) is %sstored; it is %s", i,
			       i / cp, have ? "" : "not ",
			       big_zeroed(i, cp) ? "written with zeroes" :
			       big_written(i, cp) ? "written" : "untouched");
	}
	ASSERT_EQ(expected, stored);
	free(bitmap);

	/* Their data. */
	buf = malloc(buf_size);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < img.nr_extents; i++) {
		e = &img.extents[i];
		if (e->addr + e->len <= (uintptr_t)p ||
		    e->addr >= (uintptr_t)p + BIG_SIZE)
			continue;
		for (done = 0; done < e->len; done += len) {
			len = e->len - done < buf_size ? e->len - done :
							 buf_size;
			err = read_all(img.fd, buf, len, e->data_off + done);
			ASSERT_EQ(0, err) TH_LOG("read the image: %s",
						 strerror(-err));
			ASSERT_EQ(0, memcmp(buf, (char *)(uintptr_t)e->addr +
						 done, len))
				TH_LOG("extent %#llx+%#llx: data at +%#lx differs",
				       (unsigned long long)e->addr,
				       (unsigned long long)e->len, done);
		}
	}
	free(buf);
	image_free(&img);
	ASSERT_EQ(0, munmap(p, BIG_SIZE));
}

/*
 * VMA flags: one isolated 4-page mapping with one property; its VMA has
 * that flag, SNAPSHOT_VMA_MAYWRITE, SNAPSHOT_VMA_ACCOUNT (it is private and
 * writable) unless the property is MAP_NORESERVE, and no other.
 */

enum { LOCK_NONE, LOCK_MLOCK, LOCK_ONFAULT };

/* false if the kernel does not support the property (why in sh->msg). */
static bool vma_flag_case(struct __test_metadata *_metadata,
			  struct _test_data_capture *self, int map_flags,
			  int advice, int lock, __u64 flag)
{
	const unsigned long nr = 4;
	const __u64 seed = REGION_SEED + 4;
	const struct snapshot_image_vma *v;
	struct image img;
	__u64 expect;
	unsigned long i;
	char *p;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | map_flags, -1, 0);
	snapshot_pattern_fill(p, nr, seed, 0);
	if (advice >= 0 && madvise(p, nr * psz, advice)) {
		ASSERT_EQ(EINVAL, errno)
			TH_LOG("madvise(%d): %s", advice, strerror(errno));
		snprintf(self->sh->msg, sizeof(self->sh->msg),
			 "madvise(%d): EINVAL: not in this kernel", advice);
		return false;
	}
	if (lock == LOCK_MLOCK)
		ASSERT_EQ(0, mlock(p, nr * psz))
			TH_LOG("mlock: %s", strerror(errno));
	if (lock == LOCK_ONFAULT)
		ASSERT_EQ(0, syscall(SYS_mlock2, p, nr * psz, MLOCK_ONFAULT))
			TH_LOG("mlock2: %s", strerror(errno));

	capture_self(_metadata, self, 0, &img);
	v = image_vma_at(&img, (uintptr_t)p);
	ASSERT_NE(NULL, v);
	ASSERT_EQ((__u64)(uintptr_t)p, v->start);
	ASSERT_EQ((__u64)(uintptr_t)p + nr * psz, v->end);
	EXPECT_EQ((__u32)SNAPSHOT_VMA_ANON, v->kind);
	EXPECT_EQ((__u32)(PROT_READ | PROT_WRITE), v->prot);
	expect = flag | SNAPSHOT_VMA_MAYWRITE;
	if (flag != SNAPSHOT_VMA_NORESERVE)
		expect |= SNAPSHOT_VMA_ACCOUNT;
	EXPECT_EQ(expect, v->flags)
		TH_LOG("flags %#llx, expected %#llx",
		       (unsigned long long)v->flags,
		       (unsigned long long)expect);
	for (i = 0; i < nr; i++)
		check_page(_metadata, &img, "flagged mapping",
			   (uintptr_t)p + i * psz, true, seed, i);
	image_free(&img);
	return true;
}

TEST_F(capture, vma_flag_none)
{
	bool ok = vma_flag_case(_metadata, self, 0, -1, LOCK_NONE,
				0);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_growsdown)
{
	bool ok = vma_flag_case(_metadata, self, MAP_GROWSDOWN, -1, LOCK_NONE,
				SNAPSHOT_VMA_GROWSDOWN);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_dontfork)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_DONTFORK, LOCK_NONE,
				SNAPSHOT_VMA_DONTFORK);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_dontdump)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_DONTDUMP, LOCK_NONE,
				SNAPSHOT_VMA_DONTDUMP);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_wipeonfork)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_WIPEONFORK, LOCK_NONE,
				SNAPSHOT_VMA_WIPEONFORK);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_hugepage)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_HUGEPAGE, LOCK_NONE,
				SNAPSHOT_VMA_HUGEPAGE);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_nohugepage)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_NOHUGEPAGE, LOCK_NONE,
				SNAPSHOT_VMA_NOHUGEPAGE);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_mergeable)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_MERGEABLE, LOCK_NONE,
				SNAPSHOT_VMA_MERGEABLE);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_random)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_RANDOM, LOCK_NONE,
				SNAPSHOT_VMA_RANDOM);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_sequential)
{
	bool ok = vma_flag_case(_metadata, self, 0, MADV_SEQUENTIAL, LOCK_NONE,
				SNAPSHOT_VMA_SEQUENTIAL);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_locked)
{
	bool ok = vma_flag_case(_metadata, self, 0, -1, LOCK_MLOCK,
				SNAPSHOT_VMA_LOCKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, vma_flag_lockonfault)
{
	bool ok = vma_flag_case(_metadata, self, 0, -1, LOCK_ONFAULT,
				SNAPSHOT_VMA_LOCKED | SNAPSHOT_VMA_LOCKONFAULT);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

/* MAP_NORESERVE counts only when memory is overcommitted. */
TEST_F(capture, vma_flag_noreserve)
{
	char mode[16] = "";

	if (!snapshot_read_text("/proc/sys/vm/overcommit_memory", mode, sizeof(mode)) &&
	    !strcmp(mode, "2"))
		SKIP(return, "overcommit_memory is 2: MAP_NORESERVE is ignored");
	if (!vma_flag_case(_metadata, self, MAP_NORESERVE, -1, LOCK_NONE,
			   SNAPSHOT_VMA_NORESERVE))
		SKIP(return, "%s", self->sh->msg);
}

/* mlockall(MCL_FUTURE | MCL_ONFAULT) shows in the mm record. */
TEST_F(capture, mm_lock_future)
{
	struct image img;

	ASSERT_EQ(0, mlockall(MCL_FUTURE | MCL_ONFAULT))
		TH_LOG("mlockall: %s", strerror(errno));
	capture_self(_metadata, self, 0, &img);
	munlockall();
	EXPECT_EQ(SNAPSHOT_MM_LOCK_FUTURE | SNAPSHOT_MM_LOCK_ONFAULT,
		  img.mm.flags);
	image_free(&img);
}

/*
 * Descriptors: regular files with their flags, close-on-exec and offsets,
 * a directory, an O_PATH descriptor, a high number; the standard streams
 * by number; not the image.
 */
TEST_F(capture, fds)
{
	const struct snapshot_image_fd *d;
	const struct snapshot_image_file *f;
	const char *p1, *p2;
	int a, b, c, dir, e, hi, i, want[9], n = 0;
	struct stat st1, st2, std;
	struct image img;
	char buf[16];

	for (i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) < 0)
			ASSERT_EQ(i, open("/dev/null", O_RDWR));
	}
	a = new_file(_metadata, self, "fd1", 1, FILE_SEED, &p1);
	close(a);
	b = new_file(_metadata, self, "fd2", 1, FILE_SEED, &p2);
	close(b);
	a = open(p1, O_RDWR | O_APPEND);
	ASSERT_LE(0, a);
	ASSERT_EQ(123, lseek(a, 123, SEEK_SET));
	b = open(p1, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, b);
	c = open(p2, O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, c);
	ASSERT_EQ(10, read(c, buf, 10));
	dir = open(self->dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dir);
	e = open(p1, O_PATH);
	ASSERT_LE(0, e);
	hi = dup2(c, 200);
	ASSERT_EQ(200, hi);
	ASSERT_EQ(0, stat(p1, &st1));
	ASSERT_EQ(0, stat(p2, &st2));
	ASSERT_EQ(0, stat(self->dir, &std));

	capture_self(_metadata, self, 0, &img);

	want[n++] = 0;
	want[n++] = 1;
	want[n++] = 2;
	want[n++] = a;
	want[n++] = b;
	want[n++] = c;
	want[n++] = dir;
	want[n++] = e;
	want[n++] = hi;
	EXPECT_EQ((__u32)n, img.nr_fds)
		TH_LOG("%u descriptors in the image, %d open (the image's not counted)",
		       img.nr_fds, n);
	for (i = 0; i < n; i++) {
		ASSERT_NE(NULL, image_fd(&img, want[i]))
			TH_LOG("fd %d is not in the image", want[i]);
	}
	EXPECT_EQ(NULL, image_fd(&img, self->image_fd))
		TH_LOG("the image's own descriptor %d is in the image",
		       self->image_fd);
	for (i = 0; i < 3; i++) {
		d = image_fd(&img, i);
		ASSERT_NE(NULL, d) TH_LOG("fd %d missing", i);
		EXPECT_EQ((__u32)SNAPSHOT_FD_STDIO, d->kind);
	}

	struct {
		int fd;
		const char *path;
		const struct stat *st;
		__u32 flags, fd_flags;
		__s64 pos;
	} exp[] = {
		{ a, p1, &st1, O_RDWR | O_APPEND, 0, 123 },
		{ b, p1, &st1, O_RDONLY, FD_CLOEXEC, 0 },
		{ c, p2, &st2, O_RDONLY | O_NONBLOCK, 0, 10 },
		{ dir, NULL, &std, O_RDONLY, 0, 0 },
		{ e, p1, &st1, O_PATH, 0, 0 },
		{ hi, p2, &st2, O_RDONLY | O_NONBLOCK, 0, 10 },
	};
	for (i = 0; i < (int)ARRAY_SIZE(exp); i++) {
		d = image_fd(&img, exp[i].fd);
		ASSERT_NE(NULL, d) TH_LOG("fd %d missing", exp[i].fd);
		EXPECT_EQ((__u32)SNAPSHOT_FD_FILE, d->kind);
		EXPECT_EQ(exp[i].flags, d->flags & FD_DOC_FLAGS)
			TH_LOG("fd %d: flags %#o, expected %#o", exp[i].fd,
			       d->flags, exp[i].flags);
		EXPECT_EQ(0U, d->flags & ~(FD_DOC_FLAGS | O_DIRECTORY |
					   K_O_LARGEFILE))
			TH_LOG("fd %d: flags %#o", exp[i].fd, d->flags);
		EXPECT_EQ(exp[i].fd_flags, d->fd_flags)
			TH_LOG("fd %d: fd_flags %#x", exp[i].fd, d->fd_flags);
		EXPECT_EQ(exp[i].pos, d->pos) TH_LOG("fd %d", exp[i].fd);
		f = image_file(&img, d->file);
		ASSERT_NE(NULL, f);
		EXPECT_STREQ(exp[i].path ? exp[i].path : self->dir,
			     image_str(&img, f->path));
		EXPECT_EQ((__u64)exp[i].st->st_ino, f->ino);
		EXPECT_EQ((__u64)exp[i].st->st_dev, f->dev)
			TH_LOG("fd %d: dev %#llx; stat() says %#llx (%u:%u)",
			       exp[i].fd, (unsigned long long)f->dev,
			       (unsigned long long)exp[i].st->st_dev,
			       major(exp[i].st->st_dev),
			       minor(exp[i].st->st_dev));
		EXPECT_EQ((__u32)exp[i].st->st_mode, f->mode);
		EXPECT_EQ((__u64)exp[i].st->st_size, f->size);
	}
	/* One record per file. */
	EXPECT_EQ(image_fd(&img, a)->file, image_fd(&img, b)->file);
	EXPECT_EQ(image_fd(&img, a)->file, image_fd(&img, e)->file);
	EXPECT_EQ(image_fd(&img, c)->file, image_fd(&img, hi)->file);
	EXPECT_NE(image_fd(&img, a)->file, image_fd(&img, c)->file);
	image_free(&img);
}

/* A pipe as standard output is not recorded: STDIO, and no failure. */
TEST_F(capture, fds_stdio_pipe)
{
	const struct snapshot_image_fd *d;
	struct image img;
	int p[2];
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid) {
		if (pipe(p) || dup2(p[1], 1) != 1)
			child_fail("pipe: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		self->sh->ret = capture_into(self->image_fd, 0,
					     &self->sh->reason);
		_exit(0);
	}
	child_wait(_metadata, self, pid);
	ASSERT_EQ(0, self->sh->ret)
		TH_LOG("snapshot_capture: %s (reason %u, fd %d)",
		       strerror(-self->sh->ret), self->sh->reason.code,
		       self->sh->reason.fd);
	image_open(_metadata, &img, self->image_fd);
	d = image_fd(&img, 1);
	ASSERT_NE(NULL, d);
	EXPECT_EQ((__u32)SNAPSHOT_FD_STDIO, d->kind);
	EXPECT_EQ(SNAPSHOT_IMAGE_NONE, d->file);
	image_free(&img);
}

/*
 * The working set: of 64 written pages, the 8 touched since the accessed
 * bits were cleared are stored first, flagged; the other 56 after them.
 */
TEST_F(capture, working_set)
{
	static const unsigned int touch[] = { 1, 5, 9, 17, 30, 31, 50, 63 };
	const unsigned long nr = 64;
	const __u64 seed = REGION_SEED + 5;
	const struct snapshot_image_extent *e;
	unsigned long i, ws_pages = 0;
	struct image img;
	unsigned int j;
	bool in_ws;
	char *p;
	int err;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise(p, nr * psz, MADV_NOHUGEPAGE))
		ASSERT_EQ(EINVAL, errno);
	snapshot_pattern_fill(p, nr, seed, 0);
	err = snapshot_write_text("/proc/self/clear_refs", "1");
	if (err == -ENOENT)
		SKIP(return, "no /proc/self/clear_refs (CONFIG_PROC_PAGE_MONITOR)");
	ASSERT_EQ(0, err) TH_LOG("clear_refs: %s", strerror(-err));
	/*
	 * On x86, clearing the accessed bits does not flush the TLB, and an
	 * access through a cached translation does not set the bit again:
	 * flush it (a protection change does) so that the accesses below are
	 * seen, as they would be after the context switches of a real
	 * warm-up.
	 */
	ASSERT_EQ(0, mprotect(p, nr * psz, PROT_READ));
	ASSERT_EQ(0, mprotect(p, nr * psz, PROT_READ | PROT_WRITE));
	for (j = 0; j < ARRAY_SIZE(touch); j++)
		touch_word(p + touch[j] * psz);

	capture_self(_metadata, self, SNAPSHOT_CAPTURE_WORKING_SET, &img);
	EXPECT_EQ(SNAPSHOT_IMAGE_SELF | SNAPSHOT_IMAGE_WORKING_SET,
		  img.hdr.flags);
	EXPECT_LE((__u64)ARRAY_SIZE(touch) * psz, img.hdr.ws_size);
	for (i = 0; i < nr; i++) {
		e = image_extent_at(&img, (uintptr_t)p + i * psz);
		ASSERT_NE(NULL, e) TH_LOG("page %lu not stored", i);
		for (in_ws = false, j = 0; j < ARRAY_SIZE(touch); j++)
			in_ws |= touch[j] == i;
		EXPECT_EQ(in_ws, !!(e->flags & SNAPSHOT_EXTENT_WORKING_SET))
			TH_LOG("page %lu is %stouched, its extent %#llx+%#llx has flags %#x",
			       i, in_ws ? "" : "not ",
			       (unsigned long long)e->addr,
			       (unsigned long long)e->len, e->flags);
		/* The data lie in the working set area iff flagged. */
		ASSERT_EQ(in_ws, e->data_off < img.hdr.data_off +
					       img.hdr.ws_size);
		ws_pages += in_ws;
		check_page(_metadata, &img, "working set region",
			   (uintptr_t)p + i * psz, true, seed, i);
	}
	EXPECT_EQ(ARRAY_SIZE(touch), ws_pages);
	image_free(&img);
}

/* Whether [@addr, @addr + @len) is covered by the image's file working set. */
static bool in_file_ws(const struct image *img, unsigned long addr,
		       unsigned long len)
{
	__u32 i;

	for (i = 0; i < img->nr_file_ws; i++)
		if (addr >= img->file_ws[i].addr &&
		    addr + len <= img->file_ws[i].addr + img->file_ws[i].len)
			return true;
	return false;
}

/*
 * The file pages of the working set: of a private and a shared mapping of
 * a file, the pages read since the accessed bits were cleared are
 * recorded, in ranges of their VMA, and no other page of either mapping
 * is; a page written in the private mapping is a private copy, stored as
 * an extent and not recorded as a file page.
 */
TEST_F(capture, file_working_set)
{
	static const unsigned int touch[] = { 1, 2, 3, 9 };
	const unsigned long nr = 16;
	const __u64 seed = REGION_SEED + 6;
	const struct snapshot_image_vma *v;
	const char *path;
	char *priv, *shared;
	struct image img;
	unsigned long i;
	unsigned int j;
	bool want;
	int fd, err;

	fd = new_file(_metadata, self, "fws", nr, seed, &path);
	priv = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			    fd, 0);
	shared = map_isolated(_metadata, nr, PROT_READ, MAP_SHARED, fd, 0);
	/* Every page mapped, then the accessed bits cleared. */
	for (i = 0; i < nr; i++) {
		touch_word(priv + i * psz);
		touch_word(shared + i * psz);
	}
	priv[12 * psz] ^= 1;
	err = snapshot_write_text("/proc/self/clear_refs", "1");
	if (err == -ENOENT)
		SKIP(return, "no /proc/self/clear_refs (CONFIG_PROC_PAGE_MONITOR)");
	ASSERT_EQ(0, err) TH_LOG("clear_refs: %s", strerror(-err));
	/* Flush the TLB, as in working_set. */
	ASSERT_EQ(0, mprotect(priv, nr * psz, PROT_NONE));
	ASSERT_EQ(0, mprotect(priv, nr * psz, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(shared, nr * psz, PROT_NONE));
	ASSERT_EQ(0, mprotect(shared, nr * psz, PROT_READ));
	for (j = 0; j < ARRAY_SIZE(touch); j++) {
		touch_word(priv + touch[j] * psz);
		touch_word(shared + touch[j] * psz);
	}
	touch_word(priv + 12 * psz);

	capture_self(_metadata, self, SNAPSHOT_CAPTURE_WORKING_SET, &img);
	for (i = 0; i < nr; i++) {
		for (want = false, j = 0; j < ARRAY_SIZE(touch); j++)
			want |= touch[j] == i;
		EXPECT_EQ(want, in_file_ws(&img, (uintptr_t)priv + i * psz,
					   psz))
			TH_LOG("private mapping, page %lu: %s", i,
			       want ? "touched, not recorded" :
				      "recorded, not touched");
		EXPECT_EQ(want, in_file_ws(&img, (uintptr_t)shared + i * psz,
					   psz))
			TH_LOG("shared mapping, page %lu: %s", i,
			       want ? "touched, not recorded" :
				      "recorded, not touched");
	}
	/* The copy is stored, in the working set, and is no file page. */
	ASSERT_NE(NULL, image_extent_at(&img, (uintptr_t)priv + 12 * psz));
	EXPECT_NE(0U, image_extent_at(&img, (uintptr_t)priv + 12 * psz)->flags &
		  SNAPSHOT_EXTENT_WORKING_SET);
	/* Each range names the VMA it is in. */
	for (i = 0; i < img.nr_file_ws; i++) {
		v = image_vma_at(&img, img.file_ws[i].addr);
		ASSERT_NE(NULL, v);
		EXPECT_EQ(image_vma_index(&img, v), img.file_ws[i].vma);
	}
	image_free(&img);
	close(fd);
}

/* Without SNAPSHOT_CAPTURE_WORKING_SET, no file pages are recorded. */
TEST_F(capture, no_file_working_set)
{
	struct image img;

	capture_self(_metadata, self, 0, &img);
	EXPECT_EQ(0U, img.nr_file_ws);
	image_free(&img);
}

/* Without SNAPSHOT_CAPTURE_WORKING_SET, there is no working set. */
TEST_F(capture, no_working_set)
{
	struct image img;
	unsigned int i;

	capture_self(_metadata, self, 0, &img);
	EXPECT_EQ(0U, img.hdr.flags & SNAPSHOT_IMAGE_WORKING_SET);
	EXPECT_EQ(0ULL, img.hdr.ws_size);
	for (i = 0; i < img.nr_extents; i++) {
		const struct snapshot_image_extent *e = &img.extents[i];

		ASSERT_EQ(0U, e->flags)
			TH_LOG("extent %#llx+%#llx: flags %#x",
			       (unsigned long long)e->addr,
			       (unsigned long long)e->len, e->flags);
	}
	image_free(&img);
}

/* Two captures of an unchanged region store the same extents and bytes. */
TEST_F(capture, twice_same_data)
{
	const unsigned long nr = 32;
	const __u64 seed = REGION_SEED + 6;
	const struct snapshot_image_extent *e1, *e2;
	struct image img1, img2;
	static char page2[65536];
	const char *path;
	unsigned long i;
	char *p;
	int fd2;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snapshot_pattern_fill(p, nr, seed, 0);
	fd2 = new_file(_metadata, self, "image2", 0, 0, &path);

	capture_self(_metadata, self, 0, &img1);
	ASSERT_EQ(0, capture_into(fd2, 0, NULL));
	image_open(_metadata, &img2, fd2);
	EXPECT_LE(img1.hdr.time_ns, img2.hdr.time_ns);
	for (i = 0; i < nr; i++) {
		unsigned long addr = (uintptr_t)p + i * psz;

		e1 = image_extent_at(&img1, addr);
		e2 = image_extent_at(&img2, addr);
		ASSERT_TRUE(e1 && e2) TH_LOG("page %lu not stored", i);
		EXPECT_TRUE(e1->addr == e2->addr && e1->len == e2->len)
			TH_LOG("page %lu: extent %#llx+%#llx, then %#llx+%#llx",
			       i, (unsigned long long)e1->addr,
			       (unsigned long long)e1->len,
			       (unsigned long long)e2->addr,
			       (unsigned long long)e2->len);
		ASSERT_EQ(1, image_page(&img1, addr, page_buf));
		ASSERT_EQ(1, image_page(&img2, addr, page2));
		ASSERT_EQ(0, memcmp(page_buf, page2, psz))
			TH_LOG("page %lu differs between the two images", i);
		ASSERT_EQ(-1, pattern_diff(page2, seed, i));
	}
	image_free(&img1);
	image_free(&img2);
	close(fd2);
}

/* A second capture into the same file replaces the first, however large. */
TEST_F(capture, recapture_truncates)
{
	const unsigned long nr = 1024;
	struct image img;
	__u64 size1;
	char *p;

	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snapshot_pattern_fill(p, nr, REGION_SEED + 7, 0);
	capture_self(_metadata, self, 0, &img);
	size1 = img.hdr.image_size;
	image_free(&img);
	ASSERT_EQ(0, munmap(p, nr * psz));

	/* image_open() checks that image_size is the size of the file. */
	capture_self(_metadata, self, 0, &img);
	EXPECT_GT(size1, img.hdr.image_size)
		TH_LOG("first image %llu bytes, second %llu",
		       (unsigned long long)size1,
		       (unsigned long long)img.hdr.image_size);
	EXPECT_EQ(NULL, image_vma_at(&img, (uintptr_t)p));
	image_free(&img);
}

/*
 * Remote captures: a stopped child, a ptrace-stopped one, children stopped
 * inside a system call.
 */

/* A child stopped by SIGSTOP (raise): its memory, task and registers. */
TEST_F(capture, remote_stopped)
{
	unsigned long sp = 0, pc = 0;
	struct image img;
	long nr = 0, ret;
	pid_t pid;
	int i, err;

	pid = spawn_target(_metadata, self, T_STOP, NULL);
	stop_target(_metadata, pid, false);
	err = proc_syscall(pid, &nr, &sp, &pc);
	ASSERT_EQ(0, err);

	ret = capture_pid(_metadata, pid, 0, self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	EXPECT_EQ(0U, img.hdr.flags & SNAPSHOT_IMAGE_SELF);
	EXPECT_STREQ("capture-target", img.task.comm);
	check_target_memory(_metadata, &img, self->sh->addr);
	/* Its fds: the standard ones, nothing else. */
	for (i = 0; i < 3; i++) {
		bool open = fcntl(i, F_GETFD) >= 0;

		EXPECT_EQ(open, !!image_fd(&img, i)) TH_LOG("fd %d", i);
	}
	for (i = 0; i < (int)img.nr_fds; i++) {
		int fd = img.fds[i].fd;

		EXPECT_GE(2, fd) TH_LOG("fd %d is in the image", fd);
	}

	/*
	 * Stopped on the way out of tgkill(), which returned 0: the image
	 * resumes after it with 0, outside any system call.
	 */
	EXPECT_EQ((long)SYS_tgkill, nr);
	EXPECT_EQ(~0ULL, img.regs.orig_ax);
	EXPECT_EQ(0ULL, img.regs.ax);
	EXPECT_EQ((__u64)pc, img.regs.ip);
	EXPECT_EQ((__u64)sp, img.regs.sp);
	check_syscall_insn(_metadata, pid, img.regs.ip - 2);
	err = maps_load(pid);
	ASSERT_EQ(0, err) TH_LOG("/proc/%d/maps: %s", pid, strerror(-err));
	check_vmas_are_maps(_metadata, &img);
	image_free(&img);
	kill_kid(self, pid);
}

/* Seize and interrupt @pid; returns its registers. */
static void seize_stop(struct __test_metadata *_metadata, pid_t pid,
		       struct user_regs_struct *regs)
{
	int status = 0;

	ASSERT_EQ(0, ptrace(PTRACE_SEIZE, pid, 0, 0))
		TH_LOG("PTRACE_SEIZE: %s", strerror(errno));
	ASSERT_EQ(0, ptrace(PTRACE_INTERRUPT, pid, 0, 0));
	ASSERT_EQ(pid, wait_for(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_STOP)
		TH_LOG("wait status %#x", status);
	ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, regs));
}

/*
 * A ptrace-stopped child interrupted in user space: the image holds the
 * registers and the XSAVE area PTRACE_GETREGS(ET) report, unchanged.
 */
TEST_F(capture, remote_ptrace_user)
{
	static unsigned char xsave[1 << 16];
	struct iovec iov = { .iov_base = xsave, .iov_len = sizeof(xsave) };
	struct user_regs_struct regs;
	struct image img;
	long ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, T_SPIN, NULL);
	seize_stop(_metadata, pid, &regs);
	ASSERT_EQ(-1LL, (long long)regs.orig_rax)
		TH_LOG("the spinning child is in system call %lld",
		       (long long)regs.orig_rax);
	ASSERT_EQ(0, ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov))
		TH_LOG("PTRACE_GETREGSET: %s", strerror(errno));

	ret = capture_pid(_metadata, pid, 0, self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	EXPECT_EQ(0U, img.hdr.flags & SNAPSHOT_IMAGE_SELF);
	check_regs(_metadata, &img.regs, &regs);
	ASSERT_EQ((__u64)iov.iov_len, img.xsave_size);
	EXPECT_EQ(0, memcmp(xsave, img.xsave, iov.iov_len))
		TH_LOG("the XSAVE area differs from PTRACE_GETREGSET's");
	check_target_memory(_metadata, &img, self->sh->addr);
	image_free(&img);
	kill_kid(self, pid);
}

/*
 * A ptrace-stopped child interrupted in pause(), which returns
 * -ERESTARTNOHAND: the image restarts the call (ax = its number, ip back on
 * the syscall instruction) outside any system call; the other registers
 * are PTRACE_GETREGS's.
 */
TEST_F(capture, remote_ptrace_in_pause)
{
	struct user_regs_struct regs, want;
	struct image img;
	long ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, T_PAUSE, NULL);
	wait_in_syscall(_metadata, pid, SYS_pause);
	seize_stop(_metadata, pid, &regs);
	ASSERT_EQ((long long)SYS_pause, (long long)regs.orig_rax);
	ASSERT_EQ(-K_ERESTARTNOHAND, (long long)regs.rax);

	ret = capture_pid(_metadata, pid, 0, self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	want = regs;
	want.rax = SYS_pause;
	want.orig_rax = -1;
	want.rip -= 2;
	check_regs(_metadata, &img.regs, &want);
	check_syscall_insn(_metadata, pid, img.regs.ip);
	check_target_memory(_metadata, &img, self->sh->addr);
	image_free(&img);
	kill_kid(self, pid);
}

/*
 * A child stopped at a ptrace syscall-entry stop of getppid(): the call has
 * not run. The image must make it run when resumed (ax = its number, ip on
 * the syscall instruction); resuming after the instruction would have
 * getppid() return what ax holds at entry, -ENOSYS.
 */
TEST_F(capture, remote_ptrace_syscall_entry)
{
	struct user_regs_struct regs, want;
	struct image img;
	int status = 0;
	long ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, T_GETPPID, NULL);
	seize_stop(_metadata, pid, &regs);
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
	ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
	ASSERT_EQ(pid, wait_for(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80))
		TH_LOG("wait status %#x", status);
	ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
	ASSERT_EQ((long long)SYS_getppid, (long long)regs.orig_rax);
	ASSERT_EQ(K_ENTRY_AX, (long long)regs.rax)
		TH_LOG("not at a syscall-entry stop");

	ret = capture_pid(_metadata, pid, 0, self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	want = regs;
	want.rax = SYS_getppid;
	want.orig_rax = -1;
	want.rip -= 2;
	check_regs(_metadata, &img.regs, &want);
	image_free(&img);
	kill_kid(self, pid);
}

/*
 * Children stopped by SIGSTOP while blocked in a system call: the image
 * needs no system call context (orig_ax is -1). A call that returns
 * -ERESTARTNOHAND (pause) or -ERESTARTSYS (F_SETLKW) is restarted: ax holds
 * its number and ip points at the syscall instruction. nanosleep() returns
 * -ERESTART_RESTARTBLOCK, whose restart block the image cannot carry: it
 * returns -EINTR instead, ip after the instruction.
 */
static void stopped_in_syscall(struct __test_metadata *_metadata,
			       struct _test_data_capture *self,
			       enum target_mode mode, long nr, bool restart)
{
	unsigned long pc, sp = 0, pc2 = 0;
	struct image img;
	long nr2 = 0, ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, mode, NULL);
	pc = wait_in_syscall(_metadata, pid, nr);
	stop_target(_metadata, pid, true);
	/* Still in the call, at the same place, as far as /proc tells. */
	ASSERT_EQ(0, proc_syscall(pid, &nr2, &sp, &pc2));
	ASSERT_EQ(nr, nr2);
	ASSERT_EQ(pc, pc2);

	ret = capture_pid(_metadata, pid, 0, self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	EXPECT_EQ(~0ULL, img.regs.orig_ax);
	EXPECT_EQ((__u64)sp, img.regs.sp);
	if (restart) {
		EXPECT_EQ((__u64)nr, img.regs.ax);
		EXPECT_EQ((__u64)pc - 2, img.regs.ip);
		check_syscall_insn(_metadata, pid, img.regs.ip);
	} else {
		EXPECT_EQ((__u64)-EINTR, img.regs.ax);
		EXPECT_EQ((__u64)pc, img.regs.ip);
		check_syscall_insn(_metadata, pid, img.regs.ip - 2);
	}
	check_target_memory(_metadata, &img, self->sh->addr);
	image_free(&img);
	kill_kid(self, pid);
}

TEST_F(capture, remote_stopped_in_pause)
{
	stopped_in_syscall(_metadata, self, T_PAUSE, SYS_pause, true);
}

TEST_F(capture, remote_stopped_in_lock_wait)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const char *path;
	int fd;

	fd = new_file(_metadata, self, "lock", 1, FILE_SEED, &path);
	ASSERT_EQ(0, fcntl(fd, F_SETLK, &fl));
	snprintf(self->sh->path, sizeof(self->sh->path), "%s", path);
	stopped_in_syscall(_metadata, self, T_LOCKWAIT, SYS_fcntl, true);
	close(fd);
}

TEST_F(capture, remote_stopped_in_nanosleep)
{
	stopped_in_syscall(_metadata, self, T_NANOSLEEP, SYS_nanosleep, false);
}

/* With SNAPSHOT_CAPTURE_WORKING_SET, remotely: the flag, valid layout. */
TEST_F(capture, remote_working_set)
{
	struct image img;
	long ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, T_STOP, NULL);
	stop_target(_metadata, pid, false);
	ret = capture_pid(_metadata, pid, SNAPSHOT_CAPTURE_WORKING_SET,
			  self->image_fd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("snapshot_capture: %s", strerror(-ret));
	image_open(_metadata, &img, self->image_fd);
	EXPECT_EQ(SNAPSHOT_IMAGE_WORKING_SET, img.hdr.flags);
	check_target_memory(_metadata, &img, self->sh->addr);
	image_free(&img);
	kill_kid(self, pid);
}

/*
 * Errors other than -EOPNOTSUPP: the reason is left alone.
 */

#define REASON_SENTINEL	{ .code = 0xdeadbeef, .fd = -2, .addr = ~0ULL }

static void expect_error(struct __test_metadata *_metadata, long ret, int err,
			 const struct snapshot_reason *r, const char *what)
{
	ASSERT_EQ(-err, ret)
		TH_LOG("%s: expected %s, got %s", what, strerror(err),
		       ret < 0 ? strerror(-ret) : "success");
	ASSERT_TRUE(r->code == 0xdeadbeef && r->fd == -2 && r->addr == ~0ULL)
		TH_LOG("%s: the reason was written (%u, %d, %#llx)", what,
		       r->code, r->fd, (unsigned long long)r->addr);
}

TEST_F(capture, err_image_read_only)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int fd = open(self->image_path, O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EBADF, &r,
		     "image opened O_RDONLY");
	close(fd);
}

TEST_F(capture, err_image_bad_fd)
{
	struct snapshot_reason r = REASON_SENTINEL;

	expect_error(_metadata, capture_into(-1, 0, &r), EBADF, &r,
		     "image fd -1");
	ASSERT_EQ(-1, fcntl(1000, F_GETFD));
	expect_error(_metadata, capture_into(1000, 0, &r), EBADF, &r,
		     "image fd not open");
}

/* Write end: not a regular file. Read end: not open for writing. */
TEST_F(capture, err_image_pipe)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	expect_error(_metadata, capture_into(p[1], 0, &r), EINVAL, &r,
		     "image is a pipe's write end");
	expect_error(_metadata, capture_into(p[0], 0, &r), EBADF, &r,
		     "image is a pipe's read end");
	close(p[0]);
	close(p[1]);
}

/* A directory cannot be open for writing: -EBADF, however it is open. */
TEST_F(capture, err_image_directory)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int fd;

	fd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EBADF, &r,
		     "image is a directory (O_RDONLY)");
	close(fd);
	fd = open(self->dir, O_PATH | O_CLOEXEC);
	ASSERT_LE(0, fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EBADF, &r,
		     "image is a directory (O_PATH)");
	close(fd);
}

TEST_F(capture, err_image_o_path)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int fd = open(self->image_path, O_PATH | O_CLOEXEC);

	ASSERT_LE(0, fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EBADF, &r,
		     "image opened O_PATH");
	close(fd);
}

TEST_F(capture, err_image_append)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int fd = open(self->image_path, O_WRONLY | O_APPEND | O_CLOEXEC);

	ASSERT_LE(0, fd);
	image_scribble(self->image_fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EINVAL, &r,
		     "image opened O_APPEND");
	EXPECT_FALSE(has_magic(self->image_fd));
	close(fd);
	fd = open(self->image_path, O_RDWR | O_APPEND | O_CLOEXEC);
	ASSERT_LE(0, fd);
	expect_error(_metadata, capture_into(fd, 0, &r), EINVAL, &r,
		     "image opened O_RDWR | O_APPEND");
	close(fd);
}

TEST_F(capture, err_image_char_device)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		SKIP(return, "/dev/null: %s", strerror(errno));
	expect_error(_metadata, capture_into(fd, 0, &r), EINVAL, &r,
		     "image is /dev/null");
	close(fd);
}

TEST_F(capture, err_unknown_flags)
{
	struct snapshot_reason r = REASON_SENTINEL;
	char what[64];
	int bit;

	image_scribble(self->image_fd);
	for (bit = 2; bit < 64; bit++) {
		snprintf(what, sizeof(what), "flag bit %d", bit);
		expect_error(_metadata,
			     capture_into(self->image_fd, 1ULL << bit, &r),
			     EINVAL, &r, what);
	}
	EXPECT_FALSE(has_magic(self->image_fd));
}

TEST_F(capture, err_pidfd_without_flag)
{
	struct snapshot_reason r = REASON_SENTINEL;
	struct snapshot_capture_args args = {
		.image_fd = self->image_fd,
		.reason = (uintptr_t)&r,
	};
	pid_t pid;

	pid = spawn_target(_metadata, self, T_STOP, NULL);
	stop_target(_metadata, pid, false);
	args.pidfd = sys_pidfd_open(pid);
	ASSERT_LE(0, args.pidfd);
	expect_error(_metadata, sys_capture(&args), EINVAL, &r,
		     "pidfd without SNAPSHOT_CAPTURE_PIDFD");
	args.flags = SNAPSHOT_CAPTURE_WORKING_SET;
	expect_error(_metadata, sys_capture(&args), EINVAL, &r,
		     "pidfd with SNAPSHOT_CAPTURE_WORKING_SET only");
	close(args.pidfd);
	kill_kid(self, pid);
}

TEST_F(capture, err_pidfd_not_pidfd)
{
	struct snapshot_reason r = REASON_SENTINEL;

	expect_error(_metadata, capture_pidfd(self->image_fd, 0,
					      self->image_fd, &r),
		     EBADF, &r, "pidfd is a regular file");
	expect_error(_metadata, capture_pidfd(-1, 0, self->image_fd, &r),
		     EBADF, &r, "pidfd -1");
}

/* The caller captures itself without a pidfd. */
TEST_F(capture, err_pidfd_self)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int pidfd = sys_pidfd_open(getpid());

	ASSERT_LE(0, pidfd);
	expect_error(_metadata, capture_pidfd(pidfd, 0, self->image_fd, &r),
		     EINVAL, &r, "pidfd of the caller");
	close(pidfd);
}

static void busy_case(struct __test_metadata *_metadata,
		      struct _test_data_capture *self, enum target_mode mode)
{
	struct snapshot_reason r = REASON_SENTINEL;
	pid_t pid;

	pid = spawn_target(_metadata, self, mode, NULL);
	if (mode == T_PAUSE)
		wait_in_syscall(_metadata, pid, SYS_pause);
	image_scribble(self->image_fd);
	expect_error(_metadata, capture_pid(_metadata, pid, 0, self->image_fd,
					    &r),
		     EBUSY, &r, mode == T_PAUSE ? "sleeping child" :
						  "running child");
	EXPECT_FALSE(has_magic(self->image_fd));
	kill_kid(self, pid);
}

TEST_F(capture, err_busy_running)
{
	busy_case(_metadata, self, T_SPIN);
}

TEST_F(capture, err_busy_sleeping)
{
	busy_case(_metadata, self, T_PAUSE);
}

/* A child that exited and is not reaped yet. */
TEST_F(capture, err_zombie)
{
	struct snapshot_reason r = REASON_SENTINEL;
	siginfo_t si = { };
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	expect_error(_metadata, capture_pid(_metadata, pid, 0, self->image_fd,
					    &r),
		     ESRCH, &r, "zombie");
	kill_kid(self, pid);
}

/* A pidfd of a child that is gone. */
TEST_F(capture, err_reaped)
{
	struct snapshot_reason r = REASON_SENTINEL;
	int pidfd, status;
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid)
		_exit(0);
	pidfd = sys_pidfd_open(pid);
	ASSERT_LE(0, pidfd) TH_LOG("pidfd_open: %s", strerror(errno));
	ASSERT_EQ(pid, wait_for(pid, &status, 0));
	track(self, pid, false);
	expect_error(_metadata, capture_pidfd(pidfd, 0, self->image_fd, &r),
		     ESRCH, &r, "reaped child");
	close(pidfd);
}

/*
 * Privileges: a child captures its stopped sibling (root, as it is) once
 * with every privilege, then again after losing some.
 */

enum perm_drop {
	DROP_CR_ADMIN,		/* CAP_CHECKPOINT_RESTORE and ..._SYS_ADMIN */
	DROP_ADMIN,		/* CAP_SYS_ADMIN only */
	DROP_TO_NOBODY,		/* setresuid(65534): all capabilities */
};

static void drop_caps(const int *caps, unsigned int n)
{
	const cap_value_t *values = caps;
	cap_t c = cap_get_proc();

	if (!c)
		child_fail("cap_get_proc: %s", strerror(errno));
	if (cap_set_flag(c, CAP_EFFECTIVE, n, values, CAP_CLEAR) ||
	    cap_set_flag(c, CAP_PERMITTED, n, values, CAP_CLEAR) ||
	    cap_set_flag(c, CAP_INHERITABLE, n, values, CAP_CLEAR) ||
	    cap_set_proc(c))
		child_fail("dropping capabilities: %s", strerror(errno));
	cap_free(c);
}

static void perm_case(struct __test_metadata *_metadata,
		      struct _test_data_capture *self, enum perm_drop drop,
		      long want)
{
	static const int cr_admin[] = {
		CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN,
	};
	struct snapshot_reason r = REASON_SENTINEL;
	pid_t target, pid;
	int pidfd;

	target = spawn_target(_metadata, self, T_STOP, NULL);
	stop_target(_metadata, target, false);
	pid = fork_child(_metadata, self);
	if (!pid) {
		pidfd = sys_pidfd_open(target);
		if (pidfd < 0)
			child_fail("pidfd_open: %s", strerror(errno));
		self->sh->ret = capture_pidfd(pidfd, 0, self->image_fd, NULL);
		switch (drop) {
		case DROP_CR_ADMIN:
			drop_caps(cr_admin, 2);
			break;
		case DROP_ADMIN:
			drop_caps(cr_admin + 1, 1);
			break;
		case DROP_TO_NOBODY:
			if (setresgid(65534, 65534, 65534) ||
			    setresuid(65534, 65534, 65534))
				child_fail("setresuid: %s", strerror(errno));
			break;
		}
		self->sh->ret2 = capture_pidfd(pidfd, 0, self->image_fd, &r);
		self->sh->reason = r;
		_exit(0);
	}
	child_wait(_metadata, self, pid);
	ASSERT_EQ(0, self->sh->ret)
		TH_LOG("with every privilege: %s", strerror(-self->sh->ret));
	expect_error(_metadata, self->sh->ret2, -want, &self->sh->reason,
		     "after dropping privileges");
	kill_kid(self, target);
}

TEST_F(capture, err_perm_no_checkpoint_restore)
{
	if (geteuid())
		SKIP(return, "needs root");
	perm_case(_metadata, self, DROP_CR_ADMIN, -EPERM);
}

TEST_F(capture, perm_checkpoint_restore_suffices)
{
	if (geteuid())
		SKIP(return, "needs root");
	perm_case(_metadata, self, DROP_ADMIN, 0);
}

TEST_F(capture, err_perm_other_user)
{
	if (geteuid())
		SKIP(return, "needs root");
	perm_case(_metadata, self, DROP_TO_NOBODY, -EPERM);
}

/*
 * -EOPNOTSUPP: what an image cannot represent, and why. The capture fails
 * before it touches the image: a file that held something else before
 * still has no image header after.
 */

static void check_unsupported(struct __test_metadata *_metadata, long ret,
			      const struct snapshot_reason *r, __u32 code,
			      int fd, __u64 addr, bool magic)
{
	ASSERT_EQ(-EOPNOTSUPP, ret)
		TH_LOG("expected EOPNOTSUPP with reason %u, got %s", code,
		       ret ? strerror(-ret) : "success");
	ASSERT_EQ(code, r->code)
		TH_LOG("reason %u (fd %d, addr %#llx), expected %u", r->code,
		       r->fd, (unsigned long long)r->addr, code);
	ASSERT_EQ(fd, r->fd) TH_LOG("reason %u: fd", code);
	ASSERT_EQ(addr, r->addr) TH_LOG("reason %u: addr", code);
	ASSERT_FALSE(magic) TH_LOG("the failed capture left an image header");
}

/*
 * A child sets itself up (setting sh->fd and sh->addr to what the reason
 * must name) and captures itself. false if it skipped.
 */
static bool expect_unsupported(struct __test_metadata *_metadata,
			       struct _test_data_capture *self,
			       child_setup_t setup, __u32 code)
{
	struct shared *sh = self->sh;
	struct snapshot_reason r = REASON_SENTINEL;
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid) {
		setup(self, sh);
		image_scribble(self->image_fd);
		sh->ret = capture_into(self->image_fd, 0, &r);
		sh->reason = r;
		sh->magic = has_magic(self->image_fd);
		_exit(0);
	}
	child_wait(_metadata, self, pid);
	if (sh->skip)
		return false;
	check_unsupported(_metadata, sh->ret, &sh->reason, code, sh->fd,
			  sh->addr, sh->magic);
	return true;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void setup_thread(struct _test_data_capture *self, struct shared *sh)
{
	pthread_t t;
	int err;

	(void)self;
	(void)sh;
	err = pthread_create(&t, NULL, sleeper, NULL);
	if (err)
		child_fail("pthread_create: %s", strerror(err));
}

static void setup_ptraced(struct _test_data_capture *self, struct shared *sh)
{
	(void)self;
	(void)sh;
	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		child_fail("PTRACE_TRACEME: %s", strerror(errno));
}

/* Whether the kernel has a feature, by a file only it makes. */
static void child_require(const char *path, const char *what)
{
	if (access(path, F_OK))
		child_skip("no %s in this kernel (no %s)", what, path);
}

static void setup_aio(struct _test_data_capture *self, struct shared *sh)
{
	unsigned long ctx = 0;

	(void)self;
	(void)sh;
	child_require("/proc/sys/fs/aio-max-nr", "AIO");
	if (syscall(SYS_io_setup, 1, &ctx))
		child_fail("io_setup: %s", strerror(errno));
}

static void setup_socket(struct _test_data_capture *self, struct shared *sh)
{
	int sv[2];

	(void)self;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		child_fail("socketpair: %s", strerror(errno));
	sh->fd = sv[0];
}

static void setup_pipe(struct _test_data_capture *self, struct shared *sh)
{
	int p[2];

	(void)self;
	if (pipe(p))
		child_fail("pipe: %s", strerror(errno));
	sh->fd = p[0];
}

static void setup_eventfd(struct _test_data_capture *self, struct shared *sh)
{
	(void)self;
	sh->fd = eventfd(0, 0);
	if (sh->fd < 0)
		child_fail("eventfd: %s", strerror(errno));
}

static int child_temp_file(struct _test_data_capture *self, char *path)
{
	int fd;

	snprintf(path, PATH_MAX, "%s/capture_test.%d.unlinked", self->dir,
		 getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		child_fail("create %s: %s", path, strerror(errno));
	if (ftruncate(fd, 2 * psz))
		child_fail("ftruncate: %s", strerror(errno));
	return fd;
}

static void setup_unlinked_fd(struct _test_data_capture *self,
			      struct shared *sh)
{
	char path[PATH_MAX];

	sh->fd = child_temp_file(self, path);
	if (unlink(path))
		child_fail("unlink: %s", strerror(errno));
}

static void setup_io_uring(struct _test_data_capture *self, struct shared *sh)
{
	struct io_uring_params p;

	char disabled[16] = "";

	(void)self;
	child_require("/proc/sys/kernel/io_uring_disabled", "io_uring");
	if (!snapshot_read_text("/proc/sys/kernel/io_uring_disabled", disabled,
				sizeof(disabled)) && !strcmp(disabled, "2"))
		child_skip("io_uring is disabled (kernel.io_uring_disabled=2)");
	memset(&p, 0, sizeof(p));
	sh->fd = syscall(__NR_io_uring_setup, 1, &p);
	if (sh->fd < 0)
		child_fail("io_uring_setup: %s", strerror(errno));
}

static int open_userfaultfd(void)
{
	int fd;

	child_require("/proc/sys/vm/unprivileged_userfaultfd", "userfaultfd");
	fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		child_fail("userfaultfd: %s", strerror(errno));
	return fd;
}

static void setup_userfaultfd(struct _test_data_capture *self,
			      struct shared *sh)
{
	(void)self;
	sh->fd = open_userfaultfd();
}

static void setup_vma_unlinked(struct _test_data_capture *self,
			       struct shared *sh)
{
	char path[PATH_MAX];
	void *p;
	int fd;

	fd = child_temp_file(self, path);
	p = mmap_isolated(2, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		child_fail("mmap: %s", strerror(errno));
	close(fd);
	if (unlink(path))
		child_fail("unlink: %s", strerror(errno));
	sh->addr = (uintptr_t)p;
}

static void setup_sysv_shm(struct _test_data_capture *self, struct shared *sh)
{
	void *p;
	int id;

	(void)self;
	child_require("/proc/sys/kernel/shmmax", "SysV IPC");
	id = shmget(IPC_PRIVATE, psz, IPC_CREAT | 0600);
	if (id < 0)
		child_fail("shmget: %s", strerror(errno));
	p = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	if (p == (void *)-1)
		child_fail("shmat: %s", strerror(errno));
	sh->addr = (uintptr_t)p;
}

static void setup_hugetlb(struct _test_data_capture *self, struct shared *sh)
{
	void *p;

	(void)self;
	p = mmap(NULL, 2UL << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED)
		child_skip("MAP_HUGETLB: %s (no hugetlbfs, or no huge page reserved)",
			   strerror(errno));
	sh->addr = (uintptr_t)p;
}

/* A perf ring buffer, its descriptor closed: a mapping of something else. */
static void setup_perf(struct _test_data_capture *self, struct shared *sh)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};
	void *p;
	int fd;

	(void)self;
	fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1,
		     PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		child_skip("perf_event_open: %s", strerror(errno));
	p = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		child_skip("mmap of a perf event: %s", strerror(errno));
	close(fd);
	sh->addr = (uintptr_t)p;
}

/* A memfd has no path: "/memfd:... (deleted)" is only its name. */
static void setup_memfd_fd(struct _test_data_capture *self, struct shared *sh)
{
	(void)self;
	sh->fd = memfd_create("capture_test", 0);
	if (sh->fd < 0)
		child_fail("memfd_create: %s", strerror(errno));
	if (ftruncate(sh->fd, psz))
		child_fail("ftruncate: %s", strerror(errno));
}

static void setup_tmpfile_fd(struct _test_data_capture *self, struct shared *sh)
{
	sh->fd = open(self->dir, O_TMPFILE | O_RDWR, 0600);
	if (sh->fd < 0) {
		if (errno == EOPNOTSUPP || errno == EISDIR)
			child_skip("O_TMPFILE on %s: %s", self->dir,
				   strerror(errno));
		child_fail("O_TMPFILE: %s", strerror(errno));
	}
}

/* A private mapping of a memfd: a file mapping whose file has no path. */
static void setup_memfd_private(struct _test_data_capture *self,
				struct shared *sh)
{
	void *p;
	int fd;

	(void)self;
	fd = memfd_create("capture_test", 0);
	if (fd < 0)
		child_fail("memfd_create: %s", strerror(errno));
	if (ftruncate(fd, 2 * psz))
		child_fail("ftruncate: %s", strerror(errno));
	p = mmap_isolated(2, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		child_fail("mmap: %s", strerror(errno));
	close(fd);
	sh->addr = (uintptr_t)p;
}

TEST_F(capture, unsupported_threads)
{
	bool ok = expect_unsupported(_metadata, self, setup_thread,
				     SNAPSHOT_REASON_THREADS);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_ptraced)
{
	bool ok = expect_unsupported(_metadata, self, setup_ptraced,
				     SNAPSHOT_REASON_PTRACED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_aio)
{
	bool ok = expect_unsupported(_metadata, self, setup_aio,
				     SNAPSHOT_REASON_AIO);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_socket)
{
	bool ok = expect_unsupported(_metadata, self, setup_socket,
				     SNAPSHOT_REASON_FD_SOCKET);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_pipe)
{
	bool ok = expect_unsupported(_metadata, self, setup_pipe,
				     SNAPSHOT_REASON_FD_PIPE);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_eventfd)
{
	bool ok = expect_unsupported(_metadata, self, setup_eventfd,
				     SNAPSHOT_REASON_FD_OTHER);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_unlinked)
{
	bool ok = expect_unsupported(_metadata, self, setup_unlinked_fd,
				     SNAPSHOT_REASON_FD_UNLINKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_tmpfile)
{
	bool ok = expect_unsupported(_metadata, self, setup_tmpfile_fd,
				     SNAPSHOT_REASON_FD_UNLINKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_memfd)
{
	bool ok = expect_unsupported(_metadata, self, setup_memfd_fd,
				     SNAPSHOT_REASON_FD_UNLINKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_io_uring)
{
	bool ok = expect_unsupported(_metadata, self, setup_io_uring,
				     SNAPSHOT_REASON_FD_IO_URING);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_fd_userfaultfd)
{
	bool ok = expect_unsupported(_metadata, self, setup_userfaultfd,
				     SNAPSHOT_REASON_FD_USERFAULTFD);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_vma_unlinked)
{
	bool ok = expect_unsupported(_metadata, self, setup_vma_unlinked,
				     SNAPSHOT_REASON_VMA_UNLINKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_vma_memfd_private)
{
	bool ok = expect_unsupported(_metadata, self, setup_memfd_private,
				     SNAPSHOT_REASON_VMA_UNLINKED);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_vma_sysv_shm)
{
	bool ok = expect_unsupported(_metadata, self, setup_sysv_shm,
				     SNAPSHOT_REASON_VMA_SYSV_SHM);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_vma_hugetlb)
{
	bool ok = expect_unsupported(_metadata, self, setup_hugetlb,
				     SNAPSHOT_REASON_VMA_HUGETLB);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

TEST_F(capture, unsupported_vma_perf)
{
	bool ok = expect_unsupported(_metadata, self, setup_perf,
				     SNAPSHOT_REASON_VMA_OTHER);

	if (!ok)
		SKIP(return, "%s", self->sh->msg);
}

/* Without a reason pointer, the call still fails; with a bad one, -EFAULT. */
static void reason_ptr_case(struct __test_metadata *_metadata,
			    struct _test_data_capture *self, __u64 reason,
			    long want)
{
	struct snapshot_capture_args args = {
		.image_fd = self->image_fd,
		.reason = reason,
	};
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid) {
		setup_thread(self, self->sh);
		self->sh->ret = sys_capture(&args);
		_exit(0);
	}
	child_wait(_metadata, self, pid);
	ASSERT_EQ(want, self->sh->ret)
		TH_LOG("reason %#llx: %s", (unsigned long long)reason,
		       strerror(-self->sh->ret));
}

TEST_F(capture, unsupported_reason_null)
{
	reason_ptr_case(_metadata, self, 0, -EOPNOTSUPP);
}

TEST_F(capture, unsupported_reason_fault)
{
	reason_ptr_case(_metadata, self, 8, -EFAULT);
}

/* The child is ready, or gave up. */
static bool child_settled(struct shared *sh)
{
	return sh->skip || sh->msg[0] ||
	       __atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST);
}

/*
 * A range registered with a userfaultfd that the process no longer holds
 * (the test took a copy with pidfd_getfd()): the VMA is the reason.
 */
TEST_F(capture, unsupported_vma_userfaultfd)
{
	struct shared *sh = self->sh;
	int pidfd, copy = -1, i;
	pid_t pid;

	pid = fork_child(_metadata, self);
	if (!pid) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = {
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		struct snapshot_reason r = REASON_SENTINEL;
		int fd = open_userfaultfd();
		void *p;

		if (ioctl(fd, UFFDIO_API, &api))
			child_fail("UFFDIO_API: %s", strerror(errno));
		p = mmap_isolated(4, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			child_fail("mmap: %s", strerror(errno));
		reg.range.start = (uintptr_t)p;
		reg.range.len = 4 * psz;
		if (ioctl(fd, UFFDIO_REGISTER, &reg))
			child_fail("UFFDIO_REGISTER: %s", strerror(errno));
		sh->fd = fd;
		sh->addr = (uintptr_t)p;
		__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < 20000 && !__atomic_load_n(&sh->go,
							  __ATOMIC_SEQ_CST);
		     i++)
			nap_ms(1);
		close(fd);
		image_scribble(self->image_fd);
		sh->ret = capture_into(self->image_fd, 0, &r);
		sh->reason = r;
		sh->magic = has_magic(self->image_fd);
		_exit(0);
	}
	for (i = 0; i < 20000 && !child_settled(sh); i++)
		nap_ms(1);
	if (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST)) {
		pidfd = sys_pidfd_open(pid);
		if (pidfd >= 0)
			copy = syscall(SYS_pidfd_getfd, pidfd, sh->fd, 0);
		if (pidfd >= 0)
			close(pidfd);
		snprintf(sh->path, sizeof(sh->path), "%s", strerror(errno));
	}
	__atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
	child_wait(_metadata, self, pid);
	if (sh->skip)
		SKIP(return, "%s", sh->msg);
	if (copy < 0)
		SKIP(return, "pidfd_getfd: %.200s", sh->path);
	check_unsupported(_metadata, sh->ret, &sh->reason,
			  SNAPSHOT_REASON_VMA_USERFAULTFD, -1, sh->addr,
			  sh->magic);
	close(copy);
}

/* The same reasons, for a stopped child captured through a pidfd. */
static void remote_unsupported(struct __test_metadata *_metadata,
			       struct _test_data_capture *self,
			       child_setup_t setup, __u32 code)
{
	struct snapshot_reason r = REASON_SENTINEL;
	long ret;
	pid_t pid;

	pid = spawn_target(_metadata, self, T_STOP, setup);
	stop_target(_metadata, pid, false);
	image_scribble(self->image_fd);
	ret = capture_pid(_metadata, pid, 0, self->image_fd, &r);
	check_unsupported(_metadata, ret, &r, code, self->sh->fd, 0,
			  has_magic(self->image_fd));
	kill_kid(self, pid);
}

TEST_F(capture, unsupported_remote_threads)
{
	remote_unsupported(_metadata, self, setup_thread,
			   SNAPSHOT_REASON_THREADS);
}

TEST_F(capture, unsupported_remote_socket)
{
	remote_unsupported(_metadata, self, setup_socket,
			   SNAPSHOT_REASON_FD_SOCKET);
}

/*
 * -ENOSPC: the image does not fit on a 256 KiB tmpfs. What was written
 * has no header.
 */
TEST_F(capture, err_enospc)
{
	struct snapshot_reason r = REASON_SENTINEL;
	const unsigned long nr = 512;	/* 2 MiB */
	char path[PATH_MAX + 16];
	struct stat st;
	unsigned long i;
	long ret;
	char *p;
	int fd;

	snprintf(self->mnt, sizeof(self->mnt), "/tmp/capture_test.%d.XXXXXX",
		 getpid());
	ASSERT_NE(NULL, mkdtemp(self->mnt))
		TH_LOG("mkdtemp: %s", strerror(errno));
	if (mount("capture_test", self->mnt, "tmpfs", 0, "size=256k")) {
		if (errno == EPERM)
			SKIP(return, "cannot mount tmpfs: %s",
			     strerror(errno));
		ASSERT_TRUE(false) TH_LOG("mount: %s", strerror(errno));
	}
	self->mounted = true;
	snprintf(path, sizeof(path), "%s/image", self->mnt);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", path, strerror(errno));
	p = map_isolated(_metadata, nr, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < nr; i++)
		*(__u64 *)(p + i * psz) = snapshot_pattern(REGION_SEED + 8, i, 0);

	ret = capture_into(fd, 0, &r);
	expect_error(_metadata, ret, ENOSPC, &r, "image on a full tmpfs");
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_FALSE(has_magic(fd))
		TH_LOG("the partial image (%lld bytes) has a header",
		       (long long)st.st_size);
	close(fd);
}

TEST_HARNESS_MAIN
