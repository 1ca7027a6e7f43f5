// SPDX-License-Identifier: GPL-2.0
/*
 * Argument validation of snapshot_capture(), snapshot_restore() and
 * mmap_populate_image().
 *
 * The three calls take (args, size) like clone3() and openat2(), so the
 * rules for the size, the trailing bytes, the pointer and unknown flags are
 * written once, in the "args" fixture, and run for each call (one variant
 * per system call). The "populate", "capture" and "restore" fixtures test
 * the rules specific to one call.
 *
 * A call with valid arguments gets past validation, and what it returns
 * then depends on the work behind it. Until that work is implemented it is
 * -EOPNOTSUPP: a test expecting a call to be accepted then skips, as it
 * cannot tell "accepted" from "not supported". Once it is implemented:
 *  - snapshot_capture() and snapshot_restore() are only ever given
 *    image_fd = -1 here, and must fail with -EBADF: real captures and
 *    restores are not tested here;
 *  - mmap_populate_image() must succeed; the mapping it returns must be
 *    page aligned, and is unmapped again.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"

/* A newer header may grow the structures, never shrink them. */
static_assert(sizeof(struct snapshot_capture_args) >=
	      SNAPSHOT_CAPTURE_ARGS_SIZE_VER0, "capture args size");
static_assert(sizeof(struct snapshot_restore_args) >=
	      SNAPSHOT_RESTORE_ARGS_SIZE_VER0, "restore args size");
static_assert(sizeof(struct mmap_populate_args) >=
	      MMAP_POPULATE_ARGS_SIZE_VER0, "populate args size");
static_assert(sizeof(struct mmap_populate_extent) >=
	      MMAP_POPULATE_EXTENT_SIZE_VER0, "populate extent size");

/* At least the largest argument structure of the three. */
#define MAX_ARGS_SIZE	64
static_assert(sizeof(struct mmap_populate_args) <= MAX_ARGS_SIZE &&
	      sizeof(struct snapshot_capture_args) <= MAX_ARGS_SIZE &&
	      sizeof(struct snapshot_restore_args) <= MAX_ARGS_SIZE,
	      "MAX_ARGS_SIZE");

enum snapshot_call {
	CALL_CAPTURE,
	CALL_RESTORE,
	CALL_POPULATE,
};

/*
 * Calls that returned something other than -EOPNOTSUPP in this test (each
 * test runs in a new process).
 */
static unsigned int implemented_calls;

/*
 * A call with valid arguments returned @ret. If the call is not implemented
 * yet, skip the test and return false: the test must then return. Else
 * check @ret and return true. @len is the length of the mapping a
 * successful mmap_populate_image() created, to unmap, or 0 to leave it
 * alone.
 */
static bool check_accepted(struct __test_metadata *_metadata,
			   enum snapshot_call call, long ret, size_t len)
{
	if (ret == -EOPNOTSUPP && !implemented_calls)
		SKIP(return false, "not implemented yet: returns EOPNOTSUPP");

	/* Not implemented for some valid arguments but not for others? */
	ASSERT_NE(-EOPNOTSUPP, ret)
		TH_LOG("EOPNOTSUPP after %u calls that were implemented",
		       implemented_calls);
	implemented_calls++;

	switch (call) {
	case CALL_CAPTURE:
	case CALL_RESTORE:
		/* Valid arguments, but image_fd is -1. */
		ASSERT_EQ(-EBADF, ret)
			TH_LOG("expected EBADF, got %ld (%s)", ret,
			       ret < 0 ? strerror(-ret) : "success");
		break;
	case CALL_POPULATE:
		ASSERT_LT(0, ret)
			TH_LOG("failed: %s", strerror(-ret));
		ASSERT_EQ(0, ret % getpagesize());
		if (len)
			ASSERT_EQ(0, munmap((void *)ret, len));
		break;
	}
	return true;
}

