// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot_restore(): every rule by which it refuses an image, one crafted
 * bad image per rule, and every check it makes against the running system.
 *
 * Each test starts from a known-good image. The fixture creates a file and
 * forks a child that maps it (privately, with a modified page, and shared),
 * keeps two descriptors of it open, sets up an alternate signal stack, and
 * captures itself with SNAPSHOT_CAPTURE_WORKING_SET: the pages it touches
 * after the fork form the working set, a region it inherits and does not
 * touch does not. (Without the alternate stack, the task's sas_ss_flags
 * would hold SS_DISABLE, inherited from init, which the kernel set when it
 * created init with CLONE_VM; the valid_image_altstack_* tests capture
 * that case and the others on their own.)
 *
 * The test loads the image into memory (struct mimage), checks it with the
 * reader of snapshot_image_util.h, and lets a mutator change any field --
 * of the header, of a section descriptor, of a record -- or put a section
 * elsewhere; the checksums are then recomputed (unless the test wants them
 * wrong), the result is written to a file and restored in a forked child,
 * so that a success replaces the child, not the test. The child reports
 * through its exit status: the errno, or EXIT_RESUMED when it runs on as
 * the restored process (which resumes in capture_main() of the fixture).
 *
 * -EOPNOTSUPP is the error for an image of another version, architecture
 * or page size, a required section of an unknown type, a vDSO of another
 * layout or extended state this CPU lacks. A test that expects -EOPNOTSUPP
 * also makes the recorded size of the mapped file wrong: an image that
 * passed validation would then fail with -ESTALE (the files are checked
 * after the image), so the -EOPNOTSUPP seen comes from the rule under test.
 * The tests of images that must be accepted check both: restored as they
 * are, -ESTALE with the file size wrong.
 *
 * Files and images go under /scratch when it is a writable directory (a
 * disk in the test guest), else under /tmp.
 *
 * The last tests craft headers whose section table wraps around the end of
 * the address space: on a kernel that does not check for the wrap, one
 * reads before the kernel's copy of the metadata, the other makes it
 * compare the header with the ZERO_SIZE_PTR of a kvmalloc(0), an oops.
 * They come last so that the other results are out first.
 */

#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"
#include "snapshot_image_util.h"

static_assert(sizeof(struct snapshot_restore_args) ==
	      SNAPSHOT_RESTORE_ARGS_SIZE_VER0, "restore args size");

#ifndef SS_AUTODISARM
#define SS_AUTODISARM	0x80000000U
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

/* TASK_SIZE_MAX of x86_64 with 4-level page tables. */
#define TASK_SIZE_4L		0x7ffffffff000ULL
/* ... and with 5-level page tables. */
#define TASK_SIZE_5L		0xfffffffffff000ULL
/* A section type no kernel knows. */
#define UNKNOWN_TYPE		1000
/* The kernel's largest metadata (data_off); more is -E2BIG. */
#define MAX_META		(64UL << 20)

/*
 * Exit statuses of the children that call snapshot_restore(); an errno
 * below EXIT_RESUMED is its own status.
 */
#define EXIT_RESUMED		200	/* running as the restored process */
#define EXIT_RETURNED		201	/* snapshot_restore() returned >= 0 */
#define EXIT_SETUP		202	/* the child could not make the call */
/* Restored, but snapshot_capture() returned another value than RESUMED. */
#define EXIT_RESUMED_OTHER	203

/* Outcomes of a restore in a child, besides -errno. */
#define OUT_RESUMED		1
#define OUT_RETURNED		2
#define OUT_SETUP		3
#define OUT_RESUMED_OTHER	4
#define OUT_SIGNAL		0x100	/* | the signal that killed the child */
#define OUT_EXIT		0x200	/* | another exit status */

/* The fixture's child: its file and the regions it has. */
#define DATA_PAGES		4	/* pages of the mapped file */
#define REGION_PAGES		8	/* inherited, not touched: not in the WS */
#define HOT_PAGES		4	/* touched after the fork: in the WS */
#define FD2_POS			100	/* position of the second descriptor */

/* The leak check: restores, and the padding of the metadata. */
#define LEAK_RESTORES		1000
#define LEAK_PAD		(256UL << 10)

/* The randomized corruption: time and attempts, whichever ends first. */
#define FUZZ_SECONDS		20
#define FUZZ_MAX		10000
#define FUZZ_LOG_MAX		10	/* failures logged in full */

static unsigned long psz;	/* the page size */

/*
 * Small helpers.
 */

static long sys_restore(const struct snapshot_restore_args *args)
{
	return snapshot_syscall(__NR_snapshot_restore, args, sizeof(*args));
}

static void close_from(unsigned int first)
{
	unsigned int fd;

	if (!syscall(SYS_close_range, first, ~0U, 0))
		return;
	for (fd = first; fd < 4096; fd++)
		close(fd);
}

static int wait_for(pid_t pid, int *status)
{
	pid_t r;

	do {
		r = waitpid(pid, status, 0);
	} while (r < 0 && errno == EINTR);
	return r;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u64 round_up_to(__u64 v, __u64 a)
{
	return (v + a - 1) / a * a;
}

/*
 * TASK_SIZE_MAX of this kernel: an address above 47 bits can be mapped
 * only with 5-level page tables.
 */
static __u64 task_size_max(void)
{
	void *hint = (void *)(1UL << 50);
	void *p = mmap(hint, psz, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return TASK_SIZE_4L;
	munmap(p, psz);
	return p == hint ? TASK_SIZE_5L : TASK_SIZE_4L;
}

/*
 * A mutable image: the metadata (everything before the data area) and the
 * data area, as the test will write them.
 */

enum csums {
	CSUM_ALL,	/* recompute every checksum (the default) */
	CSUM_HEADER,	/* recompute the header's only */
	CSUM_NONE,	/* leave them all as they are */
};

struct mimage {
	unsigned char *meta;	/* bytes [0, data area) of the file */
	size_t meta_size;	/* where the data area is written */
	size_t used;		/* bytes of the metadata in use */
	unsigned char *data;	/* the data area */
	size_t data_size;
	off_t file_size;	/* length of the file written */
	enum csums csums;
	__u32 data_file;	/* the mapped file, in the file table */
	char why[256];		/* what a mutator could not do, or "" */
};

static __printf(2, 3) void mi_fail(struct mimage *m, const char *fmt, ...)
{
	va_list ap;

	if (m->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
}

static struct snapshot_image_header *mi_hdr(struct mimage *m)
{
	return (struct snapshot_image_header *)m->meta;
}

/* Whether the section table of the header lies in the metadata. */
static bool mi_table_ok(const struct mimage *m)
{
	const struct snapshot_image_header *h = (const void *)m->meta;
	__u64 len = (__u64)h->nr_sections * h->section_size;

	return h->sections_off <= m->meta_size &&
	       len <= m->meta_size - h->sections_off &&
	       h->section_size >= sizeof(struct snapshot_image_section);
}

/* Descriptor @i of the section table. */
static struct snapshot_image_section *mi_desc_at(struct mimage *m, __u32 i)
{
	struct snapshot_image_header *h = mi_hdr(m);

	return (void *)(m->meta + h->sections_off +
			(size_t)i * h->section_size);
}

/* The first descriptor of @type, or NULL. */
static struct snapshot_image_section *mi_desc(struct mimage *m, __u32 type)
{
	__u32 i;

	if (!mi_table_ok(m))
		return NULL;
	for (i = 0; i < mi_hdr(m)->nr_sections; i++)
		if (mi_desc_at(m, i)->type == type)
			return mi_desc_at(m, i);
	return NULL;
}

static __u32 mi_nr(struct mimage *m, __u32 type)
{
	struct snapshot_image_section *d = mi_desc(m, type);

	return d ? d->nr_entries : 0;
}

/* Room for a mutator that asks for what is not there. */
static unsigned char mi_junk[1 << 16];

static void *mi_body(struct mimage *m, __u32 type)
{
	struct snapshot_image_section *d = mi_desc(m, type);

	if (!d || d->offset > m->meta_size ||
	    d->size > m->meta_size - d->offset) {
		mi_fail(m, "no section of type %u", type);
		return mi_junk;
	}
	return m->meta + d->offset;
}

/* Record @i of section @type, as written. */
static void *mi_rec(struct mimage *m, __u32 type, __u32 i)
{
	struct snapshot_image_section *d = mi_desc(m, type);

	if (!d || i >= d->nr_entries) {
		mi_fail(m, "no record %u in section %u", i, type);
		return mi_junk;
	}
	return (unsigned char *)mi_body(m, type) + (size_t)i * d->entry_size;
}

static struct snapshot_image_task *mi_task(struct mimage *m)
{
	return mi_rec(m, SNAPSHOT_SECTION_TASK, 0);
}

static struct snapshot_image_mm *mi_mm(struct mimage *m)
{
	return mi_rec(m, SNAPSHOT_SECTION_MM, 0);
}

static struct snapshot_image_vma *mi_vma(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_VMAS, i);
}

static struct snapshot_image_extent *mi_ext(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_EXTENTS, i);
}

static struct snapshot_image_file *mi_file(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_FILES, i);
}

static struct snapshot_image_fd *mi_fd(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_FDS, i);
}

static struct snapshot_image_rlimit *mi_rlimit(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_RLIMITS, i);
}

static __u64 *mi_auxv(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_AUXV, i);
}

static char *mi_strings(struct mimage *m)
{
	return mi_body(m, SNAPSHOT_SECTION_STRINGS);
}

static __u64 mi_strings_size(struct mimage *m)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_STRINGS);

	return d ? d->size : 0;
}

static unsigned char *mi_xsave(struct mimage *m)
{
	return mi_body(m, SNAPSHOT_SECTION_XSAVE);
}

/*
 * Make the metadata @size bytes (a multiple of the page size): the data
 * area moves by the difference, and the header and the extents with it.
 */
static void mi_resize(struct mimage *m, size_t size)
{
	size_t shift = size - m->meta_size;
	struct snapshot_image_header *h;
	struct snapshot_image_extent *e;
	unsigned char *p;
	__u32 i, n;

	if (size <= m->meta_size)
		return;
	p = realloc(m->meta, size);
	if (!p) {
		mi_fail(m, "out of memory");
		return;
	}
	memset(p + m->meta_size, 0, shift);
	m->meta = p;
	m->meta_size = size;
	m->file_size += shift;
	h = mi_hdr(m);
	h->data_off += shift;
	h->image_size += shift;
	n = mi_nr(m, SNAPSHOT_SECTION_EXTENTS);
	for (i = 0; i < n; i++) {
		e = mi_ext(m, i);
		e->data_off += shift;
	}
}

/* @size bytes of @body after what the metadata uses: their offset. */
static __u64 mi_append(struct mimage *m, const void *body, size_t size)
{
	__u64 off = round_up_to(m->used, 8);

	if (off + size > m->meta_size)
		mi_resize(m, round_up_to(off + size, psz));
	if (off + size > m->meta_size)
		return 0;
	memcpy(m->meta + off, body, size);
	m->used = off + size;
	return off;
}

/* Replace the contents of the section @type; the old ones stay unused. */
static void mi_set_section(struct mimage *m, __u32 type, const void *body,
			   size_t size, __u32 entry_size, __u32 nr)
{
	__u64 off = mi_append(m, body, size);
	struct snapshot_image_section *d = mi_desc(m, type);

	if (!d)
		return mi_fail(m, "no section of type %u", type);
	d->offset = off;
	d->size = size;
	d->entry_size = entry_size;
	d->nr_entries = nr;
}

/*
 * Add a section. The table stays where it is, one descriptor longer, and
 * the sections after it are laid out again, in the order of the table,
 * followed by the new one. Return the index of its descriptor.
 */
