// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot_restore() end to end: processes captured, restored, and checked
 * from the inside.
 *
 * Every test forks a child, the captured process, that sets up the state
 * under test and captures itself into an image. On the first return from
 * snapshot_capture() (0) it writes down what the restored process will be
 * compared with, where that cannot live in its own memory (its
 * /proc/self/smaps, for the tests of the memory map), and exits. Another
 * child then calls snapshot_restore() with the image. On success it becomes
 * the captured process, resuming as a return from snapshot_capture() with
 * SNAPSHOT_RESUMED in the same code, which checks its state against what
 * the captured process recorded in memory before the capture (a CRC32C of
 * every page, the registers, the limits...). The restored process reports
 * each difference as a line on a pipe that the fd map installs as its
 * descriptor RESULT_FD, and exits with EXIT_VERIFIED or EXIT_MISMATCH; the
 * test logs the lines and checks the status. A child that fails to get
 * ready says why and exits with EXIT_SETUP; one whose snapshot_restore()
 * fails exits with the errno.
 *
 * The captured and restored processes never use the harness's ASSERT and
 * EXPECT macros: they would jump into the harness from another process.
 * Nor do they allocate memory between the capture and the comparison of
 * their memory maps, which would change what they compare.
 *
 * The test waits for every child with a deadline and kills it when it is
 * over, so that a restore that hangs (in the kernel or in the restored
 * process) fails its test with a message rather than the whole run.
 *
 * Copy mode must work; SNAPSHOT_RESTORE_SHARE_CACHE and
 * SNAPSHOT_RESTORE_LAZY may not be implemented yet, and their tests skip
 * when the kernel says -EOPNOTSUPP.
 *
 * Files and images go under /scratch when it is a writable directory (a
 * disk in the test guest), else under /tmp.
 */

#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <asm/prctl.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"
#include "snapshot_image_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK		18
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT		0x01
#endif

/*
 * Descriptors of a restored process that the fd map installs: the report
 * pipe, and a pipe the test closes to let it go on. Below the lowest
 * RLIMIT_NOFILE a test gives a captured process.
 */
#define RESULT_FD		30
#define CONTROL_FD		31

/*
 * Exit statuses of the children; a child whose snapshot_restore() fails
 * exits with the errno, which is below all of them.
 */
#define EXIT_VERIFIED		200	/* restored: every check passed */
#define EXIT_RETURNED		201	/* snapshot_restore() returned >= 0 */
#define EXIT_SETUP		202	/* a child could not get ready */
#define EXIT_MISMATCH		203	/* restored: a check failed */
#define EXIT_CHAINED		204	/* restored, then captured itself */
#define EXIT_SKIP		205	/* the system lacks what the test needs */
#define EXIT_PAGE_BAD		210	/* + N: page N of the fuzzed region */
#define EXIT_PAGES_BAD		230	/* several pages of the fuzzed region */

/* How a child ended: -errno, or one of these. */
#define OUT_EXIT		0x1000L	/* | exit status */
#define OUT_SIGNAL		0x2000L	/* | the signal that killed it */
#define OUT_TIMEOUT		0x4000L	/* killed at the deadline */
#define OUT_HUNG		0x4001L	/* ... still in snapshot_restore() */
#define OUT_LOST		0x4002L	/* waitpid() failed */
#define OUT_DAMAGED		0x4003L	/* an error, and the caller damaged */
#define OUT_VERIFIED		(OUT_EXIT | EXIT_VERIFIED)

#define NSEC_PER_SEC		1000000000ULL
#define CHILD_SECONDS		20	/* a child's deadline */
#define REPORT_MAX		16384	/* bytes of a report kept */
#define REPORT_LINES		64	/* lines a restored process writes */
#define MSG_SIZE		512
#define MAX_KIDS		16
#define FD_SCAN			64	/* descriptors a restored process checks */

/* The fixture's files: FILE_PAGES, 2 and 1 page of their patterns. */
#define FILE_PAGES		16
#define FILE_SEED		0xf11e00ULL
#define FILE2_SEED		0xf11e02ULL
#define FILE3_SEED		0xf11e03ULL
/* Pattern seeds of the tests' regions, at most 24 bits. */
#define SEED(n)			(0x5e5700ULL + (n))

/* Far below the mmap area and above the program: nothing else goes there. */
#define GROWSDOWN_ADDR		0x300000000000UL

static unsigned long psz;	/* the page size */

/*
 * Small helpers.
 */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void nap_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
}

static void close_from(unsigned int first)
{
	unsigned int fd;

	if (!syscall(SYS_close_range, first, ~0U, 0))
		return;
	for (fd = first; fd < 4096; fd++)
		close(fd);
}

static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "an unknown errno";
}

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

static __u64 word_at(const void *p)
{
	__u64 w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* Read the byte at @p: the access happens, its value is not used. */
static void touch(const void *p)
{
	char c = __atomic_load_n((const char *)p, __ATOMIC_RELAXED);

	__asm__ volatile("" : : "r" (c));
}

/* Write @v to the word at @p, which the compiler may not leave out. */
static void poke(void *p, __u64 v)
{
	__atomic_store_n((__u64 *)p, v, __ATOMIC_RELAXED);
}

static __u64 peek(const void *p)
{
	return __atomic_load_n((const __u64 *)p, __ATOMIC_RELAXED);
}

/*
 * In the children.
 */

static char *child_msg;		/* where a child says why it gave up */
static int report_fd = RESULT_FD;	/* where a restored process reports */
static unsigned int nr_failed, nr_lines;

static void write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

/*
 * End a child that could not do its part (EXIT_SETUP) or that finds the
 * system without what the test needs (EXIT_SKIP): the reason goes to the
 * fixture, which the test shares with the children it forked, and, for a
 * failure, to stderr, which a restored process shares too.
 */
static __noreturn __printf(2, 3) void child_end(int code, const char *fmt,
						...)
{
	char buf[MSG_SIZE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (child_msg)
		memcpy(child_msg, buf, sizeof(buf));
	if (code != EXIT_SKIP) {
		char line[MSG_SIZE + 32];

		n = snprintf(line, sizeof(line), "# child %d: %s\n", getpid(),
			     buf);
		if (n > (int)sizeof(line) - 1)
			n = sizeof(line) - 1;
		write_all(2, line, n);
	}
	_exit(code);
}

#define child_fail(...)	child_end(EXIT_SETUP, __VA_ARGS__)
#define child_skip(...)	child_end(EXIT_SKIP, __VA_ARGS__)

static __printf(1, 0) void vsay(const char *fmt, va_list ap)
{
	char buf[600];
	int n = 0, m;

	if (nr_lines++ >= REPORT_LINES)
		return;
	if (report_fd <= 2)
		n = snprintf(buf, sizeof(buf), "# ");
	m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	n = m < 0 ? n : n + m;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	write_all(report_fd, buf, n);
}

/* In a restored process: a line for the test's log. */
static __printf(1, 2) void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* ... a check that failed. */
static __printf(1, 2) void fail(const char *fmt, ...)
{
	va_list ap;

	nr_failed++;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

static __noreturn void finish(void)
{
	_exit(nr_failed ? EXIT_MISMATCH : EXIT_VERIFIED);
}

/*
 * @pages pages mapped with @prot and @flags (from @fd at @off, or
 * anonymous), an unmapped page on each side: a VMA of its own that cannot
 * merge with a neighbour.
 */
static void *mmap_isolated(unsigned long pages, int prot, int flags, int fd,
			   off_t off)
{
	char *r, *p;

	r = mmap(NULL, (pages + 2) * psz, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	p = mmap(r + psz, pages * psz, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		munmap(r, (pages + 2) * psz);
		return MAP_FAILED;
	}
	if (munmap(r, psz) || munmap(r + (pages + 1) * psz, psz))
		return MAP_FAILED;
	return p;
}

/* mmap_isolated(), in a child. */
static char *xmap(unsigned long pages, int prot, int flags, int fd, off_t off)
{
	char *p = mmap_isolated(pages, prot, flags, fd, off);

	if (p == MAP_FAILED)
		child_fail("mmap of %lu pages (prot %#x, flags %#x): %s",
			   pages, prot, flags, strerror(errno));
	return p;
}

static void xmprotect(void *p, unsigned long pages, int prot)
{
	if (mprotect(p, pages * psz, prot))
		child_fail("mprotect(%p, %lu pages, %#x): %s", p, pages, prot,
			   strerror(errno));
}

/*
 * The regions a test checks page by page: the captured process records
 * the CRC32C of every page, and its first and last words, before the
 * capture; the restored process finds them in its memory. A page that
 * must stay untouched until the capture gets its expected contents from
 * the pattern instead (region_expect()).
 */

#define MAX_REGIONS	40
#define MAX_PAGES	64	/* in a region */

struct region {
	const char *name;
	char *addr;
	unsigned long pages;
	int prot;		/* the protection the test left it with */
	__u64 preset;		/* pages set by region_expect(), a bit each */
	__u32 crc[MAX_PAGES];
	__u64 first[MAX_PAGES], last[MAX_PAGES];
};

static struct region regions[MAX_REGIONS];
static unsigned int nr_regions;

static struct region *add_region(const char *name, void *addr,
				 unsigned long pages, int prot)
{
	struct region *r;

	if (nr_regions == MAX_REGIONS || pages > MAX_PAGES)
		child_fail("%s: too many regions or pages", name);
	r = &regions[nr_regions++];
	r->name = name;
	r->addr = addr;
	r->pages = pages;
	r->prot = prot;
	return r;
}

static void page_record(struct region *r, unsigned long i, const char *p)
{
	r->crc[i] = crc32c(p, psz);
	r->first[i] = word_at(p);
	r->last[i] = word_at(p + psz - sizeof(__u64));
}

/*
 * Expect page @i of @r to hold page @page of @seed's pattern (seed 0:
 * zeroes), without touching it.
 */
static void region_expect(struct region *r, unsigned long i, __u64 seed,
			  unsigned long page)
{
	static char buf[1 << 16];

	snapshot_pattern_fill(buf, 1, seed, page);
	page_record(r, i, buf);
	r->preset |= 1ULL << i;
}

/* Record the pages of the regions from the @from'th on; readable now. */
static void regions_record(unsigned int from)
{
	struct region *r;
	unsigned long i;

	for (r = &regions[from]; r < &regions[nr_regions]; r++) {
		for (i = 0; i < r->pages; i++) {
			if (r->preset & 1ULL << i)
				continue;
			page_record(r, i, r->addr + i * psz);
		}
	}
}

/*
 * In a restored process: every page of every region is as recorded (with
 * @quick, its first and last words only). A region that cannot be read is
 * made readable for the check, then set back.
 */
static void regions_check(bool quick)
{
	struct region *r;
	unsigned long i;
	__u64 w0, w1;
	bool opened;
	__u32 crc;
	char *p;

	for (r = regions; r < &regions[nr_regions]; r++) {
		opened = false;
		if (!(r->prot & PROT_READ)) {
			if (mprotect(r->addr, r->pages * psz, PROT_READ)) {
				fail("%s: mprotect(PROT_READ): %s", r->name,
				     strerror(errno));
				continue;
			}
			opened = true;
		}
		for (i = 0; i < r->pages; i++) {
			p = r->addr + i * psz;
			w0 = word_at(p);
			w1 = word_at(p + psz - sizeof(__u64));
			if (w0 != r->first[i] || w1 != r->last[i]) {
				fail("%s, page %lu at %p: %#llx..%#llx, expected %#llx..%#llx",
				     r->name, i, p, (unsigned long long)w0,
				     (unsigned long long)w1,
				     (unsigned long long)r->first[i],
				     (unsigned long long)r->last[i]);
				continue;
			}
			if (quick)
				continue;
			crc = crc32c(p, psz);
			if (crc != r->crc[i])
				fail("%s, page %lu at %p: CRC32C %#x, expected %#x",
				     r->name, i, p, crc, r->crc[i]);
		}
		if (opened && mprotect(r->addr, r->pages * psz, r->prot))
			fail("%s: mprotect(%#x): %s", r->name, r->prot,
			     strerror(errno));
	}
}

/*
 * /proc/self/maps and smaps, read without allocating memory.
 */

static char maps_buf[256 << 10];
static char smaps_buf[1 << 20];

/*
 * The range of the mappings named @name (consecutive ones together: a
 * forked process that grows its heap gets a second [heap] VMA, which
 * cannot merge with the one it shares with its parent), or if @name is
 * NULL of the one holding @addr: 0 or -errno.
 */
static int maps_find(const char *name, unsigned long addr,
		     unsigned long *start, unsigned long *end)
{
	char *line, *nl;
	unsigned long s, e;
	bool found = false;
	int pos, err;

	err = snapshot_read_text("/proc/self/maps", maps_buf,
				 sizeof(maps_buf));
	if (err)
		return err;
	for (line = maps_buf; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		pos = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &s, &e,
			   &pos) < 2)
			continue;
		if (!name) {
			if (addr < s || addr >= e)
				continue;
			*start = s;
			*end = e;
			return 0;
		}
		if (!pos || strcmp(line + pos, name))
			continue;
		if (!found) {
			*start = s;
			found = true;
		} else if (s != *end) {
			break;
		}
		*end = e;
	}
	return found ? 0 : -ENOENT;
}

/*
 * Write the lines of /proc/self/smaps that /proc/self/maps has, each
 * followed by its VmFlags line, to @path: 0 or -errno. The captured
 * process calls it on its first return from snapshot_capture(), the
 * restored process at the same point, on its return; the test compares.
 */
static int dump_maps(const char *path)
{
	unsigned long a, b;
	char *line, *nl;
	size_t len = 0;
	ssize_t n;
	int fd, out;

	fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, smaps_buf + len, sizeof(smaps_buf) - 1 - len);
		if (n > 0)
			len += n;
	} while (n > 0 && len < sizeof(smaps_buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if (len == sizeof(smaps_buf) - 1)
		return -EFBIG;
	smaps_buf[len] = '\0';
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	for (line = smaps_buf; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		if (!strncmp(line, "VmFlags:", 8) ||
		    sscanf(line, "%lx-%lx ", &a, &b) == 2)
			write_all(out, line, nl - line + 1);
	}
	close(out);
	return 0;
}

/*
 * Capturing.
 */

/*
 * Capture the calling process into @path with @flags: 0 on the first
 * return, SNAPSHOT_RESUMED in a restored process. A failure ends the child.
 */
static long capture_here(const char *path, __u64 flags)
{
	struct snapshot_reason why = { .fd = -1 };
	struct snapshot_capture_args args = {
		.flags = flags,
		.reason = (uintptr_t)&why,
	};
	long ret;

	args.image_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0600);
	if (args.image_fd < 0)
		child_fail("create %s: %s", path, strerror(errno));
	ret = snapshot_syscall(__NR_snapshot_capture, &args, sizeof(args));
	/* The image's descriptor is not in the image. */
	if (ret == SNAPSHOT_RESUMED)
		return ret;
	close(args.image_fd);
	if (ret)
		child_fail("snapshot_capture: %s (reason %u, fd %d, addr %#llx)",
			   ret < 0 ? strerror(-ret) : "returned > 1",
			   why.code, why.fd, (unsigned long long)why.addr);
	return 0;
}

/*
 * The fixture.
 */

FIXTURE(restored) {
	char dir[16];			/* /scratch or /tmp */
	char image[PATH_MAX];
	char image2[PATH_MAX];		/* a second image, or a work copy */
	char expect[PATH_MAX];		/* the captured process's smaps */
	char got[PATH_MAX];		/* ... and the restored process's */
	char file[PATH_MAX];		/* FILE_PAGES pages of FILE_SEED */
	char file2[PATH_MAX];		/* 2 pages of FILE2_SEED */
	char file3[PATH_MAX];		/* 1 page of FILE3_SEED */
	char subdir[PATH_MAX];		/* created by the test that uses it */
	char msg[MSG_SIZE];		/* why a child gave up */
	unsigned long addr;		/* an address a child tells the test */
	pid_t kids[MAX_KIDS];		/* children to kill if a test ends */
};

typedef void (*child_fn)(struct _test_data_restored *self);

/*
 * Create @path with @pages pages of @seed's pattern. Without malloc(): the
 * processes the tests capture are forks of this one, and a heap grown here
 * would be a [heap] VMA of its own in them, next to the one this process
 * shares with the harness, which a restore might merge with it.
 */
static void make_file(struct __test_metadata *_metadata, const char *path,
		      unsigned long pages, __u64 seed)
{
	static char buf[1 << 16];
	unsigned long i;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", path, strerror(errno));
	for (i = 0; i < pages; i++) {
		snapshot_pattern_fill(buf, 1, seed, i);
		err = snapshot_write_all(fd, buf, psz, i * psz);
		ASSERT_EQ(0, err) TH_LOG("write %s: %s", path, strerror(-err));
	}
	close(fd);
}

FIXTURE_SETUP(restored)
{
	const char *base = "restore_run_test";
	pid_t me = getpid();
	struct stat st;
	bool scratch;

	SNAPSHOT_REQUIRE(return);

	psz = getpagesize();
	ASSERT_EQ(0xe3069283U, crc32c("123456789", 9))
		TH_LOG("the test's CRC32C is wrong");
	scratch = !stat("/scratch", &st) && S_ISDIR(st.st_mode) &&
		  !access("/scratch", W_OK);
	snprintf(self->dir, sizeof(self->dir), "%s",
		 scratch ? "/scratch" : "/tmp");
	snprintf(self->image, sizeof(self->image), "%s/%s.%d.image",
		 self->dir, base, me);
	snprintf(self->image2, sizeof(self->image2), "%s/%s.%d.image2",
		 self->dir, base, me);
	snprintf(self->expect, sizeof(self->expect), "%s/%s.%d.expect",
		 self->dir, base, me);
	snprintf(self->got, sizeof(self->got), "%s/%s.%d.got", self->dir,
		 base, me);
	snprintf(self->file, sizeof(self->file), "%s/%s.%d.file", self->dir,
		 base, me);
	snprintf(self->file2, sizeof(self->file2), "%s/%s.%d.file2",
		 self->dir, base, me);
	snprintf(self->file3, sizeof(self->file3), "%s/%s.%d.file3",
		 self->dir, base, me);
	snprintf(self->subdir, sizeof(self->subdir), "%s/%s.%d.dir",
		 self->dir, base, me);
	make_file(_metadata, self->file, FILE_PAGES, FILE_SEED);
	make_file(_metadata, self->file2, 2, FILE2_SEED);
	make_file(_metadata, self->file3, 1, FILE3_SEED);
}

/* In the parent, after the test process is gone. */
FIXTURE_TEARDOWN_PARENT(restored)
{
	unsigned int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (self->kids[i] > 0)
			kill(self->kids[i], SIGKILL);
	/* Paths that were never set are "": unlink("") fails harmlessly. */
	unlink(self->image);
	unlink(self->image2);
	unlink(self->expect);
	unlink(self->got);
	unlink(self->file);
	unlink(self->file2);
	unlink(self->file3);
	rmdir(self->subdir);
}

/*
 * Children, and how they end.
 */

static void track(struct _test_data_restored *self, pid_t pid, bool add)
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

/* fork(): 0 in the child. */
static pid_t fork_kid(struct __test_metadata *_metadata,
		      struct _test_data_restored *self)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		child_msg = self->msg;
		return 0;
	}
	track(self, pid, true);
	return pid;
}

