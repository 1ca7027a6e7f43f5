/*
 * Reading /sys/kernel/snapshot: the ABI version and the accepted flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

/*
 * Read the attribute @name of @dir into @buf (SPICE_ATTR_MAX + 1 bytes).
 * Returns the number of bytes read, -ENOSYS if the file does not exist,
 * -EPROTO if it is longer than SPICE_ATTR_MAX bytes, or another -errno.
 * Leaves errno as it found it.
 */
static int read_attr(const char *dir, const char *name,
		     char buf[SPICE_ATTR_MAX + 1])
{
	char path[PATH_MAX];
	int saved_errno = errno;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	ret = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -ENAMETOOLONG;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		ret = errno == ENOENT ? -ENOSYS : -errno;
		goto out;
	}

	/* Read up to one byte more than allowed, to tell if there is more. */
	for (;;) {
		n = read(fd, buf + len, SPICE_ATTR_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SPICE_ATTR_MAX) {
			ret = -EPROTO;
			goto out_close;
		}
	}
	ret = (int)len;

out_close:
	close(fd);
out:
	errno = saved_errno;
	return ret;
}

/* Drop one trailing newline. */
static size_t chomp(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		len--;
	return len;
}

int spice__parse_dec(const char *s, size_t len, int *out)
{
	int val = 0;
	size_t i;

	len = chomp(s, len);
	if (len == 0)
		return -EPROTO;

	for (i = 0; i < len; i++) {
		int digit;

		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		digit = s[i] - '0';
		if (val > (INT_MAX - digit) / 10)
			return -EPROTO;
		val = val * 10 + digit;
	}
	if (val == 0)
		return -EPROTO;

	*out = val;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int spice__parse_hex(const char *s, size_t len, uint64_t *out)
{
	uint64_t val = 0;
	size_t i;

	len = chomp(s, len);
	if (len < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -EPROTO;

	for (i = 2; i < len; i++) {
		int digit = hex_digit(s[i]);

		if (digit < 0)
			return -EPROTO;
		if (val > UINT64_MAX >> 4)
			return -EPROTO;
		val = val << 4 | (uint64_t)digit;
	}

	*out = val;
	return 0;
}

int spice__abi_version_at(const char *dir)
{
	char buf[SPICE_ATTR_MAX + 1];
	int len, ret, version;

	len = read_attr(dir, "version", buf);
	if (len < 0)
		return len;

	ret = spice__parse_dec(buf, (size_t)len, &version);
	if (ret < 0)
		return ret;
	return version;
}

int spice__supported_at(const char *dir)
{
	int version = spice__abi_version_at(dir);

	if (version == -ENOSYS)
		return 0;
	if (version < 0)
		return version;
	return version >= SNAPSHOT_ABI_VERSION;
}

int spice__kernel_flags_at(const char *dir, enum spice_call call,
			   uint64_t *flags)
{
	char buf[SPICE_ATTR_MAX + 1];
	const char *name;
	uint64_t val;
	int len, ret;

	switch (call) {
	case SPICE_CALL_CAPTURE:
		name = "capture_flags";
		break;
	case SPICE_CALL_RESTORE:
		name = "restore_flags";
		break;
	case SPICE_CALL_POPULATE:
		name = "populate_flags";
		break;
	default:
		return -EINVAL;
	}
	if (!flags)
		return -EINVAL;

	len = read_attr(dir, name, buf);
	if (len < 0)
		return len;

	ret = spice__parse_hex(buf, (size_t)len, &val);
	if (ret < 0)
		return ret;

	*flags = val;
	return 0;
}

SPICE_EXPORT int spice_abi_version(void)
{
	return spice__abi_version_at(SPICE_SYSFS_DIR);
}

SPICE_EXPORT int spice_supported(void)
{
	return spice__supported_at(SPICE_SYSFS_DIR);
}

SPICE_EXPORT int spice_kernel_flags(enum spice_call call, uint64_t *flags)
{
	return spice__kernel_flags_at(SPICE_SYSFS_DIR, call, flags);
}
