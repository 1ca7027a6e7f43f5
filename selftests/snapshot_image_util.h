/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A reader of process images for the snapshot selftests, written from the
 * "Image format" part of <linux/snapshot.h> and nothing else.
 *
 * image_load() reads the image in a file and checks the header, the CRC32C
 * of the header and of every section, and the invariants the format states
 * (sorted tables, indices in range, extents inside their VMA and inside the
 * data area, the working set first); it is stricter than the format where a
 * version 1 kernel is known to write exactly one thing (every section, each
 * record of its version 0 size). It fills struct image with copies of the
 * tables, or says in img->why what is wrong.
 *
 * crc32c() and crc32c_update() compute the format's checksum, for tests
 * that build or alter images.
 */
#ifndef __SNAPSHOT_IMAGE_UTIL_H
#define __SNAPSHOT_IMAGE_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/snapshot.h>

#include "snapshot_selftests.h"

static_assert(sizeof(struct snapshot_image_header) ==
	      SNAPSHOT_IMAGE_HEADER_SIZE_VER0, "header size");
static_assert(sizeof(struct snapshot_image_section) ==
	      SNAPSHOT_IMAGE_SECTION_SIZE_VER0, "section size");
static_assert(sizeof(struct snapshot_image_task) ==
	      SNAPSHOT_IMAGE_TASK_SIZE_VER0, "task size");
static_assert(sizeof(struct snapshot_image_mm) ==
	      SNAPSHOT_IMAGE_MM_SIZE_VER0, "mm size");
static_assert(sizeof(struct snapshot_image_vma) ==
	      SNAPSHOT_IMAGE_VMA_SIZE_VER0, "vma size");
static_assert(sizeof(struct snapshot_image_extent) ==
	      SNAPSHOT_IMAGE_EXTENT_SIZE_VER0, "extent size");
static_assert(sizeof(struct snapshot_image_file) ==
	      SNAPSHOT_IMAGE_FILE_SIZE_VER0, "file size");
static_assert(sizeof(struct snapshot_image_fd) ==
	      SNAPSHOT_IMAGE_FD_SIZE_VER0, "fd size");
static_assert(sizeof(struct snapshot_image_regs) ==
	      SNAPSHOT_IMAGE_REGS_SIZE_VER0, "regs size");
static_assert(sizeof(struct snapshot_image_sigaction) ==
	      SNAPSHOT_IMAGE_SIGACTION_SIZE_VER0, "sigaction size");
static_assert(sizeof(struct snapshot_image_rlimit) ==
	      SNAPSHOT_IMAGE_RLIMIT_SIZE_VER0, "rlimit size");
static_assert(sizeof(struct snapshot_image_file_ws) ==
	      SNAPSHOT_IMAGE_FILE_WS_SIZE_VER0, "file_ws size");

#define NR_SIGNALS	64	/* _NSIG on x86_64 */
#define NR_RLIMITS	16	/* RLIM_NLIMITS */
#define NR_TYPES	(SNAPSHOT_SECTION_FILE_WS + 1)
#define VMA_FLAGS_ALL	((SNAPSHOT_VMA_ACCOUNT << 1) - 1)

/* The page size: offsets and lengths in an image are multiples of it. */
static inline unsigned long image_page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/*
 * CRC32C (Castagnoli), reflected, as the format uses it: initial value and
 * final xor ~0.
 */

static inline __u32 crc32c_update(__u32 crc, const void *buf, size_t len)
{
	static __u32 table[256];
	static bool ready;
	const unsigned char *p = buf;
	unsigned int i, k;
	__u32 c;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static inline __u32 crc32c(const void *buf, size_t len)
{
	return ~crc32c_update(~0U, buf, len);
}

/* Read @len bytes at @pos of @fd: 0, or -errno (-ENODATA past the end). */
static inline int read_all(int fd, void *buf, size_t len, off_t pos)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, pos);
		if (n < 0)
			return -errno;
		if (!n)
			return -ENODATA;
		p += n;
		len -= n;
		pos += n;
	}
	return 0;
}

/*
 * The image reader.
 */

