/* The Check tests' temporary directory: see tmpdir.h. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tmpdir.h"

char tmp_dir[PATH_MAX];

void tmp_setup_named(const char *prefix)
{
	const char *tmpdir = getenv("TMPDIR");
	int n;

	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	n = snprintf(tmp_dir, sizeof(tmp_dir), "%s/%s.XXXXXX", tmpdir, prefix);
	if (n < 0 || (size_t)n >= sizeof(tmp_dir) || !mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		abort();
	}
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void tmp_teardown(void)
{
	if (nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror("removing the temporary directory");
}