/* A memfd with @len bytes of image data. */
static int image_create(struct __test_metadata *_metadata, size_t len)
{
	char data[256];
	size_t done;
	ssize_t n;
	int fd;

	fd = memfd_create("snapshot-image", MFD_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("memfd_create: %s", strerror(errno));
	memset(data, 0x5a, sizeof(data));
	for (done = 0; done < len; done += n) {
		n = write(fd, data, len - done < sizeof(data) ?
				    len - done : sizeof(data));
		ASSERT_LT(0, n) TH_LOG("write: %s", strerror(errno));
	}
	return fd;
}

/*
 * The rules every call follows (copy_struct_from_user() and a flags
 * field), once per call.
 */

FIXTURE(args) {
	long page;
	char *buf;	/* two read-write pages, then ... */
	char *guard;	/* ... a PROT_NONE page */
	int image_fd;	/* one page of image data */
};

FIXTURE_VARIANT(args) {
	enum snapshot_call call;
	long nr;
	size_t size;		/* sizeof the argument structure */
	size_t ver0;		/* smallest size the kernel accepts */
	size_t flags_off;	/* where the flags field is */
	size_t flags_size;
	__u64 flags;		/* every flag the header defines */
	/* Write valid arguments, @size bytes, to @args. */
	void (*fill)(void *args, int image_fd);
};

static void fill_capture(void *args, int image_fd)
{
	struct snapshot_capture_args a = {
		.flags = 0,
		.image_fd = -1,
		.pidfd = 0,
		.reason = 0,
	};

	(void)image_fd;
	memcpy(args, &a, sizeof(a));
}

static void fill_restore(void *args, int image_fd)
{
	struct snapshot_restore_args a = {
		.flags = 0,
		.image_fd = -1,
		.nr_fd_map = 0,
		.fd_map = 0,
	};

	(void)image_fd;
	memcpy(args, &a, sizeof(a));
}

/* One page, no extents: it reads as zero. */
static void fill_populate(void *args, int image_fd)
{
	struct mmap_populate_args a = {
		.flags = 0,
		.addr = 0,
		.len = getpagesize(),
		.extents = 0,
		.nr_extents = 0,
		.extent_size = MMAP_POPULATE_EXTENT_SIZE_VER0,
		.prot = PROT_READ | PROT_WRITE,
		.fd = image_fd,
	};

	memcpy(args, &a, sizeof(a));
}

FIXTURE_VARIANT_ADD(args, capture) {
	.call = CALL_CAPTURE,
	.nr = __NR_snapshot_capture,
	.size = sizeof(struct snapshot_capture_args),
	.ver0 = SNAPSHOT_CAPTURE_ARGS_SIZE_VER0,
	.flags_off = offsetof(struct snapshot_capture_args, flags),
	.flags_size = sizeof(((struct snapshot_capture_args *)0)->flags),
	.flags = TEST_CAPTURE_FLAGS,
	.fill = fill_capture,
};

FIXTURE_VARIANT_ADD(args, restore) {
	.call = CALL_RESTORE,
	.nr = __NR_snapshot_restore,
	.size = sizeof(struct snapshot_restore_args),
	.ver0 = SNAPSHOT_RESTORE_ARGS_SIZE_VER0,
	.flags_off = offsetof(struct snapshot_restore_args, flags),
	.flags_size = sizeof(((struct snapshot_restore_args *)0)->flags),
	.flags = TEST_RESTORE_FLAGS,
	.fill = fill_restore,
};

FIXTURE_VARIANT_ADD(args, populate) {
	.call = CALL_POPULATE,
	.nr = __NR_mmap_populate_image,
	.size = sizeof(struct mmap_populate_args),
	.ver0 = MMAP_POPULATE_ARGS_SIZE_VER0,
	.flags_off = offsetof(struct mmap_populate_args, flags),
	.flags_size = sizeof(((struct mmap_populate_args *)0)->flags),
	.flags = TEST_POPULATE_FLAGS,
	.fill = fill_populate,
};

FIXTURE_SETUP(args)
{
	SNAPSHOT_REQUIRE(return);

	self->page = getpagesize();
	self->buf = mmap(NULL, 3 * self->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	self->guard = self->buf + 2 * self->page;
	ASSERT_EQ(0, mprotect(self->guard, self->page, PROT_NONE));
	self->image_fd = image_create(_metadata, self->page);
}

FIXTURE_TEARDOWN(args)
{
	munmap(self->buf, 3 * self->page);
	close(self->image_fd);
}

/*
 * Clear the two read-write pages and write the valid arguments @off bytes
 * into them. Returns where they are.
 */
static char *put_args(struct _test_data_args *self,
		      const struct _fixture_variant_args *variant, size_t off)
{
	memset(self->buf, 0, 2 * self->page);
	variant->fill(self->buf + off, self->image_fd);
	return self->buf + off;
}

static void set_flags(const struct _fixture_variant_args *variant,
		      char *args, __u64 flags)
{
	__u32 flags32 = flags;

	if (variant->flags_size == sizeof(__u64))
		memcpy(args + variant->flags_off, &flags, sizeof(flags));
	else
		memcpy(args + variant->flags_off, &flags32, sizeof(flags32));
}

static long call(const struct _fixture_variant_args *variant,
		 const void *args, size_t size)
{
	return snapshot_syscall(variant->nr, args, size);
}

/* Valid arguments at their exact size. */
TEST_F(args, valid)
{
	char *p = put_args(self, variant, 0);
	long ret = call(variant, p, variant->size);

	if (!check_accepted(_metadata, variant->call, ret, self->page))
		return;
}

/* A size below *_SIZE_VER0, 0 included, is -EINVAL. */
TEST_F(args, size_too_small)
{
	char *p = put_args(self, variant, 0);
	size_t size;

	for (size = 0; size < variant->ver0; size++) {
		EXPECT_EQ(-EINVAL, call(variant, p, size))
			TH_LOG("size %zu", size);
	}
}

/* A size above a page is -E2BIG, even if the bytes past the fields are 0. */
TEST_F(args, size_too_big)
{
	const size_t sizes[] = {
		self->page + 1, self->page + 8, 2 * self->page, SIZE_MAX,
	};
	char *p = put_args(self, variant, 0);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		EXPECT_EQ(-E2BIG, call(variant, p, sizes[i]))
			TH_LOG("size %zu", sizes[i]);
	}
}

/* A whole page is the largest size: fine if the bytes past the fields are 0. */
TEST_F(args, size_page)
{
	char *p = put_args(self, variant, 0);
	long ret = call(variant, p, self->page);

	if (!check_accepted(_metadata, variant->call, ret, self->page))
		return;
}

/* A larger size with only zero extra bytes is accepted, at any alignment. */
TEST_F(args, zero_tail)
{
	static const size_t offs[] = { 0, 1, 7, 8 };
	static const size_t extra[] = { 1, 8, 13, 64 };
	unsigned int i, j;
	long ret;
	char *p;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		for (j = 0; j < ARRAY_SIZE(extra); j++) {
			p = put_args(self, variant, offs[i]);
			ret = call(variant, p, variant->size + extra[j]);
			if (!check_accepted(_metadata, variant->call, ret,
					    self->page))
				return;
		}
	}
}