struct image {
	int fd;
	off_t file_size;
	struct snapshot_image_header hdr;
	char *meta;		/* bytes [0, data_off) of the file */
	struct snapshot_image_section sec[NR_TYPES];
	bool have[NR_TYPES];
	struct snapshot_image_task task;
	struct snapshot_image_mm mm;
	struct snapshot_image_regs regs;
	struct snapshot_image_vma *vmas;
	struct snapshot_image_extent *extents;
	struct snapshot_image_file *files;
	struct snapshot_image_fd *fds;
	struct snapshot_image_sigaction *sigactions;
	struct snapshot_image_rlimit *rlimits;
	__u64 *auxv;
	struct snapshot_image_file_ws *file_ws;
	__u32 nr_file_ws;
	__u32 nr_vmas, nr_extents, nr_files, nr_fds;
	__u32 nr_sigactions, nr_rlimits, nr_auxv;
	const char *strings;
	__u64 strings_size;
	const unsigned char *xsave;
	__u64 xsave_size;
	char why[512];
};

static inline void image_free(struct image *img)
{
	free(img->meta);
	free(img->vmas);
	free(img->extents);
	free(img->files);
	free(img->fds);
	free(img->sigactions);
	free(img->rlimits);
	free(img->auxv);
	free(img->file_ws);
	memset(img, 0, sizeof(*img));
	img->fd = -1;
}

/*
 * The records of section @type, @size bytes each as this reader knows them:
 * a record written shorter reads as zero past its end, a longer one is cut.
 */
static inline void *image_records(struct image *img, __u32 type,
				  size_t size, __u32 *nr)
{
	const struct snapshot_image_section *s = &img->sec[type];
	size_t n = s->entry_size < size ? s->entry_size : size;
	char *out;
	__u32 i;

	*nr = s->nr_entries;
	out = calloc(s->nr_entries ? s->nr_entries : 1, size);
	if (!out)
		return NULL;
	for (i = 0; i < s->nr_entries; i++)
		memcpy(out + i * size,
		       img->meta + s->offset + (size_t)i * s->entry_size, n);
	return out;
}

/* The string at offset @off, or NULL if there is none there. */
static inline const char *image_str(const struct image *img, __u32 off)
{
	if (off == SNAPSHOT_IMAGE_NONE || off >= img->strings_size)
		return NULL;
	return img->strings + off;
}

/* Say why the image is invalid, in img->why; returns false. */
static inline __printf(2, 3) bool bad(struct image *img, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(img->why, sizeof(img->why), fmt, ap);
	va_end(ap);
	return false;
}

static inline bool image_check_header(struct image *img)
{
	const unsigned long psz = image_page_size();
	const struct snapshot_image_header *h = &img->hdr;

	if (h->magic != SNAPSHOT_IMAGE_MAGIC)
		return bad(img, "magic %#llx", (unsigned long long)h->magic);
	if (h->version != SNAPSHOT_IMAGE_VERSION)
		return bad(img, "version %u", h->version);
	if (h->header_size != SNAPSHOT_IMAGE_HEADER_SIZE_VER0)
		return bad(img, "header_size %u", h->header_size);
	if (h->arch != SNAPSHOT_ARCH_X86_64)
		return bad(img, "arch %u", h->arch);
	if (h->page_size != psz)
		return bad(img, "page_size %u", h->page_size);
	if (h->flags & ~(SNAPSHOT_IMAGE_SELF | SNAPSHOT_IMAGE_WORKING_SET))
		return bad(img, "unknown image flags %#x", h->flags);
	if (!h->nr_sections || h->nr_sections > SNAPSHOT_IMAGE_MAX_SECTIONS)
		return bad(img, "nr_sections %u", h->nr_sections);
	if (h->section_size < SNAPSHOT_IMAGE_SECTION_SIZE_VER0 ||
	    h->section_size % 8)
		return bad(img, "section_size %u", h->section_size);
	if (h->sections_off % 8 || h->sections_off < h->header_size ||
	    h->sections_off > h->data_off)
		return bad(img, "sections_off %llu",
			   (unsigned long long)h->sections_off);
	if (h->data_off % psz ||
	    h->data_off < h->sections_off +
			  (__u64)h->nr_sections * h->section_size)
		return bad(img, "data_off %llu",
			   (unsigned long long)h->data_off);
	if (h->data_size % psz || h->ws_size % psz || h->ws_size > h->data_size)
		return bad(img, "data_size %llu, ws_size %llu",
			   (unsigned long long)h->data_size,
			   (unsigned long long)h->ws_size);
	if (h->data_off + h->data_size != h->image_size)
		return bad(img,
			   "data_off %llu + data_size %llu != image_size %llu",
			   (unsigned long long)h->data_off,
			   (unsigned long long)h->data_size,
			   (unsigned long long)h->image_size);
	if (h->image_size != (__u64)img->file_size)
		return bad(img, "image_size %llu, but the file has %lld bytes",
			   (unsigned long long)h->image_size,
			   (long long)img->file_size);
	if (!(h->flags & SNAPSHOT_IMAGE_WORKING_SET) && h->ws_size)
		return bad(img,
			   "ws_size %llu without SNAPSHOT_IMAGE_WORKING_SET",
			   (unsigned long long)h->ws_size);
	if (h->data_off > (64UL << 20))
		return bad(img,
			   "data_off %llu: tables larger than this reader takes",
			   (unsigned long long)h->data_off);
	return true;
}

