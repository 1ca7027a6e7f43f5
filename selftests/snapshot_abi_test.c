// SPDX-License-Identifier: GPL-2.0
/*
 * Discovery of the process snapshot interface: /sys/kernel/snapshot/.
 *
 *   version         SNAPSHOT_ABI_VERSION, in decimal
 *   capture_flags   the SNAPSHOT_CAPTURE_* flags the kernel accepts
 *   restore_flags   the SNAPSHOT_RESTORE_* flags the kernel accepts
 *   populate_flags  the MMAP_POPULATE_* flags the kernel accepts
 *
 * Each file holds one value and a newline; the flag masks are in hex with a
 * "0x" prefix. They must equal what the uapi header the tests are built
 * against defines. The files are read-only (0444): sysfs refuses to open
 * them for writing with EACCES, even for root, because kernfs checks the
 * file mode again at open time (KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK).
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"

FIXTURE(sysfs) {
	char path[128];
};

FIXTURE_VARIANT(sysfs) {
	const char *name;
	bool hex;
	__u64 expected;
};

FIXTURE_VARIANT_ADD(sysfs, version) {
	.name = "version",
	.hex = false,
	.expected = SNAPSHOT_ABI_VERSION,
};

FIXTURE_VARIANT_ADD(sysfs, capture_flags) {
	.name = "capture_flags",
	.hex = true,
	.expected = TEST_CAPTURE_FLAGS,
};

FIXTURE_VARIANT_ADD(sysfs, restore_flags) {
	.name = "restore_flags",
	.hex = true,
	.expected = TEST_RESTORE_FLAGS,
};

FIXTURE_VARIANT_ADD(sysfs, populate_flags) {
	.name = "populate_flags",
	.hex = true,
	.expected = TEST_POPULATE_FLAGS,
};

FIXTURE_SETUP(sysfs)
{
	SNAPSHOT_REQUIRE(return);
	snprintf(self->path, sizeof(self->path), "%s/%s",
		 SNAPSHOT_SYSFS_DIR, variant->name);
}

FIXTURE_TEARDOWN(sysfs)
{
}

/*
 * Parse "<digits>\n" exactly: decimal, or hex after a "0x" prefix. Returns
 * false if @s is anything else.
 */
static bool parse_value(const char *s, bool hex, __u64 *val)
{
	size_t n;

	if (hex) {
		if (strncmp(s, "0x", 2))
			return false;
		s += 2;
	}
	n = strspn(s, hex ? "0123456789abcdefABCDEF" : "0123456789");
	if (!n || strcmp(s + n, "\n"))
		return false;
	errno = 0;
	*val = strtoull(s, NULL, hex ? 16 : 10);
	return !errno;
}

/* @s with newlines and other control characters escaped, for the log. */
static const char *escape(const char *s, char *buf, size_t size)
{
	size_t len = 0;

	for (; *s && len + 5 < size; s++) {
		if (*s == '\n')
			len += snprintf(buf + len, size - len, "\\n");
		else if (iscntrl((unsigned char)*s))
			len += snprintf(buf + len, size - len, "\\x%02x",
					(unsigned char)*s);
		else
			buf[len++] = *s;
	}
	buf[len] = '\0';
	return buf;
}

TEST_F(sysfs, value)
{
	char buf[64], more[16], esc[4 * sizeof(buf)];
	ssize_t len;
	__u64 val;
	int fd;

	fd = open(self->path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", self->path, strerror(errno));
	len = read(fd, buf, sizeof(buf) - 1);
	ASSERT_LT(0, len) TH_LOG("read %s: %s", self->path, strerror(errno));
	buf[len] = '\0';
	/* All of it came in one read. */
	EXPECT_EQ(0, read(fd, more, sizeof(more)));
	close(fd);

	ASSERT_TRUE(parse_value(buf, variant->hex, &val))
		TH_LOG("%s: malformed: \"%s\"", self->path,
		       escape(buf, esc, sizeof(esc)));
	EXPECT_EQ(variant->expected, val)
		TH_LOG("%s: expected %#llx, read %#llx", self->path,
		       (unsigned long long)variant->expected,
		       (unsigned long long)val);
}

TEST_F(sysfs, mode)
{
	struct stat st;

	ASSERT_EQ(0, stat(self->path, &st))
		TH_LOG("stat %s: %s", self->path, strerror(errno));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0444U, st.st_mode & 07777);
}

TEST_F(sysfs, not_writable)
{
	static const int modes[] = { O_WRONLY, O_RDWR };
	struct statvfs sv;
	int expected = EACCES;
	unsigned int i;
	int fd, err;

	/* On a read-only mount the VFS refuses first, with EROFS. */
	ASSERT_EQ(0, statvfs(self->path, &sv));
	if (sv.f_flag & ST_RDONLY)
		expected = EROFS;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		fd = open(self->path, modes[i] | O_CLOEXEC);
		err = errno;
		EXPECT_EQ(-1, fd)
			TH_LOG("%s opened with flags %#x", self->path,
			       modes[i]);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		EXPECT_EQ(expected, err)
			TH_LOG("open %s with flags %#x: %s", self->path,
			       modes[i], strerror(err));
	}
}

TEST_HARNESS_MAIN