/* A non-zero byte anywhere in the extra bytes is -E2BIG, at any alignment. */
TEST_F(args, nonzero_tail)
{
	static const size_t offs[] = { 0, 1, 7, 8 };
	const size_t extra = 64;
	unsigned int i, j;
	char *p;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		for (j = 0; j < extra; j++) {
			p = put_args(self, variant, offs[i]);
			p[variant->size + j] = 1;
			EXPECT_EQ(-E2BIG,
				  call(variant, p, variant->size + extra))
				TH_LOG("offset %zu, byte %zu of the tail",
				       offs[i], (size_t)j);
		}
	}

	/* The very last byte of a whole page. */
	p = put_args(self, variant, 0);
	p[self->page - 1] = 0x80;
	EXPECT_EQ(-E2BIG, call(variant, p, self->page));
}

/* A NULL pointer is -EFAULT. */
TEST_F(args, null_pointer)
{
	const size_t sizes[] = {
		variant->size, variant->size + 8, self->page,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		EXPECT_EQ(-EFAULT, call(variant, NULL, sizes[i]))
			TH_LOG("size %zu", sizes[i]);
	}
}

/* So is a pointer to unmapped, PROT_NONE or kernel memory. */
TEST_F(args, bad_pointer)
{
	const size_t sizes[] = { variant->size, variant->size + 8 };
	void *ptrs[3];
	unsigned int i, j;
	void *hole;

	hole = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole, self->page));

	ptrs[0] = hole;
	ptrs[1] = self->guard;
	ptrs[2] = (void *)0xffffffff81000000UL;
	for (i = 0; i < ARRAY_SIZE(ptrs); i++) {
		for (j = 0; j < ARRAY_SIZE(sizes); j++) {
			EXPECT_EQ(-EFAULT, call(variant, ptrs[i], sizes[j]))
				TH_LOG("pointer %p, size %zu", ptrs[i],
				       sizes[j]);
		}
	}
}