static inline bool image_check_sections(struct image *img)
{
	/* The entry size each record section must have in a version 1 image. */
	static const __u32 record_size[NR_TYPES] = {
		[SNAPSHOT_SECTION_TASK] = SNAPSHOT_IMAGE_TASK_SIZE_VER0,
		[SNAPSHOT_SECTION_MM] = SNAPSHOT_IMAGE_MM_SIZE_VER0,
		[SNAPSHOT_SECTION_VMAS] = SNAPSHOT_IMAGE_VMA_SIZE_VER0,
		[SNAPSHOT_SECTION_EXTENTS] = SNAPSHOT_IMAGE_EXTENT_SIZE_VER0,
		[SNAPSHOT_SECTION_FILES] = SNAPSHOT_IMAGE_FILE_SIZE_VER0,
		[SNAPSHOT_SECTION_FDS] = SNAPSHOT_IMAGE_FD_SIZE_VER0,
		[SNAPSHOT_SECTION_REGS] = SNAPSHOT_IMAGE_REGS_SIZE_VER0,
		[SNAPSHOT_SECTION_XSAVE] = 0,
		[SNAPSHOT_SECTION_SIGACTIONS] = SNAPSHOT_IMAGE_SIGACTION_SIZE_VER0,
		[SNAPSHOT_SECTION_RLIMITS] = SNAPSHOT_IMAGE_RLIMIT_SIZE_VER0,
		[SNAPSHOT_SECTION_AUXV] = sizeof(__u64),
		[SNAPSHOT_SECTION_STRINGS] = 0,
		[SNAPSHOT_SECTION_FILE_WS] = SNAPSHOT_IMAGE_FILE_WS_SIZE_VER0,
	};
	const struct snapshot_image_header *h = &img->hdr;
	struct snapshot_image_section all[SNAPSHOT_IMAGE_MAX_SECTIONS], *s;
	struct snapshot_image_header copy;
	__u64 table_end;
	__u32 i, j, crc;

	/* The header's checksum: the header with csum 0, then the table. */
	memcpy(&copy, img->meta, sizeof(copy));
	copy.csum = 0;
	crc = crc32c_update(~0U, &copy, sizeof(copy));
	crc = ~crc32c_update(crc, img->meta + h->sections_off,
			     (size_t)h->nr_sections * h->section_size);
	if (crc != h->csum)
		return bad(img, "header csum %#x, computed %#x", h->csum, crc);

	table_end = h->sections_off + (__u64)h->nr_sections * h->section_size;
	for (i = 0; i < h->nr_sections; i++) {
		s = &all[i];
		memcpy(s, img->meta + h->sections_off +
			  (size_t)i * h->section_size, sizeof(*s));
		if (s->offset % 8 || s->offset < table_end ||
		    s->offset > h->data_off ||
		    s->size > h->data_off - s->offset)
			return bad(img,
				   "section %u (type %u): offset %llu size %llu",
				   i, s->type, (unsigned long long)s->offset,
				   (unsigned long long)s->size);
		if (s->flags & ~SNAPSHOT_SECTION_REQUIRED)
			return bad(img, "section %u: flags %#x", i, s->flags);
		if (s->reserved)
			return bad(img, "section %u: reserved %#x", i,
				   s->reserved);
		crc = crc32c(img->meta + s->offset, s->size);
		if (crc != s->csum)
			return bad(img,
				   "section %u (type %u): csum %#x, computed %#x",
				   i, s->type, s->csum, crc);
		for (j = 0; j < i; j++)
			if (s->offset < all[j].offset + all[j].size &&
			    all[j].offset < s->offset + s->size)
				return bad(img, "sections %u and %u overlap", j,
					   i);
		if (!s->type || s->type >= NR_TYPES) {
			if (s->flags & SNAPSHOT_SECTION_REQUIRED)
				return bad(img,
					   "required section of unknown type %u",
					   s->type);
			continue;
		}
		if (img->have[s->type])
			return bad(img, "two sections of type %u", s->type);
		if (record_size[s->type]) {
			if (s->entry_size != record_size[s->type])
				return bad(img,
					   "section type %u: entry_size %u, not %u",
					   s->type, s->entry_size,
					   record_size[s->type]);
			if (s->size != (__u64)s->entry_size * s->nr_entries)
				return bad(img,
					   "section type %u: size %llu != %u * %u",
					   s->type, (unsigned long long)s->size,
					   s->entry_size, s->nr_entries);
		} else if (s->entry_size || s->nr_entries) {
			return bad(img,
				   "blob section type %u: entry_size %u nr %u",
				   s->type, s->entry_size, s->nr_entries);
		}
		img->sec[s->type] = *s;
		img->have[s->type] = true;
	}
	/* Version 1 of the kernel writes every section. */
	for (i = 1; i < NR_TYPES; i++)
		if (!img->have[i])
			return bad(img, "no section of type %u", i);
	return true;
}