static long outcome_of(int status)
{
	int code;

	if (WIFSIGNALED(status))
		return OUT_SIGNAL | WTERMSIG(status);
	code = WEXITSTATUS(status);
	if (code > 0 && code < EXIT_VERIFIED)
		return -code;
	return OUT_EXIT | code;
}

/* What an outcome means, in words (in one of a few static buffers). */
static const char *outcome_str(long r)
{
	static char bufs[4][160];
	static unsigned int next;
	char *buf = bufs[next++ % ARRAY_SIZE(bufs)];
	const size_t size = sizeof(bufs[0]);
	int code;

	if (r < 0) {
		snprintf(buf, size, "-%s", errname(-r));
		return buf;
	}
	switch (r) {
	case OUT_TIMEOUT:
		return "still running at the deadline (killed)";
	case OUT_HUNG:
		return "still in snapshot_restore() at the deadline (killed)";
	case OUT_LOST:
		return "lost (waitpid() failed)";
	case OUT_DAMAGED:
		return "an error, but the caller's descriptors are gone";
	}
	if (r & OUT_SIGNAL) {
		snprintf(buf, size, "killed by signal %ld (%s)", r & 0xff,
			 strsignal(r & 0xff));
		return buf;
	}
	code = r & 0xff;
	switch (code) {
	case 0:
		return "exited with status 0";
	case EXIT_VERIFIED:
		return "restored, and every check passed";
	case EXIT_RETURNED:
		return "snapshot_restore() returned without error";
	case EXIT_SETUP:
		return "the child gave up before the call";
	case EXIT_MISMATCH:
		return "restored, with differences";
	case EXIT_CHAINED:
		return "restored, and captured itself again";
	case EXIT_SKIP:
		return "skipped";
	case EXIT_PAGES_BAD:
		return "restored, several pages of the region differ";
	}
	if (code >= EXIT_PAGE_BAD && code < EXIT_PAGES_BAD)
		snprintf(buf, size, "restored, page %d of the region differs",
			 code - EXIT_PAGE_BAD);
	else
		snprintf(buf, size, "exited with status %d", code);
	return buf;
}

/* The system call @pid is blocked in, -1 if none, LONG_MIN if running. */
static long syscall_of(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	if (snapshot_read_text(path, buf, sizeof(buf)) ||
	    !(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')))
		return LONG_MIN;
	return strtol(buf, NULL, 10);
}

/* Kill @pid, which did not end in time, and reap it. */
static long kill_late(pid_t pid)
{
	long r = syscall_of(pid) == __NR_snapshot_restore ? OUT_HUNG :
							     OUT_TIMEOUT;
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return r;
}

/* Wait for @pid until @deadline (CLOCK_MONOTONIC); kill it then. */
static long wait_kid(struct _test_data_restored *self, pid_t pid,
		     __u64 deadline)
{
	int status = 0;
	long r;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			r = outcome_of(status);
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = OUT_LOST;
			break;
		}
		if (now_ns() >= deadline) {
			r = kill_late(pid);
			break;
		}
		nap_ms(2);
	}
	track(self, pid, false);
	return r;
}

static __u64 deadline_in(unsigned int seconds)
{
	return now_ns() + seconds * NSEC_PER_SEC;
}

/* A new child: the standard streams open, nothing else. */
static void child_prepare(void)
{
	int i;

	close_from(3);
	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) != i)
			child_fail("cannot open /dev/null as fd %d", i);
}

/* Fork a child that runs @fn, with @in as its standard input if >= 0. */
static pid_t fork_child(struct __test_metadata *_metadata,
			struct _test_data_restored *self, child_fn fn, int in)
{
	pid_t pid;

	self->msg[0] = '\0';
	pid = fork_kid(_metadata, self);
	if (!pid) {
		if (in >= 0 && dup2(in, 0) != 0)
			child_fail("dup2: %s", strerror(errno));
		child_prepare();
		fn(self);
		child_fail("the child's function returned");
	}
	return pid;
}

/*
 * Run the process to capture, @fn, until its first life ends: false if it
 * skipped the test.
 */
static bool capture_child(struct __test_metadata *_metadata,
			  struct _test_data_restored *self, child_fn fn)
{
	pid_t pid = fork_child(_metadata, self, fn, -1);
	long r = wait_kid(self, pid, deadline_in(CHILD_SECONDS));

	if (r == (OUT_EXIT | EXIT_SKIP))
		SKIP(return false, "%s", self->msg);
	ASSERT_EQ(OUT_EXIT, r)
		TH_LOG("the process to capture: %s%s%s", outcome_str(r),
		       self->msg[0] ? ": " : "", self->msg);
	return true;
}

/*
 * Restoring.
 */

struct restore_call {
	const char *image;
	__u64 flags;
	struct snapshot_fd_map map[8];	/* besides the report pipe's */
	unsigned int nr_map;
	bool no_report;			/* the restored process only exits */
	/* In the child, before the call: NULL, or why it cannot go on. */
	const char *(*prep)(struct restore_call *c);
	struct _test_data_restored *self;
};

struct report {
	char text[REPORT_MAX];
	size_t len;
};

static __noreturn void restorer_main(struct restore_call *c, int report)
{
	struct snapshot_restore_args args = { .flags = c->flags };
	const char *why;
	long ret;
	int i;

	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) != i)
			child_fail("cannot open /dev/null as fd %d", i);
	/*
	 * Not the image's: what the restored process has must come from the
	 * image, not from here.
	 */
	prctl(PR_SET_NAME, "restorer");
	umask(077);
	if (chdir("/"))
		child_fail("chdir /: %s", strerror(errno));
	why = c->prep ? c->prep(c) : NULL;
	if (why)
		child_fail("%s", why);
	if (report >= 0)
		c->map[c->nr_map++] = (struct snapshot_fd_map) {
			.image_fd = RESULT_FD,
			.caller_fd = report,
		};
	args.image_fd = open(c->image, O_RDONLY | O_CLOEXEC);
	if (args.image_fd < 0)
		child_fail("open %s: %s", c->image, strerror(errno));
	if (c->nr_map) {
		args.nr_fd_map = c->nr_map;
		args.fd_map = (uintptr_t)c->map;
	}
	ret = snapshot_syscall(__NR_snapshot_restore, &args, sizeof(args));
	_exit(ret < 0 && -ret < EXIT_VERIFIED ? -ret : EXIT_RETURNED);
}

/* Fork a child that restores as @c says; *@rd is its report pipe, or -1. */
static pid_t restore_start(struct __test_metadata *_metadata,
			   struct _test_data_restored *self,
			   struct restore_call *c, int *rd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	c->self = self;
	if (!c->no_report)
		ASSERT_EQ(0, pipe2(p, O_CLOEXEC))
			TH_LOG("pipe2: %s", strerror(errno));
	pid = fork_kid(_metadata, self);
	if (!pid) {
		if (p[0] >= 0)
			close(p[0]);
		restorer_main(c, p[1]);
	}
	if (p[1] >= 0)
		close(p[1]);
	*rd = p[0];
	return pid;
}

/* Read what @fd has into @rep: 1 at the end of the file, 0, or -errno. */
static int report_read(int fd, struct report *rep)
{
	char buf[4096];
	size_t room;
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (!n)
		return 1;
	room = sizeof(rep->text) - 1 - rep->len;
	if ((size_t)n > room)
		n = room;
	memcpy(rep->text + rep->len, buf, n);
	rep->len += n;
	rep->text[rep->len] = '\0';
	return 0;
}

/* Read @fd into @rep until its end: false if @deadline came first. */
static bool report_drain(int fd, struct report *rep, __u64 deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	__u64 now;
	int ret;

	for (;;) {
		now = now_ns();
		if (now >= deadline)
			return false;
		ret = poll(&pfd, 1, (deadline - now) / 1000000 + 1);
		if (ret < 0 && errno != EINTR)
			return false;
		if (ret <= 0)
			continue;
		ret = report_read(fd, rep);
		if (ret)
			return ret > 0;
	}
}

/* The report of @pid on @rd, then how it ended, by @deadline. */
static long restore_finish(struct _test_data_restored *self, pid_t pid,
			   int rd, struct report *rep, __u64 deadline)
{
	long r;

	if (rd >= 0) {
		if (!report_drain(rd, rep, deadline)) {
			r = kill_late(pid);
			track(self, pid, false);
			close(rd);
			return r;
		}
		close(rd);
	}
	return wait_kid(self, pid, deadline);
}

static long restore_run(struct __test_metadata *_metadata,
			struct _test_data_restored *self,
			struct restore_call *c, struct report *rep)
{
	pid_t pid;
	int rd;

	rep->len = 0;
	rep->text[0] = '\0';
	pid = restore_start(_metadata, self, c, &rd);
	return restore_finish(self, pid, rd, rep, deadline_in(CHILD_SECONDS));
}

/* Log the lines of a report (but the protocol's, which start with '@'). */
static void log_report(struct __test_metadata *_metadata,
		       const struct report *rep, const char *who)
{
	const char *line = rep->text, *nl;
	char buf[700];
	size_t len;

	while (*line) {
		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (buf[0] != '@')
			TH_LOG("%s: %s", who, buf);
		if (!nl)
			break;
		line = nl + 1;
	}
}

static void expect_restored(struct __test_metadata *_metadata, long r,
			    const struct report *rep, const char *what)
{
	log_report(_metadata, rep, "restored process");
	EXPECT_EQ(OUT_VERIFIED, r)
		TH_LOG("%s: %s, expected a restore that passes its checks",
		       what, outcome_str(r));
}

/* Restore the fixture's image plainly; the restored process must pass. */
static void restore_plain(struct __test_metadata *_metadata,
			  struct _test_data_restored *self, const char *what)
{
	struct restore_call c = { .image = self->image };
	struct report rep;
	long r;

	r = restore_run(_metadata, self, &c, &rep);
	expect_restored(_metadata, r, &rep, what);
}

/*
 * Comparing the memory maps.
 */

struct smaps_entry {
	unsigned long start;
	const char *header;	/* the /proc/self/maps line */
	const char *flags;	/* its VmFlags line, or "" */
};

struct smaps_dump {
	char *text;
	struct smaps_entry *e;
	unsigned int n;
};

static int smaps_load(const char *path, struct smaps_dump *d)
{
	char *line, *nl;
	unsigned long a, b;
	unsigned int cap = 0;
	struct stat st;
	int fd, err;

	memset(d, 0, sizeof(*d));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	d->text = calloc(1, st.st_size + 1);
	err = d->text ? read_all(fd, d->text, st.st_size, 0) : -ENOMEM;
	close(fd);
	if (err)
		return err;
	for (line = d->text; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (!strncmp(line, "VmFlags:", 8)) {
			if (d->n)
				d->e[d->n - 1].flags = line;
			continue;
		}
		if (sscanf(line, "%lx-%lx ", &a, &b) != 2)
			continue;
		if (d->n == cap) {
			cap = cap ? 2 * cap : 64;
			d->e = realloc(d->e, cap * sizeof(*d->e));
			if (!d->e)
				return -ENOMEM;
		}
		d->e[d->n++] = (struct smaps_entry) {
			.start = a, .header = line, .flags = "",
		};
	}
	return 0;
}

static void smaps_free(struct smaps_dump *d)
{
	free(d->text);
	free(d->e);
}

/*
 * A maps line as the comparison sees it. A shared anonymous mapping is a
 * new shmem object after a restore, with another inode number; one of a
 * memfd is restored as shared anonymous memory, named /dev/zero.
 */
static void maps_key(const char *line, char *out, size_t size)
{
	unsigned long start, end, off, ino;
	unsigned int maj, min;
	char perms[8];
	const char *name;
	size_t len;
	int pos = 0;

	if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms,
		   &off, &maj, &min, &ino, &pos) < 7 || !pos) {
		snprintf(out, size, "%s", line);
		return;
	}
	name = line + pos;
	len = strlen(name);
	if (perms[3] == 's' && (!strcmp(name, "/dev/zero (deleted)") ||
				(!strncmp(name, "/memfd:", 7) && len > 10 &&
				 !strcmp(name + len - 10, " (deleted)")))) {
		snprintf(out, size,
			 "%08lx-%08lx %s %08lx %02x:%02x (an inode) /dev/zero (deleted)",
			 start, end, perms, off, maj, min);
		return;
	}
	snprintf(out, size, "%s", line);
}

/*
 * The mappings in @got_path, written by the restored process, are those
 * in @expect_path, written by the captured process: ranges, permissions,
 * offsets, files, names and VmFlags.
 */
static void compare_maps(struct __test_metadata *_metadata,
			 const char *expect_path, const char *got_path)
{
	struct smaps_dump a, b;
	const struct smaps_entry *x, *y;
	char ka[600], kb[600];
	unsigned int i = 0, j = 0, diffs = 0;
	int err;

	err = smaps_load(expect_path, &a);
	ASSERT_EQ(0, err) TH_LOG("the captured process's smaps (%s): %s",
				 expect_path, strerror(-err));
	err = smaps_load(got_path, &b);
	ASSERT_EQ(0, err) TH_LOG("the restored process's smaps (%s): %s",
				 got_path, strerror(-err));
	ASSERT_LT(0U, a.n) TH_LOG("no mappings in %s", expect_path);
	while (i < a.n || j < b.n) {
		x = i < a.n ? &a.e[i] : NULL;
		y = j < b.n ? &b.e[j] : NULL;
		if (x && (!y || x->start < y->start)) {
			if (diffs++ < 16)
				TH_LOG("only in the captured process: %s",
				       x->header);
			i++;
			continue;
		}
		if (y && (!x || y->start < x->start)) {
			if (diffs++ < 16)
				TH_LOG("only in the restored process: %s",
				       y->header);
			j++;
			continue;
		}
		maps_key(x->header, ka, sizeof(ka));
		maps_key(y->header, kb, sizeof(kb));
		if (strcmp(ka, kb)) {
			if (diffs++ < 16)
				TH_LOG("captured \"%s\", restored \"%s\"",
				       x->header, y->header);
		} else if (strcmp(x->flags, y->flags)) {
			if (diffs++ < 16)
				TH_LOG("%s: captured \"%s\", restored \"%s\"",
				       x->header, x->flags, y->flags);
		}
		i++;
		j++;
	}
	EXPECT_EQ(0U, diffs)
		TH_LOG("%u smaps differences: captured %u mappings, restored %u",
		       diffs, a.n, b.n);
	smaps_free(&a);
	smaps_free(&b);
}

