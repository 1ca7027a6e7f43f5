// SPDX-License-Identifier: GPL-2.0
/*
 * mmap_populate_image(): what the memory it maps or fills holds and how it
 * behaves, where it goes, every error, resource limits, and races with
 * truncation and with other threads.
 *
 * The "populate" fixture writes a 16 MiB image file: under /scratch when
 * that is a writable directory (a disk in the test guest, so that a page
 * missing from the page cache is read from a block device), else under
 * /tmp. Word w of page i of a file written with seed s holds
 * s << 40 | i << 12 | w, so a page from the wrong offset, or stale or zeroed
 * data, shows in the value itself; seed 0 stands for zeroes.
 *
 * A call that fails must not leave a mapping behind: the tests of failures
 * compare /proc/self/maps before and after the call. The line of the main
 * stack is left out, as its start moves when the stack grows.
 *
 * The teardown runs in the parent of the test process, so that what a test
 * changes outside itself -- files, a cgroup, fault injection -- is undone
 * even if the test process dies.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"

static_assert(sizeof(struct mmap_populate_extent) >=
	      MMAP_POPULATE_EXTENT_SIZE_VER0, "populate extent size");

#define IMAGE_SIZE	(16UL << 20)

/* Seeds, at most 24 bits, of the files and of what tests write. */
#define IMAGE_SEED	0x1a6e5eULL	/* the fixture's image */
#define LIB_SEED	0x11b0a1ULL	/* a file mapped privately */
#define OLD_SEED	0x01d0a7ULL	/* what a mapping held before */
#define CHILD_SEED	0x00c41dULL	/* written by a child process */
#define CHURN_SEED	0xc0ffeeULL	/* written by the churning thread */
#define RACE_SEED	0x7ace00ULL	/* plus the round of the race */
#define IO_SEED		0x10e000ULL	/* the image read from a failing disk */

/* /proc/self/pagemap: bits 63, 62 and 61 */
#define PM_PRESENT	0x8000000000000000ULL
#define PM_SWAP		0x4000000000000000ULL
#define PM_FILE		0x2000000000000000ULL

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_TEST	CGROUP_ROOT "/populate_test"
#define MEMCG_MAX	"4M"

#define DEBUGFS		"/sys/kernel/debug"
#define FAIL_DIR	DEBUGFS "/fail_make_request"

/*
 * Fault injection fails every request of the threads that asked for it
 * (task-filter), so that the journal and writeback of the file system under
 * /scratch never see an error.
 */
static const char * const fail_attr[] = {
	"probability", "interval", "times", "space", "verbose", "task-filter",
};

static const char * const fail_value[] = {
	"100", "1", "-1", "0", "0", "Y",
};

static_assert(ARRAY_SIZE(fail_attr) == ARRAY_SIZE(fail_value),
	      "one value per fault injection attribute");

#define FAIL_ATTRS	ARRAY_SIZE(fail_attr)

static unsigned long psz;	/* the page size */

FIXTURE(populate) {
	unsigned long image_pages;
	__u64 seed;
	int fd;			/* the image, open for reading and writing */
	bool on_scratch;	/* files are under /scratch */
	char dir[16];		/* where the files are */
	/* Files to remove; an empty name when there is none. */
	char path[PATH_MAX];	/* the image */
	char lib_path[PATH_MAX];
	char race_path[PATH_MAX];
	char io_path[PATH_MAX];
	/* What to undo for the memcg tests. */
	bool cg_mounted;	/* cgroup2 mounted on CGROUP_ROOT */
	bool cg_memory;		/* +memory written to the root's subtree */
	bool cg_made;		/* CGROUP_TEST created */
	/* What to undo for the I/O error test. */
	bool debugfs_mounted;
	char make_it_fail[PATH_MAX + 32];	/* the disk's, or empty */
	unsigned int fail_saved;	/* attributes whose value is saved */
	char fail_value[FAIL_ATTRS][32];
};

/*
 * Files and patterns.
 */

struct mismatch {
	unsigned long page;	/* in the range checked */
	unsigned long word;	/* in that page */
	__u64 seen;
	__u64 expected;
};

/*
 * Whether the @nr pages at @p hold pages @first... of the pattern of @seed;
 * if not, where they do not goes to @m.
 */
static bool range_check(const void *p, unsigned long nr, __u64 seed,
			unsigned long first, struct mismatch *m)
{
	const unsigned long words = psz / sizeof(__u64);
	const __u64 *w = p;
	unsigned long i, j;

	for (i = 0; i < nr; i++) {
		for (j = 0; j < words; j++, w++) {
			if (*w == snapshot_pattern(seed, first + i, j))
				continue;
			m->page = i;
			m->word = j;
			m->seen = *w;
			m->expected = snapshot_pattern(seed, first + i, j);
			return false;
		}
	}
	return true;
}

static void check_range(struct __test_metadata *_metadata, const char *what,
			const void *p, unsigned long nr, __u64 seed,
			unsigned long first)
{
	struct mismatch m = { };
	bool ok = range_check(p, nr, seed, first, &m);

	ASSERT_TRUE(ok)
		TH_LOG("%s: page %lu of %lu, word %lu: %#llx, expected %#llx",
		       what, m.page, nr, m.word, (unsigned long long)m.seen,
		       (unsigned long long)m.expected);
}

/*
 * Create the file @tag next to the image, with @nr pages of the pattern of
 * @seed, and return it open for reading and writing. Its name goes to
 * @path (PATH_MAX bytes), for the teardown to remove.
 */
static int file_create(struct __test_metadata *_metadata,
		       struct _test_data_populate *self, char *path,
		       const char *tag, __u64 seed, unsigned long nr)
{
	const unsigned long chunk = 64;
	unsigned long done, n;
	int fd, err = 0;
	char *buf;

	snprintf(path, PATH_MAX, "%s/populate_test.%d.%s", self->dir,
		 getpid(), tag);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", path, strerror(errno));

	buf = mmap(NULL, chunk * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		err = -errno;
	for (done = 0; !err && done < nr; done += n) {
		n = nr - done < chunk ? nr - done : chunk;
		snapshot_pattern_fill(buf, n, seed, done);
		err = snapshot_write_all(fd, buf, n * psz, done * psz);
	}
	if (buf != MAP_FAILED)
		munmap(buf, chunk * psz);
	if (err) {
		close(fd);
		unlink(path);
		path[0] = '\0';
	}
	ASSERT_EQ(0, err) TH_LOG("write the %s file: %s", tag, strerror(-err));
	return fd;
}

static void remove_file(char *path)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

/* Whether the space-separated list @list holds @word. */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ') &&
		    (p[len] == ' ' || p[len] == '\n' || !p[len]))
			return true;
		p += len;
	}
	return false;
}

static void nap_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
}

/* Busy-wait for @ns nanoseconds. */
static void spin_ns(unsigned long ns)
{
	struct timespec start, now;
	unsigned long elapsed;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000000000UL +
			  now.tv_nsec - start.tv_nsec;
	} while (elapsed < ns);
}

static unsigned int next_random(unsigned int *state)
{
	unsigned int x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/*
 * /proc/self/maps, read without allocating memory, so that reading it does
 * not change it.
 */

#define MAPS_MAX	(256 * 1024)

struct maps {
	size_t len;
	char text[MAPS_MAX];
};

static struct maps maps_before, maps_after, maps_lookup;

static int maps_read(struct maps *m)
{
	ssize_t n;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	m->len = 0;
	do {
		n = read(fd, m->text + m->len, sizeof(m->text) - 1 - m->len);
		if (n > 0)
			m->len += n;
	} while (n > 0 && m->len < sizeof(m->text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if (m->len == sizeof(m->text) - 1)
		return -EFBIG;
	m->text[m->len] = '\0';
	return 0;
}

/*
 * The next line of @m from *@pos on, its length in *@len; the main stack's
 * is skipped unless @stack. NULL at the end.
 */
static const char *maps_line(const struct maps *m, size_t *pos, int *len,
			     bool stack)
{
	const char *line, *nl;

	while (*pos < m->len) {
		line = m->text + *pos;
		nl = memchr(line, '\n', m->len - *pos);
		*len = nl ? nl - line : (int)(m->len - *pos);
		*pos += *len + 1;
		if (stack || !memmem(line, *len, "[stack]", 7))
			return line;
	}
	return NULL;
}

/*
 * Whether @a and @b list the same mappings but for the main stack; if not,
 * the first lines that differ go to @la and @lb (NULL for none).
 */
static bool maps_same(const struct maps *a, const struct maps *b,
		      const char **la, int *na, const char **lb, int *nb)
{
	size_t pa = 0, pb = 0;

	for (;;) {
		*la = maps_line(a, &pa, na, false);
		*lb = maps_line(b, &pb, nb, false);
		if (!*la || !*lb)
			break;
		if (*na != *nb || memcmp(*la, *lb, *na))
			return false;
	}
	return !*la && !*lb;
}

static void maps_snapshot(struct __test_metadata *_metadata)
{
	int err = maps_read(&maps_before);

	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));
}

/* /proc/self/maps is as maps_snapshot() saw it. */
static void maps_unchanged(struct __test_metadata *_metadata,
			   const char *what)
{
	const char *la, *lb;
	int na = 0, nb = 0;
	int err;

	err = maps_read(&maps_after);
	ASSERT_EQ(0, err) TH_LOG("/proc/self/maps: %s", strerror(-err));
	ASSERT_TRUE(maps_same(&maps_before, &maps_after, &la, &na, &lb, &nb))
		TH_LOG("%s: /proc/self/maps changed: \"%.*s\" became \"%.*s\"",
		       what, la ? na : 6, la ? la : "(none)",
		       lb ? nb : 6, lb ? lb : "(none)");
}

struct vma_info {
	unsigned long start, end, offset, inode;
	unsigned int dev_major, dev_minor;
	char perms[8];
	char path[PATH_MAX];
};

/* The /proc/self/maps line of the mapping holding @addr: 0 or -errno. */
static int vma_find(unsigned long addr, struct vma_info *vi)
{
	char line[PATH_MAX + 128];
	const char *text, *p;
	size_t pos = 0;
	int len, n, err;

	err = maps_read(&maps_lookup);
	if (err)
		return err;
	for (;;) {
		text = maps_line(&maps_lookup, &pos, &len, true);
		if (!text)
			return -ENOENT;
		snprintf(line, sizeof(line), "%.*s", len, text);
		n = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu%n", &vi->start,
			   &vi->end, vi->perms, &vi->offset, &vi->dev_major,
			   &vi->dev_minor, &vi->inode, &n) < 7 || !n)
			continue;
		if (addr < vi->start || addr >= vi->end)
			continue;
		p = line + n;
		while (*p == ' ' || *p == '\t')
			p++;
		snprintf(vi->path, sizeof(vi->path), "%s", p);
		return 0;
	}
}

/*
 * /proc/self/pagemap
 */

enum page_state {
	PAGE_ABSENT,	/* neither present nor swapped */
	PAGE_ANON,	/* present, anonymous */
	PAGE_OTHER,	/* present page of a file, or swapped */
};

static const char * const page_state_name[] = {
	[PAGE_ABSENT] = "absent",
	[PAGE_ANON] = "present and anonymous",
	[PAGE_OTHER] = "a file page or swapped",
};

static enum page_state page_state(__u64 entry)
{
	if (entry & PM_PRESENT)
		return entry & PM_FILE ? PAGE_OTHER : PAGE_ANON;
	return entry & PM_SWAP ? PAGE_OTHER : PAGE_ABSENT;
}

