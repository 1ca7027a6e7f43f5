/*
 * libspice - user-space interface to the Spice process snapshot system calls
 * snapshot_capture(), snapshot_restore() and mmap_populate_image().
 *
 * Every function returns a negative errno value on failure; none of them
 * uses errno to report an error, and the raw wrappers leave errno as it was.
 * The library keeps no state: every function may be called from any thread
 * at any time.
 *
 * The system call numbers of this interface collide with unrelated calls on
 * kernels that do not carry the Spice patches, so the wrappers and
 * spice_populate() only enter the kernel after /sys/kernel/snapshot/version
 * has shown that it implements the interface. Everything else reads that
 * directory and nothing more.
 */
#ifndef SPICE_H
#define SPICE_H

#include <stddef.h>
#include <stdint.h>

#include <spice/snapshot.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPICE_VERSION_MAJOR	0
#define SPICE_VERSION_MINOR	2

/* The system call a spice_kernel_flags() query is about. */
enum spice_call {
	SPICE_CALL_CAPTURE,	/* snapshot_capture() */
	SPICE_CALL_RESTORE,	/* snapshot_restore() */
	SPICE_CALL_POPULATE,	/* mmap_populate_image() */
};

/*
 * spice_abi_version - the ABI version the running kernel implements
 *
 * Returns the positive version in /sys/kernel/snapshot/version, -ENOSYS if
 * the kernel does not provide that file, -EPROTO if it does not hold a
 * positive decimal number (optionally followed by a newline), or another
 * negative errno if it cannot be read.
 */
int spice_abi_version(void);

/*
 * spice_supported - whether the running kernel implements the interface
 *
 * Returns 1 if the kernel's ABI version is at least SNAPSHOT_ABI_VERSION,
 * the version of <spice/snapshot.h>, 0 if the kernel lacks the interface or
 * implements an older version, or a negative errno (-EPROTO, or a read
 * error) if the version file exists but cannot be read or parsed. Issues
 * none of the snapshot system calls.
 */
int spice_supported(void);

/*
 * spice_kernel_flags - the flags the running kernel accepts for a call
 * @call:  which system call
 * @flags: receives the mask of the flags that call accepts
 *
 * Reads /sys/kernel/snapshot/{capture,restore,populate}_flags. Returns 0
 * and sets *@flags on success; -EINVAL if @call is not a spice_call or
 * @flags is NULL, -ENOSYS if the kernel lacks the interface, -EPROTO if the
 * file does not hold a 0x-prefixed hexadecimal number (optionally followed
 * by a newline), or another negative errno if it cannot be read. *@flags is
 * left untouched on failure.
 */
int spice_kernel_flags(enum spice_call call, uint64_t *flags);

/*
 * Raw system call wrappers.
 *
 * Each one first checks, as spice_supported() does, that the kernel
 * implements the interface: if it does not they return -ENOSYS without
 * entering the kernel (or the negative errno spice_supported() returned).
 * Otherwise they pass @args and @size to the system call unchanged and
 * return its result, or -errno if it failed. @args is not checked: a NULL
 * @args with a nonzero @size is left to the kernel, which fails with
 * -EFAULT. @size is normally sizeof(*args); see <spice/snapshot.h> for the
 * structures and their flags.
 */

/*
 * spice_sys_snapshot_capture - write an image of a process
 *
 * Returns 0 once the image is written and SNAPSHOT_RESUMED when the caller
 * runs again restored from an image of itself; -errno on failure.
 */
long spice_sys_snapshot_capture(struct snapshot_capture_args *args,
				size_t size);

/*
 * spice_sys_snapshot_restore - replace the caller with the process in an image
 *
 * Does not return on success; returns -errno on failure.
 */
long spice_sys_snapshot_restore(struct snapshot_restore_args *args,
				size_t size);

/*
 * spice_sys_mmap_populate_image - map memory filled from an image file
 *
 * Returns the start address of the mapping on success, -errno on failure.
 */
long spice_sys_mmap_populate_image(struct mmap_populate_args *args,
				   size_t size);

/*
 * spice_populate - map memory filled from an image file (since 0.2)
 * @fd:         the image file, open for reading
 * @extents:    @nr_extents extents, sorted by target_off, not overlapping
 * @nr_extents: number of extents, at most MMAP_POPULATE_MAX_EXTENTS
 * @addr:       where to map; a hint unless a FIXED flag is set, and in fill
 *              mode the start of the range to fill
 * @len:        length of the mapping in bytes
 * @prot:       PROT_READ, PROT_WRITE and PROT_EXEC; 0 in fill mode
 * @flags:      MMAP_POPULATE_* flags; 0 for copy mode
 * @mapped:     receives the start address of the mapping
 *
 * Issues mmap_populate_image() with a struct mmap_populate_args built from
 * the arguments (extent_size is sizeof(struct mmap_populate_extent)), through
 * the same check as spice_sys_mmap_populate_image(): on a kernel without the
 * interface it returns -ENOSYS without entering the kernel.
 *
 * In copy mode (no mode flag) the mapping is new private anonymous memory,
 * filled from the image; ranges no extent covers read as zero.
 * MMAP_POPULATE_FIXED and MMAP_POPULATE_FIXED_NOREPLACE place it at @addr as
 * MAP_FIXED and MAP_FIXED_NOREPLACE do. MMAP_POPULATE_SHARE_CACHE maps the
 * image's page cache copy-on-write instead. MMAP_POPULATE_FILL fills
 * [@addr, @addr + @len) of an existing private mapping instead of creating
 * one; what no extent covers is left alone.
 *
 * The arguments are checked first, in the kernel's order, and the system
 * call is not issued if one of these checks fails; each gives the error the
 * kernel would: -EINVAL for a NULL @mapped, unknown flags,
 * both FIXED flags, MMAP_POPULATE_FILL with a FIXED flag,
 * MMAP_POPULATE_SHARE_CACHE or a nonzero @prot, other @prot bits, a @len of
 * 0, an @addr off a page boundary with a FIXED flag or MMAP_POPULATE_FILL, or
 * an extent with an unknown kind or flag, a len of 0, a target_off, len or
 * file_off off a page boundary, or that ends beyond @len, comes before the
 * end of the previous one or overflows; -E2BIG for more than
 * MMAP_POPULATE_MAX_EXTENTS extents, -EBADF for a negative @fd and -EFAULT
 * for a NULL @extents with a nonzero @nr_extents. The extents are read in
 * the process, so @extents must point to @nr_extents readable extents. The
 * checks that need the file (its type, mode and size) or the address space
 * are left to the kernel.
 *
 * Returns 0 and sets *@mapped on success, or a negative errno: one of the
 * above, a spice_sys_mmap_populate_image() error, or the system call's.
 * *@mapped is left untouched on failure, and errno always.
 */
int spice_populate(int fd, const struct mmap_populate_extent *extents,
		   uint32_t nr_extents, void *addr, size_t len, int prot,
		   uint64_t flags, void **mapped);

#ifdef __cplusplus
}
#endif

#endif /* SPICE_H */