static __u32 mi_add_section(struct mimage *m, __u32 type, __u32 flags,
			    const void *body, size_t size, __u32 entry_size,
			    __u32 nr)
{
	struct snapshot_image_header *h = mi_hdr(m);
	struct snapshot_image_section *table;
	__u32 i, n = h->nr_sections;
	size_t need;
	unsigned char *old;

	/* Make room first, while the extents can still be found. */
	need = h->sections_off + (n + 1) * sizeof(*table) + size + 8;
	for (i = 0; i < n; i++)
		need += round_up_to(mi_desc_at(m, i)->size, 8);
	mi_resize(m, round_up_to(need, psz));
	h = mi_hdr(m);
	table = calloc(n + 1, sizeof(*table));
	old = malloc(m->meta_size);
	if (!table || !old || m->why[0]) {
		free(table);
		free(old);
		mi_fail(m, "out of memory");
		return 0;
	}
	memcpy(old, m->meta, m->meta_size);
	memcpy(table, old + h->sections_off, n * sizeof(*table));
	table[n] = (struct snapshot_image_section) {
		.type = type,
		.flags = flags,
		.size = size,
		.entry_size = entry_size,
		.nr_entries = nr,
	};
	m->used = h->sections_off + (n + 1) * sizeof(*table);
	memset(m->meta + m->used, 0, m->meta_size - m->used);
	for (i = 0; i <= n; i++)
		table[i].offset = mi_append(m, i < n ? old + table[i].offset :
						   body, table[i].size);
	memcpy(m->meta + h->sections_off, table, (n + 1) * sizeof(*table));
	h->nr_sections = n + 1;
	free(table);
	free(old);
	return n;
}

/*
 * Recompute the checksums as m->csums says: those of the sections that lie
 * in the metadata, then the header's, if its table does.
 */
static void mi_fix_csums(struct mimage *m)
{
	struct snapshot_image_header *h = mi_hdr(m), copy;
	struct snapshot_image_section d;
	unsigned char *p;
	__u32 i, crc;

	if (m->csums == CSUM_NONE || !mi_table_ok(m))
		return;
	for (i = 0; m->csums == CSUM_ALL && i < h->nr_sections; i++) {
		p = (unsigned char *)mi_desc_at(m, i);
		memcpy(&d, p, sizeof(d));
		if (d.offset > m->meta_size || d.size > m->meta_size - d.offset)
			continue;
		d.csum = crc32c(m->meta + d.offset, d.size);
		memcpy(p, &d, sizeof(d));
	}
	copy = *h;
	copy.csum = 0;
	crc = crc32c_update(~0U, &copy, sizeof(copy));
	crc = ~crc32c_update(crc, m->meta + h->sections_off,
			     (size_t)h->nr_sections * h->section_size);
	h->csum = crc;
}

/*
 * Write the image to @path: the metadata in use (the rest of it reads as
 * zero), the data area after the metadata, then the length m->file_size.
 */
static int mi_write(const struct mimage *m, const char *path)
{
	size_t head = m->meta_size;
	int fd, err;

	/* A large metadata is mostly zeros: leave them to ftruncate(). */
	if (head > (1UL << 20))
		head = round_up_to(m->used, psz);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = snapshot_write_all(fd, m->meta, head, 0);
	if (!err)
		err = snapshot_write_all(fd, m->data, m->data_size, m->meta_size);
	if (!err && ftruncate(fd, m->file_size))
		err = -errno;
	close(fd);
	return err;
}

static void mi_free(struct mimage *m)
{
	free(m->meta);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

static int mi_copy(struct mimage *dst, const struct mimage *src)
{
	*dst = *src;
	dst->meta = malloc(src->meta_size);
	dst->data = malloc(src->data_size ? src->data_size : 1);
	if (!dst->meta || !dst->data) {
		free(dst->meta);
		free(dst->data);
		return -ENOMEM;
	}
	memcpy(dst->meta, src->meta, src->meta_size);
	memcpy(dst->data, src->data, src->data_size);
	return 0;
}

/* The bytes the header, the table and the sections use. */
static size_t mi_used(struct mimage *m)
{
	struct snapshot_image_header *h = mi_hdr(m);
	size_t used = h->sections_off +
		      (size_t)h->nr_sections * h->section_size;
	struct snapshot_image_section *d;
	__u32 i;

	for (i = 0; i < h->nr_sections; i++) {
		d = mi_desc_at(m, i);
		if (d->offset + d->size > used)
			used = d->offset + d->size;
	}
	return used;
}

/* Load a valid image from @path. */
static void mi_load(struct __test_metadata *_metadata, struct mimage *m,
		    const char *path)
{
	struct image img;
	struct stat st;
	bool ok;
	int fd, err;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
	ok = image_load(&img, fd);
	ASSERT_TRUE(ok) TH_LOG("the captured image is invalid: %s", img.why);
	ASSERT_EQ(0, fstat(fd, &st));
	m->meta_size = img.hdr.data_off;
	m->data_size = img.hdr.data_size;
	m->file_size = st.st_size;
	m->meta = malloc(m->meta_size);
	m->data = malloc(m->data_size ? m->data_size : 1);
	ASSERT_TRUE(m->meta && m->data);
	err = read_all(fd, m->meta, m->meta_size, 0);
	if (!err)
		err = read_all(fd, m->data, m->data_size, m->meta_size);
	ASSERT_EQ(0, err) TH_LOG("read %s: %s", path, strerror(-err));
	image_free(&img);
	close(fd);
	m->used = mi_used(m);
}

/*
 * Lookups in an image, for the mutators: an index, or -1 (and m->why).
 */

/* The first VMA of @kind (for a file, shared or not as @shared says). */
static int find_vma(struct mimage *m, __u32 kind, bool shared)
{
	__u32 i, n = mi_nr(m, SNAPSHOT_SECTION_VMAS);
	struct snapshot_image_vma *v;

	for (i = 0; i < n; i++) {
		v = mi_vma(m, i);
		if (v->kind == kind &&
		    (kind != SNAPSHOT_VMA_FILE ||
		     !!(v->flags & SNAPSHOT_VMA_SHARED) == shared))
			return i;
	}
	mi_fail(m, "no VMA of kind %u%s in the image", kind,
		shared ? " (shared)" : "");
	return -1;
}

/* The first extent in the working set, or not in it. */
static int find_extent(struct mimage *m, bool ws)
{
	__u32 i, n = mi_nr(m, SNAPSHOT_SECTION_EXTENTS);

	for (i = 0; i < n; i++)
		if (!!(mi_ext(m, i)->flags & SNAPSHOT_EXTENT_WORKING_SET) == ws)
			return i;
	mi_fail(m, "no extent %sin the working set", ws ? "" : "outside ");
	return -1;
}

/* The first descriptor record of @kind. */
static int find_fd(struct mimage *m, __u32 kind)
{
	__u32 i, n = mi_nr(m, SNAPSHOT_SECTION_FDS);

	for (i = 0; i < n; i++)
		if (mi_fd(m, i)->kind == kind)
			return i;
	mi_fail(m, "no descriptor of kind %u in the image", kind);
	return -1;
}

/*
 * Move an extent, the table staying sorted, to one page at @addr in VMA
 * @vma: its data stay where they were.
 */
static void place_extent(struct mimage *m, __u64 addr, __u32 vma)
{
	__u32 k, n = mi_nr(m, SNAPSHOT_SECTION_EXTENTS);
	struct snapshot_image_extent *e;
	__u64 lo, hi;

	for (k = 0; k < n; k++) {
		lo = k ? mi_ext(m, k - 1)->addr + mi_ext(m, k - 1)->len : 0;
		hi = k + 1 < n ? mi_ext(m, k + 1)->addr : ~0ULL;
		if (lo <= addr && addr + psz <= hi) {
			e = mi_ext(m, k);
			e->addr = addr;
			e->len = psz;
			e->vma = vma;
			return;
		}
	}
	mi_fail(m, "no extent can move to %#llx", (unsigned long long)addr);
}

static void swap_records(void *a, void *b, size_t size)
{
	unsigned char tmp[256];

	memcpy(tmp, a, size);
	memcpy(a, b, size);
	memcpy(b, tmp, size);
}

/*
 * Restoring, in a child.
 */

struct call {
	const char *path;	/* the image, opened with @open_flags, ... */
	int open_flags;
	int fd;			/* ... or, without @path, this image_fd */
	struct snapshot_fd_map fd_map[4];
	__u32 nr_fd_map;
	/* In the child, before the call: NULL, or why it failed. */
	const char *(*prep)(struct call *c);
	__u64 arg;		/* for @prep */
};

static __noreturn void restore_main(struct call *c)
{
	struct snapshot_restore_args args = { 0 };
	const char *why = c->prep ? c->prep(c) : NULL;
	long ret;

	if (why) {
		fprintf(stderr, "# restore child: %s\n", why);
		_exit(EXIT_SETUP);
	}
	args.image_fd = c->fd;
	if (c->path) {
		args.image_fd = open(c->path, c->open_flags | O_CLOEXEC);
		if (args.image_fd < 0) {
			fprintf(stderr, "# restore child: open %s: %s\n",
				c->path, strerror(errno));
			_exit(EXIT_SETUP);
		}
	}
	if (c->nr_fd_map) {
		args.nr_fd_map = c->nr_fd_map;
		args.fd_map = (uintptr_t)c->fd_map;
	}
	ret = sys_restore(&args);
	if (ret < 0 && -ret < EXIT_RESUMED)
		_exit(-ret);
	_exit(EXIT_RETURNED);
}

static long outcome_of(int status)
{
	int code;

	if (WIFSIGNALED(status))
		return OUT_SIGNAL | WTERMSIG(status);
	if (!WIFEXITED(status))
		return OUT_EXIT | 0xff;
	code = WEXITSTATUS(status);
	if (code > 0 && code < EXIT_RESUMED)
		return -code;
	switch (code) {
	case EXIT_RESUMED:
		return OUT_RESUMED;
	case EXIT_RETURNED:
		return OUT_RETURNED;
	case EXIT_SETUP:
		return OUT_SETUP;
	case EXIT_RESUMED_OTHER:
		return OUT_RESUMED_OTHER;
	}
	return OUT_EXIT | code;
}

static const char *errno_name(int err)
{
	switch (err) {
	case ENOEXEC:	return "ENOEXEC";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EBADMSG:	return "EBADMSG";
	case EINVAL:	return "EINVAL";
	case E2BIG:	return "E2BIG";
	case ESTALE:	return "ESTALE";
	case ENOENT:	return "ENOENT";
	case ENOTDIR:	return "ENOTDIR";
	case EACCES:	return "EACCES";
	case EPERM:	return "EPERM";
	case EBADF:	return "EBADF";
	case EBUSY:	return "EBUSY";
	case EFAULT:	return "EFAULT";
	case ENOMEM:	return "ENOMEM";
	case EIO:	return "EIO";
	case EMFILE:	return "EMFILE";
	}
	return NULL;
}

/* What an outcome means, in words (in one of a few static buffers). */
static const char *outcome_str(long r)
{
	static char bufs[4][96];
	static unsigned int next;
	char *buf = bufs[next++ % ARRAY_SIZE(bufs)];
	const size_t size = sizeof(bufs[0]);
	const char *name;

	if (r < 0) {
		name = errno_name(-r);
		if (name)
			snprintf(buf, size, "-%s", name);
		else
			snprintf(buf, size, "-%ld (%s)", -r, strerror(-r));
	} else if (r == OUT_RESUMED) {
		snprintf(buf, size, "restored");
	} else if (r == OUT_RETURNED) {
		snprintf(buf, size, "returned without error");
	} else if (r == OUT_RESUMED_OTHER) {
		snprintf(buf, size,
			 "restored, resumed with another return value");
	} else if (r == OUT_SETUP) {
		snprintf(buf, size, "the child failed before the call");
	} else if (r & OUT_SIGNAL) {
		snprintf(buf, size, "child killed by signal %ld (%s)",
			 r & 0xff, strsignal(r & 0xff));
	} else {
		snprintf(buf, size, "child exit status %ld", r & 0xff);
	}
	return buf;
}

/* Call snapshot_restore() as @c says in a child: the outcome. */
static long restore_call(struct __test_metadata *_metadata, struct call *c)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid)
		restore_main(c);
	ASSERT_EQ(pid, wait_for(pid, &status))
		TH_LOG("waitpid: %s", strerror(errno));
	return outcome_of(status);
}

/* A valid image went through: the child runs on as the restored process. */
static bool built(long r)
{
	return r == OUT_RESUMED;
}