/* A structure that runs into a PROT_NONE page is -EFAULT. */
TEST_F(args, straddle)
{
	const size_t cuts[] = { 8, variant->size / 2, variant->size - 1 };
	char valid[MAX_ARGS_SIZE];
	unsigned int i;
	char *p;

	variant->fill(valid, self->image_fd);
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		/* The first cuts[i] bytes are readable, the rest are not. */
		p = self->guard - cuts[i];
		memcpy(p, valid, cuts[i]);
		EXPECT_EQ(-EFAULT, call(variant, p, variant->size))
			TH_LOG("%zu bytes readable", cuts[i]);
	}
}

/* So are zero extra bytes that run into a PROT_NONE page. */
TEST_F(args, tail_straddle)
{
	static const size_t gaps[] = { 0, 1, 8 };
	unsigned int i;
	size_t off;
	char *p;

	for (i = 0; i < ARRAY_SIZE(gaps); i++) {
		/* gaps[i] zero bytes between the structure and the guard */
		off = 2 * self->page - variant->size - gaps[i];
		p = put_args(self, variant, off);
		EXPECT_EQ(-EFAULT,
			  call(variant, p, variant->size + gaps[i] + 8))
			TH_LOG("%zu readable extra bytes", gaps[i]);
	}
}

/* The same structure ending right at the guard page, at its size, is fine. */
TEST_F(args, end_of_mapping)
{
	char *p = put_args(self, variant, 2 * self->page - variant->size);
	long ret = call(variant, p, variant->size);

	if (!check_accepted(_metadata, variant->call, ret, self->page))
		return;
}

/* Every flag the header does not define is -EINVAL, alone or together. */
TEST_F(args, unknown_flags)
{
	unsigned int bits = variant->flags_size * 8, bit;
	__u64 flag, unknown;
	char *p;

	unknown = bits < 64 ? (1ULL << bits) - 1 : ~0ULL;
	unknown &= ~variant->flags;
	for (bit = 0; bit < bits; bit++) {
		flag = 1ULL << bit;
		if (!(flag & unknown))
			continue;
		p = put_args(self, variant, 0);
		set_flags(variant, p, flag);
		EXPECT_EQ(-EINVAL, call(variant, p, variant->size))
			TH_LOG("flag %#llx", (unsigned long long)flag);
	}

	p = put_args(self, variant, 0);
	set_flags(variant, p, unknown);
	EXPECT_EQ(-EINVAL, call(variant, p, variant->size))
		TH_LOG("flags %#llx", (unsigned long long)unknown);
}

/*
 * mmap_populate_image(): placement, FILL, protection, length and extents.
 */

static long populate(const struct mmap_populate_args *args)
{
	return snapshot_syscall(__NR_mmap_populate_image, args, sizeof(*args));
}

FIXTURE(populate) {
	long page;
	int image_fd;		/* two pages of image data */
	char *map;		/* an existing private mapping, two pages */
	struct mmap_populate_extent *extents;	/* two pages */
	struct mmap_populate_args args;		/* valid arguments */
};

FIXTURE_SETUP(populate)
{
	SNAPSHOT_REQUIRE(return);

	self->page = getpagesize();
	self->image_fd = image_create(_metadata, 2 * self->page);
	self->map = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->extents = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->extents);

	/* Page 0 from page 1 of the image, page 1 zero. */
	self->extents[0] = (struct mmap_populate_extent) {
		.target_off = 0,
		.len = self->page,
		.file_off = self->page,
		.kind = MMAP_POPULATE_EXTENT_DATA,
	};
	self->extents[1] = (struct mmap_populate_extent) {
		.target_off = self->page,
		.len = self->page,
		.kind = MMAP_POPULATE_EXTENT_ZERO,
	};
	self->args = (struct mmap_populate_args) {
		.flags = 0,
		.addr = 0,
		.len = 2 * self->page,
		.extents = (uintptr_t)self->extents,
		.nr_extents = 2,
		.extent_size = MMAP_POPULATE_EXTENT_SIZE_VER0,
		.prot = PROT_READ | PROT_WRITE,
		.fd = self->image_fd,
	};
}