/* The first bytes of page @page of @path are page @want_page of @seed. */
static void check_file_page(struct __test_metadata *_metadata,
			    const char *path, unsigned long page, __u64 seed,
			    unsigned long want_page, const char *what)
{
	char *buf = malloc(psz);
	long word;
	int fd, err;

	ASSERT_NE(NULL, buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
	err = read_all(fd, buf, psz, page * psz);
	close(fd);
	ASSERT_EQ(0, err) TH_LOG("read %s: %s", path, strerror(-err));
	word = pattern_diff(buf, seed, want_page);
	EXPECT_EQ(-1, word)
		TH_LOG("%s: page %lu of the file, word %ld: %#llx, expected %#llx",
		       what, page, word,
		       (unsigned long long)((__u64 *)buf)[word < 0 ? 0 : word],
		       (unsigned long long)snapshot_pattern(seed, want_page,
							    word < 0 ? 0 :
							    word));
	free(buf);
}

/*
 * Every kind of mapping, with every kind of page: /proc/self/maps and the
 * VmFlags are as they were, every page holds what it held. Then the
 * sharing: a child of the restored process writes to each kind, and only
 * the shared ones show it; a write to the shared file mapping reaches the
 * file, one to the private file mapping does not.
 */

#define MX_MARK		0x6d61726b6d61726bULL

static void mapping_matrix_child(struct _test_data_restored *self)
{
	char *anon, *ro, *none, *rx, *fclean, *fdirty, *fro, *fshared, *sanon;
	struct region *r;
	char *mfd;
	int fd, memfd, status, err;
	pid_t pid;

	fd = open(self->file, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		child_fail("open %s: %s", self->file, strerror(errno));

	/* Written, zeroes written, untouched, read. */
	anon = xmap(8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	snapshot_pattern_fill(anon, 2, SEED(1), 0);
	memset(anon + 2 * psz, 0, psz);
	snapshot_pattern_fill(anon + 3 * psz, 1, SEED(1), 3);
	snapshot_pattern_fill(anon + 5 * psz, 1, SEED(1), 5);
	touch(anon + 6 * psz);
	snapshot_pattern_fill(anon + 7 * psz, 1, SEED(1), 7);
	/* Written, then read-only, inaccessible, executable. */
	ro = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	snapshot_pattern_fill(ro, 4, SEED(2), 0);
	none = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	snapshot_pattern_fill(none, 4, SEED(3), 0);
	rx = xmap(2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	snapshot_pattern_fill(rx, 2, SEED(4), 0);
	/* Private file mappings: clean (file pages 0-3), modified (4-7)... */
	fclean = xmap(4, PROT_READ, MAP_PRIVATE, fd, 0);
	touch(fclean);
	touch(fclean + 2 * psz);
	fdirty = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4 * psz);
	snapshot_pattern_fill(fdirty, 1, SEED(5), 0);
	memset(fdirty + psz, 0, psz);
	snapshot_pattern_fill(fdirty + 2 * psz, 1, SEED(5), 2);
	/* ... modified, then read-only (8-9). */
	fro = xmap(2, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 8 * psz);
	snapshot_pattern_fill(fro, 1, SEED(6), 0);
	/* A shared file mapping, written through (file pages 10-13). */
	fshared = xmap(4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 10 * psz);
	snapshot_pattern_fill(fshared, 2, SEED(7), 0);
	/* Shared anonymous memory, and a memfd that is no descriptor. */
	sanon = xmap(4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	snapshot_pattern_fill(sanon, 1, SEED(8), 0);
	snapshot_pattern_fill(sanon + 2 * psz, 1, SEED(8), 2);
	memset(sanon + 3 * psz, 0, psz);
	memfd = memfd_create("restore_run", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, 4 * psz))
		child_fail("memfd: %s", strerror(errno));
	mfd = xmap(4, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	snapshot_pattern_fill(mfd, 1, SEED(9), 0);
	snapshot_pattern_fill(mfd + 3 * psz, 1, SEED(9), 3);
	close(fd);

	/* The pages not touched so far stay so until the capture. */
	r = add_region("private anonymous, rw", anon, 8,
		       PROT_READ | PROT_WRITE);
	region_expect(r, 4, 0, 0);
	add_region("private anonymous, read-only", ro, 4, PROT_READ);
	add_region("private anonymous, PROT_NONE", none, 4, PROT_NONE);
	add_region("private anonymous, r-x", rx, 2, PROT_READ | PROT_EXEC);
	r = add_region("private file, clean", fclean, 4, PROT_READ);
	region_expect(r, 1, FILE_SEED, 1);
	region_expect(r, 3, FILE_SEED, 3);
	r = add_region("private file, modified", fdirty, 4,
		       PROT_READ | PROT_WRITE);
	region_expect(r, 3, FILE_SEED, 7);
	r = add_region("private file, modified, read-only", fro, 2,
		       PROT_READ);
	region_expect(r, 1, FILE_SEED, 9);
	r = add_region("shared file", fshared, 4, PROT_READ | PROT_WRITE);
	region_expect(r, 2, FILE_SEED, 12);
	region_expect(r, 3, FILE_SEED, 13);
	r = add_region("shared anonymous", sanon, 4, PROT_READ | PROT_WRITE);
	region_expect(r, 1, 0, 0);
	r = add_region("shared memfd", mfd, 4, PROT_READ | PROT_WRITE);
	region_expect(r, 1, 0, 0);
	region_expect(r, 2, 0, 0);
	regions_record(0);
	xmprotect(ro, 4, PROT_READ);
	xmprotect(none, 4, PROT_NONE);
	xmprotect(rx, 2, PROT_READ | PROT_EXEC);
	xmprotect(fro, 2, PROT_READ);

	if (!capture_here(self->image, 0)) {
		err = dump_maps(self->expect);
		if (err)
			child_fail("smaps: %s", strerror(-err));
		_exit(0);
	}

	err = dump_maps(self->got);
	if (err)
		fail("smaps: %s", strerror(-err));
	regions_check(false);

	/* A child's writes show in the shared mappings only. */
	pid = fork();
	if (!pid) {
		poke(sanon + psz, MX_MARK);
		poke(mfd + psz, MX_MARK);
		poke(anon + 4 * psz, MX_MARK);
		poke(fdirty + 3 * psz, MX_MARK);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status)
		fail("fork a child of the restored process: %s",
		     pid < 0 ? strerror(errno) : "it failed");
	if (word_at(sanon + psz) != MX_MARK)
		fail("shared anonymous memory: a child's write is not seen (%#llx): not shared",
		     (unsigned long long)word_at(sanon + psz));
	if (word_at(mfd + psz) != MX_MARK)
		fail("shared memfd memory: a child's write is not seen (%#llx): not shared",
		     (unsigned long long)word_at(mfd + psz));
	if (word_at(anon + 4 * psz))
		fail("private anonymous memory: a child's write is seen: shared");
	if (pattern_diff(fdirty + 3 * psz, FILE_SEED, 7) != -1)
		fail("private file mapping: a child's write is seen: shared");

	/* Through to the file, or not. */
	snapshot_pattern_fill(fshared + 2 * psz, 1, SEED(10), 2);
	if (msync(fshared, 4 * psz, MS_SYNC))
		fail("msync: %s", strerror(errno));
	snapshot_pattern_fill(fdirty + 3 * psz, 1, SEED(11), 3);
	finish();
}

TEST_F_TIMEOUT(restored, mapping_matrix, 60)
{
	if (!capture_child(_metadata, self, mapping_matrix_child))
		return;
	restore_plain(_metadata, self, "the mapping matrix");
	compare_maps(_metadata, self->expect, self->got);
	check_file_page(_metadata, self->file, 10, SEED(7), 0,
			"written through the shared mapping before the capture");
	check_file_page(_metadata, self->file, 11, SEED(7), 1,
			"written through the shared mapping before the capture");
	check_file_page(_metadata, self->file, 12, SEED(10), 2,
			"written through the restored shared mapping");
	check_file_page(_metadata, self->file, 7, FILE_SEED, 7,
			"written to the restored private file mapping");
}

/*
 * Consecutive pages with alternating protections: one VMA per page, each
 * restored with its protection and its data.
 */

#define HOLES_PAGES	24

static void mprotect_holes_child(struct _test_data_restored *self)
{
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE,
		PROT_READ | PROT_EXEC,
	};
	unsigned long i;
	int err;
	char *p;

	p = xmap(HOLES_PAGES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Else a huge page could make the pages one folio. */
	if (madvise(p, HOLES_PAGES * psz, MADV_NOHUGEPAGE) && errno != EINVAL)
		child_fail("madvise: %s", strerror(errno));
	snapshot_pattern_fill(p, HOLES_PAGES, SEED(20), 0);
	/* Made readable as a whole for the check. */
	add_region("page-by-page protections", p, HOLES_PAGES,
		   PROT_READ | PROT_WRITE);
	regions_record(0);
	for (i = 0; i < HOLES_PAGES; i++)
		xmprotect(p + i * psz, 1, prots[i % ARRAY_SIZE(prots)]);

	if (!capture_here(self->image, 0)) {
		err = dump_maps(self->expect);
		if (err)
			child_fail("smaps: %s", strerror(-err));
		_exit(0);
	}

	err = dump_maps(self->got);
	if (err)
		fail("smaps: %s", strerror(-err));
	if (mprotect(p, HOLES_PAGES * psz, PROT_READ | PROT_WRITE))
		fail("mprotect the region rw: %s", strerror(errno));
	else
		regions_check(false);
	finish();
}

TEST_F_TIMEOUT(restored, mprotect_holes, 60)
{
	if (!capture_child(_metadata, self, mprotect_holes_child))
		return;
	restore_plain(_metadata, self, "per-page protections");
	compare_maps(_metadata, self->expect, self->got);
}

/*
 * The VMA flags the image keeps: madvise() advice, mlock(), MAP_NORESERVE
 * and MAP_GROWSDOWN, one mapping each; VmFlags compared.
 */

enum vma_lock { LOCK_NONE, LOCK_MLOCK, LOCK_ONFAULT };

static void vma_flags_child(struct _test_data_restored *self)
{
	static const struct {
		const char *name;
		int map_flags;
		int advice;
		enum vma_lock lock;
	} cases[] = {
		{ "MAP_NORESERVE", MAP_NORESERVE, -1, LOCK_NONE },
		{ "MAP_GROWSDOWN", MAP_GROWSDOWN, -1, LOCK_NONE },
		{ "MADV_DONTFORK", 0, MADV_DONTFORK, LOCK_NONE },
		{ "MADV_DONTDUMP", 0, MADV_DONTDUMP, LOCK_NONE },
		{ "MADV_WIPEONFORK", 0, MADV_WIPEONFORK, LOCK_NONE },
		{ "MADV_HUGEPAGE", 0, MADV_HUGEPAGE, LOCK_NONE },
		{ "MADV_NOHUGEPAGE", 0, MADV_NOHUGEPAGE, LOCK_NONE },
		{ "MADV_RANDOM", 0, MADV_RANDOM, LOCK_NONE },
		{ "MADV_SEQUENTIAL", 0, MADV_SEQUENTIAL, LOCK_NONE },
		{ "mlock()", 0, -1, LOCK_MLOCK },
		{ "mlock2(MLOCK_ONFAULT)", 0, -1, LOCK_ONFAULT },
	};
	unsigned int i;
	int err;
	char *p;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		p = xmap(2, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | cases[i].map_flags, -1,
			 0);
		snapshot_pattern_fill(p, 2, SEED(30 + i), 0);
		/* EINVAL: advice this kernel does not have; the rest holds. */
		if (cases[i].advice >= 0 && madvise(p, 2 * psz, cases[i].advice) &&
		    errno != EINVAL)
			child_fail("madvise(%s): %s", cases[i].name,
				   strerror(errno));
		if (cases[i].lock == LOCK_MLOCK && mlock(p, 2 * psz))
			child_fail("mlock: %s", strerror(errno));
		if (cases[i].lock == LOCK_ONFAULT &&
		    syscall(SYS_mlock2, p, 2 * psz, MLOCK_ONFAULT))
			child_fail("mlock2: %s", strerror(errno));
		add_region(cases[i].name, p, 2, PROT_READ | PROT_WRITE);
	}
	regions_record(0);

	if (!capture_here(self->image, 0)) {
		err = dump_maps(self->expect);
		if (err)
			child_fail("smaps: %s", strerror(-err));
		_exit(0);
	}

	err = dump_maps(self->got);
	if (err)
		fail("smaps: %s", strerror(-err));
	regions_check(false);
	finish();
}

TEST_F_TIMEOUT(restored, vma_flags, 60)
{
	if (!capture_child(_metadata, self, vma_flags_child))
		return;
	restore_plain(_metadata, self, "mappings with VMA flags");
	compare_maps(_metadata, self->expect, self->got);
}

/*
 * A restore copies anonymous memory (copy mode): MADV_DONTNEED on it
 * afterwards gives zeroes, as on any anonymous memory, not the image's
 * data; on a private file mapping it gives the file's data back; shared
 * anonymous memory is shmem and keeps its data.
 */

static void madv_dontneed_child(struct _test_data_restored *self)
{
	char *anon, *priv, *shared;
	unsigned long i;
	long word;
	int fd;

	fd = open(self->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		child_fail("open %s: %s", self->file, strerror(errno));
	anon = xmap(8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	snapshot_pattern_fill(anon, 8, SEED(40), 0);
	priv = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	snapshot_pattern_fill(priv + psz, 2, SEED(41), 1);
	shared = xmap(4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	snapshot_pattern_fill(shared, 4, SEED(42), 0);
	close(fd);
	add_region("private anonymous", anon, 8, PROT_READ | PROT_WRITE);
	add_region("private file, pages 1-2 modified", priv, 4,
		   PROT_READ | PROT_WRITE);
	add_region("shared anonymous", shared, 4, PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, 0))
		_exit(0);

	regions_check(false);
	if (madvise(anon, 8 * psz, MADV_DONTNEED))
		fail("madvise(MADV_DONTNEED) anonymous: %s", strerror(errno));
	for (i = 0; i < 8; i++) {
		word = pattern_diff(anon + i * psz, 0, 0);
		if (word != -1)
			fail("anon page %lu after MADV_DONTNEED: word %ld %#llx, not zero",
			     i, word,
			     (unsigned long long)word_at(anon + i * psz +
							 word * 8));
	}
	if (madvise(priv, 4 * psz, MADV_DONTNEED))
		fail("madvise(MADV_DONTNEED) file: %s", strerror(errno));
	for (i = 0; i < 4; i++) {
		word = pattern_diff(priv + i * psz, FILE_SEED, i);
		if (word != -1)
			fail("file page %lu after MADV_DONTNEED: word %ld %#llx, file %#llx",
			     i, word,
			     (unsigned long long)word_at(priv + i * psz +
							 word * 8),
			     (unsigned long long)snapshot_pattern(FILE_SEED,
								  i, word));
	}
	if (madvise(shared, 4 * psz, MADV_DONTNEED))
		fail("madvise(MADV_DONTNEED) shared: %s", strerror(errno));
	for (i = 0; i < 4; i++) {
		word = pattern_diff(shared + i * psz, SEED(42), i);
		if (word != -1)
			fail("shmem page %lu after MADV_DONTNEED: word %ld %#llx, lost",
			     i, word,
			     (unsigned long long)word_at(shared + i * psz +
							 word * 8));
	}
	finish();
}

TEST_F_TIMEOUT(restored, madv_dontneed, 60)
{
	if (!capture_child(_metadata, self, madv_dontneed_child))
		return;
	restore_plain(_metadata, self, "MADV_DONTNEED after the restore");
}

/*
 * The heap: brk where it was, with its data; it grows and shrinks after
 * the restore, and malloc() works.
 */

static void *brk_end;
static unsigned long heap_start, heap_end;

static void brk_child(struct _test_data_restored *self)
{
	unsigned long start = 0, end = 0, want, pad;
	void *b0, *q, *m1, *m2;
	unsigned long i;
	int err;
	char *p;

	/* Three pages from a page boundary on. */
	b0 = sbrk(0);
	pad = -(uintptr_t)b0 & (psz - 1);
	if (sbrk(pad + 3 * psz) == (void *)-1)
		child_fail("sbrk: %s", strerror(errno));
	b0 = (char *)b0 + pad;
	snapshot_pattern_fill(b0, 3, SEED(50), 0);
	add_region("sbrk() area", b0, 3, PROT_READ | PROT_WRITE);
	regions_record(0);
	brk_end = sbrk(0);
	err = maps_find("[heap]", 0, &heap_start, &heap_end);
	if (err)
		child_fail("[heap] in /proc/self/maps: %s", strerror(-err));

	if (!capture_here(self->image, 0))
		_exit(0);

	/* glibc's sbrk(0) answers from memory; brk(0) asks the kernel. */
	if (syscall(SYS_brk, 0) != (long)brk_end || sbrk(0) != brk_end)
		fail("brk %#lx, sbrk(0) %p, expected %p", syscall(SYS_brk, 0),
		     sbrk(0), brk_end);
	err = maps_find("[heap]", 0, &start, &end);
	if (err || start != heap_start || end != heap_end)
		fail("[heap] is %#lx-%#lx (%s), expected %#lx-%#lx", start,
		     end, err ? strerror(-err) : "found", heap_start,
		     heap_end);
	regions_check(false);

	/* Two more pages. */
	q = sbrk(2 * psz);
	if (q != brk_end) {
		fail("sbrk(2 pages) returned %p (%s), expected %p", q,
		     q == (void *)-1 ? strerror(errno) : "no error", brk_end);
	} else {
		memset(q, 0xb5, 2 * psz);
		for (p = q, i = 0; i < 2 * psz; i++)
			if ((unsigned char)p[i] != 0xb5) {
				fail("the heap's new pages lost a write at %p",
				     p + i);
				break;
			}
		want = ((uintptr_t)brk_end + 2 * psz + psz - 1) & ~(psz - 1);
		err = maps_find("[heap]", 0, &start, &end);
		if (err || end != want)
			fail("[heap] ends at %#lx (%s) after sbrk(), expected %#lx",
			     end, err ? strerror(-err) : "found", want);
		if (sbrk(-2 * (long)psz) == (void *)-1)
			fail("sbrk(-2 pages): %s", strerror(errno));
		if (syscall(SYS_brk, 0) != (long)brk_end)
			fail("brk %#lx after shrinking, expected %p",
			     syscall(SYS_brk, 0), brk_end);
		err = maps_find("[heap]", 0, &start, &end);
		if (err || end != heap_end)
			fail("[heap] ends at %#lx (%s) after shrinking, expected %#lx",
			     end, err ? strerror(-err) : "found", heap_end);
	}

	/* malloc() from the heap and from mmap(). */
	m1 = malloc(1000);
	m2 = malloc(1 << 20);
	if (!m1 || !m2) {
		fail("malloc after the restore: %s", strerror(errno));
	} else {
		memset(m1, 1, 1000);
		memset(m2, 2, 1 << 20);
	}
	free(m1);
	free(m2);
	finish();
}

TEST_F_TIMEOUT(restored, brk_growth, 60)
{
	if (!capture_child(_metadata, self, brk_child))
		return;
	restore_plain(_metadata, self, "the heap");
}

/*
 * Stacks: a MAP_GROWSDOWN mapping, grown once before the capture, is
 * restored as it was and grows again; the main stack grows too.
 */

/* Touch @depth bytes of stack from the top down: the lowest address. */
static unsigned long stack_reach(size_t depth)
{
	char buf[depth];
	size_t i;

	for (i = depth; i >= psz; i -= psz)
		__atomic_store_n(&buf[i - 1], 1, __ATOMIC_RELAXED);
	__atomic_store_n(&buf[0], 1, __ATOMIC_RELAXED);
	__asm__ volatile("" : : "r" (buf) : "memory");
	return (uintptr_t)buf;
}

static void stack_growth_child(struct _test_data_restored *self)
{
	char *gd = (char *)GROWSDOWN_ADDR, *p, local = 0;
	unsigned long start = 0, end = 0, low, depth, i;
	int err;

	(void)self;
	p = mmap(gd, 4 * psz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (p != gd)
		child_fail("mmap MAP_GROWSDOWN at %p: %s", gd,
			   p == MAP_FAILED ? strerror(errno) : "elsewhere");
	/* A write below it grows it by a page. */
	poke(gd - 8, 1);
	err = maps_find(NULL, (uintptr_t)gd, &start, &end);
	if (err || start != (uintptr_t)gd - psz)
		child_fail("the MAP_GROWSDOWN mapping did not grow: %#lx-%#lx",
			   start, end);
	snapshot_pattern_fill(gd - psz, 5, SEED(60), 0);
	add_region("MAP_GROWSDOWN mapping", gd - psz, 5,
		   PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, 0))
		_exit(0);

	err = maps_find(NULL, (uintptr_t)gd, &start, &end);
	if (err || start != (uintptr_t)gd - psz ||
	    end != (uintptr_t)gd + 4 * psz)
		fail("the MAP_GROWSDOWN mapping is %#lx-%#lx (%s), expected %#lx-%#lx",
		     start, end, err ? strerror(-err) : "found",
		     (unsigned long)gd - psz, (unsigned long)gd + 4 * psz);
	regions_check(false);

	/* A write two pages below its start grows it by two pages. */
	poke(gd - 3 * psz, 7);
	err = maps_find(NULL, (uintptr_t)gd, &start, &end);
	if (err || start != (uintptr_t)gd - 3 * psz)
		fail("write at %p: MAP_GROWSDOWN mapping at %#lx (%s), not %#lx",
		     gd - 3 * psz, start, err ? strerror(-err) : "found",
		     (unsigned long)gd - 3 * psz);
	else if (word_at(gd - 3 * psz) != 7 ||
		 pattern_diff(gd - 2 * psz, 0, 0) != -1)
		fail("the grown MAP_GROWSDOWN pages do not hold the write");

	/* The main stack: 256 KiB below its start. */
	err = maps_find("[stack]", 0, &start, &end);
	if (err) {
		fail("[stack] in /proc/self/maps: %s", strerror(-err));
		finish();
	}
	depth = (uintptr_t)&local - start + (256 << 10);
	low = stack_reach(depth);
	i = start;
	err = maps_find("[stack]", 0, &start, &end);
	if (err || start > low || start >= i)
		fail("[stack] starts at %#lx (%s) after a write at %#lx, was %#lx: it did not grow",
		     start, err ? strerror(-err) : "found", low, i);
	finish();
}

TEST_F_TIMEOUT(restored, stack_growth, 60)
{
	if (!capture_child(_metadata, self, stack_growth_child))
		return;
	restore_plain(_metadata, self, "stacks growing down");
}

/*
 * Registers: distinctive values in the general registers the system call
 * preserves (all but rax, rcx and r11), in MXCSR and in the vector and
 * opmask registers, set in the instructions right before the syscall
 * instruction and stored right after it. The restored process resumes
 * after the same instruction and must find them there.
 *
 * One asm statement does it all: %rdi holds the argument of the system
 * call, which starts the block the values are loaded from and stored to,
 * and which the system call and the restore keep. %rbp, which the compiler
 * may use as the frame pointer, is saved in the block and set back.
 */

#define NR_GPRS		10

static const char * const gpr_names[NR_GPRS] = {
	"rbx", "rbp", "rdx", "r8", "r9", "r10", "r12", "r13", "r14", "r15",
};

struct regblk {
	struct snapshot_capture_args args;	/* first: %rdi points here */
	__u64 gin[NR_GPRS], gout[NR_GPRS];
	__u64 rbp_save, rsi_out, rdi_out;
	__u32 mxcsr_in, mxcsr_out;
	__u64 kin[8], kout[8];
	/* Moved with unaligned loads and stores: no alignment needed. */
	unsigned char vin[32][64];
	unsigned char vout[32][64];
};

static struct regblk rb;

#define GPR_LOAD							\
	"mov %%rbp, %c[rbp_save](%%rdi)\n\t"				\
	"mov %c[gin]+0(%%rdi), %%rbx\n\t"				\
	"mov %c[gin]+8(%%rdi), %%rbp\n\t"				\
	"mov %c[gin]+16(%%rdi), %%rdx\n\t"				\
	"mov %c[gin]+24(%%rdi), %%r8\n\t"				\
	"mov %c[gin]+32(%%rdi), %%r9\n\t"				\
	"mov %c[gin]+40(%%rdi), %%r10\n\t"				\
	"mov %c[gin]+48(%%rdi), %%r12\n\t"				\
	"mov %c[gin]+56(%%rdi), %%r13\n\t"				\
	"mov %c[gin]+64(%%rdi), %%r14\n\t"				\
	"mov %c[gin]+72(%%rdi), %%r15\n\t"				\
	"ldmxcsr %c[mxcsr_in](%%rdi)\n\t"

#define GPR_STORE							\
	"mov %%rbx, %c[gout]+0(%%rdi)\n\t"				\
	"mov %%rbp, %c[gout]+8(%%rdi)\n\t"				\
	"mov %%rdx, %c[gout]+16(%%rdi)\n\t"				\
	"mov %%r8, %c[gout]+24(%%rdi)\n\t"				\
	"mov %%r9, %c[gout]+32(%%rdi)\n\t"				\
	"mov %%r10, %c[gout]+40(%%rdi)\n\t"				\
	"mov %%r12, %c[gout]+48(%%rdi)\n\t"				\
	"mov %%r13, %c[gout]+56(%%rdi)\n\t"				\
	"mov %%r14, %c[gout]+64(%%rdi)\n\t"				\
	"mov %%r15, %c[gout]+72(%%rdi)\n\t"				\
	"mov %c[rbp_save](%%rdi), %%rbp\n\t"				\
	"stmxcsr %c[mxcsr_out](%%rdi)\n\t"				\
	"mov %%rsi, %c[rsi_out](%%rdi)\n\t"				\
	"mov %%rdi, %c[rdi_out](%%rdi)\n\t"

#define IRP16	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
#define IRP32	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"	\
		"16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t"
#define IRP8	".irp i,0,1,2,3,4,5,6,7\n\t"
#define ENDR	".endr\n\t"

#define REGBLK_IN(b)							\
	"0" ((long)__NR_snapshot_capture), "D" (b),			\
	"S" (sizeof((b)->args)),					\
	[gin] "i" (offsetof(struct regblk, gin)),			\
	[gout] "i" (offsetof(struct regblk, gout)),			\
	[rbp_save] "i" (offsetof(struct regblk, rbp_save)),		\
	[rsi_out] "i" (offsetof(struct regblk, rsi_out)),		\
	[rdi_out] "i" (offsetof(struct regblk, rdi_out)),		\
	[mxcsr_in] "i" (offsetof(struct regblk, mxcsr_in)),		\
	[mxcsr_out] "i" (offsetof(struct regblk, mxcsr_out)),		\
	[kin] "i" (offsetof(struct regblk, kin)),			\
	[kout] "i" (offsetof(struct regblk, kout)),			\
	[vin] "i" (offsetof(struct regblk, vin)),			\
	[vout] "i" (offsetof(struct regblk, vout))

/*
 * The compiler uses none of the AVX state without -mavx, nor xmm16-31 and
 * the opmask registers without -mavx512f: xmm0-15 are all it must know of.
 */
#define REGBLK_CLOBBERS							\
	"rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13",	\
	"r14", "r15", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3",	\
	"xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",	\
	"xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

static long capture_regs_sse(struct regblk *b)
{
	long ret;

	asm volatile(GPR_LOAD
		     IRP16 "movdqu %c[vin]+64*\\i(%%rdi), %%xmm\\i\n\t" ENDR
		     "syscall\n\t"
		     IRP16 "movdqu %%xmm\\i, %c[vout]+64*\\i(%%rdi)\n\t" ENDR
		     GPR_STORE
		     : "=a" (ret)
		     : REGBLK_IN(b)
		     : REGBLK_CLOBBERS);
	return ret;
}

static long capture_regs_avx(struct regblk *b)
{
	long ret;

	asm volatile(GPR_LOAD
		     IRP16 "vmovdqu %c[vin]+64*\\i(%%rdi), %%ymm\\i\n\t" ENDR
		     "syscall\n\t"
		     IRP16 "vmovdqu %%ymm\\i, %c[vout]+64*\\i(%%rdi)\n\t" ENDR
		     "vzeroupper\n\t"
		     GPR_STORE
		     : "=a" (ret)
		     : REGBLK_IN(b)
		     : REGBLK_CLOBBERS);
	return ret;
}

static long capture_regs_avx512(struct regblk *b)
{
	long ret;

	asm volatile(GPR_LOAD
		     IRP32 "vmovdqu64 %c[vin]+64*\\i(%%rdi), %%zmm\\i\n\t" ENDR
		     IRP8 "kmovw %c[kin]+8*\\i(%%rdi), %%k\\i\n\t" ENDR
		     "syscall\n\t"
		     IRP32 "vmovdqu64 %%zmm\\i, %c[vout]+64*\\i(%%rdi)\n\t" ENDR
		     IRP8 "kmovw %%k\\i, %c[kout]+8*\\i(%%rdi)\n\t" ENDR
		     "vzeroupper\n\t"
		     GPR_STORE
		     : "=a" (ret)
		     : REGBLK_IN(b)
		     : REGBLK_CLOBBERS);
	return ret;
}

enum vec_level { VEC_SSE, VEC_AVX, VEC_AVX512 };

static enum vec_level vec_level;	/* set by the test before the fork */

/* Report every register of the block that does not hold its value. */
static void check_regblk(void)
{
	static const char * const kind[] = { "xmm", "ymm", "zmm" };
	static const unsigned int width[] = { 16, 32, 64 };
	static const unsigned int nvec[] = { 16, 16, 32 };
	unsigned int i, j;

	for (i = 0; i < NR_GPRS; i++)
		if (rb.gout[i] != rb.gin[i])
			fail("%s: %#llx, expected %#llx", gpr_names[i],
			     (unsigned long long)rb.gout[i],
			     (unsigned long long)rb.gin[i]);
	if (rb.rsi_out != sizeof(rb.args))
		fail("rsi: %#llx, expected %#zx",
		     (unsigned long long)rb.rsi_out, sizeof(rb.args));
	if (rb.rdi_out != (uintptr_t)&rb)
		fail("rdi: %#llx, expected %p", (unsigned long long)rb.rdi_out,
		     (void *)&rb);
	if (rb.mxcsr_out != rb.mxcsr_in)
		fail("MXCSR: %#x, expected %#x", rb.mxcsr_out, rb.mxcsr_in);
	for (i = 0; i < nvec[vec_level]; i++) {
		for (j = 0; j < width[vec_level]; j++)
			if (rb.vout[i][j] != rb.vin[i][j])
				break;
		if (j < width[vec_level])
			fail("%s%u, byte %u: %#x, expected %#x",
			     kind[vec_level], i, j, rb.vout[i][j],
			     rb.vin[i][j]);
	}
	if (vec_level != VEC_AVX512)
		return;
	for (i = 0; i < 8; i++)
		if ((__u16)rb.kout[i] != (__u16)rb.kin[i])
			fail("k%u: %#x, expected %#x", i, (__u16)rb.kout[i],
			     (__u16)rb.kin[i]);
}

static void regs_child(struct _test_data_restored *self)
{
	unsigned int i, j;
	long ret;

	for (i = 0; i < NR_GPRS; i++)
		rb.gin[i] = 0x0123456789abcdefULL ^ (__u64)(i + 1) << 56 ^
			    (i + 1) * 0x10101ULL;
	for (i = 0; i < 32; i++)
		for (j = 0; j < 64; j++)
			rb.vin[i][j] = 0x5b + i * 37 + j * 11;
	for (i = 0; i < 8; i++)
		rb.kin[i] = 0xa5c3 ^ (i * 0x0f01 + 1);
	/* Flush to zero and denormals are zero, on top of the default. */
	rb.mxcsr_in = 0x1f80 | 0x8000 | 0x0040;
	rb.args.image_fd = open(self->image,
				O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				0600);
	if (rb.args.image_fd < 0)
		child_fail("create %s: %s", self->image, strerror(errno));

	switch (vec_level) {
	case VEC_SSE:
		ret = capture_regs_sse(&rb);
		break;
	case VEC_AVX:
		ret = capture_regs_avx(&rb);
		break;
	default:
		ret = capture_regs_avx512(&rb);
		break;
	}
	__builtin_ia32_ldmxcsr(0x1f80);

	if (ret < 0)
		child_fail("snapshot_capture: %s", strerror(-ret));
	if (!ret) {
		/* The system call itself keeps them: check the test. */
		report_fd = 2;
		check_regblk();
		if (nr_failed)
			child_fail("%u registers changed across snapshot_capture()",
				   nr_failed);
		_exit(0);
	}
	if (ret != SNAPSHOT_RESUMED)
		fail("snapshot_capture() returned %ld in the restored process",
		     ret);
	check_regblk();
	finish();
}

/* XCR0: the state components the kernel enabled, or 0 without XSAVE. */
static __u64 xcr0(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	__asm__ volatile("xgetbv" : "=a" (a), "=d" (d) : "c" (0));
	return (__u64)d << 32 | a;
}

static bool have_avx(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && c & bit_AVX &&
	       (xcr0() & 0x6) == 0x6;
}

static bool have_avx512(void)
{
	unsigned int a, b, c, d;

	return have_avx() && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
	       b & bit_AVX512F && (xcr0() & 0xe6) == 0xe6;
}

TEST_F_TIMEOUT(restored, regs_sse, 60)
{
	vec_level = VEC_SSE;
	if (!capture_child(_metadata, self, regs_child))
		return;
	restore_plain(_metadata, self, "general, xmm registers and MXCSR");
}

TEST_F_TIMEOUT(restored, regs_avx, 60)
{
	if (!have_avx())
		SKIP(return, "no AVX on this CPU (CPUID.1:ECX.AVX, XCR0)");
	vec_level = VEC_AVX;
	if (!capture_child(_metadata, self, regs_child))
		return;
	restore_plain(_metadata, self, "general and ymm registers");
}

TEST_F_TIMEOUT(restored, regs_avx512, 60)
{
	if (!have_avx512())
		SKIP(return, "no AVX-512 on this CPU (CPUID.7:EBX.AVX512F, XCR0)");
	vec_level = VEC_AVX512;
	if (!capture_child(_metadata, self, regs_child))
		return;
	restore_plain(_metadata, self,
		      "general, zmm and opmask registers");
}

/*
 * Thread-local storage: fs_base and gs_base, the TCB's self pointer at
 * %fs:0, and so a __thread variable's address and value.
 */

static __thread __u64 tls_word = 0x7e5;
static unsigned long tls_offset, tls_addr_seen, fs_seen, gs_seen;
static __u64 tls_value;

/*
 * The thread pointer, read now: the compiler takes it for a constant
 * within a function, and could reuse what it read before the capture.
 */
static unsigned long tcb_self(void)
{
	unsigned long tp;

	__asm__ volatile("mov %%fs:0, %0" : "=r" (tp));
	return tp;
}

static void tls_child(struct _test_data_restored *self)
{
	unsigned long fs = 0, gs = 0, addr;

	tls_word = 0x715c0ffee0000000ULL ^ getpid();
	tls_value = tls_word;
	tls_addr_seen = (uintptr_t)&tls_word;
	tls_offset = tls_addr_seen - tcb_self();
	if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_seen) ||
	    syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_seen))
		child_fail("arch_prctl: %s", strerror(errno));

	if (!capture_here(self->image, 0))
		_exit(0);

	if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) || fs != fs_seen)
		fail("fs_base %#lx, expected %#lx", fs, fs_seen);
	if (tcb_self() != fs_seen)
		fail("%%fs:0 (the TCB's self pointer) %#lx, expected %#lx",
		     tcb_self(), fs_seen);
	if (syscall(SYS_arch_prctl, ARCH_GET_GS, &gs) || gs != gs_seen)
		fail("gs_base %#lx, expected %#lx", gs, gs_seen);
	addr = tcb_self() + tls_offset;
	if (addr != tls_addr_seen)
		fail("a __thread variable is at %#lx, expected %#lx", addr,
		     tls_addr_seen);
	else if (word_at((void *)addr) != tls_value || tls_word != tls_value)
		fail("a __thread variable holds %#llx (%#llx as compiled), expected %#llx",
		     (unsigned long long)word_at((void *)addr),
		     (unsigned long long)tls_word,
		     (unsigned long long)tls_value);
	finish();
}

