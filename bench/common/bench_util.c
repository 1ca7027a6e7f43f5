// SPDX-License-Identifier: GPL-2.0
/*
 * bench_util: helpers shared by the benchmark drivers; see bench_util.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define DROP_CACHES	"/proc/sys/vm/drop_caches"

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: error: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(const double *v, unsigned int n)
{
	double s[BENCH_MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

void fmt_ms(char *buf, size_t len, double ms, const char *unit)
{
	if (ms < 1)
		snprintf(buf, len, "%.3f%s", ms, unit);
	else if (ms < 100)
		snprintf(buf, len, "%.1f%s", ms, unit);
	else
		snprintf(buf, len, "%.0f%s", ms, unit);
}

void drop_caches(bool no_drop, const char *hint)
{
	int fd;

	if (no_drop)
		return;
	sync();
	fd = open(DROP_CACHES, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s (%s)", DROP_CACHES, strerror(errno), hint);
	if (write(fd, "3\n", 2) != 2)
		die("%s: %s", DROP_CACHES, strerror(errno));
	close(fd);
}

void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		snprintf(buf, len, "stopped by signal %d", WSTOPSIG(st));
	else
		snprintf(buf, len, "status %#x", st);
}

void json_str(FILE *j, const char *s)
{
	fputc('"', j);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(j, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(j, "\\u%04x", *s);
		else
			fputc(*s, j);
	}
	fputc('"', j);
}
