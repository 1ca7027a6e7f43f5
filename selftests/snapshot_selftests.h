/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the process snapshot selftests.
 *
 * The system call numbers 463-465 belong to snapshot_capture(),
 * snapshot_restore() and mmap_populate_image() only on a kernel that
 * advertises them in /sys/kernel/snapshot/; on any other kernel they may be
 * other system calls. Every test therefore starts with SNAPSHOT_REQUIRE(),
 * which skips the test before anything is called when the directory is
 * missing.
 */
#ifndef __SNAPSHOT_SELFTESTS_H
#define __SNAPSHOT_SELFTESTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/snapshot.h>

/*
 * The harness's __timeout_handler() does not use its ucontext parameter;
 * silence -Wunused-parameter (from -Wextra) for the harness only.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#if !defined(__NR_snapshot_capture) || !defined(__NR_snapshot_restore) || \
	!defined(__NR_mmap_populate_image)
#error "build against the installed Spice uapi headers (HEADERS=...)"
#endif

#define SNAPSHOT_SYSFS_DIR	"/sys/kernel/snapshot"

/*
 * Every flag the uapi header defines, per system call: what the kernel must
 * accept and advertise, no more and no less.
 */
#define TEST_CAPTURE_FLAGS						\
	(SNAPSHOT_CAPTURE_PIDFD | SNAPSHOT_CAPTURE_WORKING_SET)
#define TEST_RESTORE_FLAGS						\
	(SNAPSHOT_RESTORE_SHARE_CACHE | SNAPSHOT_RESTORE_LAZY)
#define TEST_POPULATE_FLAGS						\
	(MMAP_POPULATE_FIXED | MMAP_POPULATE_FIXED_NOREPLACE |		\
	 MMAP_POPULATE_SHARE_CACHE | MMAP_POPULATE_FILL)

/*
 * Why the snapshot interface cannot be tested on this system, or NULL if it
 * can: it is present when /sys/kernel/snapshot is a directory.
 */
static inline const char *snapshot_absent_reason(void)
{
	static char why[128];
	struct stat st;

	if (!stat(SNAPSHOT_SYSFS_DIR, &st)) {
		if (S_ISDIR(st.st_mode))
			return NULL;
		return SNAPSHOT_SYSFS_DIR " is not a directory";
	}
	if (errno == ENOENT) {
		if (stat("/sys/kernel", &st))
			return "sysfs is not mounted on /sys";
		return "kernel without process snapshot support (no "
		       SNAPSHOT_SYSFS_DIR ")";
	}
	snprintf(why, sizeof(why), "cannot stat " SNAPSHOT_SYSFS_DIR ": %s",
		 strerror(errno));
	return why;
}

/* Skip the current test, running @statement, if the interface is absent. */
#define SNAPSHOT_REQUIRE(statement) do {				\
	const char *__why = snapshot_absent_reason();			\
									\
	if (__why)							\
		SKIP(statement, "%s", __why);				\
} while (0)

/* One of the three system calls: the result, or -errno on failure. */
static inline long snapshot_syscall(long nr, const void *args, size_t size)
{
	long ret = syscall(nr, args, size);

	return ret == -1 ? -errno : ret;
}

#endif /* __SNAPSHOT_SELFTESTS_H */