/* Each of the @nr pages at @addr is in state @want. */
static void check_pages(struct __test_metadata *_metadata, const char *what,
			const void *addr, unsigned long nr,
			enum page_state want)
{
	unsigned long i, n, done;
	enum page_state state;
	__u64 entry[64];
	ssize_t len;
	off_t pos;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("/proc/self/pagemap: %s", strerror(errno));
	for (done = 0; done < nr; done += n) {
		n = nr - done < ARRAY_SIZE(entry) ? nr - done :
						    ARRAY_SIZE(entry);
		pos = ((uintptr_t)addr / psz + done) * sizeof(entry[0]);
		len = pread(fd, entry, n * sizeof(entry[0]), pos);
		ASSERT_EQ((ssize_t)(n * sizeof(entry[0])), len)
			TH_LOG("read /proc/self/pagemap: %s",
			       len < 0 ? strerror(errno) : "short read");
		for (i = 0; i < n; i++) {
			state = page_state(entry[i]);
			ASSERT_EQ(want, state)
				TH_LOG("%s: page %lu of %lu is %s, not %s (pagemap %#llx)",
				       what, done + i, nr,
				       page_state_name[state],
				       page_state_name[want],
				       (unsigned long long)entry[i]);
		}
	}
	close(fd);
}

/*
 * Read and write back one word of each of the @nr pages at @p; return how
 * many minor faults the process took meanwhile, or -1.
 */
static long touch_pages(char *p, unsigned long nr)
{
	struct rusage before, after;
	unsigned long i;
	__u64 *word;

	if (getrusage(RUSAGE_SELF, &before))
		return -1;
	for (i = 0; i < nr; i++) {
		word = (__u64 *)(p + i * psz);
		__atomic_store_n(word, __atomic_load_n(word, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	}
	if (getrusage(RUSAGE_SELF, &after))
		return -1;
	return after.ru_minflt - before.ru_minflt;
}

/*
 * Read one word of each of the @nr pages at @p; return how many minor
 * faults the process took meanwhile, or -1.
 */
static long read_pages(char *p, unsigned long nr)
{
	struct rusage before, after;
	unsigned long i;
	__u64 sum = 0;

	if (getrusage(RUSAGE_SELF, &before))
		return -1;
	for (i = 0; i < nr; i++)
		sum += __atomic_load_n((__u64 *)(p + i * psz),
				       __ATOMIC_RELAXED);
	if (getrusage(RUSAGE_SELF, &after))
		return -1;
	__asm__ volatile("" : : "r" (sum));
	return after.ru_minflt - before.ru_minflt;
}

#define PM_PFN_MASK	((1ULL << 55) - 1)

/*
 * The page frame numbers of the @nr pages at @addr, into @pfn: 0 or -errno.
 * They read as 0 without CAP_SYS_ADMIN.
 */
static int page_frames(const void *addr, unsigned long nr, __u64 *pfn)
{
	unsigned long i;
	ssize_t len;
	int fd, err = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = pread(fd, pfn, nr * sizeof(*pfn),
		    (uintptr_t)addr / psz * sizeof(*pfn));
	if (len < 0)
		err = -errno;
	else if ((size_t)len != nr * sizeof(*pfn))
		err = -EIO;
	close(fd);
	for (i = 0; !err && i < nr; i++)
		pfn[i] = pfn[i] & PM_PRESENT ? pfn[i] & PM_PFN_MASK : 0;
	return err;
}

/*
 * The system call.
 */

static long sys_populate(const struct mmap_populate_args *args)
{
	return snapshot_syscall(__NR_mmap_populate_image, args, sizeof(*args));
}

/* @nr pages at page @page of the mapping from page @file_page of the file */
static struct mmap_populate_extent data_ext(unsigned long page,
					    unsigned long nr,
					    unsigned long file_page)
{
	return (struct mmap_populate_extent) {
		.target_off = page * psz,
		.len = nr * psz,
		.file_off = file_page * psz,
		.kind = MMAP_POPULATE_EXTENT_DATA,
	};
}

/* @nr zero pages at page @page of the mapping */
static struct mmap_populate_extent zero_ext(unsigned long page,
					    unsigned long nr)
{
	return (struct mmap_populate_extent) {
		.target_off = page * psz,
		.len = nr * psz,
		.kind = MMAP_POPULATE_EXTENT_ZERO,
	};
}

/* Copy mode: @len bytes, read-write, the @nr extents at @ext of the image */
static struct mmap_populate_args
copy_args(const struct _test_data_populate *self,
	  const struct mmap_populate_extent *ext, __u32 nr, __u64 len)
{
	return (struct mmap_populate_args) {
		.len = len,
		.extents = (uintptr_t)ext,
		.nr_extents = nr,
		.extent_size = sizeof(*ext),
		.prot = PROT_READ | PROT_WRITE,
		.fd = self->fd,
	};
}

/* Fill mode: the @len bytes at @addr */
static struct mmap_populate_args
fill_args(const struct _test_data_populate *self, const void *addr,
	  const struct mmap_populate_extent *ext, __u32 nr, __u64 len)
{
	return (struct mmap_populate_args) {
		.flags = MMAP_POPULATE_FILL,
		.addr = (uintptr_t)addr,
		.len = len,
		.extents = (uintptr_t)ext,
		.nr_extents = nr,
		.extent_size = sizeof(*ext),
		.prot = 0,
		.fd = self->fd,
	};
}

/* A call that must succeed: returns the mapping. */
static char *populate_ok(struct __test_metadata *_metadata,
			 const struct mmap_populate_args *args)
{
	long ret = sys_populate(args);

	ASSERT_LE(0, ret) TH_LOG("mmap_populate_image: %s", strerror(-ret));
	ASSERT_EQ(0UL, (unsigned long)ret % psz)
		TH_LOG("unaligned address %#lx", ret);
	return (char *)ret;
}

/* A call that must fail with -@err, and leave the mappings as they were. */
static void populate_fails(struct __test_metadata *_metadata,
			   const struct mmap_populate_args *args, int err,
			   const char *what)
{
	long ret;

	maps_snapshot(_metadata);
	ret = sys_populate(args);
	ASSERT_EQ(-err, ret)
		TH_LOG("%s: expected %s, got %s", what, strerror(err),
		       ret < 0 ? strerror(-ret) : "success");
	maps_unchanged(_metadata, what);
}

/* A private anonymous read-write mapping of @nr pages holding @seed's. */
static char *anon_map(struct __test_metadata *_metadata, unsigned long nr,
		      __u64 seed)
{
	char *p = mmap(NULL, nr * psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	snapshot_pattern_fill(p, nr, seed, 0);
	return p;
}

/* An address where @nr pages are free. */
static char *free_range(struct __test_metadata *_metadata, unsigned long nr)
{
	char *p = mmap(NULL, nr * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, munmap(p, nr * psz));
	return p;
}

/*
 * The fixture.
 */

static void memcg_cleanup(struct _test_data_populate *self);
static void fail_restore(struct _test_data_populate *self);

FIXTURE_SETUP(populate)
{
	struct stat st;

	SNAPSHOT_REQUIRE(return);

	psz = getpagesize();
	self->on_scratch = !stat("/scratch", &st) && S_ISDIR(st.st_mode) &&
			   !access("/scratch", W_OK);
	snprintf(self->dir, sizeof(self->dir), "%s",
		 self->on_scratch ? "/scratch" : "/tmp");
	self->image_pages = IMAGE_SIZE / psz;
	self->seed = IMAGE_SEED;
	self->fd = file_create(_metadata, self, self->path, "image",
			       self->seed, self->image_pages);
}

/* In the parent: the image fd is the test process's, and gone with it. */
FIXTURE_TEARDOWN_PARENT(populate)
{
	fail_restore(self);
	memcg_cleanup(self);
	remove_file(self->path);
	remove_file(self->lib_path);
	remove_file(self->race_path);
	remove_file(self->io_path);
}

/*
 * Copy mode: what the mapping holds.
 */

/*
 * One extent: the mapping holds the image, every page is mapped on return,
 * and touching the memory takes no page fault.
 */
TEST_F(populate, copy_contents)
{
	const unsigned long nr = 64;
	struct mmap_populate_extent ext = data_ext(0, nr, 100);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	long (*touch)(char *p, unsigned long nr) = touch_pages;
	char *warm, *map;
	long faults;

	warm = anon_map(_metadata, nr, OLD_SEED);
	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, nr, PAGE_ANON);

	/*
	 * Count the minor faults taken while reading and writing a word of
	 * every page. touch_pages() is called through a pointer the compiler
	 * cannot see through, so it is not inlined, and first on as many
	 * pages that are already written: the very same instructions then run
	 * on the same stack, so the code, the stack and the rusage buffers are
	 * mapped and private before the measurement. No fault is allowed.
	 */
	__asm__("" : "+r" (touch));
	faults = touch(warm, nr);
	ASSERT_LE(0, faults) TH_LOG("getrusage: %s", strerror(errno));
	faults = touch(map, nr);
	ASSERT_LE(0, faults) TH_LOG("getrusage: %s", strerror(errno));
	EXPECT_EQ(0, faults)
		TH_LOG("%ld minor faults touching %lu populated pages",
		       faults, nr);

	check_range(_metadata, "contents", map, nr, self->seed, 100);
	ASSERT_EQ(0, munmap(map, nr * psz));
	ASSERT_EQ(0, munmap(warm, nr * psz));
}

/* The extent covering page @page, or NULL. */
static const struct mmap_populate_extent *
extent_at(const struct mmap_populate_extent *ext, unsigned int nr,
	  unsigned long page)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (page * psz >= ext[i].target_off &&
		    page * psz < ext[i].target_off + ext[i].len)
			return &ext[i];
	}
	return NULL;
}

/*
 * 16 extents with holes between them, two of them ZERO, the others reading
 * the file in an order of their own (some marked WRITTEN, which copy mode
 * may ignore), in a mapping whose length is not a multiple of the page
 * size: data pages are mapped, holes and ZERO extents are not, and read as
 * zero.
 */
