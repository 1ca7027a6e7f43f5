/*
 * spice_capture_self() and spice_capture_pid(): snapshot_capture() with its
 * arguments checked first.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef SYS_pidfd_open
# define SYS_pidfd_open	434
#endif

/* The flags the caller may pass; SNAPSHOT_CAPTURE_PIDFD is ours to add. */
#define CAPTURE_FLAGS	SNAPSHOT_CAPTURE_WORKING_SET

static int check_args(int image_fd, uint64_t flags)
{
	if (flags & ~(uint64_t)CAPTURE_FLAGS)
		return -EINVAL;
	if (image_fd < 0)
		return -EBADF;
	return 0;
}

/* Issue snapshot_capture(); 0, SNAPSHOT_RESUMED or -errno. */
static int capture(const char *dir, struct snapshot_capture_args *args)
{
	long ret = spice__sys_snapshot_capture_at(dir, args, sizeof(*args));

	if (ret == 0 || ret == SNAPSHOT_RESUMED || (ret < 0 && ret >= -4095))
		return (int)ret;
	return -EPROTO;		/* not something the call returns */
}

int spice__capture_self_at(const char *dir, int image_fd, uint64_t flags,
			   struct snapshot_reason *reason)
{
	struct snapshot_capture_args args = {
		.flags = flags,
		.image_fd = image_fd,
		.reason = (uintptr_t)reason,
	};
	int ret;

	ret = check_args(image_fd, flags);
	if (ret)
		return ret;
	return capture(dir, &args);
}

int spice__capture_pid_at(const char *dir, pid_t pid, int image_fd,
			  uint64_t flags, struct snapshot_reason *reason)
{
	struct snapshot_capture_args args = {
		.flags = flags | SNAPSHOT_CAPTURE_PIDFD,
		.image_fd = image_fd,
		.reason = (uintptr_t)reason,
	};
	int saved_errno = errno;
	int ret, pidfd;

	ret = check_args(image_fd, flags);
	if (ret)
		return ret;
	if (pid <= 0)
		return -EINVAL;

	/* No pidfd for nothing where the interface is missing. */
	ret = spice__supported_at(dir);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOSYS;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		ret = -errno;
		errno = saved_errno;
		return ret;
	}
	args.pidfd = pidfd;
	ret = capture(dir, &args);
	/* A capture of another process does not resume here. */
	if (ret == SNAPSHOT_RESUMED)
		ret = -EPROTO;
	close(pidfd);
	errno = saved_errno;
	return ret;
}

SPICE_EXPORT int spice_capture_self(int image_fd, uint64_t flags,
				    struct snapshot_reason *reason)
{
	return spice__capture_self_at(SPICE_SYSFS_DIR, image_fd, flags, reason);
}

SPICE_EXPORT int spice_capture_pid(pid_t pid, int image_fd, uint64_t flags,
				   struct snapshot_reason *reason)
{
	return spice__capture_pid_at(SPICE_SYSFS_DIR, pid, image_fd, flags,
				     reason);
}
