/*
 * libspice internals. Not installed; the shared library does not export
 * these symbols. The unit tests link the static library to reach them.
 */
#ifndef SPICE_INTERNAL_H
#define SPICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * snapshot_restore() without the check of the interface, for a child whose
 * parent made it: only async-signal-safe calls. Returns what the call
 * returned, or -errno; errno is not restored.
 */
long spice__sys_snapshot_restore_raw(struct snapshot_restore_args *args,
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

/* spice_capture_self() and spice_capture_pid() with the sysfs directory. */
int spice__capture_self_at(const char *dir, int image_fd, uint64_t flags,
			   struct snapshot_reason *reason);
int spice__capture_pid_at(const char *dir, pid_t pid, int image_fd,
			  uint64_t flags, struct snapshot_reason *reason);

/* spice_restore() and spice_spawn() with the sysfs directory. */
int spice__restore_at(const char *dir, int image_fd, uint64_t flags,
		      const struct spice_fd_map *map, unsigned int nr_map);
pid_t spice__spawn_at(const char *dir, int image_fd, uint64_t flags,
		      const struct spice_fd_map *map, unsigned int nr_map);

/*
 * CRC32C, zlib style: pass 0 to start and the previous result to go on, so
 * that spice__crc32c(spice__crc32c(0, a, n), b, m) is the CRC of a then b.
 * spice__crc32c() picks the SSE4.2 instruction when the CPU has it and the
 * buffer is long enough to be worth it; spice__crc32c_sw() is the table,
 * spice__crc32c_hw() the instruction (the table where the CPU lacks it,
 * which spice__crc32c_hw_available() tells).
 */
uint32_t spice__crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t spice__crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t spice__crc32c_hw(uint32_t crc, const void *buf, size_t len);
int spice__crc32c_hw_available(void);

#endif /* SPICE_INTERNAL_H */
