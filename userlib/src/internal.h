/*
 * libspice internals. Not installed; the shared library does not export
 * these symbols. The unit tests link the static library to reach them.
 */
#ifndef SPICE_INTERNAL_H
#define SPICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "spice.h"

/* The library is built with -fvisibility=hidden; this marks the public API. */
#define SPICE_EXPORT	__attribute__((visibility("default")))

/* Where the kernel advertises the interface. */
#define SPICE_SYSFS_DIR	"/sys/kernel/snapshot"

/* Largest attribute file accepted, newline included. */
#define SPICE_ATTR_MAX	31

/*
 * The functions below are the public ones with the sysfs directory as a
 * parameter, so that tests can point them at a directory of their own.
 */
int spice__abi_version_at(const char *dir);
int spice__supported_at(const char *dir);
int spice__kernel_flags_at(const char *dir, enum spice_call call,
			   uint64_t *flags);

long spice__sys_snapshot_capture_at(const char *dir,
				    struct snapshot_capture_args *args,
				    size_t size);
long spice__sys_snapshot_restore_at(const char *dir,
				    struct snapshot_restore_args *args,
				    size_t size);
long spice__sys_mmap_populate_image_at(const char *dir,
				       struct mmap_populate_args *args,
				       size_t size);

int spice__populate_at(const char *dir, int fd,
		       const struct mmap_populate_extent *extents,
		       uint32_t nr_extents, void *addr, size_t len, int prot,
		       uint64_t flags, void **mapped);

/*
 * Parsers for attribute contents: @len bytes at @s, which need not be
 * NUL-terminated. Return 0 and set *@out, or -EPROTO.
 *
 * spice__parse_dec: a decimal number in [1, INT_MAX], digits only.
 * spice__parse_hex: "0x" or "0X" and 1 to 16 significant hex digits.
 *
 * Both accept one trailing newline and nothing else after the number.
 */
int spice__parse_dec(const char *s, size_t len, int *out);
int spice__parse_hex(const char *s, size_t len, uint64_t *out);

#endif /* SPICE_INTERNAL_H */