FIXTURE_TEARDOWN(populate)
{
	munmap(self->extents, 2 * self->page);
	munmap(self->map, 2 * self->page);
	close(self->image_fd);
}

/* Make self->args FILL the existing mapping. */
static void fill_existing(struct _test_data_populate *self)
{
	self->args.flags = MMAP_POPULATE_FILL;
	self->args.addr = (uintptr_t)self->map;
	self->args.prot = 0;
}

/* Valid arguments with extents. */
TEST_F(populate, extents)
{
	long ret = populate(&self->args);

	if (!check_accepted(_metadata, CALL_POPULATE, ret, 2 * self->page))
		return;
}

/* An extent_size of a page, with zero bytes past the extent fields. */
TEST_F(populate, extent_size_page)
{
	struct mmap_populate_extent *ext;
	char *wide;
	long ret;

	wide = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, wide);
	for (ext = self->extents; ext < self->extents + 2; ext++)
		memcpy(wide + (ext - self->extents) * self->page, ext,
		       sizeof(*ext));
	self->args.extents = (uintptr_t)wide;
	self->args.extent_size = self->page;
	ret = populate(&self->args);
	if (!check_accepted(_metadata, CALL_POPULATE, ret, 2 * self->page))
		return;
}

TEST_F(populate, prot_valid)
{
	static const __u32 prots[] = {
		PROT_READ, PROT_READ | PROT_EXEC,
		PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	unsigned int i;
	long ret;

	for (i = 0; i < ARRAY_SIZE(prots); i++) {
		self->args.prot = prots[i];
		ret = populate(&self->args);
		if (!check_accepted(_metadata, CALL_POPULATE, ret,
				    2 * self->page))
			return;
	}
}

TEST_F(populate, fixed)
{
	long ret;

	self->args.flags = MMAP_POPULATE_FIXED;
	self->args.addr = (uintptr_t)self->map;
	ret = populate(&self->args);
	/* It replaces self->map, which the teardown unmaps. */
	if (!check_accepted(_metadata, CALL_POPULATE, ret, 0))
		return;
	ASSERT_EQ((long)self->map, ret);
}

TEST_F(populate, fixed_noreplace)
{
	char *free_range;
	long ret;

	free_range = mmap(NULL, 2 * self->page, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, free_range);
	ASSERT_EQ(0, munmap(free_range, 2 * self->page));

	self->args.flags = MMAP_POPULATE_FIXED_NOREPLACE;
	self->args.addr = (uintptr_t)free_range;
	ret = populate(&self->args);
	if (!check_accepted(_metadata, CALL_POPULATE, ret, 0))
		return;
	ASSERT_EQ((long)free_range, ret);
	ASSERT_EQ(0, munmap(free_range, 2 * self->page));
}

TEST_F(populate, share_cache)
{
	long ret;

	self->args.flags = MMAP_POPULATE_SHARE_CACHE;
	ret = populate(&self->args);
	if (!check_accepted(_metadata, CALL_POPULATE, ret, 2 * self->page))
		return;
}

TEST_F(populate, fill)
{
	long ret;

	fill_existing(self);
	ret = populate(&self->args);
	/* It fills self->map, which the teardown unmaps. */
	if (!check_accepted(_metadata, CALL_POPULATE, ret, 0))
		return;
	ASSERT_EQ((long)self->map, ret);
}

/* FIXED and FIXED_NOREPLACE contradict each other. */
TEST_F(populate, fixed_and_noreplace)
{
	self->args.flags = MMAP_POPULATE_FIXED | MMAP_POPULATE_FIXED_NOREPLACE;
	self->args.addr = (uintptr_t)self->map;
	EXPECT_EQ(-EINVAL, populate(&self->args));
}

/* FILL takes no placement flag, no SHARE_CACHE and no protection. */
TEST_F(populate, fill_with_flags)
{
	static const __u64 flags[] = {
		MMAP_POPULATE_FIXED,
		MMAP_POPULATE_FIXED_NOREPLACE,
		MMAP_POPULATE_FIXED | MMAP_POPULATE_FIXED_NOREPLACE,
		MMAP_POPULATE_SHARE_CACHE,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		fill_existing(self);
		self->args.flags |= flags[i];
		EXPECT_EQ(-EINVAL, populate(&self->args))
			TH_LOG("FILL | %#llx", (unsigned long long)flags[i]);
	}
}

TEST_F(populate, fill_with_prot)
{
	static const __u32 prots[] = {
		PROT_READ, PROT_WRITE, PROT_EXEC,
		PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(prots); i++) {
		fill_existing(self);
		self->args.prot = prots[i];
		EXPECT_EQ(-EINVAL, populate(&self->args))
			TH_LOG("prot %#x", prots[i]);
	}
}

/* Protection bits other than PROT_READ, PROT_WRITE and PROT_EXEC. */
TEST_F(populate, prot_unknown)
{
	const __u32 known = PROT_READ | PROT_WRITE | PROT_EXEC;
	unsigned int bit;

	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & known)
			continue;
		self->args.prot = PROT_READ | (1U << bit);
		EXPECT_EQ(-EINVAL, populate(&self->args))
			TH_LOG("prot %#x", self->args.prot);
	}
}

