// SPDX-License-Identifier: GPL-2.0
/*
 * capture_bench: how long snapshot_capture() takes to write an image of a
 * process with a large heap, next to dd writing as many bytes to the same
 * disk. Both end with fsync(), so both pay for the disk, not only for the
 * page cache. Run in the guest; not a test.
 *
 *   capture_bench [--dir DIR] [--size MiB] [--reps N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/snapshot.h>

#ifndef __NR_snapshot_capture
#define __NR_snapshot_capture 463
#endif

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
}

/* Write @size bytes to @path in 1 MiB writes and fsync, as dd conv=fsync. */
static double time_dd(const char *path, size_t size, const char *buf)
{
	size_t done;
	double t0, t;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	t0 = now_ms();
	for (done = 0; done < size; done += 1 << 20) {
		if (write(fd, buf, 1 << 20) != 1 << 20) {
			perror("write");
			exit(1);
		}
	}
	if (fsync(fd)) {
		perror("fsync");
		exit(1);
	}
	t = now_ms() - t0;
	close(fd);
	return t;
}

/* Capture this process (with its @size heap) to @path and fsync. */
static double time_capture(const char *path, off_t *image_size)
{
	struct snapshot_reason reason = { 0 };
	struct snapshot_capture_args args = { 0 };
	double t0, t;
	long ret;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	args.image_fd = fd;
	args.reason = (uintptr_t)&reason;
	t0 = now_ms();
	ret = syscall(__NR_snapshot_capture, &args, sizeof(args));
	if (ret < 0) {
		fprintf(stderr, "snapshot_capture: %s (reason %u, fd %d, addr %#llx)\n",
			strerror(errno), reason.code, reason.fd,
			(unsigned long long)reason.addr);
		exit(1);
	}
	if (fsync(fd)) {
		perror("fsync");
		exit(1);
	}
	t = now_ms() - t0;
	*image_size = lseek(fd, 0, SEEK_END);
	close(fd);
	return t;
}

int main(int argc, char **argv)
{
	const char *dir = "/scratch";
	size_t mib = 256, size, i;
	unsigned int reps = 5, r;
	double dd[64], cap[64];
	char img[4096], ddp[4096];
	off_t image_size = 0;
	char *heap;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < (size_t)argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < (size_t)argc)
			mib = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < (size_t)argc)
			reps = strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--dir DIR] [--size MiB] [--reps N]\n",
				argv[0]);
			return 2;
		}
	}
	if (!reps || reps > 64 || !mib) {
		fprintf(stderr, "capture_bench: bad --reps or --size\n");
		return 2;
	}
	size = mib << 20;
	snprintf(img, sizeof(img), "%s/capture_bench.img", dir);
	snprintf(ddp, sizeof(ddp), "%s/capture_bench.dd", dir);

	/* A heap of non-zero pages: all of it is stored. */
	heap = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < size; i += 8)
		*(uint64_t *)(heap + i) = i * 0x9e3779b97f4a7c15ULL + 1;

	for (r = 0; r < reps; r++) {
		unlink(ddp);
		unlink(img);
		drop_caches();
		dd[r] = time_dd(ddp, size, heap);
		unlink(ddp);
		drop_caches();
		cap[r] = time_capture(img, &image_size);
		unlink(img);
	}
	qsort(dd, reps, sizeof(dd[0]), cmp_double);
	qsort(cap, reps, sizeof(cap[0]), cmp_double);
	printf("capture_bench: %zu MiB heap, image %lld bytes, %u reps, dir %s\n",
	       mib, (long long)image_size, reps, dir);
	printf("%-28s %10s %10s %10s\n", "method", "median ms", "min ms",
	       "MiB/s");
	printf("%-28s %10.1f %10.1f %10.0f\n", "dd 1 MiB writes + fsync",
	       dd[reps / 2], dd[0], mib / (dd[reps / 2] / 1e3));
	printf("%-28s %10.1f %10.1f %10.0f\n", "snapshot_capture + fsync",
	       cap[reps / 2], cap[0],
	       image_size / 1048576.0 / (cap[reps / 2] / 1e3));
	printf("capture / dd = %.2fx (target: at most 2x)\n",
	       cap[reps / 2] / dd[reps / 2]);
	return 0;
}