TEST_F(populate, copy_scattered)
{
	const unsigned long nr = 100;
	const struct mmap_populate_extent *e;
	struct mmap_populate_extent ext[16];
	struct mmap_populate_args args;
	unsigned long i, page;
	char what[64];
	char *map;

	for (i = 0; i < ARRAY_SIZE(ext); i++) {
		page = 1 + 6 * i;
		if (i == 5 || i == 12) {
			ext[i] = zero_ext(page, 1 + i % 4);
			continue;
		}
		ext[i] = data_ext(page, 1 + i % 4, (i * 11 % 16) * 20 + 7);
		if (!(i % 3))
			ext[i].flags = MMAP_POPULATE_EXTENT_WRITTEN;
	}
	args = copy_args(self, ext, ARRAY_SIZE(ext), nr * psz - 123);
	map = populate_ok(_metadata, &args);

	/* Before reading anything: reading a hole maps the zero page. */
	for (page = 0; page < nr; page++) {
		e = extent_at(ext, ARRAY_SIZE(ext), page);
		snprintf(what, sizeof(what), "page %lu (%s)", page,
			 !e ? "hole" : e->kind ? "ZERO extent" : "DATA extent");
		check_pages(_metadata, what, map + page * psz, 1,
			    e && e->kind == MMAP_POPULATE_EXTENT_DATA ?
			    PAGE_ANON : PAGE_ABSENT);
	}
	for (page = 0; page < nr; page++) {
		e = extent_at(ext, ARRAY_SIZE(ext), page);
		snprintf(what, sizeof(what), "page %lu (%s)", page,
			 !e ? "hole" : e->kind ? "ZERO extent" : "DATA extent");
		if (e && e->kind == MMAP_POPULATE_EXTENT_DATA)
			check_range(_metadata, what, map + page * psz, 1,
				    self->seed, e->file_off / psz + page -
				    e->target_off / psz);
		else
			check_range(_metadata, what, map + page * psz, 1, 0, 0);
	}
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * In a child: the image is there, and writing a page changes the child's
 * copy. Returns the exit status.
 */
static int cow_child(char *map, unsigned long nr, __u64 seed,
		     unsigned long first)
{
	struct mismatch m;

	if (!range_check(map, nr, seed, first, &m))
		return 1;
	snapshot_pattern_fill(map + 3 * psz, 1, CHILD_SEED, 3);
	if (!range_check(map + 3 * psz, 1, CHILD_SEED, 3, &m))
		return 2;
	return 0;
}

/*
 * The mapping is ordinary private anonymous memory: no file behind it, the
 * image can go away, fork() copies it on write, MADV_DONTNEED zeroes it.
 */
TEST_F(populate, copy_anonymous)
{
	const unsigned long nr = 32;
	struct mmap_populate_extent ext = data_ext(0, nr, 500);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	struct vma_info vi;
	int status, err;
	pid_t pid;
	char *map;

	map = populate_ok(_metadata, &args);

	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, unlink(self->path));
	self->path[0] = '\0';
	check_range(_metadata, "with the image closed and removed", map, nr,
		    self->seed, 500);

	err = vma_find((uintptr_t)map, &vi);
	ASSERT_EQ(0, err) TH_LOG("no mapping in /proc/self/maps");
	EXPECT_LE(vi.start, (uintptr_t)map);
	EXPECT_GE(vi.end, (uintptr_t)map + nr * psz);
	EXPECT_STREQ("rw-p", vi.perms);
	EXPECT_EQ(0UL, vi.offset);
	EXPECT_EQ(0U, vi.dev_major);
	EXPECT_EQ(0U, vi.dev_minor);
	EXPECT_EQ(0UL, vi.inode);
	EXPECT_STREQ("", vi.path);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(cow_child(map, nr, self->seed, 500));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x (1: wrong contents, 2: write lost)",
		       status);
	check_range(_metadata, "parent, after the child wrote page 3", map,
		    nr, self->seed, 500);

	ASSERT_EQ(0, madvise(map + 4 * psz, 2 * psz, MADV_DONTNEED));
	check_pages(_metadata, "after MADV_DONTNEED", map + 4 * psz, 2,
		    PAGE_ABSENT);
	check_range(_metadata, "after MADV_DONTNEED", map + 4 * psz, 2, 0, 0);
	check_range(_metadata, "pages 0-3", map, 4, self->seed, 500);
	check_range(_metadata, "pages 6-31", map + 6 * psz, nr - 6,
		    self->seed, 506);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/* PROT_READ: the image is readable, a write kills with SIGSEGV. */
TEST_F(populate, copy_read_only)
{
	const unsigned long nr = 16;
	struct mmap_populate_extent ext = data_ext(0, nr, 700);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	struct rlimit no_core = { 0, 0 };
	struct vma_info vi;
	int status, err;
	pid_t pid;
	char *map;

	args.prot = PROT_READ;
	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, nr, PAGE_ANON);
	check_range(_metadata, "contents", map, nr, self->seed, 700);
	err = vma_find((uintptr_t)map, &vi);
	ASSERT_EQ(0, err) TH_LOG("no mapping in /proc/self/maps");
	EXPECT_STREQ("r--p", vi.perms);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		setrlimit(RLIMIT_CORE, &no_core);
		__atomic_store_n(map + 2 * psz, 1, __ATOMIC_RELAXED);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status))
		TH_LOG("the write did not fault: status %#x", status);
	ASSERT_EQ(SIGSEGV, WTERMSIG(status));
	check_range(_metadata, "after the write", map, nr, self->seed, 700);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/* PROT_NONE: the pages are mapped all the same, readable once allowed. */
TEST_F(populate, copy_prot_none)
{
	const unsigned long nr = 16;
	struct mmap_populate_extent ext = data_ext(0, nr, 720);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	struct vma_info vi;
	char *map;
	int err;

	args.prot = PROT_NONE;
	map = populate_ok(_metadata, &args);
	err = vma_find((uintptr_t)map, &vi);
	ASSERT_EQ(0, err) TH_LOG("no mapping in /proc/self/maps");
	EXPECT_STREQ("---p", vi.perms);
	check_pages(_metadata, "on return", map, nr, PAGE_ANON);
	ASSERT_EQ(0, mprotect(map, nr * psz, PROT_READ));
	check_range(_metadata, "contents", map, nr, self->seed, 720);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * Placement.
 */

/* FIXED replaces the middle of an existing mapping, only that. */
TEST_F(populate, fixed_replaces)
{
	const unsigned long nr = 8;
	struct mmap_populate_extent ext = data_ext(0, nr, 800);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	char *old;
	long ret;

	old = anon_map(_metadata, 3 * nr, OLD_SEED);
	args.flags = MMAP_POPULATE_FIXED;
	args.addr = (uintptr_t)(old + nr * psz);
	ret = sys_populate(&args);
	ASSERT_EQ((long)(old + nr * psz), ret)
		TH_LOG("%s", ret < 0 ? strerror(-ret) : "another address");
	check_pages(_metadata, "replaced", old + nr * psz, nr, PAGE_ANON);
	check_range(_metadata, "before", old, nr, OLD_SEED, 0);
	check_range(_metadata, "replaced", old + nr * psz, nr, self->seed,
		    800);
	check_range(_metadata, "after", old + 2 * nr * psz, nr, OLD_SEED,
		    2 * nr);
	ASSERT_EQ(0, munmap(old, 3 * nr * psz));
}

/* FIXED_NOREPLACE over an existing mapping: EEXIST, nothing changed. */
TEST_F(populate, fixed_noreplace_busy)
{
	const unsigned long nr = 8;
	struct mmap_populate_extent ext = data_ext(0, nr, 900);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	char *old;

	old = anon_map(_metadata, nr, OLD_SEED);
	args.flags = MMAP_POPULATE_FIXED_NOREPLACE;
	args.addr = (uintptr_t)old;
	populate_fails(_metadata, &args, EEXIST, "over the whole mapping");
	args.addr = (uintptr_t)(old + nr / 2 * psz);
	populate_fails(_metadata, &args, EEXIST, "over half the mapping");
	check_range(_metadata, "the existing mapping", old, nr, OLD_SEED, 0);
	ASSERT_EQ(0, munmap(old, nr * psz));
}

/* FIXED_NOREPLACE where nothing is: exactly there. */
TEST_F(populate, fixed_noreplace_free)
{
	const unsigned long nr = 8;
	struct mmap_populate_extent ext = data_ext(0, nr, 950);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	char *hole;
	long ret;

	hole = free_range(_metadata, nr);
	args.flags = MMAP_POPULATE_FIXED_NOREPLACE;
	args.addr = (uintptr_t)hole;
	ret = sys_populate(&args);
	ASSERT_EQ((long)hole, ret)
		TH_LOG("%s", ret < 0 ? strerror(-ret) : "another address");
	check_range(_metadata, "contents", hole, nr, self->seed, 950);
	ASSERT_EQ(0, munmap(hole, nr * psz));
}

/* Without a FIXED flag the address is a hint, and nothing is replaced. */
TEST_F(populate, hint)
{
	const unsigned long nr = 8;
	const unsigned long len = nr * psz;
	struct mmap_populate_extent ext = data_ext(0, nr, 1000);
	struct mmap_populate_args args = copy_args(self, &ext, 1, len);
	char *old, *map;

	old = anon_map(_metadata, nr, OLD_SEED);
	args.addr = (uintptr_t)old;
	map = populate_ok(_metadata, &args);
	ASSERT_TRUE(map + len <= old || map >= old + len)
		TH_LOG("mapped at %p, over the mapping at %p", map, old);
	check_range(_metadata, "the existing mapping", old, nr, OLD_SEED, 0);
	check_range(_metadata, "hint in use", map, nr, self->seed, 1000);
	ASSERT_EQ(0, munmap(map, len));

	args.addr = (uintptr_t)free_range(_metadata, nr);
	map = populate_ok(_metadata, &args);
	check_range(_metadata, "free hint", map, nr, self->seed, 1000);
	ASSERT_EQ(0, munmap(map, len));
	ASSERT_EQ(0, munmap(old, len));
}

/*
 * Errors. Each starts from valid arguments: one extent of two pages.
 */

static struct mmap_populate_args
two_pages(const struct _test_data_populate *self,
	  struct mmap_populate_extent *ext)
{
	*ext = data_ext(0, 2, 10);
	return copy_args(self, ext, 1, 2 * psz);
}

TEST_F(populate, err_fd_closed)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	int fd;

	fd = dup(self->fd);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	args.fd = fd;
	populate_fails(_metadata, &args, EBADF, "closed fd");
	args.fd = -1;
	populate_fails(_metadata, &args, EBADF, "fd -1");
	args.fd = INT_MAX;
	populate_fails(_metadata, &args, EBADF, "fd INT_MAX");

	/* An O_PATH fd is no fd to read from. */
	fd = open(self->path, O_PATH | O_CLOEXEC);
	ASSERT_LE(0, fd);
	args.fd = fd;
	populate_fails(_metadata, &args, EBADF, "O_PATH fd");
	close(fd);
}

TEST_F(populate, err_fd_write_only)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	int fd;

	fd = open(self->path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	args.fd = fd;
	populate_fails(_metadata, &args, EACCES, "O_WRONLY fd");
	close(fd);
}

TEST_F(populate, err_fd_pipe)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	int fds[2];

	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	args.fd = fds[0];
	populate_fails(_metadata, &args, EINVAL, "pipe");
	close(fds[0]);
	close(fds[1]);
}

TEST_F(populate, err_fd_directory)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	int fd;

	fd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	args.fd = fd;
	populate_fails(_metadata, &args, EINVAL, "directory");
	close(fd);
}

TEST_F(populate, err_extent_kind)
{
	static const __u32 kinds[] = { 2, 3, 0x80000000, 0xffffffff };
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	char what[32];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		ext.kind = kinds[i];
		snprintf(what, sizeof(what), "kind %#x", kinds[i]);
		populate_fails(_metadata, &args, EINVAL, what);
	}
}

TEST_F(populate, err_extent_flags)
{
	static const __u32 flags[] = {
		1U << 1, 1U << 31, MMAP_POPULATE_EXTENT_WRITTEN | 1U << 2,
		0xffffffff,
	};
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	char what[32];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		ext.flags = flags[i];
		snprintf(what, sizeof(what), "flags %#x", flags[i]);
		populate_fails(_metadata, &args, EINVAL, what);
	}
}

TEST_F(populate, err_extent_len_zero)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);

	ext.len = 0;
	populate_fails(_metadata, &args, EINVAL, "DATA extent");
	ext = zero_ext(0, 0);
	populate_fails(_metadata, &args, EINVAL, "ZERO extent");
}

TEST_F(populate, err_extent_unaligned)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	const __u64 offs[] = { 1, psz / 2, psz - 8 };
	char what[64];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		ext = data_ext(0, 2, 10);
		ext.target_off = offs[i];
		ext.len = psz;
		snprintf(what, sizeof(what), "target_off %#llx",
			 (unsigned long long)ext.target_off);
		populate_fails(_metadata, &args, EINVAL, what);

		ext = data_ext(0, 2, 10);
		ext.len = psz + offs[i];
		snprintf(what, sizeof(what), "len %#llx",
			 (unsigned long long)ext.len);
		populate_fails(_metadata, &args, EINVAL, what);

		ext = data_ext(0, 2, 10);
		ext.file_off += offs[i];
		snprintf(what, sizeof(what), "file_off %#llx",
			 (unsigned long long)ext.file_off);
		populate_fails(_metadata, &args, EINVAL, what);
	}
	ext = data_ext(0, 2, 10);
	ext.len = psz / 2;
	populate_fails(_metadata, &args, EINVAL, "len of half a page");
}