TEST_F(populate, len_zero)
{
	self->args.len = 0;
	EXPECT_EQ(-EINVAL, populate(&self->args));

	fill_existing(self);
	self->args.len = 0;
	EXPECT_EQ(-EINVAL, populate(&self->args)) TH_LOG("FILL");
}

TEST_F(populate, too_many_extents)
{
	static const __u32 nrs[] = {
		MMAP_POPULATE_MAX_EXTENTS + 1, UINT32_MAX,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		self->args.nr_extents = nrs[i];
		EXPECT_EQ(-E2BIG, populate(&self->args))
			TH_LOG("nr_extents %u", nrs[i]);
	}
}

TEST_F(populate, extent_size_too_small)
{
	static const __u32 sizes[] = {
		0, 1, MMAP_POPULATE_EXTENT_SIZE_VER0 - 1,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		self->args.extent_size = sizes[i];
		EXPECT_EQ(-EINVAL, populate(&self->args))
			TH_LOG("extent_size %u", sizes[i]);
	}
}

TEST_F(populate, extent_size_too_big)
{
	const __u32 sizes[] = { self->page + 1, 2 * self->page, UINT32_MAX };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		self->args.extent_size = sizes[i];
		EXPECT_EQ(-E2BIG, populate(&self->args))
			TH_LOG("extent_size %u", sizes[i]);
	}
}

/*
 * snapshot_capture(): @pidfd.
 */

static long capture(const struct snapshot_capture_args *args)
{
	return snapshot_syscall(__NR_snapshot_capture, args, sizeof(*args));
}

#define REASON_UNSET	0xffffffffU

FIXTURE(capture) {
	struct snapshot_reason reason;
	struct snapshot_capture_args args;	/* valid, image_fd -1 */
};

FIXTURE_SETUP(capture)
{
	SNAPSHOT_REQUIRE(return);

	self->reason = (struct snapshot_reason) {
		.code = REASON_UNSET,
		.fd = -2,
		.addr = ~0ULL,
	};
	self->args = (struct snapshot_capture_args) {
		.flags = 0,
		.image_fd = -1,
		.pidfd = 0,
		.reason = (uintptr_t)&self->reason,
	};
}

FIXTURE_TEARDOWN(capture)
{
}

/*
 * Valid arguments, with and without the flags that need no pidfd. The
 * kernel must reject image_fd = -1 with -EBADF before it looks at the
 * process: -EOPNOTSUPP with a reason filled in is a failure, only a plain
 * -EOPNOTSUPP means "not implemented".
 */
TEST_F(capture, valid)
{
	static const __u64 flags[] = { 0, SNAPSHOT_CAPTURE_WORKING_SET };
	unsigned int i;
	long ret;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		self->args.flags = flags[i];
		ret = capture(&self->args);
		ASSERT_EQ(REASON_UNSET, self->reason.code)
			TH_LOG("refused, reason %u, fd %d, addr %#llx",
			       self->reason.code, self->reason.fd,
			       (unsigned long long)self->reason.addr);
		if (!check_accepted(_metadata, CALL_CAPTURE, ret, 0))
			return;
	}
}

