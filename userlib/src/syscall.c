/*
 * Raw wrappers for snapshot_capture(), snapshot_restore() and
 * mmap_populate_image().
 */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/*
 * The numbers come from the Spice kernel's installed headers when the build
 * uses them. Without them, fall back to the numbers the Spice patches give
 * the calls on x86_64, the only architecture they are defined for.
 */
#if !defined(__NR_snapshot_capture) || !defined(__NR_snapshot_restore) || \
	!defined(__NR_mmap_populate_image)
# if defined(__x86_64__) && !defined(__ILP32__)
#  ifndef __NR_snapshot_capture
#   define __NR_snapshot_capture	463
#  endif
#  ifndef __NR_snapshot_restore
#   define __NR_snapshot_restore	464
#  endif
#  ifndef __NR_mmap_populate_image
#   define __NR_mmap_populate_image	465
#  endif
# else
#  error "the Spice system calls are only defined for x86_64"
# endif
#endif

/*
 * Issue system call @nr with @args and @size if the kernel whose sysfs
 * directory is @dir implements the interface. Returns its result or -errno,
 * and leaves errno as it found it.
 */
static long spice_syscall(const char *dir, long nr, void *args, size_t size)
{
	int saved_errno = errno;
	long ret;

	ret = spice__supported_at(dir);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOSYS;

	ret = syscall(nr, args, size);
	if (ret == -1)
		ret = -errno;

	errno = saved_errno;
	return ret;
}

long spice__sys_snapshot_capture_at(const char *dir,
				    struct snapshot_capture_args *args,
				    size_t size)
{
	return spice_syscall(dir, __NR_snapshot_capture, args, size);
}

long spice__sys_snapshot_restore_at(const char *dir,
				    struct snapshot_restore_args *args,
				    size_t size)
{
	return spice_syscall(dir, __NR_snapshot_restore, args, size);
}

long spice__sys_mmap_populate_image_at(const char *dir,
				       struct mmap_populate_args *args,
				       size_t size)
{
	return spice_syscall(dir, __NR_mmap_populate_image, args, size);
}

long spice__sys_snapshot_restore_raw(struct snapshot_restore_args *args,
				     size_t size)
{
	long ret = syscall(__NR_snapshot_restore, args, size);

	return ret == -1 ? -errno : ret;
}

SPICE_EXPORT long spice_sys_snapshot_capture(struct snapshot_capture_args *args,
					     size_t size)
{
	return spice__sys_snapshot_capture_at(SPICE_SYSFS_DIR, args, size);
}

SPICE_EXPORT long spice_sys_snapshot_restore(struct snapshot_restore_args *args,
					     size_t size)
{
	return spice__sys_snapshot_restore_at(SPICE_SYSFS_DIR, args, size);
}

SPICE_EXPORT long spice_sys_mmap_populate_image(struct mmap_populate_args *args,
						size_t size)
{
	return spice__sys_mmap_populate_image_at(SPICE_SYSFS_DIR, args, size);
}
