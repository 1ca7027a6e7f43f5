/*
 * spice_populate(): mmap_populate_image() with its arguments checked first.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* The flags mmap_populate_image() knows, in ABI version 1. */
#define POPULATE_FLAGS	(MMAP_POPULATE_FIXED | MMAP_POPULATE_FIXED_NOREPLACE | \
			 MMAP_POPULATE_SHARE_CACHE | MMAP_POPULATE_FILL)
#define POPULATE_FIXED	(MMAP_POPULATE_FIXED | MMAP_POPULATE_FIXED_NOREPLACE)
#define POPULATE_PROT	(PROT_READ | PROT_WRITE | PROT_EXEC)

/* The kernel returns errors as -4095..-1 (MAX_ERRNO). */
#define SPICE_MAX_ERRNO	4095

/*
 * Page size minus one, or 0 if the page size is not known, which leaves the
 * alignment checks to the kernel. Leaves errno alone.
 */
static uint64_t page_mask(void)
{
	int saved_errno = errno;
	long page = sysconf(_SC_PAGESIZE);

	errno = saved_errno;
	if (page <= 0 || (page & (page - 1)))
		return 0;
	return (uint64_t)page - 1;
}

/*
 * The checks populate_check_extents() makes in the kernel, but for the one
 * against the size of the file: page aligned, not empty, inside the mapping
 * of @len bytes, sorted and not overlapping.
 */
static int check_extents(const struct mmap_populate_extent *ext, uint32_t nr,
			 uint64_t len, uint64_t mask)
{
	uint64_t prev_end = 0, end;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		const struct mmap_populate_extent *e = &ext[i];

		if (e->kind != MMAP_POPULATE_EXTENT_DATA &&
		    e->kind != MMAP_POPULATE_EXTENT_ZERO)
			return -EINVAL;
		if (e->flags & ~(uint32_t)MMAP_POPULATE_EXTENT_WRITTEN)
			return -EINVAL;
		if (!e->len || (e->len & mask) || (e->target_off & mask) ||
		    (e->file_off & mask))
			return -EINVAL;
		if (e->len > UINT64_MAX - e->target_off)
			return -EINVAL;
		end = e->target_off + e->len;
		if (end > len || e->target_off < prev_end)
			return -EINVAL;
		prev_end = end;
	}
	return 0;
}

/*
 * The checks of mmap_populate_image() that need nothing but the arguments,
 * in the order the kernel makes them, so that the first error found is the
 * one it would return.
 */
static int check_args(int fd, const struct mmap_populate_extent *extents,
		      uint32_t nr_extents, uintptr_t addr, size_t len,
		      int prot, uint64_t flags)
{
	uint64_t fixed = flags & POPULATE_FIXED;
	uint64_t mask = page_mask();
	int ret;

	/* populate_check_args() */
	if (flags & ~(uint64_t)POPULATE_FLAGS)
		return -EINVAL;
	if (fixed == POPULATE_FIXED)
		return -EINVAL;
	if ((flags & MMAP_POPULATE_FILL) &&
	    (fixed || (flags & MMAP_POPULATE_SHARE_CACHE) || prot))
		return -EINVAL;
	if (prot & ~POPULATE_PROT)
		return -EINVAL;
	if (!len)
		return -EINVAL;
	if (nr_extents > MMAP_POPULATE_MAX_EXTENTS)
		return -E2BIG;

	/* Fill mode checks the address before it looks at the file. */
	if ((flags & MMAP_POPULATE_FILL) && (addr & mask))
		return -EINVAL;

	/* fget() */
	if (fd < 0)
		return -EBADF;

	/* populate_copy_extents() and populate_check_extents() */
	if (nr_extents && !extents)
		return -EFAULT;
	ret = check_extents(extents, nr_extents, len, mask);
	if (ret)
		return ret;

	/* do_mmap(), last of all, rejects a fixed address off a page. */
	if (fixed && (addr & mask))
		return -EINVAL;
	return 0;
}

int spice__populate_at(const char *dir, int fd,
		       const struct mmap_populate_extent *extents,
		       uint32_t nr_extents, void *addr, size_t len, int prot,
		       uint64_t flags, void **mapped)
{
	struct mmap_populate_args args = {
		.flags = flags,
		.addr = (uintptr_t)addr,
		.len = len,
		.extents = (uintptr_t)extents,
		.nr_extents = nr_extents,
		.extent_size = sizeof(struct mmap_populate_extent),
		.prot = (uint32_t)prot,
		.fd = fd,
	};
	long ret;

	if (!mapped)
		return -EINVAL;
	ret = check_args(fd, extents, nr_extents, (uintptr_t)addr, len, prot,
			 flags);
	if (ret)
		return (int)ret;

	ret = spice__sys_mmap_populate_image_at(dir, &args, sizeof(args));
	if (ret < 0 && ret >= -SPICE_MAX_ERRNO)
		return (int)ret;

	*mapped = (void *)(uintptr_t)ret;
	return 0;
}

SPICE_EXPORT int spice_populate(int fd,
				const struct mmap_populate_extent *extents,
				uint32_t nr_extents, void *addr, size_t len,
				int prot, uint64_t flags, void **mapped)
{
	return spice__populate_at(SPICE_SYSFS_DIR, fd, extents, nr_extents,
				  addr, len, prot, flags, mapped);
}