/* @pidfd must be 0 without SNAPSHOT_CAPTURE_PIDFD. */
TEST_F(capture, pidfd_without_flag)
{
	static const __u64 flags[] = { 0, SNAPSHOT_CAPTURE_WORKING_SET };
	static const __s32 pidfds[] = { 1, 3, -1, INT_MAX, INT_MIN };
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		for (j = 0; j < ARRAY_SIZE(pidfds); j++) {
			self->args.flags = flags[i];
			self->args.pidfd = pidfds[j];
			EXPECT_EQ(-EINVAL, capture(&self->args))
				TH_LOG("flags %#llx, pidfd %d",
				       (unsigned long long)flags[i],
				       pidfds[j]);
		}
	}
}

/*
 * snapshot_restore(): the fd map.
 */

static long restore(const struct snapshot_restore_args *args)
{
	return snapshot_syscall(__NR_snapshot_restore, args, sizeof(*args));
}

FIXTURE(restore) {
	int caller_fd;
	struct snapshot_fd_map *fd_map;	/* SNAPSHOT_RESTORE_MAX_FD_MAP */
	size_t fd_map_size;
	struct snapshot_restore_args args;	/* valid, image_fd -1 */
};

FIXTURE_SETUP(restore)
{
	unsigned int i;

	SNAPSHOT_REQUIRE(return);

	/* Any open file will do as the fd to install. */
	self->caller_fd = image_create(_metadata, 0);
	self->fd_map_size = SNAPSHOT_RESTORE_MAX_FD_MAP *
			    sizeof(*self->fd_map);
	self->fd_map = mmap(NULL, self->fd_map_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->fd_map);
	for (i = 0; i < SNAPSHOT_RESTORE_MAX_FD_MAP; i++) {
		self->fd_map[i].image_fd = i;
		self->fd_map[i].caller_fd = self->caller_fd;
	}
	self->args = (struct snapshot_restore_args) {
		.flags = 0,
		.image_fd = -1,
		.nr_fd_map = 0,
		.fd_map = 0,
	};
}

FIXTURE_TEARDOWN(restore)
{
	munmap(self->fd_map, self->fd_map_size);
	close(self->caller_fd);
}

TEST_F(restore, valid_flags)
{
	static const __u64 flags[] = {
		SNAPSHOT_RESTORE_SHARE_CACHE,
		SNAPSHOT_RESTORE_LAZY,
		SNAPSHOT_RESTORE_SHARE_CACHE | SNAPSHOT_RESTORE_LAZY,
	};
	unsigned int i;
	long ret;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		self->args.flags = flags[i];
		ret = restore(&self->args);
		if (!check_accepted(_metadata, CALL_RESTORE, ret, 0))
			return;
	}
}

/* Fd maps of 1 and of SNAPSHOT_RESTORE_MAX_FD_MAP entries. */
TEST_F(restore, valid_fd_map)
{
	static const __u32 nrs[] = { 1, SNAPSHOT_RESTORE_MAX_FD_MAP };
	unsigned int i;
	long ret;

	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		self->args.nr_fd_map = nrs[i];
		self->args.fd_map = (uintptr_t)self->fd_map;
		ret = restore(&self->args);
		if (!check_accepted(_metadata, CALL_RESTORE, ret, 0))
			return;
	}
}

TEST_F(restore, too_many_fd_maps)
{
	static const __u32 nrs[] = {
		SNAPSHOT_RESTORE_MAX_FD_MAP + 1, UINT32_MAX,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		self->args.nr_fd_map = nrs[i];
		self->args.fd_map = (uintptr_t)self->fd_map;
		EXPECT_EQ(-E2BIG, restore(&self->args))
			TH_LOG("nr_fd_map %u", nrs[i]);
	}
}

/* nr_fd_map and fd_map are both set or both 0. */
TEST_F(restore, fd_map_half_set)
{
	self->args.nr_fd_map = 0;
	self->args.fd_map = (uintptr_t)self->fd_map;
	EXPECT_EQ(-EINVAL, restore(&self->args)) TH_LOG("fd_map only");

	self->args.nr_fd_map = 1;
	self->args.fd_map = 0;
	EXPECT_EQ(-EINVAL, restore(&self->args)) TH_LOG("nr_fd_map 1 only");

	self->args.nr_fd_map = SNAPSHOT_RESTORE_MAX_FD_MAP;
	self->args.fd_map = 0;
	EXPECT_EQ(-EINVAL, restore(&self->args))
		TH_LOG("nr_fd_map max only");
}

TEST_HARNESS_MAIN