TEST_F_TIMEOUT(restored, tls_fs_base, 60)
{
	if (!capture_child(_metadata, self, tls_child))
		return;
	restore_plain(_metadata, self, "thread-local storage");
}

/*
 * Signals: every disposition, the blocked mask and the alternate stack as
 * they were; a signal blocked and pending at the capture is delivered once
 * unblocked, as one the kernel sent (SI_KERNEL); a handler installed before
 * the capture runs, on the alternate stack.
 */

/* struct sigaction as rt_sigaction() takes it. */
struct k_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	__u64 mask;
};

static char altstack[64 << 10];
static struct k_sigaction sig_seen[NR_SIGNALS + 1];
static __u64 blocked_seen;
static stack_t altstack_seen;
/* What the handlers saw; read with __atomic_load_n() after a delivery. */
static int usr1_count, usr1_code, usr1_on_altstack;
static int usr2_count, usr2_code, usr2_signo;
static __u64 usr1_blocked;

#define SEEN(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define SAW(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static void usr1_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t here = (uintptr_t)&sig;
	__u64 mask = 0;

	(void)uc;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, 8);
	SAW(usr1_blocked, mask);
	SAW(usr1_code, si->si_code);
	SAW(usr1_on_altstack,
	    here >= (uintptr_t)altstack &&
	    here < (uintptr_t)altstack + sizeof(altstack));
	SAW(usr1_count, SEEN(usr1_count) + 1);
}

static void usr2_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	SAW(usr2_code, si->si_code);
	SAW(usr2_signo, si->si_signo);
	SAW(usr2_count, SEEN(usr2_count) + 1);
}

static __u64 sigbit(int sig)
{
	return 1ULL << (sig - 1);
}