static inline bool image_copy_records(struct image *img)
{
	struct snapshot_image_task *task;
	struct snapshot_image_mm *mm;
	struct snapshot_image_regs *regs;
	__u32 n1, n2, n3;

	task = image_records(img, SNAPSHOT_SECTION_TASK, sizeof(*task), &n1);
	mm = image_records(img, SNAPSHOT_SECTION_MM, sizeof(*mm), &n2);
	regs = image_records(img, SNAPSHOT_SECTION_REGS, sizeof(*regs), &n3);
	if (task && mm && regs && n1 == 1 && n2 == 1 && n3 == 1) {
		img->task = *task;
		img->mm = *mm;
		img->regs = *regs;
	}
	free(task);
	free(mm);
	free(regs);
	if (n1 != 1 || n2 != 1 || n3 != 1)
		return bad(img,
			   "%u task, %u mm and %u regs records, not one each",
			   n1, n2, n3);
	img->vmas = image_records(img, SNAPSHOT_SECTION_VMAS,
				  sizeof(*img->vmas), &img->nr_vmas);
	img->extents = image_records(img, SNAPSHOT_SECTION_EXTENTS,
				     sizeof(*img->extents), &img->nr_extents);
	img->files = image_records(img, SNAPSHOT_SECTION_FILES,
				   sizeof(*img->files), &img->nr_files);
	img->fds = image_records(img, SNAPSHOT_SECTION_FDS,
				 sizeof(*img->fds), &img->nr_fds);
	img->sigactions = image_records(img, SNAPSHOT_SECTION_SIGACTIONS,
					sizeof(*img->sigactions),
					&img->nr_sigactions);
	img->rlimits = image_records(img, SNAPSHOT_SECTION_RLIMITS,
				     sizeof(*img->rlimits), &img->nr_rlimits);
	img->auxv = image_records(img, SNAPSHOT_SECTION_AUXV,
				  sizeof(*img->auxv), &img->nr_auxv);
	img->file_ws = image_records(img, SNAPSHOT_SECTION_FILE_WS,
				     sizeof(*img->file_ws), &img->nr_file_ws);
	if (!img->vmas || !img->extents || !img->files || !img->fds ||
	    !img->sigactions || !img->rlimits || !img->auxv || !img->file_ws)
		return bad(img, "out of memory");
	img->strings = img->meta + img->sec[SNAPSHOT_SECTION_STRINGS].offset;
	img->strings_size = img->sec[SNAPSHOT_SECTION_STRINGS].size;
	img->xsave = (const unsigned char *)img->meta +
		     img->sec[SNAPSHOT_SECTION_XSAVE].offset;
	img->xsave_size = img->sec[SNAPSHOT_SECTION_XSAVE].size;
	return true;
}