/*
 * The fixture.
 */

FIXTURE(restore) {
	char dir[16];			/* /scratch or /tmp */
	char data_path[PATH_MAX];	/* the file the captured child maps */
	char image_path[PATH_MAX];	/* its image */
	char work_path[PATH_MAX];	/* the images the tests craft */
	char aux_path[PATH_MAX];	/* another file of a test, or "" */
	struct mimage base;		/* the captured image */
};

static char altstack[64 << 10];

/*
 * The captured child: a file mapped privately with a modified page and
 * shared, two descriptors of it, pages touched (the working set), the
 * region it inherited untouched, and an alternate signal stack set with
 * @alt_flags (SS_DISABLE: none). It captures itself into @path, and
 * resumes here when the image is restored.
 */
static __noreturn void capture_main(struct _test_data_restore *self,
				    const char *path, int alt_flags)
{
	struct snapshot_reason r = { .fd = -1 };
	struct snapshot_capture_args args = {
		.flags = SNAPSHOT_CAPTURE_WORKING_SET,
		.reason = (uintptr_t)&r,
	};
	stack_t ss = {
		.ss_sp = altstack,
		.ss_size = sizeof(altstack),
		.ss_flags = alt_flags,
	};
	char *priv, *shared, *hot;
	int fd, fd2, i;
	pid_t me;
	long ret;

	close_from(3);
	if (chdir(self->dir) || sigaltstack(&ss, NULL))
		_exit(EXIT_SETUP);
	fd = open(self->data_path, O_RDWR | O_CLOEXEC);
	fd2 = open(self->data_path, O_RDONLY);
	if (fd < 0 || fd2 < 0 || lseek(fd2, FD2_POS, SEEK_SET) != FD2_POS)
		_exit(EXIT_SETUP);
	priv = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared = mmap(NULL, psz, PROT_READ, MAP_SHARED, fd, 2 * psz);
	hot = mmap(NULL, HOT_PAGES * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED || hot == MAP_FAILED)
		_exit(EXIT_SETUP);
	__atomic_store_n(&priv[psz], 1, __ATOMIC_RELAXED);
	__atomic_load_n(&shared[0], __ATOMIC_RELAXED);
	for (i = 0; i < HOT_PAGES; i++)
		__atomic_store_n(&hot[i * psz], i + 1, __ATOMIC_RELAXED);
	args.image_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0600);
	if (args.image_fd < 0)
		_exit(EXIT_SETUP);
	me = getpid();
	ret = snapshot_syscall(__NR_snapshot_capture, &args, sizeof(args));
	/*
	 * A restored process runs in the child that restored it. It resumes
	 * with SNAPSHOT_RESUMED, unless the image's registers were mutated:
	 * then it must not pass for a capture or a restore that failed.
	 */
	if (getpid() != me)
		_exit(ret == SNAPSHOT_RESUMED ? EXIT_RESUMED :
						EXIT_RESUMED_OTHER);
	if (ret) {
		fprintf(stderr, "# snapshot_capture: %s (reason %u, fd %d)\n",
			strerror(-ret), r.code, r.fd);
		_exit(ret < 0 && -ret < EXIT_RESUMED ? -ret : EXIT_RETURNED);
	}
	_exit(0);
}

static void make_file(struct __test_metadata *_metadata, const char *path,
		      unsigned long pages, int byte)
{
	char *buf = malloc(pages * psz);
	int fd, err;

	ASSERT_NE(NULL, buf);
	memset(buf, byte, pages * psz);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", path, strerror(errno));
	err = snapshot_write_all(fd, buf, pages * psz, 0);
	ASSERT_EQ(0, err) TH_LOG("write %s: %s", path, strerror(-err));
	close(fd);
	free(buf);
}

/* Capture a child into @path (capture_main()), and check the image. */
static void capture_image(struct __test_metadata *_metadata,
			  struct _test_data_restore *self, const char *path,
			  int alt_flags, struct mimage *m)
{
	int status = 0;
	char *region;
	pid_t pid;
	__u32 i;

	/* Present in the child, but not accessed there: fork made them old. */
	region = mmap(NULL, REGION_PAGES * psz, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, region);
	memset(region, 0xc3, REGION_PAGES * psz);

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid)
		capture_main(self, path, alt_flags);
	ASSERT_EQ(pid, wait_for(pid, &status));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the captured child: wait status %#x", status);
	munmap(region, REGION_PAGES * psz);

	mi_load(_metadata, m, path);
	for (i = 0; i < mi_nr(m, SNAPSHOT_SECTION_FILES); i++)
		if (!strcmp(mi_strings(m) + mi_file(m, i)->path,
			    self->data_path))
			break;
	ASSERT_LT(i, mi_nr(m, SNAPSHOT_SECTION_FILES))
		TH_LOG("%s is not in the image's file table", self->data_path);
	m->data_file = i;
}

FIXTURE_SETUP(restore)
{
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
	snprintf(self->data_path, sizeof(self->data_path),
		 "%s/restore_test.%d.data", self->dir, getpid());
	snprintf(self->image_path, sizeof(self->image_path),
		 "%s/restore_test.%d.image", self->dir, getpid());
	snprintf(self->work_path, sizeof(self->work_path),
		 "%s/restore_test.%d.work", self->dir, getpid());
	make_file(_metadata, self->data_path, DATA_PAGES, 0x5a);
	capture_image(_metadata, self, self->image_path, 0, &self->base);
}

/* In the parent, after the test process is gone. */
FIXTURE_TEARDOWN_PARENT(restore)
{
	if (self->data_path[0])
		unlink(self->data_path);
	if (self->image_path[0])
		unlink(self->image_path);
	if (self->work_path[0])
		unlink(self->work_path);
	if (self->aux_path[0])
		unlink(self->aux_path);
}

typedef void (*mutator_t)(struct mimage *m);

/*
 * Write the image @mutate makes of the captured one to the work file; with
 * @stale, with the wrong size for the mapped file too.
 */
static void craft(struct __test_metadata *_metadata,
		  struct _test_data_restore *self, mutator_t mutate, bool stale)
{
	struct mimage m;
	int err;

	ASSERT_EQ(0, mi_copy(&m, &self->base));
	if (mutate)
		mutate(&m);
	if (stale)
		mi_file(&m, m.data_file)->size += 1;
	ASSERT_EQ(0, m.why[0]) TH_LOG("cannot make the image: %s", m.why);
	mi_fix_csums(&m);
	err = mi_write(&m, self->work_path);
	mi_free(&m);
	ASSERT_EQ(0, err) TH_LOG("write %s: %s", self->work_path,
				 strerror(-err));
}

/* Restore the crafted image, with @c if not NULL. */
static long restore_work(struct __test_metadata *_metadata,
			 struct _test_data_restore *self, struct call *c)
{
	struct call plain = { .open_flags = O_RDONLY };

	if (!c)
		c = &plain;
	c->path = self->work_path;
	return restore_call(_metadata, c);
}

/*
 * The image @mutate makes fails with -@err (with -EOPNOTSUPP: even with a
 * stale file, which would make a valid image fail with -ESTALE).
 */
static void expect_call(struct __test_metadata *_metadata,
			struct _test_data_restore *self, mutator_t mutate,
			struct call *c, int err, const char *what)
{
	long r;

	craft(_metadata, self, mutate, err == EOPNOTSUPP);
	r = restore_work(_metadata, self, c);
	EXPECT_EQ(-err, r)
		TH_LOG("%s: %s, expected -%s", what, outcome_str(r),
		       errno_name(err));
}

static void expect_rejected(struct __test_metadata *_metadata,
			    struct _test_data_restore *self, mutator_t mutate,
			    int err, const char *what)
{
	expect_call(_metadata, self, mutate, NULL, err, what);
}

/*
 * The image @mutate makes passes validation and is restored, and fails with
 * -ESTALE with a stale file, which only the file check sees.
 */
static void expect_accepted(struct __test_metadata *_metadata,
			    struct _test_data_restore *self, mutator_t mutate,
			    struct call *c, const char *what)
{
	long r;

	craft(_metadata, self, mutate, false);
	r = restore_work(_metadata, self, c);
	EXPECT_TRUE(built(r))
		TH_LOG("%s: %s, expected a restore", what, outcome_str(r));
	craft(_metadata, self, mutate, true);
	r = restore_work(_metadata, self, c);
	EXPECT_EQ(-ESTALE, r)
		TH_LOG("%s, with a stale file: %s, expected -ESTALE", what,
		       outcome_str(r));
}

/*
 * BAD_IMAGE(test, err) { body }: the test restores the captured image as
 * the body, a mutator of @m, changes it, and expects -@err.
 * GOOD_IMAGE(test) { body }: ... and expects it to pass validation.
 */