TEST_F(populate, err_extent_past_len)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);

	ext = data_ext(1, 2, 10);
	populate_fails(_metadata, &args, EINVAL, "one page past the end");
	ext = data_ext(2, 1, 10);
	populate_fails(_metadata, &args, EINVAL, "right after the end");
	ext = data_ext(0, 2, 10);
	ext.target_off = -psz;
	populate_fails(_metadata, &args, EINVAL, "target_off + len overflows");

	/* @len counts, not the length rounded up to whole pages. */
	ext = data_ext(0, 2, 10);
	args.len = 2 * psz - 1;
	populate_fails(_metadata, &args, EINVAL, "past an unaligned len");
}

TEST_F(populate, err_extent_unsorted)
{
	struct mmap_populate_extent ext[3] = {
		data_ext(2, 1, 10), data_ext(0, 1, 11), data_ext(4, 1, 12),
	};
	struct mmap_populate_args args = copy_args(self, ext, 2, 8 * psz);

	populate_fails(_metadata, &args, EINVAL, "second before first");
	ext[0] = data_ext(0, 1, 10);
	ext[1] = data_ext(4, 1, 11);
	ext[2] = data_ext(2, 1, 12);
	args.nr_extents = 3;
	populate_fails(_metadata, &args, EINVAL, "third before second");
	ext[2] = zero_ext(2, 1);
	populate_fails(_metadata, &args, EINVAL, "ZERO extent out of order");
}

TEST_F(populate, err_extent_overlap)
{
	struct mmap_populate_extent ext[2] = {
		data_ext(0, 2, 10), data_ext(1, 2, 20),
	};
	struct mmap_populate_args args = copy_args(self, ext, 2, 8 * psz);

	populate_fails(_metadata, &args, EINVAL, "one page in common");
	ext[1] = data_ext(0, 2, 20);
	populate_fails(_metadata, &args, EINVAL, "the same range twice");
	ext[0] = data_ext(0, 4, 10);
	ext[1] = data_ext(1, 1, 20);
	populate_fails(_metadata, &args, EINVAL, "one inside the other");
	ext[1] = zero_ext(3, 2);
	populate_fails(_metadata, &args, EINVAL, "ZERO extent overlapping");
}

TEST_F(populate, err_extent_past_eof)
{
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);

	ext = data_ext(0, 2, self->image_pages - 1);
	populate_fails(_metadata, &args, EINVAL, "last page past EOF");
	ext = data_ext(0, 1, self->image_pages);
	populate_fails(_metadata, &args, EINVAL, "starting at EOF");
	ext = data_ext(0, 1, 0);
	ext.file_off = -psz;
	populate_fails(_metadata, &args, EINVAL, "file_off + len overflows");

	/* EOF in the middle of a page: that page is not all in the file. */
	ASSERT_EQ(0, ftruncate(self->fd, IMAGE_SIZE - psz / 2));
	ext = data_ext(0, 1, self->image_pages - 1);
	populate_fails(_metadata, &args, EINVAL, "last page partial");
}

TEST_F(populate, err_extents_fault)
{
	struct mmap_populate_extent ext[2] = {
		data_ext(0, 1, 10), data_ext(1, 1, 11),
	};
	struct mmap_populate_args args = copy_args(self, ext, 2, 2 * psz);
	const size_t wide = sizeof(ext[0]) + 8;
	char *buf, *guard, *p;

	args.extents = 0;
	populate_fails(_metadata, &args, EFAULT, "NULL");
	args.extents = (uintptr_t)free_range(_metadata, 1);
	populate_fails(_metadata, &args, EFAULT, "unmapped");

	buf = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	guard = buf + psz;
	ASSERT_EQ(0, mprotect(guard, psz, PROT_NONE));

	/* The second extent runs into a PROT_NONE page. */
	p = guard - sizeof(ext[0]) - 16;
	memcpy(p, ext, sizeof(ext[0]) + 16);
	args.extents = (uintptr_t)p;
	populate_fails(_metadata, &args, EFAULT, "straddling");

	/* So does it when the extents are larger than the kernel's. */
	p = guard - wide - 20;
	memset(p, 0, wide + 20);
	memcpy(p, &ext[0], sizeof(ext[0]));
	memcpy(p + wide, &ext[1], 20);
	args.extents = (uintptr_t)p;
	args.extent_size = wide;
	populate_fails(_metadata, &args, EFAULT, "straddling, extent_size + 8");
	ASSERT_EQ(0, munmap(buf, 2 * psz));
}

/*
 * Extents larger than the kernel's: accepted when the bytes past its
 * fields are zero, -E2BIG when one of them is not.
 */
TEST_F(populate, err_extent_tail)
{
	const size_t sizes[] = {
		sizeof(struct mmap_populate_extent) + 8,
		sizeof(struct mmap_populate_extent) + 1,
		2 * sizeof(struct mmap_populate_extent),
	};
	/* Page 1 is a hole. */
	struct mmap_populate_extent ext[2] = {
		data_ext(0, 1, 30), data_ext(2, 1, 31),
	};
	struct mmap_populate_args args = copy_args(self, ext, 2, 3 * psz);
	unsigned int i, j, k;
	char what[64];
	char *buf, *map;

	buf = mmap(NULL, psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	args.extents = (uintptr_t)buf;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		args.extent_size = sizes[i];
		for (j = 0; j < 2; j++) {
			for (k = sizeof(ext[0]); k < sizes[i]; k++) {
				memset(buf, 0, psz);
				memcpy(buf, &ext[0], sizeof(ext[0]));
				memcpy(buf + sizes[i], &ext[1], sizeof(ext[1]));
				buf[j * sizes[i] + k] = 0x40;
				snprintf(what, sizeof(what),
					 "extent_size %zu, extent %u, byte %u",
					 sizes[i], j, k);
				populate_fails(_metadata, &args, E2BIG, what);
			}
		}
		memset(buf, 0, psz);
		memcpy(buf, &ext[0], sizeof(ext[0]));
		memcpy(buf + sizes[i], &ext[1], sizeof(ext[1]));
		map = populate_ok(_metadata, &args);
		check_range(_metadata, "page 0", map, 1, self->seed, 30);
		check_range(_metadata, "page 1", map + psz, 1, 0, 0);
		check_range(_metadata, "page 2", map + 2 * psz, 1, self->seed,
			    31);
		ASSERT_EQ(0, munmap(map, 3 * psz));
	}
	ASSERT_EQ(0, munmap(buf, psz));
}

/* A length no address space can hold. */
TEST_F(populate, err_len_task_size)
{
	static const __u64 lens[] = {
		1ULL << 57, ~0ULL << 12, ~0ULL,
	};
	struct mmap_populate_extent ext;
	struct mmap_populate_args args = two_pages(self, &ext);
	char what[32];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		args.len = lens[i];
		snprintf(what, sizeof(what), "len %#llx",
			 (unsigned long long)lens[i]);
		populate_fails(_metadata, &args, ENOMEM, what);
	}
}

/*
 * Resource limits.
 */

/* What a child process saw; in memory shared with the parent. */
struct child_result {
	const char *step;	/* what failed before the calls, or NULL */
	int err;		/* and its errno */
	long ret[3];		/* what the calls returned */
	bool maps_same;		/* the failures left the mappings alone */
	bool bad;		/* the memory held something else */
	struct mismatch m;
	unsigned long long memcg_current;
};

static struct child_result *shared_result(struct __test_metadata *_metadata)
{
	struct child_result *res;

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	memset(res, 0, sizeof(*res));
	return res;
}

static void child_fails(struct child_result *res, const char *step, int err)
{
	res->step = step;
	res->err = err;
	_exit(0);
}

/* The process's address space size, in bytes, or 0. */
static unsigned long vm_size(void)
{
	static char status[8192];
	const char *p;

	if (snapshot_read_text("/proc/self/status", status, sizeof(status)))
		return 0;
	p = strstr(status, "\nVmSize:");
	if (!p)
		return 0;
	return strtoul(p + strlen("\nVmSize:"), NULL, 10) << 10;
}

/*
 * In a child: RLIMIT_AS below the current size plus the mapping fails the
 * call, hint or FIXED, with nothing left behind; a limit above works.
 */
static void rlimit_child(struct _test_data_populate *self,
			 struct child_result *res, unsigned long nr)
{
	struct mmap_populate_extent ext = data_ext(0, nr, 0);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	const char *la, *lb;
	unsigned long size;
	struct rlimit rl;
	int na, nb;
	char *hole;

	hole = mmap(NULL, nr * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (hole == MAP_FAILED || munmap(hole, nr * psz))
		child_fails(res, "mmap", errno);
	size = vm_size();
	if (!size)
		child_fails(res, "VmSize in /proc/self/status", ENOENT);
	if (getrlimit(RLIMIT_AS, &rl))
		child_fails(res, "getrlimit", errno);
	rl.rlim_cur = size + nr * psz / 2;
	if (setrlimit(RLIMIT_AS, &rl))
		child_fails(res, "setrlimit", errno);
	if (maps_read(&maps_before))
		child_fails(res, "/proc/self/maps", errno);

	res->ret[0] = sys_populate(&args);
	args.flags = MMAP_POPULATE_FIXED;
	args.addr = (uintptr_t)hole;
	res->ret[1] = sys_populate(&args);

	if (maps_read(&maps_after))
		child_fails(res, "/proc/self/maps", errno);
	res->maps_same = maps_same(&maps_before, &maps_after, &la, &na, &lb,
				   &nb);

	rl.rlim_cur = size + nr * psz + (16UL << 20);
	if (setrlimit(RLIMIT_AS, &rl))
		child_fails(res, "setrlimit", errno);
	args.flags = 0;
	args.addr = 0;
	res->ret[2] = sys_populate(&args);
	if (res->ret[2] >= 0)
		res->bad = !range_check((char *)res->ret[2], nr, self->seed, 0,
					&res->m);
}

TEST_F(populate, rlimit_as)
{
	const unsigned long nr = (8UL << 20) / psz;
	struct child_result *res = shared_result(_metadata);
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		rlimit_child(self, res, nr);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x", status);
	ASSERT_NULL(res->step)
		TH_LOG("child: %s: %s", res->step, strerror(res->err));
	EXPECT_EQ(-ENOMEM, res->ret[0])
		TH_LOG("hint: %s", res->ret[0] < 0 ?
		       strerror(-res->ret[0]) : "success");
	EXPECT_EQ(-ENOMEM, res->ret[1])
		TH_LOG("FIXED: %s", res->ret[1] < 0 ?
		       strerror(-res->ret[1]) : "success");
	EXPECT_TRUE(res->maps_same) TH_LOG("a failed call left a mapping");
	EXPECT_LE(0, res->ret[2])
		TH_LOG("under a higher limit: %s", strerror(-res->ret[2]));
	EXPECT_FALSE(res->bad)
		TH_LOG("contents: page %lu, word %lu: %#llx, expected %#llx",
		       res->m.page, res->m.word,
		       (unsigned long long)res->m.seen,
		       (unsigned long long)res->m.expected);
	munmap(res, sizeof(*res));
}

/*
 * Set up CGROUP_TEST with memory.max @max, mounting cgroup2 and enabling
 * the memory controller if need be. Returns NULL, or why it cannot.
 */
static const char *memcg_setup(struct _test_data_populate *self,
			       const char *max)
{
	static char why[128];
	struct statfs sfs;
	char buf[256];
	int err;

	if (statfs(CGROUP_ROOT, &sfs)) {
		snprintf(why, sizeof(why), "statfs " CGROUP_ROOT ": %s",
			 strerror(errno));
		return why;
	}
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("none", CGROUP_ROOT, "cgroup2", 0, NULL)) {
			snprintf(why, sizeof(why),
				 "cannot mount cgroup2 on " CGROUP_ROOT ": %s",
				 strerror(errno));
			return why;
		}
		self->cg_mounted = true;
	}
	if (snapshot_read_text(CGROUP_ROOT "/cgroup.controllers", buf, sizeof(buf)) ||
	    !has_word(buf, "memory"))
		return "no memory controller in cgroup2";
	if (snapshot_read_text(CGROUP_ROOT "/cgroup.subtree_control", buf,
			       sizeof(buf)))
		return "cannot read " CGROUP_ROOT "/cgroup.subtree_control";
	if (!has_word(buf, "memory")) {
		err = snapshot_write_text(CGROUP_ROOT "/cgroup.subtree_control",
					  "+memory");
		if (err) {
			snprintf(why, sizeof(why),
				 "cannot enable the memory controller: %s",
				 strerror(-err));
			return why;
		}
		self->cg_memory = true;
	}
	/* A cgroup left behind by a test process that died is reused. */
	if (mkdir(CGROUP_TEST, 0755) && errno != EEXIST) {
		snprintf(why, sizeof(why), "mkdir " CGROUP_TEST ": %s",
			 strerror(errno));
		return why;
	}
	self->cg_made = true;
	err = snapshot_write_text(CGROUP_TEST "/memory.max", max);
	if (err) {
		snprintf(why, sizeof(why), "memory.max: %s", strerror(-err));
		return why;
	}
	/* Absent without swap accounting: no swap to go to, then. */
	snapshot_write_text(CGROUP_TEST "/memory.swap.max", "0");
	return NULL;
}