static void signals_child(struct _test_data_restored *self)
{
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_flags = SA_SIGINFO };
	__u64 pending = 0, blocked = 0, want;
	struct k_sigaction ka;
	sigset_t set;
	int i;

	if (sigaltstack(&ss, NULL))
		child_fail("sigaltstack: %s", strerror(errno));
	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGTERM);
	if (sigaction(SIGUSR1, &sa, NULL))
		child_fail("sigaction(SIGUSR1): %s", strerror(errno));
	sa.sa_sigaction = usr2_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL) || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		child_fail("sigaction: %s", strerror(errno));
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) || raise(SIGUSR2))
		child_fail("block and raise SIGUSR2: %s", strerror(errno));
	for (i = 1; i <= NR_SIGNALS; i++)
		if (syscall(SYS_rt_sigaction, i, NULL, &sig_seen[i], 8))
			child_fail("rt_sigaction(%d): %s", i, strerror(errno));
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked_seen, 8) ||
	    sigaltstack(NULL, &altstack_seen))
		child_fail("the mask or the alternate stack: %s",
			   strerror(errno));

	if (!capture_here(self->image, 0))
		_exit(0);

	for (i = 1; i <= NR_SIGNALS; i++) {
		memset(&ka, 0, sizeof(ka));
		if (syscall(SYS_rt_sigaction, i, NULL, &ka, 8)) {
			fail("rt_sigaction(%d): %s", i, strerror(errno));
			continue;
		}
		if (memcmp(&ka, &sig_seen[i], sizeof(ka)))
			fail("sig %d (%s): %#lx %#lx %#lx %#llx, expected %#lx %#lx %#lx %#llx",
			     i, strsignal(i), ka.handler, ka.flags,
			     ka.restorer, (unsigned long long)ka.mask,
			     sig_seen[i].handler, sig_seen[i].flags,
			     sig_seen[i].restorer,
			     (unsigned long long)sig_seen[i].mask);
	}
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, 8);
	if (blocked != blocked_seen)
		fail("blocked signals %#llx, expected %#llx",
		     (unsigned long long)blocked,
		     (unsigned long long)blocked_seen);
	memset(&ss, 0, sizeof(ss));
	if (sigaltstack(NULL, &ss) || ss.ss_sp != altstack_seen.ss_sp ||
	    ss.ss_size != altstack_seen.ss_size ||
	    ss.ss_flags != altstack_seen.ss_flags)
		fail("alternate stack %p size %zu flags %#x, expected %p size %zu flags %#x",
		     ss.ss_sp, ss.ss_size, ss.ss_flags, altstack_seen.ss_sp,
		     altstack_seen.ss_size, altstack_seen.ss_flags);
	syscall(SYS_rt_sigpending, &pending, 8);
	if (pending != sigbit(SIGUSR2))
		fail("pending signals %#llx, expected SIGUSR2 (%#llx)",
		     (unsigned long long)pending,
		     (unsigned long long)sigbit(SIGUSR2));

	/* The pending signal, once unblocked, before sigprocmask() returns. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (SEEN(usr2_count) != 1 || SEEN(usr2_signo) != SIGUSR2 ||
	    SEEN(usr2_code) != SI_KERNEL)
		fail("pending SIGUSR2: %d times, signo %d, code %d; want 1, %d, SI_KERNEL %d",
		     SEEN(usr2_count), SEEN(usr2_signo), SEEN(usr2_code),
		     SIGUSR2, SI_KERNEL);

	/* The handler installed before the capture. */
	raise(SIGUSR1);
	want = sigbit(SIGUSR1) | sigbit(SIGUSR2) | sigbit(SIGTERM) |
	       sigbit(SIGHUP);
	if (SEEN(usr1_count) != 1 || SEEN(usr1_code) != SI_TKILL)
		fail("SIGUSR1 handler: ran %d times, si_code %d, expected once, SI_TKILL (%d)",
		     SEEN(usr1_count), SEEN(usr1_code), SI_TKILL);
	else if (!SEEN(usr1_on_altstack))
		fail("the SA_ONSTACK handler did not run on the alternate stack");
	else if ((SEEN(usr1_blocked) & want) != want)
		fail("blocked in the SIGUSR1 handler: %#llx, expected at least %#llx",
		     (unsigned long long)SEEN(usr1_blocked),
		     (unsigned long long)want);
	/* Ignored: raise() returns. */
	raise(SIGPIPE);
	syscall(SYS_rt_sigpending, &pending, 8);
	if (pending)
		fail("pending signals %#llx after the deliveries, expected none",
		     (unsigned long long)pending);
	finish();
}

TEST_F_TIMEOUT(restored, signals, 60)
{
	if (!capture_child(_metadata, self, signals_child))
		return;
	restore_plain(_metadata, self, "signal state");
}

/*
 * Descriptors: each regular file reopened with its open flags, offset and
 * close-on-exec flag; O_APPEND still appends. The restoring caller's fd 0
 * becomes the restored fd 0; the fd map installs the caller's file at the
 * number it says; no other descriptor of the caller goes over.
 */

#define FDS_MAPPED	11	/* the fd map installs the caller's file2 */
#define FDS_UNMAPPED	12	/* the caller has file here, not mapped */

struct fd_seen {
	int fd, fl, fdfl;
	off_t pos;
	dev_t dev;
	ino_t ino;
};

static struct fd_seen fds_seen[3];

static void fds_child(struct _test_data_restored *self)
{
	struct stat st, st2;
	struct fd_seen *f;
	off_t size, pos;
	unsigned int i;
	int fd, want;

	fd = open(self->file, O_RDWR | O_APPEND);
	if (fd < 0 || dup2(fd, 5) != 5 || close(fd) ||
	    lseek(5, 1000, SEEK_SET) != 1000)
		child_fail("fd 5: %s", strerror(errno));
	fd = open(self->file2, O_RDONLY | O_NONBLOCK);
	if (fd < 0 || dup3(fd, 7, O_CLOEXEC) != 7 || close(fd) ||
	    lseek(7, 4097, SEEK_SET) != 4097)
		child_fail("fd 7: %s", strerror(errno));
	fd = open(self->file, O_WRONLY);
	if (fd < 0 || dup2(fd, 9) != 9 || close(fd) ||
	    lseek(9, 123, SEEK_SET) != 123)
		child_fail("fd 9: %s", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(fds_seen); i++) {
		f = &fds_seen[i];
		f->fd = 5 + 2 * i;
		f->fl = fcntl(f->fd, F_GETFL);
		f->fdfl = fcntl(f->fd, F_GETFD);
		f->pos = lseek(f->fd, 0, SEEK_CUR);
		if (fstat(f->fd, &st))
			child_fail("fstat %d: %s", f->fd, strerror(errno));
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}

	if (!capture_here(self->image, 0))
		_exit(0);

	for (i = 0; i < ARRAY_SIZE(fds_seen); i++) {
		f = &fds_seen[i];
		if (fstat(f->fd, &st)) {
			fail("fd %d: %s", f->fd, strerror(errno));
			continue;
		}
		if (st.st_dev != f->dev || st.st_ino != f->ino)
			fail("fd %d: file %#lx/%lu, expected %#lx/%lu", f->fd,
			     (unsigned long)st.st_dev, (unsigned long)st.st_ino,
			     (unsigned long)f->dev, (unsigned long)f->ino);
		if (fcntl(f->fd, F_GETFL) != f->fl)
			fail("fd %d: open flags %#o, expected %#o", f->fd,
			     fcntl(f->fd, F_GETFL), f->fl);
		if (fcntl(f->fd, F_GETFD) != f->fdfl)
			fail("fd %d: descriptor flags %#x, expected %#x", f->fd,
			     fcntl(f->fd, F_GETFD), f->fdfl);
		pos = lseek(f->fd, 0, SEEK_CUR);
		if (pos != f->pos)
			fail("fd %d: offset %lld, expected %lld", f->fd,
			     (long long)pos, (long long)f->pos);
	}
	/* O_APPEND writes at the end, wherever the offset is. */
	if (!fstat(5, &st)) {
		size = st.st_size;
		if (write(5, "tail", 4) != 4 || fstat(5, &st) ||
		    st.st_size != size + 4 ||
		    lseek(5, 0, SEEK_CUR) != size + 4)
			fail("an O_APPEND write did not go to the end (size %lld, was %lld)",
			     (long long)st.st_size, (long long)size);
	}

	if (stat(self->file3, &st2) || fstat(0, &st) ||
	    st.st_dev != st2.st_dev || st.st_ino != st2.st_ino)
		fail("fd 0 is not the restoring caller's fd 0 (%s)",
		     self->file3);
	if (stat(self->file2, &st2) || fstat(FDS_MAPPED, &st) ||
	    st.st_dev != st2.st_dev || st.st_ino != st2.st_ino)
		fail("fd %d is not the caller's file the fd map names (%s)",
		     FDS_MAPPED, self->file2);
	for (fd = 3; fd < FD_SCAN; fd++) {
		want = fd == 5 || fd == 7 || fd == 9 || fd == FDS_MAPPED ||
		       fd == RESULT_FD;
		if ((fcntl(fd, F_GETFD) >= 0) != want)
			fail("fd %d is %s, expected %s%s", fd,
			     want ? "closed" : "open", want ? "open" : "closed",
			     fd == FDS_UNMAPPED ?
			     " (the caller's, not in the fd map)" : "");
	}
	finish();
}

static const char *prep_fds(struct restore_call *c)
{
	struct _test_data_restored *self = c->self;
	int in = open(self->file3, O_RDONLY);
	int mapped = open(self->file2, O_RDONLY);
	int other = open(self->file, O_RDONLY);

	if (in < 0 || mapped < 0 || other < 0)
		return "open the caller's files";
	if (dup2(in, 0) != 0 || dup2(other, FDS_UNMAPPED) != FDS_UNMAPPED)
		return "dup2";
	c->map[c->nr_map++] = (struct snapshot_fd_map) {
		.image_fd = FDS_MAPPED,
		.caller_fd = mapped,
	};
	return NULL;
}