#define BAD_IMAGE(test, err)						\
static void test##_mutate(struct mimage *m);				\
TEST_F(restore, test)							\
{									\
	expect_rejected(_metadata, self, test##_mutate, err, #test);	\
}									\
static void test##_mutate(struct mimage *m)

#define GOOD_IMAGE(test)						\
static void test##_mutate(struct mimage *m);				\
TEST_F(restore, test)							\
{									\
	expect_accepted(_metadata, self, test##_mutate, NULL, #test);	\
}									\
static void test##_mutate(struct mimage *m)

/*
 * A valid image.
 */

static bool same_contents(const char *a, const char *b)
{
	static char x[1 << 16], y[1 << 16];
	int fa = open(a, O_RDONLY | O_CLOEXEC);
	int fb = open(b, O_RDONLY | O_CLOEXEC);
	bool same = fa >= 0 && fb >= 0;
	ssize_t na, nb;

	while (same) {
		na = read(fa, x, sizeof(x));
		nb = read(fb, y, sizeof(y));
		same = na == nb && na >= 0 && !memcmp(x, y, na);
		if (na <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/*
 * The image as captured is restored. The image the test writes back without
 * a change is the captured file byte for byte.
 */
TEST_F(restore, valid_image_restores)
{
	struct call c = { .path = self->image_path, .open_flags = O_RDONLY };
	long r;

	r = restore_call(_metadata, &c);
	EXPECT_TRUE(built(r))
		TH_LOG("the captured image: %s, expected a restore",
		       outcome_str(r));
	craft(_metadata, self, NULL, false);
	EXPECT_TRUE(same_contents(self->image_path, self->work_path))
		TH_LOG("the image written back differs from the captured one");
	expect_accepted(_metadata, self, NULL, NULL, "the captured image");
}

/*
 * Whatever the alternate signal stack of the captured process, its image
 * passes validation. sigaltstack() keeps the mode it was given, SS_DISABLE
 * or SS_ONSTACK, in the flags that snapshot_capture() records, besides
 * SS_AUTODISARM (and a new thread starts with SS_DISABLE).
 */
static void altstack_case(struct __test_metadata *_metadata,
			  struct _test_data_restore *self, int alt_flags)
{
	struct call c = { .open_flags = O_RDONLY };
	struct mimage m;
	long r;
	int err;

	snprintf(self->aux_path, sizeof(self->aux_path),
		 "%s/restore_test.%d.alt", self->dir, getpid());
	capture_image(_metadata, self, self->aux_path, alt_flags, &m);
	c.path = self->aux_path;
	r = restore_call(_metadata, &c);
	EXPECT_TRUE(built(r))
		TH_LOG("sigaltstack() flags %#x (%#x in the image): %s",
		       alt_flags, mi_task(&m)->sas_ss_flags, outcome_str(r));
	mi_file(&m, m.data_file)->size += 1;
	mi_fix_csums(&m);
	err = mi_write(&m, self->aux_path);
	mi_free(&m);
	ASSERT_EQ(0, err) TH_LOG("write: %s", strerror(-err));
	r = restore_call(_metadata, &c);
	EXPECT_EQ(-ESTALE, r)
		TH_LOG("sigaltstack() flags %#x, with a stale file: %s, expected -ESTALE",
		       alt_flags, outcome_str(r));
}

TEST_F(restore, valid_image_altstack_disabled)
{
	altstack_case(_metadata, self, SS_DISABLE);
}

TEST_F(restore, valid_image_altstack_onstack)
{
	altstack_case(_metadata, self, SS_ONSTACK);
}

TEST_F(restore, valid_image_altstack_autodisarm)
{
	altstack_case(_metadata, self, SS_AUTODISARM);
}

/*
 * The header.
 */

BAD_IMAGE(header_bad_magic, ENOEXEC)
{
	mi_hdr(m)->magic ^= 1;
}

BAD_IMAGE(header_empty_file, ENOEXEC)
{
	m->file_size = 0;
}

BAD_IMAGE(header_truncated, ENOEXEC)
{
	m->file_size = sizeof(struct snapshot_image_header) - 1;
}

BAD_IMAGE(header_version_2, EOPNOTSUPP)
{
	mi_hdr(m)->version = 2;
}

BAD_IMAGE(header_version_0, EOPNOTSUPP)
{
	mi_hdr(m)->version = 0;
}

BAD_IMAGE(header_size_96, EOPNOTSUPP)
{
	mi_hdr(m)->header_size = 96;
}

BAD_IMAGE(header_arch_3, EOPNOTSUPP)
{
	mi_hdr(m)->arch = 3;
}

BAD_IMAGE(header_page_size_8192, EOPNOTSUPP)
{
	mi_hdr(m)->page_size = 8192;
}

BAD_IMAGE(header_csum_wrong, EBADMSG)
{
	mi_hdr(m)->time_ns ^= 1;
	m->csums = CSUM_NONE;
}

/* The header's checksum covers the section table. */
BAD_IMAGE(header_csum_covers_table, EBADMSG)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->reserved ^= 1;
	m->csums = CSUM_NONE;
}

BAD_IMAGE(header_no_sections, EINVAL)
{
	mi_hdr(m)->nr_sections = 0;
}

BAD_IMAGE(header_65_sections, EINVAL)
{
	mi_hdr(m)->nr_sections = SNAPSHOT_IMAGE_MAX_SECTIONS + 1;
}

BAD_IMAGE(header_section_size_48, EINVAL)
{
	mi_hdr(m)->section_size = 48;
}

BAD_IMAGE(header_section_size_32, EINVAL)
{
	mi_hdr(m)->section_size = 32;
}

BAD_IMAGE(header_sections_off_misaligned, EINVAL)
{
	mi_hdr(m)->sections_off += 4;
}

BAD_IMAGE(header_sections_off_in_header, EINVAL)
{
	mi_hdr(m)->sections_off = 80;
}

BAD_IMAGE(header_table_past_data_off, EINVAL)
{
	mi_hdr(m)->sections_off = mi_hdr(m)->data_off - 8;
}

BAD_IMAGE(header_data_off_unaligned, EINVAL)
{
	mi_hdr(m)->data_off += 8;
}

BAD_IMAGE(header_data_size_unaligned, EINVAL)
{
	mi_hdr(m)->data_size -= 8;
	mi_hdr(m)->image_size -= 8;
	m->file_size -= 8;
}

BAD_IMAGE(header_ws_size_unaligned, EINVAL)
{
	mi_hdr(m)->ws_size += 8;
}

/* The file is a page longer than the image. */
BAD_IMAGE(header_file_longer, EINVAL)
{
	m->file_size += psz;
}

/* The file ends a page before the data area does. */
BAD_IMAGE(header_file_shorter, EINVAL)
{
	m->file_size -= psz;
}

BAD_IMAGE(header_image_size_wrong, EINVAL)
{
	mi_hdr(m)->image_size += psz;
}

/* image_size is the file's size, but not data_off + data_size. */
BAD_IMAGE(header_image_size_not_data_end, EINVAL)
{
	mi_hdr(m)->image_size += psz;
	m->file_size += psz;
}

BAD_IMAGE(header_data_size_overflows, EINVAL)
{
	mi_hdr(m)->data_size = -(__u64)psz;
}

BAD_IMAGE(header_ws_size_above_data_size, EINVAL)
{
	mi_hdr(m)->ws_size = mi_hdr(m)->data_size + psz;
}

BAD_IMAGE(header_ws_size_without_flag, EINVAL)
{
	if (!mi_hdr(m)->ws_size)
		mi_fail(m, "the captured image has no working set");
	mi_hdr(m)->flags &= ~SNAPSHOT_IMAGE_WORKING_SET;
}

BAD_IMAGE(header_unknown_flag, EINVAL)
{
	mi_hdr(m)->flags |= SNAPSHOT_IMAGE_WORKING_SET << 1;
}

/* Metadata of 64 MiB and a page: the file is that large, sparse. */
BAD_IMAGE(header_meta_too_big, E2BIG)
{
	struct snapshot_image_header *h = mi_hdr(m);

	h->data_off = MAX_META + psz;
	h->image_size = h->data_off + h->data_size;
	m->file_size = h->image_size;
}

/* Metadata of exactly 64 MiB, zeros after the sections, is accepted. */
GOOD_IMAGE(header_meta_at_limit)
{
	mi_resize(m, MAX_META);
}

/*
 * Sections.
 */

BAD_IMAGE(section_csum_wrong, EBADMSG)
{
	mi_vma(m, 0)->pgoff ^= 1;
	m->csums = CSUM_HEADER;
}

BAD_IMAGE(section_csum_field_wrong, EBADMSG)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->csum ^= 1;
	m->csums = CSUM_HEADER;
}

BAD_IMAGE(section_overlaps_section, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_MM)->offset =
		mi_desc(m, SNAPSHOT_SECTION_TASK)->offset;
}

/* A section (of a type the kernel skips) over the header's sections_off. */
BAD_IMAGE(section_overlaps_header, EINVAL)
{
	__u64 zero = 0;
	__u32 i;

	i = mi_add_section(m, UNKNOWN_TYPE, 0, &zero, sizeof(zero), 0, 0);
	mi_desc_at(m, i)->offset =
		offsetof(struct snapshot_image_header, sections_off);
}

/* ... over the first descriptor of the section table. */
BAD_IMAGE(section_overlaps_table, EINVAL)
{
	struct snapshot_image_section zero = { 0 };
	__u32 i;

	i = mi_add_section(m, UNKNOWN_TYPE, 0, &zero, sizeof(zero), 0, 0);
	mi_desc_at(m, i)->offset = mi_hdr(m)->sections_off;
}

BAD_IMAGE(section_past_data_off, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_STRINGS)->offset =
		mi_hdr(m)->data_off - 8;
}

BAD_IMAGE(section_end_overflows, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_STRINGS)->offset = -8ULL;
}

BAD_IMAGE(section_misaligned, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->offset += 4;
}

BAD_IMAGE(section_twice, EINVAL)
{
	struct snapshot_image_task task = *mi_task(m);

	mi_add_section(m, SNAPSHOT_SECTION_TASK, 0, &task, sizeof(task),
		       sizeof(task), 1);
}

/* The registers become a section of a type the kernel skips. */
BAD_IMAGE(section_required_missing, EINVAL)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_REGS);

	d->type = UNKNOWN_TYPE;
	d->flags = 0;
}

BAD_IMAGE(section_unknown_required, EOPNOTSUPP)
{
	__u64 blob = 0x5eed;

	mi_add_section(m, UNKNOWN_TYPE, SNAPSHOT_SECTION_REQUIRED, &blob,
		       sizeof(blob), 0, 0);
}

/* Skipped, whatever its sizes say. */
GOOD_IMAGE(section_unknown_optional)
{
	__u64 blob[3] = { 1, 2, 3 };

	mi_add_section(m, UNKNOWN_TYPE, 0, blob, sizeof(blob), 7, 5);
}

/* A task record shorter than version 0 of it. */
BAD_IMAGE(section_entry_size_below_ver0, EINVAL)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_TASK);

	d->entry_size = SNAPSHOT_IMAGE_TASK_SIZE_VER0 - 8;
	d->size = d->entry_size;
}

BAD_IMAGE(section_size_not_entries, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->nr_entries -= 1;
}

/* Records hold 64-bit fields: their size is a multiple of 8. */
BAD_IMAGE(section_entry_size_unaligned, EINVAL)
{
	unsigned char rec[SNAPSHOT_IMAGE_TASK_SIZE_VER0 + 4] = { 0 };

	memcpy(rec, mi_task(m), SNAPSHOT_IMAGE_TASK_SIZE_VER0);
	mi_set_section(m, SNAPSHOT_SECTION_TASK, rec, sizeof(rec),
		       sizeof(rec), 1);
}

/* A record larger than a page, zeros past the kernel's part. */
BAD_IMAGE(section_entry_size_above_page, EINVAL)
{
	size_t size = psz + 8;
	unsigned char *rec = calloc(1, size);

	if (!rec)
		return mi_fail(m, "out of memory");
	memcpy(rec, mi_task(m), SNAPSHOT_IMAGE_TASK_SIZE_VER0);
	mi_set_section(m, SNAPSHOT_SECTION_TASK, rec, size, size, 1);
	free(rec);
}

BAD_IMAGE(section_task_twice, EINVAL)
{
	struct snapshot_image_task task[2];

	task[0] = *mi_task(m);
	task[1] = task[0];
	mi_set_section(m, SNAPSHOT_SECTION_TASK, task, sizeof(task),
		       sizeof(task[0]), 2);
}

static void empty_section(struct mimage *m, __u32 type)
{
	struct snapshot_image_section *d = mi_desc(m, type);

	d->size = 0;
	d->nr_entries = 0;
}

BAD_IMAGE(section_task_none, EINVAL)
{
	empty_section(m, SNAPSHOT_SECTION_TASK);
}

BAD_IMAGE(section_mm_none, EINVAL)
{
	empty_section(m, SNAPSHOT_SECTION_MM);
}

BAD_IMAGE(section_regs_none, EINVAL)
{
	empty_section(m, SNAPSHOT_SECTION_REGS);
}

BAD_IMAGE(section_vmas_none, EINVAL)
{
	empty_section(m, SNAPSHOT_SECTION_VMAS);
}

BAD_IMAGE(section_rlimits_none, EINVAL)
{
	empty_section(m, SNAPSHOT_SECTION_RLIMITS);
}

BAD_IMAGE(section_sigactions_63, EINVAL)
{
	struct snapshot_image_section *d =
		mi_desc(m, SNAPSHOT_SECTION_SIGACTIONS);

	d->nr_entries = NR_SIGNALS - 1;
	d->size = (__u64)d->nr_entries * d->entry_size;
}

BAD_IMAGE(section_sigactions_65, EINVAL)
{
	struct snapshot_image_sigaction sa[NR_SIGNALS + 1] = { 0 };

	memcpy(sa, mi_body(m, SNAPSHOT_SECTION_SIGACTIONS),
	       NR_SIGNALS * sizeof(sa[0]));
	mi_set_section(m, SNAPSHOT_SECTION_SIGACTIONS, sa, sizeof(sa),
		       sizeof(sa[0]), NR_SIGNALS + 1);
}

BAD_IMAGE(section_rlimits_17, EINVAL)
{
	struct snapshot_image_rlimit rl[NR_RLIMITS + 1] = { 0 };

	memcpy(rl, mi_body(m, SNAPSHOT_SECTION_RLIMITS),
	       NR_RLIMITS * sizeof(rl[0]));
	mi_set_section(m, SNAPSHOT_SECTION_RLIMITS, rl, sizeof(rl),
		       sizeof(rl[0]), NR_RLIMITS + 1);
}

BAD_IMAGE(section_auxv_odd, EINVAL)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_AUXV);

	d->nr_entries -= 1;
	d->size -= sizeof(__u64);
}

BAD_IMAGE(section_auxv_no_at_null, EINVAL)
{
	*mi_auxv(m, mi_nr(m, SNAPSHOT_SECTION_AUXV) - 2) = AT_IGNORE;
}

BAD_IMAGE(section_auxv_one_word, EINVAL)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_AUXV);

	d->nr_entries = 1;
	d->size = sizeof(__u64);
}

