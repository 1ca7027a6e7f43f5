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
#include <fcntl.h>
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

/*
 * Small file helpers shared by the tests.
 */

/* pwrite() all @len bytes of @buf at @pos: 0 or -errno. */
static inline int snapshot_write_all(int fd, const void *buf, size_t len,
				     off_t pos)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, pos);
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		p += n;
		len -= n;
		pos += n;
	}
	return 0;
}

/* Write the string @s to the existing file @path: 0 or -errno. */
static inline int snapshot_write_text(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/*
 * Read the file @path into @buf (@size bytes) as a string, without its
 * last newline: 0 or -errno.
 */
static inline int snapshot_read_text(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, buf + len, size - 1 - len);
		if (n > 0)
			len += n;
	} while (n > 0 && len < size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if (len && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	return 0;
}

/*
 * Page contents the tests recognise: word @word of page @page of the
 * pattern of @seed. Seed 0 is all zeroes.
 */
static inline __u64 snapshot_pattern(__u64 seed, unsigned long page,
				     unsigned long word)
{
	if (!seed)
		return 0;
	return seed << 40 | (__u64)page << 12 | word;
}

/* Write pages @first... of the pattern of @seed to the @nr pages at @p. */
static inline void snapshot_pattern_fill(void *p, unsigned long nr,
					 __u64 seed, unsigned long first)
{
	const unsigned long words = getpagesize() / sizeof(__u64);
	__u64 *w = p;
	unsigned long i, j;

	for (i = 0; i < nr; i++)
		for (j = 0; j < words; j++)
			*w++ = snapshot_pattern(seed, first + i, j);
}

#endif /* __SNAPSHOT_SELFTESTS_H */
