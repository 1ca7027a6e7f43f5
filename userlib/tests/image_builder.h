/*
 * A test-only writer of synthetic snapshot images: a model of a small
 * process (struct ib_spec) and a function that lays it out as an image with
 * every required section, real page data and correct checksums. Tests
 * change the model, or the built bytes and then call ib_fix() to make the
 * checksums right again, to produce exactly the fault they test.
 *
 * The checksums are computed with a bit-at-a-time CRC32C of its own, not
 * with the library's.
 */
#ifndef IMAGE_BUILDER_H
#define IMAGE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include <spice/snapshot.h>

/* The page size the builder writes images for. */
#define IB_PAGE			4096ULL

#define IB_DEFAULT_VMAS		7
#define IB_DEFAULT_EXTENTS	5
#define IB_DEFAULT_FILES	3
#define IB_DEFAULT_FDS		4
#define IB_MAX_RECORDS		16	/* room in the embedded arrays */
#define IB_MAX_AUXV		32
#define IB_MAX_EXTRA		4
#define IB_STRINGS_MAX		1024
#define IB_XSAVE_MAX		1024
#define IB_NR_TYPES		(SNAPSHOT_SECTION_STRINGS + 1)

/* A section of a type the reader does not know (or a second known one). */
struct ib_extra {
	uint32_t type;
	uint32_t flags;
	uint32_t entry_size;
	uint32_t nr_entries;
	size_t size;
	unsigned char data[64];
};

struct ib_spec {
	uint32_t flags;			/* SNAPSHOT_IMAGE_* */
	uint64_t time_ns;
	uint32_t section_size;		/* 0: SNAPSHOT_IMAGE_SECTION_SIZE_VER0 */
	struct snapshot_image_task task;
	struct snapshot_image_mm mm;
	struct snapshot_image_regs regs;

	/* Point at the embedded arrays below, or at a test's own. */
	struct snapshot_image_vma *vmas;
	uint32_t nr_vmas;
	/* data_off is set by ib_build(): the working set first. */
	struct snapshot_image_extent *extents;
	uint32_t nr_extents;
	struct snapshot_image_file *files;
	uint32_t nr_files;
	struct snapshot_image_fd *fds;
	uint32_t nr_fds;

	struct snapshot_image_sigaction sigactions[64];
	uint32_t nr_sigactions;
	struct snapshot_image_rlimit rlimits[16];
	uint32_t nr_rlimits;
	uint64_t auxv[IB_MAX_AUXV];
	uint32_t nr_auxv;
	unsigned char xsave[IB_XSAVE_MAX];
	size_t xsave_size;
	char strings[IB_STRINGS_MAX];
	size_t strings_size;

	uint32_t entry_size[IB_NR_TYPES];	/* 0: the record's size */
	uint32_t omit;				/* 1 << type: leave it out */
	struct ib_extra extra[IB_MAX_EXTRA];
	uint32_t nr_extra;

	/* Storage for the default tables. */
	struct snapshot_image_vma vma_store[IB_MAX_RECORDS];
	struct snapshot_image_extent extent_store[IB_MAX_RECORDS];
	struct snapshot_image_file file_store[IB_MAX_RECORDS];
	struct snapshot_image_fd fd_store[IB_MAX_RECORDS];
};

/* A built image: @len bytes at @buf (malloc'd, 8-byte aligned). */
struct ib_image {
	unsigned char *buf;
	size_t len;
};

/* Fill @s with a valid model: IB_DEFAULT_* VMAs, extents, files and fds. */
void ib_default(struct ib_spec *s);

/* Add @str to the strings of @s; returns its offset. Aborts when full. */
uint32_t ib_string(struct ib_spec *s, const char *str);

/*
 * Lay @s out as an image in @img. Sets the data_off of every extent of @s
 * to where its data went. Returns 0, or -1 if out of memory.
 */
int ib_build(struct ib_spec *s, struct ib_image *img);

void ib_free(struct ib_image *img);

/* Byte @i of the data ib_build() writes for the page at @addr. */
unsigned char ib_data_byte(uint64_t addr, size_t i);

/* Pointers into a built image (NULL if the type is absent or out of it). */
struct snapshot_image_header *ib_header(const struct ib_image *img);
struct snapshot_image_section *ib_desc(const struct ib_image *img,
				       uint32_t type);
void *ib_section(const struct ib_image *img, uint32_t type);

/* Record @i of section @type (with its entry_size), or NULL. */
void *ib_record(const struct ib_image *img, uint32_t type, uint32_t i);

/*
 * Recompute the checksum of every section the table describes (those in
 * the buffer) and then the header's: after a change to the bytes, the image
 * fails for that change and not for a checksum.
 */
void ib_fix(const struct ib_image *img);

/* CRC32C, zlib style (0 to start), one bit at a time. */
uint32_t ib_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* IMAGE_BUILDER_H */