/* The VMAs written 8 bytes longer each, @tail in the extra bytes. */
static void longer_vmas(struct mimage *m, __u64 tail)
{
	const size_t old = SNAPSHOT_IMAGE_VMA_SIZE_VER0, size = old + 8;
	__u32 i, n = mi_nr(m, SNAPSHOT_SECTION_VMAS);
	unsigned char *recs = calloc(n, size);

	if (!recs)
		return mi_fail(m, "out of memory");
	for (i = 0; i < n; i++)
		memcpy(recs + i * size, mi_vma(m, i), old);
	memcpy(recs + (n - 1) * size + old, &tail, sizeof(tail));
	mi_set_section(m, SNAPSHOT_SECTION_VMAS, recs, n * size, size, n);
	free(recs);
}

/* Records of a newer writer: the fields the kernel does not know are 0. */
GOOD_IMAGE(section_longer_records)
{
	longer_vmas(m, 0);
}

BAD_IMAGE(section_longer_records_tail_set, EINVAL)
{
	longer_vmas(m, 1ULL << 40);
}

BAD_IMAGE(section_reserved, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->reserved = 1;
}

BAD_IMAGE(section_unknown_flag, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_VMAS)->flags |=
		SNAPSHOT_SECTION_REQUIRED << 1;
}

BAD_IMAGE(section_blob_with_entries, EINVAL)
{
	struct snapshot_image_section *d =
		mi_desc(m, SNAPSHOT_SECTION_STRINGS);

	d->entry_size = 1;
	d->nr_entries = d->size;
}

/*
 * The string table and the task.
 */

BAD_IMAGE(strings_not_nul_terminated, EINVAL)
{
	mi_strings(m)[mi_strings_size(m) - 1] = 'x';
}

BAD_IMAGE(strings_empty, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_STRINGS)->size = 0;
}

BAD_IMAGE(task_cwd_past_strings, EINVAL)
{
	mi_task(m)->cwd = mi_strings_size(m);
}

BAD_IMAGE(task_cwd_relative, EINVAL)
{
	struct snapshot_image_task *t = mi_task(m);

	t->cwd += 1;
	if (mi_strings(m)[t->cwd] == '/')
		mi_fail(m, "the working directory starts with //");
}

BAD_IMAGE(task_exe_past_strings, EINVAL)
{
	struct snapshot_image_task *t = mi_task(m);

	if (t->exe == SNAPSHOT_IMAGE_NONE)
		mi_fail(m, "the image has no executable");
	t->exe = mi_strings_size(m);
}

BAD_IMAGE(task_comm_unterminated, EINVAL)
{
	memset(mi_task(m)->comm, 'x', sizeof(mi_task(m)->comm));
}

BAD_IMAGE(task_reserved, EINVAL)
{
	mi_task(m)->reserved = 1;
}

BAD_IMAGE(task_sas_ss_flags, EINVAL)
{
	mi_task(m)->sas_ss_flags = 1;
}

/*
 * VMAs.
 */

BAD_IMAGE(vma_start_unaligned, EINVAL)
{
	mi_vma(m, 0)->start += 8;
}

BAD_IMAGE(vma_end_unaligned, EINVAL)
{
	mi_vma(m, 0)->end -= 8;
}

BAD_IMAGE(vma_empty, EINVAL)
{
	mi_vma(m, 0)->end = mi_vma(m, 0)->start;
}

BAD_IMAGE(vma_end_before_start, EINVAL)
{
	struct snapshot_image_vma *v = mi_vma(m, 0);
	__u64 end = v->end;

	v->end = v->start;
	v->start = end;
}

/* The last VMA ends a page above TASK_SIZE_MAX. */
BAD_IMAGE(vma_beyond_task_size, EINVAL)
{
	mi_vma(m, mi_nr(m, SNAPSHOT_SECTION_VMAS) - 1)->end =
		task_size_max() + psz;
}

BAD_IMAGE(vma_unsorted, EINVAL)
{
	swap_records(mi_vma(m, 0), mi_vma(m, 1),
		     sizeof(struct snapshot_image_vma));
}

BAD_IMAGE(vma_overlap, EINVAL)
{
	mi_vma(m, 1)->start = mi_vma(m, 0)->end - psz;
}

BAD_IMAGE(vma_bad_prot, EINVAL)
{
	mi_vma(m, 0)->prot |= PROT_EXEC << 1;
}

BAD_IMAGE(vma_unknown_flag, EINVAL)
{
	mi_vma(m, 0)->flags |= SNAPSHOT_VMA_ACCOUNT << 1;
}

BAD_IMAGE(vma_unknown_kind, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_ANON, false);

	mi_vma(m, i)->kind = SNAPSHOT_VMA_VVAR + 1;
}

BAD_IMAGE(vma_reserved, EINVAL)
{
	mi_vma(m, 0)->reserved = 1;
}

BAD_IMAGE(vma_file_bad_index, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_FILE, false);

	mi_vma(m, i)->file = mi_nr(m, SNAPSHOT_SECTION_FILES);
}

BAD_IMAGE(vma_file_index_none, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_FILE, false);

	mi_vma(m, i)->file = SNAPSHOT_IMAGE_NONE;
}

BAD_IMAGE(vma_anon_with_file, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_ANON, false);

	mi_vma(m, i)->file = 0;
}

BAD_IMAGE(vma_file_pgoff_unaligned, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_FILE, false);

	mi_vma(m, i)->pgoff += 8;
}

BAD_IMAGE(vma_file_pgoff_overflows, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_FILE, false);

	mi_vma(m, i)->pgoff = -(__u64)psz;
}

/*
 * Extents.
 */

static struct snapshot_image_extent *last_extent(struct mimage *m)
{
	return mi_ext(m, mi_nr(m, SNAPSHOT_SECTION_EXTENTS) - 1);
}

BAD_IMAGE(extent_zero_length, EINVAL)
{
	mi_ext(m, 0)->len = 0;
}

BAD_IMAGE(extent_addr_unaligned, EINVAL)
{
	mi_ext(m, 0)->addr += 8;
}

BAD_IMAGE(extent_len_unaligned, EINVAL)
{
	mi_ext(m, 0)->len -= 8;
}

BAD_IMAGE(extent_data_off_unaligned, EINVAL)
{
	mi_ext(m, 0)->data_off += 8;
}

BAD_IMAGE(extent_unsorted, EINVAL)
{
	swap_records(mi_ext(m, 0), mi_ext(m, 1),
		     sizeof(struct snapshot_image_extent));
}

BAD_IMAGE(extent_overlap, EINVAL)
{
	mi_ext(m, 1)->addr = mi_ext(m, 0)->addr + mi_ext(m, 0)->len - psz;
}

BAD_IMAGE(extent_addr_overflows, EINVAL)
{
	struct snapshot_image_extent *e = last_extent(m);

	e->addr = -(__u64)psz;
	e->len = 2 * psz;
}

BAD_IMAGE(extent_vma_out_of_range, EINVAL)
{
	mi_ext(m, 0)->vma = mi_nr(m, SNAPSHOT_SECTION_VMAS);
}

/* The extent names a VMA that does not hold it. */
BAD_IMAGE(extent_outside_its_vma, EINVAL)
{
	struct snapshot_image_extent *e = mi_ext(m, 0);

	e->vma = e->vma ? e->vma - 1 : e->vma + 1;
}

BAD_IMAGE(extent_past_vma_end, EINVAL)
{
	struct snapshot_image_extent *e = last_extent(m);

	e->len = mi_vma(m, e->vma)->end - e->addr + psz;
}

static void extent_in(struct mimage *m, __u32 kind, bool shared)
{
	int i = find_vma(m, kind, shared);

	if (i >= 0)
		place_extent(m, mi_vma(m, i)->start, i);
}

BAD_IMAGE(extent_in_vdso, EINVAL)
{
	extent_in(m, SNAPSHOT_VMA_VDSO, false);
}

BAD_IMAGE(extent_in_vvar, EINVAL)
{
	extent_in(m, SNAPSHOT_VMA_VVAR, false);
}

/* A shared file mapping has nothing private to store. */
BAD_IMAGE(extent_in_shared_file, EINVAL)
{
	extent_in(m, SNAPSHOT_VMA_FILE, true);
}

BAD_IMAGE(extent_data_before_area, EINVAL)
{
	mi_ext(m, 0)->data_off = mi_hdr(m)->data_off - psz;
}

BAD_IMAGE(extent_data_past_area, EINVAL)
{
	int i = find_extent(m, false);

	mi_ext(m, i)->data_off = mi_hdr(m)->data_off + mi_hdr(m)->data_size;
}

/* Two extents of the same kind (working set or not) share data. */
BAD_IMAGE(extent_data_shared, EINVAL)
{
	__u32 i, j, n = mi_nr(m, SNAPSHOT_SECTION_EXTENTS);
	__u64 end = mi_hdr(m)->data_off + mi_hdr(m)->data_size;
	struct snapshot_image_extent *a, *b;

	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			a = mi_ext(m, i);
			b = mi_ext(m, j);
			if (i == j || a->flags != b->flags ||
			    a->data_off + b->len > end)
				continue;
			b->data_off = a->data_off;
			return;
		}
	}
	mi_fail(m, "no two extents of the same kind");
}

BAD_IMAGE(extent_ws_data_outside_ws, EINVAL)
{
	struct snapshot_image_header *h = mi_hdr(m);
	int i = find_extent(m, true);
	struct snapshot_image_extent *e = mi_ext(m, i);

	e->data_off = h->data_off + h->data_size - e->len;
	if (e->data_off < h->data_off + h->ws_size)
		mi_fail(m, "the data area has no room outside the working set");
}

BAD_IMAGE(extent_other_data_in_ws, EINVAL)
{
	int i = find_extent(m, false);

	if (!mi_hdr(m)->ws_size)
		mi_fail(m, "the captured image has no working set");
	mi_ext(m, i)->data_off = mi_hdr(m)->data_off;
}

BAD_IMAGE(extent_unknown_flag, EINVAL)
{
	mi_ext(m, 0)->flags |= SNAPSHOT_EXTENT_WORKING_SET << 1;
}

/*
 * File pages of the working set (an optional section).
 */

static struct snapshot_image_file_ws *mi_fws(struct mimage *m, __u32 i)
{
	return mi_rec(m, SNAPSHOT_SECTION_FILE_WS, i);
}

/* The section cut down to its first record, which is returned. */
static struct snapshot_image_file_ws *mi_one_fws(struct mimage *m)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_FILE_WS);

	if (!d || !d->nr_entries) {
		mi_fail(m, "no file working set in the image");
		return (struct snapshot_image_file_ws *)mi_junk;
	}
	d->nr_entries = 1;
	d->size = d->entry_size;
	return mi_fws(m, 0);
}

BAD_IMAGE(file_ws_zero_length, EINVAL)
{
	mi_fws(m, 0)->len = 0;
}

BAD_IMAGE(file_ws_addr_unaligned, EINVAL)
{
	mi_fws(m, 0)->addr += 8;
}

BAD_IMAGE(file_ws_len_unaligned, EINVAL)
{
	mi_fws(m, 0)->len -= 8;
}

BAD_IMAGE(file_ws_unknown_flag, EINVAL)
{
	mi_fws(m, 0)->flags = 1;
}

BAD_IMAGE(file_ws_unsorted, EINVAL)
{
	swap_records(mi_fws(m, 0), mi_fws(m, 1),
		     sizeof(struct snapshot_image_file_ws));
}

BAD_IMAGE(file_ws_overlap, EINVAL)
{
	*mi_fws(m, 1) = *mi_fws(m, 0);
}

BAD_IMAGE(file_ws_vma_out_of_range, EINVAL)
{
	mi_fws(m, 0)->vma = mi_nr(m, SNAPSHOT_SECTION_VMAS);
}

BAD_IMAGE(file_ws_in_anon_vma, EINVAL)
{
	struct snapshot_image_file_ws *w = mi_one_fws(m);
	int i = find_vma(m, SNAPSHOT_VMA_ANON, false);

	if (i < 0)
		return;
	w->vma = i;
	w->addr = mi_vma(m, i)->start;
	w->len = psz;
}

BAD_IMAGE(file_ws_past_vma_end, EINVAL)
{
	struct snapshot_image_file_ws *w = mi_one_fws(m);

	w->addr = mi_vma(m, w->vma)->end - psz;
	w->len = 2 * psz;
}