static inline bool image_check_tables(struct image *img)
{
	const unsigned long psz = image_page_size();
	const struct snapshot_image_header *h = &img->hdr;
	const __u64 ws_end = h->data_off + h->ws_size;
	const struct snapshot_image_vma *v;
	const struct snapshot_image_extent *e;
	__u64 prev_end = 0, total = 0, *order;
	bool any_ws = false;
	__u32 i, j;

	if (img->strings_size > SNAPSHOT_IMAGE_MAX_STRINGS ||
	    (img->strings_size && img->strings[img->strings_size - 1]))
		return bad(img, "strings: %llu bytes, not NUL-terminated",
			   (unsigned long long)img->strings_size);
	if (!img->xsave_size || img->xsave_size > SNAPSHOT_IMAGE_MAX_BLOB)
		return bad(img, "xsave: %llu bytes",
			   (unsigned long long)img->xsave_size);

	/* The task. */
	if (!memchr(img->task.comm, 0, sizeof(img->task.comm)))
		return bad(img, "task: comm not NUL-terminated");
	if (img->task.reserved)
		return bad(img, "task: reserved %#x", img->task.reserved);
	if (!image_str(img, img->task.cwd))
		return bad(img, "task: cwd %#x", img->task.cwd);
	if (img->task.exe != SNAPSHOT_IMAGE_NONE &&
	    !image_str(img, img->task.exe))
		return bad(img, "task: exe %#x", img->task.exe);
	if (img->mm.reserved ||
	    img->mm.flags & ~(SNAPSHOT_MM_LOCK_FUTURE |
			      SNAPSHOT_MM_LOCK_ONFAULT))
		return bad(img, "mm: flags %#x reserved %#x", img->mm.flags,
			   img->mm.reserved);

	/* VMAs. */
	if (img->nr_vmas > SNAPSHOT_IMAGE_MAX_VMAS)
		return bad(img, "%u VMAs", img->nr_vmas);
	for (i = 0; i < img->nr_vmas; i++) {
		v = &img->vmas[i];
		if (v->start % psz || v->end % psz || v->start >= v->end ||
		    v->start < prev_end || v->end > (1ULL << 56))
			return bad(img, "VMA %u: %#llx-%#llx after %#llx", i,
				   (unsigned long long)v->start,
				   (unsigned long long)v->end,
				   (unsigned long long)prev_end);
		prev_end = v->end;
		if (v->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC) ||
		    v->kind > SNAPSHOT_VMA_VVAR ||
		    v->flags & ~(__u64)VMA_FLAGS_ALL || v->reserved)
			return bad(img,
				   "VMA %u: prot %#x kind %u flags %#llx reserved %#x",
				   i, v->prot, v->kind,
				   (unsigned long long)v->flags, v->reserved);
		if (v->kind == SNAPSHOT_VMA_FILE ? v->file >= img->nr_files :
		    v->file != SNAPSHOT_IMAGE_NONE)
			return bad(img, "VMA %u: kind %u, file %u of %u", i,
				   v->kind, v->file, img->nr_files);
		if (v->kind == SNAPSHOT_VMA_FILE && v->pgoff % psz)
			return bad(img, "VMA %u: pgoff %#llx", i,
				   (unsigned long long)v->pgoff);
		if (v->kind == SNAPSHOT_VMA_SHMEM &&
		    !(v->flags & SNAPSHOT_VMA_SHARED))
			return bad(img, "VMA %u: SHMEM without SHARED", i);
	}

	/* Files and descriptors. */
	if (img->nr_files > SNAPSHOT_IMAGE_MAX_FILES ||
	    img->nr_fds > SNAPSHOT_IMAGE_MAX_FDS)
		return bad(img, "%u files, %u fds", img->nr_files, img->nr_fds);
	for (i = 0; i < img->nr_files; i++) {
		const char *path = image_str(img, img->files[i].path);

		if (!path || path[0] != '/' || img->files[i].reserved)
			return bad(img, "file %u: path %#x (%s), reserved %#x",
				   i, img->files[i].path, path ? path : "none",
				   img->files[i].reserved);
	}
	for (i = 0; i < img->nr_fds; i++) {
		const struct snapshot_image_fd *f = &img->fds[i];

		if (f->fd < 0 || (i && f->fd <= img->fds[i - 1].fd))
			return bad(img, "fd record %u: fd %d not sorted", i,
				   f->fd);
		if (f->reserved || f->fd_flags & ~FD_CLOEXEC)
			return bad(img, "fd %d: fd_flags %#x reserved %#x",
				   f->fd, f->fd_flags, f->reserved);
		if (f->kind == SNAPSHOT_FD_FILE) {
			if (f->file >= img->nr_files)
				return bad(img, "fd %d: file %u of %u", f->fd,
					   f->file, img->nr_files);
		} else if (f->kind == SNAPSHOT_FD_STDIO) {
			if (f->fd > 2 || f->file != SNAPSHOT_IMAGE_NONE)
				return bad(img, "fd %d: STDIO, file %u", f->fd,
					   f->file);
		} else {
			return bad(img, "fd %d: kind %u", f->fd, f->kind);
		}
	}

	/* Signals, limits, auxiliary vector. */
	if (img->nr_sigactions != NR_SIGNALS)
		return bad(img, "%u sigactions", img->nr_sigactions);
	if (img->nr_rlimits != NR_RLIMITS)
		return bad(img, "%u rlimits", img->nr_rlimits);
	if (img->nr_auxv < 2 || img->nr_auxv % 2 ||
	    img->auxv[img->nr_auxv - 2] != AT_NULL)
		return bad(img, "auxv: %u words, not ending with AT_NULL",
			   img->nr_auxv);

	/* Extents: in their VMA, in the data area, tiling it exactly. */
	if (img->nr_extents > SNAPSHOT_IMAGE_MAX_EXTENTS)
		return bad(img, "%u extents", img->nr_extents);
	prev_end = 0;
	for (i = 0; i < img->nr_extents; i++) {
		e = &img->extents[i];
		if (e->addr % psz || e->len % psz || !e->len ||
		    e->data_off % psz || e->addr < prev_end)
			return bad(img,
				   "extent %u: %#llx+%#llx at %#llx, after %#llx",
				   i, (unsigned long long)e->addr,
				   (unsigned long long)e->len,
				   (unsigned long long)e->data_off,
				   (unsigned long long)prev_end);
		prev_end = e->addr + e->len;
		if (e->vma >= img->nr_vmas)
			return bad(img, "extent %u: VMA %u of %u", i, e->vma,
				   img->nr_vmas);
		v = &img->vmas[e->vma];
		if (e->addr < v->start || e->addr + e->len > v->end)
			return bad(img,
				   "extent %u (%#llx+%#llx) outside VMA %u (%#llx-%#llx)",
				   i, (unsigned long long)e->addr,
				   (unsigned long long)e->len, e->vma,
				   (unsigned long long)v->start,
				   (unsigned long long)v->end);
		if (v->kind == SNAPSHOT_VMA_VDSO ||
		    v->kind == SNAPSHOT_VMA_VVAR ||
		    (v->kind == SNAPSHOT_VMA_FILE &&
		     v->flags & SNAPSHOT_VMA_SHARED))
			return bad(img,
				   "extent %u in VMA %u of kind %u, flags %#llx",
				   i, e->vma, v->kind,
				   (unsigned long long)v->flags);
		if (e->flags & ~SNAPSHOT_EXTENT_WORKING_SET)
			return bad(img, "extent %u: flags %#x", i, e->flags);
		if (e->flags & SNAPSHOT_EXTENT_WORKING_SET) {
			any_ws = true;
			if (e->data_off < h->data_off ||
			    e->data_off + e->len > ws_end)
				return bad(img,
					   "WS extent %u: %#llx+%#llx not in [%#llx, %#llx)",
					   i, (unsigned long long)e->data_off,
					   (unsigned long long)e->len,
					   (unsigned long long)h->data_off,
					   (unsigned long long)ws_end);
		} else if (e->data_off < ws_end ||
			   e->data_off + e->len > h->image_size) {
			return bad(img,
				   "extent %u: data %#llx+%#llx outside [%#llx, %#llx)",
				   i, (unsigned long long)e->data_off,
				   (unsigned long long)e->len,
				   (unsigned long long)ws_end,
				   (unsigned long long)h->image_size);
		}
		total += e->len;
	}
	if (any_ws && !(h->flags & SNAPSHOT_IMAGE_WORKING_SET))
		return bad(img,
			   "working-set extents without SNAPSHOT_IMAGE_WORKING_SET");
	if (total != h->data_size)
		return bad(img, "extents hold %llu bytes, data_size is %llu",
			   (unsigned long long)total,
			   (unsigned long long)h->data_size);

	/* The data of two extents does not overlap: sort by data_off. */
	order = malloc((img->nr_extents + 1) * sizeof(*order) * 2);
	if (!order)
		return bad(img, "out of memory");
	for (i = 0; i < img->nr_extents; i++) {
		order[2 * i] = img->extents[i].data_off;
		order[2 * i + 1] = img->extents[i].len;
	}
	/* Shell sort on (data_off, len) pairs. */
	for (j = img->nr_extents / 2; j > 0; j /= 2) {
		for (i = j; i < img->nr_extents; i++) {
			__u64 off = order[2 * i], len = order[2 * i + 1];
			__u32 k = i;

			while (k >= j && order[2 * (k - j)] > off) {
				order[2 * k] = order[2 * (k - j)];
				order[2 * k + 1] = order[2 * (k - j) + 1];
				k -= j;
			}
			order[2 * k] = off;
			order[2 * k + 1] = len;
		}
	}
	for (i = 1; i < img->nr_extents; i++) {
		if (order[2 * (i - 1)] + order[2 * (i - 1) + 1] >
		    order[2 * i]) {
			free(order);
			return bad(img,
				   "the data of two extents overlaps at %#llx",
				   (unsigned long long)order[2 * i]);
		}
	}
	free(order);

	/* File pages of the working set: in file VMAs, sorted. */
	if (img->nr_file_ws > SNAPSHOT_IMAGE_MAX_EXTENTS)
		return bad(img, "%u file working-set ranges", img->nr_file_ws);
	if (img->nr_file_ws && !(h->flags & SNAPSHOT_IMAGE_WORKING_SET))
		return bad(img, "file working set without a working set");
	prev_end = 0;
	for (i = 0; i < img->nr_file_ws; i++) {
		const struct snapshot_image_file_ws *w = &img->file_ws[i];

		if (w->addr % psz || w->len % psz || !w->len || w->flags ||
		    w->addr < prev_end || w->vma >= img->nr_vmas)
			return bad(img,
				   "file working set %u: %#llx+%#llx, vma %u, flags %#x, after %#llx",
				   i, (unsigned long long)w->addr,
				   (unsigned long long)w->len, w->vma,
				   w->flags, (unsigned long long)prev_end);
		v = &img->vmas[w->vma];
		if (v->kind != SNAPSHOT_VMA_FILE || w->addr < v->start ||
		    w->addr + w->len > v->end)
			return bad(img,
				   "file working set %u: %#llx+%#llx is not in file VMA %u",
				   i, (unsigned long long)w->addr,
				   (unsigned long long)w->len, w->vma);
		prev_end = w->addr + w->len;
	}
	return true;
}