static void memcg_cleanup(struct _test_data_populate *self)
{
	int i;

	if (self->cg_made) {
		/* An exiting child may take a moment to leave. */
		for (i = 0; i < 100; i++) {
			if (!rmdir(CGROUP_TEST) || errno != EBUSY)
				break;
			nap_ms(10);
		}
		self->cg_made = false;
	}
	if (self->cg_memory) {
		snapshot_write_text(CGROUP_ROOT "/cgroup.subtree_control", "-memory");
		self->cg_memory = false;
	}
	if (self->cg_mounted) {
		umount(CGROUP_ROOT);
		self->cg_mounted = false;
	}
}

/* In a child: join CGROUP_TEST, then map @nr pages of the image. */
static void memcg_child(struct _test_data_populate *self,
			struct child_result *res, unsigned long nr)
{
	struct mmap_populate_extent ext = data_ext(0, nr, 0);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	const char *la, *lb;
	char buf[32];
	int na, nb;
	int err;

	snprintf(buf, sizeof(buf), "%d", getpid());
	err = snapshot_write_text(CGROUP_TEST "/cgroup.procs", buf);
	if (err)
		child_fails(res, "join " CGROUP_TEST, -err);
	if (maps_read(&maps_before))
		child_fails(res, "/proc/self/maps", errno);
	res->ret[0] = sys_populate(&args);
	if (res->ret[0] < 0) {
		if (maps_read(&maps_after))
			child_fails(res, "/proc/self/maps", errno);
		res->maps_same = maps_same(&maps_before, &maps_after, &la,
					   &na, &lb, &nb);
		return;
	}
	res->bad = !range_check((char *)res->ret[0], nr, self->seed, 0,
				&res->m);
	if (!snapshot_read_text(CGROUP_TEST "/memory.current", buf, sizeof(buf)))
		res->memcg_current = strtoull(buf, NULL, 10);
}

/* Run memcg_child() in CGROUP_TEST: its exit status. */
static int memcg_run(struct __test_metadata *_metadata,
		     struct _test_data_populate *self,
		     struct child_result *res, unsigned long nr)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		memcg_child(self, res, nr);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	return status;
}

/*
 * More than memory.max: -ENOMEM, nothing left behind. The child must get
 * the error: the memcg OOM killer must not kill it instead.
 */
TEST_F_TIMEOUT(populate, memcg_over_limit, 120)
{
	struct child_result *res = shared_result(_metadata);
	char events[512];
	const char *why;
	int status;

	why = memcg_setup(self, MEMCG_MAX);
	if (why)
		SKIP(return, "%s", why);
	status = memcg_run(_metadata, self, res, (16UL << 20) / psz);
	if (snapshot_read_text(CGROUP_TEST "/memory.events", events, sizeof(events)))
		snprintf(events, sizeof(events), "(unreadable)");
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x, not an exit; memory.events: %s",
		       status, events);
	ASSERT_NULL(res->step)
		TH_LOG("child: %s: %s", res->step, strerror(res->err));
	EXPECT_EQ(-ENOMEM, res->ret[0])
		TH_LOG("16 MiB with memory.max " MEMCG_MAX ": %s",
		       res->ret[0] < 0 ? strerror(-res->ret[0]) : "success");
	EXPECT_TRUE(res->maps_same) TH_LOG("the failed call left a mapping");
	memcg_cleanup(self);
	munmap(res, sizeof(*res));
}

/* Within memory.max: the memory is there, and charged to the cgroup. */
TEST_F_TIMEOUT(populate, memcg_within_limit, 120)
{
	const unsigned long len = 1UL << 20;
	struct child_result *res = shared_result(_metadata);
	const char *why;
	int status;

	why = memcg_setup(self, MEMCG_MAX);
	if (why)
		SKIP(return, "%s", why);
	status = memcg_run(_metadata, self, res, len / psz);
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x", status);
	ASSERT_NULL(res->step)
		TH_LOG("child: %s: %s", res->step, strerror(res->err));
	ASSERT_LE(0, res->ret[0])
		TH_LOG("1 MiB with memory.max " MEMCG_MAX ": %s",
		       strerror(-res->ret[0]));
	EXPECT_FALSE(res->bad)
		TH_LOG("contents: page %lu, word %lu: %#llx, expected %#llx",
		       res->m.page, res->m.word,
		       (unsigned long long)res->m.seen,
		       (unsigned long long)res->m.expected);
	EXPECT_LE(len, res->memcg_current)
		TH_LOG("memory.current %llu: the pages were not charged here",
		       res->memcg_current);
	memcg_cleanup(self);
	munmap(res, sizeof(*res));
}

/*
 * Races.
 */

static void sigbus_handler(int sig)
{
	static const char msg[] = "# SIGBUS: populated memory must not fault\n";
	ssize_t n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	_exit(KSFT_FAIL);
}

struct truncator {
	int fd;
	unsigned long delay_ns;
	int ready;	/* the thread runs */
	int go;		/* the call is about to be made */
	int err;
};

static void *truncator_fn(void *arg)
{
	struct truncator *t = arg;

	__atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&t->go, __ATOMIC_ACQUIRE))
		sched_yield();
	spin_ns(t->delay_ns);
	t->err = ftruncate(t->fd, 0) ? errno : 0;
	return NULL;
}

/*
 * The image is truncated to 0 while the call reads it: success only with
 * every page as it was written, else -EIO or -EINVAL and no mapping; never
 * a SIGBUS.
 *
 * In share-cache mode a successful call maps the file, and truncation
 * unmaps a file's pages from every mapping: once the truncation is done,
 * reading the mapping raises SIGBUS as for any file mapping. So there the
 * contents are not read back; what is checked is that the call itself
 * either succeeds or fails cleanly.
 */
static void truncate_rounds(struct __test_metadata *_metadata,
			    struct _test_data_populate *self, __u64 flags)
{
	const unsigned long nr = (4UL << 20) / psz;
	struct mmap_populate_extent ext = data_ext(0, nr, 0);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	struct sigaction sa = { .sa_handler = sigbus_handler };
	unsigned int rnd = getpid() | 1;
	unsigned int i, ok = 0, eio = 0, einval = 0;
	struct truncator t;
	pthread_t thread;
	char what[32];
	long ret;

	args.flags |= flags;
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	for (i = 0; i < 20; i++) {
		t.fd = file_create(_metadata, self, self->race_path, "race",
				   RACE_SEED + i, nr);
		t.delay_ns = next_random(&rnd) % 2000000;
		t.ready = 0;
		t.go = 0;
		t.err = -1;
		args.fd = t.fd;
		ASSERT_EQ(0, pthread_create(&thread, NULL, truncator_fn, &t));
		while (!__atomic_load_n(&t.ready, __ATOMIC_ACQUIRE))
			sched_yield();
		/* The thread's stack is mapped already. */
		maps_snapshot(_metadata);
		__atomic_store_n(&t.go, 1, __ATOMIC_RELEASE);
		ret = sys_populate(&args);
		ASSERT_EQ(0, pthread_join(thread, NULL));
		ASSERT_EQ(0, t.err) TH_LOG("ftruncate: %s", strerror(t.err));

		snprintf(what, sizeof(what), "round %u", i);
		if (ret >= 0) {
			if (!flags)
				check_range(_metadata, what, (char *)ret, nr,
					    RACE_SEED + i, 0);
			ASSERT_EQ(0, munmap((char *)ret, nr * psz));
			ok++;
		} else {
			ASSERT_TRUE(ret == -EIO || ret == -EINVAL)
				TH_LOG("%s: %s, not EIO or EINVAL", what,
				       strerror(-ret));
			maps_unchanged(_metadata, what);
			if (ret == -EIO)
				eio++;
			else
				einval++;
		}
		close(t.fd);
		remove_file(self->race_path);
	}
	TH_LOG("%u rounds: %u mapped, %u EIO, %u EINVAL", i, ok, eio, einval);
}

TEST_F_TIMEOUT(populate, truncate_race, 120)
{
	truncate_rounds(_metadata, self, 0);
}

TEST_F_TIMEOUT(populate, share_truncate_race, 120)
{
	truncate_rounds(_metadata, self, MMAP_POPULATE_SHARE_CACHE);
}

struct racer {
	struct mmap_populate_args args;
	pthread_barrier_t *barrier;
	unsigned long nr;
	unsigned long first;	/* page of the image it maps first */
	__u64 seed;
	unsigned int rounds;
	int failed_round;	/* the first that failed, or -1 */
	long ret;		/* what the call returned then */
	struct mismatch m;
};

static void *racer_fn(void *arg)
{
	struct racer *r = arg;
	struct mismatch m = { };
	unsigned int i;
	long ret;

	for (i = 0; i < r->rounds; i++) {
		pthread_barrier_wait(r->barrier);
		ret = sys_populate(&r->args);
		if (ret >= 0 &&
		    range_check((char *)ret, r->nr, r->seed, r->first, &m)) {
			munmap((char *)ret, r->nr * psz);
			continue;
		}
		if (r->failed_round < 0) {
			r->failed_round = i;
			r->ret = ret;
			r->m = m;
		}
		if (ret >= 0)
			munmap((char *)ret, r->nr * psz);
	}
	return NULL;
}

/* Two threads map 8 MiB each at the same time, 20 times over. */
TEST_F_TIMEOUT(populate, concurrent_populate, 120)
{
	const unsigned long nr = (8UL << 20) / psz;
	struct mmap_populate_extent ext[2];
	pthread_barrier_t barrier;
	pthread_t thread[2];
	struct racer r[2];
	unsigned int i;

	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, 2));
	for (i = 0; i < 2; i++) {
		ext[i] = data_ext(0, nr, i * nr);
		r[i] = (struct racer) {
			.args = copy_args(self, &ext[i], 1, nr * psz),
			.barrier = &barrier,
			.nr = nr,
			.first = i * nr,
			.seed = self->seed,
			.rounds = 20,
			.failed_round = -1,
		};
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&thread[i], NULL, racer_fn, &r[i]));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_join(thread[i], NULL));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(-1, r[i].failed_round)
			TH_LOG("thread %u, round %d: %s; page %lu, word %lu: %#llx, expected %#llx",
			       i, r[i].failed_round,
			       r[i].ret < 0 ? strerror(-r[i].ret) :
			       "wrong contents",
			       r[i].m.page, r[i].m.word,
			       (unsigned long long)r[i].m.seen,
			       (unsigned long long)r[i].m.expected);
	}
	pthread_barrier_destroy(&barrier);
}

struct churner {
	char *addr;
	unsigned long nr;
	unsigned long loops;
	int stop;
	int done;
	const char *fail;	/* what went wrong, or NULL */
	int err;
};