BAD_IMAGE(file_ws_addr_overflows, EINVAL)
{
	struct snapshot_image_file_ws *w = mi_one_fws(m);

	w->addr = -(__u64)psz;
	w->len = 2 * psz;
}

/* Without the section, the same process, only with more faults. */
GOOD_IMAGE(file_ws_absent)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_FILE_WS);

	if (!d)
		return mi_fail(m, "no file working set section");
	d->type = UNKNOWN_TYPE;
}

GOOD_IMAGE(file_ws_empty)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_FILE_WS);

	if (!d)
		return mi_fail(m, "no file working set section");
	d->nr_entries = 0;
	d->size = 0;
}

/*
 * Files and descriptors.
 */

BAD_IMAGE(file_path_relative, EINVAL)
{
	mi_file(m, m->data_file)->path += 1;
}

BAD_IMAGE(file_path_past_strings, EINVAL)
{
	mi_file(m, m->data_file)->path = mi_strings_size(m);
}

BAD_IMAGE(file_mtime_nsec_too_big, EINVAL)
{
	mi_file(m, m->data_file)->mtime_nsec = 1000000000;
}

BAD_IMAGE(file_reserved, EINVAL)
{
	mi_file(m, m->data_file)->reserved = 1;
}

BAD_IMAGE(fd_unsorted, EINVAL)
{
	swap_records(mi_fd(m, 0), mi_fd(m, 1),
		     sizeof(struct snapshot_image_fd));
}

BAD_IMAGE(fd_duplicate, EINVAL)
{
	mi_fd(m, 1)->fd = mi_fd(m, 0)->fd;
}

BAD_IMAGE(fd_negative, EINVAL)
{
	mi_fd(m, 0)->fd = -1;
}

BAD_IMAGE(fd_unknown_kind, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_FILE);

	mi_fd(m, i)->kind = SNAPSHOT_FD_STDIO + 1;
}

/* A file descriptor above 2 recorded as standard input, output or error. */
BAD_IMAGE(fd_stdio_3, EINVAL)
{
	struct snapshot_image_fd *f = mi_fd(m, find_fd(m, SNAPSHOT_FD_FILE));

	f->kind = SNAPSHOT_FD_STDIO;
	f->file = SNAPSHOT_IMAGE_NONE;
	f->flags = 0;
	f->pos = 0;
}

BAD_IMAGE(fd_stdio_with_file, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_STDIO);

	mi_fd(m, i)->file = 0;
}

BAD_IMAGE(fd_file_bad_index, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_FILE);

	mi_fd(m, i)->file = mi_nr(m, SNAPSHOT_SECTION_FILES);
}

BAD_IMAGE(fd_unknown_fd_flag, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_FILE);

	mi_fd(m, i)->fd_flags |= FD_CLOEXEC << 1;
}

BAD_IMAGE(fd_unknown_open_flag, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_FILE);

	mi_fd(m, i)->flags |= O_CREAT;
}

BAD_IMAGE(fd_negative_pos, EINVAL)
{
	int i = find_fd(m, SNAPSHOT_FD_FILE);

	mi_fd(m, i)->pos = -1;
}

BAD_IMAGE(fd_reserved, EINVAL)
{
	mi_fd(m, 0)->reserved = 1;
}

/*
 * What the image refers to, against the running system: the files.
 */

/* The mapped file is as captured, except for what @change does. */
static void file_case(struct __test_metadata *_metadata,
		      struct _test_data_restore *self, int err, const char *what)
{
	long r;

	craft(_metadata, self, NULL, false);
	r = restore_work(_metadata, self, NULL);
	EXPECT_EQ(-err, r)
		TH_LOG("%s: %s, expected -%s", what, outcome_str(r),
		       errno_name(err));
}

TEST_F(restore, file_mtime_changed)
{
	struct timespec times[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = 1000000000, .tv_nsec = 5 },
	};

	ASSERT_EQ(0, utimensat(AT_FDCWD, self->data_path, times, 0))
		TH_LOG("utimensat: %s", strerror(errno));
	file_case(_metadata, self, ESTALE, "file with another mtime");
}

TEST_F(restore, file_size_changed)
{
	ASSERT_EQ(0, truncate(self->data_path, (DATA_PAGES + 1) * psz))
		TH_LOG("truncate: %s", strerror(errno));
	file_case(_metadata, self, ESTALE, "file with another size");
}

TEST_F(restore, file_removed)
{
	ASSERT_EQ(0, unlink(self->data_path));
	file_case(_metadata, self, ENOENT, "file removed");
}

/* Another file, of the same size and mtime, in its place. */
TEST_F(restore, file_replaced)
{
	struct timespec times[2];
	struct stat st;

	ASSERT_EQ(0, stat(self->data_path, &st));
	snprintf(self->aux_path, sizeof(self->aux_path),
		 "%s/restore_test.%d.new", self->dir, getpid());
	make_file(_metadata, self->aux_path, DATA_PAGES, 0x5a);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	ASSERT_EQ(0, utimensat(AT_FDCWD, self->aux_path, times, 0));
	ASSERT_EQ(0, rename(self->aux_path, self->data_path));
	file_case(_metadata, self, ESTALE, "file replaced");
}

BAD_IMAGE(file_record_dev, ESTALE)
{
	mi_file(m, m->data_file)->dev ^= 1;
}

/*
 * Credentials: the files of an image are reopened with the caller's
 * credentials and permission checks, as open() would reopen them. The
 * caller here is an unprivileged user (nobody, with no capability) that
 * holds the image open: it can restore the image while the data file is
 * readable and writable by all, and gets -EACCES once the file allows it
 * less than the image asks for -- reading and writing (the captured
 * process had it open O_RDWR), or reading (it maps it).
 */
#define NOBODY	65534

static const char *prep_nobody(struct call *c)
{
	(void)c;
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return "cannot become nobody";
	return NULL;
}

static void nobody_case(struct __test_metadata *_metadata,
			struct _test_data_restore *self, mode_t mode,
			long expect, const char *what)
{
	struct call c = { .prep = prep_nobody };
	struct stat st;
	long r;

	if (getuid() != 0)
		SKIP(return, "needs root, to become nobody");
	/* nobody must reach the files and the working directory. */
	ASSERT_EQ(0, stat(self->dir, &st));
	if ((st.st_mode & 0005) != 0005)
		ASSERT_EQ(0, chmod(self->dir, (st.st_mode & 07777) | 0005));
	ASSERT_EQ(0, chmod(self->data_path, mode));
	craft(_metadata, self, NULL, false);
	c.fd = open(self->work_path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, c.fd);
	r = restore_call(_metadata, &c);
	close(c.fd);
	EXPECT_EQ(expect, r)
		TH_LOG("%s: %s, expected %s", what, outcome_str(r),
		       outcome_str(expect));
}

TEST_F(restore, unprivileged_caller)
{
	nobody_case(_metadata, self, 0666, OUT_RESUMED,
		    "nobody, data file rw for all");
}

TEST_F(restore, unprivileged_caller_cannot_write_file)
{
	nobody_case(_metadata, self, 0644, -EACCES,
		    "nobody, data file read-only for others");
}

TEST_F(restore, unprivileged_caller_cannot_read_file)
{
	nobody_case(_metadata, self, 0600, -EACCES,
		    "nobody, data file private to root");
}

BAD_IMAGE(file_record_ino, ESTALE)
{
	mi_file(m, m->data_file)->ino ^= 1;
}

BAD_IMAGE(file_record_mtime, ESTALE)
{
	struct snapshot_image_file *f = mi_file(m, m->data_file);

	f->mtime_nsec = (f->mtime_nsec + 1) % 1000000000;
}

BAD_IMAGE(file_record_type, ESTALE)
{
	struct snapshot_image_file *f = mi_file(m, m->data_file);

	f->mode = (f->mode & ~S_IFMT) | S_IFDIR;
}

/*
 * The extended state: the uncompacted XSAVE format, features this CPU has.
 */

#define XSAVE_HDR		512	/* after the legacy area */
#define XSAVE_XSTATE_BV		(XSAVE_HDR + 0)
#define XSAVE_XCOMP_BV		(XSAVE_HDR + 8)
#define XSAVE_RESERVED		(XSAVE_HDR + 16)

BAD_IMAGE(xsave_compacted, EINVAL)
{
	unsigned char *x = mi_xsave(m);
	__u64 v;

	memcpy(&v, x + XSAVE_XSTATE_BV, sizeof(v));
	v |= 1ULL << 63;
	memcpy(x + XSAVE_XCOMP_BV, &v, sizeof(v));
}

BAD_IMAGE(xsave_header_reserved, EINVAL)
{
	mi_xsave(m)[XSAVE_RESERVED + 47] = 1;
}

/* Only the legacy area: no XSAVE header. */
BAD_IMAGE(xsave_too_small, EINVAL)
{
	mi_desc(m, SNAPSHOT_SECTION_XSAVE)->size = XSAVE_HDR;
}

/* 128 KiB: larger than the XSAVE area of any CPU. */
BAD_IMAGE(xsave_too_big, EINVAL)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_XSAVE);
	const size_t size = 128 << 10;
	unsigned char *x = calloc(1, size);

	if (!x)
		return mi_fail(m, "out of memory");
	memcpy(x, mi_xsave(m), d->size);
	mi_set_section(m, SNAPSHOT_SECTION_XSAVE, x, size, 0, 0);
	free(x);
}

/*
 * The legacy area and the XSAVE header only, x87 and SSE state: well
 * formed, but not this CPU's XSAVE layout, which restore requires.
 */
