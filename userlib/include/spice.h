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
 * kernels that do not carry the Spice patches, so the wrappers only enter
 * the kernel after /sys/kernel/snapshot/version has shown that it implements
 * the interface. Everything else reads that directory and nothing more.
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
#define SPICE_VERSION_MINOR	1

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

#ifdef __cplusplus
}
#endif

#endif /* SPICE_H */