static void *churn_end(struct churner *c, const char *fail, int err)
{
	c->fail = fail;
	c->err = err;
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Map, write, split, merge, check and unmap c->addr until told to stop. */
static void *churn_fn(void *arg)
{
	struct churner *c = arg;
	size_t len = c->nr * psz;
	struct mismatch m;
	char *p;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		p = mmap(c->addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
		if (p == MAP_FAILED)
			return churn_end(c, "mmap", errno);
		if (p != c->addr)
			return churn_end(c, "mmap elsewhere", EEXIST);
		snapshot_pattern_fill(p, c->nr, CHURN_SEED, c->loops);
		if (mprotect(p + psz, psz, PROT_READ))
			return churn_end(c, "mprotect to split", errno);
		if (mprotect(p, len, PROT_READ | PROT_WRITE))
			return churn_end(c, "mprotect to merge", errno);
		if (!range_check(p, c->nr, CHURN_SEED, c->loops, &m))
			return churn_end(c, "its own contents", EIO);
		if (munmap(p, len))
			return churn_end(c, "munmap", errno);
		__atomic_store_n(&c->loops, c->loops + 1, __ATOMIC_RELEASE);
	}
	return churn_end(c, NULL, 0);
}

/*
 * One thread maps the image at the same place again and again while another
 * maps, splits, merges and unmaps the anonymous range right after it.
 */
TEST_F_TIMEOUT(populate, concurrent_mmap_churn, 120)
{
	const unsigned long nr = 256, churn_nr = 16, rounds = 100;
	struct mmap_populate_extent ext;
	struct mmap_populate_args args;
	struct churner c = { };
	unsigned long i, first;
	pthread_t thread;
	char what[32];
	char *area;
	long ret;

	area = mmap(NULL, (nr + churn_nr) * psz, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	c.addr = area + nr * psz;
	c.nr = churn_nr;
	ASSERT_EQ(0, munmap(c.addr, churn_nr * psz));
	ASSERT_EQ(0, pthread_create(&thread, NULL, churn_fn, &c));
	while (!__atomic_load_n(&c.loops, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
		sched_yield();

	for (i = 0; i < rounds; i++) {
		first = i * 37 % (self->image_pages - nr);
		ext = data_ext(0, nr, first);
		args = copy_args(self, &ext, 1, nr * psz);
		args.flags = MMAP_POPULATE_FIXED;
		args.addr = (uintptr_t)area;
		ret = sys_populate(&args);
		ASSERT_EQ((long)area, ret)
			TH_LOG("round %lu: %s", i, ret < 0 ?
			       strerror(-ret) : "another address");
		snprintf(what, sizeof(what), "round %lu", i);
		check_range(_metadata, what, area, nr, self->seed, first);
		/* A placeholder again, so that nothing else goes there. */
		ASSERT_EQ(area, mmap(area, nr * psz, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				     -1, 0));
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_NULL(c.fail)
		TH_LOG("churning thread, loop %lu: %s: %s", c.loops, c.fail,
		       strerror(c.err));
	TH_LOG("%lu calls, %lu mmap/mprotect/munmap loops meanwhile", rounds,
	       c.loops);
	ASSERT_EQ(0, munmap(area, nr * psz));
}

/*
 * FILL mode.
 */

/* Into anonymous memory: extents replace, the rest stays. */
TEST_F(populate, fill_anon)
{
	const unsigned long nr = 32;
	struct mmap_populate_extent ext[2] = {
		data_ext(4, 4, 40), zero_ext(10, 1),
	};
	struct mmap_populate_args args;
	char *map;
	long ret;

	map = anon_map(_metadata, nr, OLD_SEED);
	args = fill_args(self, map, ext, 2, nr * psz);
	maps_snapshot(_metadata);
	ret = sys_populate(&args);
	ASSERT_EQ((long)map, ret)
		TH_LOG("%s", ret < 0 ? strerror(-ret) : "another address");
	maps_unchanged(_metadata, "FILL");
	check_pages(_metadata, "DATA extent", map + 4 * psz, 4, PAGE_ANON);
	check_pages(_metadata, "ZERO extent", map + 10 * psz, 1, PAGE_ANON);
	check_range(_metadata, "pages 0-3", map, 4, OLD_SEED, 0);
	check_range(_metadata, "pages 4-7", map + 4 * psz, 4, self->seed, 40);
	check_range(_metadata, "pages 8-9", map + 8 * psz, 2, OLD_SEED, 8);
	check_range(_metadata, "page 10", map + 10 * psz, 1, 0, 0);
	check_range(_metadata, "pages 11-31", map + 11 * psz, nr - 11,
		    OLD_SEED, 11);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * Into a private mapping of a file: the filled pages are private copies
 * over the file, which the mapping still shows everywhere else; dropping
 * a filled page shows the file again, and writing one leaves the file
 * alone.
 */
TEST_F(populate, fill_file)
{
	const unsigned long nr = 16;
	struct mmap_populate_extent ext[3] = {
		data_ext(4, 3, 200), zero_ext(9, 1), data_ext(12, 1, 300),
	};
	struct mmap_populate_args args;
	char real[PATH_MAX];
	struct vma_info vi;
	__u64 word;
	char *map;
	int lib, err;
	long ret;

	lib = file_create(_metadata, self, self->lib_path, "lib", LIB_SEED,
			  nr);
	ASSERT_NE(NULL, realpath(self->lib_path, real));
	map = mmap(NULL, nr * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE, lib,
		   0);
	ASSERT_NE(MAP_FAILED, map);
	/* Page 5 maps the file's page, page 6 is a private copy already. */
	check_range(_metadata, "page 5 before", map + 5 * psz, 1, LIB_SEED, 5);
	__atomic_store_n((__u64 *)(map + 6 * psz), 0, __ATOMIC_RELAXED);

	args = fill_args(self, map, ext, ARRAY_SIZE(ext), nr * psz);
	maps_snapshot(_metadata);
	ret = sys_populate(&args);
	ASSERT_EQ((long)map, ret)
		TH_LOG("%s", ret < 0 ? strerror(-ret) : "another address");
	maps_unchanged(_metadata, "FILL");
	check_pages(_metadata, "pages 4-6", map + 4 * psz, 3, PAGE_ANON);
	check_pages(_metadata, "page 9", map + 9 * psz, 1, PAGE_ANON);
	check_pages(_metadata, "page 12", map + 12 * psz, 1, PAGE_ANON);

	check_range(_metadata, "pages 0-3", map, 4, LIB_SEED, 0);
	check_range(_metadata, "pages 4-6", map + 4 * psz, 3, self->seed,
		    200);
	check_range(_metadata, "pages 7-8", map + 7 * psz, 2, LIB_SEED, 7);
	check_range(_metadata, "page 9", map + 9 * psz, 1, 0, 0);
	check_range(_metadata, "pages 10-11", map + 10 * psz, 2, LIB_SEED,
		    10);
	check_range(_metadata, "page 12", map + 12 * psz, 1, self->seed,
		    300);
	check_range(_metadata, "pages 13-15", map + 13 * psz, 3, LIB_SEED,
		    13);

	err = vma_find((uintptr_t)map, &vi);
	ASSERT_EQ(0, err) TH_LOG("no mapping in /proc/self/maps");
	EXPECT_STREQ(real, vi.path);
	EXPECT_NE(0UL, vi.inode);
	EXPECT_STREQ("rw-p", vi.perms);

	ASSERT_EQ(0, madvise(map + 5 * psz, psz, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(map + 9 * psz, psz, MADV_DONTNEED));
	check_range(_metadata, "page 5 dropped", map + 5 * psz, 1, LIB_SEED,
		    5);
	check_range(_metadata, "page 9 dropped", map + 9 * psz, 1, LIB_SEED,
		    9);

	__atomic_store_n((__u64 *)(map + 4 * psz), 0x5ca1ab1e,
			 __ATOMIC_RELAXED);
	ASSERT_EQ((ssize_t)sizeof(word),
		  pread(lib, &word, sizeof(word), 4 * psz));
	EXPECT_EQ(snapshot_pattern(LIB_SEED, 4, 0), word)
		TH_LOG("writing the filled page wrote the file");
	word = __atomic_load_n((__u64 *)(map + 4 * psz), __ATOMIC_RELAXED);
	ASSERT_EQ(0x5ca1ab1eULL, word) TH_LOG("the write to page 4 is lost");
	ASSERT_EQ(0, munmap(map, nr * psz));
	close(lib);
}

TEST_F(populate, fill_shared)
{
	const unsigned long nr = 4;
	struct mmap_populate_extent ext = data_ext(0, 1, 10);
	struct mmap_populate_args args;
	char *map;
	int lib;

	map = mmap(NULL, nr * psz, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	snapshot_pattern_fill(map, nr, OLD_SEED, 0);
	args = fill_args(self, map, &ext, 1, nr * psz);
	populate_fails(_metadata, &args, EINVAL, "MAP_SHARED anonymous");
	check_range(_metadata, "MAP_SHARED anonymous", map, nr, OLD_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));

	lib = file_create(_metadata, self, self->lib_path, "lib", LIB_SEED,
			  nr);
	map = mmap(NULL, nr * psz, PROT_READ | PROT_WRITE, MAP_SHARED, lib, 0);
	ASSERT_NE(MAP_FAILED, map);
	args = fill_args(self, map, &ext, 1, nr * psz);
	populate_fails(_metadata, &args, EINVAL, "MAP_SHARED file");
	check_range(_metadata, "MAP_SHARED file", map, nr, LIB_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));
	close(lib);
}

TEST_F(populate, fill_unmapped)
{
	const unsigned long nr = 4;
	struct mmap_populate_extent ext = data_ext(0, 1, 10);
	struct mmap_populate_args args;
	char *map;

	args = fill_args(self, free_range(_metadata, nr), &ext, 1, nr * psz);
	populate_fails(_metadata, &args, ENOMEM, "nothing mapped");

	/* A mapping that ends before the range does. */
	map = anon_map(_metadata, nr, OLD_SEED);
	ASSERT_EQ(0, munmap(map + nr / 2 * psz, nr / 2 * psz));
	args = fill_args(self, map, &ext, 1, nr * psz);
	populate_fails(_metadata, &args, ENOMEM, "past the end");
	check_range(_metadata, "the mapping", map, nr / 2, OLD_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr / 2 * psz));
}

TEST_F(populate, fill_two_vmas)
{
	const unsigned long nr = 8;
	struct mmap_populate_extent ext = data_ext(0, 1, 10);
	struct mmap_populate_args args;
	char *map;

	map = anon_map(_metadata, nr, OLD_SEED);
	/* Pages 0-2, 3 and 4-7 are three mappings. */
	ASSERT_EQ(0, mprotect(map + 3 * psz, psz, PROT_READ));
	args = fill_args(self, map, &ext, 1, nr * psz);
	populate_fails(_metadata, &args, ENOMEM, "all three");
	args = fill_args(self, map + 2 * psz, &ext, 1, 2 * psz);
	populate_fails(_metadata, &args, ENOMEM, "pages 2-3");
	args = fill_args(self, map + 3 * psz, &ext, 1, 2 * psz);
	populate_fails(_metadata, &args, ENOMEM, "pages 3-4");
	check_range(_metadata, "the mappings", map, nr, OLD_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

TEST_F(populate, fill_misaligned)
{
	const unsigned long nr = 4;
	struct mmap_populate_extent ext = data_ext(0, 1, 10);
	const unsigned long offs[] = { 1, psz / 2, psz - 1 };
	struct mmap_populate_args args;
	char what[32];
	unsigned int i;
	char *map;

	map = anon_map(_metadata, nr, OLD_SEED);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		args = fill_args(self, map + offs[i], &ext, 1, 2 * psz);
		snprintf(what, sizeof(what), "address + %#lx", offs[i]);
		populate_fails(_metadata, &args, EINVAL, what);
	}
	check_range(_metadata, "the mapping", map, nr, OLD_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * I/O errors.
 */

/*
 * The make-it-fail attribute of the disk holding @dir goes to @fail (@size
 * bytes). Returns NULL, or why there is none.
 */
static const char *disk_of(const char *dir, char *fail, size_t size)
{
	static char why[PATH_MAX + 64];
	char sys[64], real[PATH_MAX], part[PATH_MAX + 16];
	struct stat st;
	char *slash;

	if (stat(dir, &st)) {
		snprintf(why, sizeof(why), "stat %s: %s", dir,
			 strerror(errno));
		return why;
	}
	if (!major(st.st_dev)) {
		snprintf(why, sizeof(why), "%s is not on a block device", dir);
		return why;
	}
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_dev),
		 minor(st.st_dev));
	if (!realpath(sys, real)) {
		snprintf(why, sizeof(why), "%s (the device of %s): %s", sys,
			 dir, strerror(errno));
		return why;
	}
	/* make-it-fail of the whole disk is what counts. */
	if (snprintf(part, sizeof(part), "%s/partition", real) > 0 &&
	    !access(part, F_OK)) {
		slash = strrchr(real, '/');
		if (slash)
			*slash = '\0';
	}
	if (snprintf(fail, size, "%s/make-it-fail", real) >= (int)size ||
	    access(fail, W_OK)) {
		snprintf(why, sizeof(why),
			 "no writable %s/make-it-fail (CONFIG_FAIL_MAKE_REQUEST)",
			 real);
		fail[0] = '\0';
		return why;
	}
	return NULL;
}

/*
 * Set fail_make_request up to fail every request of the threads that ask
 * for it, saving what it was. Returns NULL, or why it cannot.
 */
static const char *fail_setup(struct _test_data_populate *self)
{
	static char why[PATH_MAX + 64];
	char path[PATH_MAX];
	struct statfs sfs;
	unsigned int i;
	int err;

	if (access(FAIL_DIR, F_OK) &&
	    (statfs(DEBUGFS, &sfs) || sfs.f_type != DEBUGFS_MAGIC)) {
		if (!mount("debugfs", DEBUGFS, "debugfs", 0, NULL))
			self->debugfs_mounted = true;
	}
	if (access(FAIL_DIR, F_OK))
		return "no " FAIL_DIR " (CONFIG_FAIL_MAKE_REQUEST, debugfs)";
	for (i = 0; i < FAIL_ATTRS; i++) {
		snprintf(path, sizeof(path), FAIL_DIR "/%s", fail_attr[i]);
		err = snapshot_read_text(path, self->fail_value[i],
					 sizeof(self->fail_value[i]));
		if (!err) {
			self->fail_saved = i + 1;
			err = snapshot_write_text(path, fail_value[i]);
		}
		if (err) {
			snprintf(why, sizeof(why), "%s: %s", path,
				 strerror(-err));
			return why;
		}
	}
	return NULL;
}

/* Stop failing requests, and put fail_make_request back as it was. */
static void fail_restore(struct _test_data_populate *self)
{
	char path[PATH_MAX];
	unsigned int i;

	if (self->make_it_fail[0])
		snapshot_write_text(self->make_it_fail, "0");
	self->make_it_fail[0] = '\0';
	for (i = 0; i < self->fail_saved; i++) {
		snprintf(path, sizeof(path), FAIL_DIR "/%s", fail_attr[i]);
		snapshot_write_text(path, self->fail_value[i]);
	}
	self->fail_saved = 0;
	if (self->debugfs_mounted)
		umount(DEBUGFS);
	self->debugfs_mounted = false;
}

/* How many of pages [@first, @first + @nr) of @fd are cached, or -1. */
static long resident_range(int fd, unsigned long first, unsigned long nr)
{
	unsigned char *vec = malloc(nr);
	unsigned long i;
	long resident = 0;
	void *p;

	if (!vec)
		return -1;
	p = mmap(NULL, nr * psz, PROT_READ, MAP_SHARED, fd, first * psz);
	if (p == MAP_FAILED) {
		free(vec);
		return -1;
	}
	if (mincore(p, nr * psz, vec))
		resident = -1;
	for (i = 0; resident >= 0 && i < nr; i++)
		resident += vec[i] & 1;
	munmap(p, nr * psz);
	free(vec);
	return resident;
}

/* How many of the first @nr pages of @fd are in the page cache, or -1. */
static long resident_pages(int fd, unsigned long nr)
{
	return resident_range(fd, 0, nr);
}

/*
 * Write the image back and drop it from the page cache: the number of its
 * pages that stay there (the test skips when there are any).
 */
static long drop_image_cache(struct __test_metadata *_metadata,
			     struct _test_data_populate *self)
{
	long resident;
	int err;

	ASSERT_EQ(0, fsync(self->fd));
	ASSERT_EQ(0, posix_fadvise(self->fd, 0, 0, POSIX_FADV_DONTNEED));
	err = snapshot_write_text("/proc/sys/vm/drop_caches", "3");
	ASSERT_EQ(0, err) TH_LOG("drop_caches: %s", strerror(-err));
	resident = resident_pages(self->fd, self->image_pages);
	ASSERT_LE(0, resident) TH_LOG("mincore: %s", strerror(errno));
	return resident;
}

/*
 * Cold image: large extents are read with direct I/O into the new pages,
 * small ones and partly cached ones through the page cache. Each way, the
 * contents are the image's and every page is present.
 */
TEST_F(populate, copy_cold)
{
	const unsigned long nr = 1024;
	struct mmap_populate_extent ext[3] = {
		data_ext(0, nr, 2048),		/* 4 MiB, cold: direct */
		data_ext(nr, 16, 100),		/* 64 KiB: page cache */
		data_ext(nr + 16, nr, 0),	/* 4 MiB, one page cached */
	};
	struct mmap_populate_args args = copy_args(self, ext, 3,
						   (2 * nr + 16) * psz);
	long resident;
	char buf[64];
	char *map;

	resident = drop_image_cache(_metadata, self);
	if (resident)
		SKIP(return, "%ld pages of the image stay in the page cache",
		     resident);
	/* Bring one page of the third extent into the page cache. */
	ASSERT_EQ((ssize_t)sizeof(buf),
		  pread(self->fd, buf, sizeof(buf), 512 * psz));

	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, 2 * nr + 16, PAGE_ANON);
	check_range(_metadata, "direct", map, nr, self->seed, 2048);
	check_range(_metadata, "small", map + nr * psz, 16, self->seed, 100);
	check_range(_metadata, "partly cached", map + (nr + 16) * psz, nr,
		    self->seed, 0);
	ASSERT_EQ(0, munmap(map, (2 * nr + 16) * psz));
}

/*
 * Cold image, small extents whose data are adjacent in the image but in
 * another order than in the mapping, as a capture lays out its working set:
 * they are read in the image's order, with requests that span extents, and
 * a run of at least 2 MiB of them goes straight into the new pages with
 * direct I/O, leaving nothing in the page cache. Runs shorter than that,
 * split by a gap in the image, are read through the page cache. Either
 * way, each page holds its own bytes.
 */
TEST_F(populate, copy_cold_runs)
{
	const unsigned long nr = 128, each = 8, direct = 1024, small = 2560;
	const unsigned long len = nr * each + 2 * 64;
	struct mmap_populate_extent ext[128 + 2];
	struct mmap_populate_args args;
	long resident;
	unsigned long i;
	char *map;

	if (!self->on_scratch)
		SKIP(return, "no writable /scratch: the image is not on a disk");
	/* 4 MiB, extent i from the place of extent i ^ 1 in the image. */
	for (i = 0; i < nr; i++)
		ext[i] = data_ext(i * each, each, direct + (i ^ 1) * each);
	/* 2 x 256 KiB, a page apart in the image. */
	ext[nr] = data_ext(nr * each, 64, small);
	ext[nr + 1] = data_ext(nr * each + 64, 64, small + 65);
	args = copy_args(self, ext, nr + 2, len * psz);

	resident = drop_image_cache(_metadata, self);
	if (resident)
		SKIP(return, "%ld pages of the image stay in the page cache",
		     resident);

	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, len, PAGE_ANON);
	for (i = 0; i < nr; i++)
		check_range(_metadata, "run", map + i * each * psz, each,
			    self->seed, direct + (i ^ 1) * each);
	check_range(_metadata, "short run", map + nr * each * psz, 64,
		    self->seed, small);
	check_range(_metadata, "short run after the gap",
		    map + (nr * each + 64) * psz, 64, self->seed, small + 65);

	resident = resident_range(self->fd, direct, nr * each);
	EXPECT_EQ(0, resident)
		TH_LOG("%ld pages of the 4 MiB run are in the page cache: not read directly",
		       resident);
	resident = resident_range(self->fd, small, 129);
	EXPECT_LE(128, resident)
		TH_LOG("%ld of the short runs' 128 pages are in the page cache",
		       resident);
	ASSERT_EQ(0, munmap(map, len * psz));
}

/*
 * The disk fails while the call reads the image: -EIO, and no mapping.
 * With the disk back, the same call works.
 */
static void io_error_case(struct __test_metadata *_metadata,
			  struct _test_data_populate *self, __u64 flags)
{
	const unsigned long nr = 64;
	struct mmap_populate_extent ext = data_ext(0, nr, 0);
	struct mmap_populate_args args = copy_args(self, &ext, 1, nr * psz);
	const char *why;
	long ret, resident;
	int fd, err;
	char *map;

	if (!self->on_scratch)
		SKIP(return, "no writable /scratch: the image is not on a disk");
	why = disk_of("/scratch", self->make_it_fail,
		      sizeof(self->make_it_fail));
	if (why)
		SKIP(return, "%s", why);
	why = fail_setup(self);
	if (why)
		SKIP(return, "%s", why);

	fd = file_create(_metadata, self, self->io_path, "io", IO_SEED, nr);
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, close(fd));
	/* No atime update: reading must not dirty anything. */
	fd = open(self->io_path, O_RDONLY | O_NOATIME | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	/* Out of the page cache: the call has to read the disk. */
	ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	err = snapshot_write_text("/proc/sys/vm/drop_caches", "3");
	ASSERT_EQ(0, err) TH_LOG("drop_caches: %s", strerror(-err));
	resident = resident_pages(fd, nr);
	ASSERT_LE(0, resident) TH_LOG("mincore: %s", strerror(errno));
	if (resident)
		SKIP(return, "%ld pages of the image stay in the page cache",
		     resident);

	args.fd = fd;
	args.flags |= flags;
	err = snapshot_write_text("/proc/thread-self/make-it-fail", "1");
	if (err)
		SKIP(return, "/proc/thread-self/make-it-fail: %s",
		     strerror(-err));
	maps_snapshot(_metadata);
	err = snapshot_write_text(self->make_it_fail, "1");
	ret = err ? 0 : sys_populate(&args);
	fail_restore(self);
	snapshot_write_text("/proc/thread-self/make-it-fail", "0");
	ASSERT_EQ(0, err) TH_LOG("make-it-fail: %s", strerror(-err));
	ASSERT_EQ(-EIO, ret)
		TH_LOG("with the disk failing: %s",
		       ret < 0 ? strerror(-ret) : "success");
	maps_unchanged(_metadata, "EIO");

	map = populate_ok(_metadata, &args);
	check_range(_metadata, "with the disk back", map, nr, IO_SEED, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));
	close(fd);
}

TEST_F(populate, io_error)
{
	io_error_case(_metadata, self, 0);
}

TEST_F(populate, share_io_error)
{
	io_error_case(_metadata, self, MMAP_POPULATE_SHARE_CACHE);
}

/*
 * Share-cache mode.
 */

static struct mmap_populate_args
share_args(struct _test_data_populate *self,
	   const struct mmap_populate_extent *ext, unsigned int nr, __u64 len)
{
	struct mmap_populate_args args = copy_args(self, ext, nr, len);

	args.flags |= MMAP_POPULATE_SHARE_CACHE;
	return args;
}

/*
 * The image's pages are mapped, present, from its page cache: reading them
 * takes no fault, /proc/self/maps shows the image at the extent's offset,
 * and a write copies the page and leaves the image alone. The mapping
 * holds the file: it may be closed and removed.
 */
TEST_F(populate, share_cache)
{
	const unsigned long nr = 16;
	struct mmap_populate_extent ext = data_ext(0, nr, 1100);
	struct mmap_populate_args args = share_args(self, &ext, 1, nr * psz);
	long (*reader)(char *p, unsigned long nr) = read_pages;
	struct vma_info vi;
	struct stat st;
	char *warm, *map;
	__u64 word;
	long faults;
	int err;

	warm = anon_map(_metadata, nr, OLD_SEED);
	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, nr, PAGE_OTHER);

	/* As in copy_contents: warm up the very same code first. */
	__asm__("" : "+r" (reader));
	faults = reader(warm, nr);
	ASSERT_LE(0, faults) TH_LOG("getrusage: %s", strerror(errno));
	faults = reader(map, nr);
	ASSERT_LE(0, faults) TH_LOG("getrusage: %s", strerror(errno));
	EXPECT_EQ(0, faults)
		TH_LOG("%ld minor faults reading %lu populated pages",
		       faults, nr);
	check_range(_metadata, "contents", map, nr, self->seed, 1100);

	ASSERT_EQ(0, fstat(self->fd, &st));
	err = vma_find((uintptr_t)map, &vi);
	ASSERT_EQ(0, err) TH_LOG("no mapping in /proc/self/maps");
	EXPECT_EQ((uintptr_t)map, vi.start);
	EXPECT_EQ((uintptr_t)map + nr * psz, vi.end);
	EXPECT_STREQ("rw-p", vi.perms);
	EXPECT_EQ(1100 * psz, vi.offset);
	EXPECT_EQ((unsigned long)st.st_ino, vi.inode);
	EXPECT_STREQ(self->path, vi.path);

	__atomic_store_n((__u64 *)(map + 3 * psz), 0x5ca1ab1e,
			 __ATOMIC_RELAXED);
	check_pages(_metadata, "page 3, written", map + 3 * psz, 1, PAGE_ANON);
	check_pages(_metadata, "pages 4-15", map + 4 * psz, nr - 4,
		    PAGE_OTHER);
	ASSERT_EQ((ssize_t)sizeof(word),
		  pread(self->fd, &word, sizeof(word), 1103 * psz));
	EXPECT_EQ(snapshot_pattern(self->seed, 1103, 0), word)
		TH_LOG("writing the mapping wrote the image");

	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, unlink(self->path));
	self->path[0] = '\0';
	check_range(_metadata, "with the image closed and removed", map, 3,
		    self->seed, 1100);
	check_range(_metadata, "with the image closed and removed",
		    map + 4 * psz, nr - 4, self->seed, 1104);
	EXPECT_EQ(0x5ca1ab1eULL, *(__u64 *)(map + 3 * psz));
	ASSERT_EQ(0, munmap(map, nr * psz));
	ASSERT_EQ(0, munmap(warm, nr * psz));
}

/* What the child of share_cache_sharing saw. */
struct share_result {
	__u64 pfn[16];		/* of its mapping, before writing */
	__u64 written_pfn;	/* of page 2, after writing it */
	long ret;		/* of its call */
	int contents_ok;
};

/*
 * Two processes populating from one image share its page cache: their
 * pages have the same frames. A write gives the writer a page of its own,
 * and the other process still sees the image.
 */
TEST_F(populate, share_cache_sharing)
{
	const unsigned long nr = 16;
	struct mmap_populate_extent ext = data_ext(0, nr, 1200);
	struct mmap_populate_args args = share_args(self, &ext, 1, nr * psz);
	struct share_result *res;
	struct mismatch m;
	__u64 pfn[16];
	unsigned long i;
	int status, err;
	pid_t pid;
	char *map;

	map = populate_ok(_metadata, &args);
	err = page_frames(map, nr, pfn);
	ASSERT_EQ(0, err) TH_LOG("pagemap: %s", strerror(-err));
	if (!pfn[0])
		SKIP(return, "pagemap shows no page frames (CAP_SYS_ADMIN)");

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Its own mapping, not the one inherited from the parent. */
		munmap(map, nr * psz);
		res->ret = sys_populate(&args);
		if (res->ret < 0)
			_exit(1);
		map = (char *)res->ret;
		if (page_frames(map, nr, res->pfn))
			_exit(2);
		res->contents_ok = range_check(map, nr, self->seed, 1200, &m);
		snapshot_pattern_fill(map + 2 * psz, 1, CHILD_SEED, 2);
		if (page_frames(map + 2 * psz, 1, &res->written_pfn))
			_exit(2);
		_exit(range_check(map + 2 * psz, 1, CHILD_SEED, 2, &m) ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x, call %ld (1: call failed, 2: pagemap, 3: write lost)",
		       status, res->ret);
	EXPECT_TRUE(res->contents_ok);
	for (i = 0; i < nr && pfn[i] == res->pfn[i]; i++)
		;
	EXPECT_EQ(nr, i)
		TH_LOG("page %lu: frame %#llx here, %#llx in the child", i,
		       (unsigned long long)pfn[i % nr],
		       (unsigned long long)res->pfn[i % nr]);
	EXPECT_NE(0ULL, res->written_pfn);
	EXPECT_NE(pfn[2], res->written_pfn)
		TH_LOG("the child's write did not copy the page");
	check_range(_metadata, "here, after the child wrote page 2", map, nr,
		    self->seed, 1200);
	munmap(res, sizeof(*res));
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * Scattered extents: DATA extents map the image, those flagged WRITTEN are
 * private anonymous copies that can be written without a fault, holes and
 * ZERO extents are empty anonymous memory. Extents that continue each other
 * in the mapping and in the file share one mapping of the image.
 */
TEST_F(populate, share_cache_scattered)
{
	const unsigned long nr = 80;
	struct mmap_populate_extent ext[12];
	long (*touch)(char *p, unsigned long nr) = touch_pages;
	const struct mmap_populate_extent *e;
	struct mmap_populate_args args;
	unsigned long i, page;
	struct vma_info vi;
	long faults = 0, f;
	char what[64];
	char *map;
	int err;

	for (i = 0; i < ARRAY_SIZE(ext); i++) {
		page = 2 + 6 * i;
		if (i == 4 || i == 9) {
			ext[i] = zero_ext(page, 2);
			continue;
		}
		ext[i] = data_ext(page, 1 + i % 3, (i * 7 % 12) * 30 + 3);
		if (i % 4 == 1)
			ext[i].flags = MMAP_POPULATE_EXTENT_WRITTEN;
	}
	/* Extents 10 and 11 continue each other: one mapping. */
	ext[10] = data_ext(62, 3, 900);
	ext[11] = data_ext(65, 4, 903);
	args = share_args(self, ext, ARRAY_SIZE(ext), nr * psz);
	map = populate_ok(_metadata, &args);

	for (page = 0; page < nr; page++) {
		e = extent_at(ext, ARRAY_SIZE(ext), page);
		snprintf(what, sizeof(what), "page %lu (%s)", page,
			 !e ? "hole" : e->kind ? "ZERO" :
			 e->flags ? "DATA, WRITTEN" : "DATA");
		check_pages(_metadata, what, map + page * psz, 1,
			    !e || e->kind ? PAGE_ABSENT :
			    e->flags ? PAGE_ANON : PAGE_OTHER);
	}
	err = vma_find((uintptr_t)map + 62 * psz, &vi);
	ASSERT_EQ(0, err);
	EXPECT_EQ((uintptr_t)map + 62 * psz, vi.start);
	EXPECT_EQ((uintptr_t)map + 69 * psz, vi.end);
	EXPECT_EQ(900 * psz, vi.offset);

	__asm__("" : "+r" (touch));
	for (i = 0; i < ARRAY_SIZE(ext); i++) {
		if (ext[i].flags) {
			/* Once to warm up the code, once to count. */
			touch(map + ext[i].target_off, ext[i].len / psz);
			f = touch(map + ext[i].target_off, ext[i].len / psz);
			ASSERT_LE(0, f);
			faults += f;
		}
	}
	EXPECT_EQ(0, faults)
		TH_LOG("%ld minor faults writing the WRITTEN extents", faults);

	for (page = 0; page < nr; page++) {
		e = extent_at(ext, ARRAY_SIZE(ext), page);
		snprintf(what, sizeof(what), "page %lu", page);
		if (e && e->kind == MMAP_POPULATE_EXTENT_DATA)
			check_range(_metadata, what, map + page * psz, 1,
				    self->seed, e->file_off / psz + page -
				    e->target_off / psz);
		else
			check_range(_metadata, what, map + page * psz, 1, 0, 0);
	}
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/*
 * MADV_DONTNEED drops private changes: a shared page reads as the image
 * again, an eagerly copied (WRITTEN) page as zero, as anonymous memory.
 */
TEST_F(populate, share_cache_dontneed)
{
	const unsigned long nr = 8;
	struct mmap_populate_extent ext[2] = {
		data_ext(0, 4, 1300),
		data_ext(4, 4, 1304),
	};
	struct mmap_populate_args args = share_args(self, ext, 2, nr * psz);
	char *map;

	ext[1].flags = MMAP_POPULATE_EXTENT_WRITTEN;
	map = populate_ok(_metadata, &args);
	snapshot_pattern_fill(map, nr, CHILD_SEED, 0);
	ASSERT_EQ(0, madvise(map, nr * psz, MADV_DONTNEED));
	check_range(_metadata, "shared, after MADV_DONTNEED", map, 4,
		    self->seed, 1300);
	check_range(_metadata, "copied, after MADV_DONTNEED", map + 4 * psz,
		    4, 0, 0);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/* An image in shmem (a memfd) shares its pages as well. */
TEST_F(populate, share_cache_memfd)
{
	const unsigned long nr = 32;
	struct mmap_populate_extent ext = data_ext(0, nr, 5);
	struct mmap_populate_args args;
	char *buf, *map;
	int fd;

	fd = memfd_create("populate_test", MFD_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("memfd_create: %s", strerror(errno));
	buf = anon_map(_metadata, nr + 5, 0);
	snapshot_pattern_fill(buf, nr + 5, self->seed, 0);
	ASSERT_EQ(0, snapshot_write_all(fd, buf, (nr + 5) * psz, 0));
	ASSERT_EQ(0, munmap(buf, (nr + 5) * psz));

	args = share_args(self, &ext, 1, nr * psz);
	args.fd = fd;
	map = populate_ok(_metadata, &args);
	check_pages(_metadata, "on return", map, nr, PAGE_OTHER);
	check_range(_metadata, "contents", map, nr, self->seed, 5);
	snapshot_pattern_fill(map, 1, CHILD_SEED, 0);
	check_pages(_metadata, "page 0, written", map, 1, PAGE_ANON);
	ASSERT_EQ(0, close(fd));
	check_range(_metadata, "pages 1-31, memfd closed", map + psz, nr - 1,
		    self->seed, 6);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

/* The share-cache mapping gets the protection asked for. */
TEST_F(populate, share_cache_prot)
{
	const unsigned long nr = 4;
	struct mmap_populate_extent ext = data_ext(0, nr, 40);
	struct mmap_populate_args args = share_args(self, &ext, 1, nr * psz);
	struct vma_info vi;
	char *map;

	args.prot = PROT_READ;
	map = populate_ok(_metadata, &args);
	ASSERT_EQ(0, vma_find((uintptr_t)map, &vi));
	EXPECT_STREQ("r--p", vi.perms);
	check_range(_metadata, "read-only", map, nr, self->seed, 40);
	ASSERT_EQ(0, munmap(map, nr * psz));
}

TEST_HARNESS_MAIN