/* Load and check the image in @fd: true, or false with img->why. */
static inline bool image_load(struct image *img, int fd)
{
	struct stat st;
	int err;

	memset(img, 0, sizeof(*img));
	img->fd = fd;
	if (fstat(fd, &st))
		return bad(img, "fstat: %s", strerror(errno));
	img->file_size = st.st_size;
	if (st.st_size < (off_t)sizeof(img->hdr))
		return bad(img, "the file has %lld bytes: no header",
			   (long long)st.st_size);
	err = read_all(fd, &img->hdr, sizeof(img->hdr), 0);
	if (err)
		return bad(img, "read the header: %s", strerror(-err));
	if (!image_check_header(img))
		return false;
	img->meta = malloc(img->hdr.data_off);
	if (!img->meta)
		return bad(img, "out of memory");
	err = read_all(fd, img->meta, img->hdr.data_off, 0);
	if (err)
		return bad(img, "read the tables: %s", strerror(-err));
	return image_check_sections(img) && image_copy_records(img) &&
	       image_check_tables(img);
}

/* Whether the file @fd starts with the image magic. */
static inline bool has_magic(int fd)
{
	__u64 magic = 0;

	return pread(fd, &magic, sizeof(magic), 0) == sizeof(magic) &&
	       magic == SNAPSHOT_IMAGE_MAGIC;
}

#endif /* __SNAPSHOT_IMAGE_UTIL_H */
