// SPDX-License-Identifier: GPL-2.0
/*
 * heap64: the process that the restore benchmark captures (Spice) and dumps
 * (CRIU), then restores again and again.
 *
 *   heap64 [MIB]        (default 64)
 *
 * Init: allocates MIB MiB of anonymous heap in 1 MiB blocks from the brk
 * heap (malloc with the mmap threshold raised above the block size), fills
 * every word with a position-dependent pattern, and computes a checksum of
 * the whole heap, in order (64-bit FNV-1a over the words, so that a page
 * that is missing, zeroed or misplaced changes it). It prints
 * "init CHECKSUM" on stdout, flushed, and stops itself with SIGSTOP: that
 * is its ready point, where it is captured or dumped.
 *
 * Once resumed -- restored -- it takes the time (CLOCK_MONOTONIC, the
 * clock of the whole system, so the driver can compare it with its own),
 * recomputes the checksum of the whole heap, which touches every page of
 * it, takes the time again and prints
 *
 *   ok CHECKSUM RESUMED_NS VERIFIED_NS
 *
 * and exits 0; or "bad GOT WANT" and exits 1 when the heap is not what it
 * was. It holds no descriptor but 0, 1 and 2, and one thread.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BLOCK		(1UL << 20)
#define WORDS		(BLOCK / sizeof(uint64_t))
#define MAX_MIB		4096

static uint64_t *block[MAX_MIB];
static unsigned long nr_blocks;
static uint64_t want;			/* the checksum at the ready point */

static uint64_t pattern(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29);
}

static uint64_t checksum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned long b, w;

	for (b = 0; b < nr_blocks; b++)
		for (w = 0; w < WORDS; w++)
			h = (h ^ block[b][w]) * 0x100000001b3ULL;
	return h;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long b, w, mib = 64;
	int64_t resumed, verified;
	uint64_t got;
	char *end;

	if (argc > 1) {
		mib = strtoul(argv[1], &end, 10);
		if (*end || !mib || mib > MAX_MIB) {
			fprintf(stderr, "usage: heap64 [MIB] (1 to %d)\n", MAX_MIB);
			return 2;
		}
	}
	/* Blocks from the brk heap: below the (no longer dynamic) threshold. */
	if (!mallopt(M_MMAP_THRESHOLD, 2 * BLOCK)) {
		fprintf(stderr, "heap64: mallopt failed\n");
		return 1;
	}
	for (b = 0; b < mib; b++) {
		block[b] = malloc(BLOCK);
		if (!block[b]) {
			fprintf(stderr, "heap64: out of memory after %lu MiB\n", b);
			return 1;
		}
		for (w = 0; w < WORDS; w++)
			block[b][w] = pattern(b * WORDS + w);
	}
	nr_blocks = mib;
	want = checksum();
	printf("init %016" PRIx64 "\n", want);
	fflush(stdout);

	raise(SIGSTOP);

	resumed = now_ns();
	got = checksum();
	verified = now_ns();
	if (got != want) {
		printf("bad %016" PRIx64 " %016" PRIx64 "\n", got, want);
		fflush(stdout);
		return 1;
	}
	printf("ok %016" PRIx64 " %" PRId64 " %" PRId64 "\n", got, resumed,
	       verified);
	fflush(stdout);
	return 0;
}
