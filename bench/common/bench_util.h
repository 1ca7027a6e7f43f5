/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench_util: helpers shared by the benchmark drivers (bench/coldstart and
 * bench/restore): errors, strings, time, sample statistics, the page cache
 * and child statuses. Each driver compiles bench_util.c in and defines
 * bench_prog, the name die() puts before its messages.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The most repetitions a driver runs: median() sorts a copy this big. */
#define BENCH_MAX_REPS	100

/* Defined by each driver: "<bench_prog>: error: ..." */
extern const char bench_prog[];

/* Print "<bench_prog>: error: <message>" on stderr and exit(1). */
__attribute__((format(printf, 1, 2), noreturn))
void die(const char *fmt, ...);

/* Copy @src into @dst, cut to @size - 1 bytes. */
void copy_str(char *dst, size_t size, const char *src);

/* CLOCK_MONOTONIC, in milliseconds. */
double now_ms(void);

/* qsort() comparison of doubles. */
int cmp_double(const void *a, const void *b);

/* Median of @n (1..BENCH_MAX_REPS) samples. */
double median(const double *v, unsigned int n);

/* @ms with 3, 1 or 0 decimals (below 1, below 100, above), then @unit. */
void fmt_ms(char *buf, size_t len, double ms, const char *unit);

/*
 * Cold: write back dirty pages, then drop the clean page cache and slabs;
 * nothing if @no_drop. If /proc/sys/vm/drop_caches cannot be opened, die()
 * with @hint in parentheses after the error.
 */
void drop_caches(bool no_drop, const char *hint);

/* "exited with status N", "killed by signal N (name)", ... */
void describe_status(int st, char *buf, size_t len);

/* @s as a JSON string, quoted and escaped. */
void json_str(FILE *j, const char *s);

#endif /* BENCH_UTIL_H */