TEST_F_TIMEOUT(restored, fds, 60)
{
	struct restore_call c = { .image = self->image, .prep = prep_fds };
	struct report rep;
	long r;

	if (!capture_child(_metadata, self, fds_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	expect_restored(_metadata, r, &rep, "descriptors");
}

/*
 * What glibc does through the vDSO and rseq: the vDSO and its data where
 * they were and live (the vDSO's clock agrees with the system call's),
 * sched_getcpu(), and the rseq area glibc registered: still registered,
 * which shows when the process moves to another CPU and the kernel writes
 * the new one there.
 */

static struct timespec mono_seen;
static struct timeval tv_seen;
static unsigned long vdso_seen;

static __u64 ts_ns(const struct timespec *ts)
{
	return (__u64)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static __u64 tv_us(const struct timeval *tv)
{
	return (__u64)tv->tv_sec * 1000000 + tv->tv_usec;
}

static void rseq_check(void)
{
	struct rseq *rs;
	cpu_set_t all, one;
	int cur, target = -1, i, n;
	long r;

	if (!__rseq_size) {
		say("glibc did not register rseq: not checked");
		return;
	}
	rs = (struct rseq *)(tcb_self() + __rseq_offset);
	cur = (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
	if (cur < 0)
		fail("rseq cpu_id is %d after the restore", cur);
	if (sched_getaffinity(0, sizeof(all), &all)) {
		fail("sched_getaffinity: %s", strerror(errno));
		return;
	}
	for (i = 0; i < CPU_SETSIZE && target < 0; i++)
		if (CPU_ISSET(i, &all) && i != cur)
			target = i;
	if (target < 0) {
		say("one CPU: the rseq area's update on migration not checked");
	} else {
		CPU_ZERO(&one);
		CPU_SET(target, &one);
		if (sched_setaffinity(0, sizeof(one), &one)) {
			fail("sched_setaffinity: %s", strerror(errno));
		} else {
			for (n = 0; n < 100; n++) {
				if ((int)__atomic_load_n(&rs->cpu_id,
							 __ATOMIC_RELAXED) ==
				    target)
					break;
				sched_yield();
			}
			if ((int)rs->cpu_id != target)
				fail("rseq cpu_id %d on CPU %d (was %d): glibc's area not updated",
				     (int)rs->cpu_id, target, cur);
			if (sched_getcpu() != target)
				fail("sched_getcpu() %d on CPU %d",
				     sched_getcpu(), target);
			sched_setaffinity(0, sizeof(all), &all);
		}
	}
	/*
	 * Registering the area again fails with EBUSY when it is registered
	 * with the same length and signature. glibc registers 32 bytes up to
	 * 2.40, __rseq_size bytes after.
	 */
	for (n = 32; n; n = (unsigned int)n < __rseq_size ? (int)__rseq_size : 0) {
		r = syscall(SYS_rseq, rs, n, 0, RSEQ_SIG);
		if (!r) {
			fail("rseq was not registered: registering it again succeeded");
			return;
		}
		if (errno == EBUSY)
			return;
		if (errno == EPERM) {
			fail("rseq is registered with another signature");
			return;
		}
	}
	say("rseq: registering the area again failed with %s: not checked",
	    errname(errno));
}

static void vdso_rseq_child(struct _test_data_restored *self)
{
	unsigned long start = 0, end = 0;
	struct timespec a, s, b;
	struct timeval g1, gs, g2;
	cpu_set_t set;
	int cpu, err;

	vdso_seen = getauxval(AT_SYSINFO_EHDR);
	if (!vdso_seen)
		child_skip("no vDSO (AT_SYSINFO_EHDR)");
	clock_gettime(CLOCK_MONOTONIC, &mono_seen);
	gettimeofday(&tv_seen, NULL);

	if (!capture_here(self->image, 0))
		_exit(0);

	err = maps_find("[vdso]", 0, &start, &end);
	if (err || start != vdso_seen)
		fail("[vdso] at %#lx (%s), expected %#lx", start,
		     err ? strerror(-err) : "found", vdso_seen);
	if (maps_find("[vvar]", 0, &start, &end))
		fail("no [vvar] in /proc/self/maps");

	/* The vDSO's clock around the system call's. */
	clock_gettime(CLOCK_MONOTONIC, &a);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (ts_ns(&a) <= ts_ns(&mono_seen))
		fail("CLOCK_MONOTONIC %llu ns, not after the capture's %llu",
		     (unsigned long long)ts_ns(&a),
		     (unsigned long long)ts_ns(&mono_seen));
	if (ts_ns(&a) > ts_ns(&s) || ts_ns(&s) > ts_ns(&b))
		fail("CLOCK_MONOTONIC: vDSO %llu, syscall %llu, vDSO %llu: out of order",
		     (unsigned long long)ts_ns(&a),
		     (unsigned long long)ts_ns(&s),
		     (unsigned long long)ts_ns(&b));
	gettimeofday(&g1, NULL);
	syscall(SYS_gettimeofday, &gs, NULL);
	gettimeofday(&g2, NULL);
	if (tv_us(&g1) < tv_us(&tv_seen) || tv_us(&g1) > tv_us(&gs) ||
	    tv_us(&gs) > tv_us(&g2))
		fail("gettimeofday: capture %llu, vDSO %llu, system call %llu, vDSO %llu (us)",
		     (unsigned long long)tv_us(&tv_seen),
		     (unsigned long long)tv_us(&g1),
		     (unsigned long long)tv_us(&gs),
		     (unsigned long long)tv_us(&g2));

	cpu = sched_getcpu();
	if (sched_getaffinity(0, sizeof(set), &set) || cpu < 0 ||
	    cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set))
		fail("sched_getcpu() returned %d: not a CPU the process may run on",
		     cpu);
	rseq_check();
	finish();
}

TEST_F_TIMEOUT(restored, vdso_rseq, 60)
{
	if (!capture_child(_metadata, self, vdso_rseq_child))
		return;
	restore_plain(_metadata, self, "the vDSO and rseq");
}

/*
 * Task state: resource limits (a soft limit lowered), the name, the
 * working directory, umask, the executable. The restoring caller has other
 * values of each.
 */

static struct rlimit rlimits_seen[NR_RLIMITS];
static char cwd_seen[PATH_MAX], exe_seen[PATH_MAX];
static struct stat cwd_st_seen;

#define TASK_COMM	"rr-task-state"
#define TASK_NOFILE	200

static void task_state_child(struct _test_data_restored *self)
{
	char comm[17] = "", buf[PATH_MAX], status[4096], *p;
	struct rlimit rl;
	struct stat st;
	unsigned int i;
	mode_t mask;
	ssize_t n;

	if (prctl(PR_SET_NAME, TASK_COMM) || chdir(self->subdir) ||
	    !getcwd(cwd_seen, sizeof(cwd_seen)) || stat(".", &cwd_st_seen))
		child_fail("name or working directory: %s", strerror(errno));
	umask(027);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		child_fail("getrlimit: %s", strerror(errno));
	rl.rlim_cur = rl.rlim_max < TASK_NOFILE ? rl.rlim_max : TASK_NOFILE;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		child_fail("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	if (!getrlimit(RLIMIT_CORE, &rl) && rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 12345 * 4096 :
							     rl.rlim_max / 2;
		setrlimit(RLIMIT_CORE, &rl);
	}
	if (!getrlimit(RLIMIT_MSGQUEUE, &rl) && rl.rlim_max > 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
	}
	for (i = 0; i < NR_RLIMITS; i++)
		if (prlimit(0, i, NULL, &rlimits_seen[i]))
			child_fail("getrlimit(%u): %s", i, strerror(errno));
	n = readlink("/proc/self/exe", exe_seen, sizeof(exe_seen) - 1);
	if (n <= 0)
		child_fail("readlink /proc/self/exe: %s", strerror(errno));
	exe_seen[n] = '\0';

	if (!capture_here(self->image, 0))
		_exit(0);

	if (prctl(PR_GET_NAME, comm) || strcmp(comm, TASK_COMM))
		fail("name \"%s\", expected \"%s\"", comm, TASK_COMM);
	if (snapshot_read_text("/proc/self/comm", buf, sizeof(buf)) ||
	    strcmp(buf, TASK_COMM))
		fail("/proc/self/comm \"%s\", expected \"%s\"", buf, TASK_COMM);
	if (!getcwd(buf, sizeof(buf)) || strcmp(buf, cwd_seen))
		fail("working directory \"%s\", expected \"%s\"", buf,
		     cwd_seen);
	if (stat(".", &st) || st.st_dev != cwd_st_seen.st_dev ||
	    st.st_ino != cwd_st_seen.st_ino)
		fail("the working directory is another directory than %s",
		     cwd_seen);
	mask = umask(0);
	umask(mask);
	if (mask != 027)
		fail("umask %#o, expected 027", mask);
	p = NULL;
	if (!snapshot_read_text("/proc/self/status", status, sizeof(status)))
		p = strstr(status, "Umask:\t");
	if (!p || strncmp(p + 7, "0027\n", 5))
		fail("/proc/self/status does not say Umask: 0027");
	for (i = 0; i < NR_RLIMITS; i++) {
		if (prlimit(0, i, NULL, &rl)) {
			fail("getrlimit(%u): %s", i, strerror(errno));
			continue;
		}
		if (rl.rlim_cur != rlimits_seen[i].rlim_cur ||
		    rl.rlim_max != rlimits_seen[i].rlim_max)
			fail("rlimit %u: %#llx/%#llx, expected %#llx/%#llx", i,
			     (unsigned long long)rl.rlim_cur,
			     (unsigned long long)rl.rlim_max,
			     (unsigned long long)rlimits_seen[i].rlim_cur,
			     (unsigned long long)rlimits_seen[i].rlim_max);
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (strcmp(buf, exe_seen))
		fail("/proc/self/exe \"%s\", expected \"%s\"", buf, exe_seen);
	finish();
}

/* The caller's own: a lower soft limit of open files. */
static const char *prep_task_state(struct restore_call *c)
{
	struct rlimit rl;

	(void)c;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return "getrlimit";
	if (rl.rlim_cur > TASK_NOFILE / 2) {
		rl.rlim_cur = TASK_NOFILE / 2;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return "setrlimit";
	}
	return NULL;
}

TEST_F_TIMEOUT(restored, task_state, 60)
{
	struct restore_call c = {
		.image = self->image,
		.prep = prep_task_state,
	};
	struct report rep;
	long r;

	ASSERT_EQ(0, mkdir(self->subdir, 0700))
		TH_LOG("mkdir %s: %s", self->subdir, strerror(errno));
	if (!capture_child(_metadata, self, task_state_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	expect_restored(_metadata, r, &rep, "task state");
}

/*
 * A restored process captures itself in turn; the second image restores
 * the state of the first restored process, with what it changed, and the
 * same memory map.
 */

static unsigned int chain_gen;

static void chain_child(struct _test_data_restored *self)
{
	int err;
	char *p;

	p = xmap(8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	snapshot_pattern_fill(p, 8, SEED(70), 0);
	add_region("chained region", p, 8, PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, 0))
		_exit(0);

	/* The first restored process. */
	regions_check(false);
	if (chain_gen != 0)
		fail("generation %u in the first restored process", chain_gen);
	chain_gen = 1;
	snapshot_pattern_fill(p + 3 * psz, 1, SEED(71), 3);
	regions_record(0);
	/* No pipe in an image: what it says from now on goes to stderr. */
	close(RESULT_FD);
	report_fd = 2;
	if (!capture_here(self->image2, 0)) {
		err = dump_maps(self->expect);
		if (err)
			fail("smaps: %s", strerror(-err));
		_exit(nr_failed ? EXIT_MISMATCH : EXIT_CHAINED);
	}

	/* The second. */
	report_fd = RESULT_FD;
	err = dump_maps(self->got);
	if (err)
		fail("smaps: %s", strerror(-err));
	if (chain_gen != 1)
		fail("generation %u in the second restored process, expected 1",
		     chain_gen);
	regions_check(false);
	finish();
}

TEST_F_TIMEOUT(restored, chain, 60)
{
	struct restore_call c = { .image = self->image };
	struct report rep;
	long r;

	if (!capture_child(_metadata, self, chain_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	log_report(_metadata, &rep, "first restored process");
	ASSERT_EQ(OUT_EXIT | EXIT_CHAINED, r)
		TH_LOG("the first restore: %s, expected a process that captures itself",
		       outcome_str(r));
	c.image = self->image2;
	r = restore_run(_metadata, self, &c, &rep);
	expect_restored(_metadata, r, &rep,
			"the image of the restored process");
	compare_maps(_metadata, self->expect, self->got);
}

/*
 * Eight restores of one image at once: each succeeds, finds its data, and
 * has memory of its own, the shared anonymous mapping included (each
 * restore makes a new shmem object). The restored processes write their
 * pid, say so, and wait until all have written before they look.
 */

#define CONCURRENT	8

static void concurrent_child(struct _test_data_restored *self)
{
	char *p, *s, *priv, *shared;
	pid_t me;
	char c;

	p = xmap(16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	snapshot_pattern_fill(p, 16, SEED(80), 0);
	s = xmap(2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	snapshot_pattern_fill(s, 2, SEED(81), 0);
	add_region("private anonymous", p, 16, PROT_READ | PROT_WRITE);
	add_region("shared anonymous", s, 2, PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, 0))
		_exit(0);

	regions_check(false);
	me = getpid();
	priv = p + psz;
	shared = s + psz;
	poke(priv, me);
	poke(shared, me);
	say("@ready");
	/* The test closes the other end once all have written. */
	if (read(CONTROL_FD, &c, 1) != 0)
		fail("the control pipe: %s", strerror(errno));
	if (peek(priv) != (__u64)me)
		fail("private memory: %llu, written %d: another restored process's write",
		     (unsigned long long)peek(priv), me);
	if (peek(shared) != (__u64)me)
		fail("shmem holds %llu, wrote %d: shared with another restore",
		     (unsigned long long)peek(shared), me);
	finish();
}

TEST_F_TIMEOUT(restored, concurrent_restores, 90)
{
	static struct report reps[CONCURRENT];
	struct pollfd pfd[CONCURRENT];
	int rd[CONCURRENT], ctl[2], ret;
	bool ended[CONCURRENT] = { false };
	pid_t pids[CONCURRENT];
	unsigned int i, n, waiting;
	char who[32];
	__u64 deadline;
	long r;

	if (!capture_child(_metadata, self, concurrent_child))
		return;
	ASSERT_EQ(0, pipe2(ctl, O_CLOEXEC));
	for (i = 0; i < CONCURRENT; i++) {
		struct restore_call c = {
			.image = self->image,
			.map = { { .image_fd = CONTROL_FD, .caller_fd = ctl[0] } },
			.nr_map = 1,
		};

		reps[i].len = 0;
		reps[i].text[0] = '\0';
		pids[i] = restore_start(_metadata, self, &c, &rd[i]);
	}
	close(ctl[0]);

	/* Until each has written, or has ended. */
	deadline = deadline_in(2 * CHILD_SECONDS);
	for (;;) {
		for (i = n = waiting = 0; i < CONCURRENT; i++) {
			if (ended[i] || strstr(reps[i].text, "@ready\n"))
				continue;
			pfd[n++] = (struct pollfd) {
				.fd = rd[i], .events = POLLIN,
			};
			waiting++;
		}
		if (!waiting || now_ns() >= deadline)
			break;
		ret = poll(pfd, n, 100);
		if (ret <= 0)
			continue;
		for (i = 0; i < CONCURRENT; i++) {
			unsigned int k;

			for (k = 0; k < n; k++)
				if (pfd[k].fd == rd[i] && pfd[k].revents)
					break;
			if (k < n && report_read(rd[i], &reps[i]))
				ended[i] = true;
		}
	}
	EXPECT_EQ(0U, waiting)
		TH_LOG("%u restored processes did not get ready in time",
		       waiting);
	close(ctl[1]);

	for (i = 0; i < CONCURRENT; i++) {
		if (ended[i])
			r = wait_kid(self, pids[i], deadline);
		else
			r = restore_finish(self, pids[i], rd[i], &reps[i],
					   deadline);
		if (ended[i])
			close(rd[i]);
		snprintf(who, sizeof(who), "restored process %u", i);
		log_report(_metadata, &reps[i], who);
		EXPECT_EQ(OUT_VERIFIED, r)
			TH_LOG("restore %u of %u: %s", i + 1, CONCURRENT,
			       outcome_str(r));
	}
}

/*
 * A process captured from outside (SNAPSHOT_CAPTURE_PIDFD) while stopped
 * in a system call. Documentation/userspace-api/snapshot.rst: it is
 * recorded "as if that call had been set up for its restart, as the signal
 * code would do on resuming it; a call that would restart through a
 * restart block (nanosleep()) returns EINTR instead". read() on an empty
 * pipe is interrupted with -ERESTARTSYS and no handler runs: the restored
 * process reads again, and blocks until data comes. nanosleep() returns
 * -1 with EINTR, and the time left, which the kernel wrote before the
 * stop, in *rem.
 */

#define REMOTE_MSG	"restarted read"

/* Wait until @pid sleeps in system call @nr: false if it ends first. */
static bool wait_in_syscall(pid_t pid, long nr, __u64 deadline)
{
	siginfo_t si;

	while (now_ns() < deadline) {
		memset(&si, 0, sizeof(si));
		if (!waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) &&
		    si.si_pid == pid)
			return false;
		if (syscall_of(pid) == nr)
			return true;
		nap_ms(2);
	}
	return false;
}

/* Stop @pid, capture it into the fixture's image, and kill it. */
static void capture_remote(struct __test_metadata *_metadata,
			   struct _test_data_restored *self, pid_t pid)
{
	struct snapshot_reason why = { .fd = -1 };
	struct snapshot_capture_args args = {
		.flags = SNAPSHOT_CAPTURE_PIDFD,
		.reason = (uintptr_t)&why,
	};
	int status = 0;
	long ret;

	ASSERT_EQ(0, kill(pid, SIGSTOP));
	while (waitpid(pid, &status, WUNTRACED) < 0 && errno == EINTR)
		;
	ASSERT_TRUE(WIFSTOPPED(status))
		TH_LOG("the target: wait status %#x (%s)", status, self->msg);
	args.pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_LE(0, args.pidfd) TH_LOG("pidfd_open: %s", strerror(errno));
	args.image_fd = open(self->image,
			     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, args.image_fd)
		TH_LOG("create %s: %s", self->image, strerror(errno));
	ret = snapshot_syscall(__NR_snapshot_capture, &args, sizeof(args));
	close(args.image_fd);
	close(args.pidfd);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	track(self, pid, false);
	ASSERT_EQ(0, ret)
		TH_LOG("capture by pidfd: %s (reason %u, fd %d, addr %#llx)",
		       strerror(-ret), why.code, why.fd,
		       (unsigned long long)why.addr);
}

static void reader_target(struct _test_data_restored *self)
{
	static char buf[64];
	long n;
	char *p;

	(void)self;
	prctl(PR_SET_NAME, "rr-reader");
	p = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	snapshot_pattern_fill(p, 4, SEED(90), 0);
	add_region("the reader's region", p, 4, PROT_READ | PROT_WRITE);
	regions_record(0);

	n = syscall(SYS_read, 0, buf, sizeof(buf) - 1);

	/* Only the restored process gets here: the test kills the other. */
	if (n < 0)
		fail("read() returned -1 with %s: the call was not restarted",
		     errname(errno));
	else if ((size_t)n != strlen(REMOTE_MSG) ||
		 memcmp(buf, REMOTE_MSG, n))
		fail("read() returned %ld bytes, \"%.*s\", expected \"%s\"",
		     n, (int)n, buf, REMOTE_MSG);
	regions_check(false);
	finish();
}

TEST_F_TIMEOUT(restored, remote_read_restarts, 60)
{
	struct restore_call c = { .image = self->image };
	struct report rep = { .len = 0 };
	int in[2], q[2], rd;
	bool blocked;
	pid_t pid;
	long r;

	ASSERT_EQ(0, pipe2(in, O_CLOEXEC));
	pid = fork_child(_metadata, self, reader_target, in[0]);
	close(in[0]);
	ASSERT_TRUE(wait_in_syscall(pid, SYS_read,
				    deadline_in(CHILD_SECONDS)))
		TH_LOG("the target does not wait in read(): %s", self->msg);
	capture_remote(_metadata, self, pid);
	close(in[1]);

	ASSERT_EQ(0, pipe2(q, O_CLOEXEC));
	c.map[0] = (struct snapshot_fd_map) { .image_fd = 0, .caller_fd = q[0] };
	c.nr_map = 1;
	pid = restore_start(_metadata, self, &c, &rd);
	close(q[0]);
	/* It waits in the restarted read() until there is something. */
	blocked = wait_in_syscall(pid, SYS_read, deadline_in(CHILD_SECONDS));
	signal(SIGPIPE, SIG_IGN);
	if (blocked)
		ASSERT_EQ((ssize_t)strlen(REMOTE_MSG),
			  write(q[1], REMOTE_MSG, strlen(REMOTE_MSG)));
	close(q[1]);
	r = restore_finish(self, pid, rd, &rep, deadline_in(CHILD_SECONDS));
	log_report(_metadata, &rep, "restored process");
	EXPECT_TRUE(blocked)
		TH_LOG("the restored process never waited in read(): %s",
		       outcome_str(r));
	EXPECT_EQ(OUT_VERIFIED, r)
		TH_LOG("a process captured in read(): %s", outcome_str(r));
}

static struct timespec sleep_left;

static void sleeper_target(struct _test_data_restored *self)
{
	struct timespec ts = { .tv_sec = 3600 };
	long ret;
	int err;
	char *p;

	(void)self;
	prctl(PR_SET_NAME, "rr-sleeper");
	p = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	snapshot_pattern_fill(p, 4, SEED(91), 0);
	add_region("the sleeper's region", p, 4, PROT_READ | PROT_WRITE);
	regions_record(0);

	ret = syscall(SYS_nanosleep, &ts, &sleep_left);
	err = errno;

	/* Only the restored process gets here. */
	if (ret != -1 || err != EINTR)
		fail("nanosleep() returned %ld (errno %s), expected -1 with EINTR",
		     ret, errname(err));
	if (sleep_left.tv_sec < 0 || sleep_left.tv_sec > ts.tv_sec ||
	    (!sleep_left.tv_sec && !sleep_left.tv_nsec))
		fail("nanosleep() left %lld.%09ld s of %lld s",
		     (long long)sleep_left.tv_sec, sleep_left.tv_nsec,
		     (long long)ts.tv_sec);
	regions_check(false);
	finish();
}

TEST_F_TIMEOUT(restored, remote_nanosleep_eintr, 60)
{
	struct restore_call c = { .image = self->image };
	struct report rep;
	pid_t pid;
	int rd;
	long r;

	pid = fork_child(_metadata, self, sleeper_target, -1);
	ASSERT_TRUE(wait_in_syscall(pid, SYS_nanosleep,
				    deadline_in(CHILD_SECONDS)))
		TH_LOG("the target does not wait in nanosleep(): %s",
		       self->msg);
	capture_remote(_metadata, self, pid);

	rep.len = 0;
	rep.text[0] = '\0';
	pid = restore_start(_metadata, self, &c, &rd);
	r = restore_finish(self, pid, rd, &rep, deadline_in(10));
	log_report(_metadata, &rep, "restored process");
	EXPECT_EQ(OUT_VERIFIED, r)
		TH_LOG("a process captured in nanosleep(): %s%s", outcome_str(r),
		       r == OUT_TIMEOUT ?
		       " (slept on instead of returning EINTR?)" : "");
}

/*
 * The file pages of the working set: the pages of a file the captured
 * process read after clearing its accessed bits, in a private and in a
 * shared mapping, are mapped by the restore -- present in the restored
 * process's page tables before it touches them, with the file's data, read
 * from the disk (the test drops them from the page cache first) -- and the
 * pages it did not touch are not.
 */

static const unsigned int fws_hot[] = { 0, 1, 2, 7 };

static bool fws_is_hot(unsigned long i)
{
	unsigned int j;

	for (j = 0; j < ARRAY_SIZE(fws_hot); j++)
		if (fws_hot[j] == i)
			return true;
	return false;
}

/* Whether the page at @p is mapped, without touching it. */
static bool page_present(int pagemap, const void *p)
{
	__u64 e = 0;

	return pread(pagemap, &e, sizeof(e),
		     (uintptr_t)p / psz * sizeof(e)) == sizeof(e) &&
	       (e & 1ULL << 63);
}

static void fws_check(int pagemap, const char *what, const char *map)
{
	unsigned long i;
	bool hot;

	for (i = 0; i < FILE_PAGES; i++) {
		hot = fws_is_hot(i);
		if (page_present(pagemap, map + i * psz) != hot)
			fail("%s mapping, page %lu: %s", what, i,
			     hot ? "not mapped by the restore" :
				   "mapped, though not in the working set");
	}
	for (i = 0; i < FILE_PAGES; i++)
		if (fws_is_hot(i) && pattern_diff(map + i * psz, FILE_SEED, i) != -1)
			fail("%s mapping, page %lu: not the file's data", what,
			     i);
}

static void file_ws_child(struct _test_data_restored *self)
{
	char *priv, *shared;
	unsigned long i;
	int fd, pm;

	fd = open(self->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		child_fail("open %s: %s", self->file, strerror(errno));
	priv = xmap(FILE_PAGES, PROT_READ, MAP_PRIVATE, fd, 0);
	shared = xmap(FILE_PAGES, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	for (i = 0; i < FILE_PAGES; i++) {
		touch(priv + i * psz);
		touch(shared + i * psz);
	}
	if (snapshot_write_text("/proc/self/clear_refs", "1"))
		child_fail("cannot clear the accessed bits");
	/* A TLB flush, so that the reads below set the bits again. */
	xmprotect(priv, FILE_PAGES, PROT_NONE);
	xmprotect(priv, FILE_PAGES, PROT_READ);
	xmprotect(shared, FILE_PAGES, PROT_NONE);
	xmprotect(shared, FILE_PAGES, PROT_READ);
	for (i = 0; i < ARRAY_SIZE(fws_hot); i++) {
		touch(priv + fws_hot[i] * psz);
		touch(shared + fws_hot[i] * psz);
	}

	if (!capture_here(self->image, SNAPSHOT_CAPTURE_WORKING_SET))
		_exit(0);

	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		fail("open /proc/self/pagemap: %s", strerror(errno));
		finish();
	}
	fws_check(pm, "private", priv);
	fws_check(pm, "shared", shared);
	close(pm);
	finish();
}

TEST_F_TIMEOUT(restored, file_working_set, 60)
{
	struct restore_call c = { .image = self->image };
	struct report rep;
	int fd;
	long r;

	if (!capture_child(_metadata, self, file_ws_child))
		return;
	/* Out of the page cache: the restore reads the pages. */
	fd = open(self->file, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", self->file, strerror(errno));
	ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	close(fd);
	r = restore_run(_metadata, self, &c, &rep);
	expect_restored(_metadata, r, &rep, "file working set");
}

/*
 * SNAPSHOT_RESTORE_SHARE_CACHE and SNAPSHOT_RESTORE_LAZY: the contents are
 * the same. The image has a working set (the pages the captured process
 * touched) and a region outside it, which it inherited untouched from the
 * test. With SHARE_CACHE, a page the restored process only reads is the
 * image's page-cache page (the same PFN in /proc/self/pagemap), and a
 * write copies it, leaving the image alone.
 */

static __u64 mode_flags;	/* the restore's, set before the fork */

static const struct snapshot_image_extent *
extent_at(const struct image *img, unsigned long addr)
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

/* The PFN of the page at @p (touched first), or 0 if it cannot be seen. */
static __u64 pfn_of(int pagemap, const void *p)
{
	__u64 e = 0;

	touch(p);
	if (pread(pagemap, &e, sizeof(e), (uintptr_t)p / psz * sizeof(e)) !=
	    sizeof(e) || !(e & 1ULL << 63))
		return 0;
	return e & ((1ULL << 55) - 1);
}

static void share_check(struct _test_data_restored *self, struct region *r)
{
	const struct snapshot_image_extent *e;
	__u64 pv, pp, off[MAX_PAGES];
	bool pfns = true;
	struct image img;
	unsigned long i;
	char *view;
	int fd, pm;

	fd = open(self->image, O_RDONLY | O_CLOEXEC);
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pm < 0) {
		fail("open the image or /proc/self/pagemap: %s",
		     strerror(errno));
		return;
	}
	if (!image_load(&img, fd)) {
		fail("the image: %s", img.why);
		return;
	}
	view = mmap(NULL, img.hdr.image_size, PROT_READ, MAP_SHARED, fd, 0);
	if (view == MAP_FAILED) {
		fail("mmap the image: %s", strerror(errno));
		return;
	}
	for (i = 0; i < r->pages; i++) {
		e = extent_at(&img, (uintptr_t)r->addr + i * psz);
		if (!e) {
			fail("%s, page %lu is not stored in the image", r->name,
			     i);
			goto out;
		}
		off[i] = e->data_off + ((uintptr_t)r->addr + i * psz - e->addr);
		pv = pfn_of(pm, view + off[i]);
		pp = pfn_of(pm, r->addr + i * psz);
		if (!pv) {
			say("no PFNs in /proc/self/pagemap (CAP_SYS_ADMIN): sharing not checked");
			pfns = false;
			break;
		}
		if (pv != pp)
			fail("%s, page %lu: PFN %#llx, page cache %#llx: not shared",
			     r->name, i, (unsigned long long)pp,
			     (unsigned long long)pv);
	}
	if (!pfns) {
		e = extent_at(&img, (uintptr_t)r->addr);
		off[0] = e->data_off + ((uintptr_t)r->addr - e->addr);
	}
	/* A write gets a copy; the image keeps its data. */
	if (mprotect(r->addr, psz, PROT_READ | PROT_WRITE)) {
		fail("mprotect: %s", strerror(errno));
		goto out;
	}
	r->addr[0] ^= 0xff;
	if (pfns && pfn_of(pm, r->addr) == pfn_of(pm, view + off[0]))
		fail("%s, page 0: still the image's page after a write",
		     r->name);
	if (crc32c(view + off[0], psz) != r->crc[0])
		fail("%s, page 0: a write in the restored process changed the image",
		     r->name);
	r->addr[0] ^= 0xff;
	mprotect(r->addr, psz, r->prot);
out:
	munmap(view, img.hdr.image_size);
	image_free(&img);
	close(fd);
	close(pm);
}

static void modes_child(struct _test_data_restored *self)
{
	struct region *ro_region;
	char *hot, *ro;

	hot = xmap(8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	snapshot_pattern_fill(hot, 8, SEED(101), 0);
	ro = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	snapshot_pattern_fill(ro, 4, SEED(102), 0);
	/* The cold region, regions[0], is the test's: not touched here. */
	add_region("working set", hot, 8, PROT_READ | PROT_WRITE);
	ro_region = add_region("read-only", ro, 4, PROT_READ);
	regions_record(1);
	xmprotect(ro, 4, PROT_READ);

	if (!capture_here(self->image, SNAPSHOT_CAPTURE_WORKING_SET))
		_exit(0);

	regions_check(false);
	if (mode_flags & SNAPSHOT_RESTORE_SHARE_CACHE)
		share_check(self, ro_region);
	/* Written after the restore: private to the restored process. */
	snapshot_pattern_fill(hot, 1, SEED(103), 0);
	if (pattern_diff(hot, SEED(103), 0) != -1)
		fail("a write to the working set did not stick");
	finish();
}

static void mode_case(struct __test_metadata *_metadata,
		      struct _test_data_restored *self, __u64 flags,
		      const char *what)
{
	struct restore_call c = { .image = self->image, .flags = flags };
	struct report rep;
	char *cold;
	long r;

	/* Filled here: the child has it, but has not touched it. */
	cold = mmap_isolated(8, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cold) TH_LOG("mmap: %s", strerror(errno));
	snapshot_pattern_fill(cold, 8, SEED(100), 0);
	add_region("not in the working set", cold, 8, PROT_READ | PROT_WRITE);
	regions_record(0);
	mode_flags = flags;
	if (!capture_child(_metadata, self, modes_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	if (r == -EOPNOTSUPP)
		SKIP(return, "%s: snapshot_restore() says -EOPNOTSUPP", what);
	expect_restored(_metadata, r, &rep, what);
}

TEST_F_TIMEOUT(restored, share_cache, 60)
{
	mode_case(_metadata, self, SNAPSHOT_RESTORE_SHARE_CACHE,
		  "SNAPSHOT_RESTORE_SHARE_CACHE");
}

TEST_F_TIMEOUT(restored, lazy, 60)
{
	mode_case(_metadata, self, SNAPSHOT_RESTORE_LAZY,
		  "SNAPSHOT_RESTORE_LAZY");
}

TEST_F_TIMEOUT(restored, share_cache_lazy, 60)
{
	mode_case(_metadata, self,
		  SNAPSHOT_RESTORE_SHARE_CACHE | SNAPSHOT_RESTORE_LAZY,
		  "SNAPSHOT_RESTORE_SHARE_CACHE | SNAPSHOT_RESTORE_LAZY");
}

/*
 * A mapping with MADV_MERGEABLE (KSM) can be captured but not restored:
 * -EOPNOTSUPP.
 */

static void mergeable_child(struct _test_data_restored *self)
{
	char *p;

	p = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	snapshot_pattern_fill(p, 4, SEED(104), 0);
	if (madvise(p, 4 * psz, MADV_MERGEABLE)) {
		if (errno == EINVAL)
			child_skip("madvise(MADV_MERGEABLE): EINVAL: no KSM");
		child_fail("madvise(MADV_MERGEABLE): %s", strerror(errno));
	}

	if (!capture_here(self->image, 0))
		_exit(0);

	fail("restored an image with a MADV_MERGEABLE mapping");
	finish();
}

TEST_F_TIMEOUT(restored, mergeable_refused, 60)
{
	struct restore_call c = { .image = self->image };
	struct report rep;
	long r;

	if (!capture_child(_metadata, self, mergeable_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	log_report(_metadata, &rep, "restored process");
	EXPECT_EQ(-EOPNOTSUPP, r)
		TH_LOG("an image with a MADV_MERGEABLE mapping: %s, expected -EOPNOTSUPP",
		       outcome_str(r));
}

/*
 * Randomized corruption. A valid image, mutated: bits flipped, bytes and
 * fields set to edge values, in the header, the section table and the
 * sections, 1 to 3 mutations, checksums recomputed four times in five (so
 * that most mutations get past them); or, one time in ten, one byte of
 * the data of one page of the checked region. Each image is restored:
 *
 *  - A data mutation leaves a valid image whose restored process finds
 *    exactly that page changed (EXIT_PAGE_BAD + page): page data is not
 *    checksummed, and copy mode restores what the image holds.
 *  - A metadata mutation must end in an error return (any -errno), or a
 *    restore that passes the check of the region -- unless it changed a
 *    field that a valid image may hold any value of, and that changes the
 *    process restored: its registers, XSAVE area, limits, pending
 *    signals, personality and rseq, VMA ranges, protections, flags and
 *    file offsets, extent addresses, lengths and data offsets, and where a
 *    section is. Such a "loose" image may restore a process that differs,
 *    crashes or hangs: nothing can tell that from a kernel bug here, and
 *    KASAN in the test kernel is the judge of those.
 *  - snapshot_restore() returning >= 0, hanging in the kernel, or
 *    returning an error after it closed the caller's descriptors, is a
 *    failure whatever the mutation; so is the caller killed by a signal
 *    (after the point of no return) for any image but a loose one.
 *
 * The seed is logged; RESTORE_RUN_TEST_SEED sets it. Forks are slow under
 * TCG: a worker child tries image after image, reporting through a shared
 * struct fuzz_state; a restore that does not return ends the worker (the
 * restored process replaced it), and the test records that outcome for the
 * image in flight and starts another worker.
 */

#define FUZZ_SECONDS	20
#define FUZZ_MAX	10000
#define FUZZ_PAGES	8
#define FUZZ_LOG_MAX	10
#define FUZZ_HANG_SEC	5

struct fuzz_base {
	unsigned char *meta;		/* bytes [0, data_off) */
	size_t meta_size;
	struct snapshot_image_section sec[NR_TYPES];
	bool have[NR_TYPES];
	__u64 sections_off;
	__u32 nr_sections, section_size;
	__u64 page_off[FUZZ_PAGES];	/* the data of the region's pages */
	unsigned char *pages;
};

struct fuzz_state {
	__u64 rnd;		/* the generator, for the next image */
	__u64 deadline;		/* CLOCK_MONOTONIC */
	__u64 started;		/* when the image in flight went in */
	unsigned int runs, failures, restored, loose_runs, data_runs;
	unsigned int counts[EXIT_VERIFIED];	/* by errno */
	bool in_flight;		/* an image is being restored */
	bool loose;		/* ... with a loose mutation */
	bool fixed;		/* ... its checksums recomputed */
	int data_page;		/* ... its data changed there, or -1 */
	char what[512];		/* its mutations, in words */
	char log[FUZZ_LOG_MAX][768];
};

static __u64 rnd_state;

static __u64 rnd(void)
{
	__u64 x = rnd_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rnd_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static __printf(2, 3) void fuzz_note(struct fuzz_state *st,
				     const char *fmt, ...)
{
	size_t len = strlen(st->what), size = sizeof(st->what);
	va_list ap;

	if (len + 3 >= size)
		return;
	if (len)
		len += snprintf(st->what + len, size - len, "; ");
	va_start(ap, fmt);
	vsnprintf(st->what + len, size - len, fmt, ap);
	va_end(ap);
}

/* Whether changing bytes [@lo, @hi) of the metadata is a loose mutation. */
static bool fuzz_loose(const struct fuzz_base *b, __u64 lo, __u64 hi)
{
	static const struct {
		__u32 type, off, len;	/* len 0: the whole record */
	} loose[] = {
		{ SNAPSHOT_SECTION_TASK,
		  offsetof(struct snapshot_image_task, personality), 4 },
		{ SNAPSHOT_SECTION_TASK,
		  offsetof(struct snapshot_image_task, sigpending), 8 },
		{ SNAPSHOT_SECTION_TASK,
		  offsetof(struct snapshot_image_task, rseq_len), 4 },
		{ SNAPSHOT_SECTION_TASK,
		  offsetof(struct snapshot_image_task, rseq), 8 },
		{ SNAPSHOT_SECTION_TASK,
		  offsetof(struct snapshot_image_task, rseq_sig), 4 },
		{ SNAPSHOT_SECTION_VMAS, 0,
		  offsetof(struct snapshot_image_vma, reserved) },
		{ SNAPSHOT_SECTION_EXTENTS, 0,
		  offsetof(struct snapshot_image_extent, vma) },
		{ SNAPSHOT_SECTION_REGS, 0, 0 },
		{ SNAPSHOT_SECTION_XSAVE, 0, 0 },
		{ SNAPSHOT_SECTION_RLIMITS, 0, 0 },
	};
	const __u64 table_end = b->sections_off +
				(__u64)b->nr_sections * b->section_size;
	const __u32 off_field = offsetof(struct snapshot_image_section, offset);
	const struct snapshot_image_section *s;
	__u64 off, rel;
	unsigned int i;

	if (lo < table_end && hi > b->sections_off) {
		for (off = lo; off < hi; off++) {
			rel = (off - b->sections_off) % b->section_size;
			if (rel >= off_field && rel < off_field + 8)
				return true;
		}
		return false;
	}
	for (i = 0; i < ARRAY_SIZE(loose); i++) {
		s = &b->sec[loose[i].type];
		if (!b->have[loose[i].type] || hi <= s->offset ||
		    lo >= s->offset + s->size)
			continue;
		if (!loose[i].len)
			return true;
		for (off = lo; off < hi; off++) {
			rel = (off - s->offset) % s->entry_size;
			if (rel >= loose[i].off &&
			    rel < loose[i].off + loose[i].len)
				return true;
		}
	}
	return false;
}

/* A value at the edges, near @old, or at random. */
static __u64 fuzz_value(__u64 old, unsigned int bits)
{
	static const __u64 edges[] = {
		0, 1, 2, 7, 8, 40, 88, 0x7f, 0x80, 0xff, 0x1000, 0x1001,
		0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL,
		1ULL << 47, 0x7ffffffff000ULL, 64ULL << 20, 1ULL << 63,
		-1ULL, -8ULL, -4096ULL,
	};
	static const __s64 deltas[] = { 1, -1, 8, -8, 40, -40, 4096, -4096 };
	__u64 v;

	switch (rnd() % 4) {
	case 0:
		v = edges[rnd() % ARRAY_SIZE(edges)];
		break;
	case 1:
		v = old + deltas[rnd() % ARRAY_SIZE(deltas)];
		break;
	case 2:
		v = old ^ 1ULL << (rnd() % bits);
		break;
	default:
		v = rnd();
		break;
	}
	return bits == 32 ? (__u32)v : v;
}

static void fuzz_mutate(struct fuzz_state *st, const struct fuzz_base *b,
			unsigned char *meta)
{
	struct snapshot_image_section d;
	__u64 off, old, v;
	__u32 old32, v32;
	char where[48];
	unsigned int i, bit, len;

	switch (rnd() % 8) {
	case 0:
	case 1:
		off = rnd() % sizeof(struct snapshot_image_header);
		snprintf(where, sizeof(where), "header");
		break;
	case 2:
	case 3:
		i = rnd() % b->nr_sections;
		off = b->sections_off + (__u64)i * b->section_size +
		      rnd() % b->section_size;
		snprintf(where, sizeof(where), "descriptor %u", i);
		break;
	default:
		i = rnd() % b->nr_sections;
		memcpy(&d, b->meta + b->sections_off +
			   (size_t)i * b->section_size, sizeof(d));
		if (!d.size) {
			off = rnd() % sizeof(struct snapshot_image_header);
			snprintf(where, sizeof(where), "header");
			break;
		}
		off = d.offset + rnd() % d.size;
		snprintf(where, sizeof(where), "section type %u", d.type);
		break;
	}

	switch (rnd() % 5) {
	case 0:
	case 1:
		bit = rnd() % 8;
		meta[off] ^= 1 << bit;
		len = 1;
		fuzz_note(st, "%s: flip bit %u at %#llx", where, bit,
			  (unsigned long long)off);
		break;
	case 2:
		old = meta[off];
		meta[off] = rnd();
		len = 1;
		fuzz_note(st, "%s: byte at %#llx %#llx -> %#x", where,
			  (unsigned long long)off, (unsigned long long)old,
			  meta[off]);
		break;
	case 3:
		off &= ~3ULL;
		memcpy(&old32, meta + off, sizeof(old32));
		v32 = fuzz_value(old32, 32);
		memcpy(meta + off, &v32, sizeof(v32));
		len = 4;
		fuzz_note(st, "%s: u32 at %#llx %#x -> %#x", where,
			  (unsigned long long)off, old32, v32);
		break;
	default:
		off &= ~7ULL;
		memcpy(&old, meta + off, sizeof(old));
		v = fuzz_value(old, 64);
		memcpy(meta + off, &v, sizeof(v));
		len = 8;
		fuzz_note(st, "%s: u64 at %#llx %#llx -> %#llx", where,
			  (unsigned long long)off, (unsigned long long)old,
			  (unsigned long long)v);
		break;
	}
	if (fuzz_loose(b, off, off + len))
		st->loose = true;
}

/* Recompute the checksums of what lies in the metadata. */
static void fix_csums(unsigned char *meta, size_t size)
{
	struct snapshot_image_header h;
	struct snapshot_image_section d;
	__u64 table;
	__u32 i, crc;

	memcpy(&h, meta, sizeof(h));
	table = (__u64)h.nr_sections * h.section_size;
	if (h.sections_off > size || table > size - h.sections_off ||
	    h.section_size < sizeof(d))
		return;
	for (i = 0; i < h.nr_sections; i++) {
		memcpy(&d, meta + h.sections_off + (size_t)i * h.section_size,
		       sizeof(d));
		if (d.offset > size || d.size > size - d.offset)
			continue;
		d.csum = crc32c(meta + d.offset, d.size);
		memcpy(meta + h.sections_off + (size_t)i * h.section_size, &d,
		       sizeof(d));
	}
	h.csum = 0;
	crc = crc32c_update(~0U, &h, sizeof(h));
	h.csum = ~crc32c_update(crc, meta + h.sections_off, table);
	memcpy(meta + offsetof(struct snapshot_image_header, csum), &h.csum,
	       sizeof(h.csum));
}

static bool fuzz_acceptable(const struct fuzz_state *st, long r)
{
	if (st->data_page >= 0)
		return r == (OUT_EXIT | (EXIT_PAGE_BAD + st->data_page));
	if (r == (OUT_EXIT | EXIT_RETURNED) || r == OUT_HUNG ||
	    r == OUT_LOST || r == OUT_DAMAGED)
		return false;
	return r < 0 || r == OUT_VERIFIED || st->loose;
}

/* The image in flight had the outcome @r. */
static void fuzz_record(struct fuzz_state *st, long r)
{
	if (r < 0 && -r < EXIT_VERIFIED)
		st->counts[-r]++;
	else
		st->restored++;
	st->loose_runs += st->loose;
	st->data_runs += st->data_page >= 0;
	if (!fuzz_acceptable(st, r) && st->failures++ < FUZZ_LOG_MAX)
		snprintf(st->log[st->failures - 1], sizeof(st->log[0]),
			 "image %u (%s, checksums %s): %s: %s", st->runs,
			 st->data_page >= 0 ? "data" :
			 st->loose ? "loose" : "strict",
			 st->fixed ? "recomputed" : "as mutated", st->what,
			 outcome_str(r));
	st->runs++;
	__atomic_store_n(&st->in_flight, false, __ATOMIC_SEQ_CST);
}

/* In a child: mutate and restore images until the time is up. */
static __noreturn void fuzz_worker(struct fuzz_state *st,
				   const struct fuzz_base *b, const char *path)
{
	struct snapshot_restore_args args = { 0 };
	unsigned char *meta = malloc(b->meta_size), *page = malloc(psz);
	unsigned int i, n, k, at, x;
	int wfd = open(path, O_WRONLY | O_CLOEXEC);
	long r;

	args.image_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!meta || !page || wfd < 0 || args.image_fd < 0)
		child_fail("fuzz worker: %s", strerror(errno));
	rnd_state = st->rnd;
	while (st->runs < FUZZ_MAX && now_ns() < st->deadline) {
		memcpy(meta, b->meta, b->meta_size);
		st->what[0] = '\0';
		st->loose = false;
		st->fixed = true;
		st->data_page = -1;
		for (k = 0; k < FUZZ_PAGES; k++)
			if (snapshot_write_all(wfd, b->pages + k * psz, psz,
					       b->page_off[k]))
				child_fail("write the data: %s",
					   strerror(errno));
		if (!(rnd() % 10)) {
			k = rnd() % FUZZ_PAGES;
			at = rnd() % psz;
			x = 1 + rnd() % 255;
			memcpy(page, b->pages + k * psz, psz);
			page[at] ^= x;
			if (snapshot_write_all(wfd, page, psz, b->page_off[k]))
				child_fail("write the data: %s",
					   strerror(errno));
			st->data_page = k;
			fuzz_note(st, "region page %u: data byte %u ^= %#x", k,
				  at, x);
		} else {
			n = 1 + rnd() % 3;
			for (i = 0; i < n; i++)
				fuzz_mutate(st, b, meta);
			st->fixed = rnd() % 5;
			if (st->fixed)
				fix_csums(meta, b->meta_size);
		}
		if (snapshot_write_all(wfd, meta, b->meta_size, 0))
			child_fail("write the image: %s", strerror(errno));
		st->rnd = rnd_state;
		__atomic_store_n(&st->started, now_ns(), __ATOMIC_SEQ_CST);
		__atomic_store_n(&st->in_flight, true, __ATOMIC_SEQ_CST);
		r = snapshot_syscall(__NR_snapshot_restore, &args,
				     sizeof(args));
		/* A failed restore leaves the caller as it was. */
		if (r < 0 && (fcntl(args.image_fd, F_GETFD) < 0 ||
			      fcntl(wfd, F_GETFD) < 0)) {
			fuzz_record(st, OUT_DAMAGED);
			_exit(0);
		}
		fuzz_record(st, r < 0 ? r : OUT_EXIT | EXIT_RETURNED);
	}
	_exit(0);
}

static void fuzz_child(struct _test_data_restored *self)
{
	unsigned int i, n = 0;
	int fd, fd2, bad = -1;
	char *p, *priv, *sh;

	fd = open(self->file, O_RDONLY | O_CLOEXEC);
	fd2 = open(self->file2, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fd2 < 0)
		child_fail("open: %s", strerror(errno));
	priv = xmap(4, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	snapshot_pattern_fill(priv + psz, 1, SEED(110), 1);
	sh = xmap(2, PROT_READ, MAP_SHARED, fd, 8 * psz);
	touch(sh);
	p = xmap(FUZZ_PAGES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snapshot_pattern_fill(p, FUZZ_PAGES, SEED(111), 0);
	self->addr = (uintptr_t)p;
	add_region("fuzzed region", p, FUZZ_PAGES, PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, SNAPSHOT_CAPTURE_WORKING_SET))
		_exit(0);

	/* The exit status says which pages differ. */
	for (i = 0; i < FUZZ_PAGES; i++) {
		if (crc32c(p + i * psz, psz) == regions[0].crc[i])
			continue;
		if (bad < 0)
			bad = i;
		n++;
	}
	_exit(!n ? EXIT_VERIFIED : n == 1 ? EXIT_PAGE_BAD + bad :
					    EXIT_PAGES_BAD);
}

/* Load the captured image, and copy it to the work file image2. */
static void fuzz_load(struct __test_metadata *_metadata,
		      struct _test_data_restored *self, struct fuzz_base *b)
{
	const struct snapshot_image_extent *e;
	unsigned long addr;
	struct image img;
	unsigned int k;
	char *all;
	int fd, out, err;
	bool ok;

	fd = open(self->image, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", self->image, strerror(errno));
	ok = image_load(&img, fd);
	ASSERT_TRUE(ok) TH_LOG("the captured image is invalid: %s", img.why);
	b->meta_size = img.hdr.data_off;
	b->meta = malloc(b->meta_size);
	b->pages = malloc(FUZZ_PAGES * psz);
	ASSERT_TRUE(b->meta && b->pages);
	memcpy(b->meta, img.meta, b->meta_size);
	memcpy(b->sec, img.sec, sizeof(b->sec));
	memcpy(b->have, img.have, sizeof(b->have));
	b->sections_off = img.hdr.sections_off;
	b->nr_sections = img.hdr.nr_sections;
	b->section_size = img.hdr.section_size;
	for (k = 0; k < FUZZ_PAGES; k++) {
		addr = self->addr + k * psz;
		e = extent_at(&img, addr);
		ASSERT_NE(NULL, e)
			TH_LOG("page %u of the region is not in the image", k);
		b->page_off[k] = e->data_off + (addr - e->addr);
		err = read_all(fd, b->pages + k * psz, psz, b->page_off[k]);
		ASSERT_EQ(0, err) TH_LOG("read the image: %s", strerror(-err));
	}
	all = malloc(img.hdr.image_size);
	ASSERT_NE(NULL, all);
	err = read_all(fd, all, img.hdr.image_size, 0);
	ASSERT_EQ(0, err) TH_LOG("read the image: %s", strerror(-err));
	out = open(self->image2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   0600);
	ASSERT_LE(0, out) TH_LOG("create %s: %s", self->image2,
				 strerror(errno));
	err = snapshot_write_all(out, all, img.hdr.image_size, 0);
	ASSERT_EQ(0, err) TH_LOG("write %s: %s", self->image2,
				 strerror(-err));
	close(out);
	free(all);
	image_free(&img);
	close(fd);
}

TEST_F_TIMEOUT(restored, random_corruption, 120)
{
	const char *seed_env = getenv("RESTORE_RUN_TEST_SEED");
	struct restore_call c = { .image = self->image, .no_report = true };
	struct fuzz_base base = { 0 };
	struct fuzz_state *st;
	struct report rep;
	__u64 seed, start;
	char line[1024];
	int status = 0;
	unsigned int i;
	size_t len;
	pid_t pid, w;
	long r;

	seed = seed_env ? strtoull(seed_env, NULL, 0) : now_ns() ^ getpid();
	TH_LOG("seed %#llx", (unsigned long long)seed);
	if (!capture_child(_metadata, self, fuzz_child))
		return;
	r = restore_run(_metadata, self, &c, &rep);
	ASSERT_EQ(OUT_VERIFIED, r)
		TH_LOG("the image as captured: %s", outcome_str(r));
	fuzz_load(_metadata, self, &base);

	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	st->rnd = seed | 1;
	start = now_ns();
	st->deadline = start + FUZZ_SECONDS * NSEC_PER_SEC;
	while (st->runs < FUZZ_MAX && now_ns() < st->deadline) {
		st->in_flight = false;
		pid = fork_kid(_metadata, self);
		if (!pid)
			fuzz_worker(st, &base, self->image2);
		for (;;) {
			w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				r = outcome_of(status);
				break;
			}
			if (__atomic_load_n(&st->in_flight, __ATOMIC_SEQ_CST) &&
			    now_ns() - __atomic_load_n(&st->started,
						       __ATOMIC_SEQ_CST) >
			    FUZZ_HANG_SEC * NSEC_PER_SEC) {
				r = kill_late(pid);
				break;
			}
			if (now_ns() > st->deadline + 60 * NSEC_PER_SEC) {
				kill_late(pid);
				track(self, pid, false);
				ASSERT_TRUE(false)
					TH_LOG("a fuzz worker does not end");
			}
			nap_ms(2);
		}
		track(self, pid, false);
		if (st->in_flight)
			fuzz_record(st, r);
		else
			ASSERT_EQ(OUT_EXIT, r)
				TH_LOG("a fuzz worker: %s: %s", outcome_str(r),
				       self->msg);
	}

	len = snprintf(line, sizeof(line),
		       "%u images (%u loose, %u data) in %llu ms:", st->runs,
		       st->loose_runs, st->data_runs,
		       (unsigned long long)(now_ns() - start) / 1000000);
	for (i = 1; i < EXIT_VERIFIED; i++)
		if (st->counts[i] && len < sizeof(line))
			len += snprintf(line + len, sizeof(line) - len,
					" -%s %u", errname(i), st->counts[i]);
	if (st->restored && len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, " restored %u",
			 st->restored);
	TH_LOG("%s", line);
	for (i = 0; i < st->failures && i < FUZZ_LOG_MAX; i++)
		TH_LOG("%s", st->log[i]);
	EXPECT_EQ(0U, st->failures)
		TH_LOG("%u of %u images had an outcome they must not have (seed %#llx)",
		       st->failures, st->runs, (unsigned long long)seed);
	EXPECT_LT(100U, st->runs) TH_LOG("too few images in the time");
	munmap(st, sizeof(*st));
	free(base.meta);
	free(base.pages);
}

/*
 * Leaks: one image restored LEAK_RESTORES times, two at a time, each
 * restored process checking its memory (quickly) and exiting. After
 * dropping the caches, before and after:
 *
 *  - the allocated file handles (fs.file-nr) may not grow by 200: a leaked
 *    file per restore would be 1000; the counter is a per-CPU one read
 *    without summing, off by up to 64 on 2 CPUs;
 *  - Shmem and AnonPages may not grow by 16 MiB (what else runs in the
 *    system may move them a little): the image's shared anonymous memory
 *    (16 pages) and private memory (64 + 8 pages) leaked by each restore
 *    would be 62 and 280 MiB;
 *  - MemFree may not fall, nor Slab grow, by more than 1/32 of the memory
 *    (KASAN's quarantine holds up to that much of freed slab objects) and
 *    16 MiB (per-CPU page lists, caches that grew).
 *
 * No timing is asserted.
 */

#define LEAK_RESTORES	1000
#define LEAK_WARMUP	20
#define LEAK_IN_FLIGHT	2
#define LEAK_MAPPED_FD	20

static void leak_child(struct _test_data_restored *self)
{
	char *anon, *sh, *priv;
	unsigned int i;
	int fd, fd2;

	fd = open(self->file, O_RDONLY | O_CLOEXEC);
	fd2 = open(self->file2, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fd2 < 0)
		child_fail("open: %s", strerror(errno));
	anon = xmap(64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	snapshot_pattern_fill(anon, 64, SEED(120), 0);
	sh = xmap(16, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		  0);
	snapshot_pattern_fill(sh, 16, SEED(121), 0);
	priv = xmap(8, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	for (i = 0; i < 8; i += 2)
		snapshot_pattern_fill(priv + i * psz, 1, SEED(122), i);
	add_region("private anonymous", anon, 64, PROT_READ | PROT_WRITE);
	add_region("shared anonymous", sh, 16, PROT_READ | PROT_WRITE);
	add_region("private file", priv, 8, PROT_READ | PROT_WRITE);
	regions_record(0);

	if (!capture_here(self->image, 0))
		_exit(0);

	regions_check(true);
	if (fcntl(LEAK_MAPPED_FD, F_GETFD) < 0)
		fail("fd %d: not installed", LEAK_MAPPED_FD);
	finish();
}

static const char *prep_leak(struct restore_call *c)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return "open /dev/null";
	c->map[c->nr_map++] = (struct snapshot_fd_map) {
		.image_fd = LEAK_MAPPED_FD,
		.caller_fd = fd,
	};
	return NULL;
}

/* Restore the image @n times, LEAK_IN_FLIGHT at a time: the failures. */
static unsigned int leak_round(struct __test_metadata *_metadata,
			       struct _test_data_restored *self,
			       unsigned int n)
{
	struct restore_call c = {
		.image = self->image,
		.no_report = true,
		.prep = prep_leak,
	};
	pid_t pids[LEAK_IN_FLIGHT] = { 0 };
	__u64 started[LEAK_IN_FLIGHT] = { 0 };
	unsigned int begun = 0, done = 0, bad = 0, i;
	int status, rd;
	long r;
	pid_t w;

	while (done < n) {
		for (i = 0; i < LEAK_IN_FLIGHT && begun < n; i++) {
			if (pids[i])
				continue;
			c.nr_map = 0;
			pids[i] = restore_start(_metadata, self, &c, &rd);
			started[i] = now_ns();
			begun++;
		}
		w = waitpid(-1, &status, WNOHANG);
		for (i = 0; i < LEAK_IN_FLIGHT; i++) {
			r = 0;
			if (pids[i] && w == pids[i])
				r = outcome_of(status);
			else if (pids[i] && now_ns() - started[i] >
				 CHILD_SECONDS * NSEC_PER_SEC)
				r = kill_late(pids[i]);
			if (!r)
				continue;
			track(self, pids[i], false);
			pids[i] = 0;
			done++;
			if (r != OUT_VERIFIED && bad++ < 5)
				TH_LOG("restore %u: %s", done, outcome_str(r));
		}
		if (w <= 0)
			nap_ms(1);
	}
	return bad;
}

struct mem_use {
	long total, free, slab, shmem, anon;	/* kB */
	long files;
};

static int mem_use(struct mem_use *m)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		found |= sscanf(line, "MemTotal: %ld kB", &m->total) == 1;
		found |= (sscanf(line, "MemFree: %ld kB", &m->free) == 1) << 1;
		found |= (sscanf(line, "Slab: %ld kB", &m->slab) == 1) << 2;
		found |= (sscanf(line, "Shmem: %ld kB", &m->shmem) == 1) << 3;
		found |= (sscanf(line, "AnonPages: %ld kB", &m->anon) == 1) << 4;
	}
	fclose(f);
	f = fopen("/proc/sys/fs/file-nr", "r");
	if (!f)
		return -errno;
	found |= (fscanf(f, "%ld", &m->files) == 1) << 5;
	fclose(f);
	return found == 0x3f ? 0 : -ENODATA;
}

/* Drop the caches, so that what is left is what is in use. */
static void settle(struct __test_metadata *_metadata)
{
	static bool said;
	int err;

	sync();
	err = snapshot_write_text("/proc/sys/vm/drop_caches", "3");
	if (err && !said) {
		said = true;
		TH_LOG("cannot drop the caches (%s): the numbers are rougher",
		       strerror(-err));
	}
}

TEST_F_TIMEOUT(restored, leak_check, 170)
{
	struct mem_use m0, m1;
	unsigned int bad;
	long slack;

	if (!capture_child(_metadata, self, leak_child))
		return;
	bad = leak_round(_metadata, self, LEAK_WARMUP);
	ASSERT_EQ(0U, bad) TH_LOG("%u of %u restores failed", bad,
				  LEAK_WARMUP);
	settle(_metadata);
	ASSERT_EQ(0, mem_use(&m0));
	bad = leak_round(_metadata, self, LEAK_RESTORES);
	settle(_metadata);
	ASSERT_EQ(0, mem_use(&m1));
	EXPECT_EQ(0U, bad) TH_LOG("%u of %u restores failed", bad,
				  LEAK_RESTORES);
	TH_LOG("%u restores: MemFree %+ld, Slab %+ld, Shmem %+ld, AnonPages %+ld kB, files %+ld",
	       LEAK_RESTORES, m1.free - m0.free, m1.slab - m0.slab,
	       m1.shmem - m0.shmem, m1.anon - m0.anon, m1.files - m0.files);
	slack = m0.total / 32;
	EXPECT_LT(m1.files - m0.files, 200L)
		TH_LOG("%ld more file handles allocated", m1.files - m0.files);
	EXPECT_LT(m1.shmem - m0.shmem, 16384L)
		TH_LOG("Shmem grew by %ld kB", m1.shmem - m0.shmem);
	EXPECT_LT(m1.anon - m0.anon, 16384L)
		TH_LOG("AnonPages grew by %ld kB", m1.anon - m0.anon);
	EXPECT_LT(m0.free - m1.free, slack + 16384)
		TH_LOG("MemFree fell by %ld kB (tolerance %ld kB)",
		       m0.free - m1.free, slack + 16384);
	EXPECT_LT(m1.slab - m0.slab, slack + 16384)
		TH_LOG("Slab grew by %ld kB (tolerance %ld kB)",
		       m1.slab - m0.slab, slack + 16384);
}

TEST_HARNESS_MAIN