BAD_IMAGE(xsave_other_layout, EOPNOTSUPP)
{
	struct snapshot_image_section *d = mi_desc(m, SNAPSHOT_SECTION_XSAVE);
	const size_t size = XSAVE_HDR + 64;
	unsigned char *x = calloc(1, size);
	__u64 bv = 3;	/* x87, SSE */

	if (!x)
		return mi_fail(m, "out of memory");
	memcpy(x, mi_xsave(m), size < d->size ? size : d->size);
	memcpy(x + XSAVE_XSTATE_BV, &bv, sizeof(bv));
	memset(x + XSAVE_XCOMP_BV, 0, 56);
	mi_set_section(m, SNAPSHOT_SECTION_XSAVE, x, size, 0, 0);
	free(x);
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

static __u64 missing_feature;	/* a state component not in XCR0 */

static void xsave_feature_mutate(struct mimage *m)
{
	unsigned char *x = mi_xsave(m);
	__u64 v;

	memcpy(&v, x + XSAVE_XSTATE_BV, sizeof(v));
	v |= missing_feature;
	memcpy(x + XSAVE_XSTATE_BV, &v, sizeof(v));
}

TEST_F(restore, xsave_feature_missing)
{
	__u64 enabled = xcr0();
	unsigned int bit;

	if (!enabled)
		SKIP(return, "no XSAVE on this CPU (CPUID.1:ECX.OSXSAVE)");
	for (bit = 2; bit < 63 && enabled & (1ULL << bit); bit++)
		;
	ASSERT_GT(63U, bit)
		TH_LOG("XCR0 %#llx has every feature",
		       (unsigned long long)enabled);
	missing_feature = 1ULL << bit;
	TH_LOG("XCR0 %#llx: state component %u set in xstate_bv",
	       (unsigned long long)enabled, bit);
	expect_rejected(_metadata, self, xsave_feature_mutate, EOPNOTSUPP,
			"a state component the CPU lacks");
}

/*
 * The vDSO: this kernel's, where the image says, the vvar pages below it.
 */

BAD_IMAGE(vdso_resized, EOPNOTSUPP)
{
	int i = find_vma(m, SNAPSHOT_VMA_VDSO, false);
	struct snapshot_image_vma *v = mi_vma(m, i);

	if (v->end - v->start > psz)
		v->end -= psz;
	else if ((__u32)i + 1 < mi_nr(m, SNAPSHOT_SECTION_VMAS) &&
		 mi_vma(m, i + 1)->start < v->end + psz)
		mi_fail(m, "no room to grow the vDSO");
	else
		v->end += psz;
}

BAD_IMAGE(vdso_moved, EOPNOTSUPP)
{
	mi_mm(m)->vdso += psz;
}

BAD_IMAGE(vvar_missing, EOPNOTSUPP)
{
	int i = find_vma(m, SNAPSHOT_VMA_VVAR, false);

	mi_vma(m, i)->kind = SNAPSHOT_VMA_ANON;
}

BAD_IMAGE(vvar_misplaced, EOPNOTSUPP)
{
	int i = find_vma(m, SNAPSHOT_VMA_VVAR, false);
	struct snapshot_image_vma *v = mi_vma(m, i);

	if (v->end - v->start < 2 * psz)
		mi_fail(m, "the vvar area has one page");
	v->start += psz;
}

BAD_IMAGE(vdso_twice, EINVAL)
{
	int i = find_vma(m, SNAPSHOT_VMA_VVAR, false);

	mi_vma(m, i)->kind = SNAPSHOT_VMA_VDSO;
}

/* A process without a vDSO: nothing to check. */
GOOD_IMAGE(vdso_absent)
{
	int i = find_vma(m, SNAPSHOT_VMA_VDSO, false);
	int j = find_vma(m, SNAPSHOT_VMA_VVAR, false);

	mi_vma(m, i)->kind = SNAPSHOT_VMA_ANON;
	mi_vma(m, j)->kind = SNAPSHOT_VMA_ANON;
}

/*
 * Resource limits: sane, and no hard limit raised without the privilege.
 */

BAD_IMAGE(rlimit_cur_above_max, EINVAL)
{
	struct snapshot_image_rlimit *r = mi_rlimit(m, RLIMIT_NOFILE);

	r->cur = 2;
	r->max = 1;
}

static void drop_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return;
	d[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
	d[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
	d[CAP_TO_INDEX(cap)].inheritable &= ~CAP_TO_MASK(cap);
	syscall(SYS_capset, &h, d);
}

static bool has_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	return !syscall(SYS_capget, &h, d) &&
	       d[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

/* Lower the caller's hard limit of open files below the image's, @arg. */
static const char *prep_lower_nofile(struct call *c)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return "getrlimit";
	rl.rlim_max = c->arg - 1;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return "setrlimit";
	return NULL;
}

/* ... and give up CAP_SYS_RESOURCE. */
static const char *prep_lower_nofile_nocap(struct call *c)
{
	const char *why = prep_lower_nofile(c);

	drop_cap(CAP_SYS_RESOURCE);
	if (!why && has_cap(CAP_SYS_RESOURCE))
		why = "cannot drop CAP_SYS_RESOURCE";
	return why;
}

static __u64 image_nofile_max(struct _test_data_restore *self)
{
	return mi_rlimit(&self->base, RLIMIT_NOFILE)->max;
}

TEST_F(restore, rlimit_raised_without_cap)
{
	struct call c = {
		.open_flags = O_RDONLY,
		.prep = prep_lower_nofile_nocap,
		.arg = image_nofile_max(self),
	};

	ASSERT_LT(1ULL, c.arg);
	expect_call(_metadata, self, NULL, &c, EPERM,
		    "RLIMIT_NOFILE above the caller's, no CAP_SYS_RESOURCE");
}

TEST_F(restore, rlimit_raised_with_cap)
{
	struct call c = {
		.open_flags = O_RDONLY,
		.prep = prep_lower_nofile,
		.arg = image_nofile_max(self),
	};

	if (!has_cap(CAP_SYS_RESOURCE))
		SKIP(return, "the test does not have CAP_SYS_RESOURCE");
	ASSERT_LT(1ULL, c.arg);
	expect_accepted(_metadata, self, NULL, &c,
			"RLIMIT_NOFILE above the caller's, CAP_SYS_RESOURCE");
}

static __u64 nr_open;	/* /proc/sys/fs/nr_open */

static void nofile_above_nr_open_mutate(struct mimage *m)
{
	struct snapshot_image_rlimit *r = mi_rlimit(m, RLIMIT_NOFILE);

	r->max = nr_open + 1;
	if (r->cur > r->max)
		r->cur = r->max;
}

/*
 * Not even CAP_SYS_RESOURCE raises RLIMIT_NOFILE above fs.nr_open
 * (setrlimit() fails with -EPERM): a limit the caller could not set.
 */
TEST_F(restore, rlimit_nofile_above_nr_open)
{
	unsigned long long v;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	ASSERT_NE(NULL, f) TH_LOG("/proc/sys/fs/nr_open: %s", strerror(errno));
	ASSERT_EQ(1, fscanf(f, "%llu", &v));
	fclose(f);
	nr_open = v;
	expect_rejected(_metadata, self, nofile_above_nr_open_mutate, EPERM,
			"RLIMIT_NOFILE above fs.nr_open");
}

/*
 * The caller.
 */

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static const char *prep_thread(struct call *c)
{
	pthread_t t;

	(void)c;
	return pthread_create(&t, NULL, sleeper, NULL) ? "pthread_create" :
							 NULL;
}

TEST_F(restore, caller_has_threads)
{
	struct call c = { .open_flags = O_RDONLY, .prep = prep_thread };

	expect_call(_metadata, self, NULL, &c, EBUSY, "a second thread");
}

/*
 * The fd map. Its entries name caller descriptors CALLER_NULL (/dev/null,
 * opened in the child) or CALLER_CLOSED (a descriptor it does not have).
 */

#define CALLER_NULL	(-100)
#define CALLER_CLOSED	(-101)

static const char *prep_fd_map(struct call *c)
{
	int null = open("/dev/null", O_RDONLY), closed;
	__u32 i;

	if (null < 0)
		return "open /dev/null";
	/* High enough that the image does not get it. */
	closed = fcntl(null, F_DUPFD, 900);
	if (closed < 0 || close(closed))
		return "F_DUPFD";
	for (i = 0; i < c->nr_fd_map; i++) {
		if (c->fd_map[i].caller_fd == CALLER_NULL)
			c->fd_map[i].caller_fd = null;
		else if (c->fd_map[i].caller_fd == CALLER_CLOSED)
			c->fd_map[i].caller_fd = closed;
	}
	return NULL;
}

static void fd_map_case(struct __test_metadata *_metadata,
			struct _test_data_restore *self,
			const struct snapshot_fd_map *map, __u32 nr, int err,
			const char *what)
{
	struct call c = {
		.open_flags = O_RDONLY,
		.nr_fd_map = nr,
		.prep = prep_fd_map,
	};

	memcpy(c.fd_map, map, nr * sizeof(*map));
	if (err)
		expect_call(_metadata, self, NULL, &c, err, what);
	else
		expect_accepted(_metadata, self, NULL, &c, what);
}

TEST_F(restore, fd_map_valid)
{
	static const struct snapshot_fd_map map[] = {
		{ .image_fd = 1, .caller_fd = CALLER_NULL },
		{ .image_fd = 7, .caller_fd = CALLER_NULL },
	};

	fd_map_case(_metadata, self, map, 2, 0, "a valid fd map");
}

TEST_F(restore, fd_map_caller_fd_closed)
{
	static const struct snapshot_fd_map map[] = {
		{ .image_fd = 1, .caller_fd = CALLER_NULL },
		{ .image_fd = 2, .caller_fd = CALLER_CLOSED },
	};

	fd_map_case(_metadata, self, map, 2, EBADF, "a closed caller fd");
}

TEST_F(restore, fd_map_image_fd_twice)
{
	static const struct snapshot_fd_map map[] = {
		{ .image_fd = 3, .caller_fd = CALLER_NULL },
		{ .image_fd = 3, .caller_fd = CALLER_NULL },
	};

	fd_map_case(_metadata, self, map, 2, EINVAL, "image fd 3 twice");
}

TEST_F(restore, fd_map_image_fd_negative)
{
	static const struct snapshot_fd_map map[] = {
		{ .image_fd = -1, .caller_fd = CALLER_NULL },
	};

	fd_map_case(_metadata, self, map, 1, EINVAL, "image fd -1");
}

/*
 * The image descriptor.
 */

static void image_fd_case(struct __test_metadata *_metadata,
			  struct _test_data_restore *self, struct call *c,
			  int err, const char *what)
{
	long r;

	craft(_metadata, self, NULL, false);
	r = restore_work(_metadata, self, c);
	EXPECT_EQ(-err, r)
		TH_LOG("%s: %s, expected -%s", what, outcome_str(r),
		       errno_name(err));
}

TEST_F(restore, image_fd_write_only)
{
	struct call c = { .open_flags = O_WRONLY };

	image_fd_case(_metadata, self, &c, EBADF, "image open O_WRONLY");
}

TEST_F(restore, image_fd_o_path)
{
	struct call c = { .open_flags = O_PATH };

	image_fd_case(_metadata, self, &c, EBADF, "image open O_PATH");
}

static const char *prep_pipe(struct call *c)
{
	int p[2];

	if (pipe(p))
		return "pipe";
	c->path = NULL;
	c->fd = p[0];
	return NULL;
}

TEST_F(restore, image_fd_pipe)
{
	struct call c = { .prep = prep_pipe };

	image_fd_case(_metadata, self, &c, EINVAL, "a pipe");
}

static const char *prep_directory(struct call *c)
{
	c->fd = open("/", O_RDONLY | O_DIRECTORY);
	c->path = NULL;
	return c->fd < 0 ? "open /" : NULL;
}

TEST_F(restore, image_fd_directory)
{
	struct call c = { .prep = prep_directory };

	image_fd_case(_metadata, self, &c, EINVAL, "a directory");
}

static const char *prep_no_fd(struct call *c)
{
	c->path = NULL;
	c->fd = -1;
	return NULL;
}

TEST_F(restore, image_fd_minus_one)
{
	struct call c = { .prep = prep_no_fd };

	image_fd_case(_metadata, self, &c, EBADF, "image_fd -1");
}

/*
 * Randomized corruption of the metadata: bit flips, random bytes, fields
 * set to values at the edges, in the header, the section table and the
 * sections; half the images with their checksums recomputed, so that the
 * mutations get past them. Every restore must fail with an error of the
 * documented set -- or, once restore is implemented, may restore an image
 * the mutation left valid. A crash, a success today or another errno is a
 * failure, logged with its mutations and the seed (RESTORE_TEST_SEED sets
 * it).
 *
 * A fork per image costs tens of milliseconds under TCG, so a child tries
 * images one after the other, reporting in a shared struct fuzz_state. A
 * restore that does not return (it succeeded, the child runs on as the
 * restored process; or the child was killed) ends the child: the test
 * records that outcome for the image in flight, and another child goes on.
 */

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

struct fuzz_state {
	__u64 rnd;		/* the generator, for the next image */
	__u64 deadline;		/* CLOCK_MONOTONIC, ns */
	unsigned int runs;	/* images tried */
	unsigned int failures;
	unsigned int others;	/* outcomes that are no errno */
	unsigned int counts[EXIT_RESUMED];	/* by errno */
	bool restores;		/* restore is implemented */
	bool in_flight;		/* an image is being restored */
	bool fixed;		/* its checksums were recomputed */
	char what[512];		/* its mutations, in words */
	char log[FUZZ_LOG_MAX][768];	/* the failures */
};

struct fuzz {
	struct mimage *base;
	unsigned char *meta;	/* the copy being mutated */
	struct fuzz_state *st;
};

static __printf(2, 3) void fuzz_note(struct fuzz *f, const char *fmt, ...)
{
	char *what = f->st->what;
	size_t len = strlen(what), size = sizeof(f->st->what);
	va_list ap;

	if (len + 3 >= size)
		return;
	if (len)
		len += snprintf(what + len, size - len, "; ");
	va_start(ap, fmt);
	vsnprintf(what + len, size - len, fmt, ap);
	va_end(ap);
}

/* An offset in the header, the table or a section, and where it is. */
static __u64 fuzz_offset(struct fuzz *f, char *where, size_t size)
{
	struct snapshot_image_header *h = mi_hdr(f->base);
	struct snapshot_image_section *d;
	__u64 off;

	switch (rnd() % 4) {
	case 0:
		snprintf(where, size, "header");
		return rnd() % sizeof(*h);
	case 1:
		off = rnd() % ((__u64)h->nr_sections * h->section_size);
		snprintf(where, size, "descriptor %llu",
			 (unsigned long long)off / h->section_size);
		return h->sections_off + off;
	}
	d = mi_desc_at(f->base, rnd() % h->nr_sections);
	snprintf(where, size, "section type %u", d->type);
	if (!d->size)
		return rnd() % f->base->used;
	return d->offset + rnd() % d->size;
}

/* A value at the edges, near @old, or at random. */
static __u64 fuzz_value(__u64 old, unsigned int bits)
{
	static const __u64 edges[] = {
		0, 1, 2, 7, 8, 40, 88, 0x7f, 0x80, 0xff, 0x1000, 0x1001,
		0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL,
		1ULL << 47, TASK_SIZE_4L, MAX_META, 1ULL << 63, -1ULL, -8ULL,
		-4096ULL,
	};
	static const __s64 deltas[] = {
		1, -1, 8, -8, 40, -40, 4096, -4096,
	};
	__u64 v;

	switch (rnd() % 4) {
	case 0:
		v = edges[rnd() % ARRAY_SIZE(edges)];
		break;
	case 1:
		v = old + deltas[rnd() % ARRAY_SIZE(deltas)];
		break;
	case 2:
		v = old ^ (1ULL << (rnd() % bits));
		break;
	default:
		v = rnd();
		break;
	}
	return bits == 32 ? (__u32)v : v;
}

static void fuzz_mutate(struct fuzz *f)
{
	char where[32];
	__u64 off = fuzz_offset(f, where, sizeof(where)), old, v;
	unsigned int bit;
	__u32 old32, v32;

	switch (rnd() % 5) {
	case 0:
	case 1:
		bit = rnd() % 8;
		f->meta[off] ^= 1 << bit;
		fuzz_note(f, "%s: flip bit %u at %#llx", where, bit,
			  (unsigned long long)off);
		break;
	case 2:
		old = f->meta[off];
		f->meta[off] = rnd();
		fuzz_note(f, "%s: byte at %#llx %#llx -> %#x", where,
			  (unsigned long long)off, (unsigned long long)old,
			  f->meta[off]);
		break;
	case 3:
		off &= ~3ULL;
		memcpy(&old32, f->meta + off, sizeof(old32));
		v32 = fuzz_value(old32, 32);
		memcpy(f->meta + off, &v32, sizeof(v32));
		fuzz_note(f, "%s: u32 at %#llx %#x -> %#x", where,
			  (unsigned long long)off, old32, v32);
		break;
	default:
		off &= ~7ULL;
		memcpy(&old, f->meta + off, sizeof(old));
		v = fuzz_value(old, 64);
		memcpy(f->meta + off, &v, sizeof(v));
		fuzz_note(f, "%s: u64 at %#llx %#llx -> %#llx", where,
			  (unsigned long long)off, (unsigned long long)old,
			  (unsigned long long)v);
		break;
	}
}

/*
 * The documented errors of a bad image: not an image, not supported, bad
 * checksum, malformed, too large, a referenced file that changed, that
 * cannot be found or looked up (a mutated path can name a regular file as
 * a directory: -ENOTDIR), a limit raised, a descriptor above fs.nr_open.
 */
static bool fuzz_expected(long r, bool restores)
{
	switch (-r) {
	case ENOEXEC:
	case EOPNOTSUPP:
	case EBADMSG:
	case EINVAL:
	case E2BIG:
	case ESTALE:
	case ENOENT:
	case ENOTDIR:
	case EACCES:
	case EPERM:
	case EMFILE:
		return true;
	}
	/* What a restored process does is its own business. */
	return restores && r > 0 &&
	       (r == OUT_RESUMED || r == OUT_RESUMED_OTHER ||
		r & (OUT_SIGNAL | OUT_EXIT));
}

/* The image in flight had the outcome @r. */
static void fuzz_record(struct fuzz_state *st, long r)
{
	if (r < 0 && -r < EXIT_RESUMED)
		st->counts[-r]++;
	else
		st->others++;
	if (!fuzz_expected(r, st->restores) &&
	    st->failures++ < FUZZ_LOG_MAX)
		snprintf(st->log[st->failures - 1], sizeof(st->log[0]),
			 "image %u (checksums %s): %s: %s", st->runs,
			 st->fixed ? "recomputed" : "as mutated", st->what,
			 outcome_str(r));
	st->runs++;
	st->in_flight = false;
}

/* In a child: mutate and restore images until the time is up. */
static __noreturn void fuzz_main(struct fuzz_state *st, struct mimage *base,
				 const char *path)
{
	struct snapshot_restore_args args = { 0 };
	struct fuzz f = { .base = base, .st = st };
	unsigned int i, k;
	int fd;
	long r;

	f.meta = malloc(base->meta_size);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	args.image_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!f.meta || fd < 0 || args.image_fd < 0)
		_exit(EXIT_SETUP);
	rnd_state = st->rnd;
	while (st->runs < FUZZ_MAX && now_ns() < st->deadline) {
		memcpy(f.meta, base->meta, base->meta_size);
		st->what[0] = '\0';
		k = 1 + rnd() % 3;
		for (i = 0; i < k; i++)
			fuzz_mutate(&f);
		st->fixed = rnd() & 1;
		st->rnd = rnd_state;
		if (st->fixed) {
			struct mimage t = *base;

			t.meta = f.meta;
			t.csums = CSUM_ALL;
			mi_fix_csums(&t);
		}
		if (snapshot_write_all(fd, f.meta, base->meta_size, 0))
			_exit(EXIT_SETUP);
		st->in_flight = true;
		r = sys_restore(&args);
		fuzz_record(st, r < 0 ? r : OUT_RETURNED);
	}
	_exit(0);
}

TEST_F_TIMEOUT(restore, random_corruption, 120)
{
	const char *seed_env = getenv("RESTORE_TEST_SEED");
	struct call c = { .open_flags = O_RDONLY };
	__u64 seed, start = now_ns();
	struct fuzz_state *st;
	char line[1024];
	int status = 0;
	unsigned int i;
	size_t len;
	pid_t pid;
	long r;

	seed = seed_env ? strtoull(seed_env, NULL, 0) : now_ns() ^ getpid();
	TH_LOG("seed %#llx", (unsigned long long)seed);
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	st->rnd = seed | 1;
	st->deadline = start + FUZZ_SECONDS * 1000000000ULL;

	craft(_metadata, self, NULL, false);
	c.path = self->work_path;
	r = restore_call(_metadata, &c);
	ASSERT_TRUE(built(r)) TH_LOG("the valid image: %s", outcome_str(r));
	st->restores = r == OUT_RESUMED;

	while (st->runs < FUZZ_MAX && now_ns() < st->deadline) {
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			fuzz_main(st, &self->base, self->work_path);
		ASSERT_EQ(pid, wait_for(pid, &status));
		r = outcome_of(status);
		ASSERT_TRUE(st->in_flight || r == OUT_EXIT)
			TH_LOG("a fuzzing child: %s", outcome_str(r));
		/* The image in flight ended the child. */
		if (st->in_flight)
			fuzz_record(st, r);
	}

	len = snprintf(line, sizeof(line), "%u images in %llu ms:", st->runs,
		       (unsigned long long)(now_ns() - start) / 1000000);
	for (i = 1; i < EXIT_RESUMED; i++)
		if (st->counts[i] && len < sizeof(line))
			len += snprintf(line + len, sizeof(line) - len,
					" %s %u", outcome_str(-(long)i),
					st->counts[i]);
	if (st->others && len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, " other %u",
			 st->others);
	TH_LOG("%s", line);
	for (i = 0; i < st->failures && i < FUZZ_LOG_MAX; i++)
		TH_LOG("%s", st->log[i]);
	EXPECT_EQ(0U, st->failures)
		TH_LOG("%u of %u images had another outcome (seed %#llx)",
		       st->failures, st->runs, (unsigned long long)seed);
	EXPECT_LT(100U, st->runs) TH_LOG("too few images in the time");
	munmap(st, sizeof(*st));
}

/*
 * Leaks: the valid image, its metadata padded to 256 KiB so that a leaked
 * copy of it would show, restored LEAK_RESTORES times, each time in a new
 * child that becomes the restored process and exits; the free memory and
 * the slab must not shrink by more than a quarter of what leaking each copy
 * would cost (KASAN's quarantine holds freed slab objects for a while: the
 * tolerance is generous), and the number of open files of the system, to
 * which each restore adds the files it reopens, must come back to within a
 * few: a leaked reference to any of them would keep thousands open.
 */

/* The system's allocated file handles (fs.file-nr, first field). */
static long nr_files(void)
{
	FILE *f = fopen("/proc/sys/fs/file-nr", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static int read_meminfo(long *free_kb, long *slab_kb)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemFree: %ld kB", free_kb) == 1)
			found |= 1;
		else if (sscanf(line, "Slab: %ld kB", slab_kb) == 1)
			found |= 2;
	}
	fclose(f);
	return found == 3 ? 0 : -ENODATA;
}

static void pad_mutate(struct mimage *m)
{
	mi_resize(m, m->meta_size + LEAK_PAD);
}

TEST_F_TIMEOUT(restore, leak_check, 900)
{
	struct call c = { .open_flags = O_RDONLY };
	long free0, slab0, free1, slab1, limit_kb, r, files0, files1;
	unsigned int i;

	craft(_metadata, self, pad_mutate, false);
	c.path = self->work_path;
	r = restore_call(_metadata, &c);
	ASSERT_TRUE(built(r)) TH_LOG("the padded image: %s", outcome_str(r));
	limit_kb = (long)((self->base.meta_size + LEAK_PAD) / 1024 *
			  LEAK_RESTORES / 4);

	files0 = nr_files();
	ASSERT_LE(0, files0);
	ASSERT_EQ(0, read_meminfo(&free0, &slab0));
	/* One child per restore: each becomes the restored process. */
	for (i = 0; i < LEAK_RESTORES; i++) {
		r = restore_call(_metadata, &c);
		ASSERT_TRUE(built(r))
			TH_LOG("restore %u: %s", i, outcome_str(r));
	}
	ASSERT_EQ(0, read_meminfo(&free1, &slab1));
	TH_LOG("%u restores of %zu bytes of metadata: MemFree %+ld kB, Slab %+ld kB",
	       LEAK_RESTORES, self->base.meta_size + LEAK_PAD, free1 - free0,
	       slab1 - slab0);
	EXPECT_LT(free0 - free1, limit_kb)
		TH_LOG("MemFree fell by %ld kB", free0 - free1);
	EXPECT_LT(slab1 - slab0, limit_kb)
		TH_LOG("Slab grew by %ld kB", slab1 - slab0);
	/* Files are released by the exiting children, asynchronously. */
	for (i = 0; i < 50; i++) {
		files1 = nr_files();
		if (files1 - files0 < 64)
			break;
		usleep(100000);
	}
	TH_LOG("open files: %ld before, %ld after", files0, files1);
	EXPECT_LT(files1 - files0, 64)
		TH_LOG("%ld more files open after %u restores",
		       files1 - files0, LEAK_RESTORES);
}

/*
 * A section table that wraps around the end of the address space: its
 * end, sections_off + nr_sections * section_size computed modulo 2^64,
 * lands before data_off. These come last: a kernel that does not check for
 * the wrap reads the table from before its copy of the metadata, or, with
 * data_off 0, from the ZERO_SIZE_PTR kvmalloc(0) returns (an oops).
 */

/* The table would end at byte 240 of the file. */
BAD_IMAGE(header_sections_off_wraps, EINVAL)
{
	struct snapshot_image_header *h = mi_hdr(m);
	__u64 table = (__u64)h->nr_sections * h->section_size;

	h->sections_off = -table + 240;
}

/* ... at 0, and data_off is 0: the whole file is the data area. */
BAD_IMAGE(header_sections_off_wraps_to_zero, EINVAL)
{
	struct snapshot_image_header *h = mi_hdr(m);
	__u64 table = (__u64)h->nr_sections * h->section_size;

	h->sections_off = -table;
	h->data_off = 0;
	h->data_size = h->image_size;
}

TEST_HARNESS_MAIN
