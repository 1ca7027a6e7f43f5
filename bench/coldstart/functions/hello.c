// SPDX-License-Identifier: GPL-2.0
/*
 * hello: a C "serverless function" for the cold-start benchmark.
 *
 * Init: builds a 64 MiB open-addressing hash table (4 Mi slots of 16 bytes,
 * 2 Mi keys), each value the end of a chain of 32 mixing rounds, so that
 * initialisation is real work (about half a second natively) and leaves a
 * large heap of data behind.
 *
 * Ready point: if SPICE_CAPTURE is set in the environment, the function
 * stops itself with SIGSTOP once initialised; whoever captures it (the
 * coldstart driver, `spice run`) does so then. A process restored from that
 * image continues right after raise().
 *
 * Requests: one decimal number per line on stdin; one response line per
 * request on stdout, flushed. The response depends on the table: the value
 * of key number N, the number of probes to find it, and a checksum of 1024
 * slots picked from N all over the heap. Exits 0 on end of input.
 *
 * It talks only through stdin and stdout and holds no other descriptor, so
 * it can be captured.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TABLE_BITS	22			/* 4 Mi slots */
#define TABLE_SLOTS	(1UL << TABLE_BITS)
#define TABLE_MASK	(TABLE_SLOTS - 1)
#define NR_KEYS		(TABLE_SLOTS / 2)	/* load factor 0.5 */
#define ROUNDS		32			/* mixing rounds per value */
#define SAMPLES		1024			/* slots a response reads */

struct slot {
	uint64_t key;				/* 0: empty */
	uint64_t val;
};

static struct slot *table;

/* splitmix64's finaliser */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The key of key number @i: never 0. */
static uint64_t key_of(uint64_t i)
{
	return mix64(i) | 1;
}

static void insert(uint64_t key, uint64_t val)
{
	uint64_t h = mix64(key ^ 0x5bd1e995ULL) & TABLE_MASK;

	while (table[h].key)
		h = (h + 1) & TABLE_MASK;
	table[h].key = key;
	table[h].val = val;
}

static const struct slot *lookup(uint64_t key, unsigned int *probes)
{
	uint64_t h = mix64(key ^ 0x5bd1e995ULL) & TABLE_MASK;

	for (*probes = 1; table[h].key; ++*probes) {
		if (table[h].key == key)
			return &table[h];
		h = (h + 1) & TABLE_MASK;
	}
	return NULL;
}

static void init(void)
{
	uint64_t i, v;
	unsigned int r;

	table = mmap(NULL, TABLE_SLOTS * sizeof(*table), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (table == MAP_FAILED) {
		perror("hello: mmap");
		exit(1);
	}
	for (i = 0; i < NR_KEYS; i++) {
		v = i;
		for (r = 0; r < ROUNDS; r++)
			v = mix64(v);
		insert(key_of(i), v);
	}
}

static int serve(const char *line)
{
	uint64_t n, sample = 0, j, s;
	const struct slot *sl;
	unsigned int probes;
	char *end;

	n = strtoull(line, &end, 10);
	if (end == line || (*end && *end != '\n')) {
		printf("error: not a number\n");
		return fflush(stdout);
	}
	sl = lookup(key_of(n % NR_KEYS), &probes);
	if (!sl) {
		/* Every key number below NR_KEYS was inserted. */
		printf("error: key %" PRIu64 " missing\n", n % NR_KEYS);
		return fflush(stdout);
	}
	for (j = 0; j < SAMPLES; j++) {
		s = mix64(n * SAMPLES + j) & TABLE_MASK;
		sample = mix64(sample ^ table[s].key ^ (table[s].val << 1));
	}
	printf("%" PRIu64 " key=%016" PRIx64 " val=%016" PRIx64
	       " probes=%u sample=%016" PRIx64 "\n",
	       n, sl->key, sl->val, probes, sample);
	return fflush(stdout);
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;

	init();
	if (getenv("SPICE_CAPTURE"))
		raise(SIGSTOP);		/* the ready point */
	while (getline(&line, &cap, stdin) > 0) {
		if (serve(line))
			return 1;	/* stdout is gone */
	}
	free(line);
	return 0;
}
